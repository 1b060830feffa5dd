"""The sync engine against real SQLite and PostgreSQL stores, with a real (synthetic)
connector: idempotence, crash/resume, locking, deletions, moves, bad records, cursors."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from fakesource import (
    FakeConnector,
    children,
    item_external_id,
    item_record,
    source_config,
    stored_indices,
    write_spec,
)
from sqlalchemy import Engine, func, select

from pmohub.aggregator.ingest.sync import SyncProgress, sync_all, sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import links_t, status_changes_t, work_items_t, worklogs_t
from pmohub.aggregator.store.models import SyncLock, SyncRun, SyncState
from pmohub.connectors import registry
from pmohub.connectors.base import SourceConfig

HERE = Path(__file__).parent


def run(engine: Engine, spec_path: Path, **kw: Any):
    return sync_source(engine, FakeConnector(source_config(spec_path)), **kw)


def content(engine: Engine, source: str = "fake1") -> dict[str, Any]:
    """Everything synced for a source, as comparable sets (live and deleted apart)."""
    wi, parent = work_items_t, work_items_t.alias("parent")
    with engine.connect() as conn:
        items = {
            (r.external_id, r.key, r.project_key, r.title, r.parent, r.deleted_at is None)
            for r in conn.execute(
                select(
                    wi.c.external_id,
                    wi.c.key,
                    wi.c.project_key,
                    wi.c.title,
                    wi.c.deleted_at,
                    parent.c.external_id.label("parent"),
                )
                .select_from(wi.outerjoin(parent, parent.c.id == wi.c.parent_id))
                .where(wi.c.source == source)
            )
        }
        out: dict[str, Any] = {"items": items}
        for name, t in (
            ("changes", status_changes_t),
            ("worklogs", worklogs_t),
            ("links", links_t),
        ):
            out[name] = {
                (r.external_id, r.deleted_at is None)
                for r in conn.execute(
                    select(t.c.external_id, t.c.deleted_at).where(t.c.source == source)
                )
            }
            out[name + "_rows"] = conn.execute(
                select(func.count()).select_from(t).where(t.c.source == source)
            ).scalar_one()
        out["items_rows"] = conn.execute(
            select(func.count()).select_from(wi).where(wi.c.source == source)
        ).scalar_one()
    return out


def expected(spec: dict[str, Any], source: str = "fake1") -> dict[str, Any]:
    items, kids = set(), {"changes": set(), "worklogs": set(), "links": set()}
    for i in stored_indices(spec):
        rec = item_record(spec, i, source)
        items.add((rec.external_id, rec.key, rec.project_key, rec.title, rec.parent_id, True))
        for child in children(spec, i, source):
            kind = {"StatusChange": "changes", "Worklog": "worklogs", "Link": "links"}[
                type(child).__name__
            ]
            kids[kind].add((child.external_id, True))
    return {"items": items, **kids}


def assert_matches(engine: Engine, spec: dict[str, Any]) -> None:
    got, want = content(engine), expected(spec)
    for name in ("items", "changes", "worklogs", "links"):
        assert got[name] == want[name], name
        # nothing doubled: one row per natural key
        assert got[name + "_rows"] == len(want[name]), name


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)


def test_sync_loads_everything_and_rerun_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    spec = {"n": 60, "checkpoint_every": 7}
    path = write_spec(tmp_path / "spec.json", **spec)
    seen: list[SyncProgress] = []
    first = run(engine, path, page_size=8, progress=seen.append)
    assert first.status == "ok", first.error
    assert first.mode == "full" and first.skipped == 0 and first.deleted == 0
    assert_matches(engine, spec)
    assert first.inserted > 60 * 4  # items + 3 changes each + worklogs + links + catalogue
    assert seen[-1].phase == "done" and {"work_items", "census"} <= {p.phase for p in seen}

    with engine.connect() as conn:
        synced = {
            r[0]: r[1]
            for r in conn.execute(select(work_items_t.c.external_id, work_items_t.c.synced_at))
        }
    for full in (False, True):
        again = run(engine, path, page_size=8, full=full)
        assert again.status == "ok", again.error
        assert (again.inserted, again.updated, again.deleted) == (0, 0, 0), again
        assert_matches(engine, spec)
    with engine.connect() as conn:
        # unchanged rows are not rewritten: their synced_at did not move
        assert {
            r[0]: r[1]
            for r in conn.execute(select(work_items_t.c.external_id, work_items_t.c.synced_at))
        } == synced
        runs = conn.execute(select(SyncRun.status, SyncRun.mode).order_by(SyncRun.id)).all()
    assert runs == [("ok", "full"), ("ok", "incremental"), ("ok", "full")]


def test_edit_counts_as_one_update(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=20)
    assert run(engine, path).status == "ok"
    spec = {"n": 20, "edited": [3]}
    write_spec(path, **spec)
    again = run(engine, path, full=True)
    assert (again.inserted, again.updated) == (0, 1)
    assert_matches(engine, spec)


def test_sigkill_mid_sync_resumes_without_loss_or_doubles(
    engine: Engine, store_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "paused"
    spec = {
        "n": 80,
        "checkpoint_every": 5,
        "pause_after": 37,
        "marker": str(marker),
        "sleep": 120,
        "log": str(tmp_path / "calls.log"),
    }
    path = write_spec(tmp_path / "spec.json", **spec)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fakesource.py"), store_url, str(path), "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "subprocess never reached the pause"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Three pages of 10 committed (items 0..29), the checkpoint at item 29 with them.
    partial = content(engine)
    assert len(partial["items"]) == 30
    cursor_after_kill = item_record(spec, 29, "fake1").updated_at

    spec.pop("pause_after")
    write_spec(path, **spec)
    resumed = run(engine, path, page_size=10, lookback=dt.timedelta(minutes=3))
    assert resumed.status == "ok", resumed.error
    assert resumed.mode == "incremental" and resumed.cursor_before == cursor_after_kill
    calls = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert calls[0] is None  # the killed run was a full pass
    assert dt.datetime.fromisoformat(calls[1]) == cursor_after_kill - dt.timedelta(minutes=3)
    # the lookback window re-reads items 26..29 (unchanged: no updates), the rest is new
    assert resumed.updated == 0
    assert_matches(engine, spec)
    with engine.connect() as conn:
        statuses = conn.execute(select(SyncRun.status, SyncRun.error).order_by(SyncRun.id)).all()
        locks = conn.execute(select(func.count()).select_from(SyncLock)).scalar_one()
    assert statuses[0][0] == "failed" and "interrupted" in statuses[0][1]
    assert statuses[1] == ("ok", None)
    assert locks == 0


def _hold_lock_in_subprocess(store_url: str, tmp_path: Path, sleep: float) -> subprocess.Popen:
    marker = tmp_path / "holding"
    path = write_spec(
        tmp_path / "hold.json",
        n=10,
        pause_after=2,
        marker=str(marker),
        sleep=sleep,
    )
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fakesource.py"), store_url, str(path), "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


def test_concurrent_sync_is_refused_then_waits(
    engine: Engine, store_url: str, tmp_path: Path
) -> None:
    proc = _hold_lock_in_subprocess(store_url, tmp_path, sleep=3)
    try:
        path = write_spec(tmp_path / "spec.json", n=10)
        refused = run(engine, path)
        assert refused.status == "locked"
        assert f":{proc.pid}:" in (refused.error or "") and "being synced by" in refused.error
        waited = run(engine, path, lock_timeout=60)
        assert waited.status == "ok", waited.error
        out, _ = proc.communicate(30)
        assert json.loads(out)["status"] == "ok"
    finally:
        if proc.poll() is None:
            proc.kill()
    with engine.connect() as conn:
        statuses = [r[0] for r in conn.execute(select(SyncRun.status).order_by(SyncRun.id))]
    assert sorted(statuses) == ["locked", "ok", "ok"]


def test_sigkilled_lock_holder_does_not_block_the_next_run(
    engine: Engine, store_url: str, tmp_path: Path
) -> None:
    proc = _hold_lock_in_subprocess(store_url, tmp_path, sleep=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    path = write_spec(tmp_path / "spec.json", n=10)
    result = run(engine, path)
    assert result.status == "ok", result.error


def test_deleted_upstream_is_soft_deleted_and_comes_back(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=30)
    assert run(engine, path).status == "ok"
    write_spec(path, n=30, deleted=[4, 11])
    gone = run(engine, path)
    assert gone.status == "ok" and gone.deleted == 2
    items = {r[0]: r[5] for r in content(engine)["items"]}
    assert items[item_external_id(4)] is False and items[item_external_id(11)] is False
    assert sum(items.values()) == 28
    # history stays: the deleted item's status changes are still there
    assert (f"{item_external_id(4)}-c0", True) in content(engine)["changes"]

    write_spec(path, n=30)
    back = run(engine, path, full=True)
    assert back.status == "ok" and back.updated == 2 and back.inserted == 0
    assert_matches(engine, {"n": 30})


def test_vanished_history_is_soft_deleted_via_children_complete(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_spec(tmp_path / "spec.json", n=12)
    assert run(engine, path).status == "ok"
    write_spec(path, n=12, dropped_changes=[5])
    result = run(engine, path, full=True)
    assert result.deleted == 1
    assert (f"{item_external_id(5)}-c1", False) in content(engine)["changes"]


def test_children_complete_prunes_only_the_kinds_it_names(engine: Engine, tmp_path: Path) -> None:
    """A connector that delivers worklogs through another feed (Jira Cloud) marks only
    status changes and links complete: its items' stored worklogs must stay live."""
    from pmohub.connectors.base import ChildrenComplete
    from pmohub.connectors.records import Worklog

    class FeedConnector(FakeConnector):
        def fetch_work_items(self, since: dt.datetime | None):  # type: ignore[override]
            for obj in super().fetch_work_items(since):
                if isinstance(obj, Worklog):
                    continue
                if isinstance(obj, ChildrenComplete):
                    obj = ChildrenComplete(obj.work_item_id, frozenset({"status_changes"}))
                yield obj

    path = write_spec(tmp_path / "spec.json", n=6)
    assert run(engine, path).status == "ok"
    write_spec(path, n=6, dropped_changes=[2])
    result = sync_source(engine, FeedConnector(source_config(path)), full=True)
    assert result.status == "ok" and result.deleted == 1
    got = content(engine)
    assert (f"{item_external_id(2)}-c1", False) in got["changes"]
    with engine.connect() as conn:
        live = conn.execute(
            select(func.count()).where(worklogs_t.c.deleted_at.is_(None))
        ).scalar_one()
    assert live == 3  # items 0, 2, 4 each have one worklog; none pruned


