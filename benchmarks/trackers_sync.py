"""Sync benchmark for the GitHub, GitLab, Trello, Azure Boards and PingCode connectors
(issues 7 and 16).

Each tracker's emulator (in this process: it shares the interpreter lock with the client,
so figures are a floor for the connector, not for the real services, whose latency
dominates) serves a generated site; measured per tracker: a full sync into a fresh SQLite
store (records/s, HTTP requests made) and an immediate incremental re-sync (nothing changed:
the cost is the lookback window plus the census).

    .venv/bin/python benchmarks/trackers_sync.py              # ~2,000-4,000 records each
    .venv/bin/python benchmarks/trackers_sync.py --scale 4

PingCode's documented limit is 200 requests/min per app, so its cost is requests, not CPU:
its row counts the real requests of a full sync and of an incremental re-sync per 1,000
work items, and the time per 1,000 items at that limit. The emulator and the client share a
virtual clock (the client's pacing sleeps advance it), so the time is the pacing PingCode
would impose, measured rather than assumed; ``full_s`` is still the wall clock.

Writes benchmarks/results/trackers_sync-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.connectors.azureboards import AzureBoardsConnector
from pmohub.connectors.base import Connector, SourceConfig
from pmohub.connectors.github import GitHubConnector
from pmohub.connectors.gitlab import GitLabConnector
from pmohub.connectors.pingcode import PingCodeConnector
from pmohub.connectors.trello import TrelloConnector
from pmohub.emulators import azure, github, gitlab, pingcode, trello

RESULTS = Path(__file__).parent / "results"


def measure(name: str, emu: Any, make: Callable[[Any], Connector]) -> dict[str, Any]:
    with emu, tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/bench.db")
        try:
            t0 = time.perf_counter()
            full = sync_source(engine, make(emu))
            t_full = time.perf_counter() - t0
            requests_full = len(emu.requests)
            t0 = time.perf_counter()
            again = sync_source(engine, make(emu))
            t_inc = time.perf_counter() - t0
        finally:
            engine.dispose()
    row = {
        "tracker": name,
        "records": full.fetched,
        "full_s": round(t_full, 2),
        "records_per_s": round(full.fetched / t_full),
        "requests_full": requests_full,
        "incremental_s": round(t_inc, 2),
        "status": [full.status, again.status],
        "incremental_changes": again.inserted + again.updated + again.deleted,
    }
    print(
        f"{name:12s} {row['records']:7d} records  full {t_full:6.2f}s "
        f"({row['records_per_s']:5d}/s, {requests_full} requests)  re-sync {t_inc:5.2f}s"
    )
    return row


class VirtualClock:
    """Time that moves only when the client sleeps (its pacing at 200/min)."""

    def __init__(self) -> None:
        self.t = time.time()
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        self.slept += max(0.0, seconds)


def measure_pingcode(items_per_project: int) -> dict[str, Any]:
    clock = VirtualClock()
    site = pingcode.generate_site(seed=1, projects=3, items=items_per_project)
    emu = pingcode.PingCodeEmulator(site, clock=clock.now)

    def make() -> PingCodeConnector:
        config = SourceConfig(
            name="pc",
            type="pingcode",
            url=emu.root,
            token_env="T",
            projects=tuple(p["identifier"] for p in site.projects),
            options={"client_id": pingcode.DEFAULT_CLIENT_ID},
        )
        c = PingCodeConnector(config, env={"T": pingcode.DEFAULT_CLIENT_SECRET})
        c.clock, c.sleep = clock.now, clock.sleep
        return c

    with emu, tempfile.TemporaryDirectory() as tmp:
        engine = open_store(f"sqlite:///{tmp}/bench.db")
        try:
            t0 = time.perf_counter()
            full = sync_source(engine, make())
            t_full = time.perf_counter() - t0
            requests_full, paced_full = len(emu.requests), clock.slept
            clock.sleep(60)  # a minute later: the limit's budget is back
            paced_before = clock.slept
            again = sync_source(engine, make())
            requests_inc = len(emu.requests) - requests_full
            paced_inc = clock.slept - paced_before
        finally:
            engine.dispose()
    n = len(site.items)
    per_k = 1000 / n
    row = {
        "tracker": "pingcode",
        "work_items": n,
        "records": full.fetched,
        "full_s": round(t_full, 2),
        "records_per_s": round(full.fetched / t_full),
        "requests_full": requests_full,
        "requests_per_1000_items": round(requests_full * per_k),
        "minutes_per_1000_items_at_200_per_min": round(requests_full * per_k / 200, 1),
        "paced_minutes_full": round(paced_full / 60, 1),
        "refused_429": len(emu.refused),
        "requests_incremental": requests_inc,
        "paced_minutes_incremental": round(paced_inc / 60, 2),
        "status": [full.status, again.status],
        "incremental_changes": again.inserted + again.updated + again.deleted,
    }
    print(
        f"pingcode     {n:7d} items, {full.fetched} records: {requests_full} requests "
        f"({row['requests_per_1000_items']}/1000 items = "
        f"{row['minutes_per_1000_items_at_200_per_min']} min/1000 items at 200/min; "
        f"paced {row['paced_minutes_full']} min, {row['refused_429']} refused); "
        f"re-sync {requests_inc} requests"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1)
    s = parser.parse_args().scale

    def cfg(name: str, type_: str, url: str, projects: tuple[str, ...]) -> SourceConfig:
        return SourceConfig(name=name, type=type_, url=url, token_env="T", projects=projects)

    rows = [
        measure(
            "github",
            github.GitHubEmulator(github.generate_site(seed=1, repos=2, issues=500 * s)),
            lambda e: GitHubConnector(
                cfg("gh", "github", e.url, tuple(f"acme/{r['name']}" for r in e.site.repos)),
                env={"T": github.DEFAULT_TOKEN},
            ),
        ),
        measure(
            "gitlab",
            gitlab.GitLabEmulator(gitlab.generate_site(seed=1, projects=2, issues=500 * s)),
            lambda e: GitLabConnector(
                cfg("gl", "gitlab", e.url, tuple(f"acme-eng/{p['path']}" for p in e.site.projects)),
                env={"T": gitlab.DEFAULT_TOKEN},
            ),
        ),
        measure(
            "trello",
            trello.TrelloEmulator(trello.generate_site(seed=1, boards=2, cards=500 * s)),
            lambda e: TrelloConnector(
                cfg("tr", "trello", e.url + "/1", tuple(b["shortLink"] for b in e.site.boards)),
                env={"T": trello.DEFAULT_TOKEN, "TRELLO_API_KEY": trello.DEFAULT_KEY},
            ),
        ),
        measure(
            "azureboards",
            azure.AzureBoardsEmulator(azure.generate_site(seed=1, stories=350 * s)),
            lambda e: AzureBoardsConnector(
                cfg("az", "azureboards", e.url + "/contoso", ("Fabrikam Fiber",)),
                env={"T": azure.DEFAULT_PAT},
            ),
        ),
        measure_pingcode(350 * s),
    ]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"trackers_sync-{dt.date.today().isoformat()}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "trackers_sync",
                "scale": s,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "rows": rows,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
