"""The migrated schema equals the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.engine import current_revision, head_revision
from pmohub.aggregator.store.models import Source, metadata

CORE_TABLES = {
    "sources",
    "projects",
    "people",
    "person_aliases",
    "work_items",
    "status_changes",
    "worklogs",
    "iterations",
    "milestones",
    "work_item_links",
    "sync_state",
    "sync_runs",
    "findings",
    "waivers",
    "snapshots",
    "baselines",
}


def test_migrated_schema_equals_models(store_url: str) -> None:
    engine = open_store(store_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], f"migrations and models differ: {diff}"
    assert CORE_TABLES <= set(inspect(engine).get_table_names())
    assert current_revision(engine) == head_revision()


def test_open_store_is_idempotent_and_round_trips_utc(store_url: str) -> None:
    engine = open_store(store_url)
    engine = open_store(store_url)  # second open: no migration, no error
    at = dt.datetime(2026, 5, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with engine.begin() as conn:
        conn.execute(insert(Source.__table__).values(name="s", type="spreadsheet", created_at=at))
        got = conn.execute(select(Source.__table__.c.created_at)).scalar_one()
    assert got == at and got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)


def test_naive_datetime_is_refused(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    with pytest.raises(Exception, match="naive datetime"), engine.begin() as conn:
        conn.execute(
            insert(Source.__table__).values(name="s", type="x", created_at=dt.datetime(2026, 1, 1))
        )
