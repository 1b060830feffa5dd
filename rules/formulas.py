"""Metrics of docs/metrics.md section 2 on the rules' item-level frames: EVM proxies and earned
schedule on the latest baseline (2.1) and person/week load (2.3) feed those frames to the
roll-up's implementation in :mod:`rules.metrics` (so ``pmohub check`` agrees with
``pmohub status``/``pmohub load``); milestone slippage (2.1), flow times and the reopen
rate (2.1, read by ``pmohub status``, the report's quality section and QUA-001). Pure
functions over frames; no I/O, no clock.

Working-day positions are calendar *ranks* (working days on or before a day), so
"wd(s, t)" is ``rank(t) - rank(s)`` and a fractional rank is a point inside a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pmohub.rules.calendar import WorkCalendar, local_dates, to_days
from pmohub.rules.metrics import (
    NON_LOAD_KINDS,
    calendar_codes,
    earned_value,
    latest_sprint_end,
    person_week_capacity,
    remaining_hours,
    spread_load,
)

#: The reopen rate's window in days (docs/metrics.md 2.1): the status metric (and the RAG
#: quality reason), the report's quality column and QUA-001 all count over it. One
#: constant, not a per-project setting: the report's column names the window it shows.
REOPEN_WINDOW_DAYS = 30
#: The categories a reopen goes back to: done -> cancelled closes the item differently,
#: it does not send work back.
OPEN_CATEGORIES = ("todo", "in_progress")


def latest_baseline(baselines: pd.DataFrame) -> pd.DataFrame:
    """Rows of each project's most recent baseline."""
    if baselines.empty:
        return baselines
    newest = baselines.groupby("project_key")["taken_at"].transform("max")
    return baselines[baselines["taken_at"] == newest]


