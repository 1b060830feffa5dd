"""The report reads the status, rule and policy values; it never recomputes one (issue 14,
"one definition per metric"). Each test here failed before its fix:

- progress (by count and by estimate), CPI, compliance and the colour of every programme
  and portfolio row of the report's status table are ``pmohub status --level <level>
  --format json``'s (the report summed its projects' counts itself);
- compliance is one number per project and scope: the report scored a read-only check run
  of its own (status 100, report 62.1 for the same project and day);
- a milestone's slip is VAR-002's (rules/formulas.py milestone_slippage: against the
  baseline, in the project's calendar); the report counted weekdays from the current due
  date itself (8 for CRM v1.0 across the October holiday instead of 4);
- actual hours stop at the end of the as-of day (the status's AC): the report summed every
  worklog in the store, later ones too;
- the high-priority bugs of the quality table are QUA-002's (one reader, the policy's
  priorities): the report had a priority list of its own ("Blocker" was not high there);
- the RAG quality dimension bands the reopen rate by QUA-001's (policy-tunable) settings:
  rules/rag.py had fixed bands of its own, so a tuned QUA-001 passed a rate the RAG
  reason called amber.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import test_metric_consistency as consistency
import test_rollup
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from storegen import AS_OF as GEN_AS_OF
from storegen import build_store, store_shape

from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.settings import config_calendar
from pmohub.aggregator.report.build import build_report
from pmohub.cli.main import main
from pmohub.connectors import records as rec
from pmohub.rules.formulas import milestone_slippage

LEVELS = ("project", "programme", "portfolio")


def _status_levels(config_path: Path, day: Any) -> dict[str, list[dict[str, Any]]]:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        runner = CliRunner()
    out = {}
    for level in LEVELS:
        args = ["--config", str(config_path), "--quiet", "status", "--as-of", day.isoformat()]
        res = runner.invoke(main, [*args, "--level", level, "--format", "json"])
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        assert res.exit_code == 0, res.output
        out[level] = json.loads(res.stdout)
    return out


def _report_rows(report: Any) -> dict[tuple[str, str], dict[str, Any]]:
    for sec in report.sections:
        for t in sec.tables:
            if t.id == "status":
                return {(r["level"], str(r["key"])): r for r in t.rows}
    raise AssertionError("no status table")


def _num(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def _same(where: tuple[str, str], col: str, got: Any, want: Any, nd: int) -> None:
    g, w = _num(got), _num(want)
    assert (g is None) == (w is None), (where, col, got, want)
    if w is not None:
        assert g == pytest.approx(round(w, nd), abs=1e-9), (where, col, got, want)


RAG_WORD = {"G": "green", "A": "amber", "R": "red", "NE": "ne"}


def assert_status_table_is_the_status(levels: dict[str, list[dict[str, Any]]], report: Any) -> int:
    """Every row of the report's status table against the status JSON of its level;
    returns the number of programme and portfolio rows compared."""
    rows = _report_rows(report)
    compared = 0
    for level in LEVELS:
        for st in levels[level]:
            key = st.get("project_key") if level == "project" else st.get(level)
            if not key:
                continue  # projects directly under a portfolio: no programme row
            row = rows[(level, str(key))]
            est = "progress_estimate" if level == "project" else "progress"
            _same((level, key), "progress_count", row["progress_count"], st["progress_count"], 4)
            _same((level, key), "progress_estimate", row["progress_estimate"], st[est], 4)
            _same((level, key), "cpi", row["cpi"], st["cpi"], 2)
            _same((level, key), "compliance", row["compliance"], st["compliance"], 1)
            assert row["rag"] == RAG_WORD[str(st["rag"])], (level, key, row["rag"], st["rag"])
            compared += level != "project"
    return compared


def _summary_compliance(report: Any) -> float | None:
    for r in report.section("summary").tables[0].rows:
        if r["metric"]["key"] == "m.compliance":
            return r["value"]
    raise AssertionError("no compliance key figure")


def test_report_status_table_reads_every_level_of_the_status(rollup_store) -> None:
    """The hand-computed roll-up store: a read-only check run finds what no `pmohub check`
    recorded, so the report's own score of it (OPS 62.1, CUST 54.5, DIGI 56.2) was not the
    status's (100, 98.7, 99.1)."""
    path, config, engine = rollup_store
    as_of = test_rollup.AS_OF
    levels = _status_levels(path, as_of)
    check = run_checks(engine, config, as_of=as_of, write=False)
    report = build_report(engine, config, as_of=as_of, check=check)
    assert assert_status_table_is_the_status(levels, report) == 2
    # the summary's and the compliance section's score is the portfolio's
    (digi,) = levels["portfolio"]
    assert _summary_compliance(report) == round(digi["compliance"], 1)
    shown = [
        m["params"]["score"]
        for m in report.section("compliance").messages
        if m["key"] == "msg.compliance"
    ]
    assert shown == [f"{digi['compliance']:.1f}"]


