"""The computed status (what ``pmohub status`` computes when no stored result matches)
against an analyst's SQL computing the same 15 per-project metrics.

Store: benchmarks/rollup.py's generator and bare-driver loader (SQLite; default 1,000,000
items, 2,000 projects, 5,000 people), built once per size into ``--cache`` (default
/tmp/pmohub-bench/status-<items>-<projects>-<people>/, ~2 min for 1M items) and reused by
every trial and later run; delete the directory to rebuild it. It has no nightly
snapshot, so the status is computed in full every time.

Measured with benchmarks/harness.py, alternated, ``--repeat`` times each (default 3), each
trial a fresh child process:

- ``status`` (ours): ``aggregator.status.rollup.project_status(engine, config, as_of,
  use_snapshot=True)``, the call ``pmohub status`` makes when nothing is stored; it
  computes ~60 columns per project (progress, estimates, EVM, flow, milestones, risks,
  sprints, compliance, RAG) and the programme/portfolio roll-ups;
- ``floor`` (the analyst): :data:`ANALYST_SQL`, one SQLite statement on a bare sqlite3
  connection (CTEs, GROUP BY, window functions, JSON functions), plus the working-day
  calendar table it joins (built from the config's calendar inside the measured part),
  fetched into a DataFrame. Its 15 metrics, per hierarchy project, with the roll-up's
  definitions (aggregator/status/metrics.py):

  1. ``items_total``: leaf items (type not epic/risk/sub-task/...), not cancelled;
  2. ``items_done``: of those, status category done;
  3. ``scope_pts``: their story points, a parent's replaced by its non-cancelled
     sub-tasks' sum where a sub-task has points;
  4. ``scope_h``: the same with original estimates (hours);
  5. ``ac_h``: hours logged before the end of the day;
  6. ``throughput_90d``: done leaf items whose done day (the last change into a done
     status, else ``resolved_at``; local time) is in the last 90 days;
  7. ``wip``: leaf items in progress;
  8. ``cycle_p50_wd``: median (linear interpolation) of working days from the first
     change into progress to the done day, over the throughput items;
  9. ``lead_p85_wd``: 85th percentile of working days from creation to the done day;
  10. ``wip_age_max_wd``: the oldest WIP item, working days since it entered progress;
  11. ``milestones_due``: live, unarchived versions whose baseline due day (else due day)
      is on or before today;
  12. ``milestones_met``: of those, released on or before that day (a release dated after
      today has not happened);
  13. ``open_risks``: risk items to do or in progress;
  14. ``risk_exposure``: their Σ probability x impact;
  15. ``open_high_findings``: open (new/persisting) high-severity findings.

  Ours computes far more than these (EVM, RAG, compliance, sprints, roll-ups), so the
  ratio is conservative. ``--parity`` (also run before every benchmark) checks that the
  two agree on these 15 columns for every project of the store measured.

Target (median, 1M items): status <= 3x floor.

    .venv/bin/python benchmarks/status_compute.py                         # 1M items
    .venv/bin/python benchmarks/status_compute.py --items 50000 --projects 100 --no-save
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import rollup  # noqa: E402

TARGET_RATIO = 3.0
METRICS = (
    "items_total", "items_done", "scope_pts", "scope_h", "ac_h", "throughput_90d", "wip",
    "cycle_p50_wd", "lead_p85_wd", "wip_age_max_wd", "milestones_due", "milestones_met",
    "open_risks", "risk_exposure", "open_high_findings",
)  # fmt: skip

#: The analyst's query. Bound: :t_end (UTC end of the local day), :offset (the local UTC
#: offset, '+480 minutes'), :today, :window_start (today - 90 days); the type lists are
#: expanded into bound parameters (``{non_leaf}``, ``{subtask}``, ``{risk}`` are
#: placeholders lists, never values). ``wd`` is the temp table day -> working-day rank.
ANALYST_SQL = """
WITH
done_names AS (SELECT DISTINCT status FROM work_items WHERE status_category = 'done'),
ip_names AS (SELECT DISTINCT status FROM work_items WHERE status_category = 'in_progress'),
sub AS (
  SELECT parent_id AS id, count(story_points) AS n_sp, sum(story_points) AS sp,
         count(original_estimate_h) AS n_sh, sum(original_estimate_h) AS sh
  FROM work_items
  WHERE deleted_at IS NULL AND parent_id IS NOT NULL AND status_category != 'cancelled'
    AND lower(type) IN ({subtask})
  GROUP BY parent_id
),
leaf AS (
  SELECT w.id, w.project_id, w.status_category, w.created_at, w.resolved_at,
         CASE WHEN s.n_sp > 0 THEN s.sp ELSE w.story_points END AS pts,
         CASE WHEN s.n_sh > 0 THEN s.sh ELSE w.original_estimate_h END AS h
  FROM work_items w LEFT JOIN sub s ON s.id = w.id
  WHERE w.deleted_at IS NULL AND lower(w.type) NOT IN ({non_leaf})
),
progress AS (
  SELECT project_id, count(*) AS items_total,
         sum(status_category = 'done') AS items_done,
         coalesce(sum(pts), 0.0) AS scope_pts, coalesce(sum(h), 0.0) AS scope_h,
         sum(status_category = 'in_progress') AS wip
  FROM leaf WHERE status_category != 'cancelled' GROUP BY project_id
),
hist AS (
  SELECT l.id, l.project_id, l.status_category, l.created_at, l.resolved_at,
         min(CASE WHEN c.to_value IN (SELECT status FROM ip_names) THEN c.changed_at END) AS ip_at,
         max(CASE WHEN c.to_value IN (SELECT status FROM done_names) THEN c.changed_at END)
           AS done_at
  FROM leaf l LEFT JOIN status_changes c ON c.work_item_id = l.id AND c.field = 'status'
  WHERE l.status_category IN ('done', 'in_progress')
  GROUP BY l.id
),
done AS (
  SELECT h.project_id, d.r - i.r AS cycle, d.r - c.r AS lead
  FROM hist h
  JOIN wd d ON d.day = date(coalesce(h.done_at, h.resolved_at), :offset)
  LEFT JOIN wd i ON i.day = date(h.ip_at, :offset)
  LEFT JOIN wd c ON c.day = date(h.created_at, :offset)
  WHERE h.status_category = 'done'
    AND date(coalesce(h.done_at, h.resolved_at), :offset) > :window_start
    AND date(coalesce(h.done_at, h.resolved_at), :offset) <= :today
),
flow AS (SELECT project_id, count(*) AS throughput_90d FROM done GROUP BY project_id),
cyc AS (
  SELECT project_id, cycle AS v, row_number() OVER w AS rn, count(*) OVER p AS n
  FROM done WHERE cycle IS NOT NULL
  WINDOW p AS (PARTITION BY project_id), w AS (PARTITION BY project_id ORDER BY cycle)
),
lead AS (
  SELECT project_id, lead AS v, row_number() OVER w AS rn, count(*) OVER p AS n
  FROM done WHERE lead IS NOT NULL
  WINDOW p AS (PARTITION BY project_id), w AS (PARTITION BY project_id ORDER BY lead)
),
cyc_q AS (  -- linear interpolation at position (n - 1) * q (1-based: + 1)
  SELECT project_id,
         max(CASE WHEN rn = CAST((n - 1) * 0.5 AS INTEGER) + 1 THEN v END)
         + ((n - 1) * 0.5 - CAST((n - 1) * 0.5 AS INTEGER))
         * coalesce(max(CASE WHEN rn = CAST((n - 1) * 0.5 AS INTEGER) + 2 THEN v END)
                    - max(CASE WHEN rn = CAST((n - 1) * 0.5 AS INTEGER) + 1 THEN v END), 0)
           AS cycle_p50_wd
  FROM cyc GROUP BY project_id
),
lead_q AS (
  SELECT project_id,
         max(CASE WHEN rn = CAST((n - 1) * 0.85 AS INTEGER) + 1 THEN v END)
         + ((n - 1) * 0.85 - CAST((n - 1) * 0.85 AS INTEGER))
         * coalesce(max(CASE WHEN rn = CAST((n - 1) * 0.85 AS INTEGER) + 2 THEN v END)
                    - max(CASE WHEN rn = CAST((n - 1) * 0.85 AS INTEGER) + 1 THEN v END), 0)
           AS lead_p85_wd
  FROM lead GROUP BY project_id
),
wip_age AS (
  SELECT h.project_id, max((SELECT r FROM wd WHERE day = :today) - i.r) AS wip_age_max_wd
  FROM hist h LEFT JOIN wd i ON i.day = date(h.ip_at, :offset)
  WHERE h.status_category = 'in_progress' GROUP BY h.project_id
),
ac AS (
  SELECT w.project_id,
         sum(CASE WHEN l.started_at < :t_end THEN l.seconds ELSE 0 END) / 3600.0 AS ac_h
  FROM worklogs l JOIN work_items w ON w.id = l.work_item_id
  WHERE l.deleted_at IS NULL GROUP BY w.project_id
),
latest AS (
  SELECT project_key, max(taken_at) AS taken_at FROM baselines
  WHERE taken_at < :t_end GROUP BY project_key
),
latest_project AS (
  SELECT b.project_key, b.taken_at FROM baselines b
  JOIN latest l ON l.project_key = b.project_key AND l.taken_at = b.taken_at
  WHERE b.subject_kind = 'project' GROUP BY b.project_key
),
ms_base AS (
  SELECT b.milestone_id, min(b.due_on) AS due_on FROM baselines b
  JOIN latest_project l ON l.project_key = b.project_key AND l.taken_at = b.taken_at
  WHERE b.subject_kind = 'milestone' GROUP BY b.milestone_id
),
ms AS (
  SELECT m.project_id, coalesce(mb.due_on, m.due_on) AS base,
         m.released AND m.released_on IS NOT NULL AND m.released_on <= :today AS rel,
         m.released_on
  FROM milestones m LEFT JOIN ms_base mb ON mb.milestone_id = m.id
  WHERE m.deleted_at IS NULL AND NOT m.archived
),
miles AS (
  SELECT project_id, sum(base <= :today) AS milestones_due,
         sum(base <= :today AND rel AND released_on <= base) AS milestones_met
  FROM ms GROUP BY project_id
),
risks AS (
  SELECT project_id, count(*) AS open_risks,
         coalesce(sum(json_extract(extra, '$.risk_probability')
                      * json_extract(extra, '$.risk_impact')), 0.0) AS risk_exposure
  FROM work_items
  WHERE deleted_at IS NULL AND status_category IN ('todo', 'in_progress')
    AND lower(type) IN ({risk})
  GROUP BY project_id
),
fnd AS (
  SELECT coalesce(CASE WHEN f.subject LIKE 'project:%' THEN substr(f.subject, 9) END,
                  json_extract(f.evidence, '$.project_key'), p.key) AS project_key,
         count(*) AS open_high_findings
  FROM findings f LEFT JOIN projects p ON p.id = f.project_id
  WHERE f.state IN ('new', 'persisting') AND f.severity = 'high'
  GROUP BY 1
)
SELECT p.key AS project_key,
       coalesce(g.items_total, 0) AS items_total, coalesce(g.items_done, 0) AS items_done,
       coalesce(g.scope_pts, 0.0) AS scope_pts, coalesce(g.scope_h, 0.0) AS scope_h,
       coalesce(ac.ac_h, 0.0) AS ac_h, coalesce(fl.throughput_90d, 0) AS throughput_90d,
       coalesce(g.wip, 0) AS wip, cq.cycle_p50_wd, lq.lead_p85_wd, wa.wip_age_max_wd,
       coalesce(mi.milestones_due, 0) AS milestones_due,
       coalesce(mi.milestones_met, 0) AS milestones_met,
       coalesce(r.open_risks, 0) AS open_risks, coalesce(r.risk_exposure, 0.0) AS risk_exposure,
       coalesce(fh.open_high_findings, 0) AS open_high_findings
