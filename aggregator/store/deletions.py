"""Soft deletion: rows a source no longer has get ``deleted_at`` (never a DELETE), so a
wrong answer from a tracker can be undone by the next good sync."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
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
    """Soft-delete live rows of ``source`` missing from ``census``, an id stream of any
    size: ids go into a temporary table in batches (memory stays flat), then one
    ``UPDATE .. WHERE NOT EXISTS``. Consumes the whole stream before deleting anything, so
    a census that fails part-way deletes nothing."""
    at = at or now_utc()
    tmp = Table(
        "pmohub_census",
        MetaData(),
        Column("external_id", String(255), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    tmp.drop(conn, checkfirst=True)
    tmp.create(conn)
    try:
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
        cond = within if within is not None else true()
        stmt = (
            update(table)
            .where(
                table.c.source == source,
                table.c.deleted_at.is_(None),
                cond,
                ~exists().where(tmp.c.external_id == table.c.external_id),
            )
            .values(deleted_at=at)
        )
        return conn.execute(stmt).rowcount
    finally:
        tmp.drop(conn)
