"""Pure, vectorised roll-up formulas (RULES.md section 2) for the aggregator's roll-ups,
load and forecasts, working on *grouped* rows so a million items cost one pass. No I/O.

``rules/formulas.py`` (the rules' EVM/slippage/load on item-level frames) computes the
same quantities for VAR-003/004 and RES-001; :func:`planned_value_curves` and
:func:`earned_schedule` here follow RULES.md 2.1 literally (PV on the working-day grid,
ES = k + (EV−PV_k)/(PV_{k+1}−PV_k)) and are what the roll-up uses.

Working-day positions are *ranks* from :meth:`rules.calendar.WorkCalendar.rank` (number of
working days on or before a day), so "working days in (a, b]" is ``rank(b) - rank(a)`` and
make-up working days (调休) and holidays are already accounted for.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Severity weights of the compliance score (RULES.md 2.2).
SEVERITY_WEIGHT: Mapping[str, int] = {"high": 3, "medium": 2, "low": 1}
#: RAG score of a colour (RULES.md 2.2).
RAG_SCORE: Mapping[str, int] = {"G": 0, "A": 1, "R": 2}


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


def rag_overall(dims: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Overall colour per row from dimension colours ``G/A/R/NE`` (RULES.md 2.1): Red if any
    Red or >= 3 Amber, Amber if any Amber, Green if a dimension is Green, else N/E (grey:
    nothing was evaluable, never shown as green). Returns (colour, number of ambers)."""
    v = dims.to_numpy(dtype=object)
    red = (v == "R").sum(axis=1)
    amber = (v == "A").sum(axis=1)
    green = (v == "G").sum(axis=1)
    out = np.where(
        (red > 0) | (amber >= 3), "R", np.where(amber > 0, "A", np.where(green > 0, "G", "NE"))
    )
    return out.astype(object), amber


def rag_from_score(score: np.ndarray) -> np.ndarray:
    """Programme/portfolio colour from the weighted RAG score (G=0, A=1, R=2)."""
    score = np.asarray(score, dtype=float)
    return np.where(
        np.isnan(score), "NE", np.where(score < 0.5, "G", np.where(score >= 1.2, "R", "A"))
    ).astype(object)


def outcome_weights(
    outcomes: pd.DataFrame, rule_severity: Mapping[str, str] | None = None
) -> pd.Series:
    """The compliance weight sw of each outcome row: the *rule's* severity (RULES.md 2.2),
    for passes and failures alike (a pass carries no severity of its own, and a finding's
    own severity may be raised or lowered per subject). Taken from the ``rule_severity``
    column of :func:`rules.engine.outcomes_frame`, else from ``rule_severity`` (rule id ->
    severity; default: the installed rules), else the row's ``severity``; unknown -> 1."""
    if rule_severity is None:
        from rules.engine import load_rules

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
