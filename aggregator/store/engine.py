"""Opening the store: engine creation, dialect tuning and migrations on first use."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

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
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// would pick psycopg2, which we do not ship; psycopg 3 it is.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def alembic_config(engine: Engine | None = None) -> Config:
    migrations = resources.files("aggregator.store") / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def open_store(url: str = DEFAULT_URL, *, migrate: bool = True, **kwargs: Any) -> Engine:
    """Engine for ``url``, migrated to head on first use."""
    engine = create_store_engine(url, **kwargs)
    if migrate and current_revision(engine) != head_revision():
        log.info(
            "migrating store %s to %s",
            engine.url.render_as_string(hide_password=True),
            head_revision(),
        )
        upgrade(engine)
    return engine