FROM projects p
LEFT JOIN progress g ON g.project_id = p.id
LEFT JOIN ac ON ac.project_id = p.id
LEFT JOIN flow fl ON fl.project_id = p.id
LEFT JOIN cyc_q cq ON cq.project_id = p.id
LEFT JOIN lead_q lq ON lq.project_id = p.id
LEFT JOIN wip_age wa ON wa.project_id = p.id
LEFT JOIN miles mi ON mi.project_id = p.id
LEFT JOIN risks r ON r.project_id = p.id
LEFT JOIN fnd fh ON fh.project_key = p.key
WHERE p.deleted_at IS NULL
ORDER BY p.key
"""


def _setup(config_path: str) -> tuple[Any, Any, dt.date]:
    from pmohub.aggregator.config.loader import load_config_file
    from pmohub.aggregator.status.settings import settings_for

    config = load_config_file(config_path)
    return config, settings_for(config), rollup.AS_OF


def analyst_status(db: str, s: Any, as_of: dt.date) -> Any:
    """The floor: the calendar table and :data:`ANALYST_SQL`, on a bare sqlite3 connection.
    The hierarchy of the benchmark store is one tracker project per project (same key)."""
    import pandas as pd

    conn = sqlite3.connect(db)
    # The company calendar as a table: day -> working days on or before it.
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2030-01-01"))
    ranks = s.calendar.rank(days).astype(int)
    conn.execute("CREATE TEMP TABLE wd (day TEXT PRIMARY KEY, r INTEGER) WITHOUT ROWID")
    conn.executemany(
        "INSERT INTO wd VALUES (?, ?)", zip(days.astype(str).tolist(), ranks.tolist(), strict=True)
    )
    lists = {"non_leaf": s.non_leaf_types, "subtask": s.types_of("subtask"),
             "risk": s.types_of("risk")}  # fmt: skip
    params: dict[str, Any] = {}
    marks = {}
    for name, values in lists.items():
        keys = [f"{name}_{i}" for i in range(len(values))] or [f"{name}_none"]
        params.update(dict(zip(keys, values or [""], strict=True)))
        marks[name] = ", ".join(f":{k}" for k in keys)
    t_end = s.day_end(as_of)
    offset = ZoneInfo(s.timezone).utcoffset(dt.datetime.combine(as_of, dt.time(12)))
    params.update(
        t_end=t_end.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        offset=f"{offset.total_seconds() / 60:+.0f} minutes",
        today=as_of.isoformat(),
        window_start=(as_of - dt.timedelta(days=90)).isoformat(),
    )
    frame = pd.read_sql_query(ANALYST_SQL.format(**marks), conn, params=params)
    conn.close()
    return frame


def ours_status(config: Any, as_of: dt.date) -> Any:
    from pmohub.aggregator.status.rollup import project_status
    from pmohub.aggregator.store.engine import open_store

    return project_status(open_store(config.database), config, as_of, use_snapshot=True)


def trial_floor(config_path: str) -> None:
    config, s, as_of = _setup(config_path)
    db = config.database.removeprefix("sqlite:///")

    def run() -> dict[str, Any]:
        frame = analyst_status(db, s, as_of)
        return {"projects": len(frame), "rss_mib": harness.trial_rss_mib()}

    harness.measure(run)


def trial_status(config_path: str) -> None:
    config, _, as_of = _setup(config_path)

    def run() -> dict[str, Any]:
        rep = ours_status(config, as_of)
        return {"projects": len(rep.projects), "rss_mib": harness.trial_rss_mib()}

    harness.measure(run)


def parity(config_path: str) -> dict[str, Any]:
    """Ours and the analyst's 15 metrics on the same store: equal for every project
    (counts exactly, sums and quantiles to 1e-9 relative). Raises when they differ."""
    config, s, as_of = _setup(config_path)
    floor = analyst_status(config.database.removeprefix("sqlite:///"), s, as_of)
    floor = floor.set_index("project_key")
    ours = ours_status(config, as_of).projects.set_index("project_key")
    ours = ours.reindex(floor.index)
    bad = {}
    for c in METRICS:
        a = ours[c].astype(float).to_numpy()
        b = floor[c].astype(float).to_numpy()
        ok = np.isclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True)
        if not ok.all():
            i = int(np.argmin(ok))
            bad[c] = {"differ": int((~ok).sum()), "first": str(floor.index[i]),
                      "ours": a[i], "floor": b[i]}  # fmt: skip
    if bad:
        raise SystemExit(f"analyst SQL and status differ: {bad}")
    return {"projects": len(floor), "metrics": len(METRICS), "equal": True}


def cached_store(items: int, projects: int, people: int, cache: Path) -> Path:
    """The benchmark store, built once per size under ``cache`` and reused."""
    d = cache / f"status-{items}-{projects}-{people}"
    db, cfg = d / "bench.db", d / "pmohub.yaml"
    if not db.exists():
        d.mkdir(parents=True, exist_ok=True)
        for leftover in d.glob("*.db*"):
            leftover.unlink()
        t0 = time.perf_counter()
        tmp = d / "building.db"
        rollup.load_sqlite(tmp, rollup._tables(items, projects, people))
        tmp.rename(db)
        print(f"store built in {time.perf_counter() - t0:.0f} s ({db})", flush=True)
    if not cfg.exists():
        rollup.write_config(cfg, f"sqlite:///{db}", projects, people)
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--projects", type=int, default=2_000)
    ap.add_argument("--people", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pmohub-bench")
    ap.add_argument("--parity", action="store_true", help="Only check the 15 metrics agree.")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--trial", choices=["floor", "status"], help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trial:
        (trial_floor if args.trial == "floor" else trial_status)(args.config)
        return 0
    cfg = cached_store(args.items, args.projects, args.people, args.cache)
    same = parity(str(cfg))
    print(f"parity: {same}")
    if args.parity:
        return 0
    me = Path(__file__)
    sides = harness.alternate(
        [
            harness.Trial("status", harness.child_argv(me, "--trial", "status", "--config", str(cfg))),
            harness.Trial("floor", harness.child_argv(me, "--trial", "floor", "--config", str(cfg))),
        ],
        args.repeat,
    )  # fmt: skip
    cmp = harness.compare(
        f"computed status, {args.items:,} items / analyst SQL, same 15 metrics",
        sides,
        "status",
        "floor",
        target=TARGET_RATIO,
        target_text=f"<= {TARGET_RATIO:g}x",
    )
    a, b = cmp["ours_summary"], cmp["floor_summary"]
    print(
        f"status {a['wall_s']['median']:.2f}s ({a['wall_s']['min']:.2f}-{a['wall_s']['max']:.2f}, "
        f"CPU {a['cpu_s']['median']:.2f}s, {a['rss_mib']['median']:.0f} MiB) vs analyst SQL "
        f"{b['wall_s']['median']:.2f}s ({b['wall_s']['min']:.2f}-{b['wall_s']['max']:.2f}, "
        f"CPU {b['cpu_s']['median']:.2f}s): {cmp['ratio']:.2f}x, load {a['load_1m']['median']:.2f}; "
        f"target {'met' if cmp['met'] else 'NOT met'}"
    )
    if not args.no_save:
        doc = {
            "size": {"items": args.items, "projects": args.projects, "people": args.people},
            "as_of": rollup.AS_OF.isoformat(),
            "store": f"cached: {cfg.parent}",
            "floor": "analyst SQL (benchmarks/status_compute.py ANALYST_SQL), 15 metrics",
            "metrics": list(METRICS),
            "parity": same,
            "comparisons": [cmp],
        }
        print(f"saved {harness.save('status_compute', doc)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
