"""Closure and lessons learned (docs/metrics.md 1.9)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmohub.rules.calendar import to_days
from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import PHASES, is_blank

OPEN = ("todo", "in_progress")
CLOSING = PHASES.index("closing")
CLOSED = PHASES.index("closed")


@rule(
    "CLO-001",
    title_en="Closure completeness",
    title_zh="收尾完整性",
    severity="high",
    scope="project",
    basis="000 “项目收尾…交付、验收和结算” (closure: delivery, acceptance, settlement)",
    basis_seed="000",
    check="in Closing/Closed, missing any of: zero open items, versions released or "
    "archived, acceptance record, final report",
    fix_en="Close the listed gaps.",
    fix_zh="补齐所列收尾缺项。",
    needs={
        "registry": ("project_key", "phase_rank", "acceptance_record", "final_report"),
        "work_items": ("project_key", "status_category", "kind"),
        "milestones": ("project_key", "released", "archived"),
    },
)
def clo_001(ctx: RuleContext) -> Outcomes:
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    items = ctx.frame("work_items")
    ms = ctx.frame("milestones")
    open_n = (
        items[items["status_category"].isin(OPEN) & (items["kind"] != "registry")]
        .groupby("project_key")
        .size()
        .reindex(ctx.projects)
        .fillna(0)
    )
    unreleased = (
        ms[~ms["released"].astype(bool) & ~ms["archived"].astype(bool)]
        .groupby("project_key")
        .size()
        .reindex(ctx.projects)
        .fillna(0)
    )
    gaps = pd.DataFrame(
        {
            "open items": open_n > 0,
            "unreleased versions": unreleased > 0,
            "acceptance record": is_blank(reg["acceptance_record"]),
            "final report": is_blank(reg["final_report"]),
        },
        index=ctx.projects,
    )
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = (reg["phase_rank"] >= CLOSING) & gaps.any(axis=1)
    res["ne"] = np.where(reg["phase_rank"].isna(), "no registry phase", None)
    res["value"] = gaps.sum(axis=1).astype(float)
    lists = gaps.apply(lambda r: ", ".join(k for k, v in r.items() if v), axis=1)
    res["message"] = "Closure gaps: " + lists
    res["message_zh"] = "收尾缺项:" + lists
    return ctx.project_outcomes(res)


@rule(
    "CLO-003",
    title_en="Zombie project",
    title_zh="僵尸项目",
    severity="medium",
    scope="project",
    basis="001 “没有效益的项目不能及时终止,造成隐性浪费” (unprofitable projects not stopped cause hidden waste)",
    basis_seed="001",
    check="> 30 wd past baseline end, not closed, no update or worklog for 30 wd",
    fix_en="Close, cancel or re-baseline via CR.",
    fix_zh="关闭、取消或通过变更重新建立基准。",
    defaults={"past_end_wd": 30, "idle_wd": 30},
    needs={
        "registry": ("project_key", "phase_rank", "planned_end"),
        "baselines": ("project_key", "due_on", "taken_at"),
        "work_items": ("project_key", "updated_at"),
        "worklogs": ("project_key", "started_at"),
    },
)
def clo_003(ctx: RuleContext) -> Outcomes:
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    bl = ctx.frame("baselines")
    if len(bl):
        latest = bl[bl["taken_at"] == bl.groupby("project_key")["taken_at"].transform("max")]
        bl_end = (
            pd.Series(to_days(latest["due_on"]), index=latest.index)
            .groupby(latest["project_key"])
            .max()
        )
    else:
        bl_end = pd.Series(dtype="datetime64[s]")
    end = pd.Series(to_days(bl_end.reindex(ctx.projects)), index=ctx.projects)
    planned = pd.Series(to_days(reg["planned_end"]), index=ctx.projects)
    end = end.fillna(planned)
    items = ctx.frame("work_items")
    logs = ctx.frame("worklogs")
    last = pd.concat(
        [
            pd.to_datetime(items.groupby("project_key")["updated_at"].max(), utc=True).reindex(
                ctx.projects
            ),
            pd.to_datetime(logs.groupby("project_key")["started_at"].max(), utc=True).reindex(
                ctx.projects
            ),
        ],
        axis=1,
    ).max(axis=1)
    past = pd.Series(ctx.wd_until_today(end), index=ctx.projects)
    idle = pd.Series(ctx.wd_until_today(ctx.local_day(last)), index=ctx.projects)
    res = pd.DataFrame(index=ctx.projects)
    not_closed = ~(reg["phase_rank"] >= CLOSED)
    res["failed"] = (
        not_closed
        & (past > ctx.param("past_end_wd"))
        & (idle.isna() | (idle > ctx.param("idle_wd")))
    )
    res["value"] = past
    res["threshold"] = ctx.param("past_end_wd")
    res["ne"] = np.where(end.isna(), "no baseline or planned end date", None)
    res["message"] = [
        f"{p:.0f} wd past the baseline end with no activity for {i:.0f} wd: close, cancel or re-baseline via CR"
        for p, i in zip(past.fillna(0), idle.fillna(0), strict=True)
    ]
    res["message_zh"] = "项目已超过基准结束日期且长期无活动:请关闭、取消或通过变更重新建立基准"
    return ctx.project_outcomes(res)


@rule(
    "CLO-002",
    title_en="Lessons learned recorded",
    title_zh="已记录经验教训",
    severity="medium",
    scope="project",
    basis="000 “记录和归档项目经验和教训” (record and archive lessons)",
    basis_seed="000",
    check="no linked lessons_learned item within 10 wd of Closing; projects longer than 6 "
    "months (from approval, else planned start): also none within 10 wd of each phase end "
    "in `phase_ends` (default: the end of planning, i.e. plan approval)",
    fix_en="Run the retrospective.",
    fix_zh="组织项目复盘。",
    defaults={"within_wd": 10, "long_months": 6, "phase_ends": ["plan_approved"]},
    needs={
        "registry": ("project_key", "phase_rank", "closing_at"),
        "work_items": ("project_key", "kind"),
    },
    optional={
        "registry": ("approved_at", "planned_start", "plan_approved_at", "execution_at"),
        "work_items": ("created_at",),
    },
)
def clo_002(ctx: RuleContext) -> Outcomes:
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    items = ctx.frame("work_items")
    lessons = (
        items[items["kind"] == "lessons_learned"]
        .groupby("project_key")
        .size()
        .reindex(ctx.projects)
        .fillna(0)
    )
    since = pd.Series(ctx.wd_until_today(ctx.local_day(reg["closing_at"])), index=ctx.projects)
    due = since.isna() | (since > ctx.param("within_wd"))  # closing date unknown: due now
    res = pd.DataFrame(index=ctx.projects)
    closing_fail = (reg["phase_rank"] >= CLOSING) & (lessons == 0) & due
    missed = _missed_phase_ends(ctx, reg, items[items["kind"] == "lessons_learned"])
    res["failed"] = closing_fail | missed.notna()
    res["ne"] = np.where(reg["phase_rank"].isna(), "no registry phase", None)
    res["value"] = since.where(closing_fail)
    res["evidence"] = [{"phase_end": m} if isinstance(m, str) else {} for m in missed]
    res["message"] = [
        "No lessons learned recorded since Closing: run the retrospective"
        if c
        else f"No lessons learned at the end of {m} (project > 6 months): run a retrospective"
        for c, m in zip(closing_fail, missed, strict=True)
    ]
    res["message_zh"] = [
        "进入收尾后未记录经验教训:请组织复盘" if c else f"阶段({m})结束时未记录经验教训:请组织复盘"
        for c, m in zip(closing_fail, missed, strict=True)
    ]
    return ctx.project_outcomes(res)


def _missed_phase_ends(ctx: RuleContext, reg: pd.DataFrame, lessons: pd.DataFrame) -> pd.Series:
    """Per project, the first phase end (a phase that ended > ``within_wd`` ago) with no
    lessons item created within ``within_wd`` wd either side of it, for projects longer
    than ``long_months``; NaN otherwise."""
    g = ctx.global_params
    out = pd.Series(np.nan, index=reg.index, dtype=object)
    if "created_at" not in lessons.columns:
        return out
    started = pd.Series(pd.NaT, index=reg.index, dtype="datetime64[us, UTC]")
    if "approved_at" in reg.columns:
        started = pd.to_datetime(reg["approved_at"], utc=True)
    if "planned_start" in reg.columns:
        planned = pd.to_datetime(
            reg["planned_start"].astype(str), format="ISO8601", errors="coerce", utc=True
        )
        started = started.fillna(planned)
    age_days = (pd.Timestamp(ctx.as_of_at) - started).dt.days
    long_ = age_days > 30.4 * float(g.get("long_months", 6))
    within = int(g.get("within_wd", 10))
    made = ctx.local_day(pd.to_datetime(lessons["created_at"], utc=True))
    by_project = pd.DataFrame({"project_key": lessons["project_key"].astype(object), "day": made})
    for phase in g.get("phase_ends") or ():
        col = f"{phase}_at"
        if col not in reg.columns:
            continue
        end_day = pd.Series(ctx.local_day(pd.to_datetime(reg[col], utc=True)), index=reg.index)
        known = end_day.notna() & long_
        if not known.any():
            continue
        lo = pd.Series(
            ctx.calendar.add_wd(end_day[known].to_numpy(), -within), index=end_day[known].index
        )
        hi = pd.Series(ctx.calendar.add_wd(end_day[known].to_numpy(), within), index=lo.index)
        due = hi < ctx.as_of_day
        pairs = by_project.merge(
            pd.DataFrame({"project_key": lo.index, "lo": lo.to_numpy(), "hi": hi.to_numpy()}),
            on="project_key",
        )
        ok = pairs[(pairs["day"] >= pairs["lo"]) & (pairs["day"] <= pairs["hi"])]
        covered = lo.index.isin(set(ok["project_key"]))
        miss = lo.index[due.to_numpy() & ~covered]
        out.loc[miss] = out.loc[miss].fillna(phase)
    return out
