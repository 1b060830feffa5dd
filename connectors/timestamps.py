"""Tracker timestamps: ISO 8601 text from the APIs to tz-aware UTC datetimes and dates, and
UTC datetimes back to the text their query parameters take.

Every REST tracker answers ``2026-03-01T10:00:00Z`` or an offset (Jira's ``+0800``); Python
3.11's ``fromisoformat`` reads all of these, any number of fraction digits included. A value
without an offset is taken as UTC: ``astimezone`` would read it in the host's zone, so the
same payload would map differently on another machine.
"""

from __future__ import annotations

import datetime as dt


def parse_utc(value: str | None) -> dt.datetime | None:
    """``2026-03-01T10:00:00.123Z`` -> tz-aware UTC datetime; None for None or empty."""
    if not value:
        return None
    at = dt.datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def parse_day(value: str | None) -> dt.date | None:
    """The calendar date a date or timestamp is written with (``2026-03-01`` of
    ``2026-03-01T23:00:00-05:00``): due and start dates are days, never shifted by a zone."""
    if not value:
        return None
    return dt.date.fromisoformat(value[:10])


def format_utc(at: dt.datetime, *, micros: bool = False) -> str:
    """A datetime as ``2026-03-01T10:00:00Z`` in UTC (``.123456Z`` with ``micros``), the form
    the trackers' ``since``/``updated_after`` parameters accept."""
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if micros else "%Y-%m-%dT%H:%M:%SZ"
    return at.astimezone(dt.UTC).strftime(pattern)
