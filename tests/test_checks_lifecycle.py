"""Findings lifecycle on a real store (SQLite and PostgreSQL): new, persisting, waived,
resolved; re-running on unchanged data changes nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update

from pmohub.aggregator.compliance.findings import seen_instant
from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.engine import open_store

CONFIG = """
version: 1
timezone: Asia/Shanghai
calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}}
defaults: {calendar: cn}
sources:
  jira_main: {type: jira, url: https://example.atlassian.net, token_env: JIRA_TOKEN}
waivers:
  - {rule: VAR-001, scope: "project:WAIVED", reason: 供应商延期, expires: 2026-12-31, approved_by: pmo.lead}
  - {rule: VAR-001, scope: "project:EXPIRED", reason: old, expires: 2026-10-01, approved_by: pmo.lead}
hierarchy:
  - portfolio: DIGI
    projects:
      - {key: CRM, source: {name: jira_main, jql: "project = CRMA"}}
      - {key: WAIVED}
      - {key: EXPIRED}
"""
NOW = dt.datetime(2026, 11, 20, 1, tzinfo=dt.UTC)


def _seed(engine) -> dict[str, int]:
    ids: dict[str, int] = {}
    with engine.begin() as c:
        c.execute(insert(m.Source.__table__).values(name="jira_main", type="jira", created_at=NOW))
        for n, key in enumerate(("CRMA", "WAIVED", "EXPIRED")):
            pid = c.execute(
                insert(m.Project.__table__).values(
                    source="jira_main", external_id=str(n), key=key, name=key
                )
            ).inserted_primary_key[0]
            # One open item 11 wd late (due 2026-11-05, as of 2026-11-20): VAR-001 fails.
            ids[key] = c.execute(
                insert(m.WorkItem.__table__).values(
                    source="jira_main",
                    external_id=f"{key}-1",
                    key=f"{key}-1",
                    project_id=pid,
                    project_key=key,
                    title="t",
                    type="Story",
                    status="To Do",
                    status_category="todo",
                    due_on=dt.date(2026, 11, 5),
                    created_at=NOW,
                    updated_at=NOW,
                    labels=[],
                    components=[],
                    milestone_ids=[],
                    iteration_ids=[],
                    extra={},
                )
            ).inserted_primary_key[0]
    return ids


def _findings(engine) -> dict[str, tuple]:
    t = m.Finding.__table__
    with engine.connect() as c:
        return {
            r.subject: (
                r.id,
                r.state,
                r.first_seen_at,
                r.last_seen_at,
                r.resolved_at,
                r.value,
                r.waiver_id,
            )
            for r in c.execute(select(t).where(t.c.rule_id == "VAR-001"))
        }


def test_lifecycle(store_url: str) -> None:
    engine = open_store(store_url)
    config = parse_config(CONFIG)
    ids = _seed(engine)
    d1, d2, d3 = dt.date(2026, 11, 20), dt.date(2026, 11, 23), dt.date(2026, 11, 24)

    res = run_checks(engine, config, as_of=d1, rule_ids=["VAR-001"])
    assert not res.errors
    f1 = _findings(engine)
    assert f1["project:CRM"][1] == "new"
    assert f1["project:CRM"][2] == seen_instant(d1, "Asia/Shanghai")
    assert f1["project:WAIVED"][1] == "waived" and f1["project:WAIVED"][6] is not None
    assert f1["project:EXPIRED"][1] == "new"
    with engine.connect() as c:
        msg = c.execute(
            select(m.Finding.message).where(m.Finding.subject == "project:EXPIRED")
        ).scalar()
    assert "waiver expired on 2026-10-01" in msg

    # Same as-of, unchanged data: nothing changes at all.
    run_checks(engine, config, as_of=d1, rule_ids=["VAR-001"])
    assert _findings(engine) == f1

    # Next day: persisting, first seen kept, last seen moves.
    run_checks(engine, config, as_of=d2, rule_ids=["VAR-001"])
    f2 = _findings(engine)
    assert f2["project:CRM"][1] == "persisting"
    assert f2["project:CRM"][0] == f1["project:CRM"][0]
    assert f2["project:CRM"][2] == f1["project:CRM"][2]
    assert f2["project:CRM"][3] == seen_instant(d2, "Asia/Shanghai")

    # The late item is done: resolved, with resolved_at = that check's instant.
    with engine.begin() as c:
        c.execute(
            update(m.WorkItem.__table__)
            .where(m.WorkItem.id == ids["CRMA"])
            .values(status="Done", status_category="done")
        )
    run_checks(engine, config, as_of=d3, rule_ids=["VAR-001"])
    f3 = _findings(engine)
    assert f3["project:CRM"][1] == "resolved"
    assert f3["project:CRM"][4] == seen_instant(d3, "Asia/Shanghai")
    assert f3["project:WAIVED"][1] == "waived"


def test_issue_level_finding_resolves_when_fixed(store_url: str) -> None:
    engine = open_store(store_url)
    config = parse_config(CONFIG)
    ids = _seed(engine)
    with engine.begin() as c:
        pid = c.execute(select(m.WorkItem.project_id).where(m.WorkItem.id == ids["CRMA"])).scalar()
        risk = c.execute(
            insert(m.WorkItem.__table__).values(
                source="jira_main",
                external_id="R-1",
                key="CRMA-R1",
                project_id=pid,
                project_key="CRMA",
                title="vendor risk",
                type="Risk",
                status="Open",
                status_category="todo",
                created_at=NOW,
                updated_at=NOW,
                labels=[],
                components=[],
                milestone_ids=[],
                iteration_ids=[],
                extra={"risk_probability": 4, "risk_impact": 4},
            )
        ).inserted_primary_key[0]
    run_checks(engine, config, as_of=dt.date(2026, 11, 20), rule_ids=["RISK-002"])
    t = m.Finding.__table__
    with engine.connect() as c:
        row = c.execute(select(t).where(t.c.subject == "issue:jira_main:R-1")).one()
    assert (row.state, row.severity, row.value) == ("new", "high", 16.0)
    assert row.evidence["keys"] == ["CRMA-R1"] and row.evidence["project_key"] == "CRM"
    assert row.project_key == "CRM"  # the hierarchy key, queryable (not only in evidence)
    with engine.begin() as c:
        c.execute(
            update(m.WorkItem.__table__)
            .where(m.WorkItem.id == risk)
            .values(
                assignee="u1",
                due_on=dt.date(2026, 12, 1),
                extra={"risk_probability": 4, "risk_impact": 4, "risk_response": "transfer"},
            )
        )
    run_checks(engine, config, as_of=dt.date(2026, 11, 23), rule_ids=["RISK-002"])
    with engine.connect() as c:
        row = c.execute(select(t).where(t.c.subject == "issue:jira_main:R-1")).one()
    assert row.state == "resolved"
    assert row.resolved_at == seen_instant(dt.date(2026, 11, 23), "Asia/Shanghai")


def test_person_settings_match_config_people(sqlite_url: str) -> None:
    from pmohub.aggregator.compliance.frames import person_settings

    engine = open_store(sqlite_url)
    with engine.begin() as c:
        c.execute(insert(m.Source.__table__).values(name="jira_main", type="jira", created_at=NOW))
        zhang = c.execute(
            insert(m.Person.__table__).values(
                display_name="张伟", email="zw@example.cn", created_at=NOW
            )
        ).inserted_primary_key[0]
        li = c.execute(
            insert(m.Person.__table__).values(display_name="李娜", created_at=NOW)
        ).inserted_primary_key[0]
        c.execute(
            insert(m.PersonAlias.__table__).values(
                source="jira_main", external_id="5b10a2844c20165700ede21g", person_id=zhang
            )
        )
    config = parse_config(
        CONFIG
        + """people:
  - {id: "jira:5b10a2844c20165700ede21g", name: 张伟, hours_per_day: 6}
  - {id: "gitlab:lina", name: 李娜, allocation: 0.5, leave: ["2026-05-06..2026-05-08"]}
  - {id: "nobody", name: 无此人, hours_per_day: 4}
"""
    )
    got = person_settings(engine, config)
    assert got["person_hours"] == {zhang: 6.0}
    assert got["person_allocation"] == {li: 0.5}
    assert got["person_leave"] == {li: [(dt.date(2026, 5, 6), dt.date(2026, 5, 8))]}
