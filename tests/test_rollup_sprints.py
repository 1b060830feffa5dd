"""Velocity and say/do (docs/metrics.md 2.1) per project in the status roll-up, with the PM RAG
override beside the computed colour, on SQLite and PostgreSQL, both readers.

Sprints of OPS (all closed before 2026-10-16, Shanghai times):
  S1 Sep 1-14:  A 3 pts done Sep 10; B 5 pts done Sep 20 (carried into S2)
                committed 3 + 5 = 8, done 3
  S2 Sep 15-28: B carried (in S2 before its start); C 2 pts added Sep 20, done Sep 25;
                D 8 pts removed on Sep 18 (committed at the start, never done)
                committed 5 + 8 = 13, done 5 + 2 = 7
  S3 Sep 29-Oct 12: E 5 pts done Oct 9; F unestimated, done Oct 9
                committed 5, done 5
  S4 active: G 13 pts (not closed: left out)
velocity = (3 + 7 + 5) / 3 = 5.0; say/do = (3 + 7 + 5) / (8 + 13 + 5) = 15/26.
PAY has only 2 closed sprints: velocity and say/do N/E, sprints_closed = 2.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from rollup_data import CONFIG, SRC, item, local, write

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec

AS_OF = dt.date(2026, 10, 16)
DONE = {"status": "Done", "status_category": "done"}


def sprint(sid: str, project: str, start: dt.datetime, end: dt.datetime, state="closed"):
    return rec.Iteration(
        source=SRC,
        external_id=sid,
        name=sid,
        state=state,
        project_key=project,
        start_at=start,
        end_at=end,
        complete_at=end if state == "closed" else None,
    )


def sprint_move(key: str, n: int, old: str, new: str, at: dt.datetime) -> rec.StatusChange:
    return rec.StatusChange(
        source=SRC,
        external_id=f"sp-{key}-{n}",
        work_item_id=f"id-{key}",
        field="Sprint",
        from_value=old,
        to_value=new,
        changed_at=at,
    )


def build(engine) -> None:
    pts = "story_points"
    write(
        engine,
        iterations=[
            sprint("S1", "OPS", local(2026, 9, 1), local(2026, 9, 14, 18)),
            sprint("S2", "OPS", local(2026, 9, 15), local(2026, 9, 28, 18)),
            sprint("S3", "OPS", local(2026, 9, 29), local(2026, 10, 12, 18)),
            sprint("S4", "OPS", local(2026, 10, 13), local(2026, 10, 26, 18), "active"),
            sprint("P1", "PAY", local(2026, 9, 15), local(2026, 9, 28, 18)),
            sprint("P2", "PAY", local(2026, 9, 29), local(2026, 10, 12, 18)),
        ],
        items=[
            item(
                "OPS-A",
                "OPS",
                **DONE,
                **{pts: 3.0},
                iteration_ids=("S1",),
                resolved_at=local(2026, 9, 10),
            ),
            item(
                "OPS-B",
                "OPS",
                **DONE,
                **{pts: 5.0},
                iteration_ids=("S1", "S2"),
                resolved_at=local(2026, 9, 20),
            ),
            item(
                "OPS-C",
                "OPS",
                **DONE,
                **{pts: 2.0},
                iteration_ids=("S2",),
                resolved_at=local(2026, 9, 25),
            ),
            item("OPS-D", "OPS", **{pts: 8.0}),
            item(
                "OPS-E",
                "OPS",
                **DONE,
                **{pts: 5.0},
                iteration_ids=("S3",),
                resolved_at=local(2026, 10, 9),
            ),
            item("OPS-F", "OPS", **DONE, iteration_ids=("S3",), resolved_at=local(2026, 10, 9)),
            item("OPS-G", "OPS", **{pts: 13.0}, iteration_ids=("S4",)),
            item(
                "PAY-1",
                "PAY",
                **DONE,
                **{pts: 3.0},
                iteration_ids=("P1",),
                resolved_at=local(2026, 9, 20),
            ),
            item(
                "PAY-2",
                "PAY",
                **DONE,
                **{pts: 3.0},
                iteration_ids=("P2",),
                resolved_at=local(2026, 10, 2),
            ),
            item(
                "PAY-R",
                "PAY",
                type="Status Report",
                title="周报",
                extra={"rag": "G", "rag_reason": "客户已确认延期", "rag_expires_on": "2026-10-30"},
            ),
        ],  # fmt: skip
        changes=[
            sprint_move("OPS-B", 0, "S1", "S1,S2", local(2026, 9, 14, 20)),  # before S2 starts
            sprint_move("OPS-C", 0, "", "S2", local(2026, 9, 20)),  # added after the start
            sprint_move("OPS-D", 0, "", "S2", local(2026, 9, 10)),
            sprint_move("OPS-D", 1, "S2", "", local(2026, 9, 18)),  # removed after the start
        ],
    )


@pytest.fixture
def sprint_env(store_url):
    engine = open_store(store_url)
    build(engine)
    return engine, parse_config(CONFIG)


@pytest.mark.parametrize("history", [False, True], ids=["sql", "history"])
def test_velocity_and_say_do(sprint_env, history):
    engine, config = sprint_env
    p = project_status(engine, config, AS_OF, history=history).projects.set_index("project_key")
    ops = p.loc["OPS"]
    assert ops["sprints_closed"] == 3
    assert ops["velocity"] == pytest.approx(5.0)
    assert ops["say_do"] == pytest.approx(15 / 26)
    pay = p.loc["PAY"]
    assert pay["sprints_closed"] == 2
    assert pay["velocity"] != pay["velocity"]  # N/E under 3 closed sprints
    assert pay["say_do"] != pay["say_do"]
    assert p.loc["CRM", "sprints_closed"] == 0


def test_velocity_as_of_before_last_sprint_closed(sprint_env):
    """On Oct 5 only S1 and S2 had closed (S3 ends Oct 12): N/E, 2 sprints."""
    engine, config = sprint_env
    p = project_status(engine, config, dt.date(2026, 10, 5), history=True).projects
    ops = p.set_index("project_key").loc["OPS"]
    assert ops["sprints_closed"] == 2
    assert ops["velocity"] != ops["velocity"]


@pytest.mark.parametrize("history", [False, True], ids=["sql", "history"])
def test_pm_rag_override_shown_beside_computed(sprint_env, history):
    engine, _ = sprint_env
    config = parse_config(
        CONFIG.replace(
            "priority_rank: 3}",
            "priority_rank: 3, rag_override: {rag: red, reason: 迁移窗口取消, "
            "expires_on: 2026-10-15}}",
        ).replace(
            "priority_rank: 1, critical: true,",
            "priority_rank: 1, critical: true, rag_override: {rag: amber, reason: 供应商风险, "
            "expires_on: 2026-10-16},",
        )
    )
    rep = project_status(engine, config, AS_OF, history=history)
    p = rep.projects.set_index("project_key")
    # From PAY's newest status report (rag, rag_reason, rag_expires_on fields): active.
    assert p.loc["PAY", "rag_pm"] == "G"
    assert p.loc["PAY", "rag_pm_state"] == "active"
    assert p.loc["PAY", "rag_pm_reason"] == "客户已确认延期"
    assert p.loc["PAY", "rag_pm_expires_on"] == dt.date(2026, 10, 30)
    assert p.loc["PAY", "rag_pm_source"] == "status report PAY-R"
    # Policy file: expires on the as-of day (still active), or the day before (expired).
    assert (p.loc["CRM", "rag_pm"], p.loc["CRM", "rag_pm_state"]) == ("A", "active")
    assert (p.loc["OPS", "rag_pm"], p.loc["OPS", "rag_pm_state"]) == ("R", "expired")
    assert p.loc["CRM", "rag_pm_source"] == "policy file"
    # The computed colour stays authoritative for the roll-up: the override changes nothing.
    plain = project_status(engine, parse_config(CONFIG), AS_OF, history=history)
    assert list(p["rag"]) == list(plain.projects["rag"])
    for level in ("programme", "portfolio"):
        a, b = rep.level(level), plain.level(level)
        assert list(a["rag"]) == list(b["rag"])
        assert a["rag_score"].tolist() == pytest.approx(b["rag_score"].tolist(), nan_ok=True)


def test_pm_rag_without_reason_is_incomplete(store_url):
    engine = open_store(store_url)
    write(
        engine,
        items=[item("OPS-R", "OPS", type="Status Report", extra={"rag": "绿"})],
    )
    p = project_status(engine, parse_config(CONFIG), AS_OF).projects.set_index("project_key")
    assert (p.loc["OPS", "rag_pm"], p.loc["OPS", "rag_pm_state"]) == ("G", "incomplete")
    assert pd.isna(p.loc["CRM", "rag_pm_state"])


def test_rag_override_needs_reason_and_expiry():
    from pmohub.aggregator.config.loader import ConfigFileError

    with pytest.raises(ConfigFileError) as exc:
        parse_config(
            CONFIG.replace("priority_rank: 3}", "priority_rank: 3, rag_override: {rag: gren}}")
        )
    text = str(exc.value)
    assert (
        "rag_override.rag: 'gren' is not one of green, amber, red (did you mean 'green'?)" in text
    )
    assert "rag_override: missing required key 'reason'" in text
    assert "rag_override: missing required key 'expires_on'" in text


def test_status_reads_day_constant_metrics_from_todays_snapshot(sprint_env):
    from test_rollup import CONFIG_W
    from test_rollup import build as build_crm

    from pmohub.aggregator.status.snapshots import take_snapshots

    engine, _ = sprint_env
    config = parse_config(CONFIG_W)
    build_crm(engine, config)
    live = project_status(engine, config, AS_OF)
    assert live.notes == [] and live.projects["flow_as_of"].isna().all()
    # No snapshot yet: use_snapshot computes everything.
    same = project_status(engine, config, AS_OF, use_snapshot=True)
    assert same.notes == []
    take_snapshots(engine, config, AS_OF, now=local(2026, 10, 16, 2))
    # A late item done after the nightly run: live counts see it, snapshot flow does not.
    write(engine, items=[item("OPS-Z", "OPS", **DONE, resolved_at=local(2026, 10, 16, 9))])
    snap = project_status(engine, config, AS_OF, use_snapshot=True)
    fresh = project_status(engine, config, AS_OF)
    assert snap.notes and "as of the 02:00 snapshot (2026-10-16)" in snap.notes[0]
    a, b = snap.projects.set_index("project_key"), live.projects.set_index("project_key")
    assert (a["flow_as_of"] == "2026-10-15T18:00+00:00").all()
    cols = ["throughput_90d", "cycle_p50_wd", "cycle_p85_wd", "lead_p85_wd", "wip",
            "wip_age_p85_wd", "reopen_rate", "hpp", "sprints_closed", "velocity", "say_do"]  # fmt: skip
    for c in cols:
        assert a[c].tolist() == pytest.approx(b[c].tolist(), nan_ok=True), c
    for level in ("programme", "portfolio"):
        x, y = snap.level(level), live.level(level)
        for c in ("cycle_p50_wd", "cycle_p85_wd", "throughput_90d"):
            assert x[c].tolist() == pytest.approx(y[c].tolist(), nan_ok=True), (level, c)
    # Live parts stay live: the new done item counts now, its throughput waits for tonight.
    f = fresh.projects.set_index("project_key")
    assert (
        a.loc["OPS", "items_done"] == f.loc["OPS", "items_done"] == b.loc["OPS", "items_done"] + 1
    )
    assert f.loc["OPS", "throughput_90d"] == b.loc["OPS", "throughput_90d"] + 1
    assert a.loc["OPS", "throughput_90d"] == b.loc["OPS", "throughput_90d"]


def test_sprint_frame_members_only_in_open_sprints():
    from pmohub.aggregator.status.sprints import sprint_frame

    t_end = local(2026, 10, 17, 0)
    its = pd.DataFrame(
        {"sid": ["S1", "S2"], "state": ["closed", "active"],
         "start_at": [local(2026, 9, 1), local(2026, 10, 1)],
         "end_at": [local(2026, 9, 14), local(2026, 10, 20)], "complete_at": [pd.NaT, pd.NaT]}
    )  # fmt: skip
    members = pd.DataFrame(
        {"pk": ["OPS"], "id": [1], "iteration_ids": ['["S2"]'], "story_points": [3.0],
         "done": [False], "done_at": [pd.NaT]}
    )  # fmt: skip
    moves = pd.DataFrame(columns=["work_item_id", "from_value", "to_value", "changed_at"])
    assert sprint_frame(members, its, moves, t_end).empty


def test_status_table_shows_active_override_beside_computed():
    from pmohub.cli.status_cmd import status_table

    frame = pd.DataFrame(
        {"project_key": ["A", "B", "C"], "name": ["a", "b", "c"], "rag": ["A", "R", "G"],
         "rag_pm": ["G", "G", None], "rag_pm_state": ["active", "expired", None],
         "rag_reasons": [[], [], []]}
    )  # fmt: skip
    rows = status_table(frame, "project")
    assert [r["RAG"] for r in rows] == ["AMBER (PM GREEN)", "RED", "GREEN"]
