"""Vectorised metrics of RULES.md section 2 that rules need (and roll-ups can reuse):
EVM proxies and earned schedule on the latest baseline (2.1), milestone slippage (2.1),
and person/week load (2.3). Pure functions over frames; no I/O, no clock.

Working-day positions are calendar *ranks* (working days on or before a day), so
"wd(s, t)" is ``rank(t) - rank(s)`` and a fractional rank is a point inside a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rules.calendar import WorkCalendar, local_dates, to_days

HOUR_COVERAGE = 0.80  # hours if this share of baseline items has an hour estimate


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
    *,
    iterations: int = 24,  # halves the bracket each time: < 1e-4 wd over a 2-year plan
) -> pd.DataFrame:
    """Per project (index ``project_key``): ``unit`` (h|pt), ``hour_coverage``, ``bac``,
    ``pv``, ``ev``, ``ac_h``, ``es_wd``, ``at_wd``, ``spi``, ``spi_t``, ``cpi``,
    ``planned_share`` (PV/BAC), ``baseline_taken_at``.

    PV(t) = Σ est·clamp(wd(s,t)/wd(s,d), 0, 1) (a step at d without a start); a missing
    due date falls back to the baseline's project end. EV = Σ est of baseline items done
    now (0/100). ES solves PV(ES) = EV by bisection over fractional ranks, all projects
    at once. CPI only in hours (``cpi`` NaN in points).
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
    rows = latest[latest["subject_kind"] == "work_item"].copy()
    ends = latest[latest["subject_kind"] == "project"].groupby("project_key")["due_on"].max()
    taken = latest.groupby("project_key")["taken_at"].max()
    cov = rows["original_estimate_h"].notna().groupby(rows["project_key"]).mean()
    unit = pd.Series(np.where(cov >= HOUR_COVERAGE, "h", "pt"), index=cov.index)
    in_hours = rows["project_key"].map(unit).eq("h").to_numpy()
    est = np.where(in_hours, rows["original_estimate_h"], rows["story_points"]).astype(float)
    est = np.nan_to_num(est, nan=0.0)
    due = to_days(rows["due_on"])
    fallback = to_days(rows["project_key"].map(ends))
    due = np.where(np.isnat(due), fallback, due)
    r_s = calendar.rank(to_days(rows["start_on"]))
    r_d = calendar.rank(due)
    step = np.isnan(r_s) | ~(r_d > r_s)
    r_now = float(calendar.rank(np.datetime64(as_of, "D"))[0])
    pk = rows["project_key"].to_numpy()

    def pv_at(r: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(step, (r >= r_d).astype(float), np.clip((r - r_s) / (r_d - r_s), 0, 1))
        frac = np.nan_to_num(frac, nan=0.0)
        return frac * est

    done = rows["work_item_id"].map(items.set_index("id")["status_category"]).eq("done").to_numpy()
    g = pd.DataFrame(
        {"project_key": pk, "est": est, "ev": est * done, "pv": pv_at(np.full(len(rows), r_now))}
    )
    per = g.groupby("project_key")[["est", "ev", "pv"]].sum().rename(columns={"est": "bac"})
    first = pd.Series(np.where(np.isnan(r_s), r_d, r_s), index=rows.index).groupby(pk).min()
    last = pd.Series(r_d, index=rows.index).groupby(pk).max()
    lo = first.reindex(per.index).to_numpy(dtype=float)
    hi = np.maximum(last.reindex(per.index).to_numpy(dtype=float), r_now)
    target = per["ev"].to_numpy()
    pos = pd.Index(per.index).get_indexer(pk)
    a, b = lo.copy(), hi.copy()
    for _ in range(iterations):
        mid = (a + b) / 2
        pv_mid = np.bincount(pos, weights=pv_at(mid[pos]), minlength=len(per))
        below = pv_mid < target
        a = np.where(below, mid, a)
        b = np.where(below, b, mid)
    per["es_wd"] = b - lo
    per["at_wd"] = r_now - lo
    if worklogs is not None and len(worklogs):
        day = local_dates(worklogs["started_at"], timezone)
        wl = worklogs[day <= np.datetime64(as_of, "D")]
        ac = (wl["seconds"].astype(float) / 3600.0).groupby(wl["project_key"]).sum()
    else:
        ac = pd.Series(dtype=float)
    per["ac_h"] = ac.reindex(per.index).fillna(0.0)
    per["unit"] = unit.reindex(per.index)
    per["hour_coverage"] = cov.reindex(per.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        per["spi"] = per["ev"] / per["pv"].where(per["pv"] > 0)
        per["spi_t"] = per["es_wd"] / per["at_wd"].where(per["at_wd"] > 0)
        per["cpi"] = (per["ev"] / per["ac_h"].where(per["ac_h"] > 0)).where(per["unit"] == "h")
        per["planned_share"] = per["pv"] / per["bac"].where(per["bac"] > 0)
    per["baseline_taken_at"] = taken.reindex(per.index)
    return per[cols]


def milestone_slippage(
    baselines: pd.DataFrame,
    milestones: pd.DataFrame,
    items: pd.DataFrame,
    calendar: WorkCalendar,
    as_of: dt.date,
    forecast_on: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per baselined milestone and per project end: ``project_key, name,
    baseline_on, current_on, slip_wd``. c = actual release, else the current date (or
    today if that is past and not released); the project end's c is the latest open
    leaf/epic due date (today if overdue), or the forecast (``forecast_on``: project ->
    Monte Carlo P85 day) when that is later (RULES.md 2.1 milestone slippage)."""
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
                    "name": "project end",
                    "baseline_on": to_days(ends),
                    "current_on": cur.astype("datetime64[D]"),
                }
            )
        )
    if not out:
        return pd.DataFrame(columns=["project_key", "name", "baseline_on", "current_on", "slip_wd"])
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
    default_estimate_h: Mapping[str, float] | None = None,
    person_hours: Mapping[Any, float] | None = None,
    person_allocation: Mapping[Any, float] | None = None,
    person_leave: Mapping[Any, list[tuple[dt.date, dt.date]]] | None = None,
) -> pd.DataFrame:
    """Demand and capacity per (person_id, week, project_key) for the next ``weeks`` ISO
    weeks (RULES.md 2.3). Columns: ``person_id, week, week_start, project_key, demand_h,
    cap_h`` (cap repeated per project row). Overdue items load the current week; undated
    items are unscheduled (not loaded). Remaining hours: remaining estimate, else points ×
    hpp, else the type default (4 h)."""
    defaults = dict(default_estimate_h or {})
    open_ = items[
        items["status_category"].isin(("todo", "in_progress"))
        & items["assignee_id"].notna()
        & items["kind"].isin(("work", "bug", "subtask"))
        & items["due_on"].notna()
    ]
    rem = open_["remaining_estimate_h"].astype(float)
    rem = rem.fillna(open_["story_points"].astype(float) * hpp)
    rem = rem.fillna(open_["type"].map(defaults).astype(float)).fillna(4.0)
    today = np.datetime64(as_of, "D")
    start = to_days(open_["start_on"])
    start = np.where(np.isnat(start) | (start < today), today, start)
    due = to_days(open_["due_on"])
    monday = today - ((today.astype("datetime64[D]").view("int64") - 4) % 7).astype(
        "timedelta64[D]"
    )
    overdue = due < today
    week0_end = monday + np.timedelta64(6, "D")
    start = np.where(overdue, today, start)
    end = np.where(overdue, week0_end, np.maximum(due, start))
    r_a = calendar.rank(start - np.timedelta64(1, "D"))
    r_b = calendar.rank(end)
    span = np.maximum(r_b - r_a, 0)
    frames = []
    for w in range(weeks):
        ws = monday + np.timedelta64(7 * w, "D")
        we = ws + np.timedelta64(6, "D")
        lo = calendar.rank(np.maximum(ws, today) - np.timedelta64(1, "D"))[0]
        hi = calendar.rank(we)[0]
        inter = np.clip(np.minimum(r_b, hi) - np.maximum(r_a, lo), 0, None)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(span > 0, inter / span, 0.0)
        d = pd.DataFrame(
            {
                "person_id": open_["assignee_id"].to_numpy(),
                "project_key": open_["project_key"].to_numpy(),
                "demand_h": rem.to_numpy() * share,
            }
        )
        d = d.groupby(["person_id", "project_key"], as_index=False)["demand_h"].sum()
        d["week"] = w
        d["week_start"] = ws
        d["workdays"] = hi - lo
        frames.append(d)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if out.empty:
        return pd.DataFrame(
            columns=["person_id", "week", "week_start", "project_key", "demand_h", "cap_h"]
        )
    hpd = out["person_id"].map(dict(person_hours or {})).astype(float).fillna(hours_per_day)
    alloc = out["person_id"].map(dict(person_allocation or {})).astype(float).fillna(1.0)
    # Leave: working days of each leave range inside the (remaining) week; few people
    # have leave, so this loops over them, not over items.
    leave_wd = np.zeros(len(out))
    for pid, ranges in (person_leave or {}).items():
        rows = np.flatnonzero((out["person_id"] == pid).to_numpy())
        for i in rows:
            ws = max(out["week_start"].iat[i], today)
            we = out["week_start"].iat[i] + np.timedelta64(6, "D")
            for a, b in ranges:
                lo = max(ws, np.datetime64(a, "D"))
                hi = min(we, np.datetime64(b, "D"))
                if hi >= lo:
                    leave_wd[i] += calendar.wd_diff(lo - np.timedelta64(1, "D"), hi)[0]
    out["cap_h"] = np.maximum(out["workdays"] - leave_wd, 0) * hpd * alloc
    return out[["person_id", "week", "week_start", "project_key", "demand_h", "cap_h"]]


def flow_times(
    status_changes: pd.DataFrame,
    calendar: WorkCalendar,
    timezone: str,
) -> pd.DataFrame:
    """Per work item (index ``work_item_id``): ``project_key``, ``first_start_on`` (first
    entry to in_progress), ``final_done_on`` (last entry to done) as local days, and
    ``cycle_wd`` between them (RULES.md 2.1 flow: a reopened item counts to its final
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
