"""WorkItem.progress: record validation, digest compatibility, store round trip and the
0002 -> 0003 upgrade, on real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import fields

import pytest
from sqlalchemy import Engine, insert, select

from pmohub.aggregator.store import open_store
from pmohub.aggregator.store import writes as w
from pmohub.aggregator.store.engine import create_store_engine, upgrade
from pmohub.connectors.records import WorkItem

T = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def item(ext: str, **kw: object) -> WorkItem:
    values: dict[str, object] = {
        "source": "redmine",
        "external_id": ext,
        "key": f"#{ext}",
        "project_key": "P",
        "title": f"item {ext}",
        "type": "Task",
        "status": "In Progress",
        "status_category": "in_progress",
        "updated_at": T,
        "extra": {"rag": "green"},
    }
    values.update(kw)
    return WorkItem(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 0.0, 0.45, 1, 1.0])
def test_progress_in_range_is_accepted(value: float) -> None:
    assert item("1", progress=value).progress == value


@pytest.mark.parametrize("value", [-0.01, 1.01, 45.0, float("nan"), True, "0.5"])
def test_progress_out_of_range_is_refused_naming_record_and_field(value: object) -> None:
    # ValueError like the record's other checks; the mappers wrap it in a RecordError
    with pytest.raises(ValueError, match=r"^WorkItem #7: progress .* between 0 and 1"):
        item("7", progress=value)


def _digest_without_progress(record: WorkItem) -> str:
    """The digest as stores before migration 0003 computed it (no ``progress`` field)."""
    names = [
        f.name for f in fields(record) if f.name not in ("raw", "source", "external_id", "progress")
    ]
    values = [getattr(record, n) for n in names]
    i = names.index("extra")
    values[i] = json.dumps(values[i], sort_keys=True, default=str) if values[i] else ""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def test_digest_of_an_item_without_progress_is_the_pre_0003_digest() -> None:
    plain = item("1", story_points=3.0, labels=("a",))
    assert w.content_hash(plain) == _digest_without_progress(plain)
    # progress is content: setting it (even to 0) changes the digest, and each value differs
    digests = {w.content_hash(item("1", story_points=3.0, labels=("a",), progress=p)) for p in (0.0, 0.5, 1.0)}  # fmt: skip
    assert len(digests) == 3 and w.content_hash(plain) not in digests


@pytest.fixture
def engine(store_url: str) -> Engine:
    engine = open_store(store_url)
    with engine.begin() as conn:
        w.upsert_source(conn, "redmine", "redmine")
    return engine


def _stored_progress(engine: Engine) -> dict[str, float | None]:
    t = w.work_items_t
    with engine.connect() as conn:
        return {ext: p for ext, p in conn.execute(select(t.c.external_id, t.c.progress))}


def test_progress_round_trips_and_a_change_is_an_update(engine: Engine) -> None:
    with engine.begin() as conn:
        counts, _ = w.upsert_work_items(
            conn, "redmine", [item("1", progress=0.45), item("2"), item("3", progress=0.0)]
        )
    assert counts.inserted == 3
    assert _stored_progress(engine) == {"1": 0.45, "2": None, "3": 0.0}

    with engine.begin() as conn:
        counts, _ = w.upsert_work_items(
            conn, "redmine", [item("1", progress=0.45), item("2", progress=1.0), item("3")]
        )
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 2, 1)
    assert _stored_progress(engine) == {"1": 0.45, "2": 1.0, "3": None}


def test_upgrade_from_0002_keeps_rows_without_progress_unchanged(store_url: str) -> None:
    """A row written before 0003 is not re-written by the next sync when its tracker
    reports no progress; one that gains a progress value is updated."""
    engine = create_store_engine(store_url)
    upgrade(engine, "0002")
    with engine.begin() as conn:
        w.upsert_source(conn, "redmine", "redmine")
        project_ids = w.resolve_project_ids(conn, "redmine", {"P"}, at=T)
        for ext in ("1", "2"):
            old = item(ext)
            # a 0002 store has no progress column: write the row the way that code did
            conn.execute(
                insert(w.work_items_t).values(
                    source="redmine",
                    external_id=ext,
                    key=old.key,
                    project_id=project_ids["P"],
                    project_key="P",
                    title=old.title,
                    type=old.type,
                    status=old.status,
                    status_category=old.status_category,
                    updated_at=T,
                    labels=[],
                    components=[],
                    milestone_ids=[],
                    iteration_ids=[],
                    extra=dict(old.extra),
                    synced_at=T,
                    content_hash=_digest_without_progress(old),
                )
            )
    engine.dispose()

    engine = open_store(store_url)  # migrates to head (0003)
    assert _stored_progress(engine) == {"1": None, "2": None}
    with engine.begin() as conn:
        counts, _ = w.upsert_work_items(conn, "redmine", [item("1"), item("2", progress=0.3)])
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
    assert _stored_progress(engine) == {"1": None, "2": 0.3}
