"""The nightly's status roll-up, served again while nothing it was computed from changed.

Computing the status reads every work item, baseline, worklog and status change (seconds
at a million items); the PMO asks for it many times a day, mostly after the nightly has
just computed it. :func:`aggregator.status.snapshots.take_snapshots` stores its result for the
business date in ``status_cache`` with a *fingerprint*; :func:`current_status` answers
from that row while the fingerprint still matches, else computes live.

The fingerprint is the SHA-256 of

* the store's change counters (:mod:`aggregator.store.revisions`): every sync page that
  changed rows, every check run and every baseline bumps one in the same transaction as
  its change, so no committed change can leave the fingerprint as it was;
* the config's :meth:`~aggregator.config.loader.Config.digest` (hierarchy, policy, calendars,
  thresholds, status maps);
* the code: the package version and the source of every module of the packages that
  compute the numbers (:data:`CODE_PACKAGES`: status, config, compliance, store, rules;
  an upgrade, a local edit or a new module never serves numbers of the old code);
* the business date itself (one row per date).

It is read *before* the data: a sync committing while the status is being computed leaves
a fingerprint older than the numbers, which the next call sees as stale and recomputes -
the safe direction. A project's status depends on the others (type medians for unestimated
items fall back to all projects), so there is no per-project reuse: any change anywhere
recomputes everything, which is what makes a cached answer exact rather than close.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.util
import json
import logging
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, Engine, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from pmohub.aggregator.status.rollup import StatusReport, project_status
from pmohub.aggregator.status.settings import calendar_warnings, settings_for
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.revisions import read_revisions

log = logging.getLogger(__name__)
cache_t = m.StatusCache.__table__
KEEP_DAYS = 7

#: Packages whose code decides the numbers: every ``.py`` file under them (sub-packages
#: too) goes into the fingerprint, so a module added, renamed or split there is never
#: missed (a hand-kept list of modules once named one that had been split away).
CODE_PACKAGES = (
    "pmohub.aggregator.status",
    "pmohub.aggregator.config",
    "pmohub.aggregator.compliance",
    "pmohub.aggregator.store",
    "pmohub.rules",
)


def package_files(name: str) -> list[Path]:
    """Every ``.py`` file of package ``name``, sorted, located without importing the
    package's modules (the served path must not pay for importing the rule catalogue)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"status cache: code package {name} not found")
    return sorted(f for root in spec.submodule_search_locations for f in Path(root).rglob("*.py"))


