"""Real Jira payloads (../shared/real-payloads/jira) through the Jira mappings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from realpayloads.jira import replay


def test_jira_real_payload_counts() -> None:
    r = replay()
    assert r.files == 14
    assert r.mapped["work_items"] == 30
    assert r.mapped["worklogs"] == 3 and r.mapped["iterations"] == 2
    assert r.mapped["iterations_from_items"] == 1
    # board/1/issues lists ids only; HSP-1 (jira-ruby issue/10002.json) has no status
    assert dict(r.skipped) == {
        "ids only: the listing carries no fields": 9,
        "no readable status": 1,
    }
    assert sum(r.dropped.values()) == 0


def test_jira_real_payload_values() -> None:
    kept: dict[str, Any] = {}
    replay(kept)
    items = {(w.source, w.key): w for w in kept["work_items"]}
    dmg = items[("real-jira-ruby-sprint-spec", "GHPOO-2728")]
    # the 2014 thisisdmg.atlassian.net greenhopper string (id= last) gives sprint 642
    assert dmg.iteration_ids == ("642",) and dmg.status_category == "done"
    assert dmg.milestone_ids == ("15700",)
    assert dmg.extra["affects_version_ids"] == ["15700", "17100"]
    (sprint,) = kept["iterations_from_items"]
    assert (sprint.name, sprint.state) == ("07.04 - 24.04", "closed")
    assert sprint.complete_at == dt.datetime(2014, 4, 22, 15, 30, 25, 628000, tzinfo=dt.UTC)
    cloud = items[("real-airbyte", "TESTKEY13-1")]
    assert cloud.assignee == "5fc9e78d2730d800760becc4"
    assert cloud.created_at == dt.datetime(2022, 6, 9, 23, 29, 31, 871000, tzinfo=dt.UTC)
    fiware = {k for s, k in items if s == "real-perceval"}
    assert fiware == {"HELP-6041", "HELP-6042", "HELP-6043"}
    assert items[("real-perceval", "HELP-6042")].status_category == "done"
    # old Server worklogs carry only timeSpent text: "18w 2d" is 736 h at 8 h/day, 5 d/week
    seconds = {w.external_id: w.seconds for w in kept["worklogs"]}
    assert seconds["10000"] == 736 * 3600
    states = {i.name: i.state for i in kept["iterations"]}
    assert states == {"IT Sprint 1": "active", "SP Sprint 1": "closed"}