def test_report_status_table_on_a_generated_portfolio(tmp_path: Path) -> None:
    config, engine = build_store(tmp_path, consistency.GENERATED)
    levels = _status_levels(tmp_path / "pmohub.yaml", GEN_AS_OF)
    report = build_report(engine, config, as_of=GEN_AS_OF)
    assert assert_status_table_is_the_status(levels, report) >= 2


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(store_shape)
def test_report_status_table_is_the_status_on_any_store(shape: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="pmohub-rm-") as tmp:
        config, engine = build_store(Path(tmp), shape)
        try:
            levels = _status_levels(Path(tmp) / "pmohub.yaml", GEN_AS_OF)
            assert_status_table_is_the_status(levels, build_report(engine, config, as_of=GEN_AS_OF))
        finally:
            engine.dispose()


def _table_rows(report: Any, table_id: str) -> list[dict[str, Any]]:
    for sec in report.sections:
        for t in sec.tables:
            if t.id == table_id:
                return list(t.rows)
    raise AssertionError(f"no table {table_id}")


def test_milestone_slip_is_var_002s(rollup_store) -> None:
    """CRM v1.0: baseline Sep 30, released Oct 12: 4 working days of the cn calendar (the
    October holiday is not worked; tests/test_rollup.py); VAR-002 counts the same."""
    path, config, engine = rollup_store
    as_of = test_rollup.AS_OF
    check = run_checks(engine, config, as_of=as_of, write=False)
    report = build_report(engine, config, as_of=as_of, check=check)
    rows = {(r["project"], r["milestone"]): r for r in _table_rows(report, "milestones")}
    assert rows[("CRM", "v1.0")]["slip_wd"] == 4
    from pmohub.aggregator.compliance.frames import load_frames
    from pmohub.rules.engine import load_rules

    frames = load_frames(engine, config, [load_rules()["VAR-002"]])
    cal, _ = config_calendar(config)
    slip = milestone_slippage(
        frames["baselines"], frames["milestones"], frames["work_items"], cal, as_of
    )
    by_name = dict(zip(slip["name"], slip["slip_wd"], strict=True))
    for (_, name), r in rows.items():
        assert r["slip_wd"] == by_name.get(name), (name, r, by_name)


def test_actual_hours_stop_at_the_as_of_day(rollup_store) -> None:
    """A worklog of the day after the as-of day is not actual yet: the effort table shows the
    status's AC (28 h for CRM: 10 + 12 + 6 logged on Sep 16), not 28 + 5."""
    from rollup_data import SRC, local, write

    path, config, engine = rollup_store
    as_of = test_rollup.AS_OF
    later = rec.Worklog(
        source=SRC,
        external_id="wl-late",
        work_item_id="id-CRMA-1",
        author="u-zhang",
        started_at=local(as_of.year, as_of.month, as_of.day + 1, 0, 30),
        seconds=5 * 3600,
    )
    write(engine, worklogs=[later])
    levels = _status_levels(path, as_of)
    report = build_report(engine, config, as_of=as_of)
    effort = {r["project"]: r for r in _table_rows(report, "effort")}
    status = {r["project_key"]: r for r in levels["project"]}
    assert status["CRM"]["ac_h"] == pytest.approx(28.0)
    for key, st in status.items():
        _same(("project", key), "actual_h", effort[key]["actual_h"], st["ac_h"], 1)


