"""The census shortcut (issue 12): a connector that can count its projects
(``census_total``) lets an incremental run skip the id listing when the counts equal the
store's live items; any difference runs the full census, and nothing is ever deleted on a
count alone. The real Redmine side is in tests/test_redmine_census.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fakesource import FakeConnector, item_external_id, live_indices, source_config, write_spec
from sqlalchemy import Engine, select

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import work_items_t


class Counting(FakeConnector):
    """Counts per project from the spec (``total_offset`` skews them, as a tracker whose
    count disagrees with its listing); records which census calls the engine made."""

    calls: list[str]

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.calls = []

    def census(self, project_key: str) -> Iterator[str]:
        self.calls.append(f"census {project_key}")
        yield from super().census(project_key)

    def census_total(self, project_key: str) -> int | None:
        self.calls.append(f"total {project_key}")
        if project_key in self.spec.get("uncountable", []):
            return None
        listed = sum(1 for _ in FakeConnector.census(self, project_key))
        return listed + int(self.spec.get("total_offset", {}).get(project_key, 0))


def sync(engine: Engine, path: Path, **kw: Any) -> tuple[Any, list[str]]:
    conn = Counting(source_config(path))
    return sync_source(engine, conn, **kw), conn.calls


def live(engine: Engine) -> set[str]:
    t = work_items_t
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(t.c.external_id).where(t.c.source == "fake1", t.c.deleted_at.is_(None))
            ).scalars()
        )


def respec(path: Path, **changes: Any) -> None:
    spec = json.loads(path.read_text())
    spec.update(changes)
    path.write_text(json.dumps(spec))


def test_equal_counts_skip_the_listing_full_runs_never(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_store(sqlite_url)
    path = write_spec(tmp_path / "spec.json", n=30)
    first, calls = sync(engine, path)
    assert first.ok and first.mode == "full"
    assert "census ALPHA" in calls and "census BETA" in calls  # a full run lists every id
    again, calls = sync(engine, path)
    assert again.ok and again.mode == "incremental" and again.deleted == 0
    assert sorted(calls) == ["total ALPHA", "total BETA"]  # counted, not listed
    assert len(live(engine)) == 30


def test_a_deletion_runs_the_census_and_deletes_exactly_it(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_store(sqlite_url)
    path = write_spec(tmp_path / "spec.json", n=30)
    assert sync(engine, path)[0].ok
    respec(path, deleted=[4])
    result, calls = sync(engine, path)
    assert result.ok and result.mode == "incremental"
    assert any(c.startswith("census") for c in calls)
    assert result.deleted == 1
    assert live(engine) == {item_external_id(i) for i in range(30) if i != 4}


def test_a_smaller_count_never_deletes_by_itself(sqlite_url: str, tmp_path: Path) -> None:
    """A tracker that counts fewer (a permission lost, a count that lags) while its listing
    still has every item: the full census runs and finds nothing missing."""
    engine = open_store(sqlite_url)
    path = write_spec(tmp_path / "spec.json", n=30)
    assert sync(engine, path)[0].ok
    for offset in (-3, +2):
        respec(path, total_offset={"ALPHA": offset})
        result, calls = sync(engine, path)
        assert result.ok and result.deleted == 0, offset
        assert "census ALPHA" in calls and "census BETA" in calls
        assert len(live(engine)) == 30


def test_a_project_that_cannot_be_counted_runs_the_census(sqlite_url: str, tmp_path: Path) -> None:
    engine = open_store(sqlite_url)
    path = write_spec(tmp_path / "spec.json", n=30)
    assert sync(engine, path)[0].ok
    respec(path, uncountable=["BETA"], deleted=[3])
    result, calls = sync(engine, path)
    assert result.ok and result.deleted == 1
    assert any(c.startswith("census") for c in calls)


def test_a_coincidence_waits_for_the_next_full_run(sqlite_url: str, tmp_path: Path) -> None:
    """The documented limit: a count that matches although an item went (the tracker
    holds one the store lacks, here simulated by a skewed count) deletes nothing on an
    incremental run; the next full run lists the ids and deletes it."""
    engine = open_store(sqlite_url)
    path = write_spec(tmp_path / "spec.json", n=30)
    assert sync(engine, path)[0].ok
    respec(path, deleted=[5], total_offset={"BETA": 1})  # item 5 is in BETA
    result, _ = sync(engine, path)
    assert result.ok and result.deleted == 0
    full, calls = sync(engine, path, full=True)
    assert full.ok and full.deleted == 1 and "census BETA" in calls
    spec = json.loads(path.read_text())
    assert live(engine) == {item_external_id(i) for i in live_indices(spec)}
