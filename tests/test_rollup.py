"""Status roll-up on SQLite and PostgreSQL with hand-computed expected values.

Working days (cn calendar) from the CRM origin 2026-09-14, k = 0..20:
Sep 14 15 16 17 18 | 20(Sun, 调休) | 21 22 23 24 | (25 中秋) 28 29 30 | (Oct 1-7 国庆)
Oct 8 9 | 10(Sat, 调休) | 12 13 14 15 16   -> Oct 16 is k = 20.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from rollup_data import CONFIG, SRC, item, local, moves, write
from sqlalchemy import insert

from pmohub.aggregator.compliance.baselines import take_baseline
from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.metrics import compliance_frame
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec

AS_OF = dt.date(2026, 10, 16)
CONFIG_W = (
    CONFIG.replace(
        "priority_rank: 1, critical: true,", "priority_rank: 1, critical: true, weight: 1,"
    )
    .replace(
        "priority_rank: 2}",
        "priority_rank: 2, weight: 10, start_on: 2026-10-08, due_on: 2026-10-30}",
    )
    .replace("priority_rank: 3}", "priority_rank: 3, weight: 10}")
)

TODO, IP, DONE = "To Do", "In Progress", "Done"


def crm_items() -> list[rec.WorkItem]:
    h = "original_estimate_h"
    return [
        item(
            "CRMA-1",
            "CRMA",
            status=DONE,
            status_category="done",
            start_on=dt.date(2026, 9, 14),
            due_on=dt.date(2026, 9, 18),
            resolved_at=local(2026, 9, 18),
            **{h: 8.0},
            milestone_ids=("v1",),
        ),
        item(
            "CRMA-2",
            "CRMA",
            status=IP,
            status_category="in_progress",
            start_on=dt.date(2026, 9, 21),
            due_on=dt.date(2026, 10, 9),
            **{h: 16.0},
        ),
        item("CRMA-3", "CRMA", due_on=dt.date(2026, 9, 30), **{h: 8.0}),
        item(
            "CRMA-4",
            "CRMA",
            status=DONE,
            status_category="done",
            start_on=dt.date(2026, 9, 14),
            due_on=dt.date(2026, 9, 22),
            resolved_at=local(2026, 10, 12),
            **{h: 8.0},
        ),
        item("CRMA-5", "CRMA", type="Epic", **{h: 40.0}),
        item("CRMA-7", "CRMA", status="Won't Do", status_category="cancelled", **{h: 8.0}),
        item(
            "CRMA-9",
            "CRMA",
            type="Risk",
            title="供应商延期",
            extra={"risk_probability": 4, "risk_impact": 5},
        ),
    ]


def crm_history() -> list[rec.StatusChange]:
    return [
        *moves("CRMA-1", (TODO, IP, local(2026, 9, 14)), (IP, DONE, local(2026, 9, 18))),
        *moves("CRMA-2", (TODO, IP, local(2026, 9, 21))),
        *moves(
            "CRMA-4",
            (TODO, IP, local(2026, 9, 15)),
            (IP, DONE, local(2026, 9, 17)),
            (DONE, IP, local(2026, 9, 22)),  # reopened: EV/TH only at the final done
            (IP, DONE, local(2026, 10, 12)),
        ),
    ]


def worklogs() -> list[rec.Worklog]:
    return [
        rec.Worklog(
            source=SRC,
            external_id=f"wl-{k}",
            work_item_id=f"id-{k}",
            author="u-zhang",
            started_at=local(2026, 9, 16),
            seconds=int(h * 3600),
        )
        for k, h in (("CRMA-1", 10), ("CRMA-2", 12), ("CRMA-4", 6))
    ]


def pay_items() -> list[rec.WorkItem]:
    sp = "story_points"
    return [
        item("PAY-1", "PAY", status=DONE, status_category="done", **{sp: 5.0}, time_spent_h=30.0),
        item("PAY-2", "PAY", status=DONE, status_category="done", **{sp: 3.0}, time_spent_h=24.0),
        item("PAY-3", "PAY", status=DONE, status_category="done", **{sp: 2.0}, time_spent_h=14.0),
        item("PAY-4", "PAY", **{sp: 8.0}),
        item("PAY-4a", "PAY", type="Sub-task", parent_id="id-PAY-4", **{sp: 2.0}),
        item("PAY-4b", "PAY", type="Sub-task", parent_id="id-PAY-4"),
        item("PAY-5", "PAY"),
    ]


def pay_history() -> list[rec.StatusChange]:
    return [
        *moves("PAY-1", (TODO, IP, local(2026, 10, 8)), (IP, DONE, local(2026, 10, 9))),
        # done on the make-up Saturday: 2 wd after Thursday
        *moves("PAY-2", (TODO, IP, local(2026, 10, 8)), (IP, DONE, local(2026, 10, 10))),
        # 00:30 in Shanghai is still Oct 13 in UTC: bucketed on the local day (Oct 14)
        *moves("PAY-3", (TODO, IP, local(2026, 10, 12)), (IP, DONE, local(2026, 10, 14, 0, 30))),
    ]


def ops_items() -> list[rec.WorkItem]:
    return [
        item(
            "OPS-1",
            "OPS",
            type="Task",
            status=DONE,
            status_category="done",
            resolved_at=local(2026, 10, 9),
        ),
        item("OPS-2", "OPS", type="Task"),
        item("OPS-3", "OPS", type="Task", status=IP, status_category="in_progress"),
    ]


def build(engine, config) -> None:
    write(
        engine,
        items=[*crm_items(), *pay_items(), *ops_items()],
        changes=[*crm_history(), *pay_history()],
        worklogs=worklogs(),
        milestones=[
            rec.Milestone(
                source=SRC,
                external_id="v1",
                name="v1.0",
                project_key="CRMA",
                due_on=dt.date(2026, 9, 30),
                released=True,
                released_on=dt.date(2026, 10, 12),
            ),
            rec.Milestone(
                source=SRC,
                external_id="v2",
                name="v2.0",
                project_key="CRMA",
                due_on=dt.date(2026, 10, 30),
            ),
        ],
    )
    take_baseline(engine, config, "CRM", "plan-approved", taken_at=local(2026, 9, 11))
    take_baseline(engine, config, "PAY", "plan-approved", taken_at=local(2026, 10, 7))
    # Added after the baseline (scope growth), no dates: 4 h.
    write(
        engine,
        items=[item("CRMA-8", "CRMA", created_at=local(2026, 9, 20), original_estimate_h=4.0)],
    )
    with engine.begin() as c:
        c.execute(
            insert(m.Finding.__table__).values(
                rule_id="VAR-001",
                subject="project:PAY",
                scope="project",
                severity="high",
                state="persisting",
                message="late",
                evidence={},
                first_seen_at=local(2026, 10, 15),
                last_seen_at=local(2026, 10, 16),
            )
        )


@pytest.fixture
def status_env(store_url):
    engine = open_store(store_url)
    config = parse_config(CONFIG_W)
    build(engine, config)
    return engine, config


def _row(frame: pd.DataFrame, key: str, col: str = "project_key") -> pd.Series:
    return frame.set_index(col).loc[key]


@pytest.mark.parametrize("history", [False, True], ids=["sql", "history"])
def test_project_metrics(status_env, history):
    engine, config = status_env
    rep = project_status(engine, config, AS_OF, history=history)
    crm, pay, ops = (_row(rep.projects, k) for k in ("CRM", "PAY", "OPS"))
    # Progress: S = leaf, not cancelled (epic, risk, cancelled excluded); CRMA-8 added later.
    assert (crm.items_total, crm.items_done) == (5, 2)
    assert crm.progress_count == pytest.approx(0.4)
    assert crm.estimate_unit == "h" and crm.estimate_coverage == 1.0
    assert crm.progress_estimate == pytest.approx(16 / 44)
    # EVM in hours: BAC 8+16+8+8; EV = CRMA-1 + CRMA-4 (final done Oct 12); PV all due.
    assert (crm.bac, crm.ev, crm.pv) == (40.0, 16.0, 40.0)
    assert crm.spi == pytest.approx(0.4)
    # PV_6 = 8 + 6*8/7 = 14.857, PV_7 = 18: ES = 6 + (16-14.857)/(18-14.857); AT = 20 wd
    assert crm.es_wd == pytest.approx(6 + (16 - (8 + 48 / 7)) / (18 - (8 + 48 / 7)))
    assert crm.at_wd == 20
    assert crm.spi_t == pytest.approx(crm.es_wd / 20)
    assert crm.ac_h == 28.0 and crm.cpi == pytest.approx(16 / 28)
    assert crm.eac == pytest.approx(70.0) and crm.tcpi == pytest.approx(2.0)
    assert crm.scope_growth == pytest.approx(0.10)
    # Flow: CRMA-1 cycle Sep14->Sep18 = 4 wd; CRMA-4 first start Sep 15 -> final done Oct 12
    # = 15 wd (holidays skipped, 调休 Sep 20 and Oct 10 counted).
    assert crm.throughput_90d == 2
    assert crm.cycle_p50_wd == pytest.approx(9.5)
    assert crm.cycle_p85_wd == pytest.approx(4 + 0.85 * 11)
    assert crm.lead_p50_wd == pytest.approx((13 + 25) / 2)
    assert crm.wip == 1 and crm.wip_age_max_wd == 14
    assert crm.reopen_rate == pytest.approx(0.5)
    # Milestones: v1.0 baseline Sep 30, released Oct 12 = 4 wd late, missed; v2.0 in 30 days.
    assert crm.milestone_slip_max_wd == 4 and crm.milestones_slipped == 1
    assert crm.milestone_hit_rate == 0.0 and crm.milestones_next30 == 1
    assert crm.high_risks == 1 and crm.high_risks_no_response == 1 and crm.risk_exposure == 20
    assert (crm.rag_schedule, crm.rag_cost, crm.rag_scope, crm.rag_risk, crm.rag_quality) == (
        "R",
        "R",
        "A",
        "R",
        "R",
    )
    assert crm.rag == "R"
    assert any("SPI(t) 0.32" in r for r in crm.rag_reasons)
    assert any("CPI 0.57" in r for r in crm.rag_reasons)

    # PAY: points; PAY-4 counts its sub-tasks' 2 pts (they have estimates), PAY-5 takes
    # the Story median of (2, 3, 5, 8) = 4: est = 5+3+2+2+4 = 16, done 10.
    assert (pay.items_total, pay.items_done) == (5, 3)
    assert pay.estimate_unit == "pts" and pay.estimate_coverage == pytest.approx(0.8)
    assert pay.progress_estimate == pytest.approx(10 / 16)
    # hpp = median(30/5, 24/3, 14/2) = 7 h/pt; baseline in points (own estimates 5+3+2+8).
    assert pay.hpp == 7.0 and pay.evm_unit == "pts"
    assert (pay.bac, pay.ev, pay.bac_h, pay.ev_h) == (18.0, 10.0, 126.0, 70.0)
    assert pd.isna(pay.cpi) and pay.rag_cost == "NE"
    # Cycle: Oct 8->9 = 1; Oct 8 -> Sat Oct 10 (调休) = 2; Oct 12 -> Oct 14 00:30 local = 2.
    assert pay.cycle_p50_wd == 2.0
    # Green on every evaluable dimension, capped at amber by the open high finding.
    assert pay.rag == "A"
    assert any("capped at amber" in r for r in pay.rag_reasons)

    # OPS: no estimates, no history: count only, CPI N/E, TH from resolved_at.
    assert (ops.items_total, ops.items_done) == (3, 1)
    assert ops.estimate_coverage == 0 and pd.isna(ops.progress_estimate)
    assert ops.rag_schedule == "NE" and ops.rag_cost == "NE" and ops.rag_scope == "NE"
    assert ops.throughput_90d == 1 and pd.isna(ops.cycle_p50_wd)
    assert ops.rag == "G"

    cust = _row(rep.programmes, "CUST", "programme")
    # Hours: CRM 16/40 h + PAY 10/18 pts x 7 h/pt; never points + hours.
    assert cust.progress == pytest.approx((16 + 70) / (40 + 126))
    assert cust.spi == pytest.approx((16 + 70) / (40 + 0))
    assert cust.cpi == pytest.approx(16 / 28)
    assert cust.progress_count == pytest.approx(5 / 10)
    # Score (1*2 + 10*1)/11 = 1.09 -> amber, but the critical CRM is red.
    assert cust.rag_score == pytest.approx(12 / 11) and cust.rag == "R"
    digi = _row(rep.portfolios, "DIGI", "portfolio")
    assert digi.rag_score == pytest.approx(12 / 21) and digi.rag == "R"
    assert digi.throughput_90d == 6 and digi.risk_exposure == 20


def test_as_of_past_from_history(status_env):
    engine, config = status_env
    rep = project_status(engine, config, dt.date(2026, 9, 18), history=True)
    crm = _row(rep.projects, "CRM")
    # CRMA-8 did not exist yet; CRMA-4 was done (reopened only on Sep 22).
    assert (crm.items_total, crm.items_done) == (4, 2)
    # Sep 14 -> Sep 18 is k = 4; PV_4 = 8 + 4*8/7; EV = 16 -> ES between k=5 and 6.
    assert crm.at_wd == 4
    assert crm.pv == pytest.approx(8 + 32 / 7)
    assert crm.ac_h == 28.0  # all worklogs started Sep 16


def test_compliance_frame_formula():
    out = pd.DataFrame(
        [
            ("A", "R1", "pass", "high", False),
            ("A", "R2", "finding", "medium", False),
            ("A", "R3", "ne", "high", False),  # N/E: not evaluated, not a pass
            ("A", "R4", "finding", "high", True),  # waived: excluded and listed
            ("A", "R5", "pass", "low", False),
        ],
        columns=["project_key", "rule_id", "outcome", "severity", "waived"],
    )
    res = compliance_frame(out, pd.Index(["A", "B"]))
    # evaluated sw = 3 + 2 + 1 = 6; failing = 2 -> 100 * (1 - 2/6)
    assert res.loc["A", "compliance"] == pytest.approx(100 * (1 - 2 / 6))
    assert res.loc["A", "waived_rules"] == ["R4"]
    assert pd.isna(res.loc["B", "compliance"])


def test_no_baseline_no_history(store_url):
    engine = open_store(store_url)
    config = parse_config(CONFIG)
    write(engine, items=ops_items())
    rep = project_status(engine, config, AS_OF)
    ops = _row(rep.projects, "OPS")
    assert not ops.baseline and pd.isna(ops.spi_t) and ops.rag_schedule == "NE"
    assert any("no baseline" in r for r in ops.rag_reasons)
    crm = _row(rep.projects, "CRM")  # no items at all: nothing evaluable but risk/quality
    assert crm.items_total == 0 and pd.isna(crm.progress_count)


def test_snapshots_upsert_as_of_and_trend(status_env):
    from sqlalchemy import func, select

    from pmohub.aggregator.status.snapshots import status_as_of, take_snapshots, trend

    engine, config = status_env
    assert take_snapshots(engine, config, AS_OF) == 3
    assert take_snapshots(engine, config, AS_OF) == 3  # same day again: upsert, no dupes
    week_before = AS_OF - dt.timedelta(days=7)
    assert take_snapshots(engine, config, week_before, history=True) == 3
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(m.Snapshot.__table__)).scalar() == 6
    rep, how = status_as_of(engine, config, AS_OF)
    assert how == "snapshot"
    assert _row(rep.projects, "CRM").rag == "R"
    assert _row(rep.programmes, "CUST", "programme").rag == "R"
    assert _row(rep.portfolios, "DIGI", "portfolio").progress == pytest.approx(86 / 166)
    _, how = status_as_of(engine, config, AS_OF - dt.timedelta(days=1))
    assert how == "history"
    # Oct 9: CRMA-1 done, CRMA-4 reopened (final done only Oct 12): 1 of 5; Oct 16: 2 of 5.
    t = trend(engine, AS_OF, weeks=2).set_index(["project_key", "week"])
    crm = t.loc[("CRM", "2026-W42")]
    assert crm.progress_count == pytest.approx(0.4)
    assert crm.progress_delta == pytest.approx(0.2) and crm.done_delta == 1
    assert t.loc[("CRM", "2026-W41")].progress_count == pytest.approx(0.2)
    # The nightly forecast feeds the schedule RAG: CRM items exist since Sep 1 = 29 wd
    # (< 30) with 2 completions -> low confidence, ceil(3 open / (2/29)) = 44 wd past
    # Oct 16, the baseline end.
    now = project_status(engine, config, AS_OF)
    assert any("P85 +44 wd vs baseline end" in r for r in _row(now.projects, "CRM").rag_reasons)


def test_moved_issue_is_keyed_on_id(store_url):
    """An issue moved from PAY to CRMA (new key, same immutable id) counts once, in CRM."""
    engine = open_store(store_url)
    config = parse_config(CONFIG)
    moved = dict(external_id="id-moving", status="Done", status_category="done",
                 resolved_at=local(2026, 10, 14), story_points=3.0)  # fmt: skip
    write(engine, items=[item("PAY-77", "PAY", **moved)])
    before = project_status(engine, config, AS_OF)
    assert _row(before.projects, "PAY").items_total == 1
    write(engine, items=[item("CRMA-77", "CRMA", **moved)])
    for history in (False, True):
        rep = project_status(engine, config, AS_OF, history=history)
        assert _row(rep.projects, "PAY").items_total == 0
        crm = _row(rep.projects, "CRM")
        assert (crm.items_total, crm.items_done, crm.throughput_90d) == (1, 1, 1)
        assert _row(rep.portfolios, "DIGI", "portfolio").items_total == 1


@pytest.mark.parametrize("upper", [False, True], ids=["canonical", "other-case"])
def test_type_spelling_case_does_not_matter(store_url, upper):
    """The SQL reader matches stored type spellings case-insensitively (as the history
    reader and the kind map do): 'EPIC', 'RISK' and 'sub-TASK' are an epic, a risk and a
    sub-task, exactly like 'Epic', 'Risk' and 'Sub-task'."""
    engine = open_store(store_url)
    config = parse_config(CONFIG)
    epic, risk, sub = ("EPIC", "RISK", "sub-TASK") if upper else ("Epic", "Risk", "Sub-task")
    write(
        engine,
        items=[
            *ops_items(),
            item("OPS-4", "OPS", type=epic, original_estimate_h=40.0),
            item("OPS-5", "OPS", type=risk, extra={"risk_probability": 4, "risk_impact": 5}),
            item("OPS-6", "OPS", type=sub, parent_id="id-OPS-2", original_estimate_h=6.0),
        ],
    )
    for history in (False, True):
        ops = _row(project_status(engine, config, AS_OF, history=history).projects, "OPS")
        # Leaves: OPS-1..3 (the epic, the risk and the sub-task are not counted); OPS-2
        # takes its sub-task's 6 h: 1 of 3 estimated.
        assert (ops.items_total, ops.items_done) == (3, 1), history
        assert ops.estimate_coverage == pytest.approx(1 / 3), history
        assert ops.high_risks == 1 and ops.risk_exposure == 20, history
