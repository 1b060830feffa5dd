"""Issue 15: service and app accounts (the trackers' "PMO Bot") are not people. The
config's ``people_exclude`` patterns leave them out of ``pmohub people``; Jira app
accounts are never read as people (connectors/jira fetch_people)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmohub.aggregator.people import exclusion_matcher, is_service_account
from pmohub.cli.main import main

PLAN = (
    "编号,任务名称,负责人,负责人邮箱\n"
    "A-1,需求评审,张伟,zhang.wei@example.cn\n"
    "A-2,自动同步,PMO Bot,pmo-bot@example.cn\n"
    "A-3,依赖升级,dependabot[bot],\n"
    "A-4,方案设计,李娜,li.na@example.cn\n"
)


def test_patterns_are_literal_except_star_and_question_mark() -> None:
    m = exclusion_matcher(["*[bot]", "pmo-bot@*", "svc-??"])
    person = {"name": "x", "email": None, "accounts": []}
    assert is_service_account({**person, "name": "dependabot[bot]"}, m)
    assert not is_service_account({**person, "name": "robot"}, m)  # [bot] is no char class
    assert is_service_account({**person, "email": "PMO-BOT@example.cn"}, m)  # any case
    assert is_service_account({**person, "name": "svc-01"}, m)
    assert not is_service_account({**person, "name": "svc-001"}, m)  # whole-text match
    account = {"source": "jira_main", "external_id": "712020:bot", "name": "Automation"}
    assert is_service_account(
        {**person, "accounts": [account]}, exclusion_matcher(["jira_main:712020:*"])
    )
    assert not is_service_account(person, exclusion_matcher([]))


@pytest.mark.parametrize("configured", [True, False])
def test_people_lists_no_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    (tmp_path / "plan.csv").write_text(PLAN, encoding="utf-8")
    exclude = 'people_exclude: ["PMO Bot", "*[bot]"]\n' if configured else ""
    (tmp_path / "pmohub.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            database: sqlite:///store.db
            sources:
              plan: {type: spreadsheet, path: plan.csv, project_key: P}
            """
        )
        + exclude,
        encoding="utf-8",
    )
    run = CliRunner().invoke
    assert run(main, ["--quiet", "sync"], catch_exceptions=False).exit_code == 0
    result = run(main, ["people", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    names = {p["name"] for p in json.loads(result.stdout)}
    load = run(main, ["load", "--format", "json"], catch_exceptions=False)
    assert load.exit_code == 0, load.output
    if configured:
        assert names == {"张伟", "李娜"}
        assert "PMO Bot" not in load.stdout and "张伟" in load.stdout  # nor in the load
    else:  # the same store without the setting: the accounts are there to be excluded
        assert {"PMO Bot", "dependabot[bot]"} <= names
