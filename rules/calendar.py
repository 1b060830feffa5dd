"""Working-day calendar: weekends, statutory holidays and make-up working days (调休).

``wd`` arithmetic is vectorised: the calendar materialises the sorted array of every
working day in a wide window once, so "working days up to and including x" is a
``searchsorted`` and adding n working days is an index shift. That handles make-up working
days (a Saturday that is a working day), which ``numpy.busday_*`` alone cannot.

China's holidays and make-up days come from the maintained ``chinesecalendar`` package
(import name ``chinese_calendar``), refreshed yearly upstream; a year it does not cover is
reported by :meth:`WorkCalendar.uncovered_years` so the caller can warn, because silently
treating a Spring Festival week as working days would make every wd threshold wrong.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = (np.datetime64("1990-01-01"), np.datetime64("2100-01-01"))


class CalendarError(ValueError):
    """A calendar definition that cannot be used (unknown weekday, unknown source...)."""


def to_days(values: Any) -> np.ndarray:
    """Dates, datetimes, strings, Series or arrays -> ``datetime64[D]`` (NaT kept).

    Aware datetimes must already be converted to the local date (see :func:`local_dates`).
    """
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        if getattr(arr.dtype, "tz", None) is not None:
            raise ValueError("aware datetimes: convert with local_dates() first")
        return arr.astype("datetime64[D]")
    if arr.dtype == object or arr.dtype.kind in "US":
        return pd.to_datetime(pd.Series(arr, dtype=object)).to_numpy().astype("datetime64[D]")
    return arr.astype("datetime64[D]")


def calendar_dates(values: pd.Series) -> pd.Series:
    """Dates, datetimes or strings -> an object Series of ``datetime.date`` or ``None``.

    ``Series.dt.date`` is not safe for this: under pandas 3 an all-NaT column stays
    ``datetime64`` (no ``date`` objects at all), and comparing it with a ``datetime.date``
    raises ``Invalid comparison between dtype=datetime64[s] and date``. A project whose
    versions all lack dates is exactly that column.
    """
    stamps = pd.to_datetime(values, errors="coerce")
    if getattr(stamps.dtype, "tz", None) is not None:
        stamps = stamps.dt.tz_localize(None)
    return pd.Series(
        [None if pd.isna(t) else t.date() for t in stamps], index=values.index, dtype=object
    )


def local_dates(values: pd.Series, timezone: str) -> np.ndarray:
    """UTC timestamps -> the local calendar day in ``timezone`` as ``datetime64[D]``.

    A naive series is taken as UTC (the store hands back UTC).
    """
    ts = pd.to_datetime(values, utc=True)
    return ts.dt.tz_convert(timezone).dt.tz_localize(None).to_numpy().astype("datetime64[D]")


@dataclass(frozen=True)
class WorkCalendar:
    """A policy calendar. Build it with :func:`build_calendar`."""

    name: str
    weekmask: str = "1111100"
    holidays: tuple[dt.date, ...] = ()
    makeup_workdays: tuple[dt.date, ...] = ()
    covered_years: tuple[int, int] | None = None  # years the holiday source knows
    #: years the config declares itself (an extra holiday or workday in them): covered
    declared_years: frozenset[int] = frozenset()
    _workdays: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days = np.arange(_WINDOW[0], _WINDOW[1], dtype="datetime64[D]")
        hol = np.array(sorted(self.holidays), dtype="datetime64[D]")
        working = np.is_busday(days, weekmask=self.weekmask, holidays=hol)
        if self.makeup_workdays:
            working |= np.isin(days, np.array(self.makeup_workdays, dtype="datetime64[D]"))
        object.__setattr__(self, "_workdays", days[working])

    # -- vectorised core ------------------------------------------------------------------

    def rank(self, days: Any) -> np.ndarray:
        """Number of working days on or before each day (float, NaN for NaT)."""
        d = np.atleast_1d(to_days(days))
        out = np.searchsorted(self._workdays, d, side="right").astype(float)
        out[np.isnat(d)] = np.nan
        return out

    def wd_diff(self, start: Any, end: Any) -> np.ndarray:
        """Signed working days from ``start`` to ``end``: working days in (start, end].

        Antisymmetric, 0 for the same day; "due 2026-05-08, today 2026-05-11 (Mon)" is 1 wd
        late. NaN where either side is missing.
        """
        return self.rank(end) - self.rank(start)

    def is_workday(self, days: Any) -> np.ndarray:
        d = np.atleast_1d(to_days(days))
        idx = np.searchsorted(self._workdays, d, side="left")
        idx = np.clip(idx, 0, len(self._workdays) - 1)
        return (self._workdays[idx] == d) & ~np.isnat(d)

    def add_wd(self, days: Any, n: Any) -> np.ndarray:
        """The working day ``n`` working days after each day (``n`` may be an array).

        A non-working day first rolls back to the previous working day, so adding 1 to a
        Saturday gives the next Monday (the same as adding 1 to the Friday).
        """
        d = np.atleast_1d(to_days(days))
        nat = np.isnat(d)
        r = np.searchsorted(self._workdays, np.where(nat, _WINDOW[0], d), side="right") - 1
        idx = np.clip(r + np.asarray(n, dtype=int), 0, len(self._workdays) - 1)
        out = self._workdays[idx].copy()
        out[nat] = np.datetime64("NaT")
        return out

    def workdays_between(self, start: dt.date, end: dt.date) -> np.ndarray:
        """Working days in [start, end] (inclusive), as ``datetime64[D]``."""
        lo = np.searchsorted(self._workdays, np.datetime64(start, "D"), side="left")
        hi = np.searchsorted(self._workdays, np.datetime64(end, "D"), side="right")
        return self._workdays[lo:hi]

    def uncovered_years(self, years: Iterable[int]) -> list[int]:
        """Years the holiday source does not cover (empty for a weekend-only calendar)."""
        if self.covered_years is None:
            return []
        lo, hi = self.covered_years
        return sorted({y for y in years if (y < lo or y > hi) and y not in self.declared_years})


def uncovered_warnings(calendars: Iterable[WorkCalendar], years: Iterable[int]) -> list[str]:
    """One warning per calendar (by name) whose holiday source misses some of ``years``,
    saying what to do: the installed chinesecalendar is often the newest there is (the
    State Council publishes next year's holidays in November), so the remedy is to declare
    that year's days in the config, which also silences the warning."""
    out = []
    wanted = set(years)
    for cal in {c.name: c for c in calendars}.values():
        missing = cal.uncovered_years(wanted)
        if missing:
            year = missing[-1]
            known = f" (chinesecalendar {_package_version()} knows up to {cal.covered_years[1]})"
            out.append(
                f"calendar {cal.name}: holidays unknown for {', '.join(map(str, missing))}"
                f"{known}; those years count weekends only. Declare the year's holidays and "
                f"make-up workdays in the config, e.g. calendars: {{{cal.name}: "
                f"{{extra_holidays: [{year}-01-01, {year}-10-01], "
                f"extra_workdays: [{year}-09-26]}}}} (a newer chinesecalendar, once "
                "released, also covers it)"
            )
    return out


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chinesecalendar")
    except PackageNotFoundError:
        return "(not installed)"


def _weekmask(weekend: Iterable[str]) -> str:
    days = [str(d).strip().lower()[:3] for d in weekend]
    bad = [d for d in days if d not in WEEKDAYS]
    if bad:
        raise CalendarError(f"unknown weekday {bad[0]!r} in weekend (use {', '.join(WEEKDAYS)})")
    return "".join("0" if d in days else "1" for d in WEEKDAYS)


def _chinese_days() -> tuple[list[dt.date], list[dt.date], tuple[int, int]]:
    import chinese_calendar

    holidays = sorted(chinese_calendar.constants.holidays)
    makeup = sorted(chinese_calendar.constants.workdays)
    years = (holidays[0].year, holidays[-1].year)
    return holidays, makeup, years


def build_calendar(name: str, spec: Mapping[str, Any] | None = None) -> WorkCalendar:
    """A calendar from a policy-file entry (``calendars: {cn: {weekend: [sat, sun],
    source: chinesecalendar, extra_holidays: [...], extra_workdays: [...]}}``)."""
    spec = dict(spec or {})
    weekend = spec.get("weekend", ["sat", "sun"])
    source = spec.get("source")
    holidays: list[dt.date] = []
    makeup: list[dt.date] = []
    covered: tuple[int, int] | None = None
    if source in ("chinesecalendar", "chinese_calendar", "cn"):
        holidays, makeup, covered = _chinese_days()
    elif source not in (None, "", "none"):
        raise CalendarError(f"calendar {name}: unknown holiday source {source!r} (chinesecalendar)")
    declared = [_as_date(d) for d in spec.get("extra_holidays", []) or []]
    declared_work = [_as_date(d) for d in spec.get("extra_workdays", []) or []]
    holidays += declared
    makeup += declared_work
    extra = set(declared)
    makeup = [d for d in makeup if d not in extra]
    return WorkCalendar(
        name=name,
        weekmask=_weekmask(weekend),
        holidays=tuple(sorted(set(holidays))),
        makeup_workdays=tuple(sorted(set(makeup))),
        covered_years=covered,
        declared_years=frozenset(d.year for d in (*declared, *declared_work)),
    )


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarError(f"not a date: {value!r} (use YYYY-MM-DD)") from exc


WEEKEND_ONLY = WorkCalendar(name="weekdays")
