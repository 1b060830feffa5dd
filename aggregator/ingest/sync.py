"""The sync engine: connector streams in, idempotent pages out (docs/architecture.md "Sync engine").

Guarantees, and how:

- *At least once, never lost*: the work-item stream is buffered into pages; each page (the
  items, then their status changes, worklogs and links) is written in ONE transaction
  together with the ``sync_state`` cursor of the last ``Checkpoint`` passed, capped at the
  run's start. A crash loses at most the page in flight; the next run resumes from the
  cursor. A connector that yields no Checkpoint gets the cursor (= run start) only after a
  complete pass.
- *Never double counted*: every write is an upsert on ``(source, external_id)``; unchanged
  rows are not rewritten, so re-running changes nothing (0 inserted, 0 updated).
- *Lookback*: incremental runs ask for items updated since ``cursor - lookback``.
- *Deletions*: after a complete stream, the census (ids per project) is diffed with the
  store and the missing items are soft-deleted; ``ChildrenComplete`` soft-deletes an item's
  vanished status changes, worklogs and links. A failed run never deletes anything.
- *Circuit breaker* (aggregator/ingest/guard.py): a census that is empty or would remove
  too large a share of the live items deletes nothing; the run ends ``suspect`` with the
  numbers, until ``accept_deletions`` confirms. Items the census names again come back
  live whatever their updated time.
- *Malformed records*: connectors yield ``Skipped(RecordError)``; it is counted in
  ``skipped`` and its message kept in ``problems``; the rest loads.
- *Degraded, not skipped* (docs/degrade-policy.md): a ``Problem`` marker is kept in
  ``problems`` (prefixed ``warning: ``) and counts nothing; one with ``incomplete=True``
  stops the deletions inferred from that stream (catalogue soft-delete, census) this run.
- *Isolation*: one source failing never stops ``sync_all``; its error is recorded in its
  ``sync_runs`` row and result.
- *One run per source*: ``aggregator.store.locks.source_lock``.
- *Flat memory*: pages only; the census streams through a temporary table.
- *Cycle collector relaxed* while a run lasts (aggregator/ingest/gcpolicy.py): it took
  ~30% of a large sync's CPU finding no cycles.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Text, cast, func, insert, select, text, update

from pmohub.aggregator.ingest import guard
from pmohub.aggregator.ingest.gcpolicy import relaxed_gc
from pmohub.aggregator.ingest.scrub import scrub
from pmohub.aggregator.ingest.sqlite_stats import ensure_sqlite_statistics
from pmohub.aggregator.store import bulk, deletions
from pmohub.aggregator.store import writes as w
from pmohub.aggregator.store.locks import SourceLocked, source_lock
from pmohub.aggregator.store.models import SyncRun, SyncState
from pmohub.aggregator.store.revisions import bump_revision, source_revision
from pmohub.connectors import records as rec
from pmohub.connectors.base import (
    WARNING_PREFIX,
    Checkpoint,
    ChildrenComplete,
    Connector,
    Problem,
    Skipped,
    SourceConfig,
)
from pmohub.connectors.errors import ConfigError, PmohubError, RecordError

log = logging.getLogger("pmohub.sync")

runs_t = SyncRun.__table__
state_t = SyncState.__table__

CURSOR_SCOPE = "work_items"
#: A page is flushed at the next item boundary once it holds this many rows of all kinds
#: times the page size (an item with a huge history must not grow a page without bound).
_ROWS_PER_ITEM_BOUND = 20


@dataclass(frozen=True, slots=True)
class SyncProgress:
    """Handed to the ``progress`` callback after every phase step and page."""

    source: str
    phase: str  # projects | people | iterations | milestones | work_items | census | done
    fetched: int
    inserted: int
    updated: int
    deleted: int
    skipped: int


ProgressCallback = Callable[[SyncProgress], None]


@dataclass
class SyncResult:
    source: str
    run_id: int | None
    status: Literal["ok", "failed", "locked", "suspect"]
    mode: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    cursor_before: dt.datetime | None = None
    cursor_after: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def warnings(self) -> list[str]:
        """The problems that degraded a record or skipped a stream (nothing was skipped)."""
        return [p for p in self.problems if p.startswith(WARNING_PREFIX)]


@dataclass
class _Page:
    items: list[rec.WorkItem] = field(default_factory=list)
    changes: list[rec.StatusChange] = field(default_factory=list)
    worklogs: list[rec.Worklog] = field(default_factory=list)
    links: list[rec.Link] = field(default_factory=list)
    complete: list[ChildrenComplete] = field(default_factory=list)
    checkpoint: dt.datetime | None = None
    skipped: list[RecordError] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def rows(self) -> int:
        return len(self.items) + len(self.changes) + len(self.worklogs) + len(self.links)


class _Run:
    """Counters of one run, mirrored into its ``sync_runs`` row with every page."""

    def __init__(self, result: SyncResult, progress: ProgressCallback | None):
        self.result = result
        self.progress = progress
        self._changes_saved = 0  # inserted + updated + deleted at the last save
        #: streams a ``Problem(incomplete=True)`` marked: no deletions inferred from them
        self.incomplete: set[str] = set()

    def count(self, counts: w.WriteCounts, fetched: int = 0) -> None:
        r = self.result
        r.fetched += fetched
        r.inserted += counts.inserted
        r.updated += counts.updated
        r.skipped += counts.skipped
        room = bulk.MAX_PROBLEMS - len(r.problems)
        if room > 0:
            r.problems.extend(counts.problems[:room])

    def skip(self, error: RecordError) -> None:
        self.count(w.WriteCounts(skipped=1, problems=[str(error)]), fetched=1)

    def warn(self, problem: Problem, stream: str) -> None:
        if problem.incomplete:
            self.incomplete.add(stream)
        log.warning("[%s] %s", self.result.source, problem)
        self.count(w.WriteCounts(problems=[WARNING_PREFIX + str(problem)]))

    def report(self, phase: str) -> None:
        if self.progress is not None:
            r = self.result
            self.progress(
                SyncProgress(
                    r.source, phase, r.fetched, r.inserted, r.updated, r.deleted, r.skipped
                )
            )

    def save(self, conn: Connection, **extra: Any) -> None:
        """Mirror the counters into the run's row, and bump the source's revision when
        rows changed since the last save: every writing transaction ends here, so the
        bump commits with the rows it stands for (caches keyed on it never go stale)."""
        r = self.result
        changes = r.inserted + r.updated + r.deleted
        if changes != self._changes_saved:
            bump_revision(conn, source_revision(r.source))
            self._changes_saved = changes
        conn.execute(
            update(runs_t)
            .where(runs_t.c.id == r.run_id)
            .values(
                fetched=r.fetched,
                inserted=r.inserted,
                updated=r.updated,
                deleted=r.deleted,
                skipped=r.skipped,
                problems=list(r.problems),
                cursor_after=_fmt(r.cursor_after),
                **extra,
            )
        )


def _fmt(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC) if value else None


def read_cursor(engine: Engine, source: str) -> dt.datetime | None:
    with engine.connect() as conn:
        return _parse(
            conn.execute(
                select(state_t.c.cursor).where(
                    state_t.c.source == source, state_t.c.scope == CURSOR_SCOPE
                )
            ).scalar_one_or_none()
        )


def _save_cursor(conn: Connection, source: str, cursor: dt.datetime, run_id: int | None) -> None:
    values = {"cursor": _fmt(cursor), "run_id": run_id, "updated_at": w.now_utc()}
    stmt = bulk.dialect_insert(conn, state_t).values(source=source, scope=CURSOR_SCOPE, **values)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[state_t.c.source, state_t.c.scope], set_=values)
    )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, PmohubError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _pages(stream: Iterable[Any], size: int) -> Iterator[_Page]:
    """Cut the stream into pages, only at a work item boundary (an item and its children,
    and its ChildrenComplete, always share a page)."""
    page = _Page()
    for obj in stream:
        if isinstance(obj, rec.Record):
            obj, nul_problems = scrub(obj)
            page.problems.extend(nul_problems)
        if isinstance(obj, rec.WorkItem):
            if len(page.items) >= size or page.rows() >= size * _ROWS_PER_ITEM_BOUND:
                yield page
                page = _Page()
            page.items.append(obj)
        elif isinstance(obj, rec.StatusChange):
            page.changes.append(obj)
        elif isinstance(obj, rec.Worklog):
            page.worklogs.append(obj)
        elif isinstance(obj, rec.Link):
            page.links.append(obj)
        elif isinstance(obj, ChildrenComplete):
            page.complete.append(obj)
        elif isinstance(obj, Checkpoint):
            page.checkpoint = obj.cursor
        elif isinstance(obj, Skipped):
            page.skipped.append(obj.error)
        elif isinstance(obj, Problem):
            page.problems.append(obj)
        else:
            raise TypeError(f"connector yielded {type(obj).__name__}, not a stream record")
    if page.items or page.rows() or page.complete or page.checkpoint or page.skipped:
        yield page
    elif page.problems:  # a stream that only warned (every project refused its module)
        yield page


def _write_children_complete(
    conn: Connection, source: str, page: _Page, new_items: set[str], at: dt.datetime
) -> int:
    """Soft-delete the stored children (of the kinds each marker names) of the page's
    completed items that the page no longer lists. Items inserted by this very page had no
    stored children, so they are left out: a first load runs no prune at all."""
    done = [c for c in page.complete if c.work_item_id not in new_items]
    if not done:
        return 0
    ids = w._item_ids(conn, source, [c.work_item_id for c in done], {})
    deleted = 0
    for kind, table, children in (
        ("status_changes", w.status_changes_t, page.changes),
        ("worklogs", w.worklogs_t, page.worklogs),
        ("links", w.links_t, page.links),
    ):
        if kind == "links":
            # links hang off the item's external id (the other end may not be synced)
            owners = [c.work_item_id for c in done if kind in c.kinds]
        else:
            owners = [
                ids[c.work_item_id] for c in done if kind in c.kinds and c.work_item_id in ids
            ]
        if owners:
            deleted += deletions.soft_delete_children(
                conn, table, source, owners, {c.external_id for c in children}, at=at
            )
    return deleted


def _write_page(
    engine: Engine, source: str, page: _Page, run: _Run, started_at: dt.datetime
) -> None:
    at = w.now_utc()
    for error in page.skipped:
        run.skip(error)
    for problem in page.problems:
        run.warn(problem, "work_items")
    with engine.begin() as conn:
        new_items: set[str] = set()
        counts, ids = w.upsert_work_items(conn, source, page.items, at=at, new_ids=new_items)
        counts.add(w.upsert_status_changes(conn, source, page.changes, item_ids=ids, at=at))
        counts.add(w.upsert_worklogs(conn, source, page.worklogs, item_ids=ids, at=at))
        counts.add(w.upsert_links(conn, source, page.links, at=at))
        run.count(counts, fetched=page.rows())
        run.result.deleted += _write_children_complete(conn, source, page, new_items, at)
        if page.checkpoint is not None:
            # Never past the run's start: whatever changed after it is next run's business.
            cursor = min(page.checkpoint, started_at)
            if run.result.cursor_after is None or cursor > run.result.cursor_after:
                run.result.cursor_after = cursor
                _save_cursor(conn, source, cursor, run.result.run_id)
        run.save(conn)
    run.report("work_items")


def _refresh_statistics(engine: Engine) -> None:
    """PostgreSQL plans the per-page lookups from table statistics; during a first load they
    still describe an empty table (autovacuum lags by minutes) and the planner picks
    sequential scans, making the load quadratic. ANALYZE after pages 1, 2, 4, 8, ... keeps
    the plans on the indexes at a logarithmic cost."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in _SYNC_TABLES:
            conn.execute(text(f"ANALYZE {table.name}"))


