"""Jira sync against a client-only floor, both reading the same pre-rendered pages (issue 18).

Set-up (not measured): a generated Data Center site (default 10,000 issues, ~7 history
entries and ~2 worklogs each, 4 projects, sprints, versions) in the in-process Jira
emulator; the real connector's full sync and, after 1% of the issues were edited, its
incremental sync are recorded exchange by exchange (benchmarks/jira_pages.py). The
recorded answers are then served from memory by a minimal asyncio HTTP/1.1 keep-alive
server in its own process: a dict lookup of a complete pre-rendered response per request.
The emulator (JQL evaluation, payload rendering) is out of the picture, and the server's
own CPU seconds are measured per trial and saved next to the client's, to show that the
server is not the bottleneck.

Measured, alternated in fresh child processes (benchmarks/harness.py), both against that
same server:

- ``ours``: the full pmohub Jira sync, ``sync_source(engine, JiraConnector, full=True)``
  into a fresh SQLite store: catalogue (server info, user, fields, projects, users,
  boards, sprints, versions), every search page (``expand=changelog``, embedded
  worklogs), epic-link resolution, mapping to records, the store writes, the census of
  ids for soft deletes.
- ``floor``: a ``requests.Session`` (keep-alive) GETting exactly the URLs ``ours`` sent,
  in the same order (the recorded request lines, byte for byte), and decoding each body
  with the JSON decoder the connector uses; nothing mapped, nothing stored. Every client
  has to do at least this much: the same bytes over the same connection, parsed once.
  It is a strong floor because nothing in it is pmohub's choice (no paging logic, no
  retries layer, no mapping) and its server answers from memory in microseconds.
- ``incremental``: in one child, a full sync (set-up, not measured, its writes
  checkpointed and flushed to disk), then the measured incremental ``sync_source`` that
  reads the recorded answer of the 1%-changed run.
  Reported as a share of the ``ours`` median.

Targets: ``ours`` median within 1.5x of the floor's; incremental under 3% of ``ours``.

    .venv/bin/python benchmarks/jira_sync.py                 # 10,000 issues, 3 rounds
    .venv/bin/python benchmarks/jira_sync.py --issues 2000 --repeat 3

Writes benchmarks/results/jira_sync-<UTC time>.json (README: readme_figures.py --write).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import jira_pages  # noqa: E402

TOKEN_ENV = "PMOHUB_BENCH_JIRA_TOKEN"
FULL_TARGET, INCREMENTAL_TARGET = 1.5, 0.03


def _config(url: str, projects: list[str], page_size: int) -> Any:
    from pmohub.connectors.base import SourceConfig

    return SourceConfig(
        name="bench_jira",
        type="jira",
        url=url,
        token_env=TOKEN_ENV,
        projects=tuple(projects),
        page_size=page_size,
    )


def _sync(engine: Any, url: str, facts: dict[str, Any], full: bool) -> dict[str, Any]:
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.connectors.jira import JiraConnector

    cfg = _config(url, facts["projects"], facts["page_size"])
    with JiraConnector(cfg) as c:
        result = sync_source(engine, c, full=full)
    assert result.ok, result.error
    return {"mode": result.mode, "fetched": result.fetched, "inserted": result.inserted,
            "updated": result.updated}  # fmt: skip


def trial_ours(url: str, facts: dict[str, Any], incremental: bool) -> None:
    from pmohub.aggregator.store import open_store

    with tempfile.TemporaryDirectory(prefix="pmohub-jira-bench-") as tmp:
        engine = open_store(f"sqlite:///{tmp}/bench.db")
        if incremental:
            _sync(engine, url, facts, True)
            # A real incremental run comes minutes after the full one, when its writes are
            # on disk: flush them here (set-up) so the measured run does not pay the
            # set-up's WAL checkpoint and write-back.
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            os.sync()

        def run() -> dict[str, Any]:
            s0 = jira_pages.server_cpu(url)
            doc = _sync(engine, url, facts, not incremental)
            doc["server_cpu_s"] = jira_pages.server_cpu(url) - s0
            return doc

        harness.measure(lambda: {**run(), "rss_mib": harness.trial_rss_mib()})
        engine.dispose()


def trial_floor(url: str, facts: dict[str, Any]) -> None:
    import requests

    from pmohub.connectors.jira.client import decode_json

    targets = [tuple(t) for t in facts["targets"]]
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    session.headers["Authorization"] = f"Bearer {os.environ.get(TOKEN_ENV, 'x')}"

    def run() -> dict[str, Any]:
        s0 = jira_pages.server_cpu(url)
        issues = 0
        for method, target in targets:
            assert method == "GET", method  # Data Center: the sync only reads
            doc = decode_json(session.get(url + target, timeout=60).content)
            if isinstance(doc, dict):
                issues += len(doc.get("issues") or ())
        return {"requests": len(targets), "issues_seen": issues,
                "server_cpu_s": jira_pages.server_cpu(url) - s0}  # fmt: skip

    harness.measure(lambda: {**run(), "rss_mib": harness.trial_rss_mib()})


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--issues", type=int, default=10_000)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--changed", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trial", choices=("ours", "floor", "incremental"), help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--facts", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trial:
        facts = json.loads(args.facts.read_text(encoding="utf-8"))
        if args.trial == "floor":
            trial_floor(args.url, facts)
        else:
            trial_ours(args.url, facts, args.trial == "incremental")
        return 0

    # The recording runs in a child (jira_pages.record_to), so its token is not ours; the
    # page server checks none, but the connector refuses to start without one.
    os.environ.setdefault(TOKEN_ENV, "bench-token")
    with tempfile.TemporaryDirectory(prefix="pmohub-jira-pages-") as tmp:
        t0 = time.perf_counter()
        pages = Path(tmp) / "pages.pickle"
        site = jira_pages.record_to(pages, args.issues, args.changed, args.page_size, TOKEN_ENV)
        targets = site.pop("full_targets")
        print(f"recorded in {time.perf_counter() - t0:.1f}s: {site}")
        facts_path = Path(tmp) / "facts.json"
        facts = {
            "projects": site["projects"],
            "page_size": args.page_size,
            "targets": targets,
        }
        facts_path.write_text(json.dumps(facts), encoding="utf-8")
        with jira_pages.PageServer(pages) as url:
            me, common = Path(__file__), ["--url", url, "--facts", str(facts_path)]
            trials = [
                harness.Trial(n, harness.child_argv(me, "--trial", n, *common))
                for n in ("ours", "floor", "incremental")
            ]
            sides = harness.alternate(trials, args.repeat)
    full = harness.compare(
        "full sync / fetch+decode of the same pages",
        sides,
        "ours",
        "floor",
        target=FULL_TARGET,
        target_text=f"<= {FULL_TARGET}x floor",
    )
    inc = harness.compare(
        f"incremental after {site['edited']} edits ({args.changed:.0%}) / full sync",
        sides,
        "incremental",
        "ours",
        target=INCREMENTAL_TARGET,
        target_text=f"< {INCREMENTAL_TARGET:.0%} of full",
    )
    server = {n: [r["server_cpu_s"] for r in runs] for n, runs in sides.items()}
    path = harness.save(
        "jira_sync",
        {
            "site": site,
            "page_size": args.page_size,
            "deployment": "datacenter",
            "server": "benchmarks/jira_pages.py: pre-rendered answers, asyncio, own process",
            "server_cpu_s": server,
            "comparisons": [full, inc],
        },
    )
    for cmp in (full, inc):
        a, b = cmp["ours_summary"], cmp["floor_summary"]
        print(
            f"{cmp['label']}: {cmp['ours']} {a['wall_s']['median']:.3f}s "
            f"(cpu {a['cpu_s']['median']:.2f}s) vs {cmp['floor']} {b['wall_s']['median']:.3f}s "
            f"(cpu {b['cpu_s']['median']:.2f}s): {cmp['ratio']:.3f}x, target "
            f"{cmp['target_text']}: {'met' if cmp['met'] else 'NOT met'}"
        )
    print(f"server CPU per trial: {server}\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
