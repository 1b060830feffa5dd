"""A past status is shown under today's hierarchy and says what it used (issue 14).

Snapshots are taken on AS_OF with PAY in programme CUST; the config then moves PAY to a
new programme FIN. ``status --as-of AS_OF`` (from the snapshots, and recomputed from the
history when a snapshot row is missing) must place PAY under FIN, roll FIN and CUST up
from it, and say so: the basis names today's hierarchy, the snapshot's policy, and PAY as
moved. A nightly pass for a past day must leave that day's stored rows as they were.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rollup_data import local
from sqlalchemy import delete
from test_rollup import AS_OF, CONFIG_W, status_env  # noqa: F401  (the fixture)
from test_snapshot_history import _add_finding, _rows

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.jobs.nightly import run_nightly
from pmohub.aggregator.status.basis import RECOMPUTED, SNAPSHOT
from pmohub.aggregator.status.snapshots import status_as_of_basis, take_snapshots
from pmohub.aggregator.store import models as m
from pmohub.cli.main import main
from pmohub.cli.status_cmd import STATUS_JSON

TODAY = dt.date(2026, 12, 8)
PAY_IN_CUST = """          - {key: PAY, name: 支付, source: {name: jira_main, jql: "project = PAY"},
             priority_rank: 2, weight: 10, start_on: 2026-10-08, due_on: 2026-10-30}
"""
FIN = """      - programme: FIN
        name: 财务
        projects:
