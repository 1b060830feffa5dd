"""``pmohub demo``: the whole pipeline on bundled sample data, in one directory.

The demo is a list of steps (:data:`STEPS`) sharing a :class:`DemoRun`. Each step does one
thing (write the config, sync, ...). Later features add steps (Jira emulator, rules,
report) by appending to the list; a step that fails marks the run failed, later steps
still run when they can.

The demo is a frozen world: every emulator generates its data around :data:`DEMO_AS_OF`
(the sample spreadsheets and plans carry fixed dates around it too), and the demo's
baselines, back-filled snapshots and nightly pass (check, snapshot, report) use it as
their as-of date. Run next month or next year, it shows the same portfolio; only the
wall-clock stamps (sync runs, job runs, snapshot times) are real.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pmohub.aggregator.config.loader import Config, load_config_file

SAMPLES_PACKAGE = "pmohub.aggregator.demo.samples"
SOURCES_FILE = "sources.yaml"
DATA_DIR = "data"

Say = Callable[[str], None]

#: The day the demo data is generated around and checked/reported as of.
DEMO_AS_OF = dt.date(2026, 11, 21)
#: Shown beside the as-of date in the demo's output and reports (``report.data_label``).
DEMO_DATA_LABEL = "demo data"


def as_of_text(day: dt.date, label: str | None = DEMO_DATA_LABEL) -> str:
    """``as of 2026-11-21 (demo data)``."""
    return f"as of {day.isoformat()}" + (f" ({label})" if label else "")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DemoRun:
    out_dir: Path
    progress: Callable[..., Any] | None = None
    say: Say = lambda _msg: None
    as_of: dt.date = DEMO_AS_OF  # the business date of every step (module docstring)
    # Wall clock for the stamps of the demo's own runs; never decides a business date.
    now: Callable[[], dt.datetime] = _utc_now
    config: Config | None = None
    engine: Any = None
    sync_results: list[Any] = field(default_factory=list)
    counts: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)  # outputs of later steps
    failures: list[str] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)  # run at the end

    @property
    def ok(self) -> bool:
        return not self.failures


def sample_sources() -> dict[str, dict[str, Any]]:
    """The sample sources as described by ``aggregator/demo/samples/sources.yaml``."""
    text = (resources.files(SAMPLES_PACKAGE) / SOURCES_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if isinstance(data, dict) and isinstance(data.get("sources"), dict):
        data = data["sources"]
    return {name: dict(spec) for name, spec in data.items()}


DEMO_HEADER = """\
# Written by `pmohub demo`: the bundled sample plans as sources (copied into data/).
# Edit the files or this config, then `pmohub --config <this file> sync` to re-sync.
version: 1
database: sqlite:///pmohub.db      # beside this file
timezone: Asia/Shanghai
language: zh-CN
# the trackers' service account (it reports the automated issues) is not a person
people_exclude: ["pmo-bot", "pmo-bot@*", "PMO Bot", "*[bot]"]

"""


def demo_config_text(sources_yaml: str, paths: dict[str, str]) -> str:
    """The samples' ``sources.yaml`` (comments kept) under a demo header, with each
    ``path:`` pointing at the copy in ``data/``."""

    def repoint(m: re.Match[str]) -> str:
        old = m.group(2)
        return f"{m.group(1)}{paths.get(old, old)}"

    body = re.sub(r"^(\s+path:\s*)(\S+)", repoint, sources_yaml, flags=re.M)
    return DEMO_HEADER + body


def step_write_config(run: DemoRun) -> None:
    """Copy the sample files into OUT/data and write OUT/pmohub.yaml pointing at them."""
    data_dir = run.out_dir / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    samples = resources.files(SAMPLES_PACKAGE)
    sources = sample_sources()
    paths: dict[str, str] = {}
    for spec in sources.values():
        path = spec.get("path")
        if not path:
            continue
        # copied, not referenced: the demo directory stays valid when the package moves,
        # and users can edit the files and re-sync to watch updates and deletions.
        target = data_dir / Path(path).name
        with resources.as_file(samples / Path(path).name) as src:
            shutil.copyfile(src, target)
        paths[path] = f"{DATA_DIR}/{target.name}"
    config_path = run.out_dir / "pmohub.yaml"
    text = (samples / SOURCES_FILE).read_text(encoding="utf-8")
    config_path.write_text(demo_config_text(text, paths), encoding="utf-8")
    run.config = load_config_file(config_path)
    run.say(f"wrote {config_path} ({len(sources)} sources)")


def step_sync(run: DemoRun) -> None:
    from pmohub.aggregator.config.syncing import sync_settings
    from pmohub.aggregator.ingest.parallel import sync_sources
    from pmohub.aggregator.store.engine import open_store

    assert run.config is not None
    run.engine = open_store(run.config.database)
    run.say(f"syncing into {run.config.database_display}")
    run.sync_results = sync_sources(
        run.engine,
        list(run.config.sources.values()),
        parallel=sync_settings(run.config).parallel,
        full=False,
        progress=run.progress,
    )
    for r in run.sync_results:
        if r.status != "ok":
            run.failures.append(f"sync {r.source}: {r.error}")
    if run.config.people:
        from pmohub.aggregator.people import apply_config_people

        apply_config_people(run.engine, run.config.people)


def step_count(run: DemoRun) -> None:
    from pmohub.aggregator.ingest.inventory import source_counts

    assert run.config is not None and run.engine is not None
    run.counts = [
        {
            k: row[k]
            for k in ("source", "projects", "work_items", "people", "status_changes", "milestones")
        }
        for row in source_counts(run.engine, list(run.config.sources))
    ]


def _full_steps() -> list[Callable[[DemoRun], None]]:
    # Jira emulators, hierarchy and the nightly pass (issue 6) live in demo_full.py.
    from pmohub.aggregator.demo import full as f
    from pmohub.aggregator.demo import trackers as t  # GitHub, GitLab, Trello, Azure, PingCode

    return [
        f.step_start_jira,
        t.step_start_trackers,
        step_write_config,
        f.step_add_jira_and_hierarchy,
        t.step_add_trackers,
        step_sync,
        step_count,
        f.step_onboarding_baselines,
        f.step_backfill_history,
        f.step_nightly,
    ]


STEPS: list[Callable[[DemoRun], None]] = _full_steps()


def run_demo(
    out_dir: Path,
    *,
    progress: Callable[..., Any] | None = None,
    say: Say = lambda _m: None,
    as_of: dt.date = DEMO_AS_OF,
    now: Callable[[], dt.datetime] | None = None,
) -> DemoRun:
    """Run every step into ``out_dir``. ``as_of`` is the demo world's date; ``now`` the
    wall clock (injectable so tests can show the results do not depend on it)."""
    run = DemoRun(
        out_dir=Path(out_dir).resolve(),
        progress=progress,
        say=say,
        as_of=as_of,
        now=now or _utc_now,
    )
    run.out_dir.mkdir(parents=True, exist_ok=True)
    run.say(f"demo world {as_of_text(run.as_of)}")
    try:
        for step in STEPS:
            step(run)
    finally:
        if run.engine is not None:
            run.engine.dispose()
        for cleanup in reversed(run.cleanups):
            cleanup()
    return run
