"""Schedule and cost variance (docs/metrics.md 1.4)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import (
    BASELINE_EVM_COLUMNS,
    by_project,
    count_by_project,
    is_blank,
    keys_by_project,
    lookup,
)

OPEN = ("todo", "in_progress")


@rule(
    "VAR-001",
    title_en="Overdue open work",
    title_zh="逾期未完成工作",
    severity="medium",
    scope="project",
    basis="003 “确保所有任务都按时完成” (all tasks on time)",
    basis_seed="003",
    check="> 5 % of open leaf items overdue, any item > 10 wd late, or any epic or "
    "milestone ≥ 1 wd late (high for milestones)",
    fix_en="Re-plan or finish the late items (top late items with owners listed).",
    fix_zh="重新计划或完成逾期事项(列出最晚的事项及负责人)。",
    defaults={"overdue_share": 0.05, "max_late_wd": 10, "epic_late_wd": 1, "milestone_late_wd": 1},
    needs={
        "work_items": (
            "project_key",
            "key",
            "status_category",
            "is_leaf",
            "is_epic",
            "due_on",
            "assignee_id",
        ),
        "milestones": ("project_key", "name", "due_on", "released", "archived"),
        "people": ("id", "display_name"),
    },
)
def var_001(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    open_ = items[items["status_category"].isin(OPEN) & (items["is_leaf"] | items["is_epic"])]
    late_wd = ctx.wd_until_today(open_["due_on"])
    open_ = open_.assign(late_wd=late_wd)
    leaf = open_[open_["is_leaf"].to_numpy(dtype=bool)]
    g_leaf = leaf.groupby("project_key")
    n_open = g_leaf.size()
    n_dated = g_leaf["due_on"].count()
    n_late = leaf[leaf["late_wd"] > 0].groupby("project_key").size()
    max_late = leaf.groupby("project_key")["late_wd"].max()
    epics_late = (
        open_[open_["is_epic"].to_numpy(dtype=bool) & (open_["late_wd"] >= 1)]
        .groupby("project_key")
        .size()
    )
    ms = ctx.frame("milestones")
    ms = ms[~ms["released"].astype(bool) & ~ms["archived"].astype(bool)]
    ms = ms.assign(late_wd=ctx.wd_until_today(ms["due_on"]))
    ms_late_rows = ms[ms["late_wd"] >= ctx.param_of("milestone_late_wd", ms["project_key"])]
    ms_late = ms_late_rows.groupby("project_key").size()

    res = pd.DataFrame(index=ctx.projects)
    res["open"] = n_open.reindex(res.index).fillna(0)
    res["dated"] = n_dated.reindex(res.index).fillna(0)
    res["late"] = n_late.reindex(res.index).fillna(0)
    res["max_late"] = max_late.reindex(res.index)
    res["epics_late"] = epics_late.reindex(res.index).fillna(0)
    res["ms_late"] = ms_late.reindex(res.index).fillna(0)
    res["value"] = np.where(
        res["open"] > 0, res["late"] / res["open"].where(res["open"] > 0, 1), 0.0
    )
    res["threshold"] = ctx.param("overdue_share")
    res["failed"] = (
        (res["value"] > res["threshold"])
        | (res["max_late"] > ctx.param("max_late_wd"))
        | (res["epics_late"] > 0)
        | (res["ms_late"] > 0)
    )
    any_items = count_by_project(items, res.index)
    has_ms = count_by_project(ms, res.index)
    res["ne"] = None
    res.loc[(any_items == 0) & (has_ms == 0), "ne"] = "no work items or milestones"
    res.loc[(any_items > 0) & (res["open"] > 0) & (res["dated"] == 0) & (has_ms == 0), "ne"] = (
        "no due dates on open items"
    )
    res["severity"] = np.where(res["ms_late"] > 0, "high", "medium")
    # ties by key: the frame's row order is the store's, which parallel syncs make vary
    late_items = open_[open_["late_wd"] > 0].sort_values(
        ["late_wd", "key"], ascending=[False, True], kind="stable"
    )
    res["keys"] = keys_by_project(late_items).reindex(res.index)
    owners = late_items.assign(
        who=late_items["key"].astype(str)
        + " ("
        # the person's display name: a tracker account id (24 opaque characters on Jira
        # Cloud) means nothing to the reader of a finding
        + lookup(late_items["assignee_id"], ctx.frame("people").set_index("id")["display_name"])
        .fillna("unassigned")
        .astype(str)
        + ", +"
        + late_items["late_wd"].astype(int).astype(str)
        + " wd)"
    )
    top = keys_by_project(owners, "who", 5).reindex(res.index)
    ms_names = keys_by_project(ms_late_rows, "name", 5).reindex(res.index)
    msg, msg_zh = [], []
    for r_late, r_open, r_top, r_ms in zip(res["late"], res["open"], top, ms_names, strict=True):
        tops = ", ".join(r_top) if isinstance(r_top, list) else ""
        mss = f"; late milestones: {', '.join(r_ms)}" if isinstance(r_ms, list) else ""
        msg.append(f"{int(r_late)} of {int(r_open)} open items overdue: {tops}{mss}")
        msg_zh.append(
            f"{int(r_late)}/{int(r_open)} 项未完成工作逾期:{tops}{mss.replace('; late milestones:', ';逾期里程碑:')}"
        )
    res["message"], res["message_zh"] = msg, msg_zh
    return ctx.project_outcomes(res)


def shared_evm(ctx: RuleContext, day: dt.date) -> pd.DataFrame:
    """EVM per project as of ``day``, computed once per run for every rule that needs it
    (VAR-003/004/005, RPT-003), then limited to this rule's projects."""
    from pmohub.rules.formulas import evm_frame

    f = ctx.all_frames or ctx.frames

    def compute() -> pd.DataFrame:
        return evm_frame(
            f["baselines"], f["work_items"], f.get("worklogs"), ctx.calendar, day, ctx.timezone
        )

    return ctx.memoized(("evm", day), compute).reindex(ctx.projects)


