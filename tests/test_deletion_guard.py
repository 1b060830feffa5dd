"""The deletion circuit breaker and census restore (issue 13), on SQLite and PostgreSQL:
an empty or implausibly large census deletes nothing and marks the run suspect; a
confirmation lets it through; items listed again come back live on a normal sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakesource import FakeConnector, item_external_id, source_config, write_spec
from sqlalchemy import Engine, select

from pmohub.aggregator.ingest.guard import judge
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import work_items_t
from pmohub.aggregator.store.deletions import CensusCounts
from pmohub.aggregator.store.models import SyncRun


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)


def run(engine: Engine, path: Path, **kw: Any):
    cfg_kw = {k: kw.pop(k) for k in ("max_deletion_share", "accept_deletions") if k in kw}
    return sync_source(engine, FakeConnector(source_config(path, **cfg_kw)), **kw)


def live(engine: Engine) -> set[str]:
    t = work_items_t
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(t.c.external_id).where(t.c.source == "fake1", t.c.deleted_at.is_(None))
            ).scalars()
        )


def test_rule_numbers() -> None:
    assert judge(CensusCounts(live=100, listed=100, missing=0, returned=0)).allowed
    assert judge(CensusCounts(live=100, listed=80, missing=20, returned=0)).allowed
    assert not judge(CensusCounts(live=100, listed=79, missing=21, returned=0)).allowed
    # a small removal never trips the share rule; an empty census or > half always does
    assert judge(CensusCounts(live=10, listed=5, missing=5, returned=0)).allowed
    assert not judge(CensusCounts(live=10, listed=4, missing=6, returned=0)).allowed
    assert not judge(CensusCounts(live=1, listed=0, missing=1, returned=0)).allowed
    # the config can lower the share, and raise it only up to one half
    assert not judge(CensusCounts(live=100, listed=90, missing=10, returned=0), 0.05).allowed
    assert judge(CensusCounts(live=100, listed=60, missing=40, returned=0), 0.5).allowed
    assert not judge(CensusCounts(live=100, listed=40, missing=60, returned=0), 1.0).allowed
    reason = judge(CensusCounts(live=1018, listed=0, missing=1018, returned=0)).reason
    assert "1018 of 1018" in reason and "--accept-deletions" in reason


def test_empty_census_deletes_nothing_then_recovers(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=40)
    assert run(engine, path).status == "ok"
    everything = live(engine)
    assert len(everything) == 40
    # the tracker answers "nothing" (a revoked permission): stream and census empty
    write_spec(path, n=40, deleted=list(range(40)))
    empty = run(engine, path)
    assert empty.status == "suspect" and empty.deleted == 0, empty
    assert "40 of 40" in (empty.error or "") and "listed 0" in (empty.error or "")
    assert live(engine) == everything
    with engine.connect() as conn:
        row = conn.execute(select(SyncRun).where(SyncRun.id == empty.run_id)).one()
    assert row.status == "suspect" and "Nothing was deleted" in row.error
    # recovered: a normal (incremental) sync is ok and deletes nothing
    write_spec(path, n=40)
    again = run(engine, path)
    assert again.status == "ok" and again.mode == "incremental" and again.deleted == 0
    assert live(engine) == everything


def test_large_removal_is_held_until_confirmed(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=40)
    assert run(engine, path).status == "ok"
    write_spec(path, n=40, deleted=list(range(10)))  # 25% > 20%, 10 > 5 items
    held = run(engine, path)
    assert held.status == "suspect" and held.deleted == 0 and "10 of 40" in str(held.error)
    assert len(live(engine)) == 40
    # a config allowing 30% lets it through; so does the flag
    assert run(engine, path, max_deletion_share=0.3).deleted == 10
    assert len(live(engine)) == 30


def test_accept_deletions_flag_and_config(engine: Engine, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.json", n=20)
    assert run(engine, path).status == "ok"
    write_spec(path, n=20, deleted=list(range(15)))
    assert run(engine, path, max_deletion_share=0.5).status == "suspect"  # > half anyway
    done = run(engine, path, accept_deletions=True)
    assert done.status == "ok" and done.deleted == 15
    assert live(engine) == {item_external_id(i) for i in range(15, 20)}
    write_spec(path, n=20, deleted=list(range(20)))
    assert run(engine, path).status == "suspect"
    via_config = run(engine, path, accept_deletions=True)
    assert via_config.status == "ok" and live(engine) == set()


def test_items_listed_again_come_back_on_an_incremental_sync(
    engine: Engine, tmp_path: Path
) -> None:
    path = write_spec(tmp_path / "spec.json", n=30)
    assert run(engine, path).status == "ok"
    write_spec(path, n=30, deleted=[3, 8])
    assert run(engine, path).deleted == 2
    # they reappear upstream unchanged (a permission restored): updated long ago, so the
    # incremental fetch skips them; the census must still bring them back
    write_spec(path, n=30)
    back = run(engine, path)
    assert back.status == "ok" and back.mode == "incremental", back
    assert back.updated == 2 and any("restored" in w for w in back.warnings)
    assert len(live(engine)) == 30


def test_cli_sync_suspect_exit_and_runs(tmp_path: Path, store_url: str) -> None:
    from pmohub.cli.main import main as cli

    spec = write_spec(tmp_path / "spec.json", n=12)
    config = tmp_path / "pmohub.yaml"
    db = store_url if store_url.startswith("postgresql") else f"sqlite:///{tmp_path / 's.db'}"
    config.write_text(
        f"version: 1\ndatabase: {db}\nsources:\n  ops:\n    type: spreadsheet\n"
        f"    path: {tmp_path / 'plan.csv'}\n    project_key: OPS\n"
    )
    del spec
    rows = "\n".join(f"OPS-{i},Task {i},Task,To Do" for i in range(12))
    (tmp_path / "plan.csv").write_text("Key,Summary,Issue Type,Status\n" + rows + "\n")
    runner = CliRunner()
    first = runner.invoke(cli, ["--config", str(config), "--quiet", "sync"])
    assert first.exit_code == 0, first.output
    (tmp_path / "plan.csv").write_text("Key,Summary,Issue Type,Status\n")
    suspect = runner.invoke(cli, ["--config", str(config), "--quiet", "sync"])
    assert suspect.exit_code == 1, suspect.output
    assert "suspect" in suspect.stdout and "12 of 12" in suspect.output
    listed = runner.invoke(cli, ["--config", str(config), "runs"])
    assert "suspect" in listed.output
    confirmed = runner.invoke(
        cli, ["--config", str(config), "--quiet", "sync", "--accept-deletions"]
    )
    assert confirmed.exit_code == 0, confirmed.output
