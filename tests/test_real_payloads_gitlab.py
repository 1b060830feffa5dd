"""Real GitLab payloads (../shared/real-payloads/gitlab) through the GitLab mappings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from realpayloads.gitlab import replay


def test_gitlab_real_payload_counts() -> None:
    r = replay()
    assert r.files == 8
    assert dict(r.mapped) == {
        "projects": 1,
        "work_items": 6,
        "iterations": 1,
        "status_changes": 1,
    }
    assert not r.skipped and not r.dropped


def test_gitlab_real_payload_values() -> None:
    kept: dict[str, Any] = {}
    replay(kept)
    (project,) = kept["projects"]
    assert (project.external_id, project.key) == ("36528", "fdroid/fdroiddata")
    items = {w.key: w for w in kept["work_items"]}
    assert set(items) == {f"fdroid/fdroiddata#{n}" for n in (1, 2, 3, 4)}
    four = items["fdroid/fdroiddata#4"]
    assert four.labels == ("CI/CD", "Deliverable") and four.status_category == "done"
    # GitLab before 10.6 recorded no closed_at: a closed issue without a resolved date
    assert four.resolved_at is None
    assert items["fdroid/fdroiddata#1"].assignee == "1"
    (change,) = kept["status_changes"]
    assert (change.from_value, change.to_value) == ("open", "closed")
    assert change.changed_at == dt.datetime(2018, 8, 21, 14, 38, 20, 77000, tzinfo=dt.UTC)
    (it,) = kept["iterations"]
    assert (it.name, it.state) == ("Iteration II", "active")  # state 2 = started
    # GitLab's own docs example has due_date before start_date; kept as sent
    assert it.start_at == dt.datetime(2020, 2, 14, tzinfo=dt.UTC)
