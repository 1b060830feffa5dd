"""Redmine sync benchmark on a REAL Redmine (issue 12): Debian's redmine + thin, loaded with
Redmine's own test fixtures (the real-payloads folder's ``redmine/test-fixtures-5.0.4``, beside the repository) plus
generated issues written straight into its SQLite database before it starts (the REST
API takes ~60 ms per issue; this takes a second). Measured: a full ``sync_source`` into a
fresh SQLite store and an immediate incremental re-sync with nothing changed (every issue
is still inside the 60-minute lookback window, the worst case for it).

Generated issues: ``--issues`` (default 2,100) in the fixtures' eCookbook project, a share
``--edited`` (default 0.3) edited after creation with two journals each (status and
assignee changes, a note), the rest never edited, like issues filed by scripts and
closed in bulk. Every edited issue costs one journal request on a full run; the figures
below say how many requests were made.

    .venv/bin/python benchmarks/redmine_sync.py
    .venv/bin/python benchmarks/redmine_sync.py --issues 3000 --edited 0.5 --workers 4

Writes benchmarks/results/redmine_sync-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from redmine_server import TOKEN_ENV, start_fixture_redmine

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.redmine import RedmineConnector

RESULTS = Path(__file__).parent / "results"
PROJECT = 1  # eCookbook in the fixtures (issue tracking and time tracking on)
USERS = (2, 3)  # jsmith, dlopper: members of eCookbook
STATUSES = (1, 2, 3, 5)


def seed(db: Path, issues: int, edited: float, rng: random.Random) -> dict[str, int]:
    """Generated issues (and journals for the edited share) in one transaction."""
    base = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    fmt = "%Y-%m-%d %H:%M:%S"
    n_journals = 0
    with sqlite3.connect(db) as conn:
        first = (conn.execute("SELECT max(id) FROM issues").fetchone()[0] or 0) + 1
        jid = (conn.execute("SELECT max(id) FROM journals").fetchone()[0] or 0) + 1
        did = (conn.execute("SELECT max(id) FROM journal_details").fetchone()[0] or 0) + 1
        issue_rows, journal_rows, detail_rows = [], [], []
        for k in range(issues):
            iid = first + k
            created = base + dt.timedelta(minutes=17 * k)
            is_edited = rng.random() < edited
            status = rng.choice(STATUSES) if is_edited else 1
            updated = created + dt.timedelta(days=2) if is_edited else created
            issue_rows.append(
                (iid, rng.choice((1, 2, 3)), PROJECT, f"Generated issue {k + 1}", "", status,
                 rng.choice(USERS), 4, 2, 0, created.strftime(fmt), updated.strftime(fmt),
                 rng.choice((0, 30, 60, 100)), iid, 1, 2, 0,
                 updated.strftime(fmt) if status == 5 else None)
            )  # fmt: skip
            if not is_edited:
                continue
            for step, (prop, old, new) in enumerate(
                (("status_id", "1", "2"), ("assigned_to_id", str(USERS[0]), str(USERS[1])))
            ):
                at = (created + dt.timedelta(days=1 + step)).strftime(fmt)
                journal_rows.append((jid, iid, "Issue", rng.choice(USERS), f"step {step}", at, 0))
                detail_rows.append((did, jid, "attr", prop, old, new))
                jid, did, n_journals = jid + 1, did + 1, n_journals + 1
        conn.executemany(
            "INSERT INTO issues (id, tracker_id, project_id, subject, description, status_id,"
            " assigned_to_id, priority_id, author_id, lock_version, created_on, updated_on,"
            " done_ratio, root_id, lft, rgt, is_private, closed_on)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            issue_rows,
        )
        conn.executemany(
            "INSERT INTO journals (id, journalized_id, journalized_type, user_id, notes,"
            " created_on, private_notes) VALUES (?,?,?,?,?,?,?)",
            journal_rows,
        )
        conn.executemany(
            "INSERT INTO journal_details (id, journal_id, property, prop_key, old_value, value)"
            " VALUES (?,?,?,?,?,?)",
            detail_rows,
        )
        total = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
    edited_n = sum(1 for r in issue_rows if r[10] != r[11])
    return {"issues_total": total, "generated": issues, "edited": edited_n, "journals": n_journals}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--issues", type=int, default=2100)
    ap.add_argument("--edited", type=float, default=0.3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args(argv)
    facts: dict[str, int] = {}

    def prepare(db: Path) -> None:
        facts.update(seed(db, args.issues, args.edited, random.Random(args.seed)))

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    server = start_fixture_redmine(prepare)
    started_s = time.perf_counter() - t0
    requests_made = {"n": 0}
    try:
        conf = SourceConfig(
            name="redmine_bench",
            type="redmine",
            url=server.url,
            token_env=TOKEN_ENV,
            options={"history_workers": args.workers},
        )

        def make() -> RedmineConnector:
            conn = RedmineConnector(conf, env=server.env)
            real = conn.client.request

            def counted(*a: Any, **kw: Any) -> Any:
                requests_made["n"] += 1
                return real(*a, **kw)

            conn.client.request = counted  # type: ignore[method-assign]
            return conn

        with tempfile.TemporaryDirectory() as tmp:
            engine = open_store(f"sqlite:///{tmp}/bench.db")
            try:
                t0 = time.perf_counter()
                full = sync_source(engine, make())
                full_s = time.perf_counter() - t0
                full_requests, requests_made["n"] = requests_made["n"], 0
                t0 = time.perf_counter()
                again = sync_source(engine, make())
                inc_s = time.perf_counter() - t0
            finally:
                engine.dispose()
    finally:
        server.stop()
    result = {
        "benchmark": "redmine_sync",
        "redmine": "5.0.4 (Debian), thin, SQLite; fixtures test-fixtures-5.0.4 + generated",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        # 1-minute load average before and after: on a shared, busy machine the figures
        # measure the neighbours as much as the code
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "history_workers": args.workers,
        "edited_share": args.edited,
        **facts,
        "server_start_s": round(started_s, 1),
        "full": {
            "status": full.status,
            "seconds": round(full_s, 2),
            "fetched": full.fetched,
            "skipped": full.skipped,
            "warnings": len(full.warnings),
            "requests": full_requests,
        },
        "incremental_nothing_changed": {
            "status": again.status,
            "seconds": round(inc_s, 2),
            "fetched": again.fetched,
            "changes": again.inserted + again.updated + again.deleted,
            "requests": requests_made["n"],
        },
        "targets": {"full_s": 60, "incremental_s": 5},
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"redmine_sync-{stamp}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"written {out}")
    return result


if __name__ == "__main__":
    main()
