"""The cycle collector is relaxed while a sync runs and put back after (gcpolicy)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from test_jira_connector import connector, fresh_site

from pmohub.aggregator.ingest.gcpolicy import SYNC_THRESHOLDS, relaxed_gc
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.emulators.jira.server import JiraEmulator


@pytest.fixture()
def engine(sqlite_url: str) -> Engine:
    return open_store(sqlite_url)


@pytest.fixture()
def default_gc() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_sync_runs_with_relaxed_gc_and_restores_it(
    engine: Engine, default_gc: tuple[int, ...]
) -> None:
    seen: list[tuple[int, ...]] = []
    with JiraEmulator(fresh_site(issues=30), deployment="datacenter") as emu:
        c = connector(emu)
        real = c.fetch_work_items

        def spy(since: Any) -> Any:
            seen.append(gc.get_threshold())
            return real(since)

        c.fetch_work_items = spy  # type: ignore[method-assign]
        assert sync_source(engine, c).status == "ok"
    assert seen == [SYNC_THRESHOLDS]
    assert gc.get_threshold() == default_gc


def test_overlapping_holders_restore_once_the_last_ends(default_gc: tuple[int, ...]) -> None:
    first_in, second_out = threading.Event(), threading.Event()
    inside: list[tuple[int, ...]] = []

    def other() -> None:
        with relaxed_gc():
            first_in.wait(5)
        second_out.set()

    t = threading.Thread(target=other)
    t.start()
    with relaxed_gc():
        first_in.set()
        second_out.wait(5)
        inside.append(gc.get_threshold())  # the other holder left: still relaxed
    t.join(5)
    assert inside == [SYNC_THRESHOLDS] and gc.get_threshold() == default_gc


def test_a_disabled_collector_stays_disabled() -> None:
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        with relaxed_gc():
            assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
