"""A past day's status stays what it was (issue 14): a status reconstructed for a past day
counts only the findings known then, and a back-filled snapshot, once written, is never
rewritten (re-running the demo left last week's RAG of four projects changed)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from rollup_data import local
from sqlalchemy import insert, select
from test_rollup import AS_OF, status_env  # noqa: F401  (the fixture)

from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.status.snapshots import take_snapshots
from pmohub.aggregator.store import models as m

WEEK_BEFORE = AS_OF - dt.timedelta(days=7)


def _add_finding(engine: Any, project: str, seen: dt.datetime) -> None:
    """A high finding on ``project`` that a check run first saw at ``seen``."""
    with engine.begin() as c:
        c.execute(
            insert(m.Finding.__table__).values(
                rule_id="VAR-001",
                subject=f"project:{project}",
                scope="project",
                severity="high",
                state="new",
                message="no charter",
                evidence={},
                first_seen_at=seen,
                last_seen_at=seen,
            )
        )


def _compliance(engine: Any, config: Any, day: dt.date) -> float:
    rep = project_status(engine, config, day, history=True)
    return float(rep.projects.set_index("project_key").loc["CRM", "compliance"])


def _rows(engine: Any) -> list[dict[str, Any]]:
    t = m.Snapshot.__table__
    with engine.connect() as c:
        rows = c.execute(select(t).order_by(t.c.taken_on, t.c.project_key))
        return [dict(r._mapping) for r in rows]


def test_past_status_ignores_findings_first_seen_later(status_env):  # noqa: F811
    engine, config = status_env
    before = _compliance(engine, config, WEEK_BEFORE)
    _add_finding(engine, "CRM", local(2026, 10, 16, 0, 0))  # today's check run found it
    assert _compliance(engine, config, WEEK_BEFORE) == before
    # ... and counts from the day it was seen (else the test above proves nothing)
    assert _compliance(engine, config, AS_OF) < before


def test_past_status_counts_findings_resolved_since(status_env):  # noqa: F811
    engine, config = status_env
    clean = _compliance(engine, config, WEEK_BEFORE)
    _add_finding(engine, "CRM", local(2026, 10, 1, 0, 0))
    with engine.begin() as c:  # resolved by the check run of Oct 14
        c.execute(
            m.Finding.__table__.update()
            .where(m.Finding.__table__.c.subject == "project:CRM")
            .values(state="resolved", resolved_at=local(2026, 10, 14, 0, 0))
        )
    assert _compliance(engine, config, WEEK_BEFORE) < clean  # open on Oct 9
    assert _compliance(engine, config, AS_OF) == clean


def test_back_filled_snapshot_is_never_rewritten(status_env):  # noqa: F811
    engine, config = status_env
    assert take_snapshots(engine, config, WEEK_BEFORE, history=True, forecasts=False) == 3
    first = _rows(engine)
    # Anything may change since (here: a finding back-dated to that week, so even the
    # known-at filter would let it in): the stored day stays.
    _add_finding(engine, "CRM", local(2026, 10, 8, 0, 0))
    crm = next(r for r in first if r["project_key"] == "CRM")
    assert _compliance(engine, config, WEEK_BEFORE) != crm["compliance"]  # a recompute differs
    assert take_snapshots(engine, config, WEEK_BEFORE, history=True, forecasts=False) == 0
    assert _rows(engine) == first
    # The nightly's own day is still re-run in place (its status is of the current store).
    assert take_snapshots(engine, config, AS_OF, forecasts=False) == 3
    assert take_snapshots(engine, config, AS_OF, forecasts=False) == 3
    assert len(_rows(engine)) == 6


@pytest.mark.slow
def test_running_the_demo_twice_keeps_its_history(tmp_path: Path) -> None:
    from pmohub.aggregator.demo.run import DEMO_AS_OF, run_demo
    from pmohub.aggregator.store.engine import open_store

    def snapshots() -> list[dict[str, Any]]:
        run = run_demo(tmp_path / "demo")
        assert run.ok, run.failures
        assert run.config is not None
        engine = open_store(run.config.database)
        try:
            return _rows(engine)
        finally:
            engine.dispose()

    first, second = snapshots(), snapshots()
    past = [r for r in first if r["taken_on"] < DEMO_AS_OF]
    assert len(past) >= 10 * 8  # eight weekly back-filled days of every project
    assert [r for r in second if r["taken_on"] < DEMO_AS_OF] == past
    # the demo's own day is the nightly's, re-run in place: the same but for its time stamp

    def today(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "taken_at": None} for r in rows if r["taken_on"] >= DEMO_AS_OF]

    assert today(second) == today(first) != []
