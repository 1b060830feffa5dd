"""The status changes the reopen rate is counted from (docs/metrics.md 2.1): the status
moves of live leaf items in the reopen window up to the end of the as-of day, with both
ends' categories, for :func:`pmohub.rules.formulas.reopen_rate` -- the one formula the
status, the report's quality section and QUA-001 share.

Read for "now" and for a past day alike: a status change is a dated fact, so the window
before a past day's end is that day's window.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, and_, select

from pmohub.aggregator.status.inputs import read_spellings
from pmohub.aggregator.status.settings import Settings, project_ids
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.reads import epoch_seconds, from_epoch, query_frame, spelled_in
from pmohub.rules.formulas import REOPEN_WINDOW_DAYS
from pmohub.rules.frames import map_categories, status_categories

wi_t = m.WorkItem.__table__
sc_t = m.StatusChange.__table__

COLUMNS = ["work_item_id", "project_key", "from_category", "to_category", "changed_at"]


def read_reopen_changes(
    engine: Engine,
    hier: pd.DataFrame,
    s: Settings,
    as_of: dt.date,
    window_days: int = REOPEN_WINDOW_DAYS,
) -> pd.DataFrame:
    """``work_item_id, project_key`` (hierarchy key), ``from_category, to_category``,
    ``changed_at`` (UTC) of the status changes of live leaf items from the start of the
    window's first local day to the end of ``as_of``."""
    d = engine.dialect.name
    live = wi_t.c.deleted_at.is_(None)
    # Category of a status name as the rules' frames read it: from the current items,
    # overlaid by the status map (rules.frames.status_categories).
    names = read_spellings(engine)
    types = sorted(set(names["type"].dropna().astype(str)))
    cats = status_categories(names, s.status_map)
    lo = s.day_end(as_of - dt.timedelta(days=int(window_days)))
    hi = s.day_end(as_of)
    rows = query_frame(
        engine,
        select(
            sc_t.c.work_item_id,
            wi_t.c.project_id,
            sc_t.c.from_value,
            sc_t.c.to_value,
            epoch_seconds(sc_t.c.changed_at, d),
        )
        .select_from(sc_t.join(wi_t, wi_t.c.id == sc_t.c.work_item_id))
        .where(
            sc_t.c.field == "status",
            sc_t.c.deleted_at.is_(None),
            and_(sc_t.c.changed_at >= lo, sc_t.c.changed_at < hi),
            live,
            ~spelled_in(wi_t.c.type, s.non_leaf_types, types),
        ),
        ["work_item_id", "project_id", "from_value", "to_value", "changed_at"],
    )
    pid = project_ids(engine, hier)
    return pd.DataFrame(
        {
            "work_item_id": rows["work_item_id"],
            "project_key": rows["project_id"].map(pid),
            "from_category": map_categories(rows["from_value"], cats),
            "to_category": map_categories(rows["to_value"], cats),
            "changed_at": from_epoch(rows["changed_at"]),
        },
        columns=COLUMNS,
    ).dropna(subset=["project_key"])
