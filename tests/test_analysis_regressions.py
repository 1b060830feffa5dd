"""Regression cases of issue 14: each crash and each report defect found on real-shaped
stores (a plain CSV plan; the demo), kept as explicit tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import reportkit

from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.ingest.sync import sync_all
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.store.engine import open_store
from pmohub.rules.calendar import calendar_dates

AS_OF = reportkit.AS_OF


def _plan(tmp_path: Path, csv: str):
    config = load_config_file(reportkit.write_project(tmp_path))
    (tmp_path / "plan.csv").write_text(csv, encoding="utf-8")
    engine = open_store(config.database)
    assert all(r.status == "ok" for r in sync_all(engine, list(config.sources.values())))
    return config, engine


def test_status_on_a_plan_whose_versions_have_no_release_date(tmp_path: Path) -> None:
    """pandas 3: `.dt.date` of an all-NaT column stays datetime64 and comparing it with a
    date raised 'Invalid comparison between dtype=datetime64[s] and date'."""
    config, engine = _plan(tmp_path, reportkit.PLAN_CSV)
    res = project_status(engine, config, AS_OF, history=True)
    assert "HOST" in set(res.projects["project_key"])


def test_calendar_dates_of_an_all_null_column_are_none() -> None:
    out = calendar_dates(pd.Series([None, None], dtype=object))
    assert out.tolist() == [None, None]
    mixed = calendar_dates(pd.Series([None, dt.date(2026, 1, 2)], dtype=object))
    assert mixed.tolist() == [None, dt.date(2026, 1, 2)]
    assert mixed.map(lambda d: d is not None and d > dt.date(2026, 1, 1)).tolist() == [False, True]


def test_chg_001_with_a_baseline_and_no_milestone(tmp_path: Path) -> None:
    """CHG-001 raised 'Cannot cast DatetimeArray to dtype float64' (an empty milestone
    frame mapped through .map) whenever the store had no milestone."""
    csv = reportkit.PLAN_CSV.replace(",Milestone,", ",Task,").replace(",Go-live,", ",,")
    config, engine = _plan(tmp_path, csv)
    from pmohub.aggregator.compliance.baselines import take_baseline

    take_baseline(engine, config, "HOST")
    result = run_checks(engine, config, as_of=AS_OF, write=False)
    assert result.errors == []
    chg = result.outcomes[result.outcomes["rule_id"] == "CHG-001"]
    assert len(chg) and not chg["reason"].fillna("").str.contains("error").any()


def _report_texts(config, engine) -> dict[str, str]:
    from pmohub.aggregator.report.build import build_report
    from pmohub.aggregator.report.render import render

    report = build_report(engine, config, as_of=AS_OF)
    return {
        f"{fmt}_{lang}": render(report, fmt, lang).decode("utf-8")
        for fmt in ("md", "html", "csv")
        for lang in ("en", "zh")
    }


def test_forecast_without_history_says_so_instead_of_two_years(tmp_path: Path) -> None:
    """A project with open items and no completion printed '> 2 years' as its forecast."""
    from pmohub.aggregator.status.forecast import project_forecasts

    csv = reportkit.PLAN_CSV.replace(",Done,", ",To Do,").replace("2026-10-19,", ",")
    config, engine = _plan(tmp_path, csv.replace("2026-11-12,To Do", ",To Do"))
    fc = project_forecasts(engine, config, AS_OF).set_index("project_key")
    assert fc.loc["HOST", "basis"] == "no_history"
    assert fc.loc["HOST", "p85"] is None
    texts = _report_texts(config, engine)
    assert "no history yet" in texts["md_en"] and "暂无历史" in texts["md_zh"]
    assert "2 years" not in texts["md_en"]


def test_findings_of_a_person_show_no_nan_project(tmp_path: Path) -> None:
    """RES-001 findings (subject person:N, no project) printed 'nan' in the project column
    of the resource and compliance tables; an empty table said 'None'; the trace said
    'None .. None' before the first snapshot."""
    config, engine = reportkit.synced_project(tmp_path)
    from pmohub.aggregator.store import models as m

    with engine.begin() as conn:
        conn.execute(
            m.Finding.__table__.insert().values(
                rule_id="RES-001",
                subject="person:1",
                scope="person",
                severity="high",
                state="new",
                message="张伟 W48 150%: move 10 h",
                first_seen_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
                last_seen_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
            )
        )
    for fmt, text in _report_texts(config, engine).items():
        for word in ("nan", "None", "NaT"):
            assert f"| {word} |" not in text and f">{word}<" not in text, (fmt, word)
        assert "None .. None" not in text, fmt


def test_var_001_names_the_assignee_not_the_account_id(tmp_path: Path) -> None:
    """VAR-001 listed late items as 'H-6 (li@example.cn, +12 wd)' (the tracker's account
    id; on Jira Cloud 24 opaque characters) instead of the person's display name."""
    config, engine = reportkit.synced_project(tmp_path)
    result = run_checks(engine, config, as_of=AS_OF, write=False)
    var = result.outcomes[(result.outcomes["rule_id"] == "VAR-001")]
    message = " ".join(var["message"].dropna())
    assert "H-6 (李娜" in message, message
    assert "@example.cn" not in message
