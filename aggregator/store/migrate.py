"""Migrations that cannot brick the store (docs/data-safety.md "Migrations").

Three defences, each against a failure seen in the field (issue 13):

1. **Transactional DDL on SQLite.** pysqlite's legacy transaction handling never opens a
   transaction before ``CREATE``/``ALTER``: every statement of a migration committed on
   its own, so a kill half-way left tables without the ``alembic_version`` row that says
   they exist, and every later command failed with ``table job_runs already exists``.
   :func:`migration_engine` opens the file with the driver's own handling off
   (``isolation_level=None``) and emits ``BEGIN IMMEDIATE`` itself, so the whole upgrade
   (DDL and version row) commits at once or not at all. PostgreSQL's DDL is transactional.
2. **A backup of the SQLite file** before an upgrade of an existing store
   (``<file>.backup-<revision>-<UTC stamp>``, mode 0600 or ``PMOHUB_FILE_MODE``, written with SQLite's online
   backup API, so it is consistent even with a WAL).
3. **Recovery of a half-applied state** left by older versions: :func:`repair_half_applied`
   compares the file with a clean store at the revision ``alembic_version`` names; empty
   tables, columns and indexes beyond it (the interrupted step's) are dropped, and a
   batch-copy table ``_alembic_tmp_X`` is put back or dropped, so the upgrade can run
   again. A leftover table that holds rows is never dropped: the error names it.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pmohub.aggregator.safefiles import create_private
from pmohub.connectors.errors import PmohubError

log = logging.getLogger("pmohub.store")

_BATCH_TMP = "_alembic_tmp_"
_SQLITE_INTERNAL = {"alembic_version", "sqlite_sequence", "sqlite_stat1", "sqlite_stat4"}


class MigrationError(PmohubError):
    """The store cannot be brought to the target revision safely; says what to do."""


def sqlite_path(engine: Engine) -> Path | None:
    """The store's file, for a SQLite store on disk; else None."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser()


def migration_engine(engine: Engine, pragmas: Callable[[Any, Any], None]) -> Engine:
    """An engine for running migrations on ``engine``'s database: for SQLite one whose
    transactions really contain DDL (module docstring, 1.); else ``engine`` itself."""
    if engine.dialect.name != "sqlite":
        return engine
    mig = create_engine(engine.url, poolclass=NullPool)

    @event.listens_for(mig, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        pragmas(dbapi_conn, record)
        dbapi_conn.isolation_level = None  # we say BEGIN; the driver must not interfere

    @event.listens_for(mig, "begin")
    def _begin(conn: Any) -> None:
        # IMMEDIATE: take the write lock first, so no other writer interleaves with the DDL
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return mig


def backup_sqlite(engine: Engine, revision: str) -> Path | None:
    """Copy a SQLite store to ``<file>.backup-<revision>-<stamp>`` (mode 0600) before it
    is upgraded; None when there is nothing to back up (not SQLite, no file yet)."""
    path = sqlite_path(engine)
    if path is None or not path.exists() or path.stat().st_size == 0:
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.backup-{revision}-{stamp}")
    # O_EXCL: never write through a planted symlink or over an existing file
    create_private(target)  # O_EXCL, no symlink followed, 0600 / PMOHUB_FILE_MODE
    try:
        src = sqlite3.connect(path)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    log.info("backed up %s to %s before upgrading from %s", path, target, revision)
    return target


def _schema(engine: Engine) -> dict[str, dict[str, set[str]]]:
    """table -> {"columns": names, "indexes": names} of a SQLite store."""
    out: dict[str, dict[str, set[str]]] = {}
    insp = inspect(engine)
    for name in insp.get_table_names():
        out[name] = {
            "columns": {c["name"] for c in insp.get_columns(name)},
            "indexes": {i["name"] for i in insp.get_indexes(name) if i.get("name")},
        }
    # Views (the BI layer's) hold no rows: a leftover one is dropped without a count.
    for name in insp.get_view_names():
        out[name] = {"columns": set(), "indexes": set(), "view": {name}}
    return out


def reference_schema(
    revision: str | None, upgrade: Callable[[Engine, str], None]
) -> dict[str, dict[str, set[str]]]:
    """The schema of a clean SQLite store at ``revision`` (None: an empty one)."""
    if revision is None:
        return {}
    with tempfile.TemporaryDirectory(prefix="pmohub-ref-") as tmp:
        ref = create_engine(f"sqlite:///{Path(tmp) / 'ref.db'}", poolclass=NullPool)
        try:
            upgrade(ref, revision)
            return _schema(ref)
        finally:
            ref.dispose()


def repair_half_applied(
    engine: Engine, revision: str | None, upgrade: Callable[[Engine, str], None]
) -> list[str]:
    """Undo the leftovers of an interrupted, non-transactional migration of a SQLite store
    at ``revision`` (module docstring, 3.); returns what was done (empty: nothing to do)."""
    if sqlite_path(engine) is None:
        return []
    actual = _schema(engine)
    expected = reference_schema(revision, upgrade)
    extra_tables = sorted(t for t in actual if t not in expected and t not in _SQLITE_INTERNAL)
    extra_columns = {
        t: sorted(actual[t]["columns"] - expected[t]["columns"])
        for t in actual
        if t in expected and actual[t]["columns"] - expected[t]["columns"]
    }
    if not extra_tables and not extra_columns:
        return []
    done: list[str] = []
    with engine.begin() as conn:
        for name in [t for t in extra_tables if actual[t].get("view")]:
            conn.exec_driver_sql(f'DROP VIEW "{name}"')
            done.append(f"dropped view {name} (an interrupted migration's)")
        for name in [t for t in extra_tables if not actual[t].get("view")]:
            if name.startswith(_BATCH_TMP):
                original = name[len(_BATCH_TMP) :]
                if original not in actual:  # killed between DROP and RENAME: the copy is it
                    conn.exec_driver_sql(f'ALTER TABLE "{name}" RENAME TO "{original}"')
                    done.append(f"restored table {original} from its batch copy")
                    continue
                conn.exec_driver_sql(f'DROP TABLE "{name}"')
                done.append(f"dropped batch copy {name}")
                continue
            # name comes from sqlite_master, not from a user
            rows = conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()  # noqa: S608
            if rows:
                raise MigrationError(
                    f"table {name} exists with {rows} rows but the store's revision "
                    f"({revision or 'none'}) does not have it; restore the backup "
                    f"({sqlite_path(engine)}.backup-*) or ask for help"
                )
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
            done.append(f"dropped table {name} (an interrupted migration's)")
        for name, columns in extra_columns.items():
            for index in actual[name]["indexes"] - expected[name]["indexes"]:
                conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index}"')
                done.append(f"dropped index {index}")
            for column in columns:
                conn.exec_driver_sql(f'ALTER TABLE "{name}" DROP COLUMN "{column}"')
                done.append(f"dropped column {name}.{column} (an interrupted migration's)")
    for line in done:
        log.warning("store repair: %s", line)
    return done


def secure_new_sqlite_file(url: str) -> None:
    """Create a new SQLite store's file private (0600, or ``PMOHUB_FILE_MODE``) before
    SQLite creates it with the umask's mode (0644 on most systems: anyone on the host could
    read the portfolio). An existing file is left as it is. The WAL and shared-memory files
    SQLite adds take the main file's mode."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return
    path = Path(parsed.database).expanduser()
    if not path.exists():
        try:
            create_private(path)
        except FileExistsError:  # another process created it meanwhile: theirs stands
            pass
