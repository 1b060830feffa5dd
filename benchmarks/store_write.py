"""Store writes: pmohub's first full sync against the same rows written by the bare driver.

N work items (default 100,000; ``--items``), each with 3 status changes, in 20 projects
with 200 people: 4N + 420 rows, on SQLite and on a throwaway PostgreSQL 15 cluster
(``initdb`` into a temporary directory, like tests/conftest.py; fsync off there as in the
tests, so neither side waits on a disk flush the other does not).

Each trial is a fresh child process writing into a fresh, migrated, empty store (created
by the child before its clock starts). Alternated ``--repeat`` times (default 3) through
benchmarks/harness.py:

- ``ours``: ``aggregator.ingest.sync.sync_source`` over a synthetic connector whose
  records (projects, people, work items with their status changes and a ``Checkpoint``
  every 500 items) are built BEFORE the clock starts, so record construction is in
  neither timing. In the timing: everything a sync does with them: NUL scrub, content
  digests, project/person/parent id resolution, the per-page pre-select and digest diff,
  the ON CONFLICT upserts, the new ids read back, the cursor and ``sync_runs`` row per
  page (each page its own transaction: a crash loses at most one page), the final cursor
  and the census pass.
- ``floor``: the SAME rows (the column values ours stores: content digests, project,
  person, parent and work item ids, JSON text, SQLite's datetime text), built before the
  clock starts, written by the plain driver (``sqlite3`` / ``psycopg``) with the SAME
  statements ours runs (``bulk.upsert_statement``'s compiled text: INSERT .. ON CONFLICT
  (source, external_id) DO UPDATE .. WHERE digest differs, including the parent-id
  subquery; people and aliases as plain INSERTs), ``executemany``, ONE transaction, one
  commit. In the timing: the executemany calls and the commit only.

Before the rounds are summarised, the stores of round 1 are compared row by row (every
column but ``synced_at`` / ``created_at``): the floor must have written exactly ours' rows,
or the benchmark fails. Then ours re-runs a full sync over round 1's store: it must write
nothing (0 inserted, 0 updated); its time is saved too (not a target).

Ours writes PostgreSQL pages of every table but ``work_items`` as one ``INSERT .. SELECT
FROM unnest(..)`` (bulk.upsert_statement); the floor runs that very statement too, once for
all its rows, so it keeps the fewest round trips.

Results: benchmarks/results/store_write-<UTC>.json with one comparison per backend
(median and range of wall and CPU seconds, peak RSS, load average; target ours/floor median
<= 2x). On PostgreSQL each trial also gives the cluster's CPU seconds (``server_cpu_s``,
from /proc: the trials run one at a time on their own cluster), and the comparison the
ratio of client + server CPU: on a loaded shared machine the figure least disturbed by the
load. benchmarks/readme_figures.py puts the newest file in the README.

    .venv/bin/python benchmarks/store_write.py                      # 100k items, both
    .venv/bin/python benchmarks/store_write.py --db sqlite --items 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

from pmohub.connectors.base import Checkpoint, Connector, SourceConfig  # noqa: E402
from pmohub.connectors.records import Person, Project, StatusChange, WorkItem  # noqa: E402

BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PROJECTS = [f"P{k:02d}" for k in range(20)]
STATUSES = [("To Do", "todo"), ("In Progress", "in_progress"), ("Done", "done")]
SOURCE = "bench"
PAGE = 500
PEOPLE = 200
TARGET = 2.0


def projects() -> list[Project]:
    return [Project(source=SOURCE, external_id=f"id-{k}", key=k, name=k) for k in PROJECTS]


def people() -> list[Person]:
    return [
        Person(
            source=SOURCE,
            external_id=f"user{k}",
            display_name=f"User {k}",
            email=f"user{k}@example.com",
        )
        for k in range(PEOPLE)
    ]


def records(n: int) -> Iterator[WorkItem | StatusChange]:
    """N work items in update order, each followed by its 3 status changes."""
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


def stream(n: int) -> list[Any]:
    """The connector's work-item stream, pre-built: records and a Checkpoint per page."""
    out: list[Any] = []
    last = None
    for obj in records(n):
        if isinstance(obj, WorkItem):
            if last is not None and int(obj.external_id) % PAGE == 0:
                out.append(Checkpoint(last))
            last = obj.updated_at
        out.append(obj)
    return out


