"""The CLI through click's CliRunner: real config files, real SQLite stores, real syncs."""

from __future__ import annotations

import csv
import io
import json
import logging
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.store.engine import create_store_engine, current_revision, head_revision
from pmohub.cli.logs import setup_logging
from pmohub.cli.main import main
from pmohub.cli.output import cell_width, render, render_table

CSV_A = "编号,任务名称,负责人,截止日期,状态\nA-1,需求评审,张伟,2026-11-20,进行中\nA-2,方案设计,李娜,2026-12-01,未开始\n"


def run(args: list[str], **kwargs):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with two spreadsheet sources and a config naming them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    (tmp_path / "a.csv").write_text(CSV_A, encoding="utf-8")
    (tmp_path / "b.csv").write_text(CSV_A.replace("A-", "B-"), encoding="utf-8")
    (tmp_path / "pmohub.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            database: sqlite:///store.db
            sources:
              plan_a: {type: spreadsheet, path: a.csv, project_key: PA}
              plan_b: {type: spreadsheet, path: b.csv, project_key: PB}
            """
        ),
        encoding="utf-8",
    )
    return tmp_path


@pytest.mark.parametrize("cmd", list(all_commands(main)), ids=lambda c: " ".join(c) or "main")
def test_every_help_has_an_example(cmd: tuple[str, ...]) -> None:
    result = run([*cmd, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    # \b blocks keep the example lines apart instead of re-wrapping them into one
    example = result.output.split("Example", 1)[1]
    assert sum("pmohub" in line for line in example.splitlines()) >= 1


def test_version() -> None:
    result = run(["--version"])
    assert result.exit_code == 0 and "pmohub, version" in result.output


def test_init_writes_loadable_config_and_store(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "pmohub.yaml"
    result = run(["init", str(target)])
    assert result.exit_code == 0, result.output
    cfg = load_config_file(target)
    db = tmp_path / "conf" / "pmohub.db"
    assert cfg.database == f"sqlite:///{db}"
    engine = create_store_engine(cfg.database)
    assert current_revision(engine) == head_revision() is not None
    engine.dispose()
    # starter is commented: examples for the main sections are there to copy
    text = target.read_text(encoding="utf-8")
    assert "token_env" in text and "# hierarchy:" in text

    again = run(["init", str(target)])
    assert again.exit_code == 1
    assert "already exists; use --force" in again.output
    assert run(["init", str(target), "--force"]).exit_code == 0


def test_sources_list_formats(project_dir: Path) -> None:
    result = run(["sources", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["plan_a", "plan_b"]
    assert rows[0]["type"] == "spreadsheet" and rows[0]["url"] == str(project_dir / "a.csv")
    rows = list(csv.DictReader(io.StringIO(run(["sources", "--format", "csv"]).stdout)))
    assert [r["name"] for r in rows] == ["plan_a", "plan_b"]
    table = run(["sources"]).stdout
    assert table.splitlines()[0].split() == ["name", "type", "url", "projects", "token_env"]


def test_sources_check(project_dir: Path) -> None:
    (project_dir / "b.csv").unlink()
    result = run(["sources", "check", "--format", "json"])
    assert result.exit_code == 1
    rows = {r["source"]: r for r in json.loads(result.stdout)}
    assert rows["plan_a"]["ok"] is True
    assert rows["plan_b"]["ok"] is False and "b.csv" in rows["plan_b"]["detail"]
    assert run(["sources", "check", "plan_a"]).exit_code == 0


def test_unknown_source_is_a_usage_error(project_dir: Path) -> None:
    result = run(["sources", "check", "plam_a"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown source 'plam_a' (did you mean 'plan_a'?); configured: plan_a, plan_b"
    ]


def test_bad_config_is_one_line_with_location(project_dir: Path) -> None:
    cfg = project_dir / "pmohub.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "timezon: UTC\n", encoding="utf-8")
    result = run(["sources"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: pmohub.yaml:6: timezon: unknown key (did you mean 'timezone'?)"
    )
    assert "Traceback" not in result.output
    verbose = run(["-v", "sources"])
    assert verbose.exit_code == 1 and "Traceback" in verbose.stderr


def test_missing_config_explains_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    result = run(["sources"])
    assert result.exit_code == 1
    assert "--config" in result.stderr and "pmohub init" in result.stderr
    env_result = run(["sources"], env={"PMOHUB_CONFIG": str(tmp_path / "x.yaml")})
    assert "x.yaml" in env_result.stderr and "PMOHUB_CONFIG" in env_result.stderr


def test_unreachable_database_is_one_line_and_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMOHUB_TEST_DB_PASS", "very-secret-pw")
    cfg = tmp_path / "pmohub.yaml"
    cfg.write_text(
        "database: postgresql+psycopg://pmo:${PMOHUB_TEST_DB_PASS}@127.0.0.1:1/pmohub\n",
        encoding="utf-8",
    )
    result = run(["--config", str(cfg), "runs"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database postgresql+psycopg://pmo:***@")
    assert "very-secret-pw" not in result.output


def test_logs_redact_config_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pmohub.aggregator.config.loader import parse_config
    from pmohub.cli.logs import secret_filter

    monkeypatch.setenv("PMOHUB_TEST_TOKEN", "tok-12345-abcde")
    cfg = parse_config(
        "sources:\n  s: {type: spreadsheet, path: a.csv, token_env: PMOHUB_TEST_TOKEN}\n"
    )
    setup_logging(0)
    secret_filter().add(cfg.secret_values())
    logging.getLogger("pmohub.test").warning("calling with %s", "tok-12345-abcde")
    err = capsys.readouterr().err
    assert "calling with ***" in err and "tok-12345-abcde" not in err


def test_table_aligns_wide_characters() -> None:
    rows = [
        {"key": "A-1", "title": "需求评审", "h": 8},
        {"key": "A-10", "title": "design review", "h": 12.5},
    ]
    lines = render_table(rows).splitlines()
    assert len({cell_width(line.rstrip()) for line in lines[:2]}) == 1  # header == rule
    # the numeric column is right-aligned at the same display column on every row
    assert {cell_width(line) for line in lines[2:]} == {cell_width(lines[1])}
    long = [{"title": "很长的任务名称" * 20, "key": "X"}]
    assert all(cell_width(line) <= 100 for line in render_table(long).splitlines())
    assert json.loads(render(rows, "json"))[0]["title"] == "需求评审"


# --------------------------------------------------------------------------- sync


def test_sync_one_failing_source_exit_1_others_load(project_dir: Path) -> None:
    cfg = project_dir / "pmohub.yaml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8")
        + "  plan_gone: {type: spreadsheet, path: missing.csv, project_key: PG}\n",
        encoding="utf-8",
    )
    result = run(["--quiet", "sync", "--format", "json"])
    assert result.exit_code == 1, result.output
    rows = {r["source"]: r for r in json.loads(result.stdout)}
    assert rows["plan_a"]["status"] == "ok" and rows["plan_a"]["inserted"] > 0
    assert rows["plan_b"]["status"] == "ok"
    assert rows["plan_gone"]["status"] == "failed" and "missing.csv" in rows["plan_gone"]["error"]
    assert "missing.csv" in result.stderr

    history = json.loads(run(["runs", "--format", "json"]).stdout)
    assert {r["source"] for r in history} == {"plan_a", "plan_b", "plan_gone"}
    only = json.loads(run(["runs", "--source", "plan_a", "--format", "json"]).stdout)
    assert [r["source"] for r in only] == ["plan_a"]


def test_sync_named_source_and_rerun_changes_nothing(project_dir: Path) -> None:
    first = run(["--quiet", "sync", "plan_a", "--format", "json"])
    assert first.exit_code == 0, first.output
    (row,) = json.loads(first.stdout)
    assert row["source"] == "plan_a" and row["inserted"] > 0
    second = json.loads(run(["--quiet", "sync", "plan_a", "--format", "json"]).stdout)[0]
    assert (second["inserted"], second["updated"], second["deleted"]) == (0, 0, 0)
    table = run(["--quiet", "sync"]).stdout
    assert "plan_a" in table and "plan_b" in table


def test_sync_into_configured_store_sqlite_and_postgres(project_dir: Path, store_url: str) -> None:
    cfg = project_dir / "pmohub.yaml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("sqlite:///store.db", store_url), encoding="utf-8"
    )
    current = run(["db", "current"])
    assert current.exit_code == 0 and "(empty)" in current.stdout
    upgraded = run(["db", "upgrade"])
    assert upgraded.exit_code == 0 and upgraded.stdout.strip().endswith(f"-> {head_revision()}")
    assert "up to date" in run(["db", "current"]).stdout
    result = run(["--quiet", "sync", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = {r["source"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["plan_a"]["status"] == "ok" and int(rows["plan_a"]["inserted"]) > 0
    runs = json.loads(run(["runs", "--limit", "1", "--format", "json"]).stdout)
    assert len(runs) == 1 and runs[0]["source"] == "plan_b"


def test_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run(["--quiet", "demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cfg = load_config_file(out / "pmohub.yaml")
    assert (out / "pmohub.db").exists() and cfg.sources
    for name in cfg.sources:
        assert name in result.stdout
    # a frozen world: its date is printed, and the follow-ups pass it
    assert "as of 2026-11-21 (demo data)" in result.stdout
    assert "check --as-of 2026-11-21" in result.stdout
    runs = json.loads(
        run(["--config", str(out / "pmohub.yaml"), "runs", "--format", "json"]).stdout
    )
    assert {r["source"] for r in runs} == set(cfg.sources)
    assert all(r["fetched"] > 0 for r in runs)
