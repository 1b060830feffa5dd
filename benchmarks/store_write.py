"""Store write benchmark: pmohub's sync path vs a plain-driver floor, SQLite and PostgreSQL.

Writes N synthetic work items with 3 status changes each (4N rows):

- ``ours``: ``aggregator.ingest.sync.sync_source`` over a streaming synthetic connector: the real
  path (pages of 500, pre-select + digest diff, dialect ON CONFLICT upserts compiled once
  and run as driver executemany, project/person/parent resolution, cursor per page,
  ``sync_runs`` bookkeeping, census soft-delete pass);
- ``floor``: the rows with the bare driver (``sqlite3`` / ``psycopg``) ``executemany`` of a
  plain INSERT into the same schema, ids assigned by the client, one transaction per 500
  items, no diffing, no lookups. Two variants, both measured: ``floor`` as first written
  (assignee_id / reporter_id / parent_id and content_hash left NULL, so the database skips
  three of the four foreign-key checks per item) and ``floor_same_rows`` (the values ours
  stores: the same ids, a digest-sized stand-in).

Both consume the same record generator, so record construction is in both timings, and
write into the same schema (our migrations: same tables, indexes, foreign keys) with the
same SQLite pragmas (WAL, synchronous=NORMAL, foreign_keys=ON). What only ``ours`` does is
what the sync guarantees: digests (content_hash) so a re-run rewrites nothing, the
pre-select that diffs against them, ON CONFLICT upserts, looking up project/person/parent
ids (the same-rows floor writes the same ids, which it knows without a lookup, so both pay
the same foreign-key checks), the per-page cursor and ``sync_runs`` row, and the census
pass.

The machine may be shared: floor and ours are each run ``--repeat`` times, alternately, and
the fastest of each is compared (the same number of tries for both); for SQLite, where all
the work is in-process, CPU seconds are saved too.

Peak memory: ``ru_maxrss`` of a child process running ``ours`` at N and at N/4 (the whole
interpreter, so it includes SQLAlchemy/Alembic imports; the ratio is what matters).

    .venv/bin/python benchmarks/store_write.py                # 200,000 items, both DBs
    .venv/bin/python benchmarks/store_write.py --items 20000  # quick
    .venv/bin/python benchmarks/store_write.py --db sqlite

Results are printed and saved to benchmarks/results/store_write-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pmohub.connectors.base import Checkpoint, Connector, SourceConfig  # noqa: E402
from pmohub.connectors.records import Person, Project, StatusChange, WorkItem  # noqa: E402

BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PROJECTS = [f"P{k:02d}" for k in range(20)]
STATUSES = [("To Do", "todo"), ("In Progress", "in_progress"), ("Done", "done")]
SOURCE = "bench"
PAGE = 500
PEOPLE = 200


def records(n: int) -> Iterator[WorkItem | StatusChange]:
    """N work items in update order, each followed by 3 status changes; built lazily."""
    for i in range(n):
        eid = str(100000 + i)
        project = PROJECTS[i % len(PROJECTS)]
        status, category = STATUSES[i % 3]
        updated = BASE + dt.timedelta(seconds=30 * i)
        yield WorkItem(
            source=SOURCE,
            external_id=eid,
            key=f"{project}-{i}",
            project_key=project,
            title=f"Synthetic work item {i} with a realistic-length summary line",
            type="Story" if i % 5 else "Epic",
            status=status,
            status_category=category,  # type: ignore[arg-type]
            priority=("High", "Medium", "Low")[i % 3],
            assignee=f"user{i % PEOPLE}",
            reporter=f"user{(i * 7) % PEOPLE}",
            parent_id=str(100000 + i // 5 * 5) if i % 5 else None,
            created_at=updated - dt.timedelta(days=10),
            updated_at=updated,
            resolved_at=updated if category == "done" else None,
            due_on=(updated + dt.timedelta(days=14)).date(),
            story_points=float(i % 13),
            original_estimate_h=8.0,
            labels=("pmo", f"team{i % 7}"),
            components=(f"comp{i % 4}",),
            url=f"https://tracker.example/browse/{project}-{i}",
        )
        for k in range(3):
            yield StatusChange(
                source=SOURCE,
                external_id=f"{eid}-{k}",
                work_item_id=eid,
                field="status",
                from_value=STATUSES[k - 1][0] if k else None,
                to_value=STATUSES[k][0],
                changed_at=updated - dt.timedelta(hours=3 - k),
                author=f"user{(i + k) % PEOPLE}",
            )


class BenchConnector(Connector):
    type = "bench"

    def __init__(self, config: SourceConfig, *, env: Any = None):
        super().__init__(config, env=env)
        self.n = int(config.options["items"])

    def check(self) -> dict[str, Any]:
        return {}

    def fetch_projects(self) -> Iterator[Project]:
        for key in PROJECTS:
            yield Project(source=SOURCE, external_id=f"id-{key}", key=key, name=key)

    def fetch_people(self) -> Iterator[Person]:
        for k in range(PEOPLE):
            yield Person(
                source=SOURCE,
                external_id=f"user{k}",
                display_name=f"User {k}",
                email=f"user{k}@example.com",
            )

    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[Any]:
        last = None
        for count, obj in enumerate(records(self.n)):
            if isinstance(obj, WorkItem):
                if last is not None and count % (PAGE * 4) == 0:
                    yield Checkpoint(last)
                last = obj.updated_at
            yield obj

    def census(self, project_key: str) -> Iterator[str]:
        k = PROJECTS.index(project_key)
        for i in range(k, self.n, len(PROJECTS)):
            yield str(100000 + i)


# --- ours --------------------------------------------------------------------------------


def run_ours(url: str, n: int, rerun: bool = True) -> dict[str, Any]:
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store import open_store

    engine = open_store(url)
    connector = BenchConnector(SourceConfig(name=SOURCE, type="bench", options={"items": n}))
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = sync_source(engine, connector, page_size=PAGE)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if result.status != "ok":
        raise SystemExit(f"sync failed: {result.error}")
    out: dict[str, Any] = {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "inserted": result.inserted,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    if rerun:
        rerun_t0 = time.perf_counter()
        again = sync_source(engine, connector, page_size=PAGE, full=True)
        out.update(
            rerun_seconds=time.perf_counter() - rerun_t0,
            rerun_inserted=again.inserted,
            rerun_updated=again.updated,
        )
    engine.dispose()
    return out


# --- floor -------------------------------------------------------------------------------

ITEM_COLS = (
    "id source external_id key project_id project_key title type status status_category "
    "priority assignee assignee_id reporter reporter_id parent_external_id parent_id "
    "created_at updated_at resolved_at due_on story_points original_estimate_h labels "
    "components milestone_ids iteration_ids url extra synced_at content_hash"
).split()
CHANGE_COLS = (
    "source external_id work_item_id field from_value to_value changed_at author synced_at "
    "content_hash"
).split()
#: The same-rows floor stores rows of the same size as ours but computes no digest (that
#: work, and what it buys, is ours): a fixed 32-character stand-in.
FLOOR_DIGEST = "0" * 32


def _floor_rows(n: int, sqlite: bool, same_rows: bool) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Page by page, the floor's item and status-change rows. ``same_rows=False``: the
    floor as first written (resolved ids and digest left NULL, so the database skips three
    of the four foreign-key checks per item); ``True``: the values ours stores."""

    spec = "microseconds" if same_rows else "auto"  # SQLAlchemy's SQLite text has them

    def ts(v: dt.datetime | None) -> Any:
        if v is None or not sqlite:
            return v
        return v.replace(tzinfo=None).isoformat(sep=" ", timespec=spec)

    def day(v: dt.date | None) -> Any:
        return v.isoformat() if (v is not None and sqlite) else v

    now = ts(dt.datetime.now(dt.UTC))
    items: list[tuple] = []
    changes: list[tuple] = []
    ids: dict[str, int] = {}
    project_ids = {k: j + 1 for j, k in enumerate(PROJECTS)}
    person_ids = {f"user{k}": k + 1 for k in range(PEOPLE)}  # as _prepare_floor_store made
    if not same_rows:
        person_ids = {}
    digest = FLOOR_DIGEST if same_rows else None
    for obj in records(n):
        if isinstance(obj, WorkItem):
            if len(items) >= PAGE:
                yield items, changes
                items, changes, ids = [], [], {}
            wid = int(obj.external_id) - 99999
            ids[obj.external_id] = wid
            items.append(
                (
                    wid,
                    obj.source,
                    obj.external_id,
                    obj.key,
                    project_ids[obj.project_key],
                    obj.project_key,
                    obj.title,
                    obj.type,
                    obj.status,
                    obj.status_category,
                    obj.priority,
                    obj.assignee,
                    person_ids.get(obj.assignee or ""),
                    obj.reporter,
                    person_ids.get(obj.reporter or ""),
                    obj.parent_id,
                    # ids are the floor's own, so a parent (always an earlier item here)
                    # is known without a lookup
                    int(obj.parent_id) - 99999 if obj.parent_id and same_rows else None,
                    ts(obj.created_at),
                    ts(obj.updated_at),
                    ts(obj.resolved_at),
                    day(obj.due_on),
                    obj.story_points,
                    obj.original_estimate_h,
                    json.dumps(list(obj.labels)),
                    json.dumps(list(obj.components)),
                    json.dumps(list(obj.milestone_ids)),
                    json.dumps(list(obj.iteration_ids)),
                    obj.url,
                    json.dumps(dict(obj.extra)),
                    now,
                    digest,
                )
            )
        else:
            assert isinstance(obj, StatusChange)
            changes.append(
                (
                    obj.source,
                    obj.external_id,
                    ids[obj.work_item_id],
                    obj.field,
                    obj.from_value,
                    obj.to_value,
                    ts(obj.changed_at),
                    obj.author,
                    now,
                    digest,
                )
            )
    if items:
        yield items, changes


