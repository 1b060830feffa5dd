"""Jira CSV exports read as spreadsheets (issue 12): the shape of a real Data Center export
(``Issue key``/``Issue id``/``Parent id``, repeated columns, ``10/May/22 10:37 PM`` dates,
estimates in seconds, huge comment cells), written here by hand so every expected value is
known. The real export itself is replayed by tests/test_realpayloads_partb.py."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from pmohub.connectors.base import ChildrenComplete, Problem, Skipped, SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.records import Milestone, WorkItem
from pmohub.connectors.spreadsheet import SpreadsheetConnector

HEADER = [
    "Summary", "Issue key", "Issue id", "Parent id", "Issue Type", "Status", "Project key",
    "Assignee", "Created", "Resolved", "Fix Version/s", "Fix Version/s", "Component/s",
    "Component/s", "Labels", "Labels", "Sprint", "Sprint", "Sprint", "Original Estimate",
    "Time Spent", "Custom field (Story Points)", "Comment",
]  # fmt: skip


def row(**kw: str) -> list[str]:
    base = dict.fromkeys(range(len(HEADER)), "")
    values = {
        0: kw.get("summary", "Story"),
        1: kw["key"],
        2: kw["id"],
        3: kw.get("parent", ""),
        4: kw.get("type", "Story"),
        5: kw.get("status", "To Do"),
        6: "UST",
        7: kw.get("assignee", ""),
        8: kw.get("created", "10/May/22 10:37 PM"),
        9: kw.get("resolved", ""),
    }
    base.update(values)
    for i, v in kw.get("cols", {}).items():
        base[i] = v
    return [base[i] for i in range(len(HEADER))]


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def conn(path: Path, **options: Any) -> SpreadsheetConnector:
    return SpreadsheetConnector(
        SourceConfig(name="jira_csv", type="spreadsheet", options={"path": str(path), **options})
    )


def out(c: SpreadsheetConnector) -> list[Any]:
    return [o for o in c.fetch_work_items(None) if not isinstance(o, ChildrenComplete)]


def items(c: SpreadsheetConnector) -> dict[str, WorkItem]:
    return {o.external_id: o for o in out(c) if isinstance(o, WorkItem)}


def test_jira_export_fields_dates_subtasks_and_repeated_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.csv",
        [
            row(
                key="UST-1",
                id="1001",
                type="Epic",
                status="Done",
                resolved="03/Oct/25 9:05 AM",
                cols={
                    10: "AOMA-2.113.0",
                    11: "AOMA-2.114.0",
                    12: "API",
                    13: "UI",
                    14: "database",
                    15: "shared",
                    16: "S21",
                    17: "S22",
                    18: "S23",
                    19: "28800",
                    20: "3600",
                    21: "5.0",
                },
            ),  # fmt: skip
            row(key="UST-2", id="1002", parent="1001", type="Sub-task", status="Dev Testing"),
            row(key="UST-3", id="1003", status="On Hold", cols={22: "x" * 200_000}),
        ],
    )
    c = conn(path)
    got = items(c)
    assert set(got) == {"UST-1", "UST-2", "UST-3"}
    epic, sub, big = got["UST-1"], got["UST-2"], got["UST-3"]
    # 10/May/22 10:37 PM, local time in Asia/Shanghai (the default zone) -> 14:37 UTC
    assert epic.created_at == dt.datetime(2022, 5, 10, 14, 37, tzinfo=dt.UTC)
    assert epic.resolved_at == dt.datetime(2025, 10, 3, 1, 5, tzinfo=dt.UTC)
    assert epic.project_key == "UST" and epic.status_category == "done"
    # Parent id holds the parent's Issue id, not its key
    assert sub.parent_id == "UST-1" and sub.type == "Sub-task"
    assert sub.status_category == "in_progress"  # "Dev Testing": a workflow word
    assert big.status_category == "in_progress"  # On Hold
    # every repeated column kept, in order
    assert epic.milestone_ids == ("AOMA-2.113.0", "AOMA-2.114.0")
    assert epic.components == ("API", "UI")
    assert epic.labels == ("database", "shared")
    assert epic.extra["sprints"] == ["S21", "S22", "S23"]
    # Jira exports estimates in seconds; story points from the custom field
    assert epic.original_estimate_h == 8.0 and epic.time_spent_h == 1.0
    assert epic.story_points == 5.0
    milestones = {m.external_id for m in c.fetch_milestones() if isinstance(m, Milestone)}
    assert milestones == {"AOMA-2.113.0", "AOMA-2.114.0"}
    assert not [o for o in out(c) if isinstance(o, Skipped | Problem)]


def test_every_row_rejected_fails_the_source_loudly(tmp_path: Path) -> None:
    path = write(
        tmp_path / "untitled.csv",
        [row(key=f"UST-{i}", id=str(i), summary="") for i in range(1, 4)],
    )
    with pytest.raises(ConfigError, match=r"every row was rejected \(3 problems\)"):
        out(conn(path))


def test_unterminated_quote_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", [row(key="UST-1", id="1")])
    good = ",".join(row(key="UST-3", id="3"))
    broken = ",".join(row(key="UST-2", id="2", summary='"Fix the quote'))
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write(broken + "\r\n" + good + "\r\n" + good.replace("UST-3", "UST-4") + "\r\n")
    c = conn(path)
    stream = out(c)
    got = {o.external_id for o in stream if isinstance(o, WorkItem)}
    assert got == {"UST-1"}  # nothing merged into a garbage row
    [bad] = [o.error for o in stream if isinstance(o, Skipped)]
    assert bad.where == "q.csv row 3" and "line 3: unterminated quote?" in str(bad)
    assert "runs to line 5" in str(bad)
    # the rows it swallowed are missing from this read: no deletion is inferred
    assert any(isinstance(o, Problem) and o.incomplete for o in stream)


def test_bad_value_clears_the_field_and_keeps_the_row(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.csv",
        [row(key="UST-1", id="1", created="yesterday", cols={21: "XL"})],
    )
    stream = out(conn(path))
    [item] = [o for o in stream if isinstance(o, WorkItem)]
    assert item.created_at is None and item.story_points is None
    problems = {p.field: p for p in stream if isinstance(p, Problem)}
    assert set(problems) == {"Created", "Custom field (Story Points)"}
    assert problems["Custom field (Story Points)"].value == "XL"
    assert "bad.csv row 2" in str(problems["Created"]) and "UST-1" in str(problems["Created"])
