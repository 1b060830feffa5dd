"""The degrade channel (docs/degrade-policy.md): ``Problem`` markers keep records, record a
located warning, and stop deletions inferred from a stream an endpoint refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakesource import FakeConnector, source_config, write_spec
from sqlalchemy import Engine, func, select

from pmohub.aggregator.ingest.inventory import sync_run_rows
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import iterations_t, work_items_t
from pmohub.aggregator.store.models import SyncRun
from pmohub.connectors.base import WARNING_PREFIX, Problem
from pmohub.connectors.records import Iteration, WorkItem


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)


class Degrading(FakeConnector):
    """The fake source, with a people endpoint that refuses, one sprint list that may be
    refused, and a field cleared on item 2."""

    refuse_people = True
    refuse_sprints = False
    refuse_items = False

    def fetch_people(self) -> Iterator[Any]:
        if self.refuse_people:
            yield Problem(
                "users endpoint answered 403: people taken from the items",
                where="people",
                incomplete=True,
            )
            return
        yield from super().fetch_people()

    def fetch_iterations(self) -> Iterator[Any]:
        if self.refuse_sprints:
            yield Problem("boards answered 403", where="iterations", incomplete=True)
            return
        for n in (1, 2):
            yield Iteration(
                source=self.name, external_id=f"s{n}", name=f"Sprint {n}", state="closed"
            )

    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[Any]:
        for obj in super().fetch_work_items(since):
            if isinstance(obj, WorkItem) and obj.key.endswith("-2"):
                yield Problem(
                    "not a number; field cleared", where=obj.key, field="story_points", value="XL"
                )
            if self.refuse_items and isinstance(obj, WorkItem) and obj.key.endswith("-3"):
                yield Problem("project module off", where="BETA", incomplete=True)
                continue
            yield obj


def test_problems_keep_records_and_are_reported(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=6)
    result = sync_source(engine, Degrading(source_config(path)))
    assert result.status == "ok" and result.skipped == 0
    assert len(result.warnings) == 2 and result.warnings == result.problems
    assert result.problems[0] == (
        WARNING_PREFIX + "people: users endpoint answered 403: people taken from the items"
    )
    assert "field 'story_points', value 'XL': not a number" in result.problems[1]
    with engine.connect() as conn:
        items = conn.execute(
            select(func.count())
            .select_from(work_items_t)
            .where(work_items_t.c.deleted_at.is_(None))
        ).scalar_one()
        stored = conn.execute(select(SyncRun.problems)).scalar_one()
    assert items == 6 and stored == result.problems
    (row,) = sync_run_rows(engine)
    assert row["warnings"] == 2 and row["skipped"] == 0 and row["problems"] == result.problems


def test_incomplete_catalogue_stream_deletes_nothing(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=4)
    conn_ok = Degrading(source_config(path))
    assert sync_source(engine, conn_ok).status == "ok"
    refused = Degrading(source_config(path))
    refused.refuse_sprints = True
    result = sync_source(engine, refused, full=True)
    assert result.status == "ok" and result.deleted == 0
    with engine.connect() as conn:
        live = conn.execute(
            select(func.count())
            .select_from(iterations_t)
            .where(iterations_t.c.deleted_at.is_(None))
        ).scalar_one()
    assert live == 2  # a refused sprint list does not soft-delete the stored sprints


def test_incomplete_item_stream_skips_the_census(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=6)
    assert sync_source(engine, Degrading(source_config(path))).status == "ok"
    write_spec(path, n=6, deleted=[4])  # really deleted upstream, but this run is partial
    partial = Degrading(source_config(path))
    partial.refuse_items = True
    result = sync_source(engine, partial, full=True)
    assert result.status == "ok" and result.deleted == 0
    assert any("project module off" in p for p in result.warnings)
    # a complete run then prunes
    assert sync_source(engine, Degrading(source_config(path)), full=True).deleted == 1


def test_problem_text_is_located_and_bounded() -> None:
    p = Problem("cleared", where="PROJ-1", field="customfield_10016", value="x" * 500)
    text = str(p)
    assert text.startswith("PROJ-1, field 'customfield_10016', value 'xxx")
    assert text.endswith(": cleared") and len(text) < 140
    assert str(Problem("plain")) == "plain"
