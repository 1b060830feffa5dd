"""Resource load and conflicts (RULES.md 1.7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.calendar import to_days
from rules.engine import Outcomes, RuleContext, rule
from rules.frames import keys_by_project, list_contains_any

OPEN = ("todo", "in_progress")


@rule(
    "RES-003",
    title_en="Near-term work unassigned or capacity unknown",
    title_zh="近期工作未分配或负责人产能未知",
    severity="medium",
    scope="project",
    basis="003 “将任务细化并分发给各个团队成员” (break tasks down and assign them)",
    basis_seed="003",
    check="an open item in the active sprint or due ≤ 10 wd is unassigned, or its assignee "
    "is inactive or not in people",
    fix_en="Assign the listed items to active team members.",
    fix_zh="将所列事项分配给在岗成员。",
    defaults={"horizon_wd": 10},
    needs={
        "work_items": (
            "project_key",
            "key",
            "status_category",
            "is_leaf",
            "due_on",
            "assignee",
            "assignee_id",
            "iteration_ids",
        ),
        "iterations": ("source", "external_id", "state"),
        "people": ("id", "active"),
    },
)
def res_003(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    people = ctx.frame("people")
    its = ctx.frame("iterations")
    active_its = frozenset(its.loc[its["state"] == "active", "external_id"].astype(str))
    open_ = items[items["status_category"].isin(OPEN) & items["is_leaf"].astype(bool)]
    horizon = ctx.calendar.add_wd(ctx.as_of_day, 0)[0]
    due = to_days(open_["due_on"])
    limit = ctx.calendar.add_wd(
        np.full(len(open_), horizon),
        open_["project_key"].map(ctx.param("horizon_wd")).to_numpy(dtype=int),
    )
    near = (due <= limit) | list_contains_any(open_["iteration_ids"], active_its)
    active_people = set(people.loc[people["active"].astype(bool), "id"])
    # Unassigned, or assigned to someone not merged into people, or inactive: all the same
    # to the PMO (nobody known to have capacity owns the work).
    no_owner = ~open_["assignee_id"].isin(active_people)
    bad = open_[near & no_owner.to_numpy(dtype=bool)]
    res = pd.DataFrame(index=ctx.projects)
    res["n"] = bad.groupby("project_key").size().reindex(res.index).fillna(0)
    res["failed"] = res["n"] > 0
    res["value"] = res["n"]
    res["keys"] = keys_by_project(bad).reindex(res.index)
    n_items = items.groupby("project_key").size().reindex(res.index).fillna(0)
    res["ne"] = np.where(n_items == 0, "no work items", None)
    res["message"] = [
        f"{int(n)} near-term items unassigned or with an inactive/unknown assignee: {', '.join(k) if isinstance(k, list) else ''}"
        for n, k in zip(res["n"], res["keys"], strict=True)
    ]
    res["message_zh"] = [f"{int(n)} 个近期事项未分配或负责人不在岗" for n in res["n"]]
    return ctx.project_outcomes(res)
