"""Rules benchmark: a full `pmohub check` over a large SQLite store next to a floor.

Store: N work items (default 1,000,000) in P projects (default 2,000) with history (2
status changes per item plus due-date moves), worklogs (one per two items), versions,
sprints, a registry issue per project (PMO project, phase history), and a baseline per
project. Written with the bare sqlite3 driver from compiled SQLAlchemy inserts (fast set-up,
not measured).

The store is built once per (items, projects) into ``--cache`` (default
/tmp/pmohub-bench/rules-<items>-<projects>/, ~1-2 min for 1M items) and reused by every
trial and every later run; delete the directory to rebuild it.

Measured with benchmarks/harness.py: ``check`` and ``floor`` alternated (order flipped
every round), ``--repeat`` times each (default 3), each trial a fresh child process
(wall and CPU seconds of the measured call, the child's peak RSS, the load average):

- ``floor``: exactly the tables and columns the check reads (:func:`floor_reads`: the union
  of the enabled rules' ``needs``/``optional`` columns and the few the loader derives
  from), live rows only, each read with ``pandas.read_sql_query`` on a bare sqlite3
  connection into a DataFrame; nothing converted, derived or checked. The least any
  check must do: fetch its inputs with the plain driver into frames;
- ``check``: ``aggregator.compliance.run.run_checks`` as ``pmohub check`` runs it (load,
  derive, every enabled rule, waivers, the findings upsert into the store), without the
  report rendering. Set-up (not measured) clears the findings of the previous trial.

Targets (medians, 1M items): check <= 3x floor and peak RSS < 1.5 KB per item.

    .venv/bin/python benchmarks/rules_check.py                               # 1,000,000 items
    .venv/bin/python benchmarks/rules_check.py --items 100000 --projects 200 --no-save

Results: benchmarks/results/rules_check-<UTC time>.json (README: benchmarks/readme_figures.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import harness  # noqa: E402
from sqlalchemy import bindparam, delete, insert, select  # noqa: E402
from sqlalchemy.dialects import sqlite as sqlite_dialect  # noqa: E402

from pmohub.aggregator.store import models as m  # noqa: E402

AS_OF = dt.date(2026, 11, 20)
TARGET_RATIO = 3.0
TARGET_KB_PER_ITEM = 1.5
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


# -- measured trials ---------------------------------------------------------------------


def floor_reads(config: Any) -> list[tuple[str, list[str]]]:
    """The (table, columns) the check reads, exactly as ``load_frames`` selects them for
    the enabled rules: the union of the rules' ``needs``/``optional`` columns plus the
    columns the loader derives from (item base, labels, extra, assignee, created/updated),
    status history, worklogs, versions, sprints, links, baselines, findings, people,
    aliases and projects."""
    from pmohub.aggregator.compliance.frames import ITEM_BASE, needed_columns
    from pmohub.aggregator.config.settings import config_policy
    from pmohub.rules.engine import load_rules

    rules = load_rules()
    config_policy(config, rules)  # the same catalogue the check runs
    need = needed_columns(rules.values())
    wi = m.WorkItem.__table__
    wi_cols = set(need.get("work_items", set())) | set(ITEM_BASE)
    wi_cols |= {"updated_at", "created_at", "labels", "extra", "assignee"}
    bl_cols = {"project_key", "taken_at", "subject_kind", *need.get("baselines", set())}
    out = [
        ("work_items", sorted(c for c in wi_cols if c in wi.c)),
        ("status_changes", ["work_item_id", "field", "from_value", "to_value", "changed_at"]),
        ("worklogs", ["work_item_id", "person_id", "started_at", "seconds"]),
        ("milestones", ["id", "source", "external_id", "project_id", "name", "start_on",
                        "due_on", "released", "released_on", "archived"]),
        ("iterations", ["id", "source", "external_id", "project_id", "name", "state",
                        "start_at", "end_at", "complete_at"]),
        ("work_item_links", ["source", "from_external_id", "to_external_id", "kind"]),
        ("baselines", sorted(bl_cols)),
        ("findings", ["rule_id", "subject", "project_key", "state", "severity",
                      "first_seen_at", "last_seen_at"]),
        ("people", ["id", "display_name", "email", "active"]),
        ("person_aliases", ["external_id", "person_id", "active"]),
        ("projects", ["id", "source", "key", "name"]),
    ]  # fmt: skip
    return out


def _config(config_path: str) -> Any:
    from pmohub.aggregator.config.loader import load_config_file

    return load_config_file(config_path)


def trial_floor(config_path: str) -> None:
    """Read the needed columns of the needed tables with ``pandas.read_sql_query`` on a
    bare sqlite3 connection (live rows only): nothing converted, derived or checked."""
    import pandas as pd

    config = _config(config_path)
    reads = floor_reads(config)
    db = config.database.removeprefix("sqlite:///")

    def run() -> dict[str, Any]:
        conn = sqlite3.connect(db)
        frames = {}
        for name, cols in reads:
            table = m.Base.metadata.tables[name]
            stmt = select(*[table.c[c] for c in cols])
            if "deleted_at" in table.c:
                stmt = stmt.where(table.c.deleted_at.is_(None))
            sql = str(stmt.compile(dialect=sqlite_dialect.dialect()))
            frames[name] = pd.read_sql_query(sql, conn)
        conn.close()
        return {
            "rows": sum(len(f) for f in frames.values()),
            "rss_mib": harness.trial_rss_mib(),
        }

    harness.measure(run)


def _clear_findings(db: str) -> None:
    """Set-up of every check trial (not measured): no findings or waivers from an earlier
    trial, so each run starts from the same store and writes the same lifecycle."""
    with sqlite3.connect(db) as conn:
        for table in (m.Finding.__table__, m.Waiver.__table__):
            conn.execute(str(delete(table).compile(dialect=sqlite_dialect.dialect())))


def trial_check(config_path: str) -> None:
    """``run_checks`` as ``pmohub check`` calls it (load, derive, every enabled rule,
    waivers, the findings upsert); no report rendering."""
    from pmohub.aggregator.compliance.run import run_checks
    from pmohub.aggregator.store.engine import open_store

    config = _config(config_path)
    _clear_findings(config.database.removeprefix("sqlite:///"))
    engine = open_store(config.database)

    def run() -> dict[str, Any]:
        result = run_checks(engine, config, as_of=AS_OF)
        out = result.outcomes
        counts = out["outcome"].value_counts().to_dict()
        per_rule = out[out["outcome"] == "finding"].groupby("rule_id").size().to_dict()
        return {
            "outcomes": {k: int(v) for k, v in counts.items()},
            "findings_per_rule": {k: int(v) for k, v in sorted(per_rule.items())},
            "errors": result.errors,
            "lifecycle": result.counts,
            "rss_mib": harness.trial_rss_mib(),
        }

    harness.measure(run)


def cached_store(items: int, projects: int, cache: Path) -> Path:
    """The benchmark store, built once per (items, projects) under ``cache`` and reused
    (building 1M items takes ~1-2 min); returns its config file."""
    d = cache / f"rules-{items}-{projects}"
    db, cfg = d / "bench.db", d / "pmohub.yaml"
    if db.exists() and cfg.exists():
        return cfg
    d.mkdir(parents=True, exist_ok=True)
    for leftover in d.glob("*.db*"):
        leftover.unlink()
    t0 = time.perf_counter()
    build_store(db, items, projects)
    print(f"store built in {time.perf_counter() - t0:.0f} s ({db})", flush=True)
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--projects", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pmohub-bench")
    ap.add_argument("--no-save", action="store_true", help="Print only (profiling runs).")
    ap.add_argument("--trial", choices=["floor", "check"], help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trial:
        (trial_floor if args.trial == "floor" else trial_check)(args.config)
        return 0
    cfg = cached_store(args.items, args.projects, args.cache)
    me = Path(__file__)
    sides = harness.alternate(
        [
            harness.Trial(
                "check", harness.child_argv(me, "--trial", "check", "--config", str(cfg))
            ),
            harness.Trial(
                "floor", harness.child_argv(me, "--trial", "floor", "--config", str(cfg))
            ),
        ],
        args.repeat,
    )
    cmp = harness.compare(
        f"check, {args.items:,} items / read the needed columns",
        sides,
        "check",
        "floor",
        target=TARGET_RATIO,
        target_text=f"<= {TARGET_RATIO:g}x and < {TARGET_KB_PER_ITEM:g} KB peak per item",
    )
    rss = cmp["ours_summary"]["rss_mib"]["median"]
    kb_per_item = rss * 1024 / args.items
    met = bool(cmp["met"]) and kb_per_item < TARGET_KB_PER_ITEM
    first = sides["check"][0]
    doc = {
        "size": {"items": args.items, "projects": args.projects},
        "as_of": AS_OF.isoformat(),
        "store": f"cached: {cfg.parent}",
        "floor": "pandas.read_sql_query of exactly the tables/columns the check reads",
        "kb_per_item": kb_per_item,
        "target": f"check median <= {TARGET_RATIO:g}x floor and < {TARGET_KB_PER_ITEM:g} KB/item",
        "met": met,
        "outcomes": first["outcomes"],
        "findings_per_rule": first["findings_per_rule"],
        "errors": first["errors"],
        "comparisons": [cmp],
    }
    a, b = cmp["ours_summary"], cmp["floor_summary"]
    print(
        f"check {a['wall_s']['median']:.2f}s ({a['wall_s']['min']:.2f}-{a['wall_s']['max']:.2f}, "
        f"CPU {a['cpu_s']['median']:.2f}s, {rss:.0f} MiB = {kb_per_item:.2f} KB/item) vs floor "
        f"{b['wall_s']['median']:.2f}s ({b['wall_s']['min']:.2f}-{b['wall_s']['max']:.2f}, "
        f"{b['rss_mib']['median']:.0f} MiB): {cmp['ratio']:.2f}x, load "
        f"{a['load_1m']['median']:.2f}; target {'met' if met else 'NOT met'}"
    )
    if not args.no_save:
        print(f"saved {harness.save('rules_check', doc)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
