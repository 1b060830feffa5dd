"""Change counters of the store, for caches that must never serve stale results.

Every writer that changes what a roll-up reads bumps its counter *in the same transaction*
as the change (``bump_revision(conn, name)``): a sync bumps ``source:<name>`` with every
page that inserted, updated or deleted rows (pages that changed nothing bump nothing), the
check run bumps ``findings``, ``pmohub baseline take`` bumps ``baselines``. A result computed after reading :func:`read_revisions` is current for as
long as the counters read the same: the commit that changes data changes a counter.

Why counters and not triggers: SQLite has only row-level triggers, which would add one
UPDATE per written row to a million-row first load; one UPDATE per changed page is free.
Why one row per source: two sources syncing in parallel on PostgreSQL would otherwise
queue on one row lock until each page commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from pmohub.aggregator.store import models as m

revisions_t = m.Revision.__table__


def source_revision(source: str) -> str:
    return f"source:{source}"


def bump_revision(conn: Connection, name: str, *, at: dt.datetime | None = None) -> None:
    """Add one to counter ``name`` (created at 1) inside the caller's transaction. One
    upsert: the first bump creates the row, and two first bumps racing (two check runs)
    both count."""
    at = at or dt.datetime.now(dt.UTC)
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(revisions_t).values(name=name, rev=1, changed_at=at)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[revisions_t.c.name],
            set_={"rev": revisions_t.c.rev + 1, "changed_at": stmt.excluded.changed_at},
        )
    )


def read_revisions(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(revisions_t.c.name, revisions_t.c.rev)).fetchall()
    return {name: int(rev) for name, rev in rows}


__all__ = ["bump_revision", "read_revisions", "revisions_t", "source_revision"]