class BenchConnector(Connector):
    """Serves pre-built records (built before the clock starts)."""

    type = "bench"

    def __init__(self, config: SourceConfig, *, env: Any = None):
        super().__init__(config, env=env)
        self.n = int(config.options["items"])
        self._projects, self._people, self._stream = projects(), people(), stream(self.n)

    def check(self) -> dict[str, Any]:
        return {}

    def fetch_projects(self) -> Iterator[Project]:
        return iter(self._projects)

    def fetch_people(self) -> Iterator[Person]:
        return iter(self._people)

    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[Any]:
        return iter(self._stream)

    def census(self, project_key: str) -> Iterator[str]:
        k = PROJECTS.index(project_key)
        return (str(100000 + i) for i in range(k, self.n, len(PROJECTS)))


# --- stores ------------------------------------------------------------------------------


def fresh_store(target: str, name: str) -> str:
    """A new, migrated, empty store: a file under ``target`` (a directory) for SQLite, a
    new database on the cluster whose admin URL ``target`` is for PostgreSQL."""
    from pmohub.aggregator.store import open_store

    if target.startswith("postgresql"):
        import psycopg

        db = f"{name}_{os.getpid()}"
        with psycopg.connect(dsn(target), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')  # a fixed identifier from this file
        url = target.rsplit("/", 1)[0] + f"/{db}"
    else:
        url = f"sqlite:///{Path(target) / f'{name}_{os.getpid()}.db'}"
    open_store(url).dispose()
    return url


def dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def drop_store(url: str, admin: str | None) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
    elif admin is not None:
        import psycopg

        with psycopg.connect(dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"')


def server_clock(url: str) -> Any:
    """A function giving the CPU seconds the PostgreSQL cluster behind ``url`` has used so
    far (postmaster, live backends and the backends it has reaped; Linux /proc), or None
    on SQLite (in-process: the trial's own CPU clock already counts it). Trials run one at
    a time on the cluster, so its difference over a trial is that trial's server work:
    the figure the load on a shared machine disturbs least."""
    if not url.startswith("postgresql"):
        return None
    import psycopg

    with psycopg.connect(dsn(url)) as conn:
        data = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
    master = Path(data, "postmaster.pid").read_text().split()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def fields(pid: str) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    def clock() -> float:
        own = fields(master)
        total = sum(int(x) for x in own[11:15])  # utime stime cutime cstime
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and proc.name != master:
                try:
                    f = fields(proc.name)
                except OSError:
                    continue  # gone meanwhile: reaped, so in cutime/cstime
                if f[1] == master:
                    total += int(f[11]) + int(f[12])
        return total / tick

    return clock


# --- the floor's rows --------------------------------------------------------------------

PROJECT_COLUMNS = (
    "source",
    "external_id",
    "key",
    "name",
    "lead",
    "url",
    "description",
    "category",
    "synced_at",
    "deleted_at",
    "content_hash",
)  # writes.upsert_projects' row, in its order
PERSON_COLUMNS = ("id", "display_name", "email", "active", "time_zone", "created_at")
ALIAS_COLUMNS = (
    "source",
    "external_id",
    "person_id",
    "linked_by",
    "display_name",
    "email",
    "username",
    "active",
    "synced_at",
    "deleted_at",
    "content_hash",
)


def _driver_params(prepared: Any, rows: list[tuple[Any, ...]]) -> list[Any]:
    """What ``Prepared.execute_rows`` hands the driver for ``rows`` (``row_params``, its
    one home): converted before the floor's clock starts."""
    return prepared.row_params(rows)


def floor_plan(
    url: str, projects_: list[Project], people_: list[Person], items: Iterator[Any]
) -> list[tuple[str, list[Any] | None]]:
    """(statement text, driver parameters or None for a plain statement) in write order: the rows ours stores, ids
    included (a fresh store numbers rows 1, 2, ... in insert order, as it does for ours;
    ``compare_stores`` checks the outcome)."""
    from sqlalchemy import bindparam, insert

    from pmohub.aggregator.store import bulk, open_store
    from pmohub.aggregator.store import writes as w

    def plain_insert(conn: Any, table: Any, cols: tuple[str, ...]) -> Any:
        return bulk.prepare(
            conn,
            ("bench_insert", table.name),
            lambda: insert(table).values({c: bindparam(c, type_=table.c[c].type) for c in cols}),
            cols,
        )

    at = dt.datetime.now(dt.UTC)
    project_ids = {p.key: k + 1 for k, p in enumerate(projects_)}
    person_ids = {p.external_id: k + 1 for k, p in enumerate(people_)}
    item_rows: list[tuple[Any, ...]] = []
    change_rows: list[tuple[Any, ...]] = []
    item_ids: dict[str, int] = {}
    for r in items:
        if isinstance(r, WorkItem):
            item_ids[r.external_id] = len(item_rows) + 1
            item_rows.append(
                (
                    SOURCE, r.external_id, r.key, project_ids[r.project_key], r.project_key,
                    r.title, r.type, r.status, r.status_category, r.priority,
                    r.assignee, person_ids[r.assignee] if r.assignee else None,
                    r.reporter, person_ids[r.reporter] if r.reporter else None,
                    r.parent_id, r.created_at, r.updated_at, r.resolved_at, r.resolution,
                    r.start_on, r.due_on, r.story_points, r.original_estimate_h,
                    r.remaining_estimate_h, r.time_spent_h, r.progress, r.labels,
                    r.components, r.milestone_ids, r.iteration_ids, r.url, dict(r.extra),
                    at, None, w.content_hash(r),
                )
            )  # fmt: skip
        else:
            change_rows.append(
                (
                    SOURCE, r.external_id, item_ids[r.work_item_id], r.field, r.from_value,
                    r.to_value, r.changed_at, r.author, at, None, w.content_hash(r),
                )
            )  # fmt: skip
    project_rows = [
        (SOURCE, p.external_id, p.key, p.name, p.lead, p.url, p.description, p.category)
        + (at, None, w.content_hash(p))
        for p in projects_
    ]
    person_rows = [
        (k + 1, p.display_name, p.email, p.active, p.time_zone, at) for k, p in enumerate(people_)
    ]
    alias_rows = [
        (SOURCE, p.external_id, k + 1, "sync", p.display_name, p.email, p.username, p.active)
        + (at, None, w.content_hash(p))
        for k, p in enumerate(people_)
    ]
    engine = open_store(url, migrate=False)
    with engine.connect() as conn:
        plan: list[tuple[str, list[Any] | None]] = []
        for prepared, rows in (
            (bulk.upsert_statement(conn, bulk.projects_t, PROJECT_COLUMNS), project_rows),
            (plain_insert(conn, bulk.people_t, PERSON_COLUMNS), person_rows),
            (plain_insert(conn, bulk.aliases_t, ALIAS_COLUMNS), alias_rows),
            (bulk.upsert_statement(conn, bulk.work_items_t, w.ITEM_COLUMNS), item_rows),
            (bulk.upsert_statement(conn, bulk.status_changes_t, w.CHANGE_COLUMNS), change_rows),
        ):
            params = _driver_params(prepared, rows)
            if rows is item_rows and conn.dialect.name == "postgresql":
                # Statistics, as ours keeps them (sync._refresh_statistics): without any, the
                # planner probes the parent-id subquery through (source, parent_external_id)
                # instead of the unique (source, external_id) and each row scans all rows
                # before it. ANALYZE inside the transaction sees its own rows; once is enough.
                plan += [(prepared.sql, params[:PAGE]), ("ANALYZE work_items", None)]
                params = params[PAGE:]
            plan.append((prepared.sql, params))
    engine.dispose()
    return plan


#: Columns that hold the write time (ours' and the floor's clocks differ), and the order.
_COMPARED = {
    "projects": (("synced_at",), ("source", "external_id")),
    "people": (("created_at",), ("id",)),
    "person_aliases": (("synced_at",), ("source", "external_id")),
    "work_items": (("synced_at",), ("source", "external_id")),
    "status_changes": (("synced_at",), ("source", "external_id")),
}


def compare_stores(a: str, b: str) -> list[str]:
    """Tables whose rows differ between stores ``a`` and ``b`` (write times aside)."""
    from sqlalchemy import select

    from pmohub.aggregator.store import models, open_store

    tables = models.Base.metadata.tables
    out = []
    engines = [open_store(u, migrate=False) for u in (a, b)]
    for name, (skip, order) in _COMPARED.items():
        t = tables[name]
        query = select(*[c for c in t.c if c.name not in skip]).order_by(*[t.c[c] for c in order])
        got = []
        for engine in engines:
            with engine.connect() as conn:
                got.append(conn.execute(query).all())
        if got[0] != got[1] or not got[0]:
            first = next((x for x in zip(*got, strict=False) if x[0] != x[1]), None)
            out.append(f"{name}: {len(got[0])} vs {len(got[1])} rows; first difference {first}")
    for engine in engines:
        engine.dispose()
    return out


# --- trials (children) -------------------------------------------------------------------


def trial_ours(target: str, n: int) -> None:
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store import open_store

    url = fresh_store(target, "ours")
    engine = open_store(url)
    connector = BenchConnector(SourceConfig(name=SOURCE, type="bench", options={"items": n}))

    server = server_clock(url)
    start = server() if server else 0.0

    def run() -> dict[str, Any]:
        result = sync_source(engine, connector)
        if result.status != "ok":
            raise SystemExit(f"sync failed: {result.error}")
        doc = {"inserted": result.inserted, "url": url, "rss_mib": harness.trial_rss_mib()}
        if server:
            doc["server_cpu_s"] = server() - start
        return doc

    harness.measure(run)
    engine.dispose()


def trial_rerun(url: str, n: int) -> None:
    """Round 1's store synced again in full: nothing may be written."""
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store import open_store

    engine = open_store(url)
    connector = BenchConnector(SourceConfig(name=SOURCE, type="bench", options={"items": n}))

    def run() -> dict[str, Any]:
        result = sync_source(engine, connector, full=True)
        return {"status": result.status, "inserted": result.inserted, "updated": result.updated}

    harness.measure(run)


def trial_floor(target: str, n: int) -> None:
    from pmohub.aggregator.store import open_store
    from pmohub.aggregator.store.writes import upsert_source

    url = fresh_store(target, "floor")
    engine = open_store(url, migrate=False)
    with engine.begin() as conn:  # set-up: the row every synced row points at
        upsert_source(conn, SOURCE, "bench")
    engine.dispose()
    plan = floor_plan(url, projects(), people(), records(n))
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")  # what the store's engine sets (engine.py)

        def run_sqlite() -> dict[str, Any]:
            conn.execute("BEGIN")
            for sql, params in plan:
                conn.executemany(sql, params)
            conn.execute("COMMIT")
            return {"url": url, "rss_mib": harness.trial_rss_mib()}

        harness.measure(run_sqlite)
        conn.close()
        return
    import psycopg

    server = server_clock(url)
    with psycopg.connect(dsn(url)) as pg:
        start = server()

        def run_pg() -> dict[str, Any]:
            with pg.transaction(), pg.cursor() as cur:
                for sql, params in plan:
                    if params is None:
                        cur.execute(sql)
                    else:
                        cur.executemany(sql, params)
            return {
                "url": url,
                "rss_mib": harness.trial_rss_mib(),
                "server_cpu_s": server() - start,
            }

        harness.measure(run_pg)


# --- parent ------------------------------------------------------------------------------


def bench(db: str, target: str, args: argparse.Namespace, admin: str | None) -> dict[str, Any]:
    me = Path(__file__)
    common = ["--target", target, "--items", str(args.items)]
    print(f"{db}: {args.items:,} items, {args.repeat} rounds", flush=True)
    sides = harness.alternate(
        [
            harness.Trial("ours", harness.child_argv(me, "--trial", "ours", *common)),
            harness.Trial("floor", harness.child_argv(me, "--trial", "floor", *common)),
        ],
        args.repeat,
        timeout=3600,
    )
    first_ours, first_floor = sides["ours"][0]["url"], sides["floor"][0]["url"]
    # In a child: the comparison reads both stores whole, and a child's peak RSS starts at
    # its parent's (Linux keeps ru_maxrss across fork and exec), so a big parent would
    # inflate every later trial's figure.
    diffs = harness.run_child(
        harness.Trial(
            "compare",
            harness.child_argv(me, "--trial", "compare", "--target", f"{first_ours} {first_floor}"),
        ),
        timeout=3600,
    )["diffs"]
    if diffs:
        raise SystemExit(f"{db}: the floor did not write ours' rows: {diffs}")
    print(f"  round 1 stores compared: the same rows ({db})")
    rerun = harness.run_child(
        harness.Trial(
            "rerun",
            harness.child_argv(me, "--trial", "rerun", "--target", first_ours, *common[2:]),
        ),
        timeout=3600,
    )
    print(
        f"  re-run unchanged: {rerun['wall_s']:.2f}s, "
        f"+{rerun['inserted']} ~{rerun['updated']} ({rerun['status']})"
    )
    if rerun["inserted"] or rerun["updated"] or rerun["status"] != "ok":
        raise SystemExit(f"{db}: the unchanged re-run wrote rows: {rerun}")
    for side in sides.values():
        for doc in side:
            drop_store(doc.pop("url"), admin)
    cmp = harness.compare(
        f"{db}: first full sync, {args.items:,} items ({args.items * 4 + 420:,} rows)",
        sides,
        "ours",
        "floor",
        target=TARGET,
        target_text=f"<= {TARGET:g}x",
    )
    cmp["rerun_unchanged"] = rerun
    if db == "postgresql":
        # the cluster's CPU beside each side's own: on a loaded machine the least disturbed
        # measure of the work both sides make the database do
        total = {}
        for side in ("ours", "floor"):
            runs = sides[side]
            total[side] = statistics.median(r["cpu_s"] + r["server_cpu_s"] for r in runs)
            cmp[f"{side}_summary"]["server_cpu_s"] = {
                "median": statistics.median(r["server_cpu_s"] for r in runs),
                "min": min(r["server_cpu_s"] for r in runs),
                "max": max(r["server_cpu_s"] for r in runs),
            }
            cmp[f"{side}_summary"]["client_plus_server_cpu_s"] = total[side]
        cmp["cpu_ratio_client_plus_server"] = total["ours"] / total["floor"]
        print(
            f"  {db}: client+server CPU, median: ours {total['ours']:.2f}s vs floor "
            f"{total['floor']:.2f}s: {cmp['cpu_ratio_client_plus_server']:.2f}x"
        )
    cmp["cpu_ratio"] = harness.ratio(cmp["ours_summary"], cmp["floor_summary"], "cpu_s")
    o, f = cmp["ours_summary"], cmp["floor_summary"]
    print(
        f"  {db}: ours {o['wall_s']['median']:.2f}s ({o['wall_s']['min']:.2f}-"
        f"{o['wall_s']['max']:.2f}) vs floor {f['wall_s']['median']:.2f}s "
        f"({f['wall_s']['min']:.2f}-{f['wall_s']['max']:.2f}): {cmp['ratio']:.2f}x, "
        f"target <= {TARGET:g}x {'met' if cmp['met'] else 'NOT met'}",
        flush=True,
    )
    return cmp


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--trial", choices=("ours", "floor", "rerun", "compare"), help=argparse.SUPPRESS
    )
    ap.add_argument("--target", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.trial == "ours":
        trial_ours(args.target, args.items)
        return 0
    if args.trial == "floor":
        trial_floor(args.target, args.items)
        return 0
    if args.trial == "rerun":
        trial_rerun(args.target, args.items)
        return 0
    if args.trial == "compare":
        harness.measure(lambda: {"diffs": compare_stores(*args.target.split(" "))})
        return 0

    comparisons = []
    cluster = None
    tmp = Path(tempfile.mkdtemp(prefix="pmohub-store-write-"))
    try:
        for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
            if db == "sqlite":
                comparisons.append(bench(db, str(tmp), args, None))
                continue
            sys.path.insert(0, str(ROOT / "tests"))
            from conftest import PgCluster  # the tests' throwaway-cluster recipe

            cluster = PgCluster()
            comparisons.append(bench(db, cluster.url(), args, cluster.url()))
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    path = harness.save(
        "store_write",
        {
            "size": {
                "items": args.items,
                "status_changes_per_item": 3,
                "projects": len(PROJECTS),
                "people": PEOPLE,
            },
            "floor": "the same rows pre-built, bare driver, the same upsert statements, "
            "executemany, one transaction",
            "comparisons": comparisons,
        },
    )
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
