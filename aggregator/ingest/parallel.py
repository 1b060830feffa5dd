"""Several sources synced at once (``sync.parallel`` / ``pmohub sync --parallel N``).

Syncs are I/O bound (HTTP pages, then a store write per page), so threads suffice: each
source gets its own connector (its own HTTP session, retry pacing and rate-limit waits),
its own ``sync_runs`` row, lock and progress line, exactly as when run alone
(``aggregator.ingest.sync.sync_config`` is the one code path). What the sources share:

- the store: SQLite serialises writers; WAL plus ``busy_timeout`` (aggregator/store/
  engine.py) make a writer wait for the other's page instead of failing. PostgreSQL
  writes in parallel; people merged by e-mail across sources are serialised in
  ``upsert_people`` (two sources meeting one new e-mail at once must not make two people).
- the engine's connection pool (15 by default; a sync holds up to three connections),
  hence the cap ``MAX_PARALLEL``.

Results come back in the order of the selected sources, whatever order they finish in,
so output and exit codes are the same as a sequential run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from pmohub.aggregator.config.syncing import MAX_PARALLEL, SyncSettings
from pmohub.aggregator.ingest.sync import (
    ProgressCallback,
    SyncResult,
    selected_sources,
    sync_config,
)
from pmohub.connectors.base import SourceConfig

log = logging.getLogger("pmohub.sync")

DEFAULT_PARALLEL = SyncSettings.parallel


def workers_for(parallel: int | None, sources: int) -> int:
    """Threads for ``sources`` sources: ``parallel`` (default 4) capped to 1..16 and to
    the number of sources."""
    wanted = DEFAULT_PARALLEL if parallel is None else parallel
    return max(1, min(wanted, MAX_PARALLEL, sources))


def sync_sources(
    engine: Engine,
    sources: Sequence[SourceConfig],
    *,
    names: Sequence[str] | None = None,
    parallel: int | None = None,
    full: bool = False,
    progress: ProgressCallback | None = None,
    job_id: str | None = None,
    env: Mapping[str, str] | None = None,
    lock_timeout: float = 0.0,
    accept_deletions: bool = False,
) -> list[SyncResult]:
    """Like ``sync_all`` (same arguments, same results in the same order), with up to
    ``parallel`` sources running at once. ``progress`` is called from several threads."""
    selected = selected_sources(sources, names)
    workers = workers_for(parallel, len(selected))
    kwargs = {
        "full": full,
        "progress": progress,
        "job_id": job_id,
        "env": env,
        "lock_timeout": lock_timeout,
        "accept_deletions": accept_deletions,
    }
    if workers == 1:
        return [sync_config(engine, config, **kwargs) for config in selected]  # type: ignore[arg-type]
    log.info("syncing %d sources, %d at a time", len(selected), workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pmohub-sync") as pool:
        futures = [pool.submit(sync_config, engine, config, **kwargs) for config in selected]  # type: ignore[arg-type]
        # sync_config never raises: result() only waits, in config order
        return [f.result() for f in futures]
