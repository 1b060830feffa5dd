"""The bulk write machinery under every ``upsert_*``: the store's tables, dialect helpers,
and the hot statements compiled once per dialect and run on the driver cursor.

:func:`write_page` writes one page of rows the way the writers' docstring
(:mod:`.writes`) describes: one lookup of the page's natural keys, only new and changed rows
sent, in one executemany of a dialect upsert guarded by the content digest.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Executable,
    String,
    Table,
    all_,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.models import UTCDateTime

#: IN-lists are chunked below SQLite's bound-parameter limit (32766 since 3.32).
IN_CHUNK = 5000


def dialect_insert(conn: Connection, table: Table) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"store dialect {name!r} is not supported (SQLite, PostgreSQL)")


def one_of(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)``. On PostgreSQL as ``= ANY(:array)``: one parameter instead of
    hundreds, so psycopg parses and the server plans one short statement, not a new long
    one per page."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def none_of(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column NOT IN (values)`` (``<> ALL(:array)`` on PostgreSQL); never-NULL columns."""
    if conn.dialect.name == "postgresql":
        return column != all_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.not_in(values)


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


_LAST_DATETIME: tuple[Any, Any] = (None, None)


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME storage format for a UTCDateTime column."""
    global _LAST_DATETIME
    if value is None:
        return None
    last = _LAST_DATETIME
    if value is last[0]:  # ``synced_at``: one object for a whole page
        return last[1]
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} written to the store")
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" minus the offset (isoformat pads the year to 4)
    text = value.isoformat(" ", "microseconds")[:-6]
    _LAST_DATETIME = (value, text)
    return text


def _sqlite_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(value: Any) -> str:
    """SQLAlchemy's JSON type: ``json.dumps``, and None as JSON 'null' (none_as_null=False).
    Tuples (labels, components, sprint and version ids) repeat across a tracker, so their
    text is memoised; the memo is bounded."""
    if type(value) is tuple:
        text = _JSON_MEMO.get(value)
        if text is None:
            text = json.dumps(value)
            if len(_JSON_MEMO) >= 10_000:
                _JSON_MEMO.clear()
            _JSON_MEMO[value] = text
        return text
    if not value and type(value) is dict:
        return "{}"
    return json.dumps(value)


def _converter(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite":
        if isinstance(type_, UTCDateTime | DateTime):
            return _sqlite_datetime
        if isinstance(type_, Date):
            return _sqlite_date
        if isinstance(type_, JSON):
            return _json
    return type_.dialect_impl(dialect).bind_processor(dialect)


@dataclass(frozen=True, slots=True)
class Prepared:
    sql: str
    names: tuple[str, ...]  # bind names; positional order on '?' dialects
    positional: bool
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # (index in names, converter)
    values: Callable[[Mapping[str, Any]], Any]  # row -> its values in ``names`` order
    # for statements prepared with ``columns`` (the order of row tuples): per bind in
    # ``names`` order, its column's index and converter (a bind can appear twice, e.g.
    # ``source`` in a subquery)
    plan: tuple[tuple[int, Callable[[Any], Any] | None], ...] | None = None
    # True when each bind takes a whole column as an array (``unnest``): the rows are one
    # execution, not one per row
    arrays: bool = False

    def params(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = list(self.values(row)) if len(self.names) > 1 else [self.values(row)]
        for i, convert in self.converters:
            values[i] = convert(values[i])
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    def row_params(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The driver parameters of row tuples in the ``columns`` order it was prepared
        with. Column by column: each converter is chosen once per statement and mapped
        over its column, and the rows are transposed and re-assembled by ``zip`` (no
        Python loop or type dispatch per row; the values are those :meth:`params`
        gives)."""
        assert self.plan is not None
        if not rows:
            return []
        cols = list(zip(*rows, strict=True))
        ordered = [cols[j] if c is None else list(map(c, cols[j])) for j, c in self.plan]
        if self.arrays:
            ordered = [list(col) for col in ordered]
            if self.positional:
                return [tuple(ordered)]
            return [dict(zip(self.names, ordered, strict=True))]
        if self.positional:
            return list(zip(*ordered, strict=True))
        return list(map(dict, map(zip, repeat(self.names), zip(*ordered, strict=True))))

    def execute_rows(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> Any:
        """Like :meth:`execute`, for row tuples in the ``columns`` order it was prepared
        with (no dict per row: the hot tables are written this way)."""
        params = self.row_params(rows)
        return conn.exec_driver_sql(self.sql, params if len(params) != 1 else params[0])

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> Any:
        """One execution per row, as one driver ``executemany`` when there are several."""
        params = [self.params(r) for r in rows]
        return conn.exec_driver_sql(self.sql, params if len(params) != 1 else params[0])

    def query(self, conn: Connection, **values: Any) -> Any:
        return conn.exec_driver_sql(self.sql, self.params(values))


def prepare(
    conn: Connection,
    key: tuple[Any, ...],
    build: Callable[[], Executable],
    columns: tuple[str, ...] | None = None,
    *,
    arrays: bool = False,
) -> Prepared:
    """The statement ``build()`` returns, compiled once per dialect and ``key``. With
    ``columns`` (the order of row tuples), it can run :meth:`Prepared.execute_rows`; with
    ``arrays``, each of its binds is an ARRAY of a column and converted element-wise."""
    dialect = conn.dialect
    cache_key = (dialect.name, dialect.driver, dialect.paramstyle, *key, columns, arrays)
    prepared = _PREPARED.get(cache_key)
    if prepared is None:
        compiled = build().compile(dialect=dialect)
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
        else:
            names = tuple(compiled.binds)
        if getattr(compiled, "escaped_bind_names", None):
            raise NotImplementedError(f"bind names need escaping: {compiled.escaped_bind_names}")
        types = [compiled.binds[name].type for name in names]
        if arrays:
            types = [t.item_type for t in types]
        converts = [_converter(t, dialect) for t in types]
        prepared = _PREPARED[cache_key] = Prepared(
            compiled.string,
            names,
            bool(compiled.positional),
            tuple((i, c) for i, c in enumerate(converts) if c is not None),
            itemgetter(*names) if names else (lambda row: ()),
            tuple(zip([columns.index(n) for n in names], converts, strict=True))
            if columns
            else None,
            arrays,
        )
    return prepared


def id_list(conn: Connection, values: Sequence[str]) -> Any:
    """The parameter value for :func:`in_list`."""
    return json.dumps(list(values)) if conn.dialect.name == "sqlite" else list(values)


def in_list(conn: Connection, column: Any, name: str) -> ColumnElement[bool]:
    """``column IN (<one parameter holding a list>)``: a statement that does not change
    with the list's length, so it is compiled once. SQLite: a JSON array read with
    ``json_each`` (each value probes the unique index); PostgreSQL: ``= ANY(:array)``."""
    if conn.dialect.name == "sqlite":
        each = func.json_each(bindparam(name, type_=String)).table_valued("value")
        return column.in_(select(each.c.value))
    return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))


