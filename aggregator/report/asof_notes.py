"""The data-quality notes of a report built for a past day (issue 14): what its status was
computed from, as ``pmohub status --as-of`` says it in its footer
(:func:`aggregator.status.snapshots.as_of_basis`): that day's snapshots under today's
hierarchy (the figures and RAG under that day's policy, said whether it is still
today's), or recomputed from the history under today's hierarchy and policy; and the
projects placed differently that day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from pmohub.aggregator.report.model import msg
from pmohub.aggregator.status.basis import SNAPSHOT, AsOfBasis
from pmohub.aggregator.status.snapshots import as_of_basis
from pmohub.rules.clock import local_today

POLICY_KEY = {True: "label.as_of_policy.changed", False: "label.as_of_policy.same"}


def _path(place: dict[str, str | None] | None) -> str:
    """``portfolio/programme`` (language-neutral; ``portfolio`` alone for a direct one)."""
    if place is None:
        return "-"
    return "/".join(v for v in (place["portfolio"], place["programme"]) if v) or "-"


def basis_notes(basis: AsOfBasis) -> list[dict[str, Any]]:
    day, today = basis.as_of.isoformat(), basis.today.isoformat()
    if basis.source == SNAPSHOT:
        changed = basis.policy_changed
        policy = msg("label.as_of_policy.unrecorded" if changed is None else POLICY_KEY[changed])
        out = [msg("note.as_of_basis.snapshot", day=day, today=today, policy=policy)]
    else:
        out = [msg("note.as_of_basis.recomputed", day=day, today=today)]
    if not basis.hierarchy_known:
        return [*out, msg("note.as_of_hierarchy_unknown", day=day)]
    moved = basis.moved("moved")
    if moved:
        what = ", ".join(
            f"{c['project_key']} ({_path(c['was'])} → {_path(c['now'])})" for c in moved
        )
        out.append(msg("note.as_of_moved", n=len(moved), day=day, projects=what))
    for kind in ("added", "removed"):
        rows = basis.moved(kind)
        if rows:
            keys = ", ".join(c["project_key"] for c in rows)
            out.append(msg(f"note.as_of_{kind}", day=day, projects=keys))
    return out


def as_of_notes(engine: Engine, config: Any, as_of: dt.date) -> list[dict[str, Any]]:
    """The notes for a report of ``as_of``: none for today (or later)."""
    today = local_today(getattr(config, "timezone", None))
    if as_of >= today:
        return []
    return basis_notes(as_of_basis(engine, config, as_of, today))