""" + PAY_IN_CUST.replace("支付", "支付平台")  # renamed too: today's name is shown
OPS = "    projects:\n      - {key: OPS"
assert PAY_IN_CUST in CONFIG_W and CONFIG_W.count(OPS) == 1
CONFIG_MOVED = CONFIG_W.replace(PAY_IN_CUST, "").replace(OPS, FIN + OPS)
MOVED = {
    "project_key": "PAY",
    "change": "moved",
    "was": {"portfolio": "DIGI", "programme": "CUST"},
    "now": {"portfolio": "DIGI", "programme": "FIN"},
}


def _by(frame: Any, col: str = "project_key") -> Any:
    return frame.set_index(col)


@pytest.fixture
def snapped(status_env: Any) -> Any:  # noqa: F811
    engine, config = status_env
    assert take_snapshots(engine, config, AS_OF, forecasts=False) == 3
    return engine, config


def test_snapshot_answer_uses_todays_hierarchy(snapped: Any) -> None:
    engine, _ = snapped
    stored = {r["project_key"]: r for r in _rows(engine)}
    rep, basis = status_as_of_basis(engine, parse_config(CONFIG_MOVED), AS_OF, TODAY)
    projects = _by(rep.projects)
    assert projects.loc["PAY", "programme"] == "FIN" and projects.loc["PAY", "name"] == "支付平台"
    assert projects.loc["CRM", "programme"] == "CUST"
    # the figures are the snapshot's (of that day), only their place is today's
    assert projects.loc["PAY", "rag"] == stored["PAY"]["rag"]
    assert projects.loc["PAY", "items_done"] == stored["PAY"]["items_done"]
    progs = _by(rep.programmes, "programme")
    assert progs.loc["FIN", "projects"] == 1 and progs.loc["CUST", "projects"] == 1
    assert progs.loc["FIN", "items_total"] == stored["PAY"]["items_total"]
    assert progs.loc["CUST", "items_total"] == stored["CRM"]["items_total"]
    assert _by(rep.portfolios, "portfolio").loc["DIGI", "projects"] == 3
    assert basis.source == SNAPSHOT and basis.how == "snapshot"
    assert basis.changes == [MOVED]
    assert basis.policy_changed is False  # moving a project is no new policy
    assert basis.sentence() == (
        "basis: hierarchy: today's (2026-12-08); project figures: snapshot of 2026-10-16 "
        "(RAG under the policy of 2026-10-16, same as today's)"
    )
    assert basis.change_lines() == [
        "1 project moved since 2026-10-16: PAY (was programme CUST, now programme FIN)"
    ]


def test_snapshot_answer_says_when_the_policy_changed(snapped: Any) -> None:
    engine, _ = snapped
    config = parse_config(CONFIG_MOVED.replace("hpp: 6", "hpp: 7"))
    _, basis = status_as_of_basis(engine, config, AS_OF, TODAY)
    assert basis.source == SNAPSHOT and basis.policy_changed is True
    assert "policy of 2026-10-16, changed since" in basis.sentence()
    # rows stored before the digest was recorded: said as not recorded, not as "same"
    with engine.begin() as c:
        t = m.Snapshot.__table__
        for r in _rows(engine):
            metrics = {k: v for k, v in r["metrics"].items() if k != "policy_digest"}
            c.execute(t.update().where(t.c.id == r["id"]).values(metrics=metrics))
    _, basis = status_as_of_basis(engine, config, AS_OF, TODAY)
    assert basis.policy_changed is None and "not recorded" in basis.sentence()


def test_recomputed_answer_has_the_same_basis_fields(snapped: Any) -> None:
    engine, _ = snapped
    config = parse_config(CONFIG_MOVED)
    _, from_snapshot = status_as_of_basis(engine, config, AS_OF, TODAY)
    with engine.begin() as c:  # OPS has no row that day: the answer is recomputed
        t = m.Snapshot.__table__
        c.execute(delete(t).where(t.c.project_key == "OPS"))
    rep, basis = status_as_of_basis(engine, config, AS_OF, TODAY)
    assert basis.source == RECOMPUTED and basis.how == "history"
    assert _by(rep.projects).loc["PAY", "programme"] == "FIN"
    assert _by(rep.programmes, "programme").loc["FIN", "projects"] == 1
    a, b = from_snapshot.to_dict(), basis.to_dict()
    assert set(a) == set(b)
    assert (b["hierarchy"], b["hierarchy_on"]) == (a["hierarchy"], a["hierarchy_on"])
    assert b["policy"] == "today's" and b["project_figures"] == RECOMPUTED
    assert b["hierarchy_changes"] == [
        {"project_key": "OPS", "change": "added", "was": None,
         "now": {"portfolio": "DIGI", "programme": None}},
        MOVED,
    ]  # fmt: skip
    assert "recomputed from the history as of 2026-10-16, today's policy" in b["sentence"]


def _project_dir(tmp_path: Path, store_url: str, config_text: str, monkeypatch: Any) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JIRA_TOKEN", "secret-token")
    text = config_text.replace("version: 1", f"version: 1\ndatabase: {store_url}")
    (tmp_path / "pmohub.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_status_cli_footer_and_json_basis(
    snapped: Any, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project_dir(tmp_path, store_url, CONFIG_MOVED, monkeypatch)
    runner = CliRunner()
    day = AS_OF.isoformat()
    res = runner.invoke(main, ["status", "--as-of", day], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    out = res.stderr.splitlines()
    assert any(ln.startswith("basis: hierarchy: today's (") for ln in out)
    assert "1 project moved since 2026-10-16: PAY (was programme CUST, now programme FIN)" in out
    res = runner.invoke(
        main, ["status", "--level", "programme", "--as-of", day], catch_exceptions=False
    )
    assert [ln.split()[0] for ln in res.stdout.splitlines()[2:]] == ["CUST", "FIN"]
    res = runner.invoke(main, ["status", "--as-of", day, "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    pay = next(r for r in rows if r["project_key"] == "PAY")
    assert pay["programme"] == "FIN"
    # every existing field as before, plus the basis
    assert set(pay) - {"basis"} <= set(STATUS_JSON["project"]) and "rag" in pay
    basis = pay["basis"]
    assert basis["source"] == SNAPSHOT and basis["hierarchy"] == "today's"
    assert basis["policy"] == "of 2026-10-16" and basis["policy_changed_since"] is False
    assert basis["hierarchy_changes"] == [MOVED]
    assert all(r["basis"] == basis for r in rows)


def test_nightly_for_a_past_day_keeps_its_snapshot(snapped: Any, tmp_path: Path) -> None:
    engine, config = snapped
    before = _rows(engine)
    # Anything changed since (a finding on CRM): a recompute of that day would differ.
    _add_finding(engine, "CRM", local(2026, 10, 15, 0, 0))

    def nightly(clock_day: dt.date) -> Any:
        return run_nightly(
            config,
            engine=engine,
            as_of=AS_OF,
            steps=("snapshot",),
            out_dir=tmp_path / "out",
            now=lambda: dt.datetime.combine(clock_day, dt.time(3, 0), dt.UTC),
        )

    later = nightly(AS_OF + dt.timedelta(days=3))
    step = later.step("snapshot")
    assert step is not None and step.status == "ok"
    assert step.detail == {"projects": 0, "past_day": True, "kept": 3}
    assert _rows(engine) == before
    # A project with no row that day gets one; the others stay.
    with engine.begin() as c:
        t = m.Snapshot.__table__
        c.execute(delete(t).where(t.c.project_key == "OPS"))
    assert nightly(AS_OF + dt.timedelta(days=3)).step("snapshot").detail["projects"] == 1
    after = {r["project_key"]: r for r in _rows(engine)}
    assert [after[r["project_key"]] for r in before if r["project_key"] != "OPS"] == [
        r for r in before if r["project_key"] != "OPS"
    ]
    # The same day run on that day is the nightly's own: re-run in place (so the change
    # above does reach a snapshot, and the assertions above are not vacuous).
    nightly(AS_OF)
    crm = next(r for r in _rows(engine) if r["project_key"] == "CRM")
    old = next(r for r in before if r["project_key"] == "CRM")
    assert crm["compliance"] != old["compliance"]


def test_report_of_a_past_day_says_its_basis(snapped: Any) -> None:
    from pmohub.aggregator.report.build import build_report
    from pmohub.aggregator.report.i18n import text_of

    engine, _ = snapped
    rep = build_report(engine, parse_config(CONFIG_MOVED), as_of=AS_OF)
    (dq,) = [s for s in rep.sections if s.id == "data_quality"]
    keys = [m["key"] for m in dq.messages if isinstance(m, dict)]
    assert "note.as_of_basis.snapshot" in keys and "note.as_of_moved" in keys
    moved = next(m for m in dq.messages if isinstance(m, dict) and m["key"] == "note.as_of_moved")
    assert text_of(moved, "en") == (
        "1 project(s) moved since 2026-10-16, shown where they are now: PAY (DIGI/CUST → DIGI/FIN)"
    )
    assert text_of(moved, "zh").startswith("2026-10-16 以来调整归属的项目 1 个")
    basis = next(m for m in dq.messages if m["key"] == "note.as_of_basis.snapshot")
    assert "under the policy of that day (the same as today's)" in text_of(basis, "en")
    assert "与今天的策略相同" in text_of(basis, "zh")


def test_cli_and_report_choose_a_days_status_in_one_place() -> None:
    """Which status a day shows (snapshots, history, stored or live) is decided by
    aggregator.status.snapshots.status_of_day alone: the report once made its own copy of
    the CLI's choice. Neither the CLI nor the report may call the paths directly."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    direct = re.compile(r"\b(current_status|status_as_of_basis|status_as_of|project_status)\(")
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("cli", "aggregator/report", "aggregator/jobs", "aggregator/bi")
        for path in sorted((root / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if direct.search(line) and not line.lstrip().startswith(("#", "def "))
    ]
    assert offenders == []
