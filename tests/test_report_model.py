"""The report model and its file formats, from a real synced store (SQLite and PostgreSQL):
every docs/report.md heading in English and Chinese, traceability, per-portfolio scope,
graceful degradation, and the Excel workbook read back with openpyxl and pandas equal to
the JSON (real dates and numbers, frozen headers, filters, RAG colours)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest
from reportkit import AS_OF, SCRIPT_TITLE, synced_project

from pmohub.aggregator.report import context as report_context
from pmohub.aggregator.report import model as report_model
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.i18n import CATALOGUE, t
from pmohub.aggregator.report.render import (
    TRANSLATED_KINDS,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_xlsx,
    xlsx_sheets,
)
from pmohub.aggregator.report.sections import SECTION_KEYS, SECTIONS
from pmohub.aggregator.report.sections import resources as resources_section
from pmohub.aggregator.report.sections import schedule as schedule_section
from pmohub.connectors.errors import PmohubError

RULES_MD_HEADINGS = [
    ("Executive summary", "总体概述"),
    ("Portfolio dashboard", "项目组合总览"),
    ("Schedule and milestones", "进度与里程碑"),
    ("Cost and effort", "成本与工时"),
    ("Scope and change control", "范围与变更控制"),
    ("Risks and issues", "风险与问题"),
    ("Resources and conflicts", "资源负荷与冲突"),
    ("Quality", "质量"),
    ("Compliance findings", "合规检查结果"),
    ("Corrective and preventive actions", "纠正与预防措施"),
    ("Closure and lessons learned", "项目收尾与经验教训"),
    ("Data-quality notes", "数据质量说明"),
]


@pytest.fixture(scope="module")
def sqlite_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return synced_project(tmp_path_factory.mktemp("model"))


def test_sections_headings_and_traceability(store_url: str, tmp_path: Path) -> None:
    config, engine = synced_project(tmp_path / "p", database=store_url)
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF")
    data = json.loads(render_json(report, "en"))
    assert [s["id"] for s in data["sections"]] == list(SECTION_KEYS)
    assert [(s["title"]["en"], s["title"]["zh"]) for s in data["sections"]] == RULES_MD_HEADINGS
    assert [s["number"] for s in data["sections"]] == list(range(1, 13))

    trace = data["trace"]
    assert trace["as_of"] == "2026-11-21"
    (run,) = trace["sync_runs"]
    assert run["source"] == "plan" and run["status"] == "ok" and isinstance(run["run_id"], int)
    assert run["started_at"].endswith("Z")
    assert {r["id"] for r in trace["rules"]} >= {"VAR-001", "REG-002", "RPT-001"}
    assert all(r["version"] for r in trace["rules"])
    assert trace["projects"] == ["HOST"]

    # Findings in the report are the store's findings (lifecycle states), scoped to PF.
    comp = report.section("compliance")
    rows = comp.tables[1].rows
    assert rows and {r["state"] for r in rows} <= {"new", "persisting", "waived", "resolved"}
    assert all(r["project"] in ("HOST", None) for r in rows)
    per_rule = {r["rule"]: r for r in comp.tables[0].rows}
    assert sum(r["new"] + r["persisting"] for r in per_rule.values()) == sum(
        1 for r in rows if r["state"] in ("new", "persisting")
    )
    # Tracker text is data, never markup, in the model.
    risks = report.section("risks").tables[0].rows
    assert [r["title"] for r in risks] == [SCRIPT_TITLE]
    # Data-quality: sources and their last sync, estimate coverage per project.
    dq = {t.id: t for t in report.section("data_quality").tables}
    assert dq["sources"].rows[0]["run_id"] == run["run_id"]
    cov = dq["coverage"].rows[0]
    assert cov["project"] == "HOST" and 0 < cov["coverage"] <= 1
    engine.dispose()


def test_portfolio_scope_monthly_trends_and_unknown_portfolio(sqlite_project) -> None:
    config, engine = sqlite_project
    other = build_report(engine, config, as_of=AS_OF, portfolio="OTHER")
    assert other.trace["projects"] == ["EMPTY"]
    assert other.section("risks").tables[0].rows == []
    everything = build_report(engine, config, as_of=AS_OF, monthly=True)
    assert everything.kind == "monthly" and everything.sections[-1].id == "trends"
    assert everything.sections[-1].title == {
        "en": "Trend analysis (3 months)",
        "zh": "趋势分析（近三个月）",
    }
    weeks = everything.sections[-1].tables[0].rows
    assert len(weeks) == 13 and weeks[-1]["week"] == AS_OF
    # two done items in the plan: H-1 (2026-10-19) and H-8 (2026-11-12)
    assert sum(w["throughput"] for w in weeks) == 2
    levels = [r["level"] for r in everything.section("dashboard").tables[0].rows]
    assert levels.count("portfolio") == 2 and "programme" in levels
    with pytest.raises(PmohubError, match="no portfolio 'NOPE'.*OTHER, PF"):
        build_report(engine, config, as_of=AS_OF, portfolio="NOPE")


def test_failing_computations_degrade_to_notes(
    sqlite_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roll-up, load and forecast raising: the report still builds, says "not available"
    (with the error) and never invents a colour."""
    config, engine = sqlite_project

    def broken(what: str) -> Any:
        def fail(*_a: Any, **_k: Any) -> Any:
            raise RuntimeError(f"{what} exploded")

        return fail

    monkeypatch.setattr(report_context, "status_of_day", broken("roll-up"))
    monkeypatch.setattr(schedule_section, "forecast_projects", broken("forecast"))
    monkeypatch.setattr(resources_section, "load_frame", broken("load"))
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF")
    assert all(
        r["rag"] == "ne"
        for r in report.section("dashboard").tables[0].rows
        if r["level"] == "project"
    )
    assert report.section("resources").available is False
    notes = [n for n in report.notes if n["key"] == "note.unavailable"]
    whats = {n["params"]["what"] for n in notes}
    assert {report_context.STATUS_UNAVAILABLE, "resource load", "Monte Carlo P50/P85/P95"} <= whats
    text = render_markdown(report, "zh")
    # issue 14: words for the director, the exception text in the log only
    assert "暂不可用" in text and "内部错误" in text
    assert "exploded" not in text