def test_high_priority_bugs_are_qua_002s(rollup_store) -> None:
    """Open bugs of QUA-002's priorities (a Blocker, a P1, a High) count in the quality
    table; the one past its SLA is QUA-002's finding; a Low one counts for neither."""
    from rollup_data import item, local, write

    path, config, engine = rollup_store
    as_of = test_rollup.AS_OF
    bugs = [
        item("OPS-B1", "OPS", type="Bug", priority="Blocker", created_at=local(2026, 9, 1)),
        item("OPS-B2", "OPS", type="Bug", priority="P1", created_at=local(2026, 10, 15)),
        item("OPS-B3", "OPS", type="Bug", priority="High", created_at=local(2026, 10, 16)),
        item("OPS-B4", "OPS", type="Bug", priority="Low", created_at=local(2026, 9, 1)),
    ]
    write(engine, items=bugs)
    check = run_checks(engine, config, as_of=as_of, rule_ids=["QUA-002"], write=False)
    report = build_report(engine, config, as_of=as_of, check=check)
    quality = {r["project"]: r for r in _table_rows(report, "quality")}
    assert quality["OPS"]["open_bugs"] == 4
    assert quality["OPS"]["open_high_bugs"] == 3
    o = check.outcomes
    (ops,) = o[(o["rule_id"] == "QUA-002") & (o["project_key"] == "OPS")].to_dict("records")
    assert ops["outcome"] == "finding" and "OPS-B1" in ops["message"], ops
    assert "OPS-B4" not in ops["message"]


@pytest.mark.parametrize(
    ("settings", "amber"),
    [("{amber: 0.3, red: 0.5}", False), ("{amber: 0.2, red: 0.24}", True), ("", True)],
    ids=["tuned-up", "tuned-down", "defaults"],
)
def test_rag_quality_bands_are_qua_001s(tmp_path: Path, settings: str, amber: bool) -> None:
    """PAY's reopen rate is 25 % (tests/test_metric_consistency.py). QUA-001 at the defaults
    (10 %/20 %) or tuned down fails it, and the status's quality dimension is not green and
    quotes the rate; QUA-001 tuned up to 30 % passes it, and the RAG agrees."""
    from rollup_data import write

    from pmohub.aggregator.config.loader import load_config_file
    from pmohub.aggregator.status.rollup import project_status
    from pmohub.aggregator.store.engine import open_store

    path = tmp_path / "pmohub.yaml"
    rules = f"rules:\n  QUA-001: {settings}\n" if settings else ""
    path.write_text(
        f"database: sqlite:///{tmp_path / 'store.db'}\n" + test_rollup.CONFIG_W + rules,
        encoding="utf-8",
    )
    config = load_config_file(path)
    engine = open_store(config.database)
    test_rollup.build(engine, config)
    write(engine, changes=consistency._extra_history())
    as_of = test_rollup.AS_OF
    check = run_checks(engine, config, as_of=as_of, rule_ids=["QUA-001"], write=False)
    o = check.outcomes.set_index("project_key")
    assert o.loc["PAY", "outcome"] == ("finding" if amber else "pass")
    if amber:  # a finding carries the rate (a pass carries no value)
        assert o.loc["PAY", "value"] == pytest.approx(0.25)
    pay = project_status(engine, config, as_of).projects.set_index("project_key").loc["PAY"]
    assert pay["reopen_rate"] == pytest.approx(0.25)
    assert (pay["rag_quality"] != "G") is amber, pay["rag_quality"]
    assert any("reopen rate 25%" in r for r in pay["rag_reasons"]) is amber
    if settings == "{amber: 0.2, red: 0.24}":
        assert pay["rag_quality"] == "R"  # above QUA-001's red


rollup_store = consistency.rollup_store