def shared_slippage(ctx: RuleContext, day: dt.date, *, forecast: bool = False) -> pd.DataFrame:
    """Slippage of every baselined milestone and project end as of ``day``; ``forecast``
    adds the Monte Carlo P85 of the project end (as of ``day``, from the current items)."""
    from pmohub.rules.formulas import milestone_slippage

    f = ctx.all_frames or ctx.frames
    trials = int(ctx.global_params.get("mc_trials", 1000))

    def p85() -> pd.Series:
        from pmohub.rules.montecarlo import project_p85

        items = f["work_items"]
        if not {"resolved_at", "created_at"} <= set(items.columns):
            return pd.Series(dtype="datetime64[s]")
        bl = f["baselines"]
        ended = pd.Index(bl.loc[bl["subject_kind"] == "project", "project_key"].unique())
        return project_p85(items, ended, day, ctx.calendar, ctx.timezone, trials=trials)

    def compute() -> pd.DataFrame:
        forecast_on = ctx.memoized(("p85", day, trials), p85) if forecast else None
        return milestone_slippage(
            f["baselines"], f["milestones"], f["work_items"], ctx.calendar, day, forecast_on
        )

    slip = ctx.memoized(("slippage", day, forecast, trials), compute)
    return slip[slip["project_key"].isin(ctx.projects)]


def _evm(ctx: RuleContext) -> pd.DataFrame:
    return shared_evm(ctx, ctx.as_of)