def test_malformed_records_are_reported_and_skipped(engine: Engine, tmp_path: Path) -> None:
    spec = {"n": 25, "malformed": [3, 17]}
    path = write_spec(tmp_path / "spec.json", **spec)
    result = run(engine, path)
    assert result.status == "ok" and result.skipped == 2
    assert len(result.problems) == 2 and all("31/02/2026" in p for p in result.problems)
    assert "item 3" in result.problems[0]
    assert_matches(engine, spec)
    with engine.connect() as conn:
        row = conn.execute(select(SyncRun.skipped, SyncRun.problems)).one()
    assert row.skipped == 2 and row.problems == result.problems


def test_moved_item_keeps_its_row(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=10)
    assert run(engine, path).status == "ok"
    with engine.connect() as conn:
        before = conn.execute(
            select(work_items_t.c.id, work_items_t.c.project_id).where(
                work_items_t.c.external_id == item_external_id(4)
            )
        ).one()
    write_spec(path, n=10, moved=[4])
    result = run(engine, path, full=True)
    assert (result.inserted, result.updated) == (0, 1)
    with engine.connect() as conn:
        after = conn.execute(
            select(work_items_t.c.id, work_items_t.c.key, work_items_t.c.project_id).where(
                work_items_t.c.external_id == item_external_id(4)
            )
        ).one()
    assert after.id == before.id and after.key == "GAMMA-4"
    assert after.project_id != before.project_id
    assert_matches(engine, {"n": 10, "moved": [4]})


