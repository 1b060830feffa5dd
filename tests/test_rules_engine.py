"""The engine: plug-in rules through the ``pmohub.rules`` entry points, bad definitions
rejected, a failing rule isolated, missing data = N/E for every subject."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from rulekit import World, outcome, run

from pmohub.rules import engine
from pmohub.rules.engine import RuleError, load_rules, rule


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Iterator[Path]:
    """A fake installed distribution on sys.path declaring a pmohub.rules entry point."""
    load_rules(entry_points_too=False)  # the built-ins registered before the snapshot
    before = dict(engine._BUILTINS)
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("acme_rules")]:
        del sys.modules[name]
    engine._BUILTINS.clear()
    engine._BUILTINS.update(before)
    importlib.invalidate_caches()


def _write_plugin(root: Path, rule_id: str) -> None:
    (root / "acme_rules.py").write_text(
        textwrap.dedent(
            f"""
            import pandas as pd
            from pmohub.rules.engine import rule

            @rule("{rule_id}", title_en="Has a PM office label", title_zh="有PMO标签",
                  severity="low", scope="project", basis="house rule", basis_seed="004",
                  check="no item labelled pmo", fix_en="Label one.", fix_zh="打标签。",
                  defaults={{"label": "pmo"}},
                  needs={{"work_items": ("project_key", "labels")}})
            def acme(ctx):
                items = ctx.frame("work_items")
                has = items["labels"].explode().eq(ctx.global_params["label"])
                per = has.groupby(items["project_key"].reindex(has.index)).any()
                res = pd.DataFrame(index=ctx.projects)
                res["failed"] = ~per.reindex(ctx.projects).eq(True)
                return ctx.project_outcomes(res)
            """
        ),
        encoding="utf-8",
    )
    dist = root / "acme_rules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pmohub.rules]\nacme = acme_rules\n")


def test_plugin_rule_loads_and_runs(plugin_dist: Path) -> None:
    _write_plugin(plugin_dist, "ACME-001")
    rules = load_rules()
    assert "ACME-001" in rules and "VAR-001" in rules
    w = World()
    w.project("YES")
    w.project("NO")
    w.item("YES", labels=["pmo"])
    w.item("NO")
    t = run("ACME-001", w)
    assert outcome(t, "project:NO") == "finding" and outcome(t, "project:YES") == "pass"


def test_plugin_cannot_replace_a_builtin(plugin_dist: Path) -> None:
    _write_plugin(plugin_dist, "VAR-001")
    with pytest.raises(RuleError, match="VAR-001"):
        load_rules()


def test_bad_definitions_rejected() -> None:
    with pytest.raises(RuleError, match="severity"):
        rule(
            "X-1",
            title_en="",
            title_zh="",
            severity="urgent",
            scope="project",  # type: ignore[arg-type]
            basis="",
            basis_seed="004",
            check="",
            fix_en="",
            fix_zh="",
        )
    with pytest.raises(RuleError, match="unknown frame 'jira'"):
        rule(
            "X-1",
            title_en="",
            title_zh="",
            severity="low",
            scope="project",
            basis="",
            basis_seed="004",
            check="",
            fix_en="",
            fix_zh="",
            needs={"jira": ("x",)},
        )


def test_missing_frame_makes_every_subject_not_evaluable() -> None:
    w = World()
    w.project("A")
    w.project("B")
    w.item("A", status_category="in_progress")
    w.item("B")
    t = run("DATA-003", w, frames={"worklogs": None})
    assert set(t["outcome"]) == {"ne"} and set(t["reason"]) == {"no worklogs data"}
    assert len(t) == 2


def test_a_failing_rule_is_isolated(plugin_dist: Path) -> None:
    import datetime as dt

    from pmohub.rules.engine import run_rules
    from pmohub.rules.policy import build_policy

    @rule(
        "BOOM-001",
        title_en="t",
        title_zh="t",
        severity="low",
        scope="project",
        basis="b",
        basis_seed="004",
        check="c",
        fix_en="f",
        fix_zh="f",
        needs={"work_items": ("key",)},
    )
    def boom(ctx):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("bad plug-in")

    w = World()
    w.project("A")
    w.item("A")
    known = {k: r.meta for k, r in load_rules(entry_points_too=False).items()}
    runs = run_rules(
        [boom, load_rules(entry_points_too=False)["VAR-001"]],
        w.frames(),
        as_of=dt.date(2026, 11, 20),
        policy=build_policy(known, hierarchy=w.hierarchy()),
    )
    assert runs[0].error and "bad plug-in" in runs[0].error
    assert list(runs[0].outcomes.frame["outcome"]) == ["ne"]
    assert runs[1].error is None
    assert isinstance(runs[1].outcomes.frame, pd.DataFrame)