@rule(
    "VAR-002",
    title_en="Milestone / end-date slippage",
    title_zh="里程碑/完工日期延误",
    severity="high",
    scope="project",
    basis="004 §2.3 “对比项目基准计划与实际绩效” (baseline vs actuals); PRINCE2 exception",
    basis_seed="004",
    check="wd(baseline, c) > 5 (amber) or > 10 (red); c is the actual or current date of "
    "each baselined version and of the project end (today if overdue), for the project end "
    "the Monte Carlo P85 of its open leaf items when later (throughput from resolution "
    "dates, docs/metrics.md 2.1; `mc_trials` trials, fewer than the forecast report's 10 000 "
    "to keep a nightly check fast; not used when low-confidence)",
    fix_en="Raise an exception report or a CR for the slipped dates.",
    fix_zh="对延误的日期提交例外报告或变更申请。",
    defaults={"amber_wd": 5, "red_wd": 10, "mc_trials": 1000},
    needs={
        "baselines": ("project_key", "taken_at", "subject_kind", "milestone_id", "due_on"),
        "milestones": ("id", "name", "due_on", "released", "released_on"),
        "work_items": ("project_key", "status_category", "is_leaf", "is_epic", "due_on"),
    },
    optional={"work_items": ("resolved_at", "created_at")},
)
def var_002(ctx: RuleContext) -> Outcomes:
    slip = shared_slippage(ctx, ctx.as_of, forecast=True).sort_values("slip_wd", ascending=False)
    worst = slip.groupby("project_key")["slip_wd"].max().reindex(ctx.projects)
    amber = ctx.param("amber_wd").astype(float)
    late = slip[slip["slip_wd"] > by_project(slip["project_key"], amber)]
    late = late.assign(
        what=late["name"].astype(str) + " +" + late["slip_wd"].astype(int).astype(str) + " wd"
    )
    res = pd.DataFrame(index=ctx.projects)
    res["value"] = worst
    res["threshold"] = amber
    res["failed"] = worst > amber
    has_bl = count_by_project(ctx.frame("baselines"), ctx.projects) > 0
    res["ne"] = np.where(
        ~has_bl,
        "no baseline",
        np.where(worst.isna(), "baseline has no dated milestones or end", None),
    )
    band = np.where(worst > ctx.param("red_wd"), "red", "amber")
    res["evidence"] = [{"band": b} for b in band]
    names = keys_by_project(late, "what", 5).reindex(ctx.projects)
    res["message"] = [
        (", ".join(n) if isinstance(n, list) else "") + ": exception report or CR" for n in names
    ]
    res["message_zh"] = [
        (", ".join(n) if isinstance(n, list) else "") + ":请提交例外报告或变更申请" for n in names
    ]
    return ctx.project_outcomes(res)


@rule(
    "VAR-003",
    title_en="Schedule performance",
    title_zh="进度绩效",
    severity="high",
    scope="project",
    basis="003 项目控制员 “发现并解决进度偏差” (find and fix schedule deviation); PMI EVM",
    basis_seed="003",
    check="SPI_t < 0.90 (amber) or < 0.80 (red), once ≥ 10 % of BAC is planned",
    fix_en="Take corrective action on the schedule.",
    fix_zh="需要采取进度纠正措施。",
    defaults={"amber": 0.90, "red": 0.80, "min_planned_share": 0.10},
    needs={
        "baselines": BASELINE_EVM_COLUMNS,
        "work_items": ("id", "status_category"),
    },
)
def var_003(ctx: RuleContext) -> Outcomes:
    evm = _evm(ctx)
    res = pd.DataFrame(index=ctx.projects)
    res["value"] = evm["spi_t"].astype(float)
    res["threshold"] = ctx.param("amber")
    res["failed"] = res["value"] < res["threshold"]
    planned = evm["planned_share"].astype(float)
    res["ne"] = np.where(
        evm["bac"].isna(),
        "no baseline",
        np.where(
            ~(evm["bac"].astype(float) > 0),
            "baseline has no estimates",
            np.where(
                planned < ctx.param("min_planned_share"), "less than 10 % of BAC planned yet", None
            ),
        ),
    )
    band = np.where(res["value"] < ctx.param("red"), "red", "amber")
    res["evidence"] = [
        {"band": b, "ev": _r(e), "pv": _r(p), "bac": _r(t), "unit": u}
        for b, e, p, t, u in zip(band, evm["ev"], evm["pv"], evm["bac"], evm["unit"], strict=True)
    ]
    res["message"] = [f"SPI_t {v:.2f}: corrective action needed" for v in res["value"].fillna(0)]
    res["message_zh"] = [f"SPI_t {v:.2f}:需要采取纠正措施" for v in res["value"].fillna(0)]
    return ctx.project_outcomes(res)


