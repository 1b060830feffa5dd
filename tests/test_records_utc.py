"""Records refuse datetimes that are not UTC-aware, whatever way they were built.

``connectors/records.py`` checks every datetime field in ``__post_init__`` with a fast
path for the ``tzinfo is dt.UTC`` datetimes the parsers hand out; these tests pin that the
fast path lets nothing else through (naive, another offset, a datetime subclass) and still
accepts other zero-offset zones.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pmohub.connectors.records import Iteration, StatusChange, WorkItem, Worklog

UTC_AT = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


class _Stamp(dt.datetime):
    """A datetime subclass (pandas.Timestamp is one): never taken by the fast path."""


def _change(at: Any) -> StatusChange:
    return StatusChange(
        source="jira",
        external_id="1:0",
        work_item_id="1",
        field="status",
        from_value="To Do",
        to_value="Done",
        changed_at=at,
    )


def _item(**dates: Any) -> WorkItem:
    return WorkItem(
        source="jira",
        external_id="1",
        key="P-1",
        project_key="P",
        title="t",
        type="Task",
        status="Done",
        status_category="done",
        **dates,
    )


BAD = [
    pytest.param(dt.datetime(2026, 3, 1, 10, 0), id="naive"),
    pytest.param(dt.datetime(2026, 3, 1, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai")), id="+08"),
    pytest.param(
        dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))), id="-05"
    ),
    pytest.param(_Stamp(2026, 3, 1, 10, 0), id="naive-subclass"),
    pytest.param(
        _Stamp(2026, 3, 1, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))), id="+08-subclass"
    ),
]


@pytest.mark.parametrize("at", BAD)
def test_status_change_refuses_non_utc(at: dt.datetime) -> None:
    with pytest.raises(ValueError, match="StatusChange.changed_at must be a UTC-aware"):
        _change(at)


@pytest.mark.parametrize("at", BAD)
@pytest.mark.parametrize("name", ["created_at", "updated_at", "resolved_at"])
def test_work_item_refuses_non_utc(name: str, at: dt.datetime) -> None:
    with pytest.raises(ValueError, match=f"WorkItem.{name} must be a UTC-aware"):
        _item(**{name: at})


@pytest.mark.parametrize("at", BAD)
def test_worklog_and_iteration_refuse_non_utc(at: dt.datetime) -> None:
    with pytest.raises(ValueError, match="Worklog.started_at"):
        Worklog(
            source="jira", external_id="9", work_item_id="1", author=None, started_at=at, seconds=60
        )
    with pytest.raises(ValueError, match="Iteration.end_at"):
        Iteration(source="jira", external_id="3", name="S", state="closed", end_at=at)


@pytest.mark.parametrize(
    "at",
    [
        pytest.param(UTC_AT, id="dt.UTC"),
        pytest.param(UTC_AT.replace(tzinfo=ZoneInfo("UTC")), id="zoneinfo-UTC"),
        pytest.param(UTC_AT.replace(tzinfo=dt.timezone(dt.timedelta(0), "Z")), id="named-zero"),
        pytest.param(_Stamp(2026, 3, 1, 10, 0, tzinfo=dt.UTC), id="utc-subclass"),
    ],
)
def test_zero_offset_datetimes_are_accepted(at: dt.datetime) -> None:
    assert _change(at).changed_at == UTC_AT
    assert _item(created_at=at, updated_at=UTC_AT).created_at == UTC_AT
