"""The BI layer: the bi_v1_* views exist with the contract's columns on SQLite and
PostgreSQL, their numbers equal `pmohub status` / `load` on the demo store, and the
exported Parquet / CSV files read back (pandas and pyarrow) to the same rows and types."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import text

from pmohub.aggregator.bi.contract import DATE, TS, VIEWS, file_name
from pmohub.aggregator.bi.export import export_bi, neutralise_csv, read_view_frame
from pmohub.aggregator.bi.refresh import refresh_bi_tables
from pmohub.aggregator.store.engine import open_store


def view_columns(engine: Any, view: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(f"SELECT * FROM {view} WHERE 1 = 0")).keys())


def test_views_have_the_contract_columns_on_both_databases(tmp_path: Path, store_url: str) -> None:
    from pmohub.aggregator.config.loader import parse_config

    engine = open_store(store_url)
    try:
        config = parse_config(f"version: 1\ndatabase: {store_url}\n")
        refresh_bi_tables(engine, config, as_of=dt.date(2026, 11, 21))
        for view, columns in VIEWS.items():
            assert view_columns(engine, view) == [c for c, _ in columns], view
            frame = read_view_frame(engine, view)  # typed read works on an empty store
            assert list(frame.columns) == [c for c, _ in columns]
        with engine.connect() as conn:
            days = conn.execute(text("SELECT count(*) FROM bi_v1_dim_calendar")).scalar()
        assert days > 700
    finally:
        engine.dispose()


# -- the demo store ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, dt.date]]:
    from pmohub.aggregator.demo.run import DEMO_AS_OF, run_demo

    out = tmp_path_factory.mktemp("bidemo")
    run = run_demo(out, now=lambda: dt.datetime.combine(DEMO_AS_OF, dt.time(3), dt.UTC))
    assert run.ok, run.failures
    engine = open_store(run.config.database)
    refresh_bi_tables(engine, run.config, as_of=DEMO_AS_OF)
    yield run.config, engine, DEMO_AS_OF
    engine.dispose()


def test_view_numbers_equal_pmohub_status(demo: tuple[Any, Any, dt.date]) -> None:
    from pmohub.aggregator.status.rollup import project_status
    from pmohub.aggregator.status.settings import LEAF_KINDS

    config, engine, as_of = demo
    status = project_status(engine, config, as_of).level("project").set_index("project_key")
    items = read_view_frame(engine, "bi_v1_fact_work_items")
    counted = items[items["kind"].isin(LEAF_KINDS) & (items["status_category"] != "cancelled")]
    total = counted.groupby("project_key").size()
    done = counted[counted["status_category"] == "done"].groupby("project_key").size()
    assert len(status) >= 10
    for key, row in status.iterrows():
        assert total.get(key, 0) == row["items_total"], key
        assert done.get(key, 0) == row["items_done"], key

    daily = read_view_frame(engine, "bi_v1_fact_daily_status")
    today = daily[daily["taken_on"] == as_of].set_index("project_key")
    assert set(today.index) == set(status.index)
    for key, row in status.iterrows():
        assert today.loc[key, "rag"] == row["rag"], key
        assert today.loc[key, "items_total"] == row["items_total"]
        assert today.loc[key, "progress_count"] == pytest.approx(row["progress_count"])

    projects = read_view_frame(engine, "bi_v1_dim_project").set_index("project_key")
    assert (
        projects.loc[status.index, "programme_key"].fillna("") == status["programme"].fillna("")
    ).all()
    assert (projects.loc[status.index, "portfolio_key"] == status["portfolio"]).all()


def test_view_numbers_equal_pmohub_load(demo: tuple[Any, Any, dt.date]) -> None:
    from pmohub.aggregator.status.load import person_load

    config, engine, as_of = demo
    rep = person_load(engine, config, as_of)
    team = rep.team_utilisation.set_index("week_start")["logged_h"]
    logs = read_view_frame(engine, "bi_v1_fact_worklogs")
    logs = logs[logs["person_id"].notna()]
    local = logs["started_at"].dt.tz_convert(config.timezone).dt.tz_localize(None)
    monday = (local.dt.normalize() - pd.to_timedelta(local.dt.day_of_week, unit="D")).dt.date
    hours = logs["hours"].astype(float).groupby(monday).sum()
    assert len(team) >= 4 and team.sum() > 0
    for week, logged in team.items():
        assert hours.get(week, 0.0) == pytest.approx(logged), week


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_reads_back_to_the_same_rows_and_types(
    demo: tuple[Any, Any, dt.date], tmp_path: Path, fmt: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    config, engine, as_of = demo
    written = export_bi(engine, config, tmp_path, fmt=fmt)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert [t["view"] for t in manifest["tables"]] == list(VIEWS)
    for view, columns in VIEWS.items():
        expected = read_view_frame(engine, view)
        path = written[view]
        assert path.name == f"{file_name(view)}.{fmt}"
        if fmt == "parquet":
            schema = pq.read_schema(path)
            for name, kind in columns:
                if kind == TS:
                    assert schema.field(name).type == pa.timestamp("us", tz="UTC")
                if kind == DATE:
                    assert schema.field(name).type == pa.date32()
            got = pd.read_parquet(path)
            assert pq.read_table(path).num_rows == len(expected)
            assert [str(t) for t in got.dtypes] == [str(t) for t in expected.dtypes], view
            pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        else:
            got = pd.read_csv(path, dtype=str, keep_default_na=False)
            assert list(got.columns) == [c for c, _ in columns]
            assert len(got) == len(expected), view
    if fmt == "parquet":
        items = pd.read_parquet(tmp_path / "fact_work_items.parquet")
        assert str(items["created_at"].dt.tz) == "UTC"
        assert str(items["work_item_id"].dtype) == "Int64"


def test_export_as_of_leaves_out_later_events(
    demo: tuple[Any, Any, dt.date], tmp_path: Path
) -> None:
    config, engine, as_of = demo
    early = dt.date(2026, 10, 1)
    export_bi(engine, config, tmp_path, fmt="parquet", as_of=early)
    changes = pd.read_parquet(tmp_path / "fact_status_changes.parquet")
    daily = pd.read_parquet(tmp_path / "fact_daily_status.parquet")
    limit = pd.Timestamp("2026-10-02", tz=config.timezone).tz_convert("UTC")
    assert len(changes) and (changes["changed_at"] < limit).all()
    assert len(changes) < len(read_view_frame(engine, "bi_v1_fact_status_changes"))
    assert (daily["taken_on"] <= early).all()


def test_csv_neutralises_formula_cells_only_in_text_columns() -> None:
    frame = pd.DataFrame(
        {
            "title": ['=HYPERLINK("https://evil")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "ok"],
            "value": [-1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    out = neutralise_csv(frame, [("title", "str"), ("value", "float")])
    assert out["title"].tolist() == [
        "'=HYPERLINK(\"https://evil\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "ok"
    ]  # fmt: skip
    assert out["value"].tolist()[0] == -1.0
