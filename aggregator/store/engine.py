"""Opening the store: engine creation, dialect tuning and migrations on first use."""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, column, create_engine, event, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pmohub.aggregator.store.migrate import (
    backup_sqlite,
    migration_engine,
    repair_half_applied,
    secure_new_sqlite_file,
)

if TYPE_CHECKING:
    from alembic.config import Config

# alembic (with mako and pygments) costs ~0.6 s to import: every CLI command opens the
# store, so it is imported only when a migration (or its metadata) is really needed.

log = logging.getLogger("pmohub.store")

DEFAULT_URL = "sqlite:///pmohub.db"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets report readers run while a sync writes; busy_timeout makes a second writer
    # wait instead of failing at once; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_store_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` with our dialect settings (no migrations)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            secure_new_sqlite_file(url)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// would pick psycopg2, which we do not ship; psycopg 3 it is.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    migrations = resources.files("pmohub.aggregator.store") / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _plain_upgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(migration_engine(engine, _sqlite_pragmas)), revision)


def upgrade(engine: Engine, revision: str = "head", *, backup: bool = True) -> list[str]:
    """Apply migrations up to ``revision`` (idempotent), safely (aggregator/store/migrate.py):
    a SQLite store left half-migrated by an older version is repaired first, an existing
    SQLite file is backed up before it changes, and the DDL runs in one transaction.
    Returns what was repaired or backed up, for the caller to show."""
    from alembic.script import ScriptDirectory

    notes: list[str] = []
    current = current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config())
    target = script.get_current_head() if revision == "head" else revision
    notes += repair_half_applied(engine, current, _plain_upgrade)
    if current is not None and current != target and backup:
        saved = backup_sqlite(engine, current)
        if saved is not None:
            notes.append(f"backup of revision {current}: {saved}")
    _plain_upgrade(engine, revision)
    return notes


_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(.+)$", re.M)


def _head_revision_fast() -> str | None:
    """The single head of the migration chain from the version files' ``revision`` /
    ``down_revision`` lines, without importing alembic; None when unsure (branches,
    unusual syntax), so the caller asks alembic."""
    revisions: set[str] = set()
    downs: set[str] = set()
    versions = resources.files("pmohub.aggregator.store") / "migrations" / "versions"
    for f in versions.iterdir():
        if not f.name.endswith(".py") or f.name.startswith("__"):
            continue
        found = dict(m.groups() for m in _REVISION.finditer(f.read_text(encoding="utf-8")))
        rev = re.fullmatch(r"[\"']([^\"']+)[\"']", found.get("revision", "").strip())
        down = found.get("down_revision", "").strip()
        if rev is None or not re.fullmatch(r"None|[\"'][^\"']+[\"']", down):
            return None
        revisions.add(rev.group(1))
        if down != "None":
            downs.add(down.strip("\"'"))
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def _is_at_head(engine: Engine) -> bool:
    """True when the store is known to be at the head revision (fast path: one SELECT)."""
    head = _head_revision_fast()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(column("version_num")).select_from(table("alembic_version"))
            ).fetchall()
    except SQLAlchemyError:  # no version table yet: a new store
        return False
    return [r[0] for r in rows] == [head]


def open_store(url: str = DEFAULT_URL, *, migrate: bool = True, **kwargs: Any) -> Engine:
    """Engine for ``url``, migrated to head on first use."""
    engine = create_store_engine(url, **kwargs)
    if migrate and not _is_at_head(engine) and current_revision(engine) != head_revision():
        log.info(
            "migrating store %s to %s",
            engine.url.render_as_string(hide_password=True),
            head_revision(),
        )
        upgrade(engine)
    return engine