@pytest.mark.parametrize("module", ["rollup", "forecast", "load"])
def test_a_missing_status_module_is_loud(module: str) -> None:
    """The report imports the roll-up, forecast and load plainly: a renamed or missing module
    is an ImportError when the report is imported (in a fresh interpreter, as a user would
    meet it), not a quiet "not available" note in a report that still goes out."""
    import subprocess
    import sys

    name = f"pmohub.aggregator.status.{module}"
    code = (
        f"import sys; sys.modules[{name!r}] = None\n"
        "try:\n    import pmohub.aggregator.report.build\n"
        "except ImportError as exc:\n    print(exc); sys.exit(3)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    assert name in run.stdout


def _expected_cell(value: Any, kind: str, lang: str, tz: dt.tzinfo = dt.UTC) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        from pmohub.aggregator.report.i18n import text_of

        return text_of(value, lang)
    if kind in TRANSLATED_KINDS:
        return t(f"{TRANSLATED_KINDS[kind]}.{value}", lang)
    if kind == "date":
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(0))
    if kind == "datetime":
        # the configured zone's wall clock, as the HTML shows it (issue 15)
        aware = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return aware.astimezone(tz).replace(tzinfo=None)
    return value


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_excel_equals_json(sqlite_project, tmp_path: Path, lang: str) -> None:
    config, engine = sqlite_project
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF", monthly=True)
    data = json.loads(render_json(report, lang))
    path = tmp_path / "r.xlsx"
    path.write_bytes(render_xlsx(report, lang))
    wb = openpyxl.load_workbook(path)
    zone = report.trace["timezone"]
    tables = [(s, tab) for s in data["sections"] for tab in s["tables"]]
    assert len(wb.sheetnames) == 1 + len(tables) == 1 + len(xlsx_sheets(report))
    assert wb.sheetnames[0] == ("Report" if lang == "en" else "报告")
    checked_types: set[str] = set()
    for name, (section, tab) in zip(wb.sheetnames[1:], tables, strict=True):
        ws = wb[name]
        assert name.startswith(f"{section['number']:02d}")
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
        header = [c.value for c in ws[1]]
        assert header == [
            t(c["label"], lang) + (f" ({zone})" if c["kind"] == "datetime" else "")
            for c in tab["columns"]
        ]
        body = list(ws.iter_rows(min_row=2, values_only=True))
        assert len(body) == len(tab["rows"])
        for row, cells in zip(tab["rows"], body, strict=True):
            for col, cell in zip(tab["columns"], cells, strict=True):
                kind = row.get("kind") or "text" if col["kind"] == "mixed" else col["kind"]
                expected = _expected_cell(row.get(col["key"]), kind, lang, ZoneInfo(zone))
                if isinstance(expected, float):
                    assert cell == pytest.approx(expected), (name, col["key"])
                else:
                    assert cell == expected, (name, col["key"], cell, expected)
                if cell is not None:
                    if kind in ("date", "datetime"):
                        assert isinstance(cell, dt.datetime)
                        checked_types.add(kind)
                    elif kind in ("int", "float", "percent", "hours"):
                        assert isinstance(cell, int | float) and not isinstance(cell, bool)
                        checked_types.add("number")
        rag_cols = [i for i, c in enumerate(tab["columns"], start=1) if c["kind"] == "rag"]
        if rag_cols and tab["rows"]:
            rules = [r for cf in ws.conditional_formatting for r in cf.rules]
            labels = {r.formula[0].strip('"') for r in rules}
            assert labels >= {t(f"rag.{k}", lang) for k in ("green", "amber", "red")}
            checked_types.add("rag")
    assert checked_types >= {"date", "datetime", "number", "rag"}

    # pandas sees real types too: dates as datetime64, numbers as numbers.
    frames = pd.read_excel(path, sheet_name=None)
    ms_sheet = next(n for n in frames if n.startswith("03 "))
    ms = frames[ms_sheet]
    assert pd.api.types.is_datetime64_any_dtype(ms[t("col.due_on", lang)])
    eff = frames[next(n for n in frames if n.startswith("04 "))]
    assert pd.api.types.is_numeric_dtype(eff[t("col.planned_h", lang)])
    assert eff[t("col.planned_h", lang)].sum() == pytest.approx(
        sum(r["planned_h"] for r in report.section("cost").tables[0].rows)
    )