_SYNC_TABLES = (bulk.work_items_t, w.status_changes_t, w.worklogs_t, w.links_t)


def _batched(
    stream: Iterable[Any], size: int
) -> Iterator[tuple[list[Any], list[RecordError | Problem]]]:
    batch: list[Any] = []
    skipped: list[RecordError | Problem] = []
    for obj in stream:
        if isinstance(obj, Skipped):
            skipped.append(obj.error)
        elif isinstance(obj, Problem):
            skipped.append(obj)
        elif isinstance(obj, rec.Record):
            obj, nul_problems = scrub(obj)
            skipped.extend(nul_problems)
            batch.append(obj)
        else:
            batch.append(obj)
        if len(batch) + len(skipped) >= size:
            yield batch, skipped
            batch, skipped = [], []
    if batch or skipped:
        yield batch, skipped


def _sync_catalogue(engine: Engine, connector: Connector, run: _Run, page_size: int) -> None:
    """Projects, people, sprints and versions, before the work items that refer to them."""
    source = connector.name
    phases: list[tuple[str, Callable[[], Iterable[Any]], Callable[..., w.WriteCounts], Any]] = [
        ("projects", connector.fetch_projects, w.upsert_projects, None),
        ("people", connector.fetch_people, w.upsert_people, None),
        ("iterations", connector.fetch_iterations, w.upsert_iterations, w.iterations_t),
        ("milestones", connector.fetch_milestones, w.upsert_milestones, w.milestones_t),
    ]
    for phase, fetch, upsert, table in phases:
        seen: set[str] = set()
        for batch, skipped in _batched(fetch(), page_size):
            for error in skipped:
                if isinstance(error, Problem):
                    run.warn(error, phase)
                else:
                    run.skip(error)
            with engine.begin() as conn:
                run.count(upsert(conn, source, batch), fetched=len(batch))
                run.save(conn)
            if table is not None:
                seen.update(r.external_id for r in batch)
            run.report(phase)
        if table is not None and phase not in run.incomplete:
            # Sprints and versions are few; a complete listing tells which were deleted.
            if phase == "iterations" and connector.catalogue_since is not None:
                # A narrowed listing (Connector.narrows_iterations) lacks the sprints only
                # unchanged items name: those the store's live items name are not gone.
                seen.update(_named_iterations(engine, source))
            with engine.begin() as conn:
                run.result.deleted += deletions.soft_delete_missing(conn, table, source, seen)
                run.save(conn)


