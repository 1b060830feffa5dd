"""Issue 15, the CLI feel: global options after the subcommand, tables never cut without a
way to see them whole, one ``[source]`` prefix per message."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmohub.cli import output
from pmohub.cli.app import hoist_global_options
from pmohub.cli.main import main

LONG = "这一列解释为什么是红色：schedule N/A because no baseline was taken for this project"


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    (tmp_path / "conf").mkdir()
    long_dir = tmp_path / "a-rather-long-directory-name-for-the-plans" / "of-the-pmo"
    long_dir.mkdir(parents=True)
    (long_dir / "plan.csv").write_text("编号,任务名称\nA-1,需求评审\n", encoding="utf-8")
    cfg = tmp_path / "conf" / "pmohub.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            database: sqlite:///store.db
            sources:
              plan_a: {{type: spreadsheet, path: {long_dir / "plan.csv"}, project_key: PA}}
              plan_gone: {{type: spreadsheet, path: missing.csv, project_key: PG}}
            """
        ),
        encoding="utf-8",
    )
    return cfg


def test_hoist_moves_global_options_in_front_of_the_command() -> None:
    assert hoist_global_options(["status", "--config", "x.yaml", "-vv", "--as-of", "D"]) == [
        "--config",
        "x.yaml",
        "-vv",
        "status",
        "--as-of",
        "D",
    ]
    # options already in front stay first; --config=x and --quiet/--wide move too
    assert hoist_global_options(["-v", "sources", "check", "--config=c", "--quiet", "--wide"]) == [
        "-v",
        "--config=c",
        "--quiet",
        "--wide",
        "sources",
        "check",
    ]
    # after "--" everything is an argument; a command's own options are untouched
    assert hoist_global_options(["sync", "--full", "--", "--quiet"]) == [
        "sync",
        "--full",
        "--",
        "--quiet",
    ]
    assert hoist_global_options(["--config", "sync", "sync"]) == ["--config", "sync", "sync"]


def test_config_and_verbose_after_the_subcommand(project: Path) -> None:
    before = run(["--config", str(project), "sources", "--format", "json"])
    after = run(["sources", "--format", "json", "--config", str(project), "-v"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert {r["name"] for r in json.loads(after.stdout)} == {"plan_a", "plan_gone"}
    assert "config " in after.stderr  # -v took effect: the INFO line naming the config
    nested = run(["sources", "check", "plan_a", f"--config={project}", "--quiet"])
    assert nested.exit_code == 0, nested.output


def test_tables_are_whole_when_piped_and_with_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"rule": "RAG-1", "explanation": LONG}]
    # CliRunner's stdout is not a terminal: nothing is cut
    assert output.table_width() is None
    assert LONG in output.render(rows, "table", width=output.table_width())
    # on a terminal the table fits it, and --wide still shows every cell whole
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "60")
    assert output.table_width() == 60
    cut = output.render(rows, "table", width=output.table_width())
    assert LONG not in cut and "…" in cut
    assert max(output.cell_width(line) for line in cut.splitlines()) <= 60
    assert LONG in output.render(rows, "table", width=output.table_width(wide=True))


def test_sources_check_detail_is_not_cut(project: Path) -> None:
    result = run(["sources", "check", "plan_a", "--config", str(project)])
    assert result.exit_code == 0, result.output
    assert "a-rather-long-directory-name-for-the-plans/of-the-pmo/plan.csv" in result.stdout
    assert "…" not in result.stdout


def test_one_source_prefix_per_message(project: Path) -> None:
    result = run(["sync", "--config", str(project), "--quiet"])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if "missing.csv" in ln]
    assert any(ln.startswith("error: [plan_gone] spreadsheet file not found") for ln in lines)
    assert all(ln.count("[plan_gone]") == 1 for ln in lines), lines
    check = run(["sources", "check", "plan_gone", "--config", str(project), "--format", "json"])
    [row] = json.loads(check.stdout)
    assert "[plan_gone]" not in row["detail"] and "missing.csv" in row["detail"]
