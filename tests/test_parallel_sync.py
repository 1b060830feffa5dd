"""Sources synced at once (aggregator/ingest/parallel.py) on SQLite and PostgreSQL: the same
store content and results as one after another, results in config order, syncs that
really overlap, one person per e-mail across sources, and `pmohub sync --parallel`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakesource import source_config, write_spec
from sqlalchemy import Engine, func, select

from pmohub.aggregator.ingest.parallel import sync_sources, workers_for
from pmohub.aggregator.ingest.sync import sync_all
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import aliases_t, people_t, status_changes_t, work_items_t
from pmohub.aggregator.store.models import SyncRun
from pmohub.cli.main import main
from pmohub.connectors import registry
from pmohub.connectors.base import SourceConfig

runs_t = SyncRun.__table__


@pytest.fixture(autouse=True)
def fake_type(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry.BUILTINS, "fake", "fakesource:FakeConnector")
    registry.available.cache_clear()
    yield
    registry.available.cache_clear()


def fake_sources(tmp_path: Path, n: int, **spec: Any) -> list[SourceConfig]:
    return [
        source_config(write_spec(tmp_path / f"spec{k}.json", n=30 + k, **spec), name=f"src{k}")
        for k in range(n)
    ]


def store_content(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        items = sorted(
            conn.execute(
                select(work_items_t.c.source, work_items_t.c.external_id, work_items_t.c.title)
            ).all()
        )
        changes = conn.execute(select(func.count()).select_from(status_changes_t)).scalar()
        aliases = sorted(conn.execute(select(aliases_t.c.source, aliases_t.c.external_id)).all())
        emails = sorted(
            conn.execute(
                select(people_t.c.email, func.count())
                .where(people_t.c.email.is_not(None))
                .group_by(people_t.c.email)
            ).all()
        )
    return {"items": items, "changes": changes, "aliases": aliases, "emails": emails}


def test_workers_for_caps_to_sources_and_bounds() -> None:
    assert workers_for(None, 10) == 4
    assert workers_for(8, 3) == 3
    assert workers_for(100, 50) == 16
    assert workers_for(0, 5) == 1
    assert workers_for(4, 0) == 1


def test_parallel_equals_sequential(store_url: str, tmp_path: Path) -> None:
    sources = fake_sources(tmp_path, 6, checkpoint_every=7)
    parallel = open_store(store_url)
    results = sync_sources(parallel, sources, parallel=4)
    assert [r.source for r in results] == [s.name for s in sources]
    assert [r.status for r in results] == ["ok"] * 6
    assert [r.inserted for r in results] == [
        r.inserted for r in sync_all(open_store(f"sqlite:///{tmp_path / 'seq.db'}"), sources)
    ]
    got = store_content(parallel)
    want = store_content(open_store(f"sqlite:///{tmp_path / 'seq.db'}"))
    assert got == want
    # the fake trackers share four e-mails: each is one person, whoever synced first
    assert [n for _email, n in got["emails"]] == [1, 1, 1, 1]
    # and a second parallel pass changes nothing
    again = sync_sources(parallel, sources, parallel=4)
    assert [(r.status, r.inserted, r.updated, r.deleted) for r in again] == [("ok", 0, 0, 0)] * 6


def test_syncs_overlap_and_results_keep_config_order(store_url: str, tmp_path: Path) -> None:
    """Source 0 pauses in the middle of its stream until every source has started, so
    the syncs must run at once (sequentially, source 0 would wait for ever: the pause is
    bounded by `sleep`, after which it would fail the overlap check below)."""
    engine = open_store(store_url)
    sources = [
        source_config(
            write_spec(
                tmp_path / "slow.json", n=20, pause_after=5, sleep=1.5, marker=str(tmp_path / "m")
            ),
            name="slow",
        ),
        *fake_sources(tmp_path, 2),
    ]
    results = sync_sources(engine, sources, parallel=3)
    assert [r.source for r in results] == ["slow", "src0", "src1"]
    assert all(r.ok for r in results)
    slow, *fast = results
    assert slow.started_at and slow.finished_at
    for r in fast:
        assert r.started_at and r.finished_at
        # each fast source ran while the slow one was syncing
        assert slow.started_at < r.finished_at and r.started_at < slow.finished_at
    with engine.connect() as conn:
        rows = conn.execute(select(runs_t.c.source, runs_t.c.status)).all()
    assert sorted(rows) == [("slow", "ok"), ("src0", "ok"), ("src1", "ok")]


def test_a_failing_source_keeps_its_place(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    good = fake_sources(tmp_path, 2)
    bad = SourceConfig(name="broken", type="no-such-type")
    results = sync_sources(engine, [good[0], bad, good[1]], parallel=3)
    assert [(r.source, r.status) for r in results] == [
        ("src0", "ok"),
        ("broken", "failed"),
        ("src1", "ok"),
    ]
    assert "unknown source type" in (results[1].error or "")


def test_cli_sync_parallel_option_and_config_key(tmp_path: Path) -> None:
    specs = [write_spec(tmp_path / f"s{k}.json", n=12) for k in range(3)]
    sources = "".join(
        f"  s{k}:\n    type: fake\n    spec: {spec}\n" for k, spec in enumerate(specs)
    )
    config = tmp_path / "pmohub.yaml"
    config.write_text(
        f"version: 1\ndatabase: sqlite:///{tmp_path / 'cli.db'}\nsync:\n  parallel: 2\n"
        f"sources:\n{sources}",
        encoding="utf-8",
    )
    runner = CliRunner()
    out = runner.invoke(main, ["--config", str(config), "sync", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert [r["source"] for r in json.loads(out.stdout)] == ["s0", "s1", "s2"]
    out = runner.invoke(
        main, ["--config", str(config), "sync", "--parallel", "3", "--full", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    assert [(r["source"], r["status"]) for r in json.loads(out.stdout)] == [
        ("s0", "ok"),
        ("s1", "ok"),
        ("s2", "ok"),
    ]
    bad = runner.invoke(main, ["--config", str(config), "sync", "--parallel", "0"])
    assert bad.exit_code == 2
