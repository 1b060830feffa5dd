"""Monte Carlo completion forecasts on each project's throughput (docs/metrics.md 2.1).

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
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from pmohub.aggregator.status.history import read_inputs_history
from pmohub.aggregator.status.inputs import Inputs, first_created, read_inputs_sql
from pmohub.aggregator.status.settings import LEAF_KINDS, Settings, hierarchy, settings_for
from pmohub.rules.calendar import local_dates
from pmohub.rules.montecarlo import (
    BLOCK,
    MIN_COMPLETIONS,
    MIN_HISTORY_WD,
    SAMPLE_WD,
    TRIALS,
    daily_throughput,
    forecast_completion,
    simulate_days,
    stable_seed,
    two_year_cap,
)

# The simulation itself is pure (rules/montecarlo.py) and shared with VAR-002: one
# implementation; its names stay importable from here.
__all__ = [
    "BLOCK",
    "MIN_COMPLETIONS",
    "MIN_HISTORY_WD",
    "SAMPLE_WD",
    "TRIALS",
    "daily_throughput",
    "forecast_basis",
    "forecast_frame",
    "forecast_projects",
    "project_forecasts",
    "simulate_days",
    "stable_seed",
]


def forecast_frame(
    inp: Inputs,
    projects: list[str],
    as_of: dt.date,
    s: Settings,
    baseline_end: pd.Series | None = None,
    trials: int = TRIALS,
    created: pd.Series | None = None,
) -> pd.DataFrame:
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
    per_calendar: dict[str, tuple[float, Any]] = {}
    rows = []
    for pk in projects:  # one simulation per project; each is vectorised over its trials
        cal = s.calendar_for(pk)  # working days of the project's own calendar
        if cal.name not in per_calendar:
            per_calendar[cal.name] = (float(cal.rank([as_of])[0]), two_year_cap(cal, as_of))
        r_now, cap = per_calendar[cal.name]
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
        fc = forecast_completion(
            th, rem, n_days, cap=cap, seed=stable_seed(pk, as_of), trials=trials
        )
        low = fc.low_confidence
        row: dict[str, Any] = {
            "basis": forecast_basis(rem, completions, low),
            "project_key": pk,
            "remaining": rem,
            "history_wd": n_days,
            "completions": completions,
            "mean_th": fc.mean_th,
            "low_confidence": low,
            "method": "mean" if low else "monte_carlo",
            "trials": 0 if low else trials,
        }
        q = fc.quantiles
        if rem == 0:
            p_end = 1.0 if end_wd == end_wd else np.nan
        elif fc.days is None:
            n = q[85]
            p_end = np.nan if n != n or end_wd != end_wd else float(n <= end_wd)
        else:
            p_end = float((fc.days <= end_wd).mean()) if end_wd == end_wd else np.nan
        for p, v in q.items():
            row[f"p{p}_wd"] = v
            row[f"p{p}"] = pd.Timestamp(cal.add_wd([as_of], int(v))[0]).date() if v == v else None
        row["baseline_end"] = (
            pd.Timestamp(end).date() if end is not None and not pd.isna(end) else None
        )
        row["p_on_time"] = p_end
        rows.append(row)
    return pd.DataFrame(rows)


#: what a forecast rests on, for the words shown instead of a date (docs/metrics.md 2.1)
BASES = ("nothing_open", "no_history", "mean", "monte_carlo")


def forecast_basis(remaining: int, completions: int, low_confidence: bool) -> str:
    """``nothing_open`` (done), ``no_history`` (no completion in the sample: there is no
    throughput to project, so no date rather than "> 2 years"), ``mean`` (remaining / mean
    TH, low confidence) or ``monte_carlo``."""
    if remaining <= 0:
        return "nothing_open"
    if completions <= 0:
        return "no_history"
    return "mean" if low_confidence else "monte_carlo"


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
            from pmohub.connectors.errors import PmohubError

            raise PmohubError(
                f"no project {project!r} in the hierarchy (known: {', '.join(sorted(keys)) or 'none'})"
            )
        keys = [project]
    # 60 working days can span more than 90 calendar days around long holidays.
    back = as_of - dt.timedelta(days=1)
    first = min(
        pd.Timestamp(cal.add_wd([back], -SAMPLE_WD)[0]).date()
        for cal in (s.calendar, *s.project_calendars.values())
    )
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