def _named_iterations(engine: Engine, source: str) -> set[str]:
    """Iteration ids the source's live stored items name (their ``iteration_ids``). The
    lists are compared as stored text, so only the few distinct ones are decoded (decoding
    10,000 JSON values cost more than the light pass this replaces)."""
    t = bulk.work_items_t
    query = (
        select(cast(t.c.iteration_ids, Text))
        .where(t.c.source == source, t.c.deleted_at.is_(None))
        .distinct()
    )
    with engine.connect() as conn:
        lists = [json.loads(text) for text in conn.execute(query).scalars() if text]
    return {str(i) for ids in lists if isinstance(ids, list) for i in ids}


def census_unchanged(engine: Engine, connector: Connector, keys: Sequence[str]) -> bool:
    """True when the id listing can be skipped: the tracker's count of every project
    (``Connector.census_total``) sums to the source's live items in the store, taken after
    this run's pages were written (so it includes the items first seen in this run). A
    deletion leaves the store one item more than the tracker unless the tracker holds an
    item the store lacks, which an incremental run can only meet through a race (created
    after the stream passed it: the next run reads it and the counts then differ), a
    record skipped as malformed (the counts never match: the full census always runs), or
    an issue made visible without changing. Any difference, either way, or a project the
    connector cannot count runs the full census: nothing is ever deleted on a count.
    Full runs always run it, so a deletion hidden by such a coincidence waits for the next
    full sync at most."""
    total = 0
    for key in keys:
        n = connector.census_total(key)
        if n is None:
            return False
        total += n
    t = bulk.work_items_t
    with engine.connect() as conn:
        live = conn.execute(
            select(func.count()).where(t.c.source == connector.name, t.c.deleted_at.is_(None))
        ).scalar_one()
    same = total == live
    log.info(
        "[%s] census: tracker lists %d item(s), store holds %d live: %s",
        connector.name,
        total,
        live,
        "id listing skipped" if same else "full census",
    )
    return same


