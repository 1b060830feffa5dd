"""One value per metric (issue 14): a metric that appears in several places -- ``pmohub
status --format json``, the report's sections and the check's outcomes (findings) -- has the
same value for a project in each, at each place's rounding, and is not evaluable (N/E)
in all of them or in none.

The store is the hand-computed one of tests/test_rollup.py (hours baseline CRM, points
baseline PAY, no baseline OPS, worklogs, milestones, risks) plus status histories that put a
reopen inside the reopen window, outside it but inside the 90-day flow window, and on an
item reopened and still open. Before one definition (rules/formulas.py reopen_rate) the three
reopen rates of that store were CRM 0.5 / 0.33 / 0.5, OPS 1.0 / 0 / 0 and PAY 0 / 0.25 / 0.25
(status / report / QUA-001). A second, generated store (tests/storegen.py) takes every
project through the same comparison.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
import test_rollup
from click.testing import CliRunner
from rollup_data import local, moves, write
from storegen import AS_OF as GEN_AS_OF
from storegen import build_store
from test_analysis_properties import _item, _project, _shape

from pmohub.aggregator.compliance.baselines import take_baseline
from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.i18n import CATALOGUE
from pmohub.aggregator.store.engine import open_store
from pmohub.cli.main import main
from pmohub.connectors import records as rec
from pmohub.rules.formulas import REOPEN_WINDOW_DAYS

TODO, IP, DONE = test_rollup.TODO, test_rollup.IP, test_rollup.DONE


def _extra_history() -> list[rec.StatusChange]:
    """Reopens the 30-day window and the 90-day flow window see differently."""
    return [
        # OPS-1 (done Oct 9): done and reopened in August, inside 90 days, outside 30.
        *moves(
            "OPS-1",
            (TODO, IP, local(2026, 8, 3)),
            (IP, DONE, local(2026, 8, 10)),
            (DONE, IP, local(2026, 8, 20)),
            (IP, DONE, local(2026, 10, 9)),
        ),
        # PAY-5 (to do now): done on Oct 5, reopened on Oct 8 and not done since.
        *moves(
            "PAY-5",
            (TODO, IP, local(2026, 10, 1)),
            (IP, DONE, local(2026, 10, 5)),
            (DONE, TODO, local(2026, 10, 8)),
        ),
    ]


def _cli_status(config_path: Path, day: dt.date) -> dict[str, dict[str, Any]]:
    try:  # click < 8.2 mixes stderr into stdout unless told not to
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        runner = CliRunner()
    args = ["--config", str(config_path), "--quiet", "status", "--as-of", day.isoformat()]
    res = runner.invoke(main, [*args, "--format", "json"])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 0, res.output
    return {r["project_key"]: r for r in json.loads(res.stdout)}


def _table(report: Any, table_id: str) -> dict[str, dict[str, Any]]:
    for sec in report.sections:
        for t in sec.tables:
            if t.id == table_id:
                return {str(r.get("project") or r.get("key")): r for r in t.rows}
    raise AssertionError(f"no table {table_id}")


def _status_rows(report: Any) -> dict[str, dict[str, Any]]:
    for sec in report.sections:
        for t in sec.tables:
            if t.id == "status":
                return {str(r["key"]): r for r in t.rows if r.get("level") == "project"}
    raise AssertionError("no status table")


def _num(v: Any) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def _same(where: str, key: str, got: Any, want: Any, nd: int | None) -> None:
    """``got`` (shown at ``nd`` decimals, None = unrounded) is ``want``; both N/E or neither."""
    g, w = _num(got), _num(want)
    assert (g is None) == (w is None), (where, key, got, want)
    if w is not None:
        expected = w if nd is None else round(w, nd)
        assert g == pytest.approx(expected, abs=1e-9), (where, key, got, want)


def _outcomes(check: Any, rule_id: str) -> dict[str, dict[str, Any]]:
    o = check.outcomes
    o = o[o["rule_id"] == rule_id]
    return {str(r["project_key"]): r for r in o.to_dict("records")}


def _rule_value(row: dict[str, Any] | None) -> float | None:
    if row is None or row["outcome"] == "ne":
        return None
    return _num(row["value"])


def _same_rule(rule_id: str, key: str, row: dict[str, Any] | None, want: Any) -> bool:
    """The rule evaluates the project exactly when the metric has a value, and a finding's
    value is the metric (a pass carries none). True when a value was compared."""
    assert row is not None, (rule_id, key)
    w = _num(want)
    assert (row["outcome"] == "ne") == (w is None), (rule_id, key, row, want)
    got = _num(row["value"])
    if got is None:
        assert row["outcome"] != "finding", (rule_id, key, row)
        return False
    assert got == pytest.approx(w, abs=1e-12), (rule_id, key, got, want)
    return True


def assert_one_value_per_metric(
    status: dict[str, dict[str, Any]], report: Any, check: Any
) -> dict[str, int]:
    """Every metric of several places, project by project; returns how many values were
    compared per metric (so a test can insist the comparison was not vacuous)."""
    seen: dict[str, int] = {}
    quality = _table(report, "quality")
    cost = _table(report, "effort")
    forecast = _table(report, "schedule")
    rows = _status_rows(report)
    qua = _outcomes(check, "QUA-001")
    var3 = _outcomes(check, "VAR-003")
    var4 = _outcomes(check, "VAR-004")
    for key, st in status.items():
        # Reopen rate: the status metric (the RAG quality reason), the report's quality
        # column (a share at 4 decimals) and QUA-001's value; N/E in all or none.
        rr = st.get("reopen_rate")
        _same("report quality", key, quality[key]["reopen_rate"], rr, 4)
        _same_rule("QUA-001", key, qua.get(key), rr)
        seen["reopen_rate"] = seen.get("reopen_rate", 0) + (rr is not None)
        # CPI: status, the report's status and cost tables (2 decimals), VAR-004.
        cpi = st.get("cpi")
        _same("report status", key, rows[key]["cpi"], cpi, 2)
        _same("report cost", key, cost[key]["cpi"], cpi, 2)
        _same_rule("VAR-004", key, var4.get(key), cpi)
        seen["cpi"] = seen.get("cpi", 0) + (cpi is not None)
        # SPI(t): status, report status and forecast tables; VAR-003 where it evaluates
        # (it waits for 10 % of BAC planned, a rule decision, not another SPI(t)).
        spi_t = st.get("spi_t")
        _same("report status", key, rows[key]["spi_t"], spi_t, 2)
        if key in forecast:
            _same("report schedule", key, forecast[key]["spi_t"], spi_t, 2)
        v3 = _rule_value(var3.get(key))
        if v3 is not None:
            _same("VAR-003", key, v3, spi_t, None)
            seen["spi_t"] = seen.get("spi_t", 0) + 1
        # Progress and compliance: status and the report's status table (the report reads
        # the status's compliance; it once scored a read-only check run of its own).
        _same("report status", key, rows[key]["compliance"], st.get("compliance"), 1)
        _same("report status", key, rows[key]["progress_count"], st.get("progress_count"), 4)
        _same("report status", key, rows[key]["progress_estimate"], st.get("progress_estimate"), 4)
    return seen


@pytest.fixture
def rollup_store(tmp_path: Path) -> tuple[Path, Any, Any]:
    db = tmp_path / "store.db"
    path = tmp_path / "pmohub.yaml"
    path.write_text(f"database: sqlite:///{db}\n" + test_rollup.CONFIG_W, encoding="utf-8")
    config = load_config_file(path)
    engine = open_store(config.database)
    test_rollup.build(engine, config)
    write(engine, changes=_extra_history())
    return path, config, engine


def test_one_value_per_metric_on_the_rollup_store(rollup_store) -> None:
    path, config, engine = rollup_store
    as_of = test_rollup.AS_OF
    status = _cli_status(path, as_of)
    check = run_checks(engine, config, as_of=as_of, write=False)
    report = build_report(engine, config, as_of=as_of, check=check)
    seen = assert_one_value_per_metric(status, report, check)
    assert seen["reopen_rate"] == 3 and seen["cpi"] >= 1 and seen["spi_t"] >= 1, seen
    # The hand-counted rates over the window (Sep 16 .. Oct 16, local days): items
    # reopened in it / items that entered done in it.
    assert REOPEN_WINDOW_DAYS == 30
    assert status["CRM"]["reopen_rate"] == pytest.approx(1 / 2)  # CRMA-4 / CRMA-1, CRMA-4
    assert status["OPS"]["reopen_rate"] == 0.0  # reopened in August: outside the window
    assert status["PAY"]["reopen_rate"] == pytest.approx(1 / 4)  # PAY-5 / PAY-1, 2, 3, 5
    # The RAG quality reason quotes the same number.
    assert any("reopen rate 25%" in r for r in status["PAY"]["rag_reasons"]), status["PAY"]
    # The column says the window it shows.
    assert f"({REOPEN_WINDOW_DAYS} d)" in CATALOGUE["col.reopen_rate"][0]


def test_cpi_not_evaluable_everywhere_below_hour_coverage(rollup_store) -> None:
    """A baseline with hours on fewer than 80 % of its items: no CPI in the status, the
    report or VAR-004 (docs/metrics.md 2.4), although worklogs exist."""
    path, config, engine = rollup_store
    as_of = test_rollup.AS_OF
    status = _cli_status(path, as_of)
    check = run_checks(engine, config, as_of=as_of, rule_ids=["VAR-004"], write=False)
    assert status["PAY"]["evm_unit"] == "pts"
    assert status["PAY"]["cpi"] is None
    assert _outcomes(check, "VAR-004")["PAY"]["outcome"] == "ne"
    assert status["CRM"]["cpi"] == pytest.approx(_rule_value(_outcomes(check, "VAR-004")["CRM"]))


#: a generated portfolio: two sources, estimates in hours, points and none, worklogs,
#: reopened items, risks, milestones; baselines taken on every project
GENERATED = {
    **_shape(_project(), people=2),
    "sources": [
        [
            _project(
                _item(cat="done", history=True, reopened=True, orig_h=8.0, start=-40, due=-10),
                _item(cat="done", history=True, orig_h=16.0, worklog_h=20.0, assignee=0, due=-5),
                _item(cat="in_progress", history=True, orig_h=8.0, worklog_h=4.0, assignee=1),
                _item(cat="todo", orig_h=4.0, due=20),
                _item(type="Risk", fields={"risk_probability": 5, "risk_impact": 5}),
                milestones=[{"due": -10, "released": True, "released_on": -2}],
            ),
            _project(
                _item(cat="done", history=True, points=3.0, reopened=True),
                _item(cat="done", history=True, points=8.0, reopened=True),
                _item(cat="done", history=True, points=1.0),
                _item(cat="in_progress", history=True, points=3.0, due=5),
                _item(cat="cancelled", points=8.0),
            ),
        ],
        [
            _project(
                _item(cat="done", history=True, orig_h=2.0, worklog_h=6.0, assignee=0),
                _item(cat="todo", orig_h=2.0, due=-3),
                _item(cat="todo"),
            ),
            _project(),  # nothing at all: N/E everywhere
            # hours on every item, no date anywhere: EV and AC, so a CPI, but no schedule
            _project(
                _item(cat="done", history=True, orig_h=6.0, worklog_h=8.0, assignee=1),
                _item(cat="in_progress", history=True, orig_h=4.0, worklog_h=2.0, assignee=0),
            ),
        ],
    ],
}


def test_one_value_per_metric_on_a_generated_store(tmp_path: Path) -> None:
    config, engine = build_store(tmp_path, GENERATED)
    baseline_at = dt.datetime.combine(GEN_AS_OF - dt.timedelta(days=45), dt.time(1), tzinfo=dt.UTC)
    for pf in config.hierarchy:
        for p in [*pf.projects, *(q for g in pf.programmes for q in g.projects)]:
            take_baseline(engine, config, p.key, "plan-approved", taken_at=baseline_at)
    status = _cli_status(tmp_path / "pmohub.yaml", GEN_AS_OF)
    check = run_checks(engine, config, as_of=GEN_AS_OF, write=False)
    report = build_report(engine, config, as_of=GEN_AS_OF, check=check)
    seen = assert_one_value_per_metric(status, report, check)
    assert seen["reopen_rate"] >= 3 and seen["cpi"] >= 2, seen
