"""SQLite table statistics for the sync's child-table lookups, written once per store.

SQLite plans from ``sqlite_stat1``, which nothing writes unless asked. Without it the
prune of an item's vanished children (``deletions.soft_delete_children``: ``source = ?
AND work_item_id IN (...)``) searches the ``(source, external_id)`` unique index, i.e.
every row of the source: 135 ms per statement at 74,000 status changes instead of under
1 ms by ``work_item_id`` (benchmarks/jira_sync.py, a 1% incremental run). A bounded
``ANALYZE`` (``analysis_limit``: ~50 ms at that size) of each sync table that has no
statistics yet fixes the plan; the proportions it records (many rows per source, a few
per item) hold as the store grows, so it is not repeated. PostgreSQL keeps its own
statistics (``aggregator.ingest.sync._refresh_statistics``).
"""

from __future__ import annotations

from sqlalchemy import Engine, Table, text

#: rows sampled per index; plenty to tell "one value per source" from "a few per item"
ANALYSIS_LIMIT = 1000


def ensure_sqlite_statistics(engine: Engine, tables: tuple[Table, ...]) -> list[str]:
    """ANALYZE the ``tables`` that have no ``sqlite_stat1`` rows yet; returns their names."""
    if engine.dialect.name != "sqlite":
        return []
    with engine.begin() as conn:
        has_stats = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
        ).first()
        done: set[str] = set()
        if has_stats:
            done = set(conn.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1")).scalars())
        todo = [t.name for t in tables if t.name not in done]
        if todo:
            conn.execute(text(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}"))
            for name in todo:
                conn.execute(text(f'ANALYZE "{name}"'))
    return todo
