"""The nightly pass and the scheduler, on a real store: exit-code flags and the job_runs
record, no overlap (also against another process holding the job lock), a failing job
never stops the loop, catch-up of a slot missed while down, and a clean SIGTERM of a real
`pmohub schedule` process between steps."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from reportkit import AS_OF, synced_project
from sqlalchemy import select

from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.config.sections import ScheduleSettings
from pmohub.aggregator.jobs.nightly import (
    EXIT_NOT_STARTED,
    EXIT_REPORT,
    EXIT_SEND,
    EXIT_SYNC,
    LOCK_NAME,
    jobs_t,
    run_nightly,
)
from pmohub.aggregator.jobs.scheduler import Scheduler, latest_slot
from pmohub.aggregator.store.engine import open_store

PMOHUB = str(Path(sys.executable).parent / "pmohub")


def job_rows(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(jobs_t).order_by(jobs_t.c.id)))


def test_nightly_pass_records_job_and_writes_reports(tmp_path: Path, store_url: str) -> None:
    config, engine = synced_project(tmp_path / "p", database=store_url)
    result = run_nightly(config, engine=engine, as_of=AS_OF, out_dir=tmp_path / "out")
    assert [s.name for s in result.steps] == [
        "sync", "check", "snapshot", "bi", "report", "send", "notify"
    ]  # fmt: skip
    assert result.step("bi").status == "ok"
    assert result.step("notify").status == "skipped"  # no notify section
    assert result.step("sync").status == "ok"
    assert result.step("send").status == "skipped"  # no smtp section
    # one report for everything plus one for PF (it has its own recipients)
    assert set(result.files) >= {"all.html", "all.xlsx", "all.md", "PF.html"}
    assert all(Path(p).is_file() for p in result.files.values())
    (row,) = job_rows(engine)
    assert row.run_id == result.run_id and row.job == "nightly"
    assert row.status == result.status and row.finished_at is not None
    assert row.detail["exit_code"] == result.exit_code
    sync_ids = [r["run_id"] for r in result.step("sync").detail["runs"]]
    with engine.connect() as conn:
        from pmohub.aggregator.store.models import SyncRun

        t = SyncRun.__table__
        jobs = conn.execute(select(t.c.job_id).where(t.c.id.in_(sync_ids))).scalars().all()
    assert jobs == [result.run_id]  # the sync runs name the nightly run they belong to
    html = Path(result.files["all.html"]).read_text(encoding="utf-8")
    assert result.run_id in html  # traceable to the job
    engine.dispose()


def test_exit_flags_for_failed_sync_and_failed_send(tmp_path: Path) -> None:
    extra = (
        "smtp: {host: 127.0.0.1, port: 9, security: none, retries: 1, retry_backoff_s: 0,"
        " timeout: 2}\n"
    )
    config, engine = synced_project(tmp_path / "p", extra=extra, formats="md")
    (tmp_path / "p" / "plan.csv").unlink()  # the source now fails
    result = run_nightly(config, engine=engine, as_of=AS_OF, out_dir=tmp_path / "out")
    assert result.step("sync").status == "failed"
    assert result.step("report").status == "ok"  # reports what the store holds
    assert result.step("send").status == "failed"
    # (check/snapshot flags depend on the rules and roll-up, not under test here)
    assert result.exit_code & EXIT_SYNC and result.exit_code & EXIT_SEND
    assert not result.exit_code & EXIT_REPORT
    assert result.status in ("partial", "failed")
    assert set(result.files) == {"all.md", "PF.md"}
    data = Path(result.files["all.md"]).read_text(encoding="utf-8")
    assert "failed" in data  # the data-quality section names the failing source
    engine.dispose()


def test_overlap_refused_while_another_process_holds_the_job_lock(
    tmp_path: Path, store_url: str
) -> None:
    config, engine = synced_project(tmp_path / "p", formats="md", database=store_url)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pmohub.aggregator.store.engine import open_store\n"
            "from pmohub.aggregator.store.locks import source_lock\n"
            "e = open_store(sys.argv[1])\n"
            "with source_lock(e, sys.argv[2]):\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.readline()\n",
            config.database,
            LOCK_NAME,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_nightly(config, engine=engine, as_of=AS_OF, out_dir=tmp_path / "o")
        assert result.status == "locked" and result.exit_code == EXIT_NOT_STARTED
        assert "host:pid:token" in result.steps[0].error
        assert [r.status for r in job_rows(engine)] == ["locked"]
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    # released: the next pass runs
    result = run_nightly(config, engine=engine, as_of=AS_OF, out_dir=tmp_path / "o")
    assert result.status in ("ok", "partial", "failed") and result.steps[0].name == "sync"
    engine.dispose()


def test_overlap_within_one_scheduler_and_across_schedulers(tmp_path: Path) -> None:
    """Two schedulers (two workers) reach the same slot: the second is refused by the lock
    while the first runs, then sees the slot done and does not run it again."""
    config, engine = synced_project(tmp_path / "p")
    fixed = dt.datetime(2026, 11, 21, 5, 0, tzinfo=dt.UTC)
    calls: list[str] = []

    def slow_job(cfg: Any, **kw: Any) -> Any:
        calls.append("a")

        def between_steps() -> bool:  # polled while this pass holds the job lock
            if len(calls) == 1:
                calls.append("other tick")
                other.tick()  # the other worker reaches the same slot now
            return False

        return run_nightly(cfg, **{**kw, "steps": ("sync",), "should_stop": between_steps})

    other = Scheduler(config, engine, now=lambda: fixed, retry_locked_s=0)
    first = Scheduler(config, engine, job=slow_job, now=lambda: fixed)
    first.tick()
    assert calls == ["a", "other tick"]
    statuses = sorted(r.status for r in job_rows(engine))
    assert statuses == ["locked", "ok"]
    other.tick()  # the slot is done now
    assert len(job_rows(engine)) == 2
    engine.dispose()


def test_failing_job_does_not_stop_the_loop(tmp_path: Path) -> None:
    config, engine = synced_project(tmp_path / "p")
    clock = [dt.datetime(2026, 11, 20, 18, 30, tzinfo=dt.UTC)]  # 02:30 Shanghai
    attempts: list[dt.datetime] = []

    def flaky(cfg: Any, **kw: Any) -> Any:
        attempts.append(kw["scheduled_for"])
        if len(attempts) == 1:
            raise RuntimeError("boom: store exploded")
        return run_nightly(cfg, steps=(), **kw)

    sched = Scheduler(config, engine, job=flaky, now=lambda: clock[0], tick_s=0.05)
    assert sched.run(max_ticks=3) == 0  # returns cleanly, the failure logged
    assert sched.errors == ["RuntimeError: boom: store exploded"]
    (crash,) = job_rows(engine)
    assert crash.status == "failed" and "boom" in crash.detail["error"]
    clock[0] += dt.timedelta(days=1)  # the next night
    sched.tick()
    assert len(attempts) == 2 and attempts[1] - attempts[0] == dt.timedelta(days=1)
    assert [r.status for r in job_rows(engine)] == ["failed", "ok"]
    engine.dispose()


def test_catch_up_after_a_gap(tmp_path: Path) -> None:
    config, engine = synced_project(tmp_path / "p")
    s = ScheduleSettings(nightly="02:00", timezone="Asia/Shanghai")
    now = dt.datetime(2026, 11, 21, 4, 0, tzinfo=dt.UTC)  # 12:00 Shanghai
    slot = latest_slot(s, __import__("zoneinfo").ZoneInfo("Asia/Shanghai"), now)
    assert slot == dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)  # 02:00 local today
    # Last night's run happened, tonight's 02:00 run was missed while the process was down.
    run_nightly(config, engine=engine, steps=(), scheduled_for=slot - dt.timedelta(days=1))
    seen: list[dt.datetime] = []

    def job(cfg: Any, **kw: Any) -> Any:
        seen.append(kw["scheduled_for"])
        return run_nightly(cfg, steps=(), **kw)

    sched = Scheduler(config, engine, job=job, now=lambda: now, tick_s=0.05)
    sched.run(max_ticks=2)
    assert seen == [slot]  # caught up at start, once
    sched.run(max_ticks=2)
    assert seen == [slot]  # done: not again

    # catch_up: false only runs slots after the start
    from dataclasses import replace

    later = now + dt.timedelta(days=1)
    no_catch = replace(
        config,
        sections={**config.sections, "schedule": ScheduleSettings(catch_up=False)},
    )
    sched2 = Scheduler(no_catch, engine, job=job, now=lambda: later, tick_s=0.05)
    sched2.run(max_ticks=2)
    assert seen == [slot]
    engine.dispose()


def test_sigterm_stops_schedule_cleanly_between_steps(tmp_path: Path) -> None:
    extra = "schedule: {interval_s: 2, timezone: Asia/Shanghai}\n"
    config, engine = synced_project(tmp_path / "p", extra=extra, formats="md")
    engine.dispose()
    proc = subprocess.Popen(
        [PMOHUB, "--config", str(config.path), "schedule", "--tick", "0.1", "--log-json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    engine = open_store(config.database)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(r.status in ("ok", "partial", "failed") for r in job_rows(engine)):
                break
            time.sleep(0.2)
        else:
            pytest.fail("no scheduled run finished")
        # next: stop it while a run is (probably) in progress; any point must be clean
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("SIGTERM received" in r["message"] for r in logs)
    assert logs[-1]["message"] == "schedule: stopped"
    runs = {r["run_id"] for r in logs if r["run_id"] not in (None, "-")}
    assert runs and all(r.startswith("nightly-") for r in runs)  # logs carry the run id
    rows = job_rows(engine)
    assert rows and all(r.status != "running" for r in rows)  # nothing left half-recorded
    assert {r.status for r in rows} <= {"ok", "partial", "failed", "stopped"}
    engine.dispose()


def test_cli_nightly_prints_json_and_exit_code(tmp_path: Path) -> None:
    config, engine = synced_project(tmp_path / "p", formats="md, json")
    engine.dispose()
    (tmp_path / "p" / "plan.csv").unlink()
    proc = subprocess.run(
        [
            PMOHUB,
            "--config",
            str(config.path),
            "nightly",
            "--no-send",
            "--out-dir",
            str(tmp_path / "out"),
            "--as-of",
            AS_OF.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    data = json.loads(proc.stdout)
    assert proc.returncode == data["exit_code"] and data["exit_code"] & EXIT_SYNC
    assert data["status"] in ("partial", "failed")
    assert any(s["name"] == "sync" and s["status"] == "failed" for s in data["steps"])
    assert load_config_file(config.path).sections["report"].recipients["PF"]
