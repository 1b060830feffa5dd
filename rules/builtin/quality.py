"""Quality (docs/metrics.md 1.8)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pmohub.rules.calendar import to_days
from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.formulas import REOPEN_WINDOW_DAYS, reopen_rate
from pmohub.rules.frames import (
    by_project,
    count_by_project,
    failing_items_result,
    keys_by_project,
    list_contains_any,
)
from pmohub.rules.rag import REOPEN_DEFAULTS

OPEN = ("todo", "in_progress")


@rule(
    "QUA-001",
    title_en="Reopen rate",
    title_zh="重开率",
    severity="medium",
    scope="project",
    basis="003 “定期进行质量检查” (regular quality checks)",
    basis_seed="003",
    check=f"leaf items reopened (done → to do / in progress) ÷ leaf items done over the last "
    f"{REOPEN_WINDOW_DAYS} days > `amber` (amber) or > `red` (red); the reopen rate of "
    "`pmohub status` and the report, and the bands of the status's quality RAG dimension "
    "(docs/metrics.md 2.1)",
    fix_en="Review the Definition of Done.",
    fix_zh="复查完成定义(DoD)。",
    # the RAG quality dimension's bands too (rules/rag.py REOPEN_RULE): one source
    defaults=dict(REOPEN_DEFAULTS),
    needs={
        "status_changes": (
            "work_item_id",
            "project_key",
            "field",
            "from_category",
            "to_category",
            "changed_at",
        ),
        "work_items": ("id", "is_leaf"),
    },
)
def qua_001(ctx: RuleContext) -> Outcomes:
    sc = ctx.frame("status_changes")
    sc = sc[sc["field"] == "status"]
    items = ctx.frame("work_items")
    leaf = items.loc[items["is_leaf"].astype(bool), "id"]
    rr = reopen_rate(sc, ctx.timezone, ctx.as_of, leaf_ids=leaf)
    res = pd.DataFrame(index=ctx.projects)
    res["reopens"] = rr["reopened"].reindex(res.index).fillna(0)
    res["done"] = rr["done"].reindex(res.index).fillna(0)
    res["value"] = rr["reopen_rate"].reindex(res.index).astype(float)
    res["threshold"] = ctx.param("amber")
    res["failed"] = res["value"] > res["threshold"]
    has_history = count_by_project(sc, res.index) > 0
    res["ne"] = np.where(
        ~has_history,
        "no status history",
        np.where(res["done"] == 0, "nothing done in the window", None),
    )
    band = np.where(res["value"] > ctx.param("red"), "red", "amber")
    res["evidence"] = [{"band": b} for b in band]
    res["message"] = [
        f"Reopen rate {v:.0%} ({int(r)} reopened / {int(d)} done in {REOPEN_WINDOW_DAYS} days): "
        "review the Definition of Done"
        for v, r, d in zip(res["value"].fillna(0), res["reopens"], res["done"], strict=True)
    ]
    res["message_zh"] = [f"重开率 {v:.0%}:复查完成定义" for v in res["value"].fillna(0)]
    return ctx.project_outcomes(res)


def high_priority_bugs(items: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """The open bugs of a high priority by QUA-002's settings (``params``: the policy's
    ``highest_priorities`` and ``high_priorities``), with ``priority_class`` "highest" or
    "high": the one reader of "high-priority bug" for QUA-002 (those past their SLA) and the
    report's quality table (all of them), so the two can never name different bugs."""
    highest = set(params.get("highest_priorities") or [])
    high = set(params.get("high_priorities") or []) - highest
    bugs = items[(items["kind"] == "bug") & items["status_category"].isin(OPEN)]
    pri = bugs["priority"]
    bugs = bugs[pri.isin(highest) | pri.isin(high)]
    return bugs.assign(
        priority_class=np.where(bugs["priority"].isin(highest), "highest", "high").astype(object)
    )


