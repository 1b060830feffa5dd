"""Resource load per person per ISO week for the next N weeks (docs/metrics.md 2.3), across every
project and tracker.

* One person, many accounts: work items point at the merged ``people`` row (the sync merges
  accounts by e-mail); a config person's ``id`` and ``aliases`` (``source:external_id``)
  also merge the store people they name into one.
* Calendars (docs/metrics.md 2.4): a person whose config entry names a ``calendar`` works by it
  (its holidays, make-up days and weekend); everyone else by the policy default calendar.
  Both the person's capacity and the spreading of their demand count that calendar's
  working days, so their hours land on days they work.
* Capacity: working days of the person's calendar from today to the week's end x
  ``hours_per_day`` x ``allocation``, minus leave days.
* Demand: remaining hours of each open item assigned to the person (remaining estimate,
  else points x the team's hours per point x (1 − progress), else the type default,
  flagged *assumed*) spread evenly over the working days of [max(start, today), due].
  The team's hours per point is the project's ``hpp`` of ``pmohub status`` (90-day median
  of logged hours per point of done items, :func:`team_hpp`), else the policy default.
  Overdue items load the current week; undated items in an active sprint spread over its
  remaining days; other undated items are *unscheduled*: listed, not loaded.
* Utilisation (docs/metrics.md 2.3): logged hours ÷ capacity per person for the last
  ``util_weeks`` complete ISO weeks (worklogs bucketed on the policy time zone's dates,
  merged accounts summed), and for the team (everyone in the report) as sums, never as a
  mean of ratios.
* Conflicts: load > 1 with >= 2 projects each >= 10 % of the week's demand. Capacity is
  filled by (priority_rank, due); what does not fit is each project's *displaced hours*,
  which becomes the recommendation ("Defer 12 h of CRM (P3) for PAY (P1)").
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine, or_, select

from pmohub.aggregator.config.settings import person_calendars
from pmohub.aggregator.people import account_index, exclusion_matcher
from pmohub.aggregator.status.settings import (
    FLOW_DAYS,
    MIN_HPP_SAMPLES,
    Settings,
    hierarchy,
    project_ids,
    settings_for,
)
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.anchors import account_order
from pmohub.aggregator.store.reads import (
    day_number,
    epoch_seconds,
    from_day_number,
    from_epoch,
    lower_in,
    query_frame,
)
from pmohub.rules.calendar import WorkCalendar, uncovered_warnings
from pmohub.rules.clock import as_of_at
from pmohub.rules.metrics import (
    NON_LOAD_KINDS,
    calendar_codes,
    displaced_hours,
    hours_per_point,
    latest_sprint_end,
    person_week_capacity,
    remaining_hours,
    safe_ratio,
    spread_load,
)

CONFLICT_SHARE = 0.10
THRESHOLDS = {"amber": 1.10, "red": 1.30, "idle": 0.50}
NO_PRIORITY = 999

wi_t = m.WorkItem.__table__
it_t = m.Iteration.__table__
pe_t = m.Person.__table__
wl_t = m.Worklog.__table__
UTIL_WEEKS = 4
al_t = m.PersonAlias.__table__


@dataclass
class LoadReport:
    as_of: dt.date
    weeks: pd.DataFrame  # person_id, name, week_start, cap_h, demand_h, load, over, status, ...
    by_project: pd.DataFrame  # person_id, week_start, project_key, demand_h, displaced_h
    conflicts: pd.DataFrame  # person_id, name, week_start, load, projects, recommendation
    unscheduled: pd.DataFrame  # person_id, name, project_key, key, rem_h, assumed
    warnings: list[str] = field(default_factory=list)
    utilisation: pd.DataFrame = field(default_factory=pd.DataFrame)  # see utilisation_frame
    team_utilisation: pd.DataFrame = field(default_factory=pd.DataFrame)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def read_people(engine: Engine, config: Any) -> tuple[pd.DataFrame, dict[int, int]]:
    """Store people with config attributes (``calendar``: the person's own WorkCalendar,
    else None), and store id -> canonical person id."""
    # One read of the people table serves both the frame and the account index.
    with engine.connect() as conn:
        # a number and text: the driver's tuples need no conversion (20,000 rows)
        rows = conn.execute(select(pe_t.c.id, pe_t.c.email, pe_t.c.display_name)).cursor.fetchall()
    people = pd.DataFrame.from_records(rows, columns=["id", "email", "name"])[
        ["id", "name", "email"]
    ]
    index = account_index(engine, people=rows)
    canonical: dict[int, int] = {}
    attrs: dict[int, dict[str, Any]] = {}
    own_calendar = person_calendars(config)
    for pc in getattr(config, "people", ()) or ():
        ids = index.config_person_ids(pc)
        if not ids:
            continue
        head = min(ids)
        for i in ids:
            canonical[i] = head
        attrs[head] = {
            "cfg_name": pc.name,
            "hours_per_day": pc.hours_per_day,
            "allocation": pc.allocation,
            "leave": pc.leave,
            "active": pc.active,
            "calendar": own_calendar.get(pc.id),
        }
    people["person_id"] = people["id"].map(lambda i: canonical.get(int(i), int(i)))
    people = people.sort_values("id").drop_duplicates("person_id")
    anchors = _anchors(index, canonical)
    cfg = pd.DataFrame.from_dict(attrs, orient="index")
    people = people.set_index("person_id").join(cfg) if len(cfg) else people.set_index("person_id")
    for c in ("cfg_name", "hours_per_day", "allocation", "leave", "calendar"):
        if c not in people.columns:
            people[c] = None
    people["name"] = people["cfg_name"].fillna(people["name"])
    # service and app accounts (config people_exclude) carry no capacity and are no one's
    # load: left out of the people listed (their items, if any, count as unassigned)
    matcher = exclusion_matcher(tuple(getattr(config, "people_exclude", ()) or ()))
    if matcher is not None and len(people):
        hit = [
            any(isinstance(t, str) and matcher.fullmatch(t) for t in (name, email))
            for name, email in zip(people["name"], people["email"], strict=True)
        ]
        people = people[~np.array(hit, dtype=bool)]
    # The order people are listed in: by name, then by their anchor account, never by
    # people.id, which follows the order accounts were synced in (parallel syncs vary it).
    keys = [
        (n if isinstance(n, str) else "", anchors.get(int(p), ("", "")), int(p))
        for p, n in zip(people.index.tolist(), people["name"].tolist(), strict=True)
    ]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    rank = np.empty(len(people), dtype=np.int64)
    rank[order] = np.arange(len(people))
    people["rank"] = rank
    return people, canonical


def _anchors(index: Any, canonical: dict[int, int]) -> dict[int, tuple[str, str]]:
    """Merged person id -> its anchor: the smallest account (store.anchors.account_order)
    of the store people merged into it, the same whatever order they were synced in."""
    out: dict[int, tuple[str, str]] = {}
    for (src, ext), sid in index.accounts.items():
        pid = canonical.get(sid, sid)
        order = account_order(src, ext)
        if pid not in out or order < out[pid]:
            out[pid] = order
    return out


def listed(frame: pd.DataFrame, people: pd.DataFrame, then: list[str]) -> pd.DataFrame:
    """``frame`` in the people's listed order (:func:`read_people`'s ``rank``), then by
    ``then``; rows of people not listed last, by person id. Index reset."""
    rank = frame["person_id"].map(people["rank"])
    keyed = frame.assign(_rank=rank.fillna(len(people)).astype("int64"))
    keyed = keyed.sort_values(["_rank", "person_id", *then], kind="stable")
    return keyed.drop(columns="_rank").reset_index(drop=True)


def person_calendar_map(people: pd.DataFrame) -> dict[int, WorkCalendar]:
    """Merged person id -> own calendar, for the people of :func:`read_people` that have one."""
    return {int(p): c for p, c in people["calendar"].items() if isinstance(c, WorkCalendar)}


def team_hpp(
    engine: Engine, pid: pd.Series, as_of: dt.date, s: Settings, flow_days: int = FLOW_DAYS
) -> pd.Series:
    """Hierarchy key -> the team's hours per point: the ``hpp`` the status roll-up shows
    (``aggregator.status.rollup._hpp``, the same :func:`rules.metrics.hours_per_point` over the same
    rows: done leaf items the flow read takes, i.e. updated in the flow window), only for
    projects with enough samples; the caller falls back to the policy default.
    tests/test_load_hpp.py checks it equals ``pmohub status``'s column."""
    window_start = s.day_end(as_of) - dt.timedelta(days=flow_days + 1)
    rows = query_frame(
        engine,
        select(wi_t.c.project_id, wi_t.c.story_points, wi_t.c.time_spent_h).where(
            # Cheap, selective tests first: SQLite evaluates them in the order written.
            wi_t.c.status_category == "done",
            wi_t.c.story_points > 0,
            wi_t.c.time_spent_h > 0,
            or_(wi_t.c.updated_at >= window_start, wi_t.c.updated_at.is_(None)),
            wi_t.c.deleted_at.is_(None),
            ~lower_in(wi_t.c.type, s.non_leaf_types),
        ),
        ["project_id", "story_points", "time_spent_h"],
        raw=True,
    )
    return hours_per_point(
        rows["project_id"].map(pid),
        rows["story_points"],
        rows["time_spent_h"],
        min_samples=MIN_HPP_SAMPLES,
    )


