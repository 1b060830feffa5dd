"""`pmohub check / rules / waivers / baseline take` end to end: real config, real
spreadsheet sync into SQLite, real rule run, exit codes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.engine import create_store_engine
from pmohub.cli.main import main

CSV = (
    "编号,任务名称,负责人,截止日期,状态\n"
    "A-1,需求评审,张伟,2026-11-20,进行中\n"
    "A-2,方案设计,李娜,2026-12-01,未开始\n"
)


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "pmohub.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            database: sqlite:///store.db
            calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}}
            defaults: {calendar: cn}
            sources:
              plan_a: {type: spreadsheet, path: a.csv, project_key: PA}
            waivers:
              - {rule: RISK-001, scope: "project:PA", reason: 试点项目, expires: 2026-12-31, approved_by: pmo.lead}
            hierarchy:
              - portfolio: DIGI
                projects:
                  - {key: PA, source: {name: plan_a}, pm: 张伟, due_on: 2026-12-31}
            """
        ),
        encoding="utf-8",
    )
    assert run(["sync"]).exit_code == 0
    return tmp_path


def test_check_fail_on_and_formats(project_dir: Path) -> None:
    # 2026-12-10: A-1 (due 11-20) is 14 wd late, A-2 (due 12-01) 7 wd: VAR-001 fails.
    r = run(
        [
            "check",
            "--as-of",
            "2026-12-10",
            "--rule",
            "VAR-001",
            "--format",
            "json",
            "--fail-on",
            "medium",
        ]
    )
    assert r.exit_code == 3, r.output
    rows = json.loads(r.stdout)
    assert [(x["rule"], x["subject"], x["state"]) for x in rows] == [
        ("VAR-001", "project:PA", "new")
    ]
    assert rows[0]["value"] == 1.0 and set(rows[0]["evidence"]["keys"]) == {"A-1", "A-2"}
    r = run(["check", "--as-of", "2026-12-10", "--rule", "VAR-001", "--fail-on", "high"])
    assert r.exit_code == 0
    # The next day the same finding persists (first seen kept).
    r = run(["check", "--as-of", "2026-12-11", "--rule", "VAR-001", "--format", "csv"])
    assert r.exit_code == 0
    engine = create_store_engine(f"sqlite:///{project_dir / 'store.db'}")
    with engine.connect() as c:
        state = c.execute(select(m.Finding.state).where(m.Finding.rule_id == "VAR-001")).scalar()
    assert state == "persisting"


def test_check_waiver_and_unknown_rule(project_dir: Path) -> None:
    r = run(
        [
            "check",
            "--as-of",
            "2026-11-20",
            "--rule",
            "RISK-001",
            "--format",
            "json",
            "--fail-on",
            "low",
        ]
    )
    rows = json.loads(r.stdout)
    assert rows[0]["state"] == "waived"
    assert r.exit_code == 0  # waived findings do not fail the run
    r = run(
        [
            "check",
            "--as-of",
            "2027-01-04",
            "--rule",
            "RISK-001",
            "--format",
            "json",
            "--fail-on",
            "low",
        ]
    )
    assert r.exit_code == 3
    assert "waiver expired on 2026-12-31" in json.loads(r.stdout)[0]["message"]
    r = run(["check", "--rule", "VAR-01"])
    assert r.exit_code == 2 and "did you mean VAR-001" in r.stderr


def test_waivers_and_rules_listing(project_dir: Path) -> None:
    r = run(["waivers", "--as-of", "2027-01-01", "--format", "json"])
    (w,) = json.loads(r.stdout)
    assert w["status"] == "EXPIRED" and w["where"].startswith("pmohub.yaml:")
    r = run(["rules", "--format", "json"])
    ids = [x["id"] for x in json.loads(r.stdout)]
    assert "VAR-001" in ids and ids == sorted(ids, key=ids.index)


def test_policy_error_is_one_line(project_dir: Path) -> None:
    cfg = project_dir / "pmohub.yaml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8") + "rules:\n  VAR-001: {overdue_shar: 0.1}\n",
        encoding="utf-8",
    )
    r = run(["check"])
    assert r.exit_code == 1
    assert "pmohub.yaml:14: rules.VAR-001.overdue_shar: unknown key" in r.stderr
    assert "Traceback" not in r.output


def test_baseline_take(project_dir: Path) -> None:
    r = run(["baseline", "take", "PA", "--label", "plan-approved"])
    assert r.exit_code == 0, r.output
    engine = create_store_engine(f"sqlite:///{project_dir / 'store.db'}")
    with engine.connect() as c:
        rows = c.execute(select(m.Baseline.subject_kind, m.Baseline.due_on, m.Baseline.label)).all()
    kinds = sorted(k for k, _, _ in rows)
    assert kinds == ["project", "work_item", "work_item"]
    project_row = next(r for r in rows if r[0] == "project")
    assert str(project_row[1]) == "2026-12-31"  # the hierarchy's due_on wins over item dates
    r = run(["baseline", "take", "NOPE"])
    assert r.exit_code == 1 and "no project 'NOPE'" in r.stderr
