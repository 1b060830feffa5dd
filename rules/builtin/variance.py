"""Schedule and cost variance (RULES.md 1.4)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.engine import Outcomes, RuleContext, rule
from rules.frames import keys_by_project

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
            "assignee",
        ),
        "milestones": ("project_key", "name", "due_on", "released", "archived"),
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
    ms_late_rows = ms[ms["late_wd"] >= ms["project_key"].map(ctx.param("milestone_late_wd"))]
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
    any_items = items.groupby("project_key").size().reindex(res.index).fillna(0)
    has_ms = ms.groupby("project_key").size().reindex(res.index).fillna(0)
    res["ne"] = None
    res.loc[(any_items == 0) & (has_ms == 0), "ne"] = "no work items or milestones"
    res.loc[(any_items > 0) & (res["open"] > 0) & (res["dated"] == 0) & (has_ms == 0), "ne"] = (
        "no due dates on open items"
    )
    res["severity"] = np.where(res["ms_late"] > 0, "high", "medium")
    late_items = open_[open_["late_wd"] > 0].sort_values("late_wd", ascending=False)
    res["keys"] = keys_by_project(late_items).reindex(res.index)
    owners = late_items.assign(
        who=late_items["key"].astype(str)
        + " ("
        + late_items["assignee"].fillna("unassigned").astype(str)
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
