"""Resource load and conflicts (docs/metrics.md 1.7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmohub.rules.calendar import to_days
from pmohub.rules.clock import as_of_at
from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import (
    by_project,
    count_by_project,
    failing_items_result,
    list_contains_any,
)
from pmohub.rules.metrics import displaced_hours

OPEN = ("todo", "in_progress")

#: Subjects of people's findings: ``person:<key>``, ``person:<key>:<project>`` for one of
#: their projects. The key is the person's smallest account ``SOURCE:ID`` (the people
#: frame's ``key``, aggregator.people.person_keys), not ``people.id``: store ids follow the
#: order parallel syncs happen to write people in, and findings history and waivers
#: compare subjects across runs.
PERSON_PREFIX = "person:"


def person_subjects(person_ids: pd.Series, people: pd.DataFrame) -> pd.Series:
    """``person:<key>`` of each person id; ``people`` is the people frame indexed by id. A
    person without a key (no account: never in a synced store) is named by its id."""
    keys = person_ids.map(people["key"])
    return PERSON_PREFIX + keys.where(keys.notna(), person_ids.astype(int).astype(str)).astype(str)


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
    res = failing_items_result(bad, ctx.projects)
    n_items = count_by_project(items, res.index)
    res["ne"] = np.where(n_items == 0, "no work items", None)
    res["message"] = [
        f"{int(n)} near-term items unassigned or with an inactive/unknown assignee: {', '.join(k) if isinstance(k, list) else ''}"
        for n, k in zip(res["n"], res["keys"], strict=True)
    ]
    res["message_zh"] = [f"{int(n)} 个近期事项未分配或负责人不在岗" for n in res["n"]]
    return ctx.project_outcomes(res)


def _load(ctx: RuleContext, weeks: int) -> pd.DataFrame:
    """Person/week/project load, computed once per run for RES-001 and RES-002."""
    from pmohub.rules.formulas import load_frame

    frames = ctx.all_frames or ctx.frames
    items = frames["work_items"]
    its = frames.get("iterations")
    sprint_end_on = None
    if its is not None and len(its) and "end_at" in its.columns:
        active = its[its["state"] == "active"]
        sprint_end_on = pd.Series(
            pd.to_datetime(active["end_at"], utc=True)
            .dt.tz_convert(ctx.timezone)
            .dt.tz_localize(None)
            .dt.normalize()
            .to_numpy(),
            index=active["external_id"].astype(str).to_numpy(),
        )

    def compute() -> pd.DataFrame:
        return load_frame(
            items,
            ctx.calendar,
            ctx.as_of,
            weeks=weeks,
            hours_per_day=float(ctx.settings.get("hours_per_day", 8.0) or 8.0),
            allocation=float(ctx.settings.get("allocation", 1.0) or 1.0),
            hpp=float(ctx.settings.get("hpp", 6.0)),
            default_estimate_h=ctx.settings.get("default_estimate_h") or {},
            person_hours=ctx.settings.get("person_hours"),
            person_allocation=ctx.settings.get("person_allocation"),
            person_leave=ctx.settings.get("person_leave"),
            person_canonical=ctx.settings.get("person_canonical"),
            sprint_end_on=sprint_end_on,
            person_calendar=ctx.settings.get("person_calendar"),
            project_hpp=ctx.settings.get("project_hpp"),
        )

    return ctx.memoized(("load", weeks), compute)


def _conflict_history(ctx: RuleContext, pair: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """When each (person, project) conflict was first seen (the open RES-002 finding of a
    previous run, else today) and whether a decision is linked: a corrective action of the
    displaced project created since then (PMO actions linked to its registry issue belong
    to it)."""
    # A conflict first seen now gets the instant the findings lifecycle will record for it.
    today = pd.Timestamp(as_of_at(ctx.as_of, ctx.timezone))
    first = pd.Series(today, index=pair.index)
    hist = ctx.frames.get("findings")
    if hist is not None and len(hist):
        open_ = hist[(hist["rule_id"] == ctx.rule.id) & (hist["state"] != "resolved")]
        seen = pd.to_datetime(open_.set_index("subject")["first_seen_at"], utc=True)
        seen = seen[~seen.index.duplicated()]
        first = pd.to_datetime(pair["subject"].map(seen), utc=True).fillna(today)
    items = ctx.frame("work_items")
    actions = items[items["kind"] == "corrective_action"]
    newest = pd.to_datetime(
        actions.groupby("project_key", observed=True)["created_at"].max(), utc=True
    )
    last_action = pd.to_datetime(by_project(pair["project_key"], newest), utc=True)
    # A decision within the last persistence window also settles a fresh conflict.
    window = pd.Timedelta(days=7 * int(ctx.global_params.get("persist_runs", 2)))
    decided = (last_action >= first.where(first < today, today - window)).fillna(False)
    return first, decided.to_numpy(dtype=bool)


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
        "parent_id",
        "iteration_ids",
    ),
    "people": ("id", "display_name", "active", "key"),
    "iterations": ("source", "external_id", "state", "end_at"),
}
#: Fraction done (0..1) scales points' hours (docs/metrics.md 2.3); trackers without it leave it
#: empty, which means nothing done, so its absence is no reason for N/E.
LOAD_OPTIONAL = {"work_items": ("progress",)}


@rule(
    "RES-001",
    title_en="Load out of band",
    title_zh="负荷超出范围",
    severity="high",
    scope="person",
    basis="001 “避免资源的闲置和过度使用” (avoid idle and over-use)",
    basis_seed="001",
    check="load (dem/cap, docs/metrics.md 2.3) > 110 % (amber) or > 130 % (red) in any of the next "
    "4 weeks (high); idle: < 50 % for 2 weeks while unassigned Ready work waits in a project "
    "the person works on (low)",
    fix_en="Move hours to someone with capacity.",
    fix_zh="将工时转给有余力的成员。",
    defaults={"amber": 1.10, "red": 1.30, "idle": 0.50, "horizon_weeks": 4},
    needs=LOAD_NEEDS,
    optional=LOAD_OPTIONAL,
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
    leaf = items["kind"].isin(["work", "bug"])
    # Idle only counts where this person could take the waiting work: unassigned Ready
    # items in a project the person already works on (not anywhere in the portfolio).
    waiting_projects = set(
        items.loc[
            leaf & items["status_category"].eq("todo") & items["assignee_id"].isna(),
            "project_key",
        ].dropna()
    )
    mine = items.loc[
        leaf & items["assignee_id"].notna() & items["project_key"].isin(waiting_projects),
        "assignee_id",
    ]
    could_help = set(mine.astype(int))
    first2 = pw[pw["week"] < 2]
    idle_people = first2.groupby("person_id")["load"].max()
    idle_people = idle_people[
        (idle_people < float(g.get("idle", 0.5)))
        & (first2.groupby("person_id").size() >= 2)
        & idle_people.index.isin(could_help)
    ]
    name = worst["person_id"].map(people["display_name"]).fillna(worst["person_id"].astype(str))
    week = pd.to_datetime(worst["week_start"]).dt.isocalendar().week.astype(int)
    move = (worst["dem"] - worst["cap"]).clip(lower=0)
    red = worst["load"] > float(g.get("red", 1.3))
    rows = pd.DataFrame(
        {
            "subject": person_subjects(worst["person_id"], people).to_numpy(),
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
            "subject": person_subjects(idle_people.index.to_series(), people).to_numpy(),
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


def _displaced_pairs(conflict: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """One row per (person, displaced project) over the horizon: the hours it loses to the
    person's top-priority project of each week, and that winner."""
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
    victims = victims.assign(
        wk=pd.to_datetime(victims["week_start"]).dt.isocalendar().week.astype(int).to_numpy()
    ).sort_values(["person_id", "project_key", "week"])
    # One subject per (person, displaced project) over the horizon, stable from week to
    # week, so the findings history can tell how long a conflict has gone undecided.
    pair = victims.groupby(["person_id", "project_key"], observed=True, sort=False).agg(
        displaced_h=("displaced_h", "sum"),
        wk=("wk", "first"),
        weeks=("wk", lambda v: [int(x) for x in v]),
        rank=("rank", "first"),
        winner=("winner", "first"),
        winner_rank=("winner_rank", "first"),
    )
    pair = pair.reset_index()
    pair["subject"] = (
        person_subjects(pair["person_id"], people) + ":" + pair["project_key"].astype(str)
    )
    return pair


