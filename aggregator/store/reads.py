"""The public shared frame readers: small helpers every reader of the store uses.

* :func:`query_frame` runs a statement into a DataFrame (optionally straight from the
  driver's cursor, for statements that select only numbers and text);
* :func:`epoch_seconds` / :func:`day_number` make the database convert timestamps and dates
  to numbers (numbers cross the driver far faster than datetimes), :func:`from_epoch` /
  :func:`from_day_number` turn them back;
* :func:`lower_in` / :func:`spelled_in` compare type names case-insensitively;
* :func:`project_ids` maps ``projects.id`` to the hierarchy's project keys.

Read-only: nothing here writes, and nothing here knows compliance, status or reports.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import (
    Engine,
    Float,
    Integer,
    cast,
    func,
    literal,
)

from pmohub.aggregator.store import models as m

log = logging.getLogger("pmohub.rollup")
pr_t = m.Project.__table__


def query_frame(
    engine: Engine, stmt: Any, columns: list[str], *, raw: bool = False
) -> pd.DataFrame:
    """Run ``stmt`` into a frame. ``raw``: fetch plain tuples from the driver's cursor,
    skipping SQLAlchemy's per-row result processing (only for statements that select
    numbers and text, whose driver values need no conversion)."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # GROUP BY / DISTINCT sorts in memory, not in a temporary file.
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        result = conn.execute(stmt)
        rows = result.cursor.fetchall() if raw else [tuple(r) for r in result.fetchall()]
    out = pd.DataFrame.from_records(rows, columns=columns)
    log.debug("%s rows in %.3fs: %s", len(out), time.perf_counter() - t0, columns[:4])
    return out


def lower_in(column: Any, values: Iterable[str]) -> Any:
    vals = sorted(values)
    return func.lower(column).in_(vals) if vals else literal(False)


def spelled_in(column: Any, values: Iterable[str], spellings: Iterable[str]) -> Any:
    """``lower(column) IN values`` as ``column IN (the stored spellings that match)``: no
    lower() per row (it was most of the cost of the risk and sub-task scans, 0.27 ->
    0.10 s at 1M items). Lower-cased in Python, as
    :func:`~pmohub.aggregator.status.settings.kinds_of` classifies them."""
    wanted = set(values)
    vals = sorted(v for v in spellings if str(v).lower() in wanted)
    return column.in_(vals) if vals else literal(False)


def epoch_seconds(col: Any, dialect: str) -> Any:
    """A timestamp column as float seconds since 1970 (UTC) computed by the database:
    numbers cross the driver far faster than datetimes."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", col), Float)
    # SQLite keeps a time as whole milliseconds and julianday() returns them as a float
    # day number, ~40 µs of noise at today's dates: a change at 16:00:00 UTC came back as
    # 15:59:59.999987, the day before in UTC+8. Rounded to the millisecond it is exact.
    return func.round((func.julianday(col) - 2440587.5) * 86400.0, 3)


def day_number(col: Any, dialect: str) -> Any:
    """A date column as days since 1970-01-01 (integer), computed by the database."""
    if dialect == "postgresql":
        return col - literal(dt.date(1970, 1, 1))
    return cast(func.julianday(col) - 2440587.5, Integer)


def from_epoch(values: pd.Series) -> pd.Series:
    # Float epochs carry binary noise below the microsecond (01:00:00 came back as
    # 00:59:59.999986649): round to the store's precision.
    return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="s", utc=True).dt.round("us")


def from_day_number(values: pd.Series) -> pd.Series:
    return pd.to_datetime(pd.to_numeric(values, errors="coerce"), unit="D")
