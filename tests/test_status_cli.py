"""pmohub status / load / forecast / trend through the CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_rollup import CONFIG_W, build

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.store.engine import open_store
from pmohub.cli.main import main
from pmohub.cli.output import cell_width


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture
def project_dir(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JIRA_TOKEN", "secret-token")
    (tmp_path / "pmohub.yaml").write_text(
        CONFIG_W.replace("version: 1", f"version: 1\ndatabase: {store_url}"), encoding="utf-8"
    )
    build(open_store(store_url), parse_config(CONFIG_W))
    return tmp_path


@pytest.mark.parametrize("command", ["status", "load", "forecast", "trend"])
def test_help_has_example(command: str) -> None:
    res = run([command, "--help"])
    assert res.exit_code == 0 and "Example:" in res.output


def test_status_levels_and_formats(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # as on a 100-column terminal (piped output, as under CliRunner, is never cut)
    import pmohub.cli.app as app

    monkeypatch.setattr(app, "table_width", lambda wide=False: None if wide else 100)
    res = run(["status", "--as-of", "2026-10-16"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert all(cell_width(ln) <= 100 for ln in lines)
    # Chinese names aligned: every row's RAG column starts at the same display column.
    header = lines[0]
    col = cell_width(header[: header.index("RAG")])
    for ln in lines[2:]:
        assert ln.split()[0] in {"OPS", "CRM", "PAY"}
        rag = next(w for w in ("RED", "AMBER", "GREEN") if w in ln)
        assert cell_width(ln[: ln.index(rag)]) == col
    doc = json.loads(run(["status", "--as-of", "2026-10-16", "--format", "json"]).stdout)
    crm = next(r for r in doc if r["project_key"] == "CRM")
    assert crm["rag"] == "R" and crm["items_done"] == 2 and crm["rag_reasons"]
    res = run(["status", "--level", "portfolio", "--as-of", "2026-10-16", "--format", "csv"])
    assert res.stdout.splitlines()[0].startswith("portfolio,projects,rag")
    assert res.stdout.splitlines()[1].startswith("DIGI,3,R")
    bad = run(["status", "--as-of", "16/10/2026"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_load_forecast_trend(project_dir: Path) -> None:
    res = run(["load", "--as-of", "2026-10-12", "--weeks", "2", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {"weeks", "conflicts", "unscheduled"} <= set(doc)
    res = run(["forecast", "CRM", "--as-of", "2026-10-16", "--format", "json"])
    f = json.loads(res.stdout)
    assert [r["project_key"] for r in f] == ["CRM"] and f[0]["low_confidence"] is True
    unknown = run(["forecast", "NOPE", "--as-of", "2026-10-16"])
    assert unknown.exit_code == 1 and "no project 'NOPE'" in unknown.output
    res = run(["trend", "--as-of", "2026-10-16"])
    assert res.exit_code == 0 and "no snapshots yet" in res.output
