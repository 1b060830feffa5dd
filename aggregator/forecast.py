"""Monte Carlo completion forecasts on each project's throughput (RULES.md 2.1).

Per project: the daily throughput TH_d (leaf items whose *final* done falls on working day
d, bucketed on the local day of the policy time zone; a completion on a non-working day
counts on the working day before it) of the last 60 working days is the sample. Each of
10 000 trials draws one TH per future working day and burns down the open items; the
completion day of a trial is the first working day its cumulative TH reaches them.
P50/P85/P95 are the working-day quantiles turned into dates; P(done <= baseline end) is
the share of trials finished by then. Trials are capped at two years.

Reproducible: the seed is a stable digest of (project, as_of) (``hashlib``, not Python's
per-process randomised ``hash()``), fed to a numpy ``Generator``. With fewer than 30
working days of history or fewer than 10 completions the forecast is remaining / mean TH,
flagged ``low_confidence``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from aggregator.rollup import (
    LEAF_KINDS,
    Inputs,
    Settings,
    first_created,
    hierarchy,
    read_inputs_history,
    read_inputs_sql,
    settings_for,
)
from rules.calendar import WorkCalendar, local_dates

TRIALS = 10_000
SAMPLE_WD = 60
MIN_HISTORY_WD = 30
MIN_COMPLETIONS = 10
BLOCK = 32


def stable_seed(project: str, as_of: dt.date) -> int:
    digest = hashlib.sha256(f"{project}|{as_of.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def simulate_days(
    throughput: np.ndarray, remaining: int, trials: int, cap: int, seed: int
) -> np.ndarray:
    """Working days each trial needs to finish ``remaining`` items (``cap + 1`` = not
    within the cap), drawing daily throughput from ``throughput``; vectorised over trials,
    ``BLOCK`` days at a time."""
    out = np.full(trials, cap + 1, dtype=np.int64)
    if remaining <= 0:
        return np.zeros(trials, dtype=np.int64)
    th = np.asarray(throughput, dtype=np.int64)
    if th.max(initial=0) <= 0:
        return out
    rng = np.random.default_rng(seed)
    total = np.zeros(trials, dtype=np.int64)
    active = np.arange(trials)
    day = 0
    while active.size and day < cap:
        width = min(BLOCK, cap - day)
        draws = th[rng.integers(0, th.size, size=(active.size, width))]
        cum = total[active, None] + np.cumsum(draws, axis=1)
        hit = cum >= remaining
        finished = hit.any(axis=1)
        out[active[finished]] = day + hit[finished].argmax(axis=1) + 1
        total[active] = cum[:, -1]
        active = active[~finished]
        day += width
    return out


def daily_throughput(
    done_at: pd.Series, as_of: dt.date, cal: WorkCalendar, timezone: str, days: int
) -> np.ndarray:
    """Completions per working day over the ``days`` working days ending at ``as_of``."""
    r_now = int(cal.rank([as_of])[0])
    if len(done_at) == 0:
        return np.zeros(days, dtype=np.int64)
    r = cal.rank(local_dates(done_at, timezone))
    off = r_now - r  # 0 = as_of's working day
    off = off[(off >= 0) & (off < days)].astype(np.int64)
    return np.bincount(days - 1 - off, minlength=days).astype(np.int64)


def forecast_frame(
    inp: Inputs,
    projects: list[str],
    as_of: dt.date,
    s: Settings,
    baseline_end: pd.Series | None = None,
    trials: int = TRIALS,
    created: pd.Series | None = None,
) -> pd.DataFrame:
    cal = s.calendar
    g = inp.groups
    open_ = g[g["kind"].isin(LEAF_KINDS) & g["status_category"].isin(("todo", "in_progress"))]
    remaining = open_.groupby("pk")["n"].sum()
    first = (
        created
        if created is not None
        else g.groupby("pk")["first_created"].min()
        if "first_created" in g
        else pd.Series(dtype=object)
    )
    flow = inp.flow.dropna(subset=["done_at"])
    r_now = float(cal.rank([as_of])[0])
    cap = int(cal.wd_diff([as_of], [as_of.replace(year=as_of.year + 2)])[0])
    rows = []
    for pk in projects:  # one simulation per project; each is vectorised over its trials
        rem = int(remaining.get(pk, 0))
        created = first.get(pk)
        age = (
            r_now - float(cal.rank(local_dates(pd.Series([created]), s.timezone))[0])
            if created is not None and not pd.isna(created)
            else 0.0
        )
        n_days = int(min(SAMPLE_WD, max(age, 0)))
        th = daily_throughput(
            flow.loc[flow["pk"] == pk, "done_at"], as_of, cal, s.timezone, max(n_days, 1)
        )
        completions = int(th.sum())
        end = baseline_end.get(pk) if baseline_end is not None else None
        end_wd = (
            float(cal.wd_diff([as_of], [pd.Timestamp(end).date()])[0])
            if end is not None and not pd.isna(end)
            else np.nan
        )
        low = n_days < MIN_HISTORY_WD or completions < MIN_COMPLETIONS
        row: dict[str, Any] = {
            "project_key": pk,
            "remaining": rem,
            "history_wd": n_days,
            "completions": completions,
            "mean_th": completions / n_days if n_days else np.nan,
            "low_confidence": low,
            "method": "mean" if low else "monte_carlo",
            "trials": 0 if low else trials,
        }
        if rem == 0:
            q = {50: 0.0, 85: 0.0, 95: 0.0}
            p_end = 1.0 if end_wd == end_wd else np.nan
        elif low:
            mean = row["mean_th"]
            n = float(np.ceil(rem / mean)) if mean and mean > 0 else np.nan
            n = n if n == n and n <= cap else np.nan
            q = {50: n, 85: n, 95: n}
            p_end = np.nan if n != n or end_wd != end_wd else float(n <= end_wd)
        else:
            days = simulate_days(th, rem, trials, cap, stable_seed(pk, as_of))
            q = {p: float(np.quantile(days, p / 100, method="inverted_cdf")) for p in (50, 85, 95)}
            q = {p: (v if v <= cap else np.nan) for p, v in q.items()}
            p_end = float((days <= end_wd).mean()) if end_wd == end_wd else np.nan
        for p, v in q.items():
            row[f"p{p}_wd"] = v
            row[f"p{p}"] = pd.Timestamp(cal.add_wd([as_of], int(v))[0]).date() if v == v else None
        row["baseline_end"] = (
            pd.Timestamp(end).date() if end is not None and not pd.isna(end) else None
        )
        row["p_on_time"] = p_end
        rows.append(row)
    return pd.DataFrame(rows)


def project_forecasts(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    *,
    project: str | None = None,
    history: bool = False,
    trials: int = TRIALS,
) -> pd.DataFrame:
    """Forecast every hierarchy project (or one)."""
    s = settings_for(config)
    hier = hierarchy(engine, config)
    keys = list(hier["project_key"])
    if project is not None:
        if project not in keys:
            from connectors.errors import PmohubError

            raise PmohubError(
                f"no project {project!r} in the hierarchy (known: {', '.join(sorted(keys)) or 'none'})"
            )
        keys = [project]
    # 60 working days can span more than 90 calendar days around long holidays.
    back = as_of - dt.timedelta(days=1)
    first = pd.Timestamp(s.calendar.add_wd([back], -SAMPLE_WD)[0]).date()
    flow_days = (as_of - first).days + 1
    read = read_inputs_history if history else read_inputs_sql
    inp = read(engine, config, as_of, hier, s, flow_days=flow_days)
    meta = inp.baseline_meta.drop_duplicates("pk").set_index("pk")["due_on"]
    planned = pd.to_datetime(hier.set_index("project_key")["planned_end"])
    end = pd.to_datetime(meta).reindex(planned.index).fillna(planned)
    created = None if history else first_created(engine, hier)
    return forecast_frame(inp, keys, as_of, s, end, trials, created)


def forecast_projects(
    engine: Engine,
    config: Any,
    *,
    as_of: dt.date,
    projects: list[str] | None = None,
    trials: int = TRIALS,
) -> pd.DataFrame:
    """Forecasts of the given projects (all when None), one row each (report adapter)."""
    out = project_forecasts(engine, config, as_of, trials=trials)
    if projects is not None:
        out = out[out["project_key"].isin(list(projects))]
    return out.reset_index(drop=True)