def test_csv_carries_every_cell(sqlite_project) -> None:
    config, engine = sqlite_project
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF")
    rows = list(csv.DictReader(io.StringIO(render_csv(report, "en"))))
    expected = sum(len(t.rows) * len(t.columns) for s in report.sections for t in s.tables)
    assert len(rows) == expected
    risk = [r for r in rows if r["table"] == "top_risks" and r["column"] == "title"]
    assert [r["value"] for r in risk] == [SCRIPT_TITLE]


def test_one_time_zone_in_every_rendering(sqlite_project, tmp_path: Path) -> None:
    """The xlsx, CSV, HTML and Markdown show the same wall-clock time, in the configured
    zone (issue 15: the xlsx showed UTC while the HTML showed local time)."""
    config, engine = sqlite_project
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF")
    zone = ZoneInfo(report.trace["timezone"])
    assert zone.key == "Asia/Shanghai"  # reportkit's config: 8 hours away from UTC
    local = report.generated_at.astimezone(zone)
    shown = local.strftime("%Y-%m-%d %H:%M")
    path = tmp_path / "r.xlsx"
    path.write_bytes(render_xlsx(report, "en"))
    cover = openpyxl.load_workbook(path)["Report"]
    assert cover["A4"].value.endswith("(Asia/Shanghai)")
    assert cover["B4"].value == local.replace(tzinfo=None, microsecond=0)
    assert shown in render_markdown(report, "en")
    assert shown in render_html(report, "en")
    kinds = {(t_.id, c.key): c.kind for s in report.sections for t_ in s.tables for c in t_.columns}
    stamps = [
        r["value"]
        for r in csv.DictReader(io.StringIO(render_csv(report, "en")))
        if kinds.get((r["table"], r["column"])) == "datetime" and r["value"]
    ]
    assert stamps and all(v.endswith("+08:00") for v in stamps), stamps[:3]


def test_markdown_escapes_tracker_text(sqlite_project) -> None:
    config, engine = sqlite_project
    md = render_markdown(build_report(engine, config, as_of=AS_OF, portfolio="PF"), "en")
    assert SCRIPT_TITLE not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "## 9. Compliance findings / 合规检查结果" in md


def test_catalogue_is_complete() -> None:
    """Every key the model and renderers use exists in both languages."""
    import re

    src = "".join(
        p.read_text(encoding="utf-8")
        for p in sorted(Path(report_model.__file__).parent.rglob("*.py"))
        if p.name != "i18n.py"
    )
    keys = set(
        re.findall(r'"((?:sec|tbl|col|chart|msg|note|m|dec|trace|label|title)\.[a-z_0-9]+)"', src)
    )
    keys |= {f"sec.{spec.id}" for spec in SECTIONS}  # headings come from the ordered list
    missing = sorted(k for k in keys if k not in CATALOGUE)
    assert missing == []
    assert all(en and zh for en, zh in CATALOGUE.values())
