"""Alembic environment: runs on the engine handed over by ``aggregator.store.engine``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from pmohub.aggregator.store.models import metadata

config = context.config


def run_migrations_online() -> None:
    engine: Engine = config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
