"""The same text on both databases (issue 13): a NUL character in any text field is
stripped with a located warning instead of failing the whole source on PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fakesource import FakeConnector, source_config, write_spec
from sqlalchemy import select

from pmohub.aggregator.ingest.scrub import scrub
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import work_items_t
from pmohub.aggregator.store.models import Person as PersonRow
from pmohub.connectors.records import Person, WorkItem


class NulConnector(FakeConnector):
    """The fake tracker, with NUL characters in titles, labels, extra and a person."""

    def fetch_people(self) -> Iterator[Any]:
        for p in super().fetch_people():
            if isinstance(p, Person) and p.external_id == "u1":
                p = dataclasses.replace(p, display_name="Li\x00 Lei")
            yield p

    def fetch_work_items(self, since: Any) -> Iterator[Any]:
        for obj in super().fetch_work_items(since):
            if isinstance(obj, WorkItem) and obj.external_id.endswith("3"):
                obj = dataclasses.replace(
                    obj,
                    title=obj.title + "\x00 tail",
                    labels=("a\x00b",),
                    extra={"note\x00": "x\x00y", "list": ["\x00"]},
                )
            yield obj


def test_scrub_names_every_field() -> None:
    item = WorkItem(
        source="s",
        external_id="1",
        key="K-1",
        project_key="K",
        title="a\x00b",
        type="Task",
        status="To Do",
        status_category="todo",
        labels=("x\x00",),
    )
    clean, problems = scrub(item)
    assert isinstance(clean, WorkItem)
    assert clean.title == "ab" and clean.labels == ("x",)
    assert sorted(p.field for p in problems if p.field) == ["labels", "title"]
    assert all(p.where == "K-1" for p in problems)
    same, none = scrub(clean)
    assert same is clean and none == []


def test_nul_text_loads_the_same_on_both_databases(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    path = write_spec(tmp_path / "spec.json", n=20)
    result = sync_source(engine, NulConnector(source_config(path)))
    assert result.status == "ok", result.error
    assert result.inserted > 0 and result.skipped == 0
    nul_warnings = [w for w in result.warnings if "NUL" in w]
    assert any("ALPHA-3" in w or "BETA-3" in w for w in nul_warnings), result.warnings
    assert any("field 'title'" in w for w in nul_warnings)
    t = work_items_t
    with engine.connect() as conn:
        titles = dict(conn.execute(select(t.c.key, t.c.title)).all())
        names = set(conn.execute(select(PersonRow.display_name)).scalars())
    assert titles["BETA-3"] == "Item 3 tail" and titles["BETA-13"] == "Item 13 tail"
    assert "Li Lei" in names
    # a re-run changes nothing: the stored (scrubbed) content is stable
    again = sync_source(engine, NulConnector(source_config(path)), full=True)
    assert (again.status, again.inserted, again.updated, again.deleted) == ("ok", 0, 0, 0)
