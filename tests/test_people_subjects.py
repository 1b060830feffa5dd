"""People's findings are named by a stable key (``person:<SOURCE:ID>``) and read by name.

The key is what findings history compares from run to run; the report, its Excel/Markdown/
HTML renderings and the chat digest show the person's display name instead, as an account
id (an e-mail here, 24 opaque characters on Jira Cloud) means nothing to their readers.
A real synced project (tests/reportkit.py), its real report and digest.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import reportkit
from sqlalchemy import select

from pmohub.aggregator.people import person_keys
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.chat.digest import to_digest
from pmohub.aggregator.report.render import render
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.bulk import people_t

AT = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def test_report_and_digest_name_people_not_their_key(tmp_path: Path) -> None:
    config, engine = reportkit.synced_project(tmp_path)
    with engine.connect() as conn:
        keys = person_keys(conn)
        li = conn.execute(
            select(people_t.c.id).where(people_t.c.display_name == "李娜")
        ).scalar_one()
    key = keys[li]
    assert key == "plan:li@example.cn"  # the spreadsheet keys people by their e-mail
    findings = m.Finding.__table__
    with engine.begin() as conn:
        conn.execute(findings.delete().where(findings.c.rule_id.like("RES-%")))
        common = {"severity": "high", "state": "new", "first_seen_at": AT, "last_seen_at": AT}
        conn.execute(
            findings.insert(),
            [
                {
                    "rule_id": "RES-001",
                    "subject": f"person:{key}",
                    "scope": "person",
                    "message": "李娜 W48 150%: move 10 h",
                    "evidence": {},
                    **common,
                },
                {
                    "rule_id": "RES-002",
                    "subject": f"person:{key}:HOST",
                    "scope": "portfolio",
                    "project_key": "HOST",
                    "message": "李娜 W48: defer 8 h of HOST (P1) for X (P1)",
                    "evidence": {"project_key": "HOST"},
                    **common,
                },
            ],
        )
    report = build_report(engine, config, as_of=reportkit.AS_OF)
    coordination = next(tb for s in report.sections for tb in s.tables if tb.id == "coordination")
    assert [(r["rule"], r["project"], r["subject"]) for r in coordination.rows] == [
        ("RES-002", "HOST", "李娜")
    ]
    for fmt in ("md", "html"):
        text = render(report, fmt, "en").decode("utf-8")
        assert f"person:{key}" not in text and "person:" not in text, fmt
        assert "李娜" in text
    digest = to_digest(report, "en")
    lines = {p.key: [(x.label, x.text) for x in p.lines] for p in digest.parts}
    assert ("RES-001 李娜", "W48 150%: move 10 h") in lines["findings"]
    assert ("李娜", "W48: defer 8 h of HOST (P1) for X (P1)") in lines["decisions"]
    assert not any("person:" in f"{a} {b}" for part in lines.values() for a, b in part)
    engine.dispose()
