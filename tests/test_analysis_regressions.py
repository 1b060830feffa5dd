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
