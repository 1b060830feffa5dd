"""The compliance loader reads big tables a chunk of rows at a time (peak memory); the
frame must be the one a single read gives, dtypes included, also when a chunk holds
only missing values of a column the others fill (the case chunk inference gets wrong)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert

from pmohub.aggregator.compliance import frames
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.engine import open_store
from pmohub.rules.frames import map_categories


def _item(i: int) -> dict:
    late = i >= 3  # rows 0-2 (the first chunk of 3) leave the optional columns empty
    return {
        "id": i + 1,
        "source": "s",
        "external_id": str(i),
        "key": f"P-{i}",
        "project_id": 1,
        "project_key": "P",
        "title": f"item {i}",
        "type": "Story",
        "status": "Done" if i % 2 else "To Do",
        "status_category": "done" if i % 2 else "todo",
        "assignee": f"user{i}" if late else None,
        "parent_id": 1 if late else None,
        "story_points": float(i) if late else None,
        "created_at": dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC),
        "resolved_at": dt.datetime(2026, 2, i + 1, 9, 30, tzinfo=dt.UTC) if late else None,
        "due_on": dt.date(2026, 3, i + 1) if late else None,
        "labels": ["a", "b"] if late else None,
        "extra": {"risk_impact": 3} if late else None,
    }


@pytest.fixture()
def engine(tmp_path: Path):
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        conn.execute(
            insert(m.Source.__table__),
            [{"name": "s", "type": "jira", "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}],
        )
        conn.execute(
            insert(m.Project.__table__),
            [{"id": 1, "source": "s", "external_id": "1", "key": "P", "name": "P"}],
        )
        conn.execute(insert(m.WorkItem.__table__), [_item(i) for i in range(8)])
    yield engine
    engine.dispose()


COLUMNS = (
    "id", "key", "status", "assignee", "parent_id", "story_points",
    "created_at", "resolved_at", "due_on", "labels", "extra",
)  # fmt: skip


def test_chunked_read_is_one_read(engine, monkeypatch) -> None:
    monkeypatch.setattr(frames, "READ_CHUNK", 1_000)
    whole = frames._read(engine, m.WorkItem.__table__, COLUMNS)
    monkeypatch.setattr(frames, "READ_CHUNK", 3)
    chunked = frames._read(engine, m.WorkItem.__table__, COLUMNS)
    assert whole["parent_id"].dtype == "float64"  # missing integers: NaN in one read
    assert whole["resolved_at"].dtype == "datetime64[us, UTC]"
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)


def test_map_categories_by_distinct_name() -> None:
    values = pd.Series(["Done", "DONE", None, "in review", "Done", "odd"], index=[9, 8, 7, 6, 5, 4])
    got = map_categories(values, {"Done": "done", "In Review": "in_progress"})
    expected = pd.Series(
        ["done", "done", None, "in_progress", "done", None], index=values.index, dtype=object
    )
    pd.testing.assert_series_equal(got.fillna("-"), expected.fillna("-"))
