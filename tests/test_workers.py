"""``pmohub worker`` on PostgreSQL (aggregator/ingest/worker.py): three worker processes,
nine sources. Per round every source is synced exactly once and never by two workers at
the same time; a worker SIGKILLed in the middle of a sync leaves its source to another
worker, which finishes it with nothing lost or doubled."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fakesource import write_spec
from sqlalchemy import Engine, func, select, text

from pmohub.aggregator.ingest.worker import run_worker
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import status_changes_t, work_items_t, worklogs_t
from pmohub.aggregator.store.models import SyncRun
from pmohub.connectors.errors import ConfigError

HERE = Path(__file__).parent
runs_t = SyncRun.__table__
SOURCES = 9
KILLED = "src4"
#: src4 is big enough that its first pages are stored (with a checkpoint) before the pause
SIZES = {f"src{k}": 1400 if f"src{k}" == KILLED else 40 + 10 * k for k in range(SOURCES)}

# The real CLI in a fresh interpreter, with the test connector type registered first.
WORKER = (
    "from pmohub.connectors import registry;"
    "registry.BUILTINS['fake'] = 'fakesource:FakeConnector';"
    "from pmohub.cli.main import main;"
    "main()"
)


def write_config(tmp_path: Path, url: str) -> tuple[Path, Path]:
    marker = tmp_path / "paused"
    lines = [f"version: 1\ndatabase: {url}\nsources:\n"]
    for name, n in SIZES.items():
        extra: dict[str, Any] = {"checkpoint_every": 50}
        if name == KILLED:
            extra |= {"pause_after": 900, "pause_once": True, "sleep": 120, "marker": str(marker)}
        spec = write_spec(tmp_path / f"{name}.json", n=n, **extra)
        lines.append(f"  {name}:\n    type: fake\n    spec: {spec}\n")
    config = tmp_path / "pmohub.yaml"
    config.write_text("".join(lines), encoding="utf-8")
    return config, marker


def start_workers(config: Path, count: int = 3) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    cmd = [sys.executable, "-c", WORKER, "--config", str(config), "--quiet", "worker"]
    cmd += ["--once", "--poll", "0.2", "--interval-minutes", "60", "--format", "json"]
    return [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, list[dict[str, Any]], str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        out.append((p.returncode, json.loads(stdout) if p.returncode == 0 else [], stderr))
    return out


def runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            select(
                runs_t.c.source,
                runs_t.c.status,
                runs_t.c.job_id,
                runs_t.c.started_at,
                runs_t.c.finished_at,
                runs_t.c.inserted,
                runs_t.c.error,
            ).order_by(runs_t.c.source, runs_t.c.started_at)
        ).all()


def assert_never_two_at_once(rows: list[Any], killed_at: dt.datetime | None = None) -> None:
    by_source: dict[str, list[Any]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    for source, seq in by_source.items():
        for before, after in zip(seq, seq[1:], strict=False):
            ended = before.finished_at or killed_at  # the killed run never finished
            assert ended is not None, f"{source}: a run without end"
            assert ended <= after.started_at, f"{source}: two syncs overlapped"


def assert_store_complete(engine: Engine) -> None:
    with engine.connect() as conn:
        for name, n in SIZES.items():
            items = conn.execute(
                select(func.count(), func.count(func.distinct(work_items_t.c.external_id))).where(
                    work_items_t.c.source == name, work_items_t.c.deleted_at.is_(None)
                )
            ).one()
            assert tuple(items) == (n, n), name  # nothing lost, nothing doubled
            changes = conn.execute(
                select(func.count()).where(status_changes_t.c.source == name)
            ).scalar()
            assert changes == 3 * n, name
            worklogs = conn.execute(
                select(func.count()).where(worklogs_t.c.source == name)
            ).scalar()
            assert worklogs == (n + 1) // 2, name


@pytest.mark.postgres
def test_three_workers_nine_sources_one_killed(pg_url: str, tmp_path: Path) -> None:
    engine = open_store(pg_url)
    config, marker = write_config(tmp_path, pg_url)

    # Round 1: the worker that takes src4 pauses in its stream and is SIGKILLed there.
    procs = start_workers(config)
    deadline = time.monotonic() + 120
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline, "no worker reached the pause"
        assert all(p.poll() is None for p in procs), "a worker ended before the pause"
        time.sleep(0.05)
    victim_pid = int(marker.read_text())
    victim = next(p for p in procs if p.pid == victim_pid)
    with engine.connect() as conn:  # pages before the pause are already in the store
        stored = conn.execute(select(func.count()).where(work_items_t.c.source == KILLED)).scalar()
    assert stored and 0 < stored < SIZES[KILLED]
    os.kill(victim_pid, signal.SIGKILL)
    killed_at = dt.datetime.now(dt.UTC)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    survivors = [p for p in procs if p is not victim]
    outcomes = finish(survivors)
    for code, _rows, stderr in outcomes:
        assert code == 0, stderr

    round1 = runs(engine)
    ok = Counter(r.source for r in round1 if r.status == "ok")
    assert ok == Counter(list(SIZES))  # every source exactly once
    killed_runs = [r for r in round1 if r.source == KILLED]
    assert [r.status for r in killed_runs] == ["failed", "ok"]
    assert "interrupted" in (killed_runs[0].error or "")
    assert killed_runs[0].job_id == f"worker:{os.uname().nodename}:{victim_pid}"
    assert killed_runs[1].job_id != killed_runs[0].job_id  # taken over by another worker
    assert killed_runs[1].started_at >= killed_at
    assert {r.job_id for r in round1} <= {f"worker:{os.uname().nodename}:{p.pid}" for p in procs}
    assert len({r.job_id for r in round1}) == 3  # all three workers synced something
    assert_never_two_at_once(round1, killed_at)
    assert_store_complete(engine)
    # what the survivors printed is what they ran
    printed = Counter(row["source"] for _code, rows, _err in outcomes for row in rows)
    assert sum(printed.values()) == sum(1 for r in round1 if r.job_id != killed_runs[0].job_id)

    # Round 2, two hours later (the runs are moved back instead of waiting): all due again.
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sync_runs SET started_at = started_at - interval '2 hours',"
                " finished_at = finished_at - interval '2 hours'"
            )
        )
    for code, _rows, stderr in finish(start_workers(config)):
        assert code == 0, stderr
    round2 = [r for r in runs(engine) if r.started_at > killed_at]
    assert Counter(r.source for r in round2 if r.status == "ok") == Counter(list(SIZES))
    assert len(round2) == SOURCES
    assert all(r.inserted == 0 for r in round2)  # an unchanged tracker writes nothing
    assert_never_two_at_once(runs(engine), killed_at - dt.timedelta(hours=2))
    assert_store_complete(engine)


def test_worker_refuses_sqlite(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        run_worker(open_store(sqlite_url), [], once=True)
