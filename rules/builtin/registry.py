"""Registry and charter (docs/metrics.md 1.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import CHARTER_FIELDS, PHASES, is_blank


@rule(
    "REG-001",
    title_en="Project in PMO ledger",
    title_zh="项目已纳入PMO台账",
    severity="high",
    scope="portfolio",
    basis="004 §2.1 “纳入PMO项目台账统一管理” (place the project in the PMO ledger)",
    basis_seed="004",
    check="a tracker project with updates in the last 30 days has no hierarchy node or "
    "registry issue (unless exempt)",
    fix_en="Register the project or mark it exempt.",
    fix_zh="在台账中登记该项目或标记为豁免。",
    defaults={"active_days": 30, "exempt": []},
    needs={"work_items": ("source", "tracker_project_key", "project_key", "updated_at")},
    optional={"work_items": ("registered",)},
)
def reg_001(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    registry_projects = set(ctx.settings.get("registry_projects", ()))
    exempt = set(ctx.global_params.get("exempt") or [])
    days = int(ctx.global_params.get("active_days", 30))
    lo = np.datetime64(ctx.as_of, "D") - np.timedelta64(days, "D")
    recent = ctx.local_day(items["updated_at"]) > lo
    unregistered = (
        ~items["registered"].astype(bool)
        if "registered" in items.columns
        else items["project_key"].isna()
    )
    loose = items[recent & unregistered.to_numpy(dtype=bool)]
    loose = loose[~loose["tracker_project_key"].isin(registry_projects | exempt)]
    # observed=True: the keys are categories, and pandas 2.x would list every unseen pair
    per = (
        loose.groupby(["source", "tracker_project_key"], observed=True).size().reset_index(name="n")
    )
    res = pd.DataFrame(
        {
            "subject": "tracker:"
            + per["source"].astype(str)
            + ":"
            + per["tracker_project_key"].astype(str),
            "project_key": None,
            "failed": True,
            "value": per["n"].astype(float),
            "message": "Register "
            + per["tracker_project_key"].astype(str)
            + " ("
            + per["n"].astype(str)
            + " items updated recently) or mark it exempt",
            "message_zh": "请将 " + per["tracker_project_key"].astype(str) + " 纳入台账或标记豁免",
        }
    )
    if len(res) == 0:
        res = pd.DataFrame({"subject": ["portfolio:*"], "project_key": [None], "failed": [False]})
    return ctx.subject_outcomes(res)


@rule(
    "REG-002",
    title_en="PM appointed",
    title_zh="已任命项目经理",
    severity="high",
    scope="project",
    basis="004 “任命项目经理” (appoint the PM)",
    basis_seed="004",
    check="registry pm empty or inactive (the tracker project lead does not count)",
    fix_en="Appoint a PM on the registry issue.",
    fix_zh="在台账事项上任命项目经理。",
    needs={"registry": ("project_key", "pm", "pm_active", "registry_issue")},
    optional={"registry": ("implicit",)},
)
def reg_002(ctx: RuleContext) -> Outcomes:
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    empty = is_blank(reg["pm"])
    inactive = reg["pm_active"].astype(object).eq(False).to_numpy(dtype=bool)
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = empty | inactive
    if "implicit" in reg.columns:
        res["ne"] = np.where(reg["implicit"].eq(True), "not in the hierarchy (see REG-001)", None)
    # An all-null column arrives as float64 (reindex, no registry issues at all): pandas 3
    # refuses a string fill value there, so widen to object first.
    where = reg["registry_issue"].astype(object).fillna("the registry").astype(str)
    res["message"] = np.where(
        empty,
        "Appoint a PM on " + where,
        "PM " + reg["pm"].astype(str) + " is inactive: appoint a PM on " + where,
    )
    res["message_zh"] = np.where(
        empty, "请在 " + where + " 上任命项目经理", "项目经理已离岗,请在 " + where + " 上重新任命"
    )
    return ctx.project_outcomes(res)


@rule(
    "REG-003",
    title_en="Charter complete",
    title_zh="项目章程完整",
    severity="medium",
    scope="project",
    basis="004 “明确项目章程” (define the charter); “目标、范围、主要交付物、关键假设与约束”",
    basis_seed="004",
    check="at phase ≥ Approved, an empty objective, scope, deliverables, assumptions, "
    "sponsor, planned dates, strategic fit or priority_rank, or a priority_rank not unique "
    "in the portfolio",
    fix_en="Complete the listed charter fields.",
    fix_zh="补全所列章程字段。",
    needs={
        "registry": ("project_key", "portfolio", "phase_rank", "priority_rank", *CHARTER_FIELDS)
    },
)
def reg_003(ctx: RuleContext) -> Outcomes:
    full = ctx.frame("registry")
    reg = full.set_index("project_key").reindex(ctx.projects)
    blank = pd.DataFrame(
        {f: is_blank(reg[f]) for f in [*CHARTER_FIELDS, "priority_rank"]}, index=reg.index
    )
    ranked = full.dropna(subset=["priority_rank"])
    dup = ranked.duplicated(subset=["portfolio", "priority_rank"], keep=False)
    dup_keys = set(ranked.loc[dup, "project_key"])
    blank["priority_rank not unique"] = reg.index.isin(dup_keys)
    applies = reg["phase_rank"] >= PHASES.index("approved")
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = applies & blank.any(axis=1)
    res["ne"] = np.where(
        reg["phase_rank"].isna(),
        "no registry phase (registry issue missing or status not a phase)",
        None,
    )
    res["value"] = blank.sum(axis=1).astype(float)
    lists = blank.apply(lambda r: ", ".join(k for k, v in r.items() if v), axis=1)
    res["message"] = "Charter incomplete: " + lists
    res["message_zh"] = "章程不完整:" + lists
    res["evidence"] = [{"fields": [x for x in s.split(", ") if x]} for s in lists]
    return ctx.project_outcomes(res)