def _conflict_outcomes(pair: pd.DataFrame, persisting: np.ndarray, name: pd.Series) -> pd.DataFrame:
    """The failing outcome of each displaced pair, with the recommendation in both languages."""

    def p(rank: float) -> str:
        return f"P{int(rank)}" if np.isfinite(rank) else "unranked"

    def note(pers: bool, zh: bool) -> str:
        if not pers:
            return ""
        return ";已持续两周以上未决策" if zh else "; undecided for 2+ weekly runs"

    rows = list(
        zip(
            name,
            pair["wk"],
            pair["displaced_h"],
            pair["project_key"],
            pair["rank"],
            pair["winner"],
            pair["winner_rank"],
            persisting,
            strict=True,
        )
    )
    res = pd.DataFrame(
        {
            "subject": pair["subject"].to_numpy(),
            "project_key": pair["project_key"].to_numpy(),
            "failed": True,
            # A fresh conflict is the PMO's recommendation (medium); left undecided for two
            # weekly runs it is the catalogue's high-severity failure.
            "severity": np.where(persisting, "high", "medium"),
            "value": pair["displaced_h"].round(1).to_numpy(),
            "evidence": [
                {"weeks": w, "persisting": bool(x)}
                for w, x in zip(pair["weeks"], persisting, strict=True)
            ],
            "message": [
                f"{n} W{w}: defer {h:.0f} h of {pk} ({p(r)}) for {win} ({p(wr)})" + note(x, False)
                for n, w, h, pk, r, win, wr, x in rows
            ],
            "message_zh": [
                f"{n} 第{w}周:推迟 {pk}({p(r)})的 {h:.0f} 小时,优先保障 {win}({p(wr)})"
                + note(x, True)
                for n, w, h, pk, r, win, wr, x in rows
            ],
        }
    )
    return res


