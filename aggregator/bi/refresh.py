"""Rewrite the BI layer's ``bi_*`` tables from the config and the policy (docs/bi.md).

The ``bi_v1_*`` views are pure SQL over the store, but four things they need are not in
the store: the portfolio hierarchy (config), which tracker project is which hierarchy
project (the same match ``pmohub status`` makes, :func:`aggregator.status.settings.project_ids`),
the kind of each item type (policy) and the working-day calendar. :func:`refresh_bi_tables`
writes all four in one transaction (readers see the old or the new set, never half), from
the nightly ``bi`` step and before ``pmohub export``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select

from pmohub.aggregator.status.settings import hierarchy, kinds_of, project_ids, settings_for
from pmohub.aggregator.store import models as m

#: Calendar rows reach this far past the as-of date (forecasts, due dates ahead).
CALENDAR_AHEAD_DAYS = 2 * 366
CALENDAR_DEFAULT_START = dt.date(2020, 1, 1)


def _none(v: Any) -> Any:
    """NaN/NaT/pd.NA -> None, numpy scalars -> Python (for the DB driver)."""
    if v is None or (not isinstance(v, list | tuple | dict) and pd.isna(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def to_hierarchy_rows(config: Any, hier: pd.DataFrame, now: dt.datetime) -> list[dict[str, Any]]:
    names = {}
    for pf in getattr(config, "hierarchy", ()) or ():
        names[("portfolio", pf.key)] = pf.name
        for g in pf.programmes:
            names[("programme", g.key)] = g.name
    rows = []
    for r in hier.drop_duplicates("project_key").to_dict("records"):
        pf, pg = _none(r.get("portfolio")), _none(r.get("programme"))
        rank = _none(r.get("priority_rank"))
        rows.append(
            {
                "project_key": r["project_key"],
                "project_name": _none(r.get("name")),
                "programme_key": pg,
                "programme_name": names.get(("programme", pg)),
                "portfolio_key": pf,
                "portfolio_name": names.get(("portfolio", pf)),
                "priority_rank": int(rank) if rank is not None else None,
                "weight": _none(r.get("weight")),
                "critical": bool(_none(r.get("critical")) or False),
                "pm": _none(r.get("pm")),
                "planned_start": _none(r.get("planned_start")),
                "planned_end": _none(r.get("planned_end")),
                "refreshed_at": now,
            }
        )
    return rows


def to_calendar_rows(first: dt.date, last: dt.date, calendar: Any) -> list[dict[str, Any]]:
    days = pd.date_range(first, last, freq="D")
    work = calendar.is_workday(days.values.astype("datetime64[D]"))
    rows = []
    for day, is_work in zip(days.date, work, strict=True):
        iso = day.isocalendar()
        rows.append(
            {
                "day": day,
                "year": day.year,
                "quarter": (day.month - 1) // 3 + 1,
                "month": day.month,
                "iso_year": iso.year,
                "iso_week": iso.week,
                "weekday": iso.weekday,
                "week_start": day - dt.timedelta(days=iso.weekday - 1),
                "is_weekend": iso.weekday >= 6,
                "is_workday": bool(is_work),
            }
        )
    return rows


def _first_day(engine: Engine) -> dt.date:
    """The earliest day the store speaks of (item creation, snapshots), for the calendar."""
    wi, sn = m.WorkItem.__table__, m.Snapshot.__table__
    with engine.connect() as conn:
        created = conn.execute(select(func.min(wi.c.created_at))).scalar()
        taken = conn.execute(select(func.min(sn.c.taken_on))).scalar()
    found = [d for d in (created, taken) if d is not None]
    if not found:
        return CALENDAR_DEFAULT_START
    days = [
        d.date() if isinstance(d, dt.datetime) else dt.date.fromisoformat(str(d)[:10])
        for d in found
    ]
    return dt.date(min(days).year, 1, 1)


def refresh_bi_tables(engine: Engine, config: Any, *, as_of: dt.date) -> dict[str, int]:
    """Rewrite ``bi_hierarchy``, ``bi_project_map``, ``bi_item_kinds`` and ``bi_calendar``;
    returns the rows written per table."""
    now = dt.datetime.now(dt.UTC)
    s = settings_for(config)
    hier = hierarchy(engine, config)
    ids = project_ids(engine, hier)
    mapping = [
        {"project_id": int(pid), "project_key": key}
        for pid, key in ids.items()
        if isinstance(key, str) and key
    ]
    wi = m.WorkItem.__table__
    with engine.connect() as conn:
        types = [t for t in conn.execute(select(wi.c.type).distinct()).scalars() if t is not None]
    kinds = kinds_of(pd.Series(types, dtype=object), s) if types else pd.Series([], dtype=object)
    kind_rows = [{"type": t, "kind": str(k)} for t, k in zip(types, kinds, strict=True)]
    last = as_of + dt.timedelta(days=CALENDAR_AHEAD_DAYS)
    cal_rows = to_calendar_rows(min(_first_day(engine), as_of), last, s.calendar)
    tables = {
        "bi_hierarchy": (m.BiHierarchy.__table__, to_hierarchy_rows(config, hier, now)),
        "bi_project_map": (m.BiProjectMap.__table__, mapping),
        "bi_item_kinds": (m.BiItemKind.__table__, kind_rows),
        "bi_calendar": (m.BiCalendar.__table__, cal_rows),
    }
    with engine.begin() as conn:
        for table, rows in tables.values():
            conn.execute(delete(table))
            if rows:
                conn.execute(insert(table), rows)
    return {name: len(rows) for name, (_, rows) in tables.items()}