def not_in_list(conn: Connection, column: Any, name: str) -> ColumnElement[bool]:
    """``column NOT IN (<one list parameter>)`` (``<> ALL(:array)`` on PostgreSQL; a
    negated ``= ANY`` would render as ``<> ANY``, which means something else)."""
    if conn.dialect.name == "sqlite":
        each = func.json_each(bindparam(name, type_=String)).table_valued("value")
        return column.not_in(select(each.c.value))
    return column != all_(bindparam(name, type_=postgresql.ARRAY(column.type)))


@dataclass(frozen=True, slots=True)
class Existing:
    id: int
    content_hash: str | None
    deleted: bool


def existing_rows(
    conn: Connection, table: Table, source: str, external_ids: Collection[str]
) -> dict[str, Existing]:
    found: dict[str, Existing] = {}
    ids = list(dict.fromkeys(external_ids))
    stmt = prepare(
        conn,
        ("existing", table.name),
        lambda: select(
            table.c.external_id,
            table.c.id,
            table.c.content_hash,
            table.c.deleted_at.is_not(None),
        ).where(
            table.c.source == bindparam("source"),
            in_list(conn, table.c.external_id, "ids"),
        ),
    )
    for chunk in chunks(ids):
        rows = stmt.query(conn, source=source, ids=id_list(conn, chunk)).fetchall()
        for ext, id_, digest, deleted in rows:
            found[ext] = Existing(id_, digest, bool(deleted))
    return found


def upsert_statement(conn: Connection, table: Table, columns: tuple[str, ...]) -> Prepared:
    """The page upsert of ``table`` for row tuples in ``columns`` order, compiled once per
    dialect: ``INSERT .. ON CONFLICT (source, external_id) DO UPDATE .. WHERE the digest
    differs or the row was soft-deleted`` (benchmarks/store_write.py runs this very text
    on the bare driver as its floor).

    On PostgreSQL, tables other than ``work_items`` insert the page as ONE statement, ``..
    SELECT * FROM unnest(<one array per column>) ON CONFLICT ..``: the same upsert and
    guard per row, in array order (so ids are numbered as an executemany numbers them),
    but one execution on the server instead of one per row. Work items keep the per-row
    executemany: their parent-id subquery must see the rows before it in the page, which
    rows of the same statement cannot. (A page never holds one natural key twice:
    ``write_page`` keeps the later copy, as ON CONFLICT in one statement requires.)"""
    arrays = conn.dialect.name == "postgresql" and table is not work_items_t

    def build() -> Executable:
        if arrays:
            typed = {c: postgresql.ARRAY(_array_item(table.c[c].type)) for c in columns}
            each = (
                func.unnest(*[cast(bindparam(c, type_=t), t) for c, t in typed.items()])
                .table_valued(*columns)
                .render_derived()
            )
            stmt = dialect_insert(conn, table).from_select(
                list(columns), select(*[each.c[c] for c in columns])
            )
            names: Iterable[str] = columns
        else:
            values: dict[str, Any] = {c: bindparam(c, type_=table.c[c].type) for c in columns}
            if table is work_items_t and "parent_external_id" in values:
                # The parent's id, when the parent is stored already or earlier in this very
                # executemany (each row sees the rows before it): an index probe here spares
                # an UPDATE per child afterwards. resolve_parents still settles the rest.
                parent = work_items_t.alias("parent")
                values["parent_id"] = (
                    select(parent.c.id)
                    .where(
                        parent.c.source == values["source"],
                        parent.c.external_id == values["parent_external_id"],
                    )
                    .scalar_subquery()
                )
            stmt = dialect_insert(conn, table).values(values)
            names = values
        set_ = {c: stmt.excluded[c] for c in names if c not in ("source", "external_id")}
        return stmt.on_conflict_do_update(
            index_elements=[table.c.source, table.c.external_id],
            set_=set_,
            where=table.c.content_hash.is_distinct_from(stmt.excluded.content_hash)
            | table.c.deleted_at.is_not(None),
        )

    return prepare(conn, ("upsert", table.name), build, columns, arrays=arrays)


