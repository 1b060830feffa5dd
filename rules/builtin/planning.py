"""Planning and baselines (docs/metrics.md 1.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import (
    PHASES,
    by_project,
    count_by_project,
    failing_items_result,
    keys_by_project,
    list_contains,
    lookup,
)

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
    approved = pd.to_datetime(by_project(leaf["project_key"], reg["plan_approved_at"]), utc=True)
    rank = by_project(leaf["project_key"], reg["phase_rank"])
    early = started.notna() & (approved.isna() & (rank < PLAN_APPROVED) | (started < approved))
    bad = leaf[early.to_numpy(dtype=bool)]
    res = failing_items_result(bad, ctx.projects)
    has_history = count_by_project(sc, res.index) > 0
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


SUBPLANS = {
    "scope": "范围",
    "schedule": "进度",
    "cost": "成本",
    "quality": "质量",
    "resource": "资源",
    "communication": "沟通",
    "risk": "风险",
    "procurement": "采购",
}


@rule(
    "PLAN-001",
    title_en="PM plan has sub-plans",
    title_zh="项目管理计划包含各子计划",
    severity="medium",
    scope="project",
    basis="004 §2.2 “项目管理计划应至少包含…子计划” (scope, schedule, cost, quality, resource, "
    "communication, risk, procurement)",
    basis_seed="004",
    check="at phase ≥ Planning, a sub-plan lacks evidence: a `subplans` value on the "
    "registry issue or a label `plan:<name>` on a project item",
    fix_en="Add the missing sub-plans.",
    fix_zh="补充缺失的子计划。",
    defaults={"required": list(SUBPLANS)},
    needs={
        "registry": ("project_key", "phase_rank", "subplans"),
        "work_items": ("project_key", "labels"),
    },
)
def plan_001(ctx: RuleContext) -> Outcomes:
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    items = ctx.frame("work_items")
    labels = items[["project_key", "labels"]].explode("labels").dropna()
    labels = labels[labels["labels"].astype(str).str.lower().str.startswith("plan:")]
    text = reg["subplans"].map(
        lambda v: " ".join(map(str, v)) if isinstance(v, list | tuple) else str(v or "")
    )
    label_text = (
        labels.groupby("project_key")["labels"]
        .agg(lambda s: " ".join(map(str, s)))
        .reindex(ctx.projects)
        .fillna("")
    )
    evidence = (text + " " + label_text).str.lower()
    required = [str(x) for x in ctx.global_params.get("required") or SUBPLANS]
    missing = pd.DataFrame(
        {
            name: ~(
                evidence.str.contains(name, regex=False)
                | evidence.str.contains(SUBPLANS.get(name, name), regex=False)
            )
            for name in required
        },
        index=ctx.projects,
    )
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = (reg["phase_rank"] >= PHASES.index("planning")) & missing.any(axis=1)
    res["ne"] = np.where(reg["phase_rank"].isna(), "no registry phase", None)
    res["value"] = missing.sum(axis=1).astype(float)
    names = missing.apply(lambda r: ", ".join(k for k, v in r.items() if v), axis=1)
    names_zh = missing.apply(
        lambda r: "、".join(SUBPLANS.get(k, k) + "管理" for k, v in r.items() if v), axis=1
    )
    res["message"] = "Missing sub-plans: " + names
    res["message_zh"] = "缺少子计划:" + names_zh
    return ctx.project_outcomes(res)


@rule(
    "PLAN-004",
    title_en="Schedule and estimate coverage",
    title_zh="进度计划与估算覆盖",
    severity="medium",
    scope="project",
    basis="000 “一、二级进度计划…三级进度计划” (schedule levels 1–3)",
    basis_seed="000",
    check="all required: ≥ 1 dated unreleased version; ≥ 90 % of open epics dated; ≥ 80 % of "
    "near-term leaf items (due ≤ 20 wd or in the active sprint) estimated",
    fix_en="Date the versions and epics and estimate the near-term items listed.",
    fix_zh="为版本和史诗设定日期,并估算所列近期事项。",
    defaults={"epic_dated_share": 0.90, "estimated_share": 0.80, "near_wd": 20},
    needs={
        "work_items": (
            "project_key",
            "key",
            "status_category",
            "is_leaf",
            "is_epic",
            "due_on",
            "story_points",
            "original_estimate_h",
            "iteration_ids",
        ),
        "milestones": ("project_key", "due_on", "released", "archived"),
        "iterations": ("external_id", "state"),
    },
)
def plan_004(ctx: RuleContext) -> Outcomes:
    from pmohub.rules.calendar import to_days
    from pmohub.rules.frames import list_contains_any

    items = ctx.frame("work_items")
    ms = ctx.frame("milestones")
    its = ctx.frame("iterations")
    active = frozenset(its.loc[its["state"].isin(["active", "future"]), "external_id"].astype(str))
    open_ = items[items["status_category"].isin(("todo", "in_progress"))]
    estimated = open_["story_points"].notna() | open_["original_estimate_h"].notna()
    any_est = (
        (items["story_points"].notna() | items["original_estimate_h"].notna())
        .groupby(items["project_key"])
        .any()
        .reindex(ctx.projects)
        .eq(True)
    )
    dated_versions = (
        ms[~ms["released"].astype(bool) & ~ms["archived"].astype(bool) & ms["due_on"].notna()]
        .groupby("project_key")
        .size()
        .reindex(ctx.projects)
        .fillna(0)
    )
    epics = open_[open_["is_epic"].astype(bool)]
    epic_share = epics["due_on"].notna().groupby(epics["project_key"]).mean().reindex(ctx.projects)
    limit = ctx.calendar.add_wd(
        np.full(len(open_), ctx.as_of_day),
        ctx.param_of("near_wd", open_["project_key"]).to_numpy(dtype=int),
    )
    near = open_["is_leaf"].astype(bool).to_numpy() & (
        (to_days(open_["due_on"]) <= limit) | list_contains_any(open_["iteration_ids"], active)
    )
    near_items = open_[near]
    est_share = estimated[near].groupby(near_items["project_key"]).mean().reindex(ctx.projects)
    gaps = pd.DataFrame(
        {
            "no dated unreleased version": dated_versions == 0,
            "undated epics": epic_share < ctx.param("epic_dated_share"),
            "unestimated near-term items": est_share < ctx.param("estimated_share"),
        },
        index=ctx.projects,
    )
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = gaps.any(axis=1)
    n_items = count_by_project(items, ctx.projects)
    res["ne"] = np.where(
        n_items == 0,
        "no work items",
        np.where(~any_est.astype(bool), "the tracker has no estimates", None),
    )
    res["value"] = est_share
    res["threshold"] = ctx.param("estimated_share")
    unest = near_items[~estimated[near].to_numpy(dtype=bool)]
    res["keys"] = keys_by_project(unest).reindex(ctx.projects)
    names = gaps.apply(lambda r: ", ".join(k for k, v in r.items() if v), axis=1)
    res["message"] = "Schedule/estimate coverage: " + names
    res["message_zh"] = "进度/估算覆盖不足:" + names
    return ctx.project_outcomes(res)
