"""connectors/timestamps.py: the tracker timestamp forms every connector reads."""

from __future__ import annotations

import datetime as dt

import pytest

from pmohub.connectors.timestamps import format_utc, parse_day, parse_utc

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:00:00Z", dt.datetime(2026, 3, 1, 10, tzinfo=UTC)),  # GitHub, Redmine
        ("2026-03-01T10:00:00.123Z", dt.datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        ("2026-03-01T10:00:00.1234567Z", dt.datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T18:00:00.000+0800", dt.datetime(2026, 3, 1, 10, tzinfo=UTC)),  # Jira
        ("2026-03-01T05:00:00-05:00", dt.datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00", dt.datetime(2026, 3, 1, 10, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_parse_utc(text: str, expected: dt.datetime) -> None:
    got = parse_utc(text)
    assert got == expected and got is not None and got.tzinfo is UTC


def test_empty_values_and_days() -> None:
    assert parse_utc(None) is None and parse_utc("") is None and parse_day("") is None
    # a day is the date written, not shifted to UTC
    assert parse_day("2026-03-01T23:00:00-05:00") == dt.date(2026, 3, 1)
    assert parse_day("2026-03-01") == dt.date(2026, 3, 1)
    with pytest.raises(ValueError):
        parse_utc("01/03/2026")


def test_format_utc() -> None:
    at = dt.datetime(2026, 3, 1, 18, 0, 0, 5000, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert format_utc(at) == "2026-03-01T10:00:00Z"
    assert format_utc(at, micros=True) == "2026-03-01T10:00:00.005000Z"
    assert parse_utc(format_utc(at, micros=True)) == at