@rule(
    "VAR-004",
    title_en="Effort/cost performance",
    title_zh="工时/成本绩效",
    severity="high",
    scope="project",
    basis="004 “成本超支” (cost overrun)",
    basis_seed="004",
    check="CPI = EV_h/AC_h < 0.90 (amber) or < 0.80 (red); N/E if hour estimates cover < 80 % "
    "of the baseline or there are no worklogs",
    fix_en="Effort is over plan: re-estimate or correct.",
    fix_zh="工时超出计划:请重新估算或纠正。",
    defaults={"amber": 0.90, "red": 0.80},
    needs={
        "baselines": BASELINE_EVM_COLUMNS,
        "work_items": ("id", "status_category"),
        "worklogs": ("project_key", "started_at", "seconds"),
    },
)
def var_004(ctx: RuleContext) -> Outcomes:
    evm = _evm(ctx)
    res = pd.DataFrame(index=ctx.projects)
    res["value"] = evm["cpi"].astype(float)
    res["threshold"] = ctx.param("amber")
    res["failed"] = res["value"] < res["threshold"]
    res["ne"] = np.where(
        evm["bac"].isna(),
        "no baseline",
        np.where(
            evm["unit"] != "h",
            "hour estimates cover < 80 % of the baseline",
            np.where(~(evm["ac_h"].astype(float) > 0), "no worklogs", None),
        ),
    )
    band = np.where(res["value"] < ctx.param("red"), "red", "amber")
    res["evidence"] = [
        {"band": b, "ev_h": _r(e), "ac_h": _r(a)}
        for b, e, a in zip(band, evm["ev"], evm["ac_h"], strict=True)
    ]
    res["message"] = [
        f"Effort {1 / v - 1:.0%} over plan (CPI {v:.2f})" if v and v > 0 else ""
        for v in res["value"].fillna(0)
    ]
    res["message_zh"] = [
        f"工时超出计划 {1 / v - 1:.0%}(CPI {v:.2f})" if v and v > 0 else ""
        for v in res["value"].fillna(0)
    ]
    return ctx.project_outcomes(res)


def _r(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else round(f, 2)


@rule(
    "VAR-005",
    title_en="Deviation has corrective action",
    title_zh="偏差已有纠正措施",
    severity="high",
    scope="project",
    basis="004 “督促项目经理分析原因并采取纠正或预防措施” (analyse the cause; take corrective action)",
    basis_seed="004",
    check="VAR-002 or VAR-003 red now and 5 wd ago, and no linked corrective action with "
    "owner, due date and cause",
    fix_en="Create a corrective action (owner, due date, cause).",
    fix_zh="创建纠正措施(负责人、完成日期、原因)。",
    defaults={"red_spi_t": 0.80, "red_slip_wd": 10, "persist_wd": 5},
    needs={
        "baselines": (*BASELINE_EVM_COLUMNS, "milestone_id"),
        "work_items": (
            "id",
            "project_key",
            "kind",
            "status_category",
            "is_leaf",
            "is_epic",
            "due_on",
            "assignee",
            "cause",
        ),
        "milestones": ("id", "name", "due_on", "released", "released_on"),
    },
)
def var_005(ctx: RuleContext) -> Outcomes:
    g = ctx.global_params
    before = ctx.calendar.add_wd(ctx.as_of_day, -int(g.get("persist_wd", 5)))[0].astype(object)
    items = ctx.frame("work_items")
    red = []
    for day in (ctx.as_of, before):
        evm = shared_evm(ctx, day)
        slip = shared_slippage(ctx, day)
        worst = slip.groupby("project_key")["slip_wd"].max().reindex(ctx.projects)
        red.append(
            (evm["spi_t"].astype(float) < float(g.get("red_spi_t", 0.8)))
            | (worst > float(g.get("red_slip_wd", 10)))
        )
    actions = items[items["kind"] == "corrective_action"]
    complete = (
        actions["assignee"].notna()
        & actions["due_on"].notna()
        & ~pd.Series(is_blank(actions["cause"]), index=actions.index)
    )
    has_action = complete.groupby(actions["project_key"]).any().reindex(ctx.projects).eq(True)
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = red[0] & red[1] & ~has_action
    has_bl = count_by_project(ctx.frame("baselines"), ctx.projects) > 0
    res["ne"] = np.where(~has_bl, "no baseline", None)
    res["message"] = (
        "Red for 5 wd without a corrective action: create an action (owner, due date, cause)"
    )
    res["message_zh"] = "红色状态已持续5个工作日且无纠正措施:请创建纠正措施"
    return ctx.project_outcomes(res)