@rule(
    "RES-002",
    title_en="Cross-project conflict not resolved by priority",
    title_zh="跨项目资源冲突未按优先级解决",
    severity="high",
    scope="portfolio",
    basis="004 “资源冲突时,PMO根据项目优先级…统筹协调”; 001 “低优先级的项目…被延期”",
    basis_seed="004",
    check="a person is over capacity in a week with ≥ 2 projects each ≥ 10 % of the demand: "
    "filling capacity by priority_rank leaves lower-priority hours displaced (medium, the "
    "recommendation); high once the same person/project conflict persists 2 weekly runs "
    "(findings history) without a linked decision (a corrective action of the displaced "
    "project created since it was first seen)",
    fix_en="Defer the displaced hours of the lower-priority project.",
    fix_zh="推迟低优先级项目被挤占的工时。",
    defaults={"min_share": 0.10, "horizon_weeks": 4, "persist_runs": 2},
    needs={
        **LOAD_NEEDS,
        "work_items": (*LOAD_NEEDS["work_items"], "created_at"),
        "registry": ("project_key", "priority_rank"),
    },
    optional={**LOAD_OPTIONAL, "findings": ("rule_id", "subject", "state", "first_seen_at")},
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
    # Capacity filled in priority order with the roll-up's fill (pmohub load's displaced
    # hours); rows are already in that order.
    conflict["displaced_h"] = displaced_hours(
        conflict.groupby(["person_id", "week"], sort=False).ngroup().to_numpy(),
        np.arange(len(conflict)),
        conflict["demand_h"].to_numpy(dtype=float),
        conflict["cap_h"].to_numpy(dtype=float),
    )
    pair = _displaced_pairs(conflict, people)
    first_seen, decided = _conflict_history(ctx, pair)
    persist_days = 7 * int(g.get("persist_runs", 2))
    # Local days, as the lifecycle counts them (a UTC date is a day early in Shanghai).
    since = pd.Series(
        (ctx.as_of_day - ctx.local_day(first_seen)) / np.timedelta64(1, "D"), index=pair.index
    )
    persisting = (since >= persist_days).fillna(False).to_numpy(dtype=bool)
    pair = pair[~decided]
    persisting = persisting[~decided]
    name = pair["person_id"].map(people["display_name"]).fillna(pair["person_id"].astype(str))

    res = _conflict_outcomes(pair, persisting, name)
    if res.empty:
        return ctx.subject_outcomes(
            pd.DataFrame({"subject": ["portfolio:*"], "project_key": [None], "failed": [False]})
        )
    return ctx.subject_outcomes(res)
