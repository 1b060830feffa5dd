"""The demo is a frozen world as of ``DEMO_AS_OF``: its results must not depend on the day
it runs. The real clock cannot be moved without patching, so the demo's one clock (the
``now`` it hands to the nightly pass, snapshots and reports) is injected instead: two runs
with clocks months apart must produce the same portfolio status, checks and report."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pmohub.aggregator.demo.run import DEMO_AS_OF, run_demo
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.engine import open_store

LEVELS = ("project", "programme", "portfolio")
# wall-clock stamps, rightly different between the runs
STAMP_COLUMNS = ["flow_as_of"]


def _clock(day: dt.date) -> Any:
    return lambda: dt.datetime.combine(day, dt.time(3, 30), dt.UTC)


def _demo_outcome(out: Path, day: dt.date) -> dict[str, Any]:
    run = run_demo(out, now=_clock(day))
    assert run.ok, run.failures
    assert run.config is not None
    nightly = run.extras["nightly"]
    engine = open_store(run.config.database)
    try:
        report = project_status(engine, run.config, DEMO_AS_OF, use_snapshot=True)
        status = {
            level: json.loads(
                report.level(level)
                .drop(columns=STAMP_COLUMNS, errors="ignore")
                .to_json(orient="records", date_format="iso")
            )
            for level in LEVELS
        }
        with engine.connect() as conn:
            started = conn.execute(select(m.JobRun.__table__.c.started_at)).scalars().all()
            findings = sorted(
                (r.rule_id, r.subject, r.state, str(r.message))
                for r in conn.execute(select(m.Finding.__table__))
            )
    finally:
        engine.dispose()
    return {
        "as_of": nightly.as_of,
        "started": started,
        "status": status,
        "check": nightly.step("check").detail,
        "rows": run.extras["status_rows"],
        "findings": findings,
        "report_head": (out / "report.md").read_text(encoding="utf-8").splitlines()[:3],
    }


@pytest.mark.slow
def test_demo_results_do_not_depend_on_the_clock(tmp_path: Path) -> None:
    near = _demo_outcome(tmp_path / "near", DEMO_AS_OF)
    later = _demo_outcome(tmp_path / "later", dt.date(2027, 3, 15))

    # the injected clock really reached the nightly pass (else this test proves nothing)
    assert [s.date() for s in near["started"]] == [DEMO_AS_OF]
    assert [s.date() for s in later["started"]] == [dt.date(2027, 3, 15)]
    # ... and the business date did not follow it
    assert near["as_of"] == later["as_of"] == DEMO_AS_OF

    assert near["status"] == later["status"]
    assert near["check"] == later["check"]
    assert near["rows"] == later["rows"]
    assert near["findings"] == later["findings"]
    assert near["check"]["findings"] > 0 and len(near["status"]["project"]) >= 10

    head = "\n".join(later["report_head"])
    assert "2026-11-21 (demo data)" in head
    assert "2027" not in head.split("生成时间")[0]  # the as-of part names the demo's day