def evm_frame(
    baselines: pd.DataFrame,
    items: pd.DataFrame,
    worklogs: pd.DataFrame | None,
    calendar: WorkCalendar,
    as_of: dt.date,
    timezone: str,
) -> pd.DataFrame:
    """Per project with a baseline (index ``project_key``): ``unit`` (h|pt, NaN without
    estimates), ``hour_coverage``, ``bac``, ``pv``, ``ev``, ``ac_h``, ``es_wd``, ``at_wd``,
    ``spi``, ``spi_t``, ``cpi``, ``planned_share`` (PV/BAC), ``baseline_taken_at``.

    The item-level frames are fed to :func:`rules.metrics.earned_value`, the roll-up's EVM
    (``pmohub status``), so VAR-003/004 see the same SPI_t and CPI: the latest baseline's
    leaf items that still exist and are not cancelled, EV 0/100 on their current status,
    AC = worklog hours up to the as-of local day. CPI only in hours.
    """
    cols = [
        "unit",
        "hour_coverage",
        "bac",
        "pv",
        "ev",
        "ac_h",
        "es_wd",
        "at_wd",
        "spi",
        "spi_t",
        "cpi",
        "planned_share",
        "baseline_taken_at",
    ]
    latest = latest_baseline(baselines)
    if latest.empty:
        return pd.DataFrame(columns=cols).rename_axis("project_key")
    keys = pd.Index(sorted(latest["project_key"].dropna().unique()), name="project_key")
    proj = latest[latest["subject_kind"] == "project"].groupby("project_key")
    # The two columns used: set_index on the whole item frame copies every column.
    cur = items[["id", "status_category", "is_leaf"]].set_index("id")
    rows = latest[latest["subject_kind"] == "work_item"]
    # S = leaf items, cancelled excluded (docs/metrics.md 2.1); an item gone from the store is no
    # longer in scope (the roll-up joins baseline rows to live items the same way).
    status = rows["work_item_id"].map(cur["status_category"])
    leaf = rows["work_item_id"].map(cur["is_leaf"]).eq(True)
    rows = rows[leaf.to_numpy() & status.notna().to_numpy() & status.ne("cancelled").to_numpy()]
    h = rows["original_estimate_h"].astype(float)
    pts = rows["story_points"].astype(float)
    r_now = float(calendar.rank(np.datetime64(as_of, "D"))[0])
    ev = earned_value(
        keys.get_indexer(rows["project_key"]),
        len(keys),
        n=np.ones(len(rows)),
        n_h=h.notna().to_numpy(dtype=float),
        n_pts=pts.notna().to_numpy(dtype=float),
        sum_h=h.to_numpy(),
        sum_pts=pts.to_numpy(),
        done=rows["work_item_id"].map(cur["status_category"]).eq("done").to_numpy(dtype=int),
        start_rank=calendar.rank(to_days(rows["start_on"])),
        due_rank=calendar.rank(to_days(rows["due_on"])),
        end_rank=calendar.rank(to_days(proj["due_on"].max().reindex(keys))),
        project_start_rank=calendar.rank(to_days(proj["start_on"].min().reindex(keys))),
        has_baseline=np.ones(len(keys), dtype=bool),
        t_rank=r_now,
    )
    per = pd.DataFrame(
        {c: ev[c] for c in ("hour_coverage", "bac", "pv", "ev", "es_wd", "at_wd", "spi", "spi_t")},
        index=keys,
    )
    per["unit"] = pd.Series(ev["unit"], index=keys).map({"h": "h", "pts": "pt"})
    if worklogs is not None and len(worklogs):
        day = local_dates(worklogs["started_at"], timezone)
        wl = worklogs[day <= np.datetime64(as_of, "D")]
        ac = (wl["seconds"].astype(float) / 3600.0).groupby(wl["project_key"]).sum()
    else:
        ac = pd.Series(dtype=float)
    per["ac_h"] = ac.reindex(keys).fillna(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per["cpi"] = (per["ev"] / per["ac_h"].where(per["ac_h"] > 0)).where(per["unit"] == "h")
        per["planned_share"] = per["pv"] / per["bac"].where(per["bac"] > 0)
    per["baseline_taken_at"] = latest.groupby("project_key")["taken_at"].max().reindex(keys)
    return per[cols]


def milestone_slippage(
    baselines: pd.DataFrame,
    milestones: pd.DataFrame,
    items: pd.DataFrame,
    calendar: WorkCalendar,
    as_of: dt.date,
    forecast_on: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per baselined milestone and per project end: ``project_key, milestone_id
    (None for the project end), name, baseline_on, current_on, slip_wd``; VAR-002's and the
    report's milestone table's slippage. c = actual release, else the current date (or
    today if that is past and not released); the project end's c is the latest open
    leaf/epic due date (today if overdue), or the forecast (``forecast_on``: project ->
    Monte Carlo P85 day) when that is later (docs/metrics.md 2.1 milestone slippage)."""
    latest = latest_baseline(baselines)
    today = np.datetime64(as_of, "D")
    out = []
    ms_rows = latest[latest["subject_kind"] == "milestone"]
    if len(ms_rows):
        cur = milestones.set_index("id")
        m = ms_rows.assign(
            name=ms_rows["milestone_id"].map(cur["name"]),
            released=ms_rows["milestone_id"].map(cur["released"]).eq(True),
            released_on=to_days(ms_rows["milestone_id"].map(cur["released_on"])),
            current_due=to_days(ms_rows["milestone_id"].map(cur["due_on"])),
        )
        c = np.where(
            m["released"] & ~np.isnat(m["released_on"].to_numpy()),
            m["released_on"].to_numpy(),
            np.where(m["current_due"].to_numpy() < today, today, m["current_due"].to_numpy()),
        )
        out.append(
            pd.DataFrame(
                {
                    "project_key": m["project_key"].to_numpy(),
                    "milestone_id": m["milestone_id"].to_numpy(),
                    "name": m["name"].astype(object).to_numpy(),
                    "baseline_on": to_days(m["due_on"]),
                    "current_on": c.astype("datetime64[D]"),
                }
            )
        )
    ends = latest[latest["subject_kind"] == "project"].groupby("project_key")["due_on"].max()
    if len(ends):
        open_ = items[
            items["status_category"].isin(("todo", "in_progress"))
            & (items["is_leaf"] | items["is_epic"])
        ]
        cur_end = (
            pd.Series(to_days(open_["due_on"]), index=open_.index)
            .groupby(open_["project_key"])
            .max()
        )
        cur = to_days(cur_end.reindex(ends.index))
        has_open = open_.groupby("project_key").size().reindex(ends.index).fillna(0).to_numpy() > 0
        cur = np.where(has_open & ((cur < today) | np.isnat(cur)), today, cur)
        if forecast_on is not None and len(forecast_on):
            p85 = to_days(forecast_on.reindex(ends.index))
            later = has_open & ~np.isnat(p85) & (np.isnat(cur) | (p85 > cur))
            cur = np.where(later, p85, cur)
        out.append(
            pd.DataFrame(
                {
                    "project_key": ends.index.to_numpy(),
                    "milestone_id": None,
                    "name": "project end",
                    "baseline_on": to_days(ends),
                    "current_on": cur.astype("datetime64[D]"),
                }
            )
        )
    if not out:
        return pd.DataFrame(
            columns=["project_key", "milestone_id", "name", "baseline_on", "current_on", "slip_wd"]
        )
    res = pd.concat(out, ignore_index=True)
    res["slip_wd"] = calendar.wd_diff(res["baseline_on"].to_numpy(), res["current_on"].to_numpy())
    return res


def load_frame(
    items: pd.DataFrame,
    calendar: WorkCalendar,
    as_of: dt.date,
    *,
    weeks: int = 4,
    hours_per_day: float = 8.0,
    hpp: float = 6.0,
    allocation: float = 1.0,
    default_estimate_h: Mapping[str, float] | None = None,
    person_hours: Mapping[Any, float] | None = None,
    person_allocation: Mapping[Any, float] | None = None,
    person_leave: Mapping[Any, list[tuple[dt.date, dt.date]]] | None = None,
    person_canonical: Mapping[Any, int] | None = None,
    sprint_end_on: pd.Series | None = None,
    person_calendar: Mapping[Any, WorkCalendar] | None = None,
    project_hpp: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:
    """Demand and capacity per (person_id, week, project_key) for the next ``weeks`` ISO
    weeks (docs/metrics.md 2.3), with the roll-up's load functions (``pmohub load``): rows for
    every person and project with scheduled work, every week (demand 0 included).
    Columns: ``person_id, week, week_start, project_key, demand_h, cap_h`` (cap repeated
    per project row).

    Open assigned work items and sub-tasks load (a parent with open sub-tasks through its
    sub-tasks only); accounts merged into one person (``person_canonical``: store person id
    -> the person's id) load that person; ``sprint_end_on`` (active sprint external id ->
    local end day) spreads undated sprint items; person settings are keyed by the merged id.
    ``person_calendar`` (merged id -> WorkCalendar) puts a person on their own calendar
    (capacity and demand spreading), everyone else on ``calendar``; ``project_hpp``
    (project key -> the team's hours per point) converts points, ``hpp`` where absent;
    a ``progress`` column (0..1) scales the points' hours by (1 − progress).
    """
    cols = ["person_id", "week", "week_start", "project_key", "demand_h", "cap_h"]
    # Only the open rows of the columns used here: a filter of the whole frame copies
    # every column of a third of the items (1M items: the check's peak memory).
    used = ["id", "kind", "parent_id", "assignee_id", "project_key", "type", "due_on",
            "start_on", "remaining_estimate_h", "story_points", "progress", "iteration_ids"]  # fmt: skip
    open_all = items.loc[
        items["status_category"].isin(("todo", "in_progress")).to_numpy(),
        [c for c in used if c in items.columns],
    ]
    parents = set(open_all.loc[open_all["kind"] == "subtask", "parent_id"].dropna().astype(int))
    open_ = open_all[
        open_all["assignee_id"].notna()
        & ~open_all["kind"].isin(NON_LOAD_KINDS)
        & ~open_all["id"].isin(parents)
    ]
    aid = open_["assignee_id"].astype("int64")
    canonical = pd.Series(dict(person_canonical or {}), dtype="int64")
    person = aid.map(canonical).fillna(aid).astype("int64").to_numpy()
    team_hpp = pd.Series(dict(project_hpp or {}), dtype=float)
    rem, _ = remaining_hours(
        open_["remaining_estimate_h"],
        open_["story_points"],
        open_["type"],
        hpp=open_["project_key"].map(team_hpp).astype(float).fillna(hpp).to_numpy(),
        progress=open_["progress"] if "progress" in open_.columns else None,
        type_hours=default_estimate_h,
    )
    due = to_days(open_["due_on"])
    se = np.full(len(open_), np.datetime64("NaT"), dtype="datetime64[D]")
    if sprint_end_on is not None and "iteration_ids" in open_.columns:
        und = np.isnat(due)
        se[und] = latest_sprint_end(open_["iteration_ids"][und], sprint_end_on)
    monday = as_of - dt.timedelta(days=as_of.weekday())
    week_starts = [monday + dt.timedelta(days=7 * w) for w in range(weeks)]
    code, cals = calendar_codes(person, person_calendar, calendar)
    scheduled, nz_i, nz_w, dem = spread_load(
        rem, to_days(open_["start_on"]), due, se, code, cals, week_starts, as_of
    )
    project = open_["project_key"].to_numpy()
    if not scheduled.any() or not weeks:
        return pd.DataFrame(columns=cols)
    pairs = pd.DataFrame(
        {"person_id": person[scheduled], "project_key": project[scheduled]}
    ).drop_duplicates()
    grid = pairs.merge(pd.DataFrame({"week": np.arange(weeks)}), how="cross")
    demand = (
        pd.DataFrame({"person_id": person[nz_i], "project_key": project[nz_i], "week": nz_w})
        .assign(demand_h=dem)
        .groupby(["person_id", "project_key", "week"], dropna=False)["demand_h"]
        .sum()
    )
    out = grid.join(demand, on=["person_id", "project_key", "week"]).fillna({"demand_h": 0.0})
    ids = pd.Index(pd.unique(pairs["person_id"]))
    hpd = ids.map(lambda p: (person_hours or {}).get(p, hours_per_day)).to_numpy(dtype=float)
    alloc = ids.map(lambda p: (person_allocation or {}).get(p, allocation)).to_numpy(dtype=float)
    leave = [(person_leave or {}).get(p) for p in ids]
    pcode, pcals = calendar_codes(ids, person_calendar, calendar)
    cap, _ = person_week_capacity(hpd, alloc, leave, pcode, pcals, week_starts, as_of)
    out["cap_h"] = cap[ids.get_indexer(out["person_id"]), out["week"].to_numpy()]
    out["week_start"] = np.array(week_starts, dtype="datetime64[D]")[out["week"].to_numpy()]
    return out[cols]


def flow_times(
    status_changes: pd.DataFrame,
    calendar: WorkCalendar,
    timezone: str,
) -> pd.DataFrame:
    """Per work item (index ``work_item_id``): ``project_key``, ``first_start_on`` (first
    entry to in_progress), ``final_done_on`` (last entry to done) as local days, and
    ``cycle_wd`` between them (docs/metrics.md 2.1 flow: a reopened item counts to its final
    done)."""
    s = status_changes[status_changes["field"] == "status"]
    day = pd.Series(local_dates(s["changed_at"], timezone), index=s.index)
    start = day[(s["to_category"] == "in_progress").to_numpy()].groupby(s["work_item_id"]).min()
    done = day[(s["to_category"] == "done").to_numpy()].groupby(s["work_item_id"]).max()
    out = pd.DataFrame({"first_start_on": start, "final_done_on": done})
    out["project_key"] = s.groupby("work_item_id")["project_key"].first().reindex(out.index)
    out["cycle_wd"] = calendar.wd_diff(
        out["first_start_on"].to_numpy(), out["final_done_on"].to_numpy()
    )
    return out


def reopen_rate(
    status_changes: pd.DataFrame,
    timezone: str,
    as_of: dt.date,
    *,
    leaf_ids: Any = None,
    window_days: int = REOPEN_WINDOW_DAYS,
) -> pd.DataFrame:
    """Per project (index ``project_key``, projects with a status change in the window):
    ``reopened``, ``done`` and ``reopen_rate`` over the last ``window_days`` local days up
    to ``as_of`` (``as_of - window_days < day <= as_of``; docs/metrics.md 2.1).

    ``done`` = distinct work items with a status change *into* done in the window;
    ``reopened`` = distinct work items with a status change from a done status to a todo or
    in-progress one in the window (done -> cancelled is not a reopen);
    ``reopen_rate`` = reopened / done, NaN (N/E) when nothing was done in the window.
    ``status_changes``: ``work_item_id, project_key, from_category, to_category,
    changed_at`` (UTC), a ``field`` column limits it to ``status`` changes; ``leaf_ids``
    (optional) limits it to those items (S: leaf items).
    """
    s = status_changes
    if "field" in s.columns:
        s = s[s["field"] == "status"]
    if leaf_ids is not None:
        s = s[s["work_item_id"].isin(leaf_ids)]
    day = local_dates(s["changed_at"], timezone)
    hi = np.datetime64(as_of, "D")
    s = s[(day > hi - np.timedelta64(int(window_days), "D")) & (day <= hi)]
    to_cat = s["to_category"].astype(object)
    into_done = s[(to_cat == "done").to_numpy()]
    back = s[
        ((s["from_category"].astype(object) == "done") & to_cat.isin(OPEN_CATEGORIES)).to_numpy()
    ]
    keys = pd.Index(pd.unique(s["project_key"].dropna().astype(object)), name="project_key")
    out = pd.DataFrame(index=keys)
    for col, rows in (("done", into_done), ("reopened", back)):
        n = rows.groupby(rows["project_key"].astype(object))["work_item_id"].nunique()
        out[col] = n.reindex(keys).fillna(0).astype(int)
    out["reopen_rate"] = out["reopened"] / out["done"].where(out["done"] > 0)
    return out[["reopened", "done", "reopen_rate"]]
