"""Every built-in rule: data that must trigger it, data that must not, data where it is N/E.

Each test builds three projects (BAD, OK, NE) by hand; expectations are computed by hand
from the working-day calendar (2026-11-20 is a Friday; China has no holiday in Nov 2026).
"""

from __future__ import annotations

import datetime as dt

from rulekit import World, at, outcome, run

AS_OF = "2026-11-20"


def trio(w: World, **kw: object) -> None:
    for key in ("BAD", "OK", "NE"):
        w.project(key, **kw)  # type: ignore[arg-type]


def test_var_001_overdue_share_and_lateness() -> None:
    w = World()
    trio(w)
    # BAD: 1 of 4 open items 11 wd late (> 10 wd) -> finding.
    w.item("BAD", "BAD-1", due_on="2026-11-05", assignee="li")
    for _i in range(3):
        w.item("BAD", due_on="2026-12-20")
    # OK: 1 of 30 open items 2 wd late (3.3 % <= 5 %, < 10 wd) -> pass.
    w.item("OK", due_on="2026-11-18")
    for _i in range(29):
        w.item("OK", due_on="2026-12-20")
    # NE: open items without any due date.
    w.item("NE")
    t = run("VAR-001", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "value"] == 0.25
    assert "BAD-1" in t.loc["project:BAD", "evidence"]["keys"]
    assert "+11 wd" in t.loc["project:BAD", "message"]
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"
    assert "due dates" in t.loc["project:NE", "reason"]


def test_var_001_threshold_override_and_milestone_is_high() -> None:
    w = World()
    w.project("P")
    w.item("P", due_on="2026-11-18")  # 2 wd late, 1 of 10 = 10 %
    for _ in range(9):
        w.item("P", due_on="2026-12-20")
    assert outcome(run("VAR-001", w, AS_OF), "project:P") == "finding"
    t = run("VAR-001", w, AS_OF, rules_cfg={"VAR-001": {"overdue_share": 0.2}})
    assert outcome(t, "project:P") == "pass"
    w.milestones.append(
        {
            "id": 1,
            "source": "jira_main",
            "external_id": "m1",
            "project_key": "P",
            "name": "R1",
            "due_on": "2026-11-19",
            "released": False,
            "released_on": None,
            "archived": False,
        }
    )
    t = run("VAR-001", w, AS_OF, rules_cfg={"VAR-001": {"overdue_share": 0.2}})
    assert outcome(t, "project:P") == "finding"
    assert t.loc["project:P", "severity"] == "high"


