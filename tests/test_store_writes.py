"""Store writers on real SQLite and PostgreSQL: counts, merges, resolution, soft deletes."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select

from pmohub.aggregator.store import deletions, open_store
from pmohub.aggregator.store import writes as w
from pmohub.connectors.records import Person, Project, StatusChange, WorkItem

T = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = open_store(store_url)
    with engine.begin() as conn:
        for name in ("jira", "sheet"):
            w.upsert_source(conn, name, "test")
    return engine


def item(ext: str, **kw: object) -> WorkItem:
    values: dict[str, object] = {
        "source": "jira",
        "external_id": ext,
        "key": f"P-{ext}",
        "project_key": "P",
        "title": f"item {ext}",
        "type": "Task",
        "status": "Open",
        "status_category": "todo",
        "updated_at": T,
    }
    values.update(kw)
    return WorkItem(**values)  # type: ignore[arg-type]


def test_counts_insert_update_unchanged_and_no_rewrite(engine: Engine) -> None:
    with engine.begin() as conn:
        counts, ids = w.upsert_work_items(conn, "jira", [item("1"), item("2")])
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)
    with engine.connect() as conn:
        before = conn.execute(select(w.work_items_t.c.synced_at).order_by("id")).scalars().all()
    with engine.begin() as conn:
        counts, ids2 = w.upsert_work_items(conn, "jira", [item("1"), item("2", title="new")])
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
    assert ids2 == ids
    with engine.connect() as conn:
        after = conn.execute(select(w.work_items_t.c.synced_at).order_by("id")).scalars().all()
    assert after[0] == before[0] and after[1] > before[1]


def test_parent_resolved_when_it_arrives_later(engine: Engine) -> None:
    with engine.begin() as conn:
        _, ids = w.upsert_work_items(conn, "jira", [item("child", parent_id="epic")])
    with engine.begin() as conn:
        _, more = w.upsert_work_items(conn, "jira", [item("epic")])
    with engine.connect() as conn:
        parent = conn.execute(
            select(w.work_items_t.c.parent_id).where(w.work_items_t.c.id == ids["child"])
        ).scalar_one()
    assert parent == more["epic"]


def test_people_merge_by_email_and_placeholders(engine: Engine) -> None:
    with engine.begin() as conn:
        # u9 is met first as a bare assignee id: a placeholder person is made for it
        _, ids = w.upsert_work_items(conn, "jira", [item("1", assignee="u9")])
        w.upsert_people(
            conn,
            "jira",
            [Person(source="jira", external_id="u1", display_name="Li Wei", email="Li@X.cn")],
        )
        counts = w.upsert_people(
            conn,
            "sheet",
            [Person(source="sheet", external_id="李伟", display_name="李伟", email="li@x.CN")],
        )
        assert counts.inserted == 1
        # the placeholder's real record names the same e-mail: it merges onto Li Wei
        w.upsert_people(
            conn,
            "jira",
            [Person(source="jira", external_id="u9", display_name="Li W.", email="LI@x.cn")],
        )
    with engine.connect() as conn:
        people = conn.execute(select(w.people_t.c.id)).scalars().all()
        aliases = dict(
            conn.execute(select(w.aliases_t.c.external_id, w.aliases_t.c.person_id)).all()
        )
        assignee = conn.execute(
            select(w.work_items_t.c.assignee_id).where(w.work_items_t.c.id == ids["1"])
        ).scalar_one()
    assert len(people) == 1
    assert aliases["u1"] == aliases["李伟"] == aliases["u9"] == assignee == people[0]


def test_placeholder_project_is_adopted(engine: Engine) -> None:
    with engine.begin() as conn:
        w.upsert_work_items(conn, "jira", [item("1", project_key="CRM")])
        counts = w.upsert_projects(
            conn, "jira", [Project(source="jira", external_id="10001", key="CRM", name="CRM")]
        )
    assert counts.updated == 1 and counts.inserted == 0
    with engine.connect() as conn:
        rows = conn.execute(select(w.projects_t.c.external_id, w.projects_t.c.name)).all()
    assert [tuple(r) for r in rows] == [("10001", "CRM")]


def test_child_of_unknown_item_is_reported(engine: Engine) -> None:
    change = StatusChange(
        source="jira",
        external_id="c1",
        work_item_id="nope",
        field="status",
        from_value=None,
        to_value="Done",
        changed_at=T,
    )
    with engine.begin() as conn:
        counts = w.upsert_status_changes(conn, "jira", [change])
    assert counts.skipped == 1 and "nope" in counts.problems[0]


def test_census_soft_delete_streams_and_undeletes(engine: Engine) -> None:
    with engine.begin() as conn:
        w.upsert_work_items(conn, "jira", [item(str(i)) for i in range(2500)])
        deleted = deletions.soft_delete_not_in_census(
            conn, w.work_items_t, "jira", (str(i) for i in range(2500) if i % 1000), batch=300
        )
    assert deleted == 3
    with engine.begin() as conn:
        counts, _ = w.upsert_work_items(conn, "jira", [item("1000")])
    assert counts.updated == 1
    with engine.connect() as conn:
        live = conn.execute(
            select(w.work_items_t.c.external_id).where(w.work_items_t.c.deleted_at.is_(None))
        ).scalars()
        assert {"0", "2000"}.isdisjoint(set(live))