def _array_item(type_: Any) -> Any:
    """The element type of an ``unnest`` array for a column of ``type_``: strings without
    their length, since an explicit cast to ``varchar(n)`` truncates silently where the
    INSERT's own assignment to the column refuses a value that is too long."""
    return String() if isinstance(type_, String) else type_


def upsert_rows(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert or update ``rows`` (tuples in ``columns`` order) in one executemany.

    No RETURNING on purpose: without it both drivers run a plain ``executemany`` of one
    short statement (psycopg pipelines it), whereas RETURNING makes SQLAlchemy render one
    huge multi-VALUES statement per batch that psycopg re-parses every time. The ids of the
    new rows are read back with one indexed SELECT instead."""
    if rows:
        upsert_statement(conn, table, columns).execute_rows(conn, rows)


def write_page(
    conn: Connection,
    table: Table,
    source: str,
    rows: list[dict[str, Any]] | list[tuple[Any, ...]],
    counts: WriteCounts,
    *,
    columns: tuple[str, ...] | None = None,
    want_ids: bool = True,
    new_ids: set[str] | None = None,
) -> dict[str, int]:
    """Diff ``rows`` (dicts, or tuples in ``columns`` order; with ``external_id`` and
    ``content_hash``) against the store, write the new and changed ones; return
    external_id -> id for every row of the page (with ``want_ids=False``, only for the rows
    that were already stored: callers that need no ids spare the read-back of the new
    rows)."""
    if not rows:
        return {}
    if columns is None:
        columns = tuple(rows[0])
        rows = [tuple(r.values()) for r in rows]  # type: ignore[union-attr]
    tuples: list[tuple[Any, ...]] = rows  # type: ignore[assignment]
    at_ext, at_hash = columns.index("external_id"), columns.index("content_hash")
    existing = existing_rows(conn, table, source, [r[at_ext] for r in tuples])
    ids = {ext: e.id for ext, e in existing.items()}
    todo: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for row in tuples:
        ext = row[at_ext]
        if ext in seen:
            # The same record twice in one page (a tracker paging over a moving result
            # set): the later copy wins; the earlier one is dropped, not double counted.
            todo = [r for r in todo if r[at_ext] != ext]
        seen.add(ext)
        old = existing.get(ext)
        if old is None:
            todo.append(row)
        elif old.deleted or old.content_hash != row[at_hash]:
            todo.append(row)
        else:
            counts.unchanged += 1
    if todo:
        upsert_rows(conn, table, columns, todo)
        new = [row[at_ext] for row in todo if row[at_ext] not in existing]
        if new_ids is not None:
            new_ids.update(new)
        counts.inserted += len(new)
        counts.updated += len(todo) - len(new)
        if new and want_ids:
            ids.update({ext: e.id for ext, e in existing_rows(conn, table, source, new).items()})
    return ids


#: Problems kept per write call (all are counted; the messages are capped so a file of a
#: million bad rows cannot fill memory or the sync_runs row).
MAX_PROBLEMS = 1000


projects_t: Table = m.Project.__table__  # type: ignore[assignment]


people_t: Table = m.Person.__table__  # type: ignore[assignment]


aliases_t: Table = m.PersonAlias.__table__  # type: ignore[assignment]


work_items_t: Table = m.WorkItem.__table__  # type: ignore[assignment]


status_changes_t: Table = m.StatusChange.__table__  # type: ignore[assignment]


worklogs_t: Table = m.Worklog.__table__  # type: ignore[assignment]


links_t: Table = m.WorkItemLink.__table__  # type: ignore[assignment]


iterations_t: Table = m.Iteration.__table__  # type: ignore[assignment]


milestones_t: Table = m.Milestone.__table__  # type: ignore[assignment]


sources_t: Table = m.Source.__table__  # type: ignore[assignment]


@dataclass
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: WriteCounts) -> WriteCounts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        room = MAX_PROBLEMS - len(self.problems)
        if room > 0:
            self.problems.extend(other.problems[:room])
        return self

    def problem(self, message: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_JSON_MEMO: dict[tuple[Any, ...], str] = {}


_PREPARED: dict[tuple[Any, ...], Prepared] = {}
