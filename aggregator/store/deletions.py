"""Soft deletion: rows a source no longer has get ``deleted_at`` (never a DELETE), so a
wrong answer from a tracker can be undone by the next good sync."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    String,
    Table,
    bindparam,
    exists,
    func,
    select,
    true,
    update,
)

from pmohub.aggregator.store.bulk import (
    IN_CHUNK,
    chunks,
    dialect_insert,
    id_list,
    in_list,
    links_t,
    none_of,
    not_in_list,
    now_utc,
    prepare,
)
from pmohub.aggregator.store.locks import begin_write


def soft_delete_missing(
    conn: Connection,
    table: Table,
    source: str,
    present: Collection[str],
    *,
    within: ColumnElement[bool] | None = None,
    at: dt.datetime | None = None,
) -> int:
    """Soft-delete live rows of ``source`` (optionally narrowed by ``within``) whose
    external_id is not in ``present`` (a small set: one page, a list of sprints). For a
    whole-tracker census use :func:`soft_delete_not_in_census`, which streams."""
    at = at or now_utc()
    cond = within if within is not None else true()
    present_list = sorted(set(present))
    if len(present_list) > IN_CHUNK:
        return soft_delete_not_in_census(conn, table, source, present_list, within=within, at=at)
    stmt = (
        update(table)
        .where(table.c.source == source, table.c.deleted_at.is_(None), cond)
        .values(deleted_at=at)
    )
    if present_list:
        stmt = stmt.where(none_of(conn, table.c.external_id, present_list))
    return conn.execute(stmt).rowcount


def soft_delete_children(
    conn: Connection,
    table: Table,
    source: str,
    owners: Sequence[Any],
    present: Collection[str],
    *,
    at: dt.datetime | None = None,
) -> int:
    """Soft-delete the live rows of a child table (status_changes / worklogs: owners are
    ``work_item_id``s; work_item_links: ``from_external_id``s) belonging to ``owners``
    whose external_id is not in ``present``. One statement compiled once: the id lists
    travel as single parameters."""
    owner = table.c.from_external_id if table is links_t else table.c.work_item_id
    stmt = prepare(
        conn,
        ("prune_children", table.name),
        lambda: (
            update(table)
            .where(
                table.c.source == bindparam("source"),
                table.c.deleted_at.is_(None),
                in_list(conn, owner, "owners"),
                not_in_list(conn, table.c.external_id, "present"),
            )
            .values(deleted_at=bindparam("at", type_=table.c.deleted_at.type))
        ),
    )
    total = 0
    for chunk in chunks(list(owners)):
        total += stmt.query(
            conn,
            source=source,
            owners=id_list(conn, chunk),
            present=id_list(conn, sorted(present)),
            at=at or now_utc(),
        ).rowcount
    return total


@dataclass(frozen=True, slots=True)
class CensusCounts:
    """What a census found, before anything is deleted: ``live`` rows of the source in the
    store, ``listed`` distinct ids the tracker named, ``missing`` live rows it did not name
    (what the census would soft-delete) and ``returned`` soft-deleted rows it named again."""

    live: int
    listed: int
    missing: int
    returned: int


@dataclass(frozen=True, slots=True)
class CensusOutcome:
    counts: CensusCounts
    deleted: int  # rows soft-deleted (0 when the guard held the deletions back)
    restored: int  # soft-deleted rows the census named again, made live
    held: bool  # True when the guard refused the deletions


#: The guard sees the counts and says whether the deletions may go ahead.
CensusGuard = Callable[[CensusCounts], bool]


def _fill_census(conn: Connection, tmp: Table, census: Iterable[str], batch: int) -> None:
    ins = prepare(
        conn,
        ("census",),
        lambda: (
            dialect_insert(conn, tmp)
            .values(external_id=bindparam("external_id"))
            .on_conflict_do_nothing(index_elements=[tmp.c.external_id])
        ),
    )
    buf: list[dict[str, str]] = []
    for ext in census:
        buf.append({"external_id": ext})
        if len(buf) >= batch:
            ins.execute(conn, buf)
            buf = []
    if buf:
        ins.execute(conn, buf)


def census_rows(
    conn: Connection,
    table: Table,
    source: str,
    census: Iterable[str],
    *,
    guard: CensusGuard | None = None,
    restore: bool = False,
    within: ColumnElement[bool] | None = None,
    at: dt.datetime | None = None,
    batch: int = 1000,
) -> CensusOutcome:
    """Diff ``census`` (an id stream of any size) with the live rows of ``source``: ids go
    into a temporary table in batches (memory stays flat); the whole stream is consumed
    before anything changes, so a census that fails part-way deletes nothing.

    ``guard`` (the deletion circuit breaker) sees the counts first and may hold the
    deletions back: a tracker that answers "nothing" (a revoked permission, an outage page)
    must not wipe the source. With ``restore``, soft-deleted rows the census names again are
    made live whatever their ``updated_at``: an incremental fetch never re-reads an item that
    did not change, so without this a wrongly deleted item would stay deleted forever."""
    at = at or now_utc()
    cond = within if within is not None else true()
    tmp = Table(
        "pmohub_census",
        MetaData(),
        Column("external_id", String(255), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    tmp.drop(conn, checkfirst=True)
    tmp.create(conn)
    try:
        _fill_census(conn, tmp, census, batch)
        # Only now, with the stream (slow HTTP) consumed: other sources keep writing meanwhile.
        begin_write(conn)
        listed = tmp.c.external_id == table.c.external_id
        mine = (table.c.source == source) & cond

        def count(where: ColumnElement[bool]) -> int:
            return int(conn.execute(select(func.count()).where(mine, where)).scalar_one())

        counts = CensusCounts(
            live=count(table.c.deleted_at.is_(None)),
            listed=int(conn.execute(select(func.count()).select_from(tmp)).scalar_one()),
            missing=count(table.c.deleted_at.is_(None) & ~exists().where(listed)),
            returned=count(table.c.deleted_at.is_not(None) & exists().where(listed)),
        )
        restored = 0
        if restore and counts.returned:
            restored = conn.execute(
                update(table)
                .where(mine, table.c.deleted_at.is_not(None), exists().where(listed))
                .values(deleted_at=None)
            ).rowcount
        held = bool(counts.missing) and guard is not None and not guard(counts)
        deleted = 0
        if counts.missing and not held:
            deleted = conn.execute(
                update(table)
                .where(mine, table.c.deleted_at.is_(None), ~exists().where(listed))
                .values(deleted_at=at)
            ).rowcount
        return CensusOutcome(counts, deleted, restored, held)
    finally:
        tmp.drop(conn)


def soft_delete_not_in_census(
    conn: Connection,
    table: Table,
    source: str,
    census: Iterable[str],
    *,
    within: ColumnElement[bool] | None = None,
    at: dt.datetime | None = None,
    batch: int = 1000,
) -> int:
    """Soft-delete live rows of ``source`` missing from ``census`` (no guard, no restore):
    see :func:`census_rows`."""
    return census_rows(conn, table, source, census, within=within, at=at, batch=batch).deleted