def _capacity(
    people: pd.DataFrame, weeks: list[dt.date], today: dt.date, s: Settings, config: Any
) -> pd.DataFrame:
    defaults = getattr(config, "defaults", {}) or {}
    hpd = pd.to_numeric(people["hours_per_day"], errors="coerce").fillna(
        float(defaults.get("hours_per_day", 8) or 8)
    )
    alloc = pd.to_numeric(people["allocation"], errors="coerce").fillna(
        float(defaults.get("allocation", 1) or 1)
    )
    code, cals = calendar_codes(people.index, person_calendar_map(people), s.calendar)
    cap, wd = person_week_capacity(
        hpd.to_numpy(), alloc.to_numpy(), list(people["leave"]), code, cals, weeks, today
    )
    out = pd.DataFrame(
        {
            "person_id": np.repeat(people.index.to_numpy(), len(weeks)),
            "week": np.tile(np.arange(len(weeks)), len(people)),
            "cap_h": cap.ravel(),
            "workdays": wd.ravel(),
        }
    )
    return out


def utilisation_frame(
    engine: Engine,
    people: pd.DataFrame,
    canonical: dict[int, int],
    as_of: dt.date,
    s: Settings,
    config: Any,
    weeks: int = UTIL_WEEKS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per person, team) utilisation = logged h ÷ capacity for the ``weeks`` complete ISO
    weeks before ``as_of``'s week. Capacity as for load (working days x hours_per_day x
    allocation − leave); zero capacity gives no ratio (N/E), not infinity."""
    cols = ["person_id", "name", "week_start", "logged_h", "cap_h", "utilisation"]
    team_cols = ["week_start", "logged_h", "cap_h", "utilisation"]
    if weeks <= 0 or people.empty:
        return pd.DataFrame(columns=cols), pd.DataFrame(columns=team_cols)
    first = _monday(as_of) - dt.timedelta(days=7 * weeks)
    starts = [first + dt.timedelta(days=7 * i) for i in range(weeks)]
    tz = ZoneInfo(s.timezone)
    lo = as_of_at(first, tz)
    hi = as_of_at(_monday(as_of), tz)
    wl = query_frame(
        engine,
        select(
            wl_t.c.person_id, epoch_seconds(wl_t.c.started_at, engine.dialect.name), wl_t.c.seconds
        ).where(
            wl_t.c.deleted_at.is_(None),
            wl_t.c.person_id.is_not(None),
            wl_t.c.started_at >= lo,
            wl_t.c.started_at < hi,
        ),
        ["person_id", "started_at", "seconds"],
        raw=True,
    )
    cap = _capacity(people, starts, first, s, config)
    pid = pd.to_numeric(wl["person_id"]).astype("int64")
    wl["person_id"] = pid.map(pd.Series(canonical, dtype="int64")).fillna(pid).astype("int64")
    local_day = from_epoch(wl["started_at"]).dt.tz_convert(s.timezone).dt.tz_localize(None)
    monday = (
        local_day.dt.normalize() - pd.to_timedelta(local_day.dt.day_of_week, unit="D")
    ).dt.date
    wl["week"] = monday.map({w: i for i, w in enumerate(starts)})
    logged = (
        pd.to_numeric(wl["seconds"]).groupby([wl["person_id"], wl["week"]]).sum().astype(float)
        / 3600.0
    )
    out = cap.set_index(["person_id", "week"]).join(logged.rename("logged_h"), how="outer")
    out = out.fillna({"logged_h": 0.0, "cap_h": 0.0}).reset_index()
    out["utilisation"] = safe_ratio(out["logged_h"], out["cap_h"])
    out["week_start"] = out["week"].map(dict(enumerate(starts)))
    out["name"] = out["person_id"].map(people["name"])
    team = out.groupby("week", as_index=False)[["logged_h", "cap_h"]].sum()
    team["utilisation"] = safe_ratio(team["logged_h"], team["cap_h"])
    team["week_start"] = team["week"].map(dict(enumerate(starts)))
    out = listed(out, people, ["week"])
    return out[cols], team[team_cols]


def person_load(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    *,
    weeks: int = 8,
    thresholds: dict[str, float] | None = None,
    util_weeks: int = UTIL_WEEKS,
) -> LoadReport:
    s = settings_for(config)
    th = {**THRESHOLDS, **dict((getattr(config, "rules", {}) or {}).get("RES-001", {}) or {})}
    th.update(thresholds or {})
    defaults = getattr(config, "defaults", {}) or {}
    hier = hierarchy(engine, config)
    pid = project_ids(engine, hier)
    prio = pd.to_numeric(hier.set_index("project_key")["priority_rank"], errors="coerce")
    people, canonical = read_people(engine, config)
    week_starts = [_monday(as_of) + dt.timedelta(days=7 * i) for i in range(weeks)]
    cap = _capacity(people, week_starts, as_of, s, config)

    items = _open_items(engine, s, pid, canonical, as_of, defaults)
    due = from_day_number(items["due_on"]).to_numpy().astype("datetime64[D]")
    start = from_day_number(items["start_on"]).to_numpy().astype("datetime64[D]")
    se = _sprint_ends(engine, s, items, due)
    code, cals = calendar_codes(items["person_id"], person_calendar_map(people), s.calendar)
    scheduled, nz_i, nz_w, dem = spread_load(
        items["rem_h"].to_numpy(), start, due, se, code, cals, week_starts, as_of
    )
    rows = pd.DataFrame(
        {
            "person_id": items["person_id"].to_numpy()[nz_i],
            "project_key": items["project_key"].to_numpy()[nz_i],
            "week": nz_w,
            "demand_h": dem,
            "due": due[nz_i],
        }
    )
    rows["project_key"] = rows["project_key"].fillna("(unmapped)")
    per_proj = rows.groupby(["person_id", "week", "project_key"], as_index=False)["demand_h"].sum()
    dem_pw = per_proj.groupby(["person_id", "week"])["demand_h"].sum()

    out = cap.set_index(["person_id", "week"])
    out = out.join(dem_pw.rename("demand_h"), how="outer").fillna({"demand_h": 0.0})
    out["cap_h"] = out["cap_h"].fillna(0.0)
    out = out.reset_index()
    out["load"] = safe_ratio(out["demand_h"], out["cap_h"])
    out["over"] = np.clip(np.nan_to_num(out["load"]) - 1, 0, None)
    zero_cap = (out["cap_h"] <= 0) & (out["demand_h"] > 0)
    load = out["load"].to_numpy(dtype=float)
    out["status"] = np.select(
        [zero_cap, load >= th["red"], load >= th["amber"], load < th["idle"]],
        ["red", "red", "amber", "idle"],
        default="ok",
    )
    out["week_start"] = out["week"].map(dict(enumerate(week_starts)))
    names = people["name"]
    out["name"] = out["person_id"].map(names)

    conflicts, by_proj = _conflicts(out, per_proj, dem_pw, rows, prio)
    conflicts = listed(conflicts, people, ["week"])
    by_proj = listed(by_proj, people, ["week", "project_key"])
    by_proj["week_start"] = by_proj["week"].map(dict(enumerate(week_starts)))

    un = items[~scheduled]
    unscheduled = listed(
        pd.DataFrame(
            {
                "person_id": un["person_id"],
                "name": un["person_id"].map(names),
                "project_key": un["project_key"],
                "key": un["key"],
                "rem_h": un["rem_h"],
                "assumed": un["assumed"],
            }
        ),
        people,
        ["project_key", "key"],
    )
    weeks_frame = out[
        [
            "person_id",
            "name",
            "week",
            "week_start",
            "workdays",
            "cap_h",
            "demand_h",
            "load",
            "over",
            "status",
        ]
    ]
    weeks_frame = listed(weeks_frame, people, ["week"])
    util, team_util = utilisation_frame(
        engine, people, canonical, as_of, s, config, weeks=util_weeks
    )
    last_day = as_of + dt.timedelta(weeks=weeks)
    return LoadReport(
        as_of,
        weeks_frame,
        by_proj,
        conflicts,
        unscheduled,
        utilisation=util,
        team_utilisation=team_util,
        warnings=uncovered_warnings(
            [s.calendar, *person_calendars(config).values()],
            range(as_of.year, last_day.year + 1),
        ),
    )


def _open_items(
    engine: Engine,
    s: Settings,
    pid: pd.Series,
    canonical: dict[int, int],
    as_of: dt.date,
    defaults: dict[str, Any],
) -> pd.DataFrame:
    """The open work items assigned to someone (merged person ``person_id``), without
    parents planned through open sub-tasks, with their remaining hours ``rem_h``."""
    cols = [
        "id",
        "project_id",
        "key",
        "type",
        "assignee_id",
        "parent_id",
        "start_on",
        "due_on",
        "remaining_estimate_h",
        "story_points",
        "progress",
        "iteration_ids",
    ]
    d = engine.dialect.name
    base_cols = [
        day_number(wi_t.c[c], d) if c in ("start_on", "due_on") else wi_t.c[c] for c in cols
    ]
    # One scan of the open items serves the loaded items (assigned, of a work kind) and
    # the parents planned through open sub-tasks (any assignee): three statements
    # scanned the 200k-row table three times. Kinds are told by the Python-lower-cased
    # type, as Settings.kinds classifies them.
    open_items = query_frame(
        engine,
        select(*base_cols).where(
            wi_t.c.deleted_at.is_(None), wi_t.c.status_category.in_(("todo", "in_progress"))
        ),
        cols,
        raw=True,
    )
    kind = open_items["type"].astype(str).str.lower()
    # A parent with open sub-tasks is planned through them: load the sub-tasks only.
    parents = set(
        pd.to_numeric(open_items.loc[kind.isin(s.types_of("subtask")).to_numpy(), "parent_id"])
        .dropna()
        .astype(int)
    )
    work = ~kind.isin(s.types_of(*NON_LOAD_KINDS)).to_numpy()
    assigned = open_items["assignee_id"].notna().to_numpy()
    dated = open_items["due_on"].notna().to_numpy()
    # dated items first, then the undated, as the two reads this replaces listed them
    items = pd.concat(
        [open_items[work & assigned & dated], open_items[work & assigned & ~dated]],
        ignore_index=True,
    )
    # Raw JSON: text on SQLite, already a list on PostgreSQL; only undated items use it.
    # (plain lists: iterating pandas' columns row by row costs ~4x more)
    items["iteration_ids"] = [
        None if has_due else (json.loads(v) if isinstance(v, str) else (v or []))
        for v, has_due in zip(
            items["iteration_ids"].tolist(), items["due_on"].notna().tolist(), strict=True
        )
    ]
    items = items[~items["id"].isin(parents)]
    aid = pd.to_numeric(items["assignee_id"]).astype(int)
    items["person_id"] = aid.map(pd.Series(canonical, dtype="int64")).fillna(aid).astype(int)
    items["project_key"] = items["project_id"].map(pid)
    hpp = items["project_key"].map(team_hpp(engine, pid, as_of, s)).astype(float)
    items["rem_h"], items["assumed"] = remaining_hours(
        items["remaining_estimate_h"],
        items["story_points"],
        items["type"],
        hpp=hpp.fillna(s.hpp).to_numpy(),
        progress=items["progress"],
        type_hours=defaults.get("default_estimate_h"),
    )
    return items


def _sprint_ends(engine: Engine, s: Settings, items: pd.DataFrame, due: np.ndarray) -> np.ndarray:
    """Per item: the end of its active sprint (local date) for the undated ones, else NaT."""
    # Undated: the active sprint's remaining days.
    its = query_frame(
        engine,
        select(it_t.c.source, it_t.c.external_id, it_t.c.end_at).where(
            it_t.c.state == "active", it_t.c.deleted_at.is_(None)
        ),
        ["source", "external_id", "end_at"],
    )
    sprint_end = pd.Series(
        pd.to_datetime(its["end_at"], utc=True)
        .dt.tz_convert(s.timezone)
        .dt.tz_localize(None)
        .dt.normalize()
        .to_numpy(),
        index=its["external_id"].astype(str).to_numpy(),
    )
    se = np.full(len(items), np.datetime64("NaT"), dtype="datetime64[D]")
    und = np.isnat(due)
    if und.any():
        se[und] = latest_sprint_end(items.loc[und, "iteration_ids"], sprint_end)
    return se


def _conflicts(
    out: pd.DataFrame,
    per_proj: pd.DataFrame,
    dem_pw: pd.Series,
    rows: pd.DataFrame,
    prio: pd.Series,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Conflicts (load > 1 with >= 2 projects each >= :data:`CONFLICT_SHARE` of the week)
    with the priority-based recommendation, and the demand per project with its
    displaced hours."""
    # Conflicts and the priority-based recommendation.
    pp = per_proj.merge(dem_pw.rename("total").reset_index(), on=["person_id", "week"])
    pp["share"] = pp["demand_h"] / pp["total"]
    big = pp[pp["share"] >= CONFLICT_SHARE].groupby(["person_id", "week"]).size()
    cw = out.set_index(["person_id", "week"])
    conflict_keys = cw.index[(cw["load"] > 1) & (big.reindex(cw.index).fillna(0) >= 2)]
    conflicts = cw.loc[conflict_keys].reset_index()
    rows["prio"] = rows["project_key"].map(prio).fillna(NO_PRIORITY).to_numpy()
    key = pd.MultiIndex.from_frame(rows[["person_id", "week"]])
    in_conflict = key.isin(conflict_keys)
    r = rows[in_conflict].reset_index(drop=True)
    by_proj = per_proj.assign(displaced_h=0.0)
    recs = pd.DataFrame(columns=["person_id", "week", "recommendation"])
    pc = pp[pd.MultiIndex.from_frame(pp[["person_id", "week"]]).isin(conflict_keys)]
    pc = pc.assign(prio=pc["project_key"].map(prio).fillna(NO_PRIORITY))
    if len(r):
        grp = pd.MultiIndex.from_frame(r[["person_id", "week"]])
        gid = np.ravel_multi_index(grp.codes, [len(lv) for lv in grp.levels])
        # (priority_rank, due) as one rank; an undated sprint item after the dated ones of
        # its priority. (NaT cast to float is -9.2e18, not NaN: added to the priority it
        # put every undated item first, whatever its project's priority.)
        due = r["due"].to_numpy().astype("datetime64[D]")
        due_key = np.where(np.isnat(due), np.iinfo(np.int64).max, due.view("int64"))
        order = np.empty(len(r))
        order[np.lexsort((due_key, r["prio"].to_numpy(dtype=float)))] = np.arange(len(r))
        capr = cw["cap_h"].reindex(grp).to_numpy()
        r["displaced_h"] = displaced_hours(gid, order, r["demand_h"].to_numpy(), capr)
        disp = r.groupby(["person_id", "week", "project_key"], as_index=False)["displaced_h"].sum()
        by_proj = per_proj.merge(disp, on=["person_id", "week", "project_key"], how="left").fillna(
            {"displaced_h": 0.0}
        )
        # The highest-priority project of each conflict keeps its hours; the others' hours
        # that do not fit are deferred in its favour (lowest priority listed first).
        keep = (
            pc.sort_values(["prio", "project_key"])
            .groupby(["person_id", "week"])
            .head(1)
            .set_index(["person_id", "week"])[["project_key", "prio"]]
            .rename(columns={"project_key": "keep_key", "prio": "keep_prio"})
        )
        d = disp.assign(prio=disp["project_key"].map(prio).fillna(NO_PRIORITY)).join(
            keep, on=["person_id", "week"]
        )
        d = d[(d["displaced_h"] >= 0.5) & (d["project_key"] != d["keep_key"])]
        d = d.sort_values(["person_id", "week", "prio"], ascending=[True, True, False])
        d["txt"] = (
            "Defer "
            + d["displaced_h"].round().astype(int).astype(str)
            + " h of "
            + d["project_key"].astype(str)
            + " ("
            + _pnames(d["prio"])
            + ") for "
            + d["keep_key"].astype(str)
            + " ("
            + _pnames(d["keep_prio"])
            + ")"
        )
        recs = _join_runs(d, "txt", "; ").rename(columns={"txt": "recommendation"})
    conflicts = conflicts.merge(recs, on=["person_id", "week"], how="left")
    conflicts["recommendation"] = conflicts["recommendation"].fillna(
        "Re-plan: over capacity within one project"
    )
    pc = pc.sort_values(["person_id", "week", "demand_h"], ascending=[True, True, False])
    pc = pc.assign(
        projects=pc["project_key"].astype(str)
        + " "
        + pc["demand_h"].round().astype(int).astype(str)
        + " h"
    )
    listed = _join_runs(pc, "projects", ", ").set_index(["person_id", "week"])["projects"]
    conflicts = conflicts.join(listed, on=["person_id", "week"])
    return conflicts, by_proj


