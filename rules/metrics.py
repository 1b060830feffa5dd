"""Pure, vectorised roll-up formulas (docs/metrics.md section 2), working on *grouped* rows so a
million items cost one pass. No I/O. They are the ONE implementation of earned value /
earned schedule (:func:`earned_value`) and of person/week load (:func:`spread_load`,
:func:`person_week_capacity`, :func:`remaining_hours`, :func:`hours_per_point`): the
roll-up (``aggregator/status/rollup.py``, ``aggregator/status/load.py``) calls them on SQL-grouped rows
and the rules (VAR-003/004, RES-001/002 through ``rules/formulas.py``) on item-level
frames, so ``pmohub check`` and ``pmohub status``/``pmohub load`` agree on the same data.

Working-day positions are *ranks* from :meth:`rules.calendar.WorkCalendar.rank` (number of
working days on or before a day), so "working days in (a, b]" is ``rank(b) - rank(a)`` and
make-up working days (调休) and holidays are already accounted for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pmohub.rules.calendar import WorkCalendar

#: Severity weights of the compliance score (docs/metrics.md 2.2).
SEVERITY_WEIGHT: Mapping[str, int] = {"high": 3, "medium": 2, "low": 1}
#: RAG score of a colour (docs/metrics.md 2.2).
#: EVM in hours when this share of baseline items has an hour estimate (docs/metrics.md 2.1).
HOUR_COVERAGE = 0.80
#: Longest plan (working days) the PV grid covers: bounds memory for absurd dates.
MAX_HORIZON_WD = 5000
#: Remaining hours of an open item with no estimate, points or type default (docs/metrics.md 2.3).
DEFAULT_TYPE_HOURS = 4.0
#: Kinds whose open items are not person load (docs/metrics.md 2.3): containers and PMO records.
#: Everything else assigned and open loads its assignee, corrective actions included.
NON_LOAD_KINDS = (
    "epic",
    "registry",
    "risk",
    "issue",
    "change_request",
    "status_report",
    "lessons_learned",
)


# -- earned value / earned schedule --------------------------------------------------------


def planned_value_curves(
    project: np.ndarray,
    est: np.ndarray,
    start: np.ndarray,
    due: np.ndarray,
    n_projects: int,
    horizon: int,
) -> np.ndarray:
    """PV_k for k = 0..horizon working days after each project's origin.

    ``project`` indexes the row's project (0..n_projects-1); ``start``/``due`` are the row's
    start and due as working-day offsets from its project's origin (``start`` NaN = no start
    date). A dated row ramps linearly: contribution = est·clamp(wd(s,k)/wd(s,d), 0, 1); a
    row without a start, or with wd(s, d) <= 0, is a step at its due (1[k >= d]). Built
    with difference arrays (one ``bincount`` per kind), not a row x day matrix.
    """
    width = horizon + 2
    size = n_projects * width
    d = np.clip(np.nan_to_num(due, nan=0.0), 0, horizon + 1).astype(np.int64)
    s = np.clip(np.nan_to_num(start, nan=-1.0), -(10**9), horizon + 1)
    length = d - s
    ramp = ~np.isnan(start) & (length > 0)
    base = project.astype(np.int64) * width
    steps = np.bincount(base[~ramp] + d[~ramp], weights=est[~ramp], minlength=size)
    sr = s[ramp]
    si = np.maximum(sr, 0).astype(np.int64)
    slope = est[ramp] / length[ramp]
    offset = np.where(sr < 0, -sr * slope, 0.0)  # a start before the origin: part-way up
    slope_d = np.bincount(base[ramp] + si, weights=slope, minlength=size)
    slope_d -= np.bincount(base[ramp] + d[ramp], weights=slope, minlength=size)
    jump = np.bincount(base[ramp] + si, weights=offset, minlength=size)
    slope_k = np.cumsum(slope_d.reshape(n_projects, width), axis=1)
    # PV(k) = sum of the slopes of the days before k.
    pv_ramp = np.concatenate(
        [np.zeros((n_projects, 1)), np.cumsum(slope_k, axis=1)[:, :-1]], axis=1
    )
    pv = (
        pv_ramp
        + np.cumsum(jump.reshape(n_projects, width), axis=1)
        + np.cumsum(steps.reshape(n_projects, width), axis=1)
    )
    return pv[:, : horizon + 1]


def earned_schedule(pv: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """ES per project (working days since the origin): ES = k + (EV−PV_k)/(PV_{k+1}−PV_k)
    where PV_k <= EV < PV_{k+1}; once EV reaches the final PV, ES is the first k at which
    the plan reached it (a finished project is not credited with the plan's idle tail)."""
    n, width = pv.shape
    rows = np.arange(n)
    final = pv[:, -1]
    le = (pv <= ev[:, None] + 1e-9).sum(axis=1)  # grid points with PV_k <= EV
    k = np.clip(le - 1, 0, width - 1)
    nxt = np.clip(k + 1, 0, width - 1)
    pv_k, pv_n = pv[rows, k], pv[rows, nxt]
    step = pv_n - pv_k
    frac = np.where(step > 0, (ev - pv_k) / np.where(step > 0, step, 1.0), 0.0)
    out = k + frac
    first_full = np.argmax(pv >= final[:, None] - 1e-9, axis=1)
    out = np.where(ev >= final - 1e-9, first_full, out)
    out = np.where(le == 0, 0.0, out)
    return out.astype(float)


def earned_value(
    code: np.ndarray,
    n_projects: int,
    *,
    n: np.ndarray,
    n_h: np.ndarray,
    n_pts: np.ndarray,
    sum_h: np.ndarray,
    sum_pts: np.ndarray,
    done: np.ndarray,
    start_rank: np.ndarray,
    due_rank: np.ndarray,
    end_rank: np.ndarray,
    project_start_rank: np.ndarray,
    has_baseline: np.ndarray,
    t_rank: float,
) -> dict[str, np.ndarray]:
    """EVM proxies and earned schedule per project on baseline B (docs/metrics.md 2.1).

    Rows are baselined leaf items (cancelled excluded), one item per row or several items
    grouped by (project, start, due, done): ``code`` is the row's project (0..n_projects-1),
    ``n``/``n_h``/``n_pts`` the items and those with an hour / point estimate, ``sum_h``/
    ``sum_pts`` their estimates, ``done`` 0/1, ``start_rank``/``due_rank`` calendar ranks
    (NaN = none). Per project: ``end_rank``/``project_start_rank`` of the baseline's project
    row, ``has_baseline``. ``t_rank`` is the as-of day's rank.

    Returns arrays per project: ``unit`` (h | pts | "" = no estimates), ``hour_coverage``,
    ``bac``, ``ev`` (both also where ``ok`` is False: 0 for a baseline without estimates),
    ``pv``, ``at_wd``, ``es_wd``, ``spi``, ``spi_t``, ``sv``, ``sv_t`` (NaN unless ``ok``).
    """
    code = np.asarray(code, dtype=np.int64)
    has_baseline = np.asarray(has_baseline, dtype=bool)

    def per_project(values: Any) -> np.ndarray:
        w = np.nan_to_num(np.asarray(values, dtype=float))
        return np.bincount(code, weights=w, minlength=n_projects)

    n_all, n_hours, n_points = per_project(n), per_project(n_h), per_project(n_pts)
    cov_h = safe_ratio(n_hours, n_all)
    unit = np.where(
        ~has_baseline | (n_all == 0),
        "",
        np.where(cov_h >= HOUR_COVERAGE, "h", np.where(n_points > 0, "pts", "")),
    )
    row_unit = unit[code]
    est = np.where(
        row_unit == "h",
        np.nan_to_num(np.asarray(sum_h, dtype=float)),
        np.where(row_unit == "pts", np.nan_to_num(np.asarray(sum_pts, dtype=float)), 0.0),
    )
    is_done = np.asarray(done) == 1
    bac = np.bincount(code, weights=est, minlength=n_projects)
    ev = np.bincount(code, weights=np.where(is_done, est, 0.0), minlength=n_projects)
    # No due date falls back to the project's baseline end.
    r_start = np.asarray(start_rank, dtype=float)
    r_due = np.asarray(due_rank, dtype=float)
    r_due = np.where(np.isnan(r_due), np.asarray(end_rank, dtype=float)[code], r_due)
    keep = (row_unit != "") & ~np.isnan(r_due)
    first = np.fmin(np.where(np.isnan(r_start), r_due, r_start), r_due)
    # Origin of ES and AT (k = 0): the baseline's project start, i.e. the earliest of the
    # baseline items' starts (an undated item's due) and the baseline project row's start
    # (the plan as approved). docs/metrics.md 2.1 indexes PV_k by k in wd and sets SPI_t = ES/AT,
    # so ES and AT must share one origin; PV is 0 before the earliest baselined start, so a
    # later origin would cut the plan's head off (ES too short), and the earliest item start
    # alone would ignore a project start the plan put before it. The as-of day is not the
    # origin of anything: AT = wd(origin, t).
    origin = np.full(n_projects, np.inf)
    np.minimum.at(origin, code[keep], first[keep])
    origin = np.fmin(
        np.where(np.isinf(origin), np.nan, origin), np.asarray(project_start_rank, dtype=float)
    )
    ok = (unit != "") & ~np.isnan(origin)
    sel = keep & ok[code]
    code_s, r_start, r_due, est_s = code[sel], r_start[sel], r_due[sel], est[sel]
    o = origin[code_s]
    last_due = np.full(n_projects, np.nan)
    if len(code_s):
        ld = np.full(n_projects, -np.inf)
        np.maximum.at(ld, code_s, r_due)
        last_due = np.where(np.isinf(ld), np.nan, ld)
    span = np.fmax(last_due, t_rank) - origin
    horizon = int(np.nanmax(np.r_[0.0, span[~np.isnan(span)]]))
    horizon = min(max(horizon, 1), MAX_HORIZON_WD)
    pv_curve = planned_value_curves(code_s, est_s, r_start - o, r_due - o, n_projects, horizon)
    at = np.clip(t_rank - origin, 0, None)
    k_t = np.clip(np.nan_to_num(at), 0, horizon).astype(int)
    pv = pv_curve[np.arange(n_projects), k_t]
    es = earned_schedule(pv_curve, ev)
    at_wd = np.where(ok, at, np.nan)
    es_wd = np.where(ok, es, np.nan)
    ev_ok = np.where(ok, ev, np.nan)
    pv_ok = np.where(ok, pv, np.nan)
    return {
        "unit": unit,
        "hour_coverage": cov_h,
        "ok": ok,
        "bac": bac,
        "ev": ev,
        "pv": pv_ok,
        "sv": ev_ok - pv_ok,
        "spi": safe_ratio(ev_ok, pv_ok),
        "at_wd": at_wd,
        "es_wd": es_wd,
        "spi_t": safe_ratio(es_wd, at_wd),
        "sv_t": es_wd - at_wd,
    }


def safe_ratio(num: np.ndarray | pd.Series, den: np.ndarray | pd.Series) -> np.ndarray:
    """num/den, NaN where the denominator is 0 or missing (a ratio of sums, never a mean)."""
    n = np.asarray(num, dtype=float)
    d = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((d != 0) & ~np.isnan(d), n / np.where(d == 0, 1.0, d), np.nan)


# -- load ----------------------------------------------------------------------------------


def spread_shares(
    first: np.ndarray, last: np.ndarray, week_lo: np.ndarray, week_hi: np.ndarray
) -> np.ndarray:
    """Share of each item's working days (ranks ``first..last`` inclusive) that falls in
    each week (ranks ``week_lo..week_hi`` inclusive): an items x weeks matrix."""
    span = last - first + 1
    lo = np.maximum(first[:, None], week_lo[None, :])
    hi = np.minimum(last[:, None], week_hi[None, :])
    days = np.clip(hi - lo + 1, 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span[:, None] > 0, days / np.where(span > 0, span, 1)[:, None], 0.0)


def displaced_hours(
    group: np.ndarray, order: np.ndarray, demand: np.ndarray, capacity: np.ndarray
) -> np.ndarray:
    """Fill each group's capacity (a person-week) with its rows in ``order`` (priority_rank,
    then due); return the part of each row's demand that does not fit: its *displaced
    hours*. ``capacity`` is per row (the group's capacity, repeated)."""
    if len(group) == 0:
        return np.zeros(0)
    idx = np.lexsort((order, group))
    dem = demand[idx]
    grp = group[idx]
    cum = np.cumsum(dem)
    starts = np.r_[0, np.flatnonzero(grp[1:] != grp[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(grp)])
    ahead = cum - dem - np.repeat(cum[starts] - dem[starts], sizes)
    fits = np.clip(capacity[idx] - ahead, 0, None)
    out = np.empty_like(dem)
    out[idx] = np.clip(dem - fits, 0, None)
    return out


def remaining_hours(
    remaining: pd.Series,
    points: pd.Series,
    types: pd.Series,
    *,
    hpp: float | np.ndarray | pd.Series,
    progress: pd.Series | np.ndarray | None = None,
    type_hours: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """rem_h of open items (docs/metrics.md 2.3): the remaining estimate, else points x hpp x
    (1 − progress), else the type default (``type_hours``, type names case-insensitive),
    else :data:`DEFAULT_TYPE_HOURS`. ``hpp`` is one number or one per item (the team's
    hours per point, :func:`hours_per_point`); ``progress`` is the fraction done (0..1,
    None/NaN = nothing done; clipped, since a tracker's percentage can be stale or > 100).
    Returns (rem_h, assumed: no estimate nor points)."""
    th = {str(k).lower(): float(v) for k, v in (type_hours or {}).items()}
    rem = pd.to_numeric(pd.Series(remaining), errors="coerce").to_numpy(dtype=float)
    pts = pd.to_numeric(pd.Series(points), errors="coerce").to_numpy(dtype=float)
    per_point = np.broadcast_to(np.asarray(hpp, dtype=float), rem.shape)
    left = np.ones(rem.shape)
    if progress is not None:
        done = pd.to_numeric(pd.Series(progress), errors="coerce").to_numpy(dtype=float)
        left = 1.0 - np.clip(np.nan_to_num(done, nan=0.0), 0.0, 1.0)
    rem = np.where(np.isnan(rem), pts * per_point * left, rem)
    assumed = np.isnan(rem)
    if assumed.any():
        kind = pd.Series(types).astype(object).where(pd.Series(types).notna(), "").astype(str)
        typed = kind.str.lower().map(th).astype(float).to_numpy()
        rem = np.where(assumed, np.nan_to_num(typed, nan=DEFAULT_TYPE_HOURS), rem)
    return rem, assumed


def hours_per_point(
    keys: pd.Series, points: pd.Series, spent_h: pd.Series, *, min_samples: int
) -> pd.Series:
    """A team's hours per point (docs/metrics.md 2.2/2.3): per key (project), the median of logged
    hours ÷ points over the given done items with both (> 0); keys with fewer than
    ``min_samples`` such items are left out (the caller falls back to the policy default).
    The status roll-up's ``hpp`` and the load's points -> hours both come from here."""
    pts = pd.to_numeric(pd.Series(points), errors="coerce").to_numpy(dtype=float)
    spent = pd.to_numeric(pd.Series(spent_h), errors="coerce").to_numpy(dtype=float)
    ok = (pts > 0) & (spent > 0)
    ratio = pd.Series(spent[ok] / pts[ok])
    stats = ratio.groupby(pd.Series(keys).to_numpy()[ok]).agg(["median", "size"])
    return stats.loc[stats["size"] >= min_samples, "median"].astype(float)


def latest_sprint_end(iteration_ids: pd.Series, sprint_end_on: pd.Series) -> np.ndarray:
    """Per item, the latest end day (``datetime64[D]``, NaT = none) of its sprints found in
    ``sprint_end_on`` (sprint external id -> local end day; pass only the active ones)."""
    if len(iteration_ids) == 0 or len(sprint_end_on) == 0:
        return np.full(len(iteration_ids), np.datetime64("NaT"), dtype="datetime64[D]")
    ends = pd.Series(
        pd.to_datetime(sprint_end_on).to_numpy(), index=sprint_end_on.index.astype(str)
    )
    ends = ends[~ends.index.duplicated()]
    ids = pd.Series(
        [list(v) if isinstance(v, list | tuple | np.ndarray) else [] for v in iteration_ids],
        index=np.arange(len(iteration_ids)),
    ).explode()
    found = pd.to_datetime(ids.dropna().astype(str).map(ends))
    by_row = found.groupby(level=0).max().reindex(np.arange(len(iteration_ids)))
    return by_row.to_numpy().astype("datetime64[D]")


def load_spans(
    start_on: np.ndarray,
    due_on: np.ndarray,
    sprint_end_on: np.ndarray,
    calendar: WorkCalendar,
    as_of: dt.date,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The working days each open item loads (docs/metrics.md 2.3), as inclusive calendar ranks
    (first, last), and whether it is scheduled at all: [max(start, today), due]; an overdue
    item loads the rest of the current ISO week; an undated item in an active sprint
    (``sprint_end_on``, NaT = none) the sprint's remaining days; other undated items are
    unscheduled (listed, not loaded). A span with no working day left takes the next."""
    today = np.datetime64(as_of, "D")
    week_end0 = np.datetime64(as_of - dt.timedelta(days=as_of.weekday() - 6), "D")
    due = np.asarray(due_on).astype("datetime64[D]")
    start = np.asarray(start_on).astype("datetime64[D]")
    se = np.asarray(sprint_end_on).astype("datetime64[D]")
    start = np.where(np.isnat(start) | (start < today), today, start)
    overdue = ~np.isnat(due) & (due < today)
    last = np.where(overdue, week_end0, due)
    first = np.where(overdue, today, start)
    in_sprint = np.isnat(due) & ~np.isnat(se)
    last = np.where(in_sprint, np.maximum(se, today), last)
    first = np.where(in_sprint, today, first)
    scheduled = ~np.isnat(last)
    first = np.where(first > last, last, first)
    r_first = calendar.rank(first - np.timedelta64(1, "D")) + 1
    r_last = calendar.rank(last)
    r_last = np.where(r_last < r_first, r_first, r_last)
    return r_first, r_last, scheduled


def week_ranks(
    week_starts: Sequence[dt.date], as_of: dt.date, calendar: WorkCalendar
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive rank bounds of each ISO week's working days from ``as_of`` on."""
    lo = [max(w, as_of) - dt.timedelta(days=1) for w in week_starts]
    hi = [w + dt.timedelta(days=6) for w in week_starts]
    return calendar.rank(lo) + 1, calendar.rank(hi)


def spread_demand(
    rem_h: np.ndarray,
    r_first: np.ndarray,
    r_last: np.ndarray,
    week_starts: Sequence[dt.date],
    as_of: dt.date,
    calendar: WorkCalendar,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzero demand of scheduled items per week: (item position, week index, hours)."""
    w_lo, w_hi = week_ranks(week_starts, as_of, calendar)
    dem = spread_shares(r_first, r_last, w_lo, w_hi) * np.asarray(rem_h, dtype=float)[:, None]
    nz_i, nz_w = np.nonzero(dem > 0)
    return nz_i, nz_w, dem[nz_i, nz_w]


def week_capacity(
    hours_per_day: np.ndarray,
    allocation: np.ndarray,
    leave: Sequence[Any],
    week_starts: Sequence[dt.date],
    today: dt.date,
    calendar: WorkCalendar,
) -> tuple[np.ndarray, np.ndarray]:
    """cap(p, w) = Σ_{working d in w, d >= today} hpd(p)·alloc(p) − leave (docs/metrics.md 2.3):
    a people x weeks matrix (never negative), and the working days of each week.
    ``leave[p]`` is a list of inclusive (first, last) dates, or None."""
    lo = [max(w, today) for w in week_starts]
    wd = np.array(
        [
            calendar.rank([w + dt.timedelta(days=6)])[0]
            - calendar.rank([d - dt.timedelta(days=1)])[0]
            for w, d in zip(week_starts, lo, strict=True)
        ]
    )
    per_day = np.asarray(hours_per_day, dtype=float) * np.asarray(allocation, dtype=float)
    cap = np.outer(per_day, wd)
    # Leave: few people have any, so this loops over them, not over items.
    for row, ranges in enumerate(leave):
        if not isinstance(ranges, tuple | list) or not ranges:
            continue
        for a, b in ranges:
            for j, (w, d) in enumerate(zip(week_starts, lo, strict=True)):
                x, y = max(a, d), min(b, w + dt.timedelta(days=6))
                if x <= y:
                    cap[row, j] -= len(calendar.workdays_between(x, y)) * per_day[row]
    return np.clip(cap, 0, None), wd


def calendar_codes(
    keys: Sequence[Any] | np.ndarray | pd.Series,
    calendar_of: Mapping[Any, WorkCalendar] | None,
    default: WorkCalendar,
) -> tuple[np.ndarray, list[WorkCalendar]]:
    """Per key (person), the position of its working calendar in the returned list:
    0 = ``default``, others from ``calendar_of`` (docs/metrics.md 2.4: per-person overrides of
    the portfolio calendar). A calendar named like the default is the default."""
    cals = [default]
    code_of_name = {default.name: 0}
    code_of_key: dict[Any, int] = {}
    for key, cal in (calendar_of or {}).items():
        if cal is None:
            continue
        if cal.name not in code_of_name:
            code_of_name[cal.name] = len(cals)
            cals.append(cal)
        code_of_key[key] = code_of_name[cal.name]
    if len(cals) == 1:
        return np.zeros(len(keys), dtype=np.int64), cals
    codes = pd.Series(np.asarray(keys, dtype=object)).map(code_of_key).fillna(0)
    return codes.to_numpy(dtype=np.int64), cals


def spread_load(
    rem_h: np.ndarray,
    start_on: np.ndarray,
    due_on: np.ndarray,
    sprint_end_on: np.ndarray,
    calendar_code: np.ndarray,
    calendars: Sequence[WorkCalendar],
    week_starts: Sequence[dt.date],
    as_of: dt.date,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Demand of open items per week, each spread over the working days of its assignee's
    calendar (``calendars[calendar_code[i]]``, see :func:`calendar_codes`): the hours land
    on days that person works. Returns (scheduled mask, item position, week index, hours)
    with the nonzero cells in (item, week) order, as :func:`spread_demand` gives them."""
    n = len(rem_h)
    rem = np.asarray(rem_h, dtype=float)
    start = np.asarray(start_on).astype("datetime64[D]")
    due = np.asarray(due_on).astype("datetime64[D]")
    se = np.asarray(sprint_end_on).astype("datetime64[D]")
    code = np.asarray(calendar_code, dtype=np.int64)
    scheduled = np.zeros(n, dtype=bool)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for c, cal in enumerate(calendars):
        sel = np.flatnonzero(code == c) if len(calendars) > 1 else np.arange(n)
        if not len(sel):
            continue
        r_first, r_last, sch = load_spans(start[sel], due[sel], se[sel], cal, as_of)
        scheduled[sel] = sch
        rows = sel[sch]
        i, w, d = spread_demand(rem[rows], r_first[sch], r_last[sch], week_starts, as_of, cal)
        parts.append((rows[i], w, d))
    if not parts:
        return scheduled, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    if len(parts) == 1:
        return scheduled, *parts[0]
    items = np.concatenate([p[0] for p in parts])
    weeks = np.concatenate([p[1] for p in parts])
    hours = np.concatenate([p[2] for p in parts])
    # Row order matters downstream: capacity is filled by (priority, due) with ties kept in
    # item order, so restore the single-calendar order.
    order = np.lexsort((weeks, items))
    return scheduled, items[order], weeks[order], hours[order]


def person_week_capacity(
    hours_per_day: np.ndarray,
    allocation: np.ndarray,
    leave: Sequence[Any],
    calendar_code: np.ndarray,
    calendars: Sequence[WorkCalendar],
    week_starts: Sequence[dt.date],
    today: dt.date,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`week_capacity` with each person on their own calendar (``calendars[
    calendar_code[p]]``): holidays, make-up days and leave count on that calendar.
    Returns (capacity, working days), both people x weeks."""
    hpd = np.asarray(hours_per_day, dtype=float)
    alloc = np.asarray(allocation, dtype=float)
    code = np.asarray(calendar_code, dtype=np.int64)
    cap = np.zeros((len(hpd), len(week_starts)))
    wd = np.zeros((len(hpd), len(week_starts)), dtype=np.int64)
    for c, cal in enumerate(calendars):
        sel = np.flatnonzero(code == c) if len(calendars) > 1 else np.arange(len(hpd))
        if not len(sel):
            continue
        part, days = week_capacity(
            hpd[sel], alloc[sel], [leave[i] for i in sel], week_starts, today, cal
        )
        cap[sel] = part
        wd[sel] = days
    return cap, wd


# -- percentiles ---------------------------------------------------------------------------


def group_quantiles(
    keys: pd.Series, values: pd.Series, qs: tuple[float, ...] = (0.5, 0.85)
) -> pd.DataFrame:
    """Per key, the quantiles of ``values`` (linear interpolation), NaNs dropped."""
    names = [f"p{round(q * 100)}" for q in qs]
    frame = pd.DataFrame({"k": keys.to_numpy(), "v": values.to_numpy(dtype=float)}).dropna()
    if frame.empty:
        return pd.DataFrame(columns=names, dtype=float)
    out = frame.groupby("k")["v"].quantile(list(qs)).unstack()
    out.columns = names
    return out


# -- RAG -----------------------------------------------------------------------------------


def outcome_weights(
    outcomes: pd.DataFrame, rule_severity: Mapping[str, str] | None = None
) -> pd.Series:
    """The compliance weight sw of each outcome row: the *rule's* severity (docs/metrics.md 2.2),
    for passes and failures alike (a pass carries no severity of its own, and a finding's
    own severity may be raised or lowered per subject). Taken from the ``rule_severity``
    column of :func:`rules.engine.outcomes_frame`, else from ``rule_severity`` (rule id ->
    severity; default: the installed rules), else the row's ``severity``; unknown -> 1."""
    if rule_severity is None:
        from pmohub.rules.engine import load_rules

        rule_severity = {k: r.meta.severity for k, r in load_rules().items()}
    sev = (
        outcomes["rule_severity"].astype(object)
        if "rule_severity" in outcomes.columns
        else pd.Series(None, index=outcomes.index, dtype=object)
    )
    sev = sev.where(sev.notna(), outcomes["rule_id"].astype(object).map(dict(rule_severity)))
    if "severity" in outcomes.columns:
        sev = sev.where(sev.notna(), outcomes["severity"].astype(object))
    return sev.map(dict(SEVERITY_WEIGHT)).fillna(1).astype(float)


def compliance_score(fail_weight: np.ndarray, evaluated_weight: np.ndarray) -> np.ndarray:
    """100·(1 − Σ_fail sw / Σ_evaluated sw); NaN when nothing was evaluated."""
    return 100.0 * (1.0 - safe_ratio(fail_weight, evaluated_weight))