@functools.cache
def code_digest() -> str:
    h = hashlib.sha256()
    for name in ("pmohub", "chinesecalendar", "pandas"):
        try:
            h.update(f"{name}={metadata.version(name)};".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name}=?;".encode())
    for package in CODE_PACKAGES:
        spec = importlib.util.find_spec(package)
        roots = [Path(r) for r in spec.submodule_search_locations] if spec else []
        for file in package_files(package):
            # The path inside the package too: a renamed module changes the digest.
            rel = next(str(file.relative_to(r)) for r in roots if file.is_relative_to(r))
            h.update(f"{package}/{rel}\0".encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def status_fingerprint(engine: Engine, config: Any, as_of: dt.date) -> str:
    """The fingerprint of the status of ``as_of`` computed from the store as it is now."""
    with engine.connect() as conn:
        revisions = read_revisions(conn)
    text = json.dumps(
        {
            "as_of": as_of.isoformat(),
            "code": code_digest(),
            "config": config.digest(),
            "revisions": revisions,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    # A date inside a list or dict: top-level cells are tagged by _tag, nested ones are
    # refused rather than read back as text.
    raise TypeError(f"cannot store {type(value).__name__} in the status cache")


def _tag(value: Any) -> Any:
    """An object column's cell in JSON terms: dates, timestamps and NaN (orjson writes
    NaN as null, but NaN and None are different cells) tagged."""
    if isinstance(value, float) and value != value:
        return {"$nan": 1}
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        return {"$ts": pd.Timestamp(value).isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "$ts" in value:
            return pd.Timestamp(value["$ts"])
        if "$date" in value:
            return dt.date.fromisoformat(value["$date"])
        if "$nan" in value:
            return float("nan")
    return value


def _to_text(frame: pd.DataFrame) -> str:
    """A frame as JSON that reads back equal, dtypes included: column by column with its
    dtype, floats in their shortest exact form (pandas' own JSON keeps 15 digits at
    most), timestamps as ISO text with their unit restored from the dtype, and an object
    column's dates, timestamps and NaN tagged (``tagged`` says which columns to scan on
    the way back: the big list columns need no pass). orjson: 4x faster than json."""
    columns = []
    for name, col in frame.items():
        tagged = False
        if col.dtype.kind == "M":
            values: list[Any] = [None if pd.isna(v) else v.isoformat() for v in col]
        elif col.dtype == object:
            values = [_tag(v) for v in col.tolist()]
            tagged = any(type(v) is dict for v in values)
        else:
            values = col.tolist()
        columns.append({"name": name, "dtype": str(col.dtype), "tagged": tagged, "values": values})
    return orjson.dumps(
        {"columns": columns}, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME
    ).decode()


def _from_text(text: str) -> pd.DataFrame:
    data = {}
    for c in orjson.loads(text)["columns"]:
        dtype, values = c["dtype"], c["values"]
        if dtype.startswith("datetime64"):
            aware = "," in dtype  # datetime64[ns, UTC]: all-NaT text parses naive
            col = pd.Series(pd.to_datetime(values, format="ISO8601", utc=aware)).astype(dtype)
        elif dtype == "object":
            col = pd.Series([_untag(v) for v in values] if c["tagged"] else values, dtype=object)
        else:
            col = pd.Series(values).astype(dtype)
        data[c["name"]] = col
    return pd.DataFrame(data)


def upsert_status_cache(
    conn: Connection, report: StatusReport, fingerprint: str, *, at: dt.datetime
) -> None:
    """Store ``report`` as the status of its date at ``fingerprint`` (replacing the date's
    previous row), inside the caller's transaction. Rows of dates more than
    :data:`KEEP_DAYS` away go: a row is megabytes at portfolio scale, and one of a date
    long past is never asked for again (a past ``--as-of`` reads the snapshots)."""
    row = {
        "as_of": report.as_of,
        "fingerprint": fingerprint,
        "computed_at": at,
        "projects": _to_text(report.projects),
        "programmes": _to_text(report.programmes),
        "portfolios": _to_text(report.portfolios),
        "notes": list(report.notes),
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(cache_t).values(**row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[cache_t.c.as_of],
            set_={c: stmt.excluded[c] for c in row if c != "as_of"},
        )
    )
    keep = dt.timedelta(days=KEEP_DAYS)
    conn.execute(
        delete(cache_t).where(
            or_(cache_t.c.as_of < report.as_of - keep, cache_t.c.as_of > report.as_of + keep)
        )
    )


def read_status_cache(engine: Engine, as_of: dt.date, fingerprint: str) -> StatusReport | None:
    """The stored status of ``as_of`` when it was computed at ``fingerprint``, else None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                cache_t.c.computed_at,
                cache_t.c.projects,
                cache_t.c.programmes,
                cache_t.c.portfolios,
                cache_t.c.notes,
            ).where(cache_t.c.as_of == as_of, cache_t.c.fingerprint == fingerprint)
        ).first()
    if row is None:
        return None
    computed_at, projects, programmes, portfolios, notes = row
    report = StatusReport(
        as_of, _from_text(projects), _from_text(programmes), _from_text(portfolios)
    )
    report.notes.extend(notes or [])
    report.computed_at = computed_at
    return report


def current_status(
    engine: Engine, config: Any, as_of: dt.date, *, store: bool = True
) -> StatusReport:
    """``pmohub status``: the stored status of ``as_of`` when the store, the config and
    the code are as they were when it was computed, else computed now (the day-constant
    flow metrics from the day's snapshot, see ``project_status(use_snapshot=True)``) and,
    with ``store``, stored for the next call: after a daytime sync only the first
    ``pmohub status`` pays for the computation."""
    fingerprint = status_fingerprint(engine, config, as_of)
    report = read_status_cache(engine, as_of, fingerprint)
    if report is None:
        log.debug("status of %s: computed (no stored result at this fingerprint)", as_of)
        report = project_status(engine, config, as_of, use_snapshot=True)
        if store:
            _store_quietly(engine, report, fingerprint)
        return report
    log.debug("status of %s: stored result at fingerprint %s", as_of, fingerprint[:12])
    s = settings_for(config)  # (a computation builds its own)
    local = report.computed_at.astimezone(ZoneInfo(s.timezone))
    report.notes.append(f"computed at {local:%Y-%m-%d %H:%M}; the store has not changed since")
    report.warnings.extend(calendar_warnings(s, as_of))
    return report


def _store_quietly(engine: Engine, report: StatusReport, fingerprint: str) -> None:
    """Keep a computed status for reuse; a store this user may only read (a read-only
    PostgreSQL role, a read-only SQLite file) just means the next call computes again."""
    try:
        with engine.begin() as conn:
            upsert_status_cache(conn, report, fingerprint, at=dt.datetime.now(dt.UTC))
    except DBAPIError as exc:
        log.info("status of %s not kept for reuse: %s", report.as_of, exc.orig or exc)


__all__ = [
    "CODE_PACKAGES",
    "code_digest",
    "current_status",
    "package_files",
    "read_status_cache",
    "status_fingerprint",
    "upsert_status_cache",
]