def _join_runs(frame: pd.DataFrame, column: str, sep: str) -> pd.DataFrame:
    """``frame[column]`` joined by ``sep`` per (person_id, week), rows in their order; the
    frame must be sorted by (person_id, week). The same as ``groupby(...).agg(sep.join)``
    at a fraction of the cost: pandas' string agg runs a Python call per group (~0.18 s
    for 6,500 conflicts)."""
    pid = frame["person_id"].to_numpy()
    week = frame["week"].to_numpy()
    texts = frame[column].tolist()
    cut = np.flatnonzero((pid[1:] != pid[:-1]) | (week[1:] != week[:-1])) + 1
    starts = np.concatenate(([0], cut)).astype(np.int64) if len(pid) else cut
    ends = np.append(starts[1:], len(pid)) if len(pid) else cut
    return pd.DataFrame(
        {
            "person_id": pid[starts],
            "week": week[starts],
            column: [sep.join(texts[a:b]) for a, b in zip(starts, ends, strict=True)],
        }
    )


def _pnames(ranks: pd.Series) -> pd.Series:
    r = pd.to_numeric(ranks, errors="coerce").fillna(NO_PRIORITY)
    known = r < NO_PRIORITY
    return pd.Series(
        np.where(known, "P" + r.clip(upper=NO_PRIORITY).astype(int).astype(str), "P?"),
        index=ranks.index,
    )


def load_frame(engine: Engine, config: Any, *, as_of: dt.date, weeks: int = 8) -> pd.DataFrame:
    """One row per person and ISO week: ``person, week, week_start, capacity_h,
    demand_h, load, over, status`` (the report's resource section)."""
    rep = person_load(engine, config, as_of, weeks=weeks)
    w = rep.weeks
    iso = pd.to_datetime(w["week_start"]).dt.isocalendar()
    return pd.DataFrame(
        {
            "person": w["name"],
            "person_id": w["person_id"],
            "week": iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2),
            "week_start": w["week_start"],
            "capacity_h": w["cap_h"],
            "demand_h": w["demand_h"],
            "load": w["load"],
            "over": w["over"],
            "status": w["status"],
        }
    ).reset_index(drop=True)
