"""SIGKILL fault injection against real ``pmohub`` processes (issue 13), shared by the CI
fault suite (tests/test_faults.py) and the long chaos run (tests/chaos/chaos.py).

One *round*: the spreadsheet "tracker" (a CSV plan, the source's truth) changes a little
(titles edited, a few rows deleted and added); a real ``pmohub`` subprocess runs one of
``sync``, ``check``, ``nightly`` or ``migrate`` (``db upgrade`` of a fresh store) and is
SIGKILLed after a random delay; then recovery runs the ordinary commands (``db upgrade``,
``sync``) and the store is compared with the truth: every row of the plan live with its
title, nothing else live, no job or sync run left ``running``, findings not doubled.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

PMOHUB = str(Path(sys.executable).parent / "pmohub")
AS_OF = "2026-11-21"
KINDS = ("sync", "check", "nightly", "migrate")


@dataclass
class Figures:
    kills: int = 0
    killed_mid_run: int = 0  # the process was still running when the signal landed
    finished_first: int = 0  # it had already exited
    recovered: int = 0
    mismatches: list[str] = field(default_factory=list)
    by_kind: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


class World:
    """A working directory: the plan (truth), a config and the store URL."""

    def __init__(self, directory: Path, store_url: str, rows: int, seed: int):
        self.dir = directory
        self.rng = random.Random(seed)
        self.store_url = store_url
        self.plan = directory / "plan.csv"
        self.config = directory / "pmohub.yaml"
        self.next_id = rows
        self.truth: dict[str, str] = {f"OPS-{i}": f"Task {i}" for i in range(rows)}
        self.write_plan()
        self.write_config(store_url)

    def write_config(self, store_url: str) -> None:
        self.store_url = store_url
        self.config.write_text(
            f"version: 1\ndatabase: {store_url}\ntimezone: Asia/Shanghai\nsources:\n"
            f"  plan:\n    type: spreadsheet\n    path: {self.plan}\n    project_key: OPS\n"
            f"report:\n  out_dir: {self.dir / 'reports'}\n  formats: [html, xlsx]\n"
        )

    def write_plan(self) -> None:
        tmp = self.plan.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["Key", "Summary", "Issue Type", "Status", "Due Date", "Assignee"])
            for n, (key, title) in enumerate(self.truth.items()):
                status = ("To Do", "In Progress", "Done")[n % 3]
                w.writerow([key, title, "Task", status, f"2026-11-{1 + n % 28:02d}", f"u{n % 7}"])
        os.replace(tmp, self.plan)  # the "tracker" never serves half a file

    def mutate(self) -> None:
        keys = list(self.truth)
        for key in self.rng.sample(keys, min(10, len(keys))):
            self.truth[key] = f"{self.truth[key].split(' v')[0]} v{self.rng.randrange(1000)}"
        for key in self.rng.sample(keys, self.rng.randint(0, 3)):  # <= 5: no breaker
            del self.truth[key]
        for _ in range(self.rng.randint(0, 3)):
            self.truth[f"OPS-{self.next_id}"] = f"Task {self.next_id}"
            self.next_id += 1
        self.write_plan()

    def pmohub(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PMOHUB, "--config", str(self.config), "--quiet", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def command(self, kind: str) -> list[str]:
        return {
            "sync": ["sync"],
            "check": ["check", "--as-of", AS_OF],
            "nightly": ["nightly", "--no-send", "--as-of", AS_OF],
            "migrate": ["db", "upgrade"],
        }[kind]


def kill_after(world: World, args: list[str], delay: float) -> bool:
    """Start ``pmohub args``, SIGKILL it after ``delay`` s; True when it was still running."""
    proc = subprocess.Popen(
        [PMOHUB, "--config", str(world.config), "--quiet", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        return True


def compare(world: World) -> list[str]:
    """What differs between the store and the truth (empty: nothing)."""
    engine = create_engine(world.store_url, poolclass=NullPool)
    problems: list[str] = []
    try:
        with engine.connect() as conn:
            live = dict(
                conn.execute(
                    text(
                        "SELECT key, title FROM work_items "
                        "WHERE source = 'plan' AND deleted_at IS NULL"
                    )
                ).all()
            )
            keys = Counter(
                conn.execute(text("SELECT key FROM work_items WHERE source = 'plan'")).scalars()
            )
            running_jobs = conn.execute(
                text("SELECT count(*) FROM job_runs WHERE status = 'running'")
            ).scalar_one()
            running_syncs = conn.execute(
                text("SELECT count(*) FROM sync_runs WHERE status = 'running'")
            ).scalar_one()
            findings = conn.execute(
                text(
                    "SELECT rule_id, subject, count(*) FROM findings "
                    "GROUP BY rule_id, subject HAVING count(*) > 1"
                )
            ).all()
    finally:
        engine.dispose()
    if live != world.truth:
        missing = sorted(set(world.truth) - set(live))[:5]
        extra = sorted(set(live) - set(world.truth))[:5]
        wrong = sorted(k for k in live if k in world.truth and live[k] != world.truth[k])[:5]
        problems.append(f"store != truth: missing {missing}, extra {extra}, titles {wrong}")
    doubled = [k for k, n in keys.items() if n > 1]
    if doubled:
        problems.append(f"items doubled: {doubled[:5]}")
    if running_jobs or running_syncs:
        problems.append(f"left running: {running_jobs} job rows, {running_syncs} sync runs")
    if findings:
        problems.append(f"findings doubled: {findings[:3]}")
    return problems


def recover(world: World, kind: str) -> list[str]:
    """The ordinary commands a user would run next (in this process: it is the state they
    leave that counts, not their start-up time). ``db upgrade`` and ``sync`` must succeed;
    a re-run of a killed ``check``/``nightly`` must not crash (its exit code also reports
    findings and rule errors, which are the data's business, not the kill's)."""
    from click.testing import CliRunner

    from pmohub.cli.main import main

    problems = []
    steps: list[tuple[list[str], bool]] = [(["db", "upgrade"], True), (["sync"], True)]
    if kind in ("check", "nightly"):
        steps.append((world.command(kind), False))
    for args, must_pass in steps:
        done = CliRunner().invoke(main, ["--config", str(world.config), "--quiet", *args])
        crashed = done.exception is not None and not isinstance(done.exception, SystemExit)
        if crashed or (must_pass and done.exit_code != 0):
            tail = done.output.strip().splitlines()[-3:]
            problems.append(
                f"`pmohub {' '.join(args)}` exit {done.exit_code}: {tail} {done.exception!r}"
            )
    return problems


def chaos(
    world: World,
    kinds: tuple[str, ...],
    kills: int,
    *,
    make_url: Any = None,
    windows: dict[str, float] | None = None,
) -> Figures:
    """``kills`` rounds over ``kinds`` (round robin); ``make_url(n)`` gives a fresh store for
    a ``migrate`` round (a first creation), else that kind is skipped."""
    figures = Figures()
    started = time.monotonic()
    first = world.pmohub("sync")
    assert first.returncode == 0, first.stderr
    windows = dict(windows or {})
    for kind in kinds:  # how long each command takes here: kills land within that
        if kind not in windows:
            t0 = time.monotonic()
            world.pmohub(*world.command(kind))
            windows[kind] = time.monotonic() - t0
    for n in range(kills):
        kind = kinds[n % len(kinds)]
        if kind == "migrate":
            if make_url is None:
                continue
            world.write_config(make_url(n))
        world.mutate()
        delay = world.rng.uniform(0.2, windows[kind] * 1.05)
        mid = kill_after(world, world.command(kind), delay)
        figures.kills += 1
        figures.by_kind[kind] += 1
        figures.killed_mid_run += mid
        figures.finished_first += not mid
        problems = recover(world, kind) + compare(world)
        if problems:
            figures.mismatches.append(f"round {n} ({kind}, {delay:.2f}s): {'; '.join(problems)}")
        else:
            figures.recovered += 1
    figures.seconds = time.monotonic() - started
    return figures


def job_statuses(store_url: str) -> Counter[str]:
    engine = create_engine(store_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            t = text("SELECT status FROM job_runs")
            return Counter(conn.execute(t).scalars())
    finally:
        engine.dispose()
