"""One sync per source at a time, on SQLite and on PostgreSQL.

PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection for the
whole run; the server releases it by itself when the process dies, however it dies.

SQLite has no such thing, so the ``sync_locks`` row is the lock: ``owner`` is
``host:pid:token``; a background thread bumps ``heartbeat_at``. A row is stale (taken over)
when its owner is on this host and that pid is gone (a SIGKILLed run), or when its
heartbeat is older than ``stale_after`` (a run on another host that vanished). On
PostgreSQL the row is written too, purely so a refused run can name the owner.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, delete, false, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from pmohub.aggregator.store.models import SyncLock
from pmohub.connectors.errors import PmohubError

log = logging.getLogger("pmohub.sync")

locks_t = SyncLock.__table__

DEFAULT_STALE_AFTER = dt.timedelta(minutes=10)
HEARTBEAT_EVERY_S = 30.0


class SourceLocked(PmohubError):
    """Another run holds the source's lock."""

    def __init__(self, source: str, owner: str | None, waited_s: float):
        self.source = source
        self.owner = owner
        who = f"run {owner}" if owner else "another run"
        wait = f" after waiting {waited_s:.0f}s" if waited_s >= 1 else ""
        super().__init__(
            f"[{source}] is being synced by {who} (host:pid:token){wait}; "
            "not started. Try again when it finishes, or pass a lock timeout to wait."
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64 bits) for ``name``, stable everywhere."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _advisory_key(source: str) -> int:
    return advisory_key(f"pmohub.sync:{source}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale(owner: str, heartbeat_at: dt.datetime, *, now: dt.datetime, stale_after: dt.timedelta):
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        if pid != os.getpid() and not _pid_alive(pid):
            return True
    return now - heartbeat_at > stale_after


def current_owner(engine: Engine, source: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(locks_t.c.owner).where(locks_t.c.source == source)
        ).scalar_one_or_none()


def _insert(conn: Connection):  # type: ignore[no-untyped-def]
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(locks_t)


def _claim_row(
    engine: Engine, source: str, owner: str, *, stale_after: dt.timedelta, force: bool
) -> str | None:
    """Try to make ``owner`` the row's owner; return None on success, else the holder."""
    now = _now()
    with engine.begin() as conn:
        # The INSERT takes SQLite's write lock first, so the read-check-update below cannot
        # interleave with another claimant.
        got = conn.execute(
            _insert(conn)
            .values(source=source, owner=owner, acquired_at=now, heartbeat_at=now)
            .on_conflict_do_nothing(index_elements=[locks_t.c.source])
        ).rowcount
        if got == 1:
            return None
        row = conn.execute(
            select(locks_t.c.owner, locks_t.c.heartbeat_at).where(locks_t.c.source == source)
        ).one_or_none()
        if row is None:
            return "(released meanwhile)"
        if force or is_stale(row.owner, row.heartbeat_at, now=now, stale_after=stale_after):
            took = conn.execute(
                update(locks_t)
                .where(locks_t.c.source == source, locks_t.c.owner == row.owner)
                .values(owner=owner, acquired_at=now, heartbeat_at=now)
            ).rowcount
            if took == 1:
                if not force:
                    log.warning("[%s] took over stale sync lock of %s", source, row.owner)
                return None
        return row.owner


class _Heartbeat(threading.Thread):
    def __init__(self, engine: Engine, source: str, owner: str, every_s: float):
        super().__init__(name=f"pmohub-lock-{source}", daemon=True)
        self.engine, self.source, self.owner, self.every_s = engine, source, owner, every_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            try:
                with self.engine.begin() as conn:
                    n = conn.execute(
                        update(locks_t)
                        .where(locks_t.c.source == self.source, locks_t.c.owner == self.owner)
                        .values(heartbeat_at=_now())
                    ).rowcount
                if n == 0:
                    log.error("[%s] sync lock was taken over by another run", self.source)
                    return
            except Exception as exc:  # a busy database must not kill the sync itself
                log.warning("[%s] lock heartbeat failed: %s", self.source, exc)


@contextlib.contextmanager
def source_lock(
    engine: Engine,
    source: str,
    *,
    timeout: float = 0.0,
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER,
    heartbeat_s: float = HEARTBEAT_EVERY_S,
    poll_s: float = 0.25,
) -> Iterator[str]:
    """Hold the sync lock of ``source``; yields the owner string. Waits up to ``timeout``
    seconds, then raises :class:`SourceLocked` naming the holder."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    started = time.monotonic()
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        key = _advisory_key(source)
        try:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                waited = time.monotonic() - started
                if waited >= timeout:
                    raise SourceLocked(source, current_owner(engine, source), waited)
                time.sleep(poll_s)
            try:
                # The advisory lock is the real lock; the row only names the holder.
                _claim_row(engine, source, owner, stale_after=stale_after, force=True)
                yield owner
            finally:
                with engine.begin() as c:
                    c.execute(
                        delete(locks_t).where(locks_t.c.source == source, locks_t.c.owner == owner)
                    )
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            conn.close()
        return

    while (
        holder := _claim_row(engine, source, owner, stale_after=stale_after, force=False)
    ) is not None:
        waited = time.monotonic() - started
        if waited >= timeout:
            raise SourceLocked(source, holder, waited)
        time.sleep(poll_s)
    beat = _Heartbeat(engine, source, owner, heartbeat_s)
    beat.start()
    try:
        yield owner
    finally:
        beat.stopped.set()
        beat.join()
        with engine.begin() as c:
            c.execute(delete(locks_t).where(locks_t.c.source == source, locks_t.c.owner == owner))


#: Key of the transaction-scoped PostgreSQL advisory lock that serialises people merges.
PEOPLE_LOCK_KEY = 0x706D6F6870656F70  # "pmohpeop"


def begin_write(conn: Connection) -> None:
    """SQLite: take the database's write lock now, inside the caller's transaction, so
    the reads that follow see the latest commit and the writes after them cannot fail.
    A deferred transaction that has read and then writes, while another connection
    committed in between, gets "database is locked" at once (busy_timeout cannot help:
    waiting would not refresh its snapshot). Only SQLite has this; a no-op elsewhere."""
    if conn.dialect.name == "sqlite":
        conn.execute(update(locks_t).where(false()).values(owner=locks_t.c.owner))


def lock_people(conn: Connection) -> None:
    """Hold the people write lock until the transaction ends. Two sources synced at once
    (parallel threads, several workers) can meet one new e-mail in the same instant; each
    would read "nobody has it" and create a person. PostgreSQL: an advisory lock; SQLite:
    its write lock (``begin_write``) before the reads."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PEOPLE_LOCK_KEY})
    else:
        begin_write(conn)
