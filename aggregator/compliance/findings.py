"""The findings lifecycle: one ``findings`` row per (rule_id, subject), and waivers.

Findings lifecycle (one row per (rule_id, subject)):

* ``seen_at`` of a check is its as-of instant: 00:00 of ``as_of`` in the policy time zone,
  in UTC (the nightly cut-off). It is *not* the wall clock, so re-running a check for the
  same as-of date on unchanged data writes nothing at all.
* failing, no row (or the row is ``resolved``): ``new`` with ``first_seen_at = seen_at``,
  ``resolved_at`` cleared (a reappearance is a new occurrence);
* failing, open row: ``persisting`` (``new`` while ``first_seen_at == seen_at``),
  ``last_seen_at = seen_at``, value/threshold/evidence/message/severity refreshed;
* an active waiver turns either into ``waived`` (``waiver_id`` set); an expired waiver
  stops waiving and the message says so;
* open row whose subject now passes, or whose issue subject no longer fails in a project
  the rule evaluated: ``resolved`` with ``resolved_at = seen_at``;
* N/E leaves the row as it is: missing data proves nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select, update

from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.revisions import bump_revision
from pmohub.rules.clock import as_of_at
from pmohub.rules.engine import RuleRun
from pmohub.rules.policy import Policy


def finding_states(out: pd.DataFrame, engine: Engine | None) -> pd.Series:
    """State of each finding after the lifecycle update (``new`` when not written)."""
    state = pd.Series(None, index=out.index, dtype=object)
    fail = out["outcome"] == "finding"
    state[fail] = np.where(out.loc[fail, "waived"].astype(bool), "waived", "new")
    if engine is None or not fail.any():
        return state
    t = m.Finding.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.rule_id, t.c.subject, t.c.state).where(
                t.c.rule_id.in_(sorted(set(out.loc[fail, "rule_id"])))
            )
        )
        known = {f"{r.rule_id}\x1f{r.subject}": r.state for r in rows}
    keys = out["rule_id"].astype(str) + "\x1f" + out["subject"].astype(str)
    return state.where(~fail, keys.map(known).fillna(state))


def apply_waivers(out: pd.DataFrame, policy: Policy, as_of: dt.date) -> pd.DataFrame:
    """Mark findings covered by an active waiver; note expired waivers in the message."""
    out = out.copy()
    n = len(out)
    waived = np.zeros(n, dtype=bool)
    scope = np.full(n, None, dtype=object)
    note = np.full(n, None, dtype=object)
    message = out["message"].to_numpy(dtype=object).copy()
    rules_waived = {w.rule_id for w in policy.waivers}
    candidates = (out["outcome"] == "finding") & out["rule_id"].isin(rules_waived)
    for i in np.flatnonzero(candidates.to_numpy()):
        rule_id, project_key, subject = (
            out["rule_id"].iat[i],
            out["project_key"].iat[i],
            out["subject"].iat[i],
        )
        match = policy.waiver_for(rule_id, project_key, as_of, subject)
        if match is None:
            continue
        note[i] = match.note()
        if match.active:
            waived[i] = True
            scope[i] = match.waiver.scope
        else:
            message[i] = f"{message[i]} ({note[i]})"
    out["waived"], out["waiver_scope"], out["waiver_note"], out["message"] = (
        waived,
        scope,
        note,
        message,
    )
    return out


def seen_instant(as_of: dt.date, timezone: str) -> dt.datetime:
    """When a finding of the run as of ``as_of`` was seen: 00:00 local of ``as_of``."""
    return as_of_at(as_of, timezone)


def _sync_waivers(conn: Any, policy: Policy, now: dt.datetime) -> dict[str, int]:
    table = m.Waiver.__table__
    existing = {(r.rule_id, r.scope): r for r in conn.execute(select(table))}
    ids: dict[str, int] = {}
    for w in policy.waivers:
        row = existing.get((w.rule_id, w.scope))
        values = {"reason": w.reason, "approved_by": w.approved_by, "expires_on": w.expires_on}
        if row is None:
            res = conn.execute(
                insert(table).values(rule_id=w.rule_id, scope=w.scope, created_at=now, **values)
            )
            ids[f"{w.rule_id}|{w.scope}"] = res.inserted_primary_key[0]
        else:
            if any(getattr(row, k) != v for k, v in values.items()):
                conn.execute(update(table).where(table.c.id == row.id).values(**values))
            ids[f"{w.rule_id}|{w.scope}"] = row.id
    return ids


def upsert_findings(
    engine: Engine,
    out: pd.DataFrame,
    runs: list[RuleRun],
    policy: Policy,
    *,
    as_of: dt.date,
    timezone: str,
    projects: list[str] | None = None,
) -> dict[str, int]:
    """Apply the lifecycle (module docstring); returns counts per state change."""
    seen = seen_instant(as_of, timezone)
    table = m.Finding.__table__
    ran = {r.rule.id for r in runs}
    counts = {"new": 0, "persisting": 0, "waived": 0, "resolved": 0, "unchanged": 0}
    with engine.begin() as conn:
        # Every check pass may change states (and the roll-up's compliance): the cached
        # status of any date is stale from this commit on.
        bump_revision(conn, "findings")
        waiver_ids = _sync_waivers(conn, policy, seen)
        rows = {
            (r.rule_id, r.subject): r
            for r in conn.execute(select(table).where(table.c.rule_id.in_(sorted(ran))))
        }
        failing = out[out["outcome"] == "finding"]
        evaluated = out[out["outcome"] == "pass"]
        ne_subjects = set(
            zip(
                out.loc[out["outcome"] == "ne", "rule_id"],
                out.loc[out["outcome"] == "ne", "subject"],
                strict=True,
            )
        )
        ne_projects = set(
            zip(
                out.loc[out["outcome"] == "ne", "rule_id"],
                out.loc[out["outcome"] == "ne", "project_key"],
                strict=True,
            )
        )
        fail_keys = set()
        # One executemany for the new rows: a first check writes tens of thousands, and a
        # statement per row cost more than all the rules together (40k rows: ~7 s).
        inserts: list[dict[str, Any]] = []
        for f in failing.itertuples(index=False):
            key = (f.rule_id, f.subject)
            fail_keys.add(key)
            row = rows.get(key)
            reopened = row is None or row.state == "resolved"
            # min(): checking an earlier as-of after a later one must not invent history.
            first = seen if reopened else min(row.first_seen_at, seen)
            state = "waived" if f.waived else ("new" if first == seen else "persisting")
            values = {
                "rule_version": None,
                "scope": f.scope,
                "project_key": f.project_key if isinstance(f.project_key, str) else None,
                "severity": f.severity,
                "state": state,
                "message": f.message if f.message_zh is None else f"{f.message} / {f.message_zh}",
                "value": _num(f.value),
                "threshold": _num(f.threshold),
                "evidence": {
                    **(f.evidence if isinstance(f.evidence, dict) else {}),
                    **({"project_key": f.project_key} if isinstance(f.project_key, str) else {}),
                },
                "first_seen_at": first,
                "last_seen_at": seen,
                "resolved_at": None,
                "waiver_id": waiver_ids.get(f"{f.rule_id}|{f.waiver_scope}") if f.waived else None,
            }
            if row is None:
                inserts.append({"rule_id": f.rule_id, "subject": f.subject, **values})
                counts[state] += 1
            elif any(_differs(getattr(row, k), v) for k, v in values.items()):
                conn.execute(update(table).where(table.c.id == row.id).values(**values))
                counts[state] += 1
            else:
                counts["unchanged"] += 1
        if inserts:
            conn.execute(insert(table), inserts)
        # Resolution: open rows of rules that ran, in projects this run covered.
        passed = set(zip(evaluated["rule_id"], evaluated["subject"], strict=True))
        scope = set(projects) if projects is not None else None
        for key, row in rows.items():
            if row.state == "resolved" or key in fail_keys or key in ne_subjects:
                continue
            pk = row.subject.split(":", 1)[1] if row.subject.startswith("project:") else None
            in_scope = scope is None or pk in scope or _row_project(row, out) in (scope or set())
            if not in_scope:
                continue
            is_project_level = row.subject.startswith("project:")
            if is_project_level and key not in passed:
                continue  # rule had no outcome for it (disabled now, or project gone): leave
            if not is_project_level and (row.rule_id, _row_project(row, out)) in ne_projects:
                continue
            conn.execute(
                update(table)
                .where(table.c.id == row.id)
                .values(state="resolved", resolved_at=seen, last_seen_at=row.last_seen_at)
            )
            counts["resolved"] += 1
    return counts


def _row_project(row: Any, out: pd.DataFrame) -> str | None:
    if getattr(row, "project_key", None):
        return str(row.project_key)
    ev = row.evidence or {}  # rows written before the project_key column existed
    return ev.get("project_key") if isinstance(ev, dict) else None


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return not np.isclose(a, b, equal_nan=True)
    return a != b
