"""Resource load and conflicts (RULES.md 1.7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.calendar import to_days
from rules.engine import Outcomes, RuleContext, rule
from rules.frames import by_project, keys_by_project, list_contains_any

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
        ctx.param_of("horizon_wd", open_["project_key"]).to_numpy(dtype=int),
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


def _load(ctx: RuleContext, weeks: int) -> pd.DataFrame:
    """Person/week/project load, computed once per run for RES-001 and RES-002."""
    from rules.formulas import load_frame

    items = (ctx.all_frames or ctx.frames)["work_items"]

    def compute() -> pd.DataFrame:
        return load_frame(
            items,
            ctx.calendar,
            ctx.as_of,
            weeks=weeks,
            hours_per_day=float(ctx.settings.get("hours_per_day", 8.0)),
            hpp=float(ctx.settings.get("hpp", 6.0)),
            default_estimate_h=ctx.settings.get("default_estimate_h") or {},
            person_hours=ctx.settings.get("person_hours"),
            person_allocation=ctx.settings.get("person_allocation"),
            person_leave=ctx.settings.get("person_leave"),
        )

    return ctx.memoized(("load", weeks), compute)


LOAD_NEEDS = {
    "work_items": (
        "project_key",
        "key",
        "type",
        "kind",
        "status_category",
        "assignee_id",
        "start_on",
        "due_on",
        "remaining_estimate_h",
        "story_points",
    ),
    "people": ("id", "display_name", "active"),
}


@rule(
    "RES-001",
    title_en="Load out of band",
    title_zh="负荷超出范围",
    severity="high",
    scope="person",
    basis="001 “避免资源的闲置和过度使用” (avoid idle and over-use)",
    basis_seed="001",
    check="load (dem/cap, RULES.md 2.3) > 110 % (amber) or > 130 % (red) in any of the next "
    "4 weeks (high); idle: < 50 % for 2 weeks while unassigned work is waiting (low)",
    fix_en="Move hours to someone with capacity.",
    fix_zh="将工时转给有余力的成员。",
    defaults={"amber": 1.10, "red": 1.30, "idle": 0.50, "horizon_weeks": 4},
    needs=LOAD_NEEDS,
)
def res_001(ctx: RuleContext) -> Outcomes:
    g = ctx.global_params
    load = _load(ctx, int(g.get("horizon_weeks", 4)))
    people = ctx.frame("people").set_index("id")
    pw = load.groupby(["person_id", "week", "week_start"], as_index=False).agg(
        dem=("demand_h", "sum"), cap=("cap_h", "first")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        pw["load"] = np.where(
            pw["cap"] > 0, pw["dem"] / pw["cap"], np.where(pw["dem"] > 0, np.inf, 0.0)
        )
    over = pw[pw["load"] > float(g.get("amber", 1.1))].sort_values("load", ascending=False)
    worst = over.groupby("person_id").head(1)
    items = ctx.frame("work_items")
    waiting = bool(
        (
            items["status_category"].eq("todo")
            & items["assignee_id"].isna()
            & items["kind"].isin(["work", "bug"])
        ).any()
    )
    first2 = pw[pw["week"] < 2]
    idle_people = first2.groupby("person_id")["load"].max()
    idle_people = (
        idle_people[
            (idle_people < float(g.get("idle", 0.5))) & (first2.groupby("person_id").size() >= 2)
        ]
        if waiting
        else idle_people.iloc[0:0]
    )
    name = worst["person_id"].map(people["display_name"]).fillna(worst["person_id"].astype(str))
    week = pd.to_datetime(worst["week_start"]).dt.isocalendar().week.astype(int)
    move = (worst["dem"] - worst["cap"]).clip(lower=0)
    red = worst["load"] > float(g.get("red", 1.3))
    rows = pd.DataFrame(
        {
            "subject": "person:" + worst["person_id"].astype(int).astype(str),
            "project_key": None,
            "failed": True,
            "severity": "high",
            "value": worst["load"].to_numpy(),
            "threshold": float(g.get("amber", 1.1)),
            "evidence": [
                {"band": "red" if r else "amber", "week_start": str(ws)[:10]}
                for r, ws in zip(red, worst["week_start"], strict=True)
            ],
            "message": [
                f"{n} W{w} {ld:.0%}: move {mv:.0f} h"
                if np.isfinite(ld)
                else f"{n} W{w}: demand with no capacity"
                for n, w, ld, mv in zip(name, week, worst["load"], move, strict=True)
            ],
            "message_zh": [
                f"{n} 第{w}周负荷 {ld:.0%}:需转出 {mv:.0f} 小时"
                if np.isfinite(ld)
                else f"{n} 第{w}周无产能却有工作"
                for n, w, ld, mv in zip(name, week, worst["load"], move, strict=True)
            ],
        }
    )
    idle_rows = pd.DataFrame(
        {
            "subject": "person:" + idle_people.index.astype(int).astype(str),
            "project_key": None,
            "failed": True,
            "severity": "low",
            "value": idle_people.to_numpy(),
            "threshold": float(g.get("idle", 0.5)),
            "message": [
                f"{people['display_name'].get(p, p)} under {float(g.get('idle', 0.5)):.0%} loaded for 2 weeks while work is unassigned"
                for p in idle_people.index
            ],
            "message_zh": [
                f"{people['display_name'].get(p, p)} 连续两周负荷偏低,而仍有未分配的工作"
                for p in idle_people.index
            ],
        }
    )
    res = pd.concat([rows, idle_rows], ignore_index=True)
    if res.empty:
        res = pd.DataFrame({"subject": ["portfolio:*"], "project_key": [None], "failed": [False]})
    if load.empty:
        res = pd.DataFrame(
            {
                "subject": ["portfolio:*"],
                "project_key": [None],
                "failed": [False],
                "ne": ["no dated, assigned open work"],
            }
        )
    return ctx.subject_outcomes(res)


@rule(
    "RES-002",
    title_en="Cross-project conflict not resolved by priority",
    title_zh="跨项目资源冲突未按优先级解决",
    severity="high",
    scope="portfolio",
    basis="004 “资源冲突时,PMO根据项目优先级…统筹协调”; 001 “低优先级的项目…被延期”",
    basis_seed="004",
    check="a person is over capacity in a week with ≥ 2 projects each ≥ 10 % of the demand: "
    "filling capacity by priority_rank leaves lower-priority hours displaced",
    fix_en="Defer the displaced hours of the lower-priority project.",
    fix_zh="推迟低优先级项目被挤占的工时。",
    defaults={"min_share": 0.10, "horizon_weeks": 4},
    needs={**LOAD_NEEDS, "registry": ("project_key", "priority_rank")},
)
def res_002(ctx: RuleContext) -> Outcomes:
    g = ctx.global_params
    load = _load(ctx, int(g.get("horizon_weeks", 4)))
    reg = ctx.frame("registry").set_index("project_key")
    people = ctx.frame("people").set_index("id")
    if load.empty:
        return ctx.subject_outcomes(
            pd.DataFrame(
                {
                    "subject": ["portfolio:*"],
                    "project_key": [None],
                    "failed": [False],
                    "ne": ["no dated, assigned open work"],
                }
            )
        )
    load = load[load["demand_h"] > 0].copy()
    tot = load.groupby(["person_id", "week"])["demand_h"].transform("sum")
    load["share"] = load["demand_h"] / tot
    load["rank"] = (
        by_project(load["project_key"], reg["priority_rank"]).astype(float).fillna(np.inf)
    )
    big = load[load["share"] >= float(g.get("min_share", 0.1))]
    n_big = big.groupby(["person_id", "week"])["project_key"].nunique()
    cell = pd.MultiIndex.from_frame(load[["person_id", "week"]])
    load["n_big"] = n_big.reindex(cell).fillna(0).to_numpy()
    conflict = load[(tot > load["cap_h"]) & (load["n_big"] >= 2)]
    if conflict.empty:
        return ctx.subject_outcomes(
            pd.DataFrame({"subject": ["portfolio:*"], "project_key": [None], "failed": [False]})
        )
    conflict = conflict.sort_values(["person_id", "week", "rank"])
    before = conflict.groupby(["person_id", "week"])["demand_h"].cumsum() - conflict["demand_h"]
    served = (conflict["cap_h"] - before).clip(lower=0).clip(upper=conflict["demand_h"])
    conflict["displaced_h"] = conflict["demand_h"] - served
    top = conflict.groupby(["person_id", "week"]).head(1).set_index(["person_id", "week"])
    victims = conflict[conflict["displaced_h"] > 0.05]
    victims = victims.assign(
        winner=[
            top.loc[(p, w), "project_key"]
            for p, w in zip(victims["person_id"], victims["week"], strict=True)
        ],
        winner_rank=[
            top.loc[(p, w), "rank"]
            for p, w in zip(victims["person_id"], victims["week"], strict=True)
        ],
    )
    victims = victims[victims["project_key"] != victims["winner"]]
    week = pd.to_datetime(victims["week_start"]).dt.isocalendar().week.astype(int)
    name = victims["person_id"].map(people["display_name"]).fillna(victims["person_id"].astype(str))

    def p(rank: float) -> str:
        return f"P{int(rank)}" if np.isfinite(rank) else "unranked"

    res = pd.DataFrame(
        {
            "subject": "person:"
            + victims["person_id"].astype(int).astype(str)
            + ":W"
            + week.astype(str)
            + ":"
            + victims["project_key"].astype(str),
            "project_key": victims["project_key"].to_numpy(),
            "failed": True,
            "value": victims["displaced_h"].round(1).to_numpy(),
            "message": [
                f"{n} W{w}: defer {h:.0f} h of {pk} ({p(r)}) for {win} ({p(wr)})"
                for n, w, h, pk, r, win, wr in zip(
                    name,
                    week,
                    victims["displaced_h"],
                    victims["project_key"],
                    victims["rank"],
                    victims["winner"],
                    victims["winner_rank"],
                    strict=True,
                )
            ],
            "message_zh": [
                f"{n} 第{w}周:推迟 {pk}({p(r)})的 {h:.0f} 小时,优先保障 {win}({p(wr)})"
                for n, w, h, pk, r, win, wr in zip(
                    name,
                    week,
                    victims["displaced_h"],
                    victims["project_key"],
                    victims["rank"],
                    victims["winner"],
                    victims["winner_rank"],
                    strict=True,
                )
            ],
        }
    )
    return ctx.subject_outcomes(res)
