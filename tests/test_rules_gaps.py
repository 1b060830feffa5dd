"""Rules added or fixed after the first pack: regression tests for the bugs found on the
demo/report data, and trigger / no-trigger / N/E tests for the closed gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rulekit import World, at, outcome, run

from pmohub.rules.engine import load_rules

AS_OF = "2026-11-20"


def test_chg_002_without_any_baseline_is_ne_not_an_error() -> None:
    # Regression: with no baseline at all, mapping the categorical project_key through the
    # empty per-project "taken_at" Series raised "Cannot cast DatetimeArray to float64".
    w = World()
    w.project("P")
    w.item("P", original_estimate_h=8.0, created_at=at("2026-09-01"))
    t = run("CHG-002", w, AS_OF)
    assert outcome(t, "project:P") == "ne"
    assert t.loc["project:P", "reason"] == "no baseline"


@pytest.mark.parametrize("rule_id", list(load_rules(entry_points_too=False)))
def test_every_rule_survives_a_world_without_history_or_baselines(rule_id: str) -> None:
    w = World()
    w.project("P", planned_start="2026-01-05", planned_end="2026-06-30")
    w.item("P", original_estimate_h=8.0, due_on="2026-11-30", created_at=at("2026-09-01"))
    w.item("P", type="Bug", priority="High", created_at=at("2026-10-01"))
    w.iterations.append(  # an active sprint, but no Sprint field history at all
        {
            "id": 1,
            "source": "jira_main",
            "external_id": "7",
            "project_key": "P",
            "name": "Sprint 7",
            "state": "active",
            "start_at": at("2026-11-16"),
            "end_at": at("2026-11-27"),
        }
    )
    t = run(rule_id, w, AS_OF)  # run() asserts the rule raised nothing
    assert len(t) >= 1


def test_compliance_weighs_passes_by_their_rule_severity() -> None:
    """docs/metrics.md 2.2: compliance = 100·(1 − Σ_fail sw/Σ_evaluated sw) with sw by the rule's
    severity. P fails VAR-001 (medium, 2) and passes QUA-002 (high, 3): 100·(1 − 2/5) = 60.
    Before passes carried a severity the roll-up weighed them 0 and scored P 0."""
    import datetime as dt

    from rulekit import CN

    from pmohub.aggregator.status.metrics import compliance_frame
    from pmohub.rules.engine import outcomes_frame, run_rules
    from pmohub.rules.policy import build_policy

    w = World()
    w.project("P")
    w.item("P", due_on="2026-11-05")  # 11 wd late: VAR-001 fails
    w.item("P", type="Bug", priority="High", created_at=at("2026-11-19"))  # within SLA
    rules = load_rules(entry_points_too=False)
    policy = build_policy({k: r.meta for k, r in rules.items()}, hierarchy=w.hierarchy())
    runs = run_rules(
        [rules["VAR-001"], rules["QUA-002"]],
        w.frames(),
        as_of=dt.date(2026, 11, 20),
        policy=policy,
        calendar=CN,
    )
    out = outcomes_frame(runs).assign(waived=False)
    assert set(zip(out["rule_id"], out["outcome"], strict=True)) == {
        ("VAR-001", "finding"),
        ("QUA-002", "pass"),
    }
    assert (out["severity"] == out["rule_severity"]).all()  # the pass carries "high"
    assert compliance_frame(out, pd.Index(["P"])).loc["P", "compliance"] == 60.0
    # Without the rule_severity column (outcomes rebuilt from the store) the registry decides.
    bare = out.drop(columns=["rule_severity"]).assign(severity=None)
    assert compliance_frame(bare, pd.Index(["P"])).loc["P", "compliance"] == 60.0


def _conflict_world() -> World:
    """张伟 (1): 30 h in P1 (rank 1) and 30 h in P2 (rank 2) in week 48, 40 h capacity:
    20 h of P2 displaced."""
    w = World()
    w.project("P1")
    w.project("P2")
    for p in ("P1", "P2"):
        w.item(
            p, assignee_id=1, remaining_estimate_h=30.0, start_on="2026-11-23", due_on="2026-11-27"
        )
    return w


def _seen(w: World, first: str) -> None:
    w.findings.append(
        {
            "rule_id": "RES-002",
            "subject": "person:jira:u1:P2",
            "project_key": "P2",
            "state": "persisting",
            "severity": "medium",
            "first_seen_at": at(first, 16),
            "last_seen_at": at("2026-11-19", 16),
        }
    )


def test_res_002_persisting_conflict_without_decision_is_high() -> None:
    w = _conflict_world()
    _seen(w, "2026-11-01")  # first seen 19 days ago: 2+ weekly runs
    t = run("RES-002", w, AS_OF)
    assert outcome(t, "person:jira:u1:P2") == "finding"
    assert t.loc["person:jira:u1:P2", "severity"] == "high"
    assert t.loc["person:jira:u1:P2", "evidence"]["persisting"] is True
    assert "2+ weekly runs" in t.loc["person:jira:u1:P2", "message"]


def test_res_002_recent_conflict_stays_medium() -> None:
    w = _conflict_world()
    _seen(w, "2026-11-12")  # 8 days: one weekly run only
    t = run("RES-002", w, AS_OF)
    assert t.loc["person:jira:u1:P2", "severity"] == "medium"


def test_res_002_linked_decision_settles_the_conflict() -> None:
    w = _conflict_world()
    _seen(w, "2026-11-01")
    w.item("P2", type="Action", kind="corrective_action", created_at=at("2026-11-10"))
    t = run("RES-002", w, AS_OF)
    assert list(t.index) == ["portfolio:*"] and outcome(t, "portfolio:*") == "pass"
    # An action older than the conflict is no decision about it.
    w = _conflict_world()
    _seen(w, "2026-11-01")
    w.item("P2", type="Action", kind="corrective_action", created_at=at("2026-10-01"))
    assert outcome(run("RES-002", w, AS_OF), "person:jira:u1:P2") == "finding"


def test_res_002_not_evaluable_without_dated_assigned_work() -> None:
    w = World()
    w.project("P")
    w.item("P", due_on=None, assignee_id=None)
    assert outcome(run("RES-002", w, AS_OF), "portfolio:*") == "ne"


GOOD_BODY = """## 进度 Schedule
按计划完成接口联调与测试环境部署,进入系统测试阶段
## 成本 Cost
本周投入 120 小时,累计工时低于计划百分之五
## 质量 Quality
新增缺陷 4 个,已关闭 6 个,无阻塞级缺陷
h2. Risks
Vendor API delivery may slip by two weeks; mitigation agreed
## 问题 Issues
测试环境数据库性能不足,已申请扩容,预计下周完成
RAG: Green
"""


def test_rpt_002_sections_from_description_headings() -> None:
    w = World()
    for p in ("BAD", "OK", "NE"):
        w.project(p)
    w.item("OK", type="Status Report", created_at=at("2026-11-16"), description=GOOD_BODY)
    short_risk = GOOD_BODY.replace(
        "Vendor API delivery may slip by two weeks; mitigation agreed", "none"
    )
    w.item("BAD", type="Status Report", created_at=at("2026-11-16"), description=short_risk)
    w.item("NE", type="Story")
    t = run("RPT-002", w, AS_OF)
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "message"].endswith("incomplete: risk")
    assert outcome(t, "project:NE") == "ne"
    # No RAG line and no RAG field: the RAG is missing.
    w = World()
    w.project("P")
    w.item("P", type="Status Report", created_at=at("2026-11-16"), description=GOOD_BODY[:-12])
    t = run("RPT-002", w, AS_OF)
    assert t.loc["project:P", "message"].endswith("incomplete: RAG")


def test_report_sections_parser() -> None:
    from pmohub.rules.frames import report_sections

    got = report_sections(GOOD_BODY)
    assert set(got) == {
        "report_schedule",
        "report_cost",
        "report_quality",
        "report_risk",
        "report_issues",
        "rag",
    }
    assert got["rag"] == "Green"
    assert report_sections(None) == {} and report_sections("no headings at all") == {}


STORE_CONFIG = """
version: 1
timezone: Asia/Shanghai
sources:
  gl: {type: gitlab, url: https://gitlab.example.cn, token_env: GITLAB_TOKEN}
hierarchy:
  - portfolio: DIGI
    projects:
      - {key: LABEL, source: {name: gl, project: LABEL}}
      - {key: TITLE, source: {name: gl, project: TITLE}}
      - {key: NONE, source: {name: gl, project: NONE}}
"""


def test_rpt_001_label_and_title_tag_count_as_reports(store_url: str) -> None:
    """docs/rules.md RPT-001 Gen: a tracker without a Status Report type reports by label
    ``status-report`` or a ``[周报]`` tag; through the real loader on SQLite and PostgreSQL."""
    import datetime as dt

    from sqlalchemy import insert, select

    from pmohub.aggregator.compliance.run import run_checks
    from pmohub.aggregator.config.loader import parse_config
    from pmohub.aggregator.store import models as m
    from pmohub.aggregator.store.engine import open_store

    engine = open_store(store_url)
    now = dt.datetime(2026, 11, 18, 4, tzinfo=dt.UTC)
    with engine.begin() as c:
        c.execute(insert(m.Source.__table__).values(name="gl", type="gitlab", created_at=now))
        for n, (key, title, labels) in enumerate(
            (
                ("LABEL", "Week 47", ["status-report"]),
                ("TITLE", "[周报] 第47周", []),
                ("NONE", "Build the API", []),
            )
        ):
            pid = c.execute(
                insert(m.Project.__table__).values(
                    source="gl", external_id=str(n), key=key, name=key
                )
            ).inserted_primary_key[0]
            c.execute(
                insert(m.WorkItem.__table__).values(
                    source="gl",
                    external_id=f"{key}-1",
                    key=f"{key}-1",
                    project_id=pid,
                    project_key=key,
                    title=title,
                    type="Issue",
                    status="Open",
                    status_category="todo",
                    created_at=now,
                    updated_at=now,
                    labels=labels,
                    components=[],
                    milestone_ids=[],
                    iteration_ids=[],
                    extra={},
                )
            )
    res = run_checks(
        engine, parse_config(STORE_CONFIG), as_of=dt.date(2026, 11, 20), rule_ids=["RPT-001"]
    )
    assert not res.errors
    got = dict(zip(res.outcomes["subject"], res.outcomes["outcome"], strict=True))
    assert got == {"project:LABEL": "pass", "project:TITLE": "pass", "project:NONE": "finding"}
    with engine.connect() as c:
        rows = c.execute(select(m.Finding.subject, m.Finding.project_key)).all()
    assert rows == [("project:NONE", "NONE")]


def _sprint_project(w: World, key: str, sid: str, added_points: list[float]) -> None:
    """Sprint ``sid`` of ``key`` started Mon 2026-11-16 with 5 items of 2 points (10
    committed); ``added_points`` items join it on 11-17; every item is in the baseline."""
    w.iterations.append(
        {
            "id": int(sid),
            "source": "jira_main",
            "external_id": sid,
            "project_key": key,
            "name": f"{key} Sprint 9",
            "state": "active",
            "start_at": at("2026-11-16", 1),
            "end_at": at("2026-11-27", 10),
        }
    )
    for i, pts in enumerate([2.0] * 5 + added_points):
        it = w.item(
            key,
            story_points=pts,
            iteration_ids=[sid],
            created_at=at("2026-09-01"),
        )
        w.baselines.append(
            {
                "project_key": key,
                "label": "plan-approved",
                "taken_at": at("2026-10-01"),
                "subject_kind": "work_item",
                "work_item_id": it["id"],
                "milestone_id": None,
                "story_points": pts,
                "original_estimate_h": None,
                "start_on": None,
                "due_on": None,
            }
        )
        if i >= 5:
            w.change(it, None, sid, at("2026-11-17"), field="sprint")
        else:
            w.change(it, None, sid, at("2026-11-13"), field="sprint")  # before the start


def test_chg_002_sprint_variant() -> None:
    w = World()
    for p in ("BAD", "OK", "NE"):
        w.project(p)
    _sprint_project(w, "BAD", "11", [2.0, 2.0])  # 4 of 10 points added: 40 % > 20 %
    _sprint_project(w, "OK", "12", [1.0])  # 10 %
    # A committed item moved out after the start still counts as committed.
    moved = w.item("OK", story_points=3.0, iteration_ids=[], created_at=at("2026-09-01"))
    w.change(moved, "12", None, at("2026-11-18"), field="sprint")  # type: ignore[arg-type]
    w.item("NE", story_points=2.0)  # no baseline, no sprint
    t = run("CHG-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "severity"] == "medium"
    assert t.loc["project:BAD", "value"] == 0.4
    assert t.loc["project:BAD", "evidence"]["sprint"] == "BAD Sprint 9"
    assert len(t.loc["project:BAD", "evidence"]["keys"]) == 2
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:NE") == "ne"
    t = run("CHG-002", w, AS_OF, rules_cfg={"CHG-002": {"sprint_share": 0.5}})
    assert outcome(t, "project:BAD") == "pass"


def test_clo_002_phase_end_lessons_for_long_projects() -> None:
    w = World()
    # Approved 2026-01-05 (> 6 months), planning ended (plan approved) 2026-03-02.
    long_kw = {"approved_at": at("2026-01-05"), "plan_approved_at": at("2026-03-02")}
    w.project("BAD", **long_kw)
    w.project("OK", **long_kw)
    w.project("SHORT", approved_at=at("2026-08-03"), plan_approved_at=at("2026-09-01"))
    w.project("NE", phase=None)
    w.item("OK", type="Lessons Learned", kind="lessons_learned", created_at=at("2026-03-06"))
    # A lesson long after the phase end does not cover it.
    w.item("BAD", type="Lessons Learned", kind="lessons_learned", created_at=at("2026-06-01"))
    t = run("CLO-002", w, AS_OF)
    assert outcome(t, "project:BAD") == "finding"
    assert t.loc["project:BAD", "evidence"]["phase_end"] == "plan_approved"
    assert outcome(t, "project:OK") == "pass"
    assert outcome(t, "project:SHORT") == "pass"  # < 6 months: only Closing counts
    assert outcome(t, "project:NE") == "ne"
    t = run("CLO-002", w, AS_OF, rules_cfg={"CLO-002": {"long_months": 12}})
    assert outcome(t, "project:BAD") == "pass"


def test_data_001_registry_phase_statuses_are_not_unmapped() -> None:
    w = World()
    w.project("P")
    reg = w.item("P", type="Project", kind="registry")
    w.change(reg, "Proposed", "Approved", at("2026-10-02"))  # a phase, read as such
    t = run("DATA-001", w, AS_OF)
    assert outcome(t, "portfolio:*") == "pass"
    story = w.item("P")
    w.change(story, "To Do", "Approved", at("2026-10-02"))  # on delivery work: unmapped
    t = run("DATA-001", w, AS_OF)
    assert outcome(t, "source:jira_main") == "finding"
    assert t.loc["source:jira_main", "evidence"]["statuses"] == ["Approved"]


CAL_CONFIG = """
version: 1
timezone: Asia/Shanghai
calendars:
  plain: {weekend: [sat, sun], source: none}
  site: {weekend: [sat, sun], source: none,
         extra_holidays: [2026-11-10, 2026-11-11, 2026-11-12, 2026-11-13]}
defaults: {calendar: plain}
sources:
  gl: {type: gitlab, url: https://gitlab.example.cn, token_env: GITLAB_TOKEN}
hierarchy:
  - portfolio: HQ
    projects:
      - {key: LABEL, source: {name: gl, project: LABEL}}
  - portfolio: PLANT
    calendar: site
    projects:
      - {key: TITLE, source: {name: gl, project: TITLE}}
"""


def test_one_calendar_per_portfolio(sqlite_url: str) -> None:
    """Both projects' newest report is from Mon 2026-11-09. As of Fri 11-20 that is 9 wd
    on the default calendar (late: > 5 + 2) but 5 wd on PLANT's calendar, which has
    11-10..11-13 off."""
    import datetime as dt

    from pmohub.aggregator.compliance.run import run_checks
    from pmohub.aggregator.config.loader import parse_config
    from pmohub.aggregator.store.engine import open_store

    engine = open_store(sqlite_url)
    _seed_reports(engine, dt.datetime(2026, 11, 9, 4, tzinfo=dt.UTC))
    res = run_checks(
        engine, parse_config(CAL_CONFIG), as_of=dt.date(2026, 11, 20), rule_ids=["RPT-001"]
    )
    got = res.outcomes.set_index("subject")
    assert got.loc["project:LABEL", "outcome"] == "finding"
    assert got.loc["project:LABEL", "value"] == 9
    assert got.loc["project:TITLE", "outcome"] == "pass"
    # An unknown calendar is refused when the file is read, with its line.
    with pytest.raises(
        Exception, match=r"pmohub.yaml:\d+: hierarchy\[1\]\.calendar: calendar 'nowhere' is not"
    ):
        parse_config(CAL_CONFIG.replace("calendar: site", "calendar: nowhere"))


def _seed_reports(engine: object, created: object) -> None:
    from sqlalchemy import insert

    from pmohub.aggregator.store import models as m

    with engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(insert(m.Source.__table__).values(name="gl", type="gitlab", created_at=created))
        for n, (key, title, labels) in enumerate(
            (("LABEL", "Week 45", ["status-report"]), ("TITLE", "[周报] 第45周", []))
        ):
            pid = c.execute(
                insert(m.Project.__table__).values(
                    source="gl", external_id=str(n), key=key, name=key
                )
            ).inserted_primary_key[0]
            c.execute(
                insert(m.WorkItem.__table__).values(
                    source="gl",
                    external_id=f"{key}-1",
                    key=f"{key}-1",
                    project_id=pid,
                    project_key=key,
                    title=title,
                    type="Issue",
                    status="Open",
                    status_category="todo",
                    created_at=created,
                    updated_at=created,
                    labels=labels,
                    components=[],
                    milestone_ids=[],
                    iteration_ids=[],
                    extra={},
                )
            )


def test_res_001_idle_only_where_waiting_work_is_in_the_persons_projects() -> None:
    w = World()
    w.project("P1")
    w.project("P2")
    w.people.append({"id": 2, "display_name": "李娜", "active": True})
    w.item(
        "P1", assignee_id=2, remaining_estimate_h=4.0, start_on="2026-11-23", due_on="2026-11-27"
    )
    w.item("P2", assignee=None, assignee_id=None, due_on="2026-12-04")  # not her project
    t = run("RES-001", w, AS_OF)
    assert "person:jira:u2" not in t.index
    w.item("P1", assignee=None, assignee_id=None, due_on="2026-12-04")  # now in hers
    t = run("RES-001", w, AS_OF)
    assert (
        outcome(t, "person:jira:u2") == "finding" and t.loc["person:jira:u2", "severity"] == "low"
    )


def _forecast_project(w: World, key: str, done_every: int, open_items: int) -> None:
    """Baselined project end 2026-12-31; open items due 2026-12-15 (no slip on dates);
    done items resolved on every ``done_every``-th weekday of the last ~13 weeks."""
    import pandas as pd

    w.project(key)
    w.item(key, created_at=at("2026-07-01"), status_category="done", resolved_at=at("2026-07-02"))
    for day in pd.bdate_range("2026-08-24", "2026-11-19")[::done_every]:
        w.item(
            key,
            created_at=at("2026-08-01"),
            status_category="done",
            resolved_at=at(day.date().isoformat()),
        )
    for _ in range(open_items):
        w.item(key, created_at=at("2026-08-01"), due_on="2026-12-15")
    w.baselines.append(
        {
            "project_key": key,
            "label": "plan-approved",
            "taken_at": at("2026-08-03"),
            "subject_kind": "project",
            "work_item_id": None,
            "milestone_id": None,
            "story_points": None,
            "original_estimate_h": None,
            "start_on": None,
            "due_on": "2026-12-31",
        }
    )


def test_var_002_project_end_uses_the_monte_carlo_p85() -> None:
    w = World()
    _forecast_project(w, "SLOW", done_every=3, open_items=40)  # ~0.33/day: P85 >> 12-31
    _forecast_project(w, "FAST", done_every=1, open_items=5)  # ~1/day: done in days
    w.project("NE")
    w.item("NE", due_on="2026-12-15")
    t = run("VAR-002", w, AS_OF)
    assert outcome(t, "project:SLOW") == "finding"
    assert t.loc["project:SLOW", "value"] > 10  # red on the forecast alone
    assert "project end" in t.loc["project:SLOW", "message"]
    assert outcome(t, "project:FAST") == "pass"
    assert outcome(t, "project:NE") == "ne"
    # Thin history (< 10 completions): low confidence, no forecast-based finding.
    w2 = World()
    _forecast_project(w2, "THIN", done_every=10, open_items=40)
    assert outcome(run("VAR-002", w2, AS_OF), "project:THIN") == "pass"
    # The same P85 as the forecast core computes (one implementation, same seed).
    import datetime as dt

    from rulekit import CN

    from pmohub.rules.montecarlo import project_p85

    frames = w.frames()
    p85 = project_p85(
        frames["work_items"],
        pd.Index(["SLOW"]),
        dt.date(2026, 11, 20),
        CN,
        "Asia/Shanghai",
        trials=1000,  # VAR-002's default mc_trials
    )
    slip = CN.wd_diff(np.datetime64("2026-12-31"), p85.to_numpy().astype("datetime64[D]"))[0]
    assert t.loc["project:SLOW", "value"] == slip


def test_registry_pm_account_id_resolves_through_aliases() -> None:
    """A Jira user field holds an account id: the PM is active only if that account and
    its merged person are, and messages show the person's name."""
    from pmohub.aggregator.compliance.frames import build_registry_frame
    from pmohub.aggregator.config.loader import parse_config
    from pmohub.aggregator.config.settings import hierarchy_frame

    config = parse_config(
        """
version: 1
hierarchy:
  - portfolio: DIGI
    projects:
      - {key: GONE, registry_issue: PMO-1}
      - {key: HERE, registry_issue: PMO-2}
"""
    )
    hier = hierarchy_frame(config).assign(implicit=False)
    items = pd.DataFrame(
        {
            "id": [1, 2],
            "key": ["PMO-1", "PMO-2"],
            "status": ["Execution", "Execution"],
            "pm": ["acc-old", "acc-new"],
        }
    )
    people = pd.DataFrame(
        {
            "id": [10, 11],
            "display_name": ["王芳", "李娜"],
            "email": [None, None],
            "active": [True, True],
        }
    )
    aliases = pd.DataFrame(
        {"external_id": ["acc-old", "acc-new"], "person_id": [10, 11], "active": [False, True]}
    )
    reg = build_registry_frame(hier, items, None, people, config, aliases).set_index("project_key")
    gone, here = reg.loc["GONE", "pm_active"], reg.loc["HERE", "pm_active"]
    assert gone is not None and not gone and reg.loc["GONE", "pm"] == "王芳"
    assert here is not None and here and reg.loc["HERE", "pm"] == "李娜"
    w = World()
    w.project("GONE", pm="王芳", pm_active=False)
    w.project("HERE", pm="李娜", pm_active=True)
    t = run("REG-002", w, AS_OF)
    assert outcome(t, "project:GONE") == "finding" and "王芳" in t.loc["project:GONE", "message"]
    assert outcome(t, "project:HERE") == "pass"
