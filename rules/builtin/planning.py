"""Planning and baselines (RULES.md 1.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.engine import Outcomes, RuleContext, rule
from rules.frames import PHASES, keys_by_project, list_contains, lookup

PLAN_APPROVED = PHASES.index("plan_approved")
EXECUTION = PHASES.index("execution")
CLOSED = PHASES.index("closed")


@rule(
    "PLAN-002",
    title_en="Execution before plan approval",
    title_zh="计划批准前开始执行",
    severity="high",
    scope="project",
    basis="004 “计划通过审查后,方可进入执行阶段” (execution only after plan review)",
    basis_seed="004",
    check="a leaf item entered in_progress before plan_approved_at (label pre-approval exempts)",
    fix_en="Get the plan approved; explain the items started early.",
    fix_zh="先完成计划评审,说明提前开工的事项。",
    defaults={"exempt_label": "pre-approval"},
    needs={
        "work_items": ("id", "project_key", "key", "is_leaf", "labels"),
        "status_changes": ("work_item_id", "project_key", "field", "to_category", "changed_at"),
        "registry": ("project_key", "phase_rank", "plan_approved_at"),
    },
)
def plan_002(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    sc = ctx.frame("status_changes")
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    starts = sc[(sc["field"] == "status") & (sc["to_category"] == "in_progress")]
    first = starts.groupby("work_item_id")["changed_at"].min()
    leaf = items[items["is_leaf"].astype(bool)]
    label = str(ctx.global_params.get("exempt_label") or "pre-approval")
    leaf = leaf[~list_contains(leaf["labels"], label)]
    started = pd.to_datetime(lookup(leaf["id"], first), utc=True)
    approved = pd.to_datetime(leaf["project_key"].map(reg["plan_approved_at"]), utc=True)
    rank = leaf["project_key"].map(reg["phase_rank"])
    early = started.notna() & (approved.isna() & (rank < PLAN_APPROVED) | (started < approved))
    bad = leaf[early.to_numpy(dtype=bool)]
    res = pd.DataFrame(index=ctx.projects)
    res["n"] = bad.groupby("project_key").size().reindex(res.index).fillna(0)
    res["failed"] = res["n"] > 0
    res["value"] = res["n"]
    res["keys"] = keys_by_project(bad).reindex(res.index)
    has_history = sc.groupby("project_key").size().reindex(res.index).fillna(0) > 0
    unknown = reg["phase_rank"].isna() | (
        (reg["phase_rank"] >= PLAN_APPROVED) & reg["plan_approved_at"].isna()
    )
    res["ne"] = np.where(
        ~has_history, "no status history", np.where(unknown, "plan approval date unknown", None)
    )
    res["message"] = [f"{int(n)} items started before plan approval" for n in res["n"]]
    res["message_zh"] = [f"{int(n)} 个事项在计划批准前开工" for n in res["n"]]
    return ctx.project_outcomes(res)


@rule(
    "PLAN-003",
    title_en="Baseline captured",
    title_zh="已建立基准",
    severity="high",
    scope="project",
    basis="001 “审核和审批,形成项目执行的基准” (approval forms the baseline)",
    basis_seed="001",
    check="in execution with no baseline, or the baseline predates the last approved CR",
    fix_en="Run `pmohub baseline take <project>`.",
    fix_zh="执行 `pmohub baseline take <项目>`。",
    needs={
        "registry": ("project_key", "phase_rank"),
        "baselines": ("project_key", "taken_at"),
        "work_items": ("project_key", "kind", "ccb_decision", "resolved_at", "updated_at"),
    },
)
def plan_003(ctx: RuleContext) -> Outcomes:
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    bl = ctx.frame("baselines")
    items = ctx.frame("work_items")
    last_bl = pd.to_datetime(bl.groupby("project_key")["taken_at"].max(), utc=True).reindex(
        ctx.projects
    )
    crs = items[
        (items["kind"] == "change_request")
        & items["ccb_decision"].astype(str).str.lower().isin(["approved", "批准", "已批准"])
    ]
    decided = pd.to_datetime(crs["resolved_at"], utc=True).fillna(
        pd.to_datetime(crs["updated_at"], utc=True)
    )
    last_cr = decided.groupby(crs["project_key"]).max().reindex(ctx.projects)
    in_exec = reg["phase_rank"].between(EXECUTION, CLOSED - 1)
    res = pd.DataFrame(index=ctx.projects)
    no_bl = last_bl.isna()
    stale = last_bl.notna() & last_cr.notna() & (last_bl < last_cr)
    res["failed"] = in_exec & (no_bl | stale)
    res["ne"] = np.where(reg["phase_rank"].isna(), "no registry phase", None)
    res["message"] = np.where(
        no_bl,
        [f"No baseline: run `pmohub baseline take {p}`" for p in res.index],
        [
            f"Baseline predates the last approved CR: run `pmohub baseline take {p}`"
            for p in res.index
        ],
    )
    res["message_zh"] = np.where(
        no_bl, "尚无基准:请执行 pmohub baseline take", "基准早于最近批准的变更:请重新建立基准"
    )
    return ctx.project_outcomes(res)
