"""``pmohub export``: the ``bi_v1_*`` views written as Parquet or CSV files (docs/bi.md).

One file per view (``fact_work_items.parquet``, ...) plus ``manifest.json`` (version, as-of,
row counts, column types). Types follow :mod:`aggregator.bi.contract` on every database:
integers stay integers with nulls (SQLite hands back whatever a column holds), ``ts``
columns are ``timestamp[us, tz=UTC]`` in Parquet and ISO 8601 with ``+00:00`` in CSV,
``date`` columns are ``date32`` / ``YYYY-MM-DD``.

CSV cells that a spreadsheet would run as a formula (text starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return) get a leading ``'`` (OWASP "CSV injection"); only
text columns are touched, so a negative number stays a number.

``as_of`` leaves out the events after that day (end of the day in the config's time zone):
items created, changes made, work logged, findings first seen and snapshots taken later.
The other attributes of a work item are its current ones (the store keeps no history of
titles or owners).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, text

from pmohub.aggregator.bi.contract import BOOL, DATE, FLOAT, INT, TS, VERSION, VIEWS, file_name
from pmohub.connectors.errors import PmohubError
from pmohub.rules.clock import DEFAULT_TZ

FORMATS = ("parquet", "csv")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: per view, the column whose time decides whether a row existed on the as-of day
EVENT_COLUMN = {
    "bi_v1_fact_work_items": "created_at",
    "bi_v1_fact_status_changes": "changed_at",
    "bi_v1_fact_worklogs": "started_at",
    "bi_v1_fact_findings": "first_seen_at",
}


def typed_frame(frame: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """The view's rows in the contract's pandas dtypes (nullable where SQL is)."""
    out = pd.DataFrame(index=frame.index)
    for name, kind in columns:
        col = frame[name]
        if kind == INT:
            out[name] = pd.to_numeric(col, errors="coerce").astype("Int64")
        elif kind == FLOAT:
            out[name] = pd.to_numeric(col, errors="coerce").astype("Float64")
        elif kind == BOOL:
            out[name] = col.map(lambda v: None if v is None or pd.isna(v) else bool(v)).astype(
                "boolean"
            )
        elif kind == TS:
            out[name] = pd.to_datetime(col, utc=True, format="ISO8601").astype(
                "datetime64[us, UTC]"
            )
        elif kind == DATE:
            out[name] = pd.to_datetime(col, format="ISO8601").dt.date.astype(object)
            out.loc[col.isna(), name] = None
        else:
            out[name] = col.astype("string")
    return out


def read_view_frame(engine: Engine, view: str, *, until: dt.datetime | None = None) -> pd.DataFrame:
    """One view as a typed DataFrame; ``until`` (UTC) drops rows of later events."""
    columns = VIEWS[view]
    with engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM {view}"))  # noqa: S608 (a contract name)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
    frame = typed_frame(frame, columns)
    if until is not None:
        if view in EVENT_COLUMN:
            at = frame[EVENT_COLUMN[view]]
            frame = frame[at.isna() | (at < until)]
        elif view == "bi_v1_fact_daily_status":
            day = until.date()
            frame = frame[frame["taken_on"].map(lambda d: d is not None and d < day)]
    return frame.reset_index(drop=True)


def arrow_schema(columns: list[tuple[str, str]]) -> Any:
    import pyarrow as pa

    types = {
        INT: pa.int64(),
        FLOAT: pa.float64(),
        BOOL: pa.bool_(),
        DATE: pa.date32(),
        TS: pa.timestamp("us", tz="UTC"),
    }
    return pa.schema([(name, types.get(kind, pa.string())) for name, kind in columns])


def neutralise_csv(frame: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Text cells a spreadsheet would evaluate as a formula, prefixed with ``'``."""
    out = frame.copy()
    for name, kind in columns:
        if kind == "str":
            out[name] = out[name].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v
            )
    return out


def write_table(frame: pd.DataFrame, view: str, fmt: str, out_dir: Path) -> Path:
    columns = VIEWS[view]
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = out_dir / f"{file_name(view)}.parquet"
        table = pa.Table.from_pandas(frame, schema=arrow_schema(columns), preserve_index=False)
        pq.write_table(table, path)
        return path
    path = out_dir / f"{file_name(view)}.csv"
    safe = neutralise_csv(frame, columns)
    for name, kind in columns:
        if kind == TS:
            safe[name] = safe[name].map(lambda v: None if pd.isna(v) else v.isoformat())
    safe.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def end_of_day(day: dt.date, config: Any) -> dt.datetime:
    tz = ZoneInfo(getattr(config, "timezone", None) or DEFAULT_TZ)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)


def export_bi(
    engine: Engine,
    config: Any,
    out_dir: Path,
    *,
    fmt: str = "parquet",
    as_of: dt.date | None = None,
    refresh_on: dt.date | None = None,
) -> dict[str, Path]:
    """Refresh the BI tables, then write every view to ``out_dir``; view -> file."""
    from pmohub.aggregator.bi.refresh import refresh_bi_tables

    if fmt not in FORMATS:
        raise PmohubError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise PmohubError(
                "Parquet needs pyarrow: pip install 'pmohub[bi]' (or use --format csv)"
            ) from None
    day = as_of or refresh_on or dt.datetime.now(dt.UTC).date()
    refresh_bi_tables(engine, config, as_of=day)
    out_dir.mkdir(parents=True, exist_ok=True)
    until = end_of_day(as_of, config) if as_of else None
    written, manifest = {}, []
    for view, columns in VIEWS.items():
        frame = read_view_frame(engine, view, until=until)
        written[view] = write_table(frame, view, fmt, out_dir)
        manifest.append(
            {
                "view": view,
                "file": written[view].name,
                "rows": len(frame),
                "columns": [{"name": n, "type": k} for n, k in columns],
            }
        )
    (out_dir / "manifest.json").write_text(
        json.dumps(
            {
                "bi_version": VERSION,
                "format": fmt,
                "as_of": as_of.isoformat() if as_of else None,
                "generated_at": dt.datetime.now(dt.UTC).isoformat(),
                "tables": manifest,
            },
            ensure_ascii=False,
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return written
