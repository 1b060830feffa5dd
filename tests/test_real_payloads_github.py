"""Real GitHub payloads (../shared/real-payloads/github) through the GitHub mappings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from realpayloads.github import replay


def test_github_real_payload_counts() -> None:
    r = replay()
    assert r.files == 36
    assert r.mapped["work_items"] == 7 and r.mapped["milestones"] == 7
    assert r.mapped["projects"] == 6 and r.mapped["status_changes"] == 8
    # PyGithub's RateLimiting/SpecificExceptions recordings: every limit answer recognised
    assert r.mapped["rate_limit_answers"] == 5
    assert r.skipped["ids only: the recording keeps no fields"] == 1288
    assert r.skipped["pull request (dropped like the connector does)"] == 51
    assert not [k for k in r.skipped if k.startswith("work_items:")]  # no issue unmappable
    assert sum(r.dropped.values()) == 0


def test_github_real_payload_values() -> None:
    kept: dict[str, Any] = {}
    replay(kept)
    items = {w.key: w for w in kept["work_items"]}
    i28 = items["PyGithub/PyGithub#28"]
    assert (i28.status, i28.status_category, i28.resolution) == ("closed", "done", "completed")
    assert i28.resolved_at == dt.datetime(2012, 5, 26, 14, 59, 33, tzinfo=dt.UTC)
    assert i28.milestone_ids == ("150933",) and i28.labels == ("bug", "question")
    changes = kept["status_changes"]
    assert all(c.from_value != c.to_value for c in changes)  # no None -> None assignments
    assert {c.field for c in changes} == {"assignee", "status"}
    names = {m.name: m for m in kept["milestones"]}
    assert names["Version 0.4"].released and names["Version 0.4"].due_on == dt.date(2012, 3, 13)
    assert not names["Version 1.0: coherent public interface"].released
