"""A sync leaves SQLite table statistics, so the prune of vanished children searches by
item, not every row of the source (aggregator/ingest/sqlite_stats.py)."""

from __future__ import annotations

from sqlalchemy import text
from test_jira_connector import connector, fresh_site

from pmohub.aggregator.ingest.sqlite_stats import ensure_sqlite_statistics
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import status_changes_t
from pmohub.emulators.jira.server import JiraEmulator

PRUNE_SHAPE = (
    "EXPLAIN QUERY PLAN UPDATE status_changes SET deleted_at = :at WHERE source = :source "
    "AND deleted_at IS NULL AND work_item_id IN (SELECT value FROM json_each(:owners)) "
    "AND external_id NOT IN (SELECT value FROM json_each(:present))"
)


def test_sync_writes_statistics_once_and_the_prune_searches_by_item(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    with JiraEmulator(fresh_site(issues=60), deployment="datacenter") as emu:
        assert sync_source(engine, connector(emu)).status == "ok"
    with engine.connect() as conn:
        stats = set(conn.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1")).scalars())
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                text(PRUNE_SHAPE),
                {"at": "x", "source": "jira_main", "owners": "[1]", "present": "[]"},
            )
        )
    assert {"work_items", "status_changes", "worklogs"} <= stats
    assert "work_item_id" in plan and "(source=?)" not in plan
    assert ensure_sqlite_statistics(engine, (status_changes_t,)) == []  # not repeated
