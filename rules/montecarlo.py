"""The Monte Carlo completion forecast core (docs/metrics.md 2.1), pure: no I/O, no clock.

One implementation for both users: ``aggregator.status.forecast`` (``pmohub forecast``, the report)
and VAR-002 (c = MC P85 of the project end). Per project: the daily throughput TH_d of the
last ``SAMPLE_WD`` working days is the sample; each of ``TRIALS`` trials draws one TH per
future working day and burns down the open items; the completion day of a trial is the
first working day its cumulative TH reaches them. With fewer than ``MIN_HISTORY_WD``
working days of history or fewer than ``MIN_COMPLETIONS`` completions the forecast is
remaining / mean TH, flagged low-confidence.

Reproducible: the seed is a stable digest of (project, as_of) (``hashlib``, not Python's
per-process randomised ``hash()``), fed to a numpy ``Generator``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pmohub.rules.calendar import WorkCalendar, local_dates

TRIALS = 10_000
SAMPLE_WD = 60
MIN_HISTORY_WD = 30
MIN_COMPLETIONS = 10
BLOCK = 32
QUANTILES = (50, 85, 95)


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
    # Throughput is never negative, so a trial's running total only grows: it finishes in
    # a block iff the block's end total reaches ``remaining``, and its day is the count of
    # running totals still short. Only the few trials finishing in a block need the
    # cumulative sum (the row sums are ~5x cheaper than cumsum over the whole block).
    monotone = th.min(initial=0) >= 0
    while active.size and day < cap:
        width = min(BLOCK, cap - day)
        draws = th[rng.integers(0, th.size, size=(active.size, width))]
        if monotone:
            end = total[active] + draws.sum(axis=1)
            finished = end >= remaining
            if finished.any():
                cum = total[active[finished], None] + np.cumsum(draws[finished], axis=1)
                out[active[finished]] = day + (cum < remaining).sum(axis=1) + 1
            total[active] = end
        else:
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


def two_year_cap(cal: WorkCalendar, as_of: dt.date) -> int:
    """Working days in the two years after ``as_of`` (trials stop there)."""
    return int(cal.wd_diff([as_of], [as_of.replace(year=as_of.year + 2)])[0])


@dataclass(frozen=True)
class Completion:
    """One project's forecast in working days from ``as_of`` (NaN: not within the cap)."""

    quantiles: dict[int, float]  # 50/85/95 -> wd
    days: np.ndarray | None  # the trials' completion days (Monte Carlo only)
    low_confidence: bool
    mean_th: float


def forecast_completion(
    throughput: np.ndarray,
    remaining: int,
    history_wd: int,
    *,
    cap: int,
    seed: int,
    trials: int = TRIALS,
) -> Completion:
    """Working days to finish ``remaining`` items, from ``throughput`` (the daily sample of
    the last ``history_wd`` working days): Monte Carlo, or remaining / mean TH when the
    history is too short or too thin (low confidence)."""
    completions = int(np.asarray(throughput).sum())
    mean = completions / history_wd if history_wd else np.nan
    low = history_wd < MIN_HISTORY_WD or completions < MIN_COMPLETIONS
    if remaining <= 0:
        return Completion(dict.fromkeys(QUANTILES, 0.0), None, low, mean)
    if low:
        n = float(np.ceil(remaining / mean)) if mean and mean > 0 else np.nan
        n = n if n == n and n <= cap else np.nan
        return Completion(dict.fromkeys(QUANTILES, n), None, low, mean)
    days = simulate_days(throughput, remaining, trials, cap, seed)
    q = {p: float(np.quantile(days, p / 100, method="inverted_cdf")) for p in QUANTILES}
    return Completion({p: (v if v <= cap else np.nan) for p, v in q.items()}, days, low, mean)


def project_p85(
    items: pd.DataFrame,
    projects: pd.Index,
    as_of: dt.date,
    cal: WorkCalendar,
    timezone: str,
    trials: int = TRIALS,
) -> pd.Series:
    """P85 completion day (``datetime64[D]``) of the open leaf items of each project in
    ``projects``, from the work-item frame (``project_key, is_leaf, status_category,
    resolved_at, created_at``): TH_d counts done leaf items by their resolution day. NaT
    where nothing can be forecast (no throughput, beyond the cap) or the forecast is
    low-confidence (< 30 wd of history or < 10 completions)."""
    # Only the five columns used: VAR-002 passes the whole item frame (~50 columns), and
    # a boolean filter copies every column it keeps.
    cols = ["project_key", "is_leaf", "status_category", "resolved_at", "created_at"]
    leaf = items[cols][items["is_leaf"].astype(bool) & items["project_key"].isin(projects)]
    keys = leaf["project_key"].astype(object)
    open_ = leaf["status_category"].isin(("todo", "in_progress")).to_numpy(dtype=bool)
    remaining = keys[open_].value_counts()
    r_now = int(cal.rank([as_of])[0])
    cap = two_year_cap(cal, as_of)
    # Vectorised over every project: the working-day offset (0 = as_of) of each completion,
    # and each project's history length (wd since its first item, at most SAMPLE_WD).
    first = pd.to_datetime(leaf.groupby(keys, observed=True)["created_at"].min(), utc=True)
    age = r_now - cal.rank(local_dates(first, timezone)).astype(float)
    age = np.where(first.isna().to_numpy(), 0.0, age)
    n_days = pd.Series(np.minimum(SAMPLE_WD, np.maximum(age, 0)).astype(int), index=first.index)
    done = (leaf["status_category"] == "done").to_numpy(dtype=bool) & leaf[
        "resolved_at"
    ].notna().to_numpy(dtype=bool)
    off = r_now - cal.rank(local_dates(leaf.loc[done, "resolved_at"], timezone))
    offsets = {
        k: g.to_numpy() for k, g in pd.Series(off, index=keys[done].to_numpy()).groupby(level=0)
    }
    out = pd.Series(np.datetime64("NaT", "D"), index=projects, dtype="datetime64[s]")
    found: list[Any] = []
    found_wd: list[int] = []
    for pk in projects:  # one simulation per project, vectorised over its trials
        rem = int(remaining.get(pk, 0))
        if rem == 0:
            continue  # nothing open: the end is the current date, not a forecast
        n = int(n_days.get(pk, 0))
        days = max(n, 1)
        o = offsets.get(pk, np.zeros(0, dtype=np.int64))
        o = o[(o >= 0) & (o < days)].astype(np.int64)
        th = np.bincount(days - 1 - o, minlength=days).astype(np.int64)  # = daily_throughput
        c = forecast_completion(
            th, rem, n, cap=cap, seed=stable_seed(str(pk), as_of), trials=trials
        )
        p85 = c.quantiles[85]
        # A low-confidence estimate (remaining / mean TH on thin history) informs the
        # forecast report but is no ground for a high-severity slippage finding.
        if p85 == p85 and not c.low_confidence:
            found.append(pk)
            found_wd.append(int(p85))
    if found:
        # One calendar lookup and one assignment for all projects, not one per project.
        out.loc[found] = cal.add_wd([as_of] * len(found), np.asarray(found_wd, dtype=int))
    return out