def _census(engine: Engine, connector: Connector, run: _Run, accept_deletions: bool) -> None:
    source = connector.name
    config = connector.config
    verdicts: list[guard.Verdict] = []

    def allow(counts: deletions.CensusCounts) -> bool:
        verdicts.append(guard.judge(counts, config.max_deletion_share))
        return verdicts[-1].allowed or accept_deletions or config.accept_deletions

    with engine.connect() as conn:
        keys = list(
            conn.execute(
                select(w.projects_t.c.key).where(
                    w.projects_t.c.source == source, w.projects_t.c.deleted_at.is_(None)
                )
            ).scalars()
        )

    if run.result.mode == "incremental" and census_unchanged(engine, connector, keys):
        run.report("census")
        return

    def ids() -> Iterator[str]:
        for key in keys:
            for ext in connector.census(key):
                yield ext.replace("\x00", "")  # as scrub() stored the item

    with engine.begin() as conn:
        outcome = deletions.census_rows(
            conn, bulk.work_items_t, source, ids(), guard=allow, restore=True
        )
        run.result.deleted += outcome.deleted
        run.result.updated += outcome.restored
        if outcome.restored:
            run.warn(
                Problem(
                    f"census: {outcome.restored} soft-deleted item(s) listed again by the "
                    "tracker, restored"
                ),
                "census",
            )
        if verdicts and not verdicts[-1].allowed:
            if outcome.held:
                run.result.status = "suspect"
                run.result.error = verdicts[-1].reason
                log.error("[%s] %s", source, verdicts[-1].reason)
            else:
                log.warning("[%s] deletions confirmed: %s", source, verdicts[-1].reason)
        run.save(conn)
    run.report("census")


