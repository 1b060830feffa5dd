"""Read-side summaries of what the store holds: sync history and per-source counts.

Plain dict rows (column name -> value) so the CLI can print them as a table, JSON or CSV
without knowing SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from pmohub.aggregator.store import models as m
from pmohub.connectors.base import WARNING_PREFIX

RUN_COLUMNS = (
    "id",
    "source",
    "mode",
    "status",
    "started_at",
    "finished_at",
    "fetched",
    "inserted",
    "updated",
    "deleted",
    "skipped",
    "cursor_before",
    "cursor_after",
    "error",
)

# table label -> model; "live" rows only (soft-deleted ones are history, not inventory)
COUNTED = {
    "projects": m.Project,
    "work_items": m.WorkItem,
    "people": m.PersonAlias,
    "status_changes": m.StatusChange,
    "worklogs": m.Worklog,
    "iterations": m.Iteration,
    "milestones": m.Milestone,
    "links": m.WorkItemLink,
}


def sync_run_rows(
    engine: Engine, *, source: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The latest ``limit`` sync runs, newest first, optionally for one source."""
    stmt = select(*(getattr(m.SyncRun, c) for c in RUN_COLUMNS), m.SyncRun.problems).order_by(
        m.SyncRun.started_at.desc(), m.SyncRun.id.desc()
    )
    if source:
        stmt = stmt.where(m.SyncRun.source == source)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt.limit(limit))]
    for row in rows:
        # warnings (a degraded field, a refused stream) are told apart from skipped records
        # by their prefix (connectors.base.WARNING_PREFIX); both stay in ``problems``
        problems = list(row.pop("problems") or ())
        row["warnings"] = sum(1 for p in problems if p.startswith(WARNING_PREFIX))
        row["problems"] = problems
    return rows


def source_counts(engine: Engine, sources: list[str] | None = None) -> list[dict[str, Any]]:
    """Per source: live rows in each synced table (``sources`` fixes the order and names)."""
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for label, model in COUNTED.items():
            stmt = (
                select(model.source, func.count())
                .where(model.deleted_at.is_(None))
                .group_by(model.source)
            )
            for src, n in conn.execute(stmt):
                counts.setdefault(src, {})[label] = n
    names = sources if sources is not None else sorted(counts)
    return [
        {"source": s, **{label: counts.get(s, {}).get(label, 0) for label in COUNTED}}
        for s in names
    ]