def test_cursor_never_passes_run_start(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=10, checkpoint_every=3, future_checkpoint=True)
    result = run(engine, path)
    assert result.status == "ok"
    assert result.cursor_after == result.started_at
    with engine.connect() as conn:
        stored = conn.execute(select(SyncState.cursor)).scalar_one()
    assert dt.datetime.fromisoformat(stored) <= result.started_at


def test_incremental_rereads_the_lookback_window(engine: Engine, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    log = tmp_path / "calls.log"
    # items 0..9 updated from 2h ago, one a minute: 0..9 -> now-120m .. now-111m
    spec = {"n": 10, "base": (now - dt.timedelta(minutes=120)).isoformat(), "log": str(log)}
    path = write_spec(tmp_path / "spec.json", **spec)
    first = run(engine, path)
    assert first.status == "ok" and first.cursor_after == first.started_at
    second = run(engine, path, lookback=dt.timedelta(minutes=115))
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    since = dt.datetime.fromisoformat(calls[1])
    assert since == first.started_at - dt.timedelta(minutes=115)
    # items updated within the window (5..9) were re-read, unchanged; 0..4 were not asked for
    reread = [i for i in range(10) if item_record(spec, i, "fake1").updated_at >= since]
    assert 3 <= len(reread) <= 6 and second.fetched >= len(reread)
    assert (second.inserted, second.updated) == (0, 0)


def test_failed_run_deletes_nothing_and_keeps_cursor(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=20, checkpoint_every=4)
    ok = run(engine, path)
    write_spec(path, n=20, checkpoint_every=4, deleted=[1, 2], fail_after=6)
    failed = run(engine, path, full=True, page_size=4)
    assert failed.status == "failed" and "503" in (failed.error or "")
    assert failed.deleted == 0
    assert sum(r[5] for r in content(engine)["items"]) == 20
    # the cursor only moved with pages inside this run, never past its start
    assert failed.cursor_after is not None and failed.cursor_after < failed.started_at
    assert ok.cursor_after is not None


def test_one_failing_source_does_not_stop_the_others(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.BUILTINS, "fake", "fakesource:FakeConnector")
    registry.available.cache_clear()
    try:
        good = write_spec(tmp_path / "good.json", n=5)
        bad = write_spec(tmp_path / "bad.json", n=5, fail_after=2)
        sources = [
            SourceConfig(name="broken", type="fake", options={"spec": str(bad)}),
            SourceConfig(name="nosuchtype", type="nosuch"),
            SourceConfig(name="fake1", type="fake", options={"spec": str(good)}),
        ]
        results = sync_all(engine, sources)
    finally:
        registry.available.cache_clear()
    assert [r.status for r in results] == ["failed", "failed", "ok"]
    assert "503" in (results[0].error or "") and "unknown source type" in (results[1].error or "")
    assert_matches(engine, {"n": 5})
    with engine.connect() as conn:
        rows = conn.execute(select(SyncRun.source, SyncRun.status).order_by(SyncRun.id)).all()
    assert rows == [("broken", "failed"), ("nosuchtype", "failed"), ("fake1", "ok")]


@pytest.mark.slow
def test_memory_stays_flat(sqlite_url: str, tmp_path: Path) -> None:
    peaks = {}
    for n in (1000, 4000):
        engine = open_store(f"sqlite:///{tmp_path / f'm{n}.db'}")
        path = write_spec(tmp_path / f"m{n}.json", n=n, checkpoint_every=100)
        tracemalloc.start()
        result = run(engine, path, page_size=100)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.status == "ok" and result.fetched > n * 4
    # 4x the items, well under 4x the memory (page-bound, not tracker-bound)
    assert peaks[4000] < 1.5 * peaks[1000], peaks


def test_concurrent_threads_one_source(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(
        tmp_path / "spec.json", n=40, pause_after=5, marker=str(tmp_path / "m"), sleep=1
    )
    results = []
    threads = [threading.Thread(target=lambda: results.append(run(engine, path))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status for r in results) == ["locked", "ok"]