def sync_source(
    engine: Engine,
    connector: Connector,
    *,
    full: bool = False,
    page_size: int = 500,
    progress: ProgressCallback | None = None,
    job_id: str | None = None,
    lookback: dt.timedelta | None = None,
    lock_timeout: float = 0.0,
    accept_deletions: bool = False,
) -> SyncResult:
    """Sync one source into the store; never raises for a source-side failure (the result
    and its ``sync_runs`` row say what went wrong). ``accept_deletions`` confirms a census
    the circuit breaker would hold back (aggregator/ingest/guard.py)."""
    source = connector.name
    started_at = w.now_utc()
    with engine.begin() as conn:
        w.upsert_source(
            conn, source, connector.config.type, url=connector.config.url, at=started_at
        )
    if lookback is None:
        lookback = dt.timedelta(minutes=connector.config.lookback_minutes)
    try:
        with source_lock(engine, source, timeout=lock_timeout), relaxed_gc():
            return _sync_locked(
                engine,
                connector,
                full,
                page_size,
                progress,
                job_id,
                lookback,
                started_at,
                accept_deletions,
            )
    except SourceLocked as exc:
        result = SyncResult(
            source=source,
            run_id=None,
            status="locked",
            mode="full" if full else "incremental",
            error=str(exc),
            started_at=started_at,
            finished_at=w.now_utc(),
        )
        with engine.begin() as conn:
            result.run_id = conn.execute(
                insert(runs_t)
                .values(
                    source=source,
                    job_id=job_id,
                    mode=result.mode,
                    started_at=started_at,
                    finished_at=result.finished_at,
                    status="locked",
                    error=result.error,
                    problems=[],
                )
                .returning(runs_t.c.id)
            ).scalar_one()
        log.warning("%s", exc)
        return result


def _sync_locked(
    engine: Engine,
    connector: Connector,
    full: bool,
    page_size: int,
    progress: ProgressCallback | None,
    job_id: str | None,
    lookback: dt.timedelta,
    started_at: dt.datetime,
    accept_deletions: bool = False,
) -> SyncResult:
    source = connector.name
    cursor = read_cursor(engine, source)
    incremental = not full and cursor is not None and connector.incremental
    mode = "incremental" if incremental else "full"
    since = cursor - lookback if incremental and cursor is not None else None
    result = SyncResult(
        source=source,
        run_id=None,
        status="ok",
        mode=mode,
        cursor_before=cursor,
        started_at=started_at,
    )
    with engine.begin() as conn:
        # We hold the lock, so a row still 'running' belongs to a run that died.
        conn.execute(
            update(runs_t)
            .where(runs_t.c.source == source, runs_t.c.status == "running")
            .values(status="failed", error="interrupted: the process ended before the run finished")
        )
        result.run_id = conn.execute(
            insert(runs_t)
            .values(
                source=source,
                job_id=job_id,
                mode=mode,
                started_at=started_at,
                status="running",
                cursor_before=_fmt(cursor),
                problems=[],
            )
            .returning(runs_t.c.id)
        ).scalar_one()
    run = _Run(result, progress)
    # Only a narrowing connector is told the window; the others list everything.
    connector.catalogue_since = since if connector.narrows_iterations else None
    try:
        _sync_catalogue(engine, connector, run, page_size)
        if since is not None and connector.wants_known_updated:
            connector.known_updated = _known_updated(engine, source, since)
        for n, page in enumerate(_pages(connector.fetch_work_items(since), page_size), 1):
            _write_page(engine, source, page, run, started_at)
            if n & (n - 1) == 0:
                _refresh_statistics(engine)
        ensure_sqlite_statistics(engine, _SYNC_TABLES)
        # A complete pass: everything updated before the run started is in the store.
        with engine.begin() as conn:
            result.cursor_after = started_at
            _save_cursor(conn, source, started_at, result.run_id)
            run.save(conn)
        if "work_items" in run.incomplete:
            log.warning("[%s] work-item stream incomplete: no deletions this run", source)
        else:
            _census(engine, connector, run, accept_deletions)
    except Exception as exc:  # one source failing must not stop the others
        result.status = "failed"
        result.error = _error_text(exc)
        if isinstance(exc, PmohubError):
            log.error("%s", result.error)
        else:
            log.exception("[%s] sync failed", source)
    result.finished_at = w.now_utc()
    with engine.begin() as conn:
        run.save(conn, status=result.status, finished_at=result.finished_at, error=result.error)
    run.report("done")
    return result