def test_data_002_structure() -> None:
    w = World()
    trio(w)
    w.item(
        "BAD",
        "BAD-1",
        start_on="2026-12-10",
        due_on="2026-12-01",
        parent_id=None,
        milestone_ids=["m"],
    )
    parent = w.item("OK", type="Epic", due_on="2026-12-31")
    for _ in range(5):
        w.item("OK", parent_id=parent["id"], due_on="2026-12-01")
    t = run("DATA-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "evidence"]["keys"] == ["BAD-1"]
    assert "due before start" in t.loc["project:BAD", "message"]
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_data_003_stale_in_progress() -> None:
    w = World()
    trio(w)
    # Last touched Fri 2026-11-06: 10 wd to 11-20 -> not stale; 11-05 -> 11 wd -> stale.
    w.item(
        "BAD",
        "BAD-1",
        status="In Progress",
        status_category="in_progress",
        updated_at=at("2026-11-05"),
    )
    w.item("OK", status="In Progress", status_category="in_progress", updated_at=at("2026-11-06"))
    old = w.item(
        "OK", status="In Progress", status_category="in_progress", updated_at=at("2026-10-01")
    )
    w.worklogs.append(
        {
            "work_item_id": old["id"],
            "project_key": "OK",
            "person_id": 1,
            "started_at": at("2026-11-19"),
            "seconds": 3600,
        }
    )
    t = run("DATA-003", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "value"] == 11
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_qua_001_reopen_rate() -> None:
    w = World()
    trio(w)
    for p, reopened in (("BAD", 2), ("OK", 0)):
        for i in range(5):
            it = w.item(p, status="Done", status_category="done")
            w.change(it, "In Progress", "Done", at("2026-11-02"))
            if i < reopened:
                w.change(it, "Done", "In Progress", at("2026-11-03"))
                w.change(it, "In Progress", "Done", at("2026-11-04"))
    w.item("NE")
    t = run("QUA-001", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "value"] == 2 / 5
    assert t.loc["project:BAD", "evidence"]["band"] == "red"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"
    assert t.loc["project:NE", "reason"] == "no status history"
    t = run("QUA-001", w, AS_OF, rules_cfg={"QUA-001": {"amber": 0.5}})
    assert outcome(t, "project:BAD") == "pass"


def test_qua_002_bug_sla() -> None:
    w = World()
    trio(w)
    # Highest bug created Mon 2026-11-16: 4 wd old > 3 -> late.
    w.item("BAD", "BAD-1", type="Bug", priority="Highest", created_at=at("2026-11-16"))
    w.item("OK", type="Bug", priority="High", created_at=at("2026-11-16"))  # 4 wd <= 10
    w.item("OK", type="Bug", priority="Low", created_at=at("2026-01-01"))  # no SLA
    t = run("QUA-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "evidence"]["keys"] == ["BAD-1"]
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_qua_003_done_without_review() -> None:
    w = World()
    trio(w)
    for p, reviewed in (("BAD", False), ("OK", True)):
        for _ in range(3):
            it = w.item(p, status="Done", status_category="done")
            if reviewed:
                w.change(it, "In Progress", "In Review", at("2026-11-09"))
            w.change(it, "In Review" if reviewed else "In Progress", "Done", at("2026-11-10"))
    w.item("NE", status="Done", status_category="done")
    t = run("QUA-003", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "value"] == 1.0
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_qua_004_released_with_open_critical_bug() -> None:
    w = World()
    trio(w)
    for p in ("BAD", "OK"):
        w.milestones.append(
            {
                "id": len(w.milestones) + 1,
                "source": "jira_main",
                "external_id": f"v-{p}",
                "project_key": p,
                "name": "R1",
                "due_on": "2026-11-01",
                "released": True,
                "released_on": "2026-11-01",
                "archived": False,
            }
        )
    w.item("BAD", "BAD-1", type="Bug", priority="High", milestone_ids=["v-BAD"])
    w.item("OK", type="Bug", priority="Low", milestone_ids=["v-OK"])
    w.item("OK", type="Bug", priority="High", status_category="done", milestone_ids=["v-OK"])
    w.item("NE")
    t = run("QUA-004", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_risk_001_register_present_and_current() -> None:
    w = World()
    trio(w)
    w.project("IDLE", phase="closed")
    w.item("BAD")  # active, no risk
    w.item("OK", type="Risk", risk_probability=2, risk_impact=2, updated_at=at("2026-11-01"))
    w.item("NE")
    w.item("IDLE")
    t = run("RISK-001", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:IDLE") == "pass"
    # A score-16 risk untouched for 15 wd is stale (> 14 wd).
    w.item("NE", type="Risk", risk_probability=4, risk_impact=4, updated_at=at("2026-10-30"))
    t = run("RISK-001", w, AS_OF)
    assert outcome(t, "project:NE") == "finding"


def test_risk_002_fields() -> None:
    w = World()
    trio(w)
    bad = w.item(
        "BAD",
        type="Risk",
        risk_probability=4,
        risk_impact=4,
        risk_response=None,
        assignee=None,
        due_on="2026-12-01",
    )
    w.item(
        "OK",
        type="Risk",
        risk_probability=2,
        risk_impact=3,
        risk_response="mitigate",
        due_on="2026-12-01",
    )
    t = run("RISK-002", w, AS_OF)
    subject = f"issue:jira_main:{bad['external_id']}"
    assert outcome(t, subject) == "finding"
    assert t.loc[subject, "severity"] == "high"
    assert "response" in t.loc[subject, "message"] and "assignee" in t.loc[subject, "message"]
    assert outcome(t, "project:OK") == "pass"
    assert "project:BAD" not in t.index


def test_risk_002_ne_without_risk_fields() -> None:
    w = World()
    w.project("P")
    w.item("P", type="Risk")
    fr = w.frames()
    t = run(
        "RISK-002",
        w,
        AS_OF,
        frames={"work_items": fr["work_items"].drop(columns=["risk_probability"])},
    )
    assert outcome(t, "project:P") == "ne"
    assert "risk_probability" in t.loc["project:P", "reason"]


def test_risk_004_blocked_and_issue_ageing() -> None:
    w = World()
    trio(w)
    blocked = w.item("BAD", status="Blocked", status_category="in_progress")
    w.change(blocked, "In Progress", "Blocked", at("2026-11-12"))  # 6 wd > 5
    issue = w.item("BAD", type="Issue", created_at=at("2026-10-01"))  # old, no due date
    ok = w.item("OK", status="Blocked", status_category="in_progress")
    w.change(ok, "In Progress", "Blocked", at("2026-11-16"))  # 4 wd
    w.item("OK", type="Issue", created_at=at("2026-10-01"), due_on="2026-12-01")
    t = run("RISK-004", w, AS_OF)
    assert outcome(t, f"issue:jira_main:{blocked['external_id']}") == "finding"
    assert t.loc[f"issue:jira_main:{blocked['external_id']}", "value"] == 6
    assert outcome(t, f"issue:jira_main:{issue['external_id']}") == "finding"
    assert t.loc[f"issue:jira_main:{issue['external_id']}", "severity"] == "high"
    assert outcome(t, "project:OK") == "pass"


def test_res_003_unassigned_near_term() -> None:
    w = World()
    trio(w)
    w.people.append({"id": 2, "display_name": "离职", "active": False})
    w.item("BAD", "BAD-1", assignee=None, assignee_id=None, due_on="2026-11-27")
    w.item("BAD", "BAD-2", assignee="x", assignee_id=2, due_on="2026-11-25")
    w.item("OK", assignee=None, assignee_id=None, due_on="2027-03-01")  # far away
    w.item("OK", due_on="2026-11-25")
    t = run("RES-003", w, AS_OF, frames={})
    assert outcome(t, "project:BAD") == "finding"
    assert sorted(t.loc["project:BAD", "evidence"]["keys"]) == ["BAD-1", "BAD-2"]
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_reg_002_and_003() -> None:
    w = World()
    w.project("BAD", pm=None, objective=None, priority_rank=1.0)
    w.project("DUP", priority_rank=1.0)
    w.project("OK", priority_rank=3.0)
    w.project("NE", phase=None, priority_rank=4.0)
    t = run("REG-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding" and outcome(t, "project:OK") == "pass"
    t = run("REG-003", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert set(t.loc["project:BAD", "evidence"]["fields"]) == {
        "objective",
        "priority_rank not unique",
    }
    assert outcome(t, "project:DUP") == "finding"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_plan_002_started_before_approval() -> None:
    w = World()
    w.project("BAD", plan_approved_at=at("2026-06-01"))
    w.project("OK", plan_approved_at=at("2026-06-01"))
    w.project("NE", phase=None)
    it = w.item("BAD")
    w.change(it, "To Do", "In Progress", at("2026-05-20"))
    exempt = w.item("OK", labels=["pre-approval"])
    w.change(exempt, "To Do", "In Progress", at("2026-05-20"))
    it = w.item("OK")
    w.change(it, "To Do", "In Progress", at("2026-06-02"))
    it = w.item("NE")
    w.change(it, "To Do", "In Progress", at("2026-06-02"))
    t = run("PLAN-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_plan_003_baseline() -> None:
    w = World()
    trio(w)
    w.project("PLAN", phase="planning")
    w.baselines.append(
        {
            "project_key": "OK",
            "label": "manual",
            "taken_at": at("2026-06-01"),
            "subject_kind": "project",
            "due_on": "2026-12-31",
        }
    )
    w.item("OK", type="Change Request", ccb_decision="Approved", resolved_at=at("2026-05-01"))
    w.registry_phase = None
    w.projects[2]["phase"] = None
    t = run("PLAN-003", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:PLAN") == "pass"
    assert outcome(t, "project:NE") == "ne"
    # A CR approved after the baseline makes it stale.
    w.item("OK", type="Change Request", ccb_decision="Approved", resolved_at=at("2026-07-01"))
    assert outcome(run("PLAN-003", w, AS_OF), "project:OK") == "finding"


def test_clo_001_and_003() -> None:
    w = World()
    w.project("BAD", phase="closing")
    w.project("OK", phase="closed", acceptance_record="PMO-99", final_report="PMO-100")
    w.project("NE", phase=None)
    w.item("BAD", "BAD-1")
    w.item("OK", status_category="done")
    t = run("CLO-001", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert "open items" in t.loc["project:BAD", "message"]
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"

    w = World()
    w.project("ZOMBIE", planned_end="2026-08-31")
    w.project("BUSY", planned_end="2026-08-31")
    w.project("NE", planned_end=None)
    w.item("ZOMBIE", updated_at=at("2026-08-01"))
    w.item("BUSY", updated_at=at("2026-11-19"))
    w.item("NE", updated_at=at("2026-08-01"))
    t = run("CLO-003", w, AS_OF)
    assert outcome(t, "project:ZOMBIE") == "finding"
    assert outcome(t, "project:BUSY") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_rpt_001_cadence() -> None:
    w = World()
    w.project("BAD")
    w.project("OK")
    w.project("MONTHLY", cadence="monthly")
    w.project("NEW", phase="proposed")
    w.item("BAD", type="Status Report", created_at=at("2026-11-10"))  # 8 wd > 7
    w.item("OK", type="Status Report", created_at=at("2026-11-13"))  # 5 wd
    w.item("MONTHLY", type="Status Report", created_at=at("2026-11-03"))
    t = run("RPT-001", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:MONTHLY") == "pass"
    assert outcome(t, "project:NEW") == "pass"
    t = run("RPT-001", w, AS_OF, rules_cfg={"RPT-001": {"grace_wd": 3}})
    assert outcome(t, "project:BAD") == "pass"


def test_reg_001_unregistered_tracker_project() -> None:
    w = World()
    w.project("P")
    w.item("P")
    w.item("P", project_key=None, tracker_project_key="ROGUE")
    w.item("P", project_key=None, tracker_project_key="OLD", updated_at=at("2026-01-01"))
    t = run("REG-001", w, AS_OF)
    assert outcome(t, "tracker:jira_main:ROGUE") == "finding"
    assert "tracker:jira_main:OLD" not in t.index
    t = run("REG-001", w, AS_OF, rules_cfg={"REG-001": {"exempt": ["ROGUE"]}})
    assert "tracker:jira_main:ROGUE" not in t.index


def test_risk_003_escalation() -> None:
    w = World()
    trio(w)
    w.project("PMO", phase=None)
    big = w.item("BAD", type="Risk", risk_probability=4, risk_impact=4, created_at=at("2026-11-10"))
    cross = w.item("BAD", type="Issue", labels=["cross-dept"], created_at=at("2026-11-10"))
    flagged = w.item(
        "OK",
        type="Risk",
        risk_probability=5,
        risk_impact=3,
        escalated_to_pmo="true",
        created_at=at("2026-11-10"),
    )
    linked = w.item(
        "OK", type="Risk", risk_probability=5, risk_impact=3, created_at=at("2026-11-10")
    )
    pmo_item = w.item("PMO", tracker_project_key="PMO", project_key=None)
    w.links.append(
        {
            "source": "jira_main",
            "from_external_id": pmo_item["external_id"],
            "to_external_id": linked["external_id"],
            "kind": "relates",
        }
    )
    w.item(
        "OK", type="Risk", risk_probability=5, risk_impact=3, created_at=at("2026-11-19")
    )  # 1 wd: not yet due
    w.item(
        "OK", type="Risk", risk_probability=3, risk_impact=4, created_at=at("2026-10-01")
    )  # 12 < 15
    t = run("RISK-003", w, AS_OF, settings={"registry_projects": ["PMO"]})
    assert outcome(t, f"issue:jira_main:{big['external_id']}") == "finding"
    assert t.loc[f"issue:jira_main:{big['external_id']}", "value"] == 16
    assert outcome(t, f"issue:jira_main:{cross['external_id']}") == "finding"
    assert f"issue:jira_main:{flagged['external_id']}" not in t.index
    assert outcome(t, "project:OK") == "pass"


def test_rpt_002_report_completeness() -> None:
    w = World()
    trio(w)
    full = {f"report_{s}": "x" * 25 for s in ("schedule", "cost", "quality", "risk", "issues")}
    w.item("BAD", type="Status Report", created_at=at("2026-11-01"), rag="Green", **full)
    w.item(
        "BAD",
        "BAD-R2",
        type="Status Report",
        created_at=at("2026-11-16"),
        rag=None,
        **{**full, "report_cost": "ok"},
    )
    w.item("OK", type="Status Report", created_at=at("2026-11-16"), rag="Amber", **full)
    t = run("RPT-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "message"] == "BAD-R2 incomplete: cost, RAG"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_clo_002_lessons() -> None:
    w = World()
    w.project("BAD", phase="closing", closing_at=at("2026-10-01"))
    w.project("OK", phase="closed", closing_at=at("2026-10-01"))
    w.project("EARLY", phase="closing", closing_at=at("2026-11-16"))  # 4 wd: still time
    w.project("NE", phase=None)
    w.item("OK", type="Lessons Learned", kind="lessons_learned")
    t = run("CLO-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:EARLY") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_data_001_unmapped_history_status() -> None:
    w = World()
    w.project("P")
    it = w.item("P")
    w.change(it, "To Do", "In Progress", at("2026-11-02"))
    t = run("DATA-001", w, AS_OF)
    assert outcome(t, "portfolio:*") == "pass"
    w.change(it, "In Progress", "待验收", at("2026-11-03"))  # no category known for 待验收
    t = run("DATA-001", w, AS_OF)
    assert outcome(t, "source:jira_main") == "finding"
    assert t.loc["source:jira_main", "evidence"]["statuses"] == ["待验收"]
    fr = w.frames()
    t = run(
        "DATA-001",
        w,
        AS_OF,
        frames={"status_changes": fr["status_changes"].drop(columns=["to_category"])},
    )
    assert outcome(t, "portfolio:*") == "ne"


def test_chg_003_cr_completeness_and_ccb_delay() -> None:
    w = World()
    trio(w)
    done = {"cr_reason": "r", "cr_impact": "i", "cr_alternatives": "a"}
    incomplete = w.item(
        "BAD",
        type="Change Request",
        status="In Review",
        status_category="in_progress",
        cr_reason="r",
        created_at=at("2026-11-18"),
    )
    slow = w.item(
        "BAD",
        type="Change Request",
        status="In Review",
        status_category="in_progress",
        created_at=at("2026-10-01"),
        **done,
    )
    w.change(slow, "Draft", "In Review", at("2026-11-05"))  # 11 wd undecided
    w.item(
        "OK", type="Change Request", status="Draft", created_at=at("2026-10-01")
    )  # drafts exempt
    quick = w.item(
        "OK",
        type="Change Request",
        status="In Review",
        status_category="in_progress",
        created_at=at("2026-10-01"),
        **done,
    )
    w.change(quick, "Draft", "In Review", at("2026-11-16"))
    t = run("CHG-003", w, AS_OF)
    assert (
        "missing impact, alternatives"
        in t.loc[f"issue:jira_main:{incomplete['external_id']}", "message"]
    )
    assert "CCB overdue" in t.loc[f"issue:jira_main:{slow['external_id']}", "message"]
    assert t.loc[f"issue:jira_main:{slow['external_id']}", "value"] == 11
    assert outcome(t, "project:OK") == "pass"


def test_plan_001_subplans() -> None:
    w = World()
    w.project(
        "BAD", subplans="scope, schedule, cost, quality, resource, communication, procurement"
    )
    w.project("OK", subplans=["范围", "进度", "成本", "质量", "资源", "沟通", "采购"])
    w.project("EARLY", phase="approved")
    w.project("NE", phase=None)
    w.item("OK", labels=["plan:risk"])
    t = run("PLAN-001", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "message"] == "Missing sub-plans: risk"
    assert t.loc["project:BAD", "message_zh"] == "缺少子计划:风险管理"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:EARLY") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_plan_004_coverage() -> None:
    w = World()
    trio(w)
    for p in ("BAD", "OK"):
        w.milestones.append(
            {
                "id": len(w.milestones) + 1,
                "source": "jira_main",
                "external_id": f"v-{p}",
                "project_key": p,
                "name": "R2",
                "due_on": "2027-01-31",
                "released": False,
                "released_on": None,
                "archived": False,
            }
        )
    w.item("BAD", type="Epic", due_on=None)
    w.item("BAD", "BAD-2", due_on="2026-11-27")  # near-term, unestimated
    w.item("BAD", due_on="2026-11-27", story_points=3.0)
    w.item("OK", type="Epic", due_on="2027-01-31")
    w.item("OK", due_on="2026-11-27", story_points=3.0)
    w.item("OK", due_on="2027-06-01")  # not near-term: estimate not required
    w.item("NE", due_on="2026-11-27")  # no estimates anywhere in this project
    t = run("PLAN-004", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "evidence"]["keys"] == ["BAD-2"]
    assert "undated epics" in t.loc["project:BAD", "message"]
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def _baseline(
    w: World,
    project: str,
    item: dict | None = None,
    *,
    kind: str = "work_item",
    taken: str = "2026-10-01",
    **kw: object,
) -> None:
    row = {
        "project_key": project,
        "label": "plan-approved",
        "taken_at": at(taken),
        "subject_kind": kind,
        "work_item_id": item["id"] if item else None,
        "milestone_id": None,
        "story_points": None,
        "original_estimate_h": None,
        "start_on": None,
        "due_on": None,
    }
    row.update(kw)
    w.baselines.append(row)


def _evm_world() -> tuple[World, dict[str, list[dict]]]:
    """BAD: 4 × 10 h, planned 11-02..11-13, 2 done by 11-20 -> ES 4.5 wd of AT 14 wd.
    OK: 4 × 10 h planned 11-02..12-11 (29 wd), 2 done -> ES 14.5, AT 14 -> SPI_t 1.04."""
    w = World()
    trio(w)
    w.project("EARLY")
    items: dict[str, list[dict]] = {}
    for p, due in (("BAD", "2026-11-13"), ("OK", "2026-12-11"), ("EARLY", "2027-03-01")):
        start = "2026-11-19" if p == "EARLY" else "2026-11-02"
        items[p] = []
        for i in range(4):
            done = i < 2 and p != "EARLY"
            it = w.item(
                p,
                status_category="done" if done else "todo",
                original_estimate_h=10.0,
                start_on=start,
                due_on=due,
            )
            items[p].append(it)
            _baseline(w, p, it, original_estimate_h=10.0, start_on=start, due_on=due)
        _baseline(w, p, kind="project", due_on=due)
    w.item("NE")
    return w, items


def test_var_003_earned_schedule() -> None:
    w, _ = _evm_world()
    t = run("VAR-003", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert abs(t.loc["project:BAD", "value"] - 4.5 / 14) < 1e-3
    assert t.loc["project:BAD", "evidence"]["band"] == "red"
    assert t.loc["project:BAD", "evidence"]["ev"] == 20.0
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne" and t.loc["project:NE", "reason"] == "no baseline"
    assert outcome(t, "project:EARLY") == "ne"
    assert "10 %" in t.loc["project:EARLY", "reason"]
    t = run("VAR-003", w, AS_OF, rules_cfg={"VAR-003": {"amber": 0.3, "red": 0.2}})
    assert outcome(t, "project:BAD") == "pass"


def test_var_004_cpi() -> None:
    w, items = _evm_world()
    for p, hours in (("BAD", 30), ("OK", 20)):
        w.worklogs.append(
            {
                "work_item_id": items[p][0]["id"],
                "project_key": p,
                "person_id": 1,
                "started_at": at("2026-11-10"),
                "seconds": hours * 3600,
            }
        )
    # A points-only baseline cannot give a CPI.
    w.project("PTS")
    it = w.item("PTS", story_points=5.0, status_category="done")
    _baseline(w, "PTS", it, story_points=5.0, start_on="2026-11-02", due_on="2026-11-13")
    w.worklogs.append(
        {
            "work_item_id": it["id"],
            "project_key": "PTS",
            "person_id": 1,
            "started_at": at("2026-11-10"),
            "seconds": 3600,
        }
    )
    t = run("VAR-004", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert abs(t.loc["project:BAD", "value"] - 20 / 30) < 1e-9
    assert t.loc["project:BAD", "message"] == "Effort 50% over plan (CPI 0.67)"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:PTS") == "ne" and "hour estimates" in t.loc["project:PTS", "reason"]
    assert outcome(t, "project:EARLY") == "ne" and t.loc["project:EARLY", "reason"] == "no worklogs"
    assert outcome(t, "project:NE") == "ne"


def test_var_002_slippage() -> None:
    w = World()
    trio(w)
    for n, (p, base, cur) in enumerate(
        (("BAD", "2026-11-02", "2026-11-30"), ("OK", "2026-11-30", "2026-12-01")), start=1
    ):
        w.milestones.append(
            {
                "id": n,
                "source": "jira_main",
                "external_id": f"v{n}",
                "project_key": p,
                "name": "R2.0",
                "due_on": cur,
                "released": False,
                "released_on": None,
                "archived": False,
            }
        )
        _baseline(w, p, kind="milestone", milestone_id=n, due_on=base)
        _baseline(w, p, kind="project", due_on="2026-12-31")
        w.item(p, due_on="2026-12-31")
    w.item("NE", due_on="2026-12-31")
    t = run("VAR-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "value"] == 20  # Nov 3..30 working days
    assert t.loc["project:BAD", "message"].startswith("R2.0 +20 wd")
    assert t.loc["project:BAD", "evidence"]["band"] == "red"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"
    t = run("VAR-002", w, AS_OF, rules_cfg={"VAR-002": {"amber_wd": 25}})
    assert outcome(t, "project:BAD") == "pass"


def test_chg_001_date_moved_without_cr() -> None:
    w = World()
    trio(w)
    w.project("LATECR")
    for _n, p in enumerate(("BAD", "OK", "LATECR"), start=1):
        epic = w.item(p, f"{p}-E", type="Epic", due_on="2026-11-30")
        _baseline(w, p, epic, due_on="2026-11-02")
        w.change(epic, "2026-11-02", "2026-11-30", at("2026-11-05"), field="duedate")
    w.milestones.append(
        {
            "id": 1,
            "source": "jira_main",
            "external_id": "v1",
            "project_key": "BAD",
            "name": "R1",
            "due_on": "2026-11-12",
            "released": False,
            "released_on": None,
            "archived": False,
        }
    )
    _baseline(w, "BAD", kind="milestone", milestone_id=1, due_on="2026-11-02")
    w.item("OK", type="Change Request", ccb_decision="Approved", resolved_at=at("2026-11-06"))
    w.item("LATECR", type="Change Request", ccb_decision="Approved", resolved_at=at("2026-11-20"))
    w.item("NE", type="Epic", due_on="2026-11-30")
    t = run("CHG-001", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "evidence"]["moved"] == ["BAD-E +20 wd", "R1 +8 wd"]
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:LATECR") == "finding"  # approved 11 wd after the move
    assert outcome(t, "project:NE") == "ne"


def test_chg_002_scope_added_without_cr() -> None:
    w = World()
    trio(w)
    w.project("SMALL")
    for p, added_h in (("BAD", [8.0, 8.0]), ("OK", [8.0, 8.0]), ("SMALL", [4.0])):
        for _ in range(10):
            it = w.item(p, original_estimate_h=8.0, created_at=at("2026-09-01"))
            _baseline(w, p, it, original_estimate_h=8.0)
        for h in added_h:
            w.item(p, f"{p}-NEW{int(h)}", original_estimate_h=h, created_at=at("2026-11-02"))
    w.item("OK", type="Change Request", ccb_decision="Approved", resolved_at=at("2026-10-20"))
    w.item("NE")
    t = run("CHG-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "value"] == 16 / 80
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:SMALL") == "pass"
    assert outcome(t, "project:NE") == "ne"


def _load_world() -> World:
    """张伟 (1) has 30 h in P1 (rank 1) and 30 h in P2 (rank 2) due in week 48
    (Mon 11-23..Fri 11-27, 40 h of capacity): load 150 %, P2 displaced by 20 h.
    李娜 (2) has 4 h that week while an unassigned item waits in her project P1: idle."""
    w = World()
    w.project("P1")
    w.project("P2")
    w.people.append({"id": 2, "display_name": "李娜", "active": True})
    for p in ("P1", "P2"):
        w.item(
            p, assignee_id=1, remaining_estimate_h=30.0, start_on="2026-11-23", due_on="2026-11-27"
        )
    w.item(
        "P1", assignee_id=2, remaining_estimate_h=4.0, start_on="2026-11-23", due_on="2026-11-27"
    )
    w.item("P1", assignee=None, assignee_id=None, due_on="2026-12-04")
    return w


def test_res_001_load_out_of_band() -> None:
    t = run("RES-001", _load_world(), AS_OF)
    assert outcome(t, "person:jira:u1") == "finding"
    assert t.loc["person:jira:u1", "value"] == 1.5
    assert t.loc["person:jira:u1", "message"] == "张伟 W48 150%: move 20 h"
    assert t.loc["person:jira:u1", "evidence"]["band"] == "red"
    assert (
        outcome(t, "person:jira:u2") == "finding" and t.loc["person:jira:u2", "severity"] == "low"
    )
    t = run("RES-001", _load_world(), AS_OF, rules_cfg={"RES-001": {"amber": 1.6, "idle": 0.05}})
    assert list(t.index) == ["portfolio:*"] and outcome(t, "portfolio:*") == "pass"
    w = World()
    w.project("P")
    w.item("P", due_on=None)
    assert outcome(run("RES-001", w, AS_OF), "portfolio:*") == "ne"


def test_res_002_conflict_by_priority() -> None:
    t = run("RES-002", _load_world(), AS_OF)
    assert list(t.index) == ["person:jira:u1:P2"]
    assert t.loc["person:jira:u1:P2", "value"] == 20.0
    assert t.loc["person:jira:u1:P2", "message"] == "张伟 W48: defer 20 h of P2 (P2) for P1 (P1)"
    assert t.loc["person:jira:u1:P2", "severity"] == "medium"  # fresh: the recommendation
    w = _load_world()
    w.items = [i for i in w.items if not (i["project_key"] == "P2" and i["assignee_id"] == 1)]
    assert outcome(run("RES-002", w, AS_OF), "portfolio:*") == "pass"


def test_var_005_red_without_action() -> None:
    w, _ = _evm_world()
    w.project("ACT")
    for i in range(4):
        it = w.item(
            "ACT",
            status_category="done" if i < 2 else "todo",
            original_estimate_h=10.0,
            start_on="2026-11-02",
            due_on="2026-11-13",
        )
        _baseline(
            w, "ACT", it, original_estimate_h=10.0, start_on="2026-11-02", due_on="2026-11-13"
        )
    _baseline(w, "ACT", kind="project", due_on="2026-11-13")
    w.item(
        "ACT",
        type="Action",
        kind="corrective_action",
        assignee="u1",
        due_on="2026-11-30",
        cause="supplier late",
    )
    # An action without a cause does not count.
    w.item("BAD", type="Action", kind="corrective_action", assignee="u1", due_on="2026-11-30")
    t = run("VAR-005", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert outcome(t, "project:ACT") == "pass"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"


def test_rpt_003_watermelon() -> None:
    w, _ = _evm_world()
    w.item("BAD", type="Status Report", created_at=at("2026-11-16"), rag="Green")
    w.item("OK", type="Status Report", created_at=at("2026-11-16"), rag="绿")
    w.item("NE", type="Status Report", created_at=at("2026-11-16"), rag="Green")
    t = run("RPT-003", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "value"] == 2
    assert t.loc["project:BAD", "evidence"]["schedule"] == "Red"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"  # no baseline, no risks: nothing computable
    assert outcome(t, "project:EARLY") == "ne"  # no report


def test_risk_004_jira_flagged_value() -> None:
    w = World()
    w.project("P")
    flagged = w.item(
        "P",
        status="In Progress",
        status_category="in_progress",
        flagged=["Impediment"],
        updated_at=at("2026-11-02"),
    )
    w.item(
        "P",
        status="In Progress",
        status_category="in_progress",
        flagged="false",
        updated_at=at("2026-11-02"),
    )
    t = run("RISK-004", w, AS_OF)
    assert list(t.index) == [f"issue:jira_main:{flagged['external_id']}"]
    assert t.iloc[0]["value"] == 14  # blocked at least since its last update


def test_data_003_wip_older_than_p85_cycle_time() -> None:
    w = World()
    w.project("P")
    # Five items done in 2..4 wd (P85 of [2, 2, 3, 3, 4] = 3.4 wd).
    for _k, (start, done) in enumerate(
        [
            ("11-02", "11-04"),
            ("11-03", "11-05"),
            ("11-04", "11-09"),
            ("11-05", "11-10"),
            ("11-09", "11-13"),
        ]
    ):
        it = w.item("P", status="Done", status_category="done")
        w.change(it, "To Do", "In Progress", at(f"2026-{start}"))
        w.change(it, "In Progress", "Done", at(f"2026-{done}"))
    old = w.item("P", "P-OLD", status="In Progress", status_category="in_progress")
    w.change(old, "To Do", "In Progress", at("2026-11-13"))  # 5 wd old, touched today
    young = w.item("P", "P-NEW", status="In Progress", status_category="in_progress")
    w.change(young, "To Do", "In Progress", at("2026-11-18"))  # 2 wd
    t = run("DATA-003", w, AS_OF)
    assert outcome(t, "project:P") == "finding"
    assert t.loc["project:P", "evidence"]["keys"] == ["P-OLD"]
    t = run("DATA-003", w, AS_OF, rules_cfg={"DATA-003": {"min_done": 6}})
    assert outcome(t, "project:P") == "pass"


def test_res_001_leave_and_allocation_reduce_capacity() -> None:
    w = World()
    w.project("P")
    # 20 h in week 48 against 40 h: fine; with 2 days' leave and 50 % allocation the
    # capacity is (5 - 2) × 8 × 0.5 = 12 h -> 167 %.
    w.item(
        "P", assignee_id=1, remaining_estimate_h=20.0, start_on="2026-11-23", due_on="2026-11-27"
    )
    assert outcome(run("RES-001", w, AS_OF), "portfolio:*") == "pass"
    settings = {
        "person_allocation": {1: 0.5},
        "person_leave": {1: [(dt.date(2026, 11, 26), dt.date(2026, 11, 27))]},
    }
    t = run("RES-001", w, AS_OF, settings=settings)
    assert outcome(t, "person:jira:u1") == "finding"
    assert abs(t.loc["person:jira:u1", "value"] - 20 / 12) < 1e-9
