"""The page upsert (bulk.upsert_statement) on both databases, including PostgreSQL's
one-statement ``unnest`` form for the tables without a parent subquery: row order numbers
the ids, only new/changed/revived rows are written, and a value too long for its column is
refused, never cut."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select, update

from pmohub.aggregator.store import bulk, open_store
from pmohub.aggregator.store import writes as w
from pmohub.connectors.records import WorkItem

AT = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
LATER = AT + dt.timedelta(days=1)


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = open_store(store_url)
    with engine.begin() as conn:
        w.upsert_source(conn, "s", "test")
        w.upsert_work_items(
            conn,
            "s",
            [
                WorkItem(
                    source="s",
                    external_id="1",
                    key="K-1",
                    project_key="K",
                    title="t",
                    type="Task",
                    status="To Do",
                    status_category="todo",
                )
            ],
            at=AT,
        )
    yield engine
    engine.dispose()


def change(ext: str, to: str, at: dt.datetime = AT) -> tuple[object, ...]:
    return ("s", ext, 1, "status", None, to, AT, None, at, None, f"h-{to}")


def stored(engine: Engine) -> list[tuple[object, ...]]:
    t = bulk.status_changes_t
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(t.c.id, t.c.external_id, t.c.to_value, t.c.synced_at).order_by(t.c.id)
            )
        ]


def test_the_page_upsert_numbers_in_row_order_and_writes_only_what_changed(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        bulk.upsert_rows(
            conn,
            bulk.status_changes_t,
            w.CHANGE_COLUMNS,
            [change(e, "a") for e in ("c3", "c1", "c2")],
        )
    first = stored(engine)
    assert [r[1] for r in first] == ["c3", "c1", "c2"]  # ids follow the rows' order
    with engine.begin() as conn:  # c1 soft-deleted: sent again, it is revived
        t = bulk.status_changes_t
        conn.execute(update(t).where(t.c.external_id == "c1").values(deleted_at=AT))
    with engine.begin() as conn:
        bulk.upsert_rows(
            conn,
            bulk.status_changes_t,
            w.CHANGE_COLUMNS,
            # c3 unchanged (same digest), c1 revived, c2 changed, c4 new
            [change("c3", "a", LATER), change("c1", "a", LATER), change("c2", "b", LATER)]
            + [change("c4", "a", LATER)],
        )
    rows = {r[1]: r for r in stored(engine)}
    assert rows["c3"] == first[0]  # not rewritten: synced_at stays put
    assert rows["c1"][3] == LATER and rows["c2"][2:] == ("b", LATER)
    assert rows["c4"][0] > max(r[0] for r in first)
    with engine.connect() as conn:
        t = bulk.status_changes_t
        assert conn.execute(select(t.c.deleted_at).where(t.c.external_id == "c1")).scalar() is None


def test_postgresql_refuses_a_value_too_long_instead_of_cutting_it(pg_url: str) -> None:
    engine = open_store(pg_url)
    with engine.begin() as conn:
        w.upsert_source(conn, "s", "test")
    row = list(change("c1", "a"))
    row[3] = "f" * 150  # status_changes.field is VARCHAR(100)
    with pytest.raises(Exception, match="value too long"), engine.begin() as conn:
        bulk.upsert_rows(conn, bulk.status_changes_t, w.CHANGE_COLUMNS, [tuple(row)])
    engine.dispose()
