"""``aggregator.status.load._join_runs``: the conflicts' "Defer ..." and "projects" texts,
joined per (person, week) without pandas' per-group string agg; it must equal that agg,
row order within a group kept, and take an empty frame."""

from __future__ import annotations

import pandas as pd

from pmohub.aggregator.status.load import _join_runs


def test_join_runs_equals_groupby_join() -> None:
    frame = pd.DataFrame(
        {
            "person_id": [1, 1, 1, 2, 2, 7],
            "week": [0, 0, 3, 0, 0, 0],
            "txt": ["b", "a", "c", "d", "e", "f"],
        }
    )
    got = _join_runs(frame, "txt", "; ")
    want = frame.groupby(["person_id", "week"])["txt"].agg("; ".join).reset_index()
    assert got["txt"].tolist() == ["b; a", "c", "d; e", "f"]
    assert got["txt"].tolist() == want["txt"].tolist()
    assert got[["person_id", "week"]].values.tolist() == want[["person_id", "week"]].values.tolist()


def test_join_runs_splits_on_week_alone_and_takes_empty() -> None:
    frame = pd.DataFrame({"person_id": [5, 5], "week": [1, 2], "txt": ["x", "y"]})
    assert _join_runs(frame, "txt", ", ")["txt"].tolist() == ["x", "y"]
    empty = _join_runs(frame.iloc[:0], "txt", ", ")
    assert len(empty) == 0 and list(empty.columns) == ["person_id", "week", "txt"]
