"""Rules benchmark: a full `pmohub check` over a large SQLite store next to a floor.

Store: N work items (default 1,000,000) in P projects (default 2,000) with history (2
status changes per item plus due-date moves), worklogs (one per two items), versions,
sprints, a registry issue per project (PMO project, phase history), and a baseline per
project. Written with the bare sqlite3 driver from compiled SQLAlchemy inserts (fast set-up,
not measured).

Measured, each in a fresh child process (time and peak RSS of that process):

- ``floor``: read exactly the columns the enabled rules declare in ``needs`` (and the
  hierarchy/registry columns the loader joins) into pandas DataFrames with
  ``pandas.read_sql_query`` on a bare sqlite3 connection; nothing else;
- ``check``: ``aggregator.compliance.run.run_checks`` as ``pmohub check`` runs it: load, derive,
  all 35 rules, waivers, and the findings upsert (lifecycle) into the store.

    .venv/bin/python benchmarks/rules_check.py                       # 1,000,000 items
    .venv/bin/python benchmarks/rules_check.py --items 100000 --projects 200   # quick

Results are printed and saved to benchmarks/results/rules_check-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, delete, insert, select  # noqa: E402
from sqlalchemy.dialects import sqlite as sqlite_dialect  # noqa: E402

from pmohub.aggregator.store import models as m  # noqa: E402

AS_OF = dt.date(2026, 11, 20)
SOURCE = "bench"
TYPES = (
    ["Story"] * 60 + ["Task"] * 20 + ["Bug"] * 14 + ["Epic"] * 3 + ["Risk"] * 2 + ["Status Report"]
)
STATUS = [("To Do", "todo"), ("In Progress", "in_progress"), ("Done", "done"), ("Done", "done")]


def _ts(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


def _insert_sql(table: Any, columns: list[str]) -> tuple[str, list[int]]:
    """Compiled INSERT and, for each ``?``, the index of its value in our row tuples
    (SQLAlchemy orders the columns as the table does, not as we list them)."""
    compiled = (
        insert(table)
        .values({c: bindparam(c) for c in columns})
        .compile(dialect=sqlite_dialect.dialect())
    )
    return str(compiled), [columns.index(name) for name in compiled.positiontup]


def build_store(db: Path, n_items: int, n_projects: int) -> Path:
    from pmohub.aggregator.store.engine import open_store

    open_store(f"sqlite:///{db}").dispose()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous=OFF")
    now = dt.datetime(2026, 11, 20, 1)
    base = dt.datetime(2026, 3, 2, 2)

    def put(table: Any, rows: list[tuple[Any, ...]], columns: list[str]) -> None:
        sql, order = _insert_sql(table, columns)
        conn.executemany(sql, ([r[i] for i in order] for r in rows))

    put(m.Source.__table__, [(SOURCE, "jira", _ts(now))], ["name", "type", "created_at"])
    keys = [f"P{p:04d}" for p in range(n_projects)]
    put(
        m.Project.__table__,
        [(SOURCE, str(i + 1), k, k) for i, k in enumerate([*keys, "PMO"])],
        ["source", "external_id", "key", "name"],
    )
    n_people = max(10, n_items // 2500)
    put(
        m.Person.__table__,
        [(f"user{i}", i % 50 != 0, _ts(now)) for i in range(n_people)],
        ["display_name", "active", "created_at"],
    )
    ms_rows, it_rows = [], []
    for p in range(n_projects):
        for v in range(5):
            due = (base + dt.timedelta(days=40 * v + p % 20)).date()
            ms_rows.append(
                (
                    SOURCE,
                    f"v{p}-{v}",
                    p + 1,
                    f"R{v}",
                    due.isoformat(),
                    int(due < AS_OF),
                    due.isoformat() if due < AS_OF else None,
                    0,
                )
            )
        for s, state in enumerate(("closed", "active")):
            start = now - dt.timedelta(days=14 * (2 - s))
            it_rows.append(
                (
                    SOURCE,
                    f"s{p}-{s}",
                    p + 1,
                    f"Sprint {s}",
                    state,
                    _ts(start),
                    _ts(start + dt.timedelta(days=14)),
                )
            )
    put(
        m.Milestone.__table__,
        ms_rows,
        [
            "source",
            "external_id",
            "project_id",
            "name",
            "due_on",
            "released",
            "released_on",
            "archived",
        ],
    )
    put(
        m.Iteration.__table__,
        it_rows,
        ["source", "external_id", "project_id", "name", "state", "start_at", "end_at"],
    )

    wi_cols = [
        "id",
        "source",
        "external_id",
        "key",
        "project_id",
        "project_key",
        "title",
        "type",
        "status",
        "status_category",
        "priority",
        "assignee",
        "assignee_id",
        "parent_id",
        "created_at",
        "updated_at",
        "resolved_at",
        "resolution",
        "start_on",
        "due_on",
        "story_points",
        "original_estimate_h",
        "remaining_estimate_h",
        "labels",
        "components",
        "milestone_ids",
        "iteration_ids",
        "extra",
    ]
    sc_cols = [
        "source",
        "external_id",
        "work_item_id",
        "field",
        "from_value",
        "to_value",
        "changed_at",
    ]
    wl_cols = [
        "source",
        "external_id",
        "work_item_id",
        "author",
        "person_id",
        "started_at",
        "seconds",
    ]
    bl_cols = [
        "project_key",
        "label",
        "taken_at",
        "reconstructed",
        "subject_kind",
        "work_item_id",
        "milestone_id",
        "story_points",
        "original_estimate_h",
        "start_on",
        "due_on",
    ]
    per_project = n_items // n_projects
    item_id = 0
    batch_wi: list[tuple[Any, ...]] = []
    batch_sc: list[tuple[Any, ...]] = []
    batch_wl: list[tuple[Any, ...]] = []
    batch_bl: list[tuple[Any, ...]] = []

    def flush() -> None:
        put(m.WorkItem.__table__, batch_wi, wi_cols)
        put(m.StatusChange.__table__, batch_sc, sc_cols)
        put(m.Worklog.__table__, batch_wl, wl_cols)
        put(m.Baseline.__table__, batch_bl, bl_cols)
        batch_wi.clear()
        batch_sc.clear()
        batch_wl.clear()
        batch_bl.clear()

    taken = _ts(base + dt.timedelta(days=20))
    for p, key in enumerate(keys):
        epic_id = None
        for j in range(per_project):
            item_id += 1
            t = TYPES[(j * 7 + p) % len(TYPES)]
            status, cat = STATUS[(j + p) % 4] if j % 97 else ("In Progress", "in_progress")
            created = base + dt.timedelta(days=(j * 3) % 200, hours=j % 24)
            start = created + dt.timedelta(days=3)
            due = (created + dt.timedelta(days=20 + (j % 30))).date()
            updated = min(now, created + dt.timedelta(days=12 + j % 60))
            if t == "Epic":
                epic_id = item_id
            extra = "{}"
            if t == "Risk":
                extra = json.dumps(
                    {
                        "risk_probability": 1 + j % 5,
                        "risk_impact": 1 + (j // 5) % 5,
                        "risk_response": "reduce" if j % 3 else None,
                    }
                )
            elif t == "Status Report":
                extra = json.dumps(
                    {
                        "rag": "Green",
                        "report_schedule": "on track with the plan this week",
                        "report_cost": "ok",
                    }
                )
            batch_wi.append(
                (
                    item_id,
                    SOURCE,
                    str(item_id),
                    f"{key}-{j + 1}",
                    p + 1,
                    key,
                    f"Item {j}",
                    t,
                    status,
                    cat,
                    ("High", "Medium", "Low", "Highest")[j % 4],
                    f"u{(p * 13 + j) % n_people}" if j % 11 else None,
                    ((p * 13 + j) % n_people) + 1 if j % 11 else None,
                    epic_id if t not in ("Epic", "Risk", "Status Report") else None,
                    _ts(created),
                    _ts(updated),
                    _ts(updated) if cat == "done" else None,
                    "Done" if cat == "done" else None,
                    start.date().isoformat(),
                    due.isoformat(),
                    float(j % 8) if j % 5 else None,
                    float(4 + j % 12),
                    float(j % 6),
                    '["pre-approval"]' if j % 50 == 0 else "[]",
                    "[]",
                    f'["v{p}-{j % 5}"]',
                    f'["s{p}-{j % 2}"]' if j % 3 == 0 else "[]",
                    extra,
                )
            )
            batch_sc.append(
                (SOURCE, f"h{item_id}a", item_id, "status", "To Do", "In Progress", _ts(start))
            )
            if cat == "done":
                batch_sc.append(
                    (SOURCE, f"h{item_id}b", item_id, "status", "In Progress", "Done", _ts(updated))
                )
            if t == "Epic":
                batch_sc.append(
                    (
                        SOURCE,
                        f"h{item_id}c",
                        item_id,
                        "duedate",
                        (due - dt.timedelta(days=10)).isoformat(),
                        due.isoformat(),
                        _ts(updated),
                    )
                )
            if j % 2 == 0:
                batch_wl.append(
                    (
                        SOURCE,
                        f"w{item_id}",
                        item_id,
                        "u1",
                        ((p + j) % n_people) + 1,
                        _ts(start + dt.timedelta(days=1)),
                        3600 * (1 + j % 6),
                    )
                )
            if t in ("Story", "Task", "Bug", "Epic"):
                batch_bl.append(
                    (
                        key,
                        "plan-approved",
                        taken,
                        0,
                        "work_item",
                        item_id,
                        None,
                        float(j % 8) if j % 5 else None,
                        float(4 + j % 12),
                        start.date().isoformat(),
                        (due - dt.timedelta(days=j % 7)).isoformat(),
                    )
                )
        batch_bl.append(
            (
                key,
                "plan-approved",
                taken,
                0,
                "project",
                None,
                None,
                None,
                None,
                base.date().isoformat(),
                "2026-12-31",
            )
        )
        if len(batch_wi) > 50_000:
            flush()
    flush()
    # The PMO registry: one registry issue per project, with its phase history.
    reg_rows, reg_sc = [], []
    phases = [
        ("Proposed", "Approved"),
        ("Approved", "Planning"),
        ("Planning", "PlanApproved"),
        ("PlanApproved", "Execution"),
    ]
    for p, key in enumerate(keys):
        item_id += 1
        extra = {
            "objective": "o",
            "scope": "s",
            "deliverables": "d",
            "assumptions": "a",
            "sponsor": "x",
            "planned_start": "2026-03-01",
            "planned_end": "2026-12-31",
            "strategic_fit": "f",
            "subplans": "scope schedule cost quality resource communication risk procurement",
        }
        if p % 10 == 0:
            extra.pop("sponsor")
        reg_rows.append(
            (
                item_id,
                SOURCE,
                str(item_id),
                f"PMO-{p + 1}",
                n_projects + 1,
                "PMO",
                f"{key} charter",
                "Project",
                "Execution",
                "in_progress",
                "Medium",
                None,
                None,
                None,
                _ts(base),
                _ts(now),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                "[]",
                "[]",
                "[]",
                "[]",
                json.dumps(extra),
            )
        )
        for k, (a, b) in enumerate(phases):
            reg_sc.append(
                (
                    SOURCE,
                    f"r{item_id}-{k}",
                    item_id,
                    "status",
                    a,
                    b,
                    _ts(base + dt.timedelta(days=5 * k + (p % 30))),
                )
            )
    put(m.WorkItem.__table__, reg_rows, wi_cols)
    put(m.StatusChange.__table__, reg_sc, sc_cols)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()

    cfg = db.parent / "pmohub.yaml"
    lines = [
        "version: 1",
        f"database: sqlite:///{db}",
        "timezone: Asia/Shanghai",
        "calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}}",
        "defaults: {calendar: cn, hours_per_day: 8, hpp: 6}",
        "sources:",
        f"  {SOURCE}: {{type: jira, url: https://example.atlassian.net, token_env: BENCH_TOKEN, registry_project: PMO}}",
        "waivers:",
        '  - {rule: RPT-001, scope: "portfolio:PF0", reason: bench, expires: 2026-12-31}',
        "hierarchy:",
    ]
    n_portfolios = max(1, n_projects // 200)
    for f in range(n_portfolios):
        lines += [f"  - portfolio: PF{f}", "    programmes:"]
        for g in range(5):
            lines += [f"      - programme: PG{f}-{g}", "        projects:"]
            for p in range(
                f * (n_projects // n_portfolios) + g, (f + 1) * (n_projects // n_portfolios), 5
            ):
                lines.append(
                    f"          - {{key: {keys[p]}, registry_issue: PMO-{p + 1}, priority_rank: {p + 1}, pm: user{p % n_people}}}"
                )
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def child_floor(config_path: Path) -> dict[str, Any]:
    import pandas as pd

    from pmohub.aggregator.compliance.frames import needed_columns
    from pmohub.aggregator.config.loader import load_config_file
    from pmohub.rules.engine import load_rules

    config = load_config_file(config_path)
    t0 = time.perf_counter()
    need = needed_columns(load_rules().values())
    tables = {
        "work_items": m.WorkItem.__table__,
        "status_changes": m.StatusChange.__table__,
        "worklogs": m.Worklog.__table__,
        "milestones": m.Milestone.__table__,
        "iterations": m.Iteration.__table__,
        "links": m.WorkItemLink.__table__,
        "baselines": m.Baseline.__table__,
        "people": m.Person.__table__,
    }
    need.setdefault("work_items", set()).update(
        {"extra", "project_key", "type", "source", "external_id", "id"}
    )
    db = config.database.removeprefix("sqlite:///")
    conn = sqlite3.connect(db)
    rows = 0
    frames = {}
    for name, table in tables.items():
        cols = [c for c in sorted(need.get(name, set())) if c in table.c]
        if not cols:
            continue
        sql = str(select(*[table.c[c] for c in cols]).compile(dialect=sqlite_dialect.dialect()))
        frames[name] = pd.read_sql_query(sql, conn)
        rows += len(frames[name])
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), "rows": rows, "peak_rss_mb": round(_maxrss_mb(), 1)}


def child_check(config_path: Path) -> dict[str, Any]:
    from pmohub.aggregator.compliance.run import run_checks
    from pmohub.aggregator.config.loader import load_config_file
    from pmohub.aggregator.store.engine import open_store

    config = load_config_file(config_path)
    engine = open_store(config.database)
    t0 = time.perf_counter()
    result = run_checks(engine, config, as_of=AS_OF)
    seconds = time.perf_counter() - t0
    out = result.outcomes
    counts = out["outcome"].value_counts().to_dict()
    per_rule = out[out["outcome"] == "finding"].groupby("rule_id").size().to_dict()
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(_maxrss_mb(), 1),
        "outcomes": {k: int(v) for k, v in counts.items()},
        "findings_per_rule": {k: int(v) for k, v in per_rule.items()},
        "errors": result.errors,
        "lifecycle": result.counts,
    }


def run_child(kind: str, config: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--projects", type=int, default=2_000)
    ap.add_argument("--keep", type=Path, help="Build the store in this directory and keep it.")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="With --keep: reuse a store built before (its findings are cleared first).",
    )
    ap.add_argument("--child", choices=["floor", "check"], help=argparse.SUPPRESS)
    ap.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = child_floor if args.child == "floor" else child_check
        print(json.dumps(fn(args.config)))
        return
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="pmohub-rules-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "bench.db"
    t0 = time.perf_counter()
    if args.reuse and db.exists() and (tmp / "pmohub.yaml").exists():
        config = tmp / "pmohub.yaml"
        with sqlite3.connect(db) as conn:
            for table in (m.Finding.__table__, m.Waiver.__table__):
                conn.execute(str(delete(table).compile(dialect=sqlite_dialect.dialect())))
    else:
        for leftover in tmp.glob("bench.db*"):
            leftover.unlink()
        config = build_store(db, args.items, args.projects)
    build_s = time.perf_counter() - t0
    print(f"store built in {build_s:.1f} s ({db.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
    floor = run_child("floor", config)
    print(f"floor: {floor}", file=sys.stderr)
    check = run_child("check", config)
    print(f"check: {check['seconds']} s, {check['peak_rss_mb']} MB", file=sys.stderr)
    rerun = run_child("check", config)
    result = {
        "benchmark": "rules_check",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "items": args.items,
        "projects": args.projects,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "store_build_s": round(build_s, 1),
        "store_mb": round(db.stat().st_size / 1e6, 1),
        "floor": floor,
        "check": check,
        "check_rerun_same_as_of": {k: rerun[k] for k in ("seconds", "peak_rss_mb", "lifecycle")},
        "ratio_time": round(check["seconds"] / max(floor["seconds"], 1e-9), 2),
    }
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"rules_check-{stamp}.json").write_text(
        json.dumps(result, indent=2), encoding="utf-8"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
