"""Rules added or fixed after the first pack: regression tests for the bugs found on the
demo/report data, and trigger / no-trigger / N/E tests for the closed gaps."""

from __future__ import annotations

import pytest
from rulekit import World, at, outcome, run

from rules.engine import load_rules

AS_OF = "2026-11-20"


def test_chg_002_without_any_baseline_is_ne_not_an_error() -> None:
    # Regression: with no baseline at all, mapping the categorical project_key through the
    # empty per-project "taken_at" Series raised "Cannot cast DatetimeArray to float64".
    w = World()
    w.project("P")
    w.item("P", original_estimate_h=8.0, created_at=at("2026-09-01"))
    t = run("CHG-002", w, AS_OF)
    assert outcome(t, "project:P") == "ne"
    assert t.loc["project:P", "reason"] == "no baseline"


@pytest.mark.parametrize("rule_id", list(load_rules(entry_points_too=False)))
def test_every_rule_survives_a_world_without_history_or_baselines(rule_id: str) -> None:
    w = World()
    w.project("P", planned_start="2026-01-05", planned_end="2026-06-30")
    w.item("P", original_estimate_h=8.0, due_on="2026-11-30", created_at=at("2026-09-01"))
    w.item("P", type="Bug", priority="High", created_at=at("2026-10-01"))
    t = run(rule_id, w, AS_OF)  # run() asserts the rule raised nothing
    assert len(t) >= 1
