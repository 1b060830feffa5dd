"""``pmohub worker``: any number of processes, on any number of hosts, share the sources of
one PostgreSQL store, with the store itself as the only coordinator (docs/workers.md).

- *Due*: a source is due when its last run (any outcome but ``locked``/``running``: a
  failed source waits like the rest instead of being retried in a hot loop) started more
  than ``interval`` ago, or it never ran.
- *Claim*: a session-level ``pg_try_advisory_lock`` on the key of ``pmohub.worker:<source>``,
  held on a connection of its own for the whole sync; another worker's try fails at once
  and it moves on to the next due source. After the claim, dueness is read again: a
  worker that finished the source a moment ago has released the lock but left its run.
  The sync itself still takes the per-source sync lock (aggregator/store/locks.py), so a
  worker never overlaps a hand-run ``pmohub sync`` either.
- *A dead worker's claim expires*: the server drops the session, and with it the lock, as
  soon as it sees the connection gone: at once for a process that died (the kernel
  closes its socket), within ``claim_timeout`` for a host that vanished (the session's
  TCP keepalives and ``tcp_user_timeout`` are set from it). The next worker to poll takes
  the source over; the sync resumes from the source's cursor (pages are idempotent
  upserts), so nothing is lost or doubled.
- *Heartbeat*: while syncing, a thread checks every ``claim_timeout / 3`` seconds that the
  claim's session still answers. If it does not, the server may already have given the
  source to someone else, so the worker stops at once (exit code ``EXIT_CLAIM_LOST``)
  rather than write beside the new holder.
- *Rounds* (``once=True``, a Kubernetes CronJob): sync whatever is due, and stay while a
  due source is claimed by another worker (to take it over if that worker dies); return
  when nothing is due. Every source is synced exactly once per round as long as
  ``interval`` is longer than a round.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, func, select, text

from pmohub.aggregator.ingest.sync import (
    ProgressCallback,
    SyncResult,
    selected_sources,
    sync_config,
)
from pmohub.aggregator.store.locks import advisory_key
from pmohub.aggregator.store.models import SyncRun
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError

log = logging.getLogger("pmohub.worker")

runs_t = SyncRun.__table__

#: Exit code of a worker that lost its claim's session mid-sync (it stops at once).
EXIT_CLAIM_LOST = 3
#: Run statuses that do not count as "synced": refused by the lock, or still in flight
#: (a dead worker's run stays ``running`` until the next sync of the source marks it).
NOT_A_SYNC = ("locked", "running")


@dataclass
class WorkerReport:
    """What one worker did: its id (``host:pid``, also the runs' ``job_id``) and results."""

    worker_id: str
    results: list[SyncResult] = field(default_factory=list)


def worker_id() -> str:
    return f"worker:{socket.gethostname()}:{os.getpid()}"


def last_started(conn: Connection, names: Sequence[str]) -> dict[str, dt.datetime]:
    """Start of each source's last counted run (sources that never ran are absent)."""
    rows = conn.execute(
        select(runs_t.c.source, func.max(runs_t.c.started_at))
        .where(runs_t.c.source.in_(list(names)), runs_t.c.status.not_in(NOT_A_SYNC))
        .group_by(runs_t.c.source)
    )
    return {source: at for source, at in rows if at is not None}


def due_sources(
    engine: Engine, names: Sequence[str], interval: dt.timedelta, now: dt.datetime
) -> list[str]:
    """The sources of ``names`` due at ``now``: never synced first (in the given order),
    then the longest-waiting."""
    with engine.connect() as conn:
        last = last_started(conn, names)
    never = [n for n in names if n not in last]
    waiting = sorted((at, n) for n, at in last.items() if at <= now - interval)
    return never + [n for _at, n in waiting]


def claim_key(source: str) -> int:
    return advisory_key(f"pmohub.worker:{source}")


class Claim:
    """The advisory lock of one source on a session of its own, with the heartbeat."""

    def __init__(self, engine: Engine, source: str, timeout_s: float, on_lost: Callable[[], None]):
        self.source, self.timeout_s, self.on_lost = source, timeout_s, on_lost
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.stopped = threading.Event()
        self.beat: threading.Thread | None = None
        # The server ends the session, and releases the lock, this soon after the host
        # stops answering (it would otherwise wait for the OS default, hours).
        idle = max(1, int(timeout_s / 2))
        every = max(1, int(timeout_s / 6))
        self.conn.execute(text(f"SET tcp_keepalives_idle = {idle}"))
        self.conn.execute(text(f"SET tcp_keepalives_interval = {every}"))
        self.conn.execute(text("SET tcp_keepalives_count = 3"))
        self.conn.execute(text(f"SET tcp_user_timeout = {int(timeout_s * 1000)}"))

    def try_take(self) -> bool:
        key = claim_key(self.source)
        got = bool(self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        if got:
            self.beat = threading.Thread(
                target=self._heartbeat, name=f"pmohub-claim-{self.source}", daemon=True
            )
            self.beat.start()
        return got

    def _heartbeat(self) -> None:
        # The same session answering means the lock is still ours: a session the server
        # dropped fails here (a Connection never reconnects behind our back).
        while not self.stopped.wait(max(1.0, self.timeout_s / 3)):
            try:
                self.conn.execute(text("SELECT 1"))
            except Exception as exc:
                log.critical("[%s] claim lost (%s): stopping", self.source, exc)
                self.on_lost()
                return

    def release(self) -> None:
        self.stopped.set()
        if self.beat is not None:
            self.beat.join()
        try:
            self.conn.execute(text("SELECT pg_advisory_unlock_all()"))
        finally:
            self.conn.close()


def _lost() -> None:
    # Another worker may hold the source now: writing on would break "one at a time".
    logging.shutdown()
    os._exit(EXIT_CLAIM_LOST)


def run_worker(
    engine: Engine,
    sources: Sequence[SourceConfig],
    *,
    names: Sequence[str] | None = None,
    once: bool = False,
    interval: dt.timedelta = dt.timedelta(hours=1),
    claim_timeout_s: float = 300.0,
    poll_s: float = 5.0,
    env: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    on_lost: Callable[[], None] = _lost,
) -> WorkerReport:
    """Claim and sync due sources until ``stop`` is set (or, with ``once``, until nothing
    is due). One source at a time per worker: run more workers for more at once."""
    if engine.dialect.name != "postgresql":
        raise ConfigError(
            "pmohub worker needs a PostgreSQL store (workers coordinate through it); "
            "with SQLite, run `pmohub sync` (it syncs sources in parallel) or `pmohub schedule`"
        )
    configs = {c.name: c for c in selected_sources(sources, names)}
    stop = stop or threading.Event()
    report = WorkerReport(worker_id())
    log.info("%s: %d sources, interval %s", report.worker_id, len(configs), interval)
    while not stop.is_set():
        now = dt.datetime.now(dt.UTC)
        due = due_sources(engine, list(configs), interval, now)
        if not due and once:
            return report
        synced = False
        for name in due:
            if stop.is_set():
                break
            result = _sync_claimed(
                engine,
                configs[name],
                interval,
                claim_timeout_s,
                env,
                progress,
                on_lost,
                report.worker_id,
            )
            if result is not None:
                report.results.append(result)
                synced = True
                break  # read dueness again: the others may have moved on meanwhile
        if not synced:
            stop.wait(poll_s)  # all due sources are claimed by others (or none is due)
    return report


def _sync_claimed(
    engine: Engine,
    config: SourceConfig,
    interval: dt.timedelta,
    claim_timeout_s: float,
    env: Mapping[str, str] | None,
    progress: ProgressCallback | None,
    on_lost: Callable[[], None],
    job_id: str,
) -> SyncResult | None:
    """Sync ``config`` if this worker can claim it and it is still due; else None."""
    claim = Claim(engine, config.name, claim_timeout_s, on_lost)
    try:
        if not claim.try_take():
            return None
        # Claimed: but whoever held it before may have just finished it.
        if config.name not in due_sources(engine, [config.name], interval, dt.datetime.now(dt.UTC)):
            return None
        log.info("[%s] claimed by %s", config.name, job_id)
        return sync_config(engine, config, progress=progress, job_id=job_id, env=env)
    finally:
        claim.release()
