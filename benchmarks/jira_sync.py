"""Jira sync benchmark against the emulator (issue 3).

One run, one generated site (default 50,000 issues, ~8 history entries and ~2 worklogs
each), served by the Jira emulator in a separate process (so the server does not share the
client's interpreter lock):

(a) full sync into a fresh SQLite store (aggregator.ingest.sync.sync_source): catalogue (server
    info, fields, projects, users, boards, sprints, versions), every search page, mapping,
    store writes, the census of ids (soft deletes);
(b) the floor: the same search pages fetched with plain ``requests`` and JSON-decoded,
    nothing mapped or stored;
(c) GrimoireLab perceval's Jira backend (Data Center mode, its own queries, per-issue
    comments included), run as a subprocess from its own virtualenv (created and
    ``pip install perceval``-ed by this script when missing);
(d) an incremental sync after 1% of the issues changed.

Apples to apples: the floor sends exactly the search requests the connector's work-item
pass sends: same scope JQL, same ``fields`` (the base fields, ``worklog`` and the discovered
custom fields), ``expand=changelog``, same page size, same key-set paging
(``<scope> AND id > <last> ORDER BY id ASC``) and the same end-of-results rule. On Data
Center the emulator embeds complete changelogs and the generated issues have fewer than
20 worklogs, so the connector needs no per-issue completion requests (it would on Cloud or
with longer histories; those requests would then be part of (a) only). What (a) does on
top of the floor: ~20 catalogue requests, the census (ids only, 1,000 per page on Data
Center), mapping to records, and the store writes. Both run on one connection from one
client process; the connector prefetches pages in a thread while it writes.

The machine may be shared: the floor and the full sync are each run ``--repeat`` times,
alternately, and the fastest of each is compared (the same number of tries for both). The
client's CPU seconds and the load average are saved next to the wall times.

Prints issues/s and ratios and writes benchmarks/results/jira_sync-<UTC time>.json.

    .venv/bin/python benchmarks/jira_sync.py                  # 50,000 issues
    .venv/bin/python benchmarks/jira_sync.py --issues 5000    # quick
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

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.jira import JiraConnector
from pmohub.emulators.jira.generator import generate_site
from pmohub.emulators.jira.server import (
    DEFAULT_EMAIL,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    JiraEmulator,
)

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


def ensure_perceval(venv: Path) -> Path | str:
    """The perceval executable, installing it into its own virtualenv when missing (a
    fresh machine has none; it must not go into the project's environment). Returns the
    path, or the reason it could not be installed."""
    exe = venv / "bin" / "perceval"
    if exe.exists():
        return exe
    print(f"(c) installing perceval into {venv} ...", file=sys.stderr)
    try:
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "perceval"],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        return f"could not install perceval into {venv}: {str(detail)[-500:]}"
    return exe if exe.exists() else f"{exe} missing after pip install perceval"


def run_perceval(url: str, venv: Path, out: Path, limit_s: float) -> dict[str, Any]:
    """Perceval's Jira backend as a subprocess, stopped after ``limit_s`` seconds if still
    running (it fetches each issue's comments one request at a time: 50,000 issues take
    tens of minutes); its rate is then measured on the issues it wrote so far."""
    exe = ensure_perceval(venv)
    if isinstance(exe, str):
        return {"skipped": exe}
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
    ap.add_argument("--repeat", type=int, default=2, help="tries of (a) and (b); best kept")
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

        def floor_once() -> tuple[float, float, int]:
            with JiraConnector(cfg) as c:
                c.check()
                t, cpu = time.perf_counter(), time.process_time()
                got, pages = run_floor(c, args.deployment)
                wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            assert got == n, (got, n)
            return wall, cpu, pages

        def full_once(k: int) -> tuple[float, float, Any, Any]:
            engine = open_store(f"sqlite:///{tmp}/bench{k}.db")
            with JiraConnector(cfg) as c:
                t, cpu = time.perf_counter(), time.process_time()
                result = sync_source(engine, c, full=True, page_size=500)
                wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            assert result.ok, result.error
            return wall, cpu, result, engine

        # Floor first (warms the server's caches for everyone after it), then alternately.
        floors: list[tuple[float, float, int]] = []
        fulls: list[tuple[float, float]] = []
        engine = full = None
        for k in range(max(1, args.repeat)):
            floors.append(floor_once())
            print(f"(b) floor #{k + 1}: {floors[-1][0]:.1f}s", file=sys.stderr)
            if engine is not None:
                engine.dispose()
            wall, cpu, full, engine = full_once(k)
            fulls.append((wall, cpu))
            print(
                f"(a) full sync #{k + 1}: {wall:.1f}s, {full.inserted:,} rows inserted",
                file=sys.stderr,
            )
        assert full is not None and engine is not None
        floor_s, floor_cpu, floor_pages = min(floors)
        full_s, full_cpu = min(fulls)
        results["floor"] = {
            "seconds": round(floor_s, 2),
            "client_cpu_seconds": round(floor_cpu, 2),
            "pages": floor_pages,
            "issues_per_s": round(n / floor_s, 1),
            "tries_seconds": [round(f[0], 2) for f in floors],
        }
        results["full_sync"] = {
            "seconds": round(full_s, 2),
            "client_cpu_seconds": round(full_cpu, 2),
            "issues_per_s": round(n / full_s, 1),
            "tries_seconds": [round(f[0], 2) for f in fulls],
            "fetched": full.fetched,
            "inserted": full.inserted,
            "skipped": full.skipped,
        }
        results["load_average_after_a_b"] = [round(x, 2) for x in os.getloadavg()]
        print(
            f"(b) floor {floor_s:.1f}s, (a) full sync {full_s:.1f}s "
            f"({n / full_s:,.0f} issues/s): best of {len(fulls)}",
            file=sys.stderr,
        )

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
        "full_over_floor_client_cpu": round(full_cpu / floor_cpu, 3),
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
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"jira_sync-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"ratios": ratios, "targets": results["targets"]}, indent=2))
    print(f"saved {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
