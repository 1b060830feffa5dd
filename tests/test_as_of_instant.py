"""One as-of instant: 00:00 local of the day after ``as_of`` (rules/clock.py ``as_of_at``).

Regression: CHG-002's sprint variant took the as-of instant as UTC midnight while its
version-date variant (same file) took local midnight, 8 hours apart in Shanghai. A sprint
that starts early on the morning after the as-of day (local time) counted as started, and
the items planned into it that morning counted as scope creep.
"""

from __future__ import annotations

import datetime as dt

from rulekit import World, at, outcome, run

from pmohub.aggregator.compliance.findings import seen_instant
from pmohub.rules.clock import DEFAULT_TZ, as_of_at


def test_as_of_at_is_local_midnight_in_utc() -> None:
    day = dt.date(2026, 11, 20)
    assert as_of_at(day, "Asia/Shanghai") == dt.datetime(2026, 11, 19, 16, tzinfo=dt.UTC)
    assert as_of_at(day, "UTC") == dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    assert as_of_at(day) == as_of_at(day, DEFAULT_TZ)
    assert as_of_at(day).utcoffset() == dt.timedelta(0)


def test_findings_lifecycle_uses_the_same_instant() -> None:
    day = dt.date(2026, 11, 20)
    assert seen_instant(day, "Asia/Shanghai") == as_of_at(day, "Asia/Shanghai")


def _sprint_starting_next_morning(w: World) -> None:
    """Sprint 21 of P starts 2026-11-21 05:00 Shanghai (11-20 21:00 UTC): after the as-of
    day 11-20 locally, before UTC midnight. 10 points planned before, 4 that morning."""
    w.project("P")
    w.iterations.append(
        {
            "id": 21,
            "source": "jira_main",
            "external_id": "21",
            "project_key": "P",
            "name": "P Sprint 21",
            "state": "future",
            "start_at": at("2026-11-20", 21),
            "end_at": at("2026-12-04", 10),
        }
    )
    for i, pts in enumerate([2.0] * 5 + [2.0, 2.0]):
        it = w.item("P", story_points=pts, iteration_ids=["21"], created_at=at("2026-09-01"))
        when = at("2026-11-20", 22) if i >= 5 else at("2026-11-13")
        w.change(it, None, "21", when, field="sprint")


def test_chg_002_sprint_not_started_by_the_local_as_of_instant() -> None:
    w = World()
    _sprint_starting_next_morning(w)
    t = run("CHG-002", w, "2026-11-20")
    assert outcome(t, "project:P") != "finding"
    # The next day the sprint has started and 4 of 10 points were added after its start.
    t = run("CHG-002", w, "2026-11-21")
    assert outcome(t, "project:P") == "finding"
    assert t.loc["project:P", "evidence"]["sprint"] == "P Sprint 21"