@rule(
    "QUA-002",
    title_en="High-priority defects past SLA",
    title_zh="高优先级缺陷超期",
    severity="high",
    scope="project",
    basis="000 “制定质量标准…及时发现问题” (set quality standards; catch problems early)",
    basis_seed="000",
    check="an open Bug older than its SLA (Highest 3 wd, High 10 wd)",
    fix_en="Fix or re-prioritise the listed bugs.",
    fix_zh="修复或重新评估所列缺陷的优先级。",
    defaults={
        "highest_wd": 3,
        "high_wd": 10,
        "highest_priorities": ["Highest", "Blocker", "P0", "最高", "紧急"],
        "high_priorities": ["High", "Critical", "P1", "高"],
    },
    needs={
        "work_items": ("project_key", "key", "kind", "priority", "status_category", "created_at")
    },
)
def qua_002(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    bugs = high_priority_bugs(items, ctx.global_params)
    age = ctx.wd_until_today(ctx.local_day(bugs["created_at"]))
    sla = np.where(
        bugs["priority_class"] == "highest",
        ctx.param_of("highest_wd", bugs["project_key"]),
        ctx.param_of("high_wd", bugs["project_key"]),
    ).astype(float)
    late = bugs[age > sla].assign(age=age[age > sla]).sort_values("age", ascending=False)
    res = failing_items_result(late, ctx.projects)
    n_items = count_by_project(items, res.index)
    res["ne"] = np.where(n_items == 0, "no work items", None)
    res["message"] = [
        f"{int(n)} high-priority bugs past SLA: {', '.join(k) if isinstance(k, list) else ''}"
        for n, k in zip(res["n"], res["keys"], strict=True)
    ]
    res["message_zh"] = [f"{int(n)} 个高优先级缺陷超期" for n in res["n"]]
    return ctx.project_outcomes(res)


@rule(
    "QUA-003",
    title_en="Done without review or acceptance",
    title_zh="未经评审或验收即完成",
    severity="medium",
    scope="project",
    basis="002 “检查交付成果是否符合客户要求” (check deliverables against requirements)",
    basis_seed="002",
    check="> 10 % of items done in 30 days skipped all review statuses or have empty "
    "acceptance criteria (where the project records them)",
    fix_en="Route through QA.",
    fix_zh="走测试/评审流程。",
    defaults={
        "share": 0.10,
        "window_days": 30,
        "review_statuses": [
            "In Review",
            "Review",
            "Code Review",
            "QA",
            "Testing",
            "In Test",
            "待验收",
            "评审中",
            "测试中",
        ],
    },
    needs={
        "work_items": ("id", "project_key", "key", "is_leaf", "status_category"),
        "status_changes": (
            "work_item_id",
            "project_key",
            "field",
            "to_value",
            "to_category",
            "changed_at",
        ),
    },
    optional={"work_items": ("acceptance_criteria",)},
)
def qua_003(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    sc = ctx.frame("status_changes")
    sc = sc[sc["field"] == "status"]
    review = set(ctx.global_params.get("review_statuses") or []) | set(
        ctx.settings.get("review_statuses", ())
    )
    day = ctx.local_day(sc["changed_at"])
    lo = np.datetime64(ctx.as_of, "D") - np.timedelta64(
        int(ctx.global_params.get("window_days", 30)), "D"
    )
    done_now = items[(items["status_category"] == "done") & items["is_leaf"].astype(bool)]
    done_in_win = sc[(sc["to_category"] == "done") & (day > lo) & (day <= ctx.as_of_day)][
        "work_item_id"
    ].unique()
    recent = done_now[done_now["id"].isin(done_in_win)]
    reviewed_ids = sc[sc["to_value"].isin(review)]["work_item_id"].unique()
    skipped = ~recent["id"].isin(reviewed_ids)
    if "acceptance_criteria" in recent.columns:
        ac = recent["acceptance_criteria"].astype(object)
        ac_blank = ac.isna() | (ac.astype(str).str.strip() == "")
        records_ac = (
            items.groupby("project_key")["acceptance_criteria"].count() > 0
            if "acceptance_criteria" in items.columns
            else pd.Series(dtype=bool)
        )
        uses = by_project(recent["project_key"], records_ac).eq(True)
        skipped = skipped | (ac_blank & uses)
    bad = recent[skipped]
    res = pd.DataFrame(index=ctx.projects)
    res["done"] = count_by_project(recent, res.index)
    res["bad"] = count_by_project(bad, res.index)
    res["value"] = res["bad"] / res["done"].where(res["done"] > 0)
    res["threshold"] = ctx.param("share")
    res["failed"] = res["value"] > res["threshold"]
    has_history = count_by_project(sc, res.index) > 0
    res["ne"] = np.where(
        ~has_history,
        "no status history",
        np.where(res["done"] == 0, "nothing done in the window", None),
    )
    res["keys"] = keys_by_project(bad).reindex(res.index)
    res["message"] = [
        f"{int(b)} of {int(d)} items done without review or acceptance: route through QA"
        for b, d in zip(res["bad"], res["done"], strict=True)
    ]
    res["message_zh"] = [
        f"{int(b)}/{int(d)} 项未经评审或验收即完成"
        for b, d in zip(res["bad"], res["done"], strict=True)
    ]
    return ctx.project_outcomes(res)


@rule(
    "QUA-004",
    title_en="Release with open critical defects",
    title_zh="带严重缺陷发布",
    severity="high",
    scope="project",
    basis="002 “项目交付与验收” (delivery and acceptance)",
    basis_seed="002",
    check="a released version or done milestone holds an open Bug ≥ High or a blocker",
    fix_en="Fix, move, or record a concession.",
    fix_zh="修复、移出版本或记录让步接收。",
    defaults={
        "priorities": ["Highest", "High", "Blocker", "Critical", "P0", "P1", "最高", "紧急", "高"]
    },
    needs={
        "work_items": (
            "project_key",
            "key",
            "kind",
            "priority",
            "status_category",
            "milestone_ids",
            "source",
        ),
        "milestones": ("project_key", "source", "external_id", "name", "released"),
    },
)
def qua_004(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    ms = ctx.frame("milestones")
    released = ms[ms["released"].astype(bool)]
    pri = set(ctx.global_params.get("priorities") or [])
    bugs = items[
        (items["kind"] == "bug") & items["status_category"].isin(OPEN) & items["priority"].isin(pri)
    ]
    hit = list_contains_any(bugs["milestone_ids"], frozenset(released["external_id"].astype(str)))
    bad = bugs[hit]
    res = failing_items_result(bad, ctx.projects)
    has_ms = count_by_project(ms, res.index)
    res["ne"] = np.where(has_ms == 0, "no versions or milestones", None)
    res["message"] = [
        f"{int(n)} open high-priority bugs in released versions: fix, move or record a concession"
        for n in res["n"]
    ]
    res["message_zh"] = [f"已发布版本中有 {int(n)} 个未关闭的高优先级缺陷" for n in res["n"]]
    return ctx.project_outcomes(res)


__all__ = ["high_priority_bugs", "qua_001", "qua_002", "qua_003", "qua_004", "to_days"]
