"""Issue 15: the starter config works when its examples are uncommented, and ``pmohub init
--example`` writes a complete working config for a spreadsheet (and the plan beside it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmohub.aggregator.config.loader import load_config_file, parse_config
from pmohub.aggregator.config.starter import STARTER_CONFIG
from pmohub.cli.main import main

# a commented-out YAML line: "# key:" or "# - item" (prose comments are sentences)
_EXAMPLE_LINE = re.compile(r"^# (\s*(?:- |[\w\"-]+:))")


def uncomment_examples(text: str) -> tuple[str, int]:
    out, n = [], 0
    for line in text.splitlines():
        if _EXAMPLE_LINE.match(line) or (line.startswith("#   ") and out and n):
            out.append(line[2:])
            n += 1
        else:
            out.append(line)
    return "\n".join(out) + "\n", n


def test_starter_loads_as_written_and_with_every_example_uncommented(tmp_path: Path) -> None:
    assert parse_config(STARTER_CONFIG, filename="pmohub.yaml", path=tmp_path / "x").sources == {}
    text, n = uncomment_examples(STARTER_CONFIG)
    assert n >= 20, n  # the examples really were uncommented
    assert "sources: {}" not in STARTER_CONFIG
    cfg = parse_config(text, filename="pmohub.yaml", path=tmp_path / "pmohub.yaml")
    assert set(cfg.sources) == {"jira_main", "ops_plan"}
    assert cfg.sources["ops_plan"].options["project_key"] == "OPS-MIG"
    assert cfg.people and cfg.waivers and cfg.hierarchy
    assert cfg.people_exclude == ("pmo-bot@*", "*[bot]", "PMO Bot")


def test_only_the_sources_example_uncommented(tmp_path: Path) -> None:
    """The first thing a new user does: uncomment the two example sources only."""
    lines = STARTER_CONFIG.splitlines()
    start = lines.index("sources:") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("#  "))
    for i in range(start, end):
        lines[i] = lines[i][2:]
    cfg = parse_config("\n".join(lines), filename="pmohub.yaml", path=tmp_path / "pmohub.yaml")
    assert set(cfg.sources) == {"jira_main", "ops_plan"}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    return tmp_path


def test_init_example_syncs_checks_and_reports(here: Path) -> None:
    run = CliRunner().invoke
    init = run(main, ["init", "--example"], catch_exceptions=False)
    assert init.exit_code == 0, init.output
    assert (here / "pmohub.yaml").exists() and (here / "plans" / "example_plan.csv").exists()
    cfg = load_config_file(here / "pmohub.yaml")
    assert list(cfg.sources) == ["example_plan"]
    check = run(main, ["sources", "check", "--format", "json"], catch_exceptions=False)
    assert check.exit_code == 0, check.output
    [row] = json.loads(check.stdout)
    assert (
        row["ok"] and "bad_rows=0" in row["detail"] and "title within its parent" in row["detail"]
    )
    sync = run(main, ["--quiet", "sync", "--format", "json"], catch_exceptions=False)
    assert sync.exit_code == 0, sync.output
    [result] = json.loads(sync.stdout)
    assert result["status"] == "ok" and result["problems"] == []
    status = run(main, ["status", "--format", "json"], catch_exceptions=False)
    assert status.exit_code == 0, status.output
    assert "EXAMPLE" in status.stdout
    checked = run(main, ["check", "--format", "json"], catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
    # refuses to overwrite the plan or the config
    again = run(main, ["init", "--example"])
    assert again.exit_code == 1 and "already exists" in again.stderr
