"""Cyclic garbage collection relaxed while a sync runs (process-wide, held by a count).

A sync allocates millions of small containers (decoded JSON pages, records, row
parameters) and almost none of them sit in reference cycles: reference counting frees
them. With CPython's default thresholds (700, 10, 10) the cycle collector still ran so
often, each pass walking the pages in flight and the prefetched ones, that it took about
30% of a 10,000-issue Jira sync's CPU (benchmarks/jira_sync.py: 7.2 s -> 4.6 s CPU with
100,000/50/50). The thresholds are raised while at least one sync runs (several run at
once in threads, aggregator/ingest/parallel.py) and put back by the last one to finish.
Cycles are still collected, only less often; a collector switched off (threshold 0)
stays off.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SYNC_THRESHOLDS = (100_000, 50, 50)

_lock = threading.Lock()
_holders = 0
_saved: tuple[int, ...] | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Raise the collector's thresholds to at least ``SYNC_THRESHOLDS`` for the block."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            current = gc.get_threshold()
            if current[0] > 0:
                _saved = current
                gc.set_threshold(
                    *(max(a, b) for a, b in zip(SYNC_THRESHOLDS, current, strict=False))
                )
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
