"""The deletion circuit breaker (docs/data-safety.md): when a census would remove too much,
nothing is deleted and the run is marked ``suspect``.

A tracker that answers "nothing" (a revoked permission, a changed JQL scope, an outage
page served with 200) looks exactly like a tracker whose items were all deleted. The
census cannot tell them apart, so it refuses to act on an answer that is implausible:

- an **empty** census while the store holds live items of the source;
- a census that would remove **more than half** of the live items, whatever the config;
- a census that would remove more than ``max_deletion_share`` (default 20%) of the live
  items and more than :data:`SMALL_REMOVAL` items (a small source losing one item of
  four is ordinary).

A deliberate ``pmohub sync --accept-deletions`` (or ``accept_deletions: true`` on the
source) lets the deletions through.
"""

from __future__ import annotations

from dataclasses import dataclass

from pmohub.aggregator.store.deletions import CensusCounts

#: removals of at most this many items never trip the share rule (only the half rule and
#: the empty census do): in a small source one deleted item is already a large share.
SMALL_REMOVAL = 5
#: the share above which a removal always needs confirmation, whatever the config says
HARD_LIMIT_SHARE = 0.5
DEFAULT_MAX_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str  # empty when allowed


def judge(counts: CensusCounts, max_share: float = DEFAULT_MAX_SHARE) -> Verdict:
    """Whether the census may delete ``counts.missing`` of ``counts.live`` items."""
    live, missing = counts.live, counts.missing
    if missing == 0:
        return Verdict(True, "")
    share = missing / live if live else 1.0
    max_share = min(max_share, HARD_LIMIT_SHARE)
    if counts.listed == 0:
        why = "the tracker listed no items at all"
    elif share > HARD_LIMIT_SHARE:
        why = "more than half of the source's live items"
    elif share > max_share and missing > SMALL_REMOVAL:
        why = f"more than max_deletion_share {max_share:.0%} of the live items"
    else:
        return Verdict(True, "")
    return Verdict(
        False,
        f"census would delete {missing} of {live} live items ({share:.0%}; the tracker "
        f"listed {counts.listed}): {why}. Nothing was deleted. If these items really are "
        "gone, confirm with `pmohub sync --accept-deletions` (or `accept_deletions: true` on "
        "the source); otherwise check the token's permissions and the configured scope.",
    )
