"""What a past status (``pmohub status --as-of <past day>``) was computed from (issue 14).

The decision: a past status is shown under *today's* hierarchy (portfolio / programme
membership) and *today's* policy. The two ways of answering differ in what they can honour:

* recomputed from the status history: hierarchy and policy are today's, the figures are
  the store reconstructed at the end of that day;
* from that day's stored snapshots: the project rows are re-grouped under today's hierarchy
  (the programme and portfolio roll-ups are recomputed from them), but each project's
  figures and RAG are the ones stored that day, computed under the policy in force then.
  Every snapshot row records the digest of that policy (:func:`policy_digest`), so the
  basis can say whether it is still today's.

:class:`AsOfBasis` says which was used, in a sentence for the table footer and the report,
and as a plain object for ``--format json``, with every project whose place in the
hierarchy differs between that day (as its snapshot rows recorded it) and today.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import pandas as pd

SNAPSHOT = "snapshot"
RECOMPUTED = "recomputed from history"


def _canonical(value: Any) -> Any:
    """``json.dumps`` default for config values (as the config's own digest does)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return repr(value)


def policy_digest(config: Any) -> str | None:
    """SHA-256 of what decides a project's figures and RAG apart from its place in the
    hierarchy: rules, waivers, defaults, calendars, time zone, each source's status and
    type maps, and the per-node overrides, exemptions and calendars. Not the hierarchy
    (compared project by project instead), the people (capacity is not in the status), the
    connection details of the sources or the other sections (a moved server is no new
    policy)."""
    if config is None or not hasattr(config, "hierarchy"):
        return None
    nodes = []
    for pf in getattr(config, "hierarchy", ()) or ():
        nodes.append(("portfolio", pf.key, pf.overrides, pf.calendar, ()))
        nodes += [("programme", g.key, g.overrides, None, ()) for g in pf.programmes]
        nodes += [("project", p.key, p.overrides, p.calendar, p.exempt) for p in pf.all_projects()]
    sources = getattr(config, "sources", {}) or {}
    doc = {
        "timezone": getattr(config, "timezone", None),
        "defaults": getattr(config, "defaults", {}),
        "rules": getattr(config, "rules", {}),
        "waivers": getattr(config, "waivers", ()),
        "calendars": getattr(config, "calendars", {}),
        "sources": {
            n: [getattr(src, "status_map", {}), getattr(src, "issue_types", {})]
            for n, src in sources.items()
        },
        # Only nodes that set something: a new, empty programme is no new policy.
        "nodes": sorted((n for n in nodes if any(n[2:])), key=repr),
    }
    text = json.dumps(doc, default=_canonical, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _place(portfolio: Any, programme: Any) -> dict[str, str | None]:
    def plain(v: Any) -> str | None:
        return None if v is None or (isinstance(v, float) and v != v) else str(v)

    return {"portfolio": plain(portfolio), "programme": plain(programme)}


def hierarchy_changes(then: pd.DataFrame, hier: pd.DataFrame) -> list[dict[str, Any]]:
    """Projects whose place differs between ``then`` (project_key, portfolio, programme as
    that day's snapshot rows recorded them) and today's ``hier``: moved (other programme
    or portfolio), added (no row that day) or removed (no longer in the hierarchy)."""
    was = {r.project_key: _place(r.portfolio, r.programme) for r in then.itertuples()}
    now = {r.project_key: _place(r.portfolio, r.programme) for r in hier.itertuples()}
    out: list[dict[str, Any]] = []
    for key in sorted(set(was) | set(now)):
        a, b = was.get(key), now.get(key)
        if a == b:
            continue
        change = "added" if a is None else "removed" if b is None else "moved"
        out.append({"project_key": key, "change": change, "was": a, "now": b})
    return out


def _where(place: dict[str, str | None] | None) -> str:
    if place is None:
        return "-"
    if place["programme"]:
        return f"programme {place['programme']}"
    return f"portfolio {place['portfolio']} (direct)" if place["portfolio"] else "no portfolio"


@dataclass(frozen=True)
class AsOfBasis:
    as_of: dt.date
    source: str  # SNAPSHOT | RECOMPUTED
    today: dt.date  # the day whose hierarchy (and, recomputed, policy) was used
    #: Snapshot path: the policy digest stored with that day's rows (None: not recorded)
    #: and today's; recomputed: both today's.
    policy_then: str | None = None
    policy_now: str | None = None
    #: False when no snapshot row of that day tells where the projects were.
    hierarchy_known: bool = True
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def how(self) -> str:
        """The short word the CLI printed before (``snapshot`` | ``history``)."""
        return "snapshot" if self.source == SNAPSHOT else "history"

    @property
    def policy(self) -> str:
        if self.source != SNAPSHOT:
            return "today's"
        return f"of {self.as_of.isoformat()}"

    @property
    def policy_changed(self) -> bool | None:
        """Snapshot path: did the policy change since that day (None: not recorded)."""
        if self.source != SNAPSHOT:
            return False
        if self.policy_then is None or self.policy_now is None:
            return None
        return self.policy_then != self.policy_now

    def moved(self, kind: str = "moved") -> list[dict[str, Any]]:
        return [c for c in self.changes if c["change"] == kind]

    def sentence(self) -> str:
        """One line: which hierarchy, figures and policy the answer used."""
        day, today = self.as_of.isoformat(), self.today.isoformat()
        if self.source == SNAPSHOT:
            changed = {True: "changed since", False: "same as today's", None: "not recorded"}
            figures = (
                f"project figures: snapshot of {day} "
                f"(RAG under the policy of {day}, {changed[self.policy_changed]})"
            )
        else:
            figures = f"project figures: recomputed from the history as of {day}, today's policy"
        return f"basis: hierarchy: today's ({today}); {figures}"

    def change_lines(self) -> list[str]:
        """``N projects moved since D: X (was programme A, now B)`` and the like."""
        day = self.as_of.isoformat()
        if not self.hierarchy_known:
            return [f"hierarchy of {day} unknown (no snapshot of that day to compare)"]
        lines = []
        for kind, text in (("moved", "moved"), ("added", "added"), ("removed", "removed")):
            rows = self.moved(kind)
            if not rows:
                continue
            what = ", ".join(
                f"{c['project_key']} (was {_where(c['was'])}, now {_where(c['now'])})"
                if kind == "moved"
                else c["project_key"]
                for c in rows
            )
            n = len(rows)
            lines.append(f"{n} project{'s' if n != 1 else ''} {text} since {day}: {what}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "source": self.source,
            "hierarchy": "today's",
            "hierarchy_on": self.today.isoformat(),
            "project_figures": (
                f"snapshot of {self.as_of.isoformat()}" if self.source == SNAPSHOT else RECOMPUTED
            ),
            "policy": self.policy,
            "policy_changed_since": self.policy_changed,
            "hierarchy_known": self.hierarchy_known,
            "hierarchy_changes": list(self.changes),
            "sentence": self.sentence(),
            "change_lines": self.change_lines(),
        }
