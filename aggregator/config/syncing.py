"""The ``sync`` config section: how many sources ``pmohub sync`` runs at once, and how
``pmohub worker`` processes share the sources of a PostgreSQL store (docs/workers.md).

```yaml
sync:
  parallel: 4                  # sources synced at the same time (1: one after another)
  interval_minutes: 60         # pmohub worker: a source is due this long after its last sync
  claim_timeout_s: 300         # pmohub worker: a claim without heartbeat this long is dead
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pmohub.aggregator.config.schema import Fields, Num

#: Threads beyond this buy nothing (the store serialises writes) and would need more than
#: SQLAlchemy's default pool of 15 connections (a sync holds up to three).
MAX_PARALLEL = 16


@dataclass(frozen=True)
class SyncSettings:
    parallel: int = 4
    interval_minutes: float = 60.0
    claim_timeout_s: float = 300.0


def to_sync_settings(v: dict[str, Any]) -> SyncSettings:
    return SyncSettings(
        parallel=int(v.get("parallel", SyncSettings.parallel)),
        interval_minutes=float(v.get("interval_minutes", SyncSettings.interval_minutes)),
        claim_timeout_s=float(v.get("claim_timeout_s", SyncSettings.claim_timeout_s)),
    )


def sync_settings(config: Any) -> SyncSettings:
    return (getattr(config, "sections", {}) or {}).get("sync") or SyncSettings()


SYNC = Fields(
    {
        "parallel": Num(minimum=1, maximum=MAX_PARALLEL, integer=True).about(
            "Sources synced at the same time by `pmohub sync` and the nightly job, each with its "
            "own connection, rate limits and run row (1: one after another).",
            default=SyncSettings.parallel,
            example=4,
        ),
        "interval_minutes": Num(minimum=0, maximum=7 * 24 * 60).about(
            "`pmohub worker`: a source is due again this long after its last sync started.",
            default=SyncSettings.interval_minutes,
            example=30,
        ),
        "claim_timeout_s": Num(minimum=5, maximum=86400).about(
            "`pmohub worker`: a claim whose heartbeat is older than this belongs to a dead "
            "worker and is taken over.",
            default=SyncSettings.claim_timeout_s,
            example=300,
        ),
    }
).about("Parallel syncs and `pmohub worker` (docs/workers.md).")