def _prepare_floor_store(url: str) -> None:
    """Same schema via our migrations, plus the source, project and people rows (so the
    floor's rows carry the same resolved project/assignee/reporter/parent ids as ours and
    pay the same foreign-key checks)."""
    from sqlalchemy import insert

    from pmohub.aggregator.store import open_store
    from pmohub.aggregator.store.models import Person as PersonRow
    from pmohub.aggregator.store.models import Project as ProjectRow
    from pmohub.aggregator.store.models import Source

    engine = open_store(url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(insert(Source.__table__).values(name=SOURCE, type="bench", created_at=now))
        conn.execute(
            insert(ProjectRow.__table__),
            [
                {"id": j + 1, "source": SOURCE, "external_id": f"id-{k}", "key": k, "name": k}
                for j, k in enumerate(PROJECTS)
            ],
        )
        conn.execute(
            insert(PersonRow.__table__),
            [{"id": k + 1, "display_name": f"User {k}", "created_at": now} for k in range(PEOPLE)],
        )
    engine.dispose()


def _insert_sql(table: str, cols: list[str], mark: str) -> str:
    # Benchmark floor only: fixed identifiers from this file, values bound by the driver.
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"  # noqa: S608


def run_floor_sqlite(path: str, n: int, same_rows: bool) -> tuple[float, float]:
    import sqlite3

    _prepare_floor_store(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    item_sql = _insert_sql("work_items", ITEM_COLS, "?")
    change_sql = _insert_sql("status_changes", CHANGE_COLS, "?")
    t0, cpu0 = time.perf_counter(), time.process_time()
    for items, changes in _floor_rows(n, sqlite=True, same_rows=same_rows):
        with conn:  # one transaction per page
            conn.executemany(item_sql, items)
            conn.executemany(change_sql, changes)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    conn.close()
    return elapsed, cpu


def run_floor_pg(url: str, n: int, same_rows: bool) -> float:
    import psycopg

    _prepare_floor_store(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    item_sql = _insert_sql("work_items", ITEM_COLS, "%s")
    change_sql = _insert_sql("status_changes", CHANGE_COLS, "%s")
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        for items, changes in _floor_rows(n, sqlite=False, same_rows=same_rows):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(item_sql, items)
                cur.executemany(change_sql, changes)
        return time.perf_counter() - t0


# --- driver ------------------------------------------------------------------------------


def _child(url: str, n: int, rerun: bool = True) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-ours", url, "--items", str(n)]
    out = subprocess.run(
        cmd + ([] if rerun else ["--no-rerun"]), check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_db(db: str, n: int, workdir: Path, new_pg_url: Any, repeat: int) -> dict[str, Any]:
    rows = n * 4
    # floor variants: "floor" = first version (NULL resolved ids), "same" = ours' values
    floors: dict[str, list[tuple[float, float | None]]] = {"floor": [], "same": []}
    tries: list[dict[str, Any]] = []
    for k in range(max(1, repeat)):
        for variant, same in (("floor", False), ("same", True)):
            if db == "sqlite":
                path = str(workdir / f"{variant}{k}.db")
                floors[variant].append(run_floor_sqlite(path, n, same))
            else:
                floors[variant].append((run_floor_pg(new_pg_url(), n, same), None))
        if db == "sqlite":
            tries.append(_child(f"sqlite:///{workdir / f'ours{k}.db'}", n, rerun=k == 0))
        else:
            tries.append(_child(new_pg_url(), n, rerun=k == 0))
        print(
            f"  try {k + 1}: floor {floors['floor'][-1][0]:.1f}s, same-rows floor "
            f"{floors['same'][-1][0]:.1f}s, ours {tries[-1]['seconds']:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    if db == "sqlite":
        small = _child(f"sqlite:///{workdir / 'ours_small.db'}", max(1, n // 4), rerun=False)
    else:
        small = _child(new_pg_url(), max(1, n // 4), rerun=False)
    floor_s, floor_cpu = min(floors["floor"], key=lambda f: f[0])
    same_s, same_cpu = min(floors["same"], key=lambda f: f[0])
    ours = dict(min(tries, key=lambda t: t["seconds"]))
    for key in ("rerun_seconds", "rerun_inserted", "rerun_updated"):
        ours[key] = tries[0][key]
    ours["maxrss_kib"] = max(t["maxrss_kib"] for t in tries)
    cpu: dict[str, Any] = {}
    if floor_cpu is not None and same_cpu is not None:
        cpu = {
            "floor_cpu_seconds": round(floor_cpu, 2),
            "floor_same_rows_cpu_seconds": round(same_cpu, 2),
            "ours_cpu_seconds": round(ours["cpu_seconds"], 2),
            "ratio_ours_over_floor_cpu": round(ours["cpu_seconds"] / floor_cpu, 2),
        }
    return {
        "items": n,
        "rows": rows,
        "floor_seconds": round(floor_s, 2),
        "floor_rows_per_s": round(rows / floor_s),
        "floor_same_rows_seconds": round(same_s, 2),
        "ours_seconds": round(ours["seconds"], 2),
        "ours_rows_per_s": round(rows / ours["seconds"]),
        "ratio_ours_over_floor": round(ours["seconds"] / floor_s, 2),
        "ratio_ours_over_floor_same_rows": round(ours["seconds"] / same_s, 2),
        "floor_tries_seconds": [round(f[0], 2) for f in floors["floor"]],
        "floor_same_rows_tries_seconds": [round(f[0], 2) for f in floors["same"]],
        "ours_tries_seconds": [round(t["seconds"], 2) for t in tries],
        **cpu,
        "rerun_seconds": round(ours["rerun_seconds"], 2),
        "rerun_inserted": ours["rerun_inserted"],
        "rerun_updated": ours["rerun_updated"],
        "maxrss_mib": round(ours["maxrss_kib"] / 1024, 1),
        "maxrss_quarter_mib": round(small["maxrss_kib"] / 1024, 1),
        "memory_ratio": round(ours["maxrss_kib"] / small["maxrss_kib"], 2),
        "meets_speed_target": ours["seconds"] / floor_s <= 2.0,
        "meets_speed_target_same_rows": ours["seconds"] / same_s <= 2.0,
        "meets_memory_target": ours["maxrss_kib"] / small["maxrss_kib"] <= 1.3,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--repeat", type=int, default=2, help="tries of floor and ours; best kept")
    ap.add_argument("--child-ours", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--no-rerun", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_ours:
        print(json.dumps(run_ours(args.child_ours, args.items, rerun=not args.no_rerun)))
        return 0

    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: dict[str, Any] = {
        "benchmark": "store_write",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} x{os.cpu_count()}",
        "targets": {
            "ratio_ours_over_floor": "<= 2.0",
            "ratio_ours_over_floor_same_rows": "<= 2.0",
            "memory_ratio": "<= 1.3",
        },
        "results": {},
    }
    cluster = None
    try:
        with tempfile.TemporaryDirectory(prefix="pmohub-bench-") as tmp:
            for db in dbs:
                new_pg_url = None
                if db == "postgresql":
                    sys.path.insert(0, str(ROOT / "tests"))
                    from conftest import PgCluster  # the one throwaway-cluster recipe

                    cluster = cluster or PgCluster()
                    new_pg_url = cluster.create_database
                print(f"{db}: {args.items:,} items ...", file=sys.stderr, flush=True)
                r = bench_db(db, args.items, Path(tmp), new_pg_url, args.repeat)
                r["load_average"] = [round(x, 2) for x in os.getloadavg()]
                results["results"][db] = r
                print(
                    f"{db:10} floor {r['floor_rows_per_s']:>8,} rows/s  ours "
                    f"{r['ours_rows_per_s']:>8,} rows/s  ratio {r['ratio_ours_over_floor']:.2f}x  "
                    f"(same-rows floor {r['ratio_ours_over_floor_same_rows']:.2f}x)  "
                    f"re-run {r['rerun_seconds']:.1f}s (+{r['rerun_inserted']}/~{r['rerun_updated']})  "
                    f"peak RSS {r['maxrss_mib']} MiB vs {r['maxrss_quarter_mib']} MiB at 1/4 "
                    f"({r['memory_ratio']:.2f}x)"
                )
    finally:
        if cluster is not None:
            cluster.stop()
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"store_write-{stamp}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