def _known_updated(engine: Engine, source: str, since: dt.datetime) -> dict[str, dt.datetime]:
    """Stored ``updated_at`` of the source's live items updated at or after ``since`` (what
    an incremental run lists again because of the lookback): a connector whose children
    cost a request per item skips those whose ``updated_at`` did not move."""
    t = bulk.work_items_t
    query = select(t.c.external_id, t.c.updated_at).where(
        t.c.source == source, t.c.deleted_at.is_(None), t.c.updated_at >= since
    )
    with engine.connect() as conn:
        return {
            str(eid): (at if at.tzinfo else at.replace(tzinfo=dt.UTC))
            for eid, at in conn.execute(query)
            if at is not None
        }


def selected_sources(
    sources: Sequence[SourceConfig], names: Sequence[str] | None = None
) -> list[SourceConfig]:
    """The sources to sync: all in config order, or those in ``names`` in that order (once);
    unknown ``names`` raise ``ConfigError`` before anything runs."""
    by_name = {s.name: s for s in sources}
    if not names:
        return list(sources)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigError(
            f"unknown source(s) {', '.join(unknown)}; configured: {', '.join(by_name) or '(none)'}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def sync_config(
    engine: Engine,
    config: SourceConfig,
    *,
    full: bool = False,
    progress: ProgressCallback | None = None,
    job_id: str | None = None,
    env: Mapping[str, str] | None = None,
    lock_timeout: float = 0.0,
    accept_deletions: bool = False,
) -> SyncResult:
    """Build the connector of ``config`` and sync it; never raises (a connector that
    cannot be built, or a bug in close() or the store, is recorded as a failed run).
    Safe to call from several threads at once for different sources
    (aggregator/ingest/parallel.py)."""
    from pmohub.connectors import registry

    try:
        connector = registry.get(config.type)(config, env=env)
    except Exception as exc:
        return _record_failed_start(engine, config, exc, job_id, full)
    try:
        with connector:
            return sync_source(
                engine,
                connector,
                full=full,
                progress=progress,
                job_id=job_id,
                lock_timeout=lock_timeout,
                accept_deletions=accept_deletions,
            )
    except Exception as exc:  # a bug in close() or the store itself
        return _record_failed_start(engine, config, exc, job_id, full)


def sync_all(
    engine: Engine,
    sources: Sequence[SourceConfig],
    *,
    names: Sequence[str] | None = None,
    full: bool = False,
    progress: ProgressCallback | None = None,
    job_id: str | None = None,
    env: Mapping[str, str] | None = None,
    lock_timeout: float = 0.0,
    accept_deletions: bool = False,
) -> list[SyncResult]:
    """Sync the configured sources (all, or those in ``names``) one after the other
    (aggregator/ingest/parallel.py runs several at once).

    Unknown ``names`` raise ``ConfigError`` before anything runs; after that, a failing
    source (bad config, dead server, bug) is recorded and the next one runs.
    """
    return [
        sync_config(
            engine,
            config,
            full=full,
            progress=progress,
            job_id=job_id,
            env=env,
            lock_timeout=lock_timeout,
            accept_deletions=accept_deletions,
        )
        for config in selected_sources(sources, names)
    ]


def _record_failed_start(
    engine: Engine, config: SourceConfig, exc: BaseException, job_id: str | None, full: bool
) -> SyncResult:
    now = w.now_utc()
    result = SyncResult(
        source=config.name,
        run_id=None,
        status="failed",
        mode="full" if full else "incremental",
        error=_error_text(exc),
        started_at=now,
        finished_at=now,
    )
    if not isinstance(exc, PmohubError):
        log.exception("[%s] could not start the sync", config.name)
    try:
        with engine.begin() as conn:
            result.run_id = conn.execute(
                insert(runs_t)
                .values(
                    source=config.name,
                    job_id=job_id,
                    mode=result.mode,
                    started_at=now,
                    finished_at=now,
                    status="failed",
                    error=result.error,
                    problems=[],
                )
                .returning(runs_t.c.id)
            ).scalar_one()
    except Exception:
        log.exception("[%s] could not record the failed run", config.name)
    return result
