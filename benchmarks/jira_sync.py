"""Jira sync benchmark against the emulator (issue 3).

One run, one generated site (default 50,000 issues, ~8 history entries and ~2 worklogs
each), served by the Jira emulator in a separate process (so the server does not share the
client's interpreter lock):

(a) full sync into a fresh SQLite store (aggregator.sync.sync_source);
(b) the floor: the same search pages fetched with plain ``requests`` and JSON-decoded,
    nothing mapped or stored;
(c) GrimoireLab perceval's Jira backend (Data Center mode, its own queries, per-issue
    comments included), run as a subprocess from its own virtualenv;
(d) an incremental sync after 1% of the issues changed.

Prints issues/s and ratios and writes benchmarks/results/jira_sync-<date>.json.

    .venv/bin/python benchmarks/jira_sync.py                  # 50,000 issues
    .venv/bin/python benchmarks/jira_sync.py --issues 5000    # quick
    python3 -m venv /tmp/perceval-venv && /tmp/perceval-venv/bin/pip install perceval
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from aggregator.store import open_store
from aggregator.sync import sync_source
from connectors.base import SourceConfig
from connectors.jira import JiraConnector
from emulators.jira.generator import generate_site
from emulators.jira.server import DEFAULT_EMAIL, DEFAULT_TOKEN, DEFAULT_USERNAME, JiraEmulator

HERE = Path(__file__).resolve().parent
TOKEN_ENV = "PMOHUB_BENCH_JIRA_TOKEN"


def serve(conn: Any, issues: int, deployment: str) -> None:
    """Child process: generate the site, serve it, obey edit/stop commands."""
    site = generate_site(seed=7, projects=4, issues=issues)
    stats = {
        "issues": len(site.issues),
        "histories": sum(len(i["histories"]) for i in site.issues),
        "worklogs": sum(len(i["worklogs"]) for i in site.issues),
        "projects": [p["key"] for p in site.projects],
    }
    with JiraEmulator(site, deployment=deployment) as emu:
        conn.send((emu.url, stats))
        while True:
            cmd, arg = conn.recv()
            if cmd == "edit":
                ordered = sorted(site.issues, key=lambda i: i["id"])
                step = max(1, len(ordered) // arg)
                edited = 0
                for issue in ordered[::step][:arg]:
                    emu.edit_issue(issue["key"], summary=f"{issue['summary']} (edited)")
                    edited += 1
                conn.send(edited)
            elif cmd == "requests":
                conn.send(len(emu.requests))
            else:
                conn.send("bye")
                return


def make_config(url: str, deployment: str, projects: list[str], page_size: int) -> SourceConfig:
    return SourceConfig(
        name="bench_jira",
        type="jira",
        url=url,
        token_env=TOKEN_ENV,
        email=DEFAULT_EMAIL if deployment == "cloud" else None,
        projects=tuple(projects),
        page_size=page_size,
    )


def run_floor(c: JiraConnector, deployment: str) -> tuple[int, int]:
    """The same search pages the connector reads (same JQL, fields, expand, key-set
    paging), through a bare requests.Session: HTTP + JSON decode, nothing else."""
    scope, fields, size = c._scope(), c._fields_param(), c.config.page_size
    base = c.client.base_url
    session = requests.Session()
    if deployment == "cloud":
        session.auth = (DEFAULT_EMAIL, os.environ[TOKEN_ENV])
        path = "/rest/api/3/search/jql"
    else:
        session.headers["Authorization"] = f"Bearer {os.environ[TOKEN_ENV]}"
        path = "/rest/api/2/search"
    last, issues, pages = 0, 0, 0
    while True:
        jql = scope + (f" AND id > {last}" if last else "") + " ORDER BY id ASC"
        params = {"jql": jql, "fields": fields, "maxResults": size, "expand": "changelog"}
        data = session.get(base + path, params=params, timeout=60).json()
        pages += 1
        got = data.get("issues") or []
        issues += len(got)
        if not got:
            break
        if deployment == "cloud" and not data.get("nextPageToken"):
            break
        if deployment != "cloud" and len(got) >= int(data.get("total", 0)):
            break
        last = int(got[-1]["id"])
    return issues, pages


def run_perceval(url: str, venv: Path, out: Path, limit_s: float) -> dict[str, Any]:
    """Perceval's Jira backend as a subprocess, stopped after ``limit_s`` seconds if still
    running (it fetches each issue's comments one request at a time: 50,000 issues take
    tens of minutes); its rate is then measured on the issues it wrote so far."""
    exe = venv / "bin" / "perceval"
    if not exe.exists():
        return {
            "skipped": f"{exe} not found (python3 -m venv {venv} && {venv}/bin/pip install perceval)"
        }
    # The emulator's well-known test token, not a real secret. --from-date: perceval's
    # default sends ``updated > 0``, and the emulator accepts only epoch-millisecond
    # literals of 9+ digits; a date before all data selects the same issues.
    cmd = [
        str(exe),
        "jira",
        url,
        "-u",
        DEFAULT_USERNAME,
        "-p",
        DEFAULT_TOKEN,
        "--json-line",
        "-o",
        str(out),
        "--no-archive",
        "--from-date",
        "2000-01-01",
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=limit_s)
        complete = True
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        complete = False
    seconds = time.perf_counter() - t0
    count = sum(1 for _ in out.open()) if out.exists() else 0
    result: dict[str, Any] = {"seconds": round(seconds, 2), "issues": count, "complete": complete}
    if complete and proc.returncode != 0:
        result["stderr"] = (stderr or "")[-2000:]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--issues", type=int, default=50_000)
    ap.add_argument("--deployment", choices=["datacenter", "cloud"], default="datacenter")
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--perceval-venv", type=Path, default=Path("/tmp/perceval-venv"))
    ap.add_argument("--skip-perceval", action="store_true")
    ap.add_argument("--perceval-limit-s", type=float, default=300.0)
    ap.add_argument("--changed", type=float, default=0.01, help="share changed before (d)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    os.environ[TOKEN_ENV] = DEFAULT_TOKEN

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(child, args.issues, args.deployment), daemon=True)
    t0 = time.perf_counter()
    server.start()
    url, stats = parent.recv()
    print(
        f"site: {stats['issues']} issues, {stats['histories']} histories, "
        f"{stats['worklogs']} worklogs, generated and served in {time.perf_counter() - t0:.1f}s "
        f"({args.deployment}) at {url}",
        file=sys.stderr,
    )
    results: dict[str, Any] = {
        "benchmark": "jira_sync",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "deployment": args.deployment,
        "page_size": args.page_size,
        "site": stats,
    }
    n = stats["issues"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(url, args.deployment, stats["projects"], args.page_size)
        engine = open_store(f"sqlite:///{tmp}/bench.db")

        # (b) floor first: warms the server's caches equally for everyone after it.
        with JiraConnector(cfg) as c:
            c.check()
            t = time.perf_counter()
            floor_issues, floor_pages = run_floor(c, args.deployment)
            floor_s = time.perf_counter() - t
        assert floor_issues == n, (floor_issues, n)
        results["floor"] = {
            "seconds": round(floor_s, 2),
            "pages": floor_pages,
            "issues_per_s": round(n / floor_s, 1),
        }
        print(f"(b) floor: {floor_s:.1f}s, {n / floor_s:,.0f} issues/s", file=sys.stderr)

        # (a) full sync into SQLite
        with JiraConnector(cfg) as c:
            t = time.perf_counter()
            full = sync_source(engine, c, full=True, page_size=500)
            full_s = time.perf_counter() - t
        assert full.ok, full.error
        results["full_sync"] = {
            "seconds": round(full_s, 2),
            "issues_per_s": round(n / full_s, 1),
            "fetched": full.fetched,
            "inserted": full.inserted,
            "skipped": full.skipped,
        }
        print(
            f"(a) full sync: {full_s:.1f}s, {n / full_s:,.0f} issues/s, "
            f"{full.inserted:,} rows inserted",
            file=sys.stderr,
        )

        # The floor again, after the sync: the emulator caches recent query results, so
        # whichever pass runs second may be favoured; the faster floor is the one we keep.
        with JiraConnector(cfg) as c:
            c.check()
            t = time.perf_counter()
            run_floor(c, args.deployment)
            floor2_s = time.perf_counter() - t
        results["floor"]["seconds_second_pass"] = round(floor2_s, 2)
        if floor2_s < floor_s:
            floor_s = floor2_s
            results["floor"].update(seconds=round(floor_s, 2), issues_per_s=round(n / floor_s, 1))
        print(f"(b) floor, second pass: {floor2_s:.1f}s", file=sys.stderr)

        # (d) incremental after 1% changed
        parent.send(("edit", max(1, int(n * args.changed))))
        edited = parent.recv()
        with JiraConnector(cfg) as c:
            t = time.perf_counter()
            inc = sync_source(engine, c, page_size=500)
            inc_s = time.perf_counter() - t
        assert inc.ok and inc.mode == "incremental", inc.error
        results["incremental"] = {
            "seconds": round(inc_s, 2),
            "edited": edited,
            "fetched": inc.fetched,
            "updated": inc.updated,
            "inserted": inc.inserted,
        }
        print(f"(d) incremental after {edited} edits: {inc_s:.2f}s", file=sys.stderr)

        # (c) perceval
        if args.skip_perceval or args.deployment != "datacenter":
            results["perceval"] = {"skipped": "not requested or not Data Center"}
        else:
            print("(c) perceval running...", file=sys.stderr)
            results["perceval"] = run_perceval(
                url, args.perceval_venv, Path(tmp) / "perceval.jsonl", args.perceval_limit_s
            )
            p = results["perceval"]
            if "seconds" in p and p["issues"]:
                p["issues_per_s"] = round(p["issues"] / p["seconds"], 1)
            print(f"(c) perceval: {p}", file=sys.stderr)
    parent.send(("stop", None))
    parent.recv()
    server.join(timeout=10)

    ratios: dict[str, Any] = {
        "full_over_floor": round(full_s / floor_s, 3),
        "incremental_over_full": round(inc_s / full_s, 4),
    }
    p = results["perceval"]
    if p.get("seconds") and p.get("issues"):
        # Compared by rate: perceval may have been stopped before the end.
        ratios["full_rate_over_perceval_rate"] = round((n / full_s) / p["issues_per_s"], 2)
    results["ratios"] = ratios
    results["targets"] = {
        "full_within_1.5x_floor": ratios["full_over_floor"] <= 1.5,
        "faster_than_perceval": ratios.get("full_rate_over_perceval_rate", 0) > 1,
        "incremental_under_5pct": ratios["incremental_over_full"] < 0.05,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"jira_sync-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"ratios": ratios, "targets": results["targets"]}, indent=2))
    print(f"saved {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
