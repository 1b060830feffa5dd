"""Outputs that cannot hurt whoever opens them (issue 13): tracker text that looks like a
formula stays text in xlsx and is neutralised in CSV, HTML/Markdown escape markup, and
every file is written through a private temporary file, never through a symlink or over
something that is not a regular file."""

from __future__ import annotations

import csv
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from reportkit import AS_OF, PLAN_CSV, write_project

from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.ingest.sync import sync_all
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.render import render, write_report
from pmohub.aggregator.safefiles import UnsafeTarget, atomic_output, neutralise_csv
from pmohub.aggregator.store.engine import open_store
from pmohub.cli.output import render as render_rows

HYPERLINK = '=HYPERLINK("http://evil.example","click")'
HOSTILE = [HYPERLINK, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("hostile")
    config_path = write_project(directory, formats="html, xlsx, md, csv")
    lines = PLAN_CSV.strip().splitlines()
    for n, title in enumerate(HOSTILE, start=20):
        lines.append(
            f"H-{n},{_csv_field(title)},Risk,张伟,zhang@example.cn,2026-10-01,2026-10-02,"
            ",In Progress,High,,,,,,"
        )
    (directory / "plan.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config_file(config_path)
    engine = open_store(config.database)
    results = sync_all(engine, list(config.sources.values()))
    assert all(r.ok for r in results), [r.error for r in results]
    return build_report(engine, config, as_of=AS_OF)


def test_xlsx_has_no_formula_cells(report) -> None:
    from openpyxl import load_workbook

    data = render(report, "xlsx")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in zf.read(n) for n in sheets)
    wb = load_workbook(io.BytesIO(data))
    texts = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value]
    assert HYPERLINK in texts  # kept verbatim, as text
    hostile_cells = [
        c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == HYPERLINK
    ]
    assert hostile_cells and all(c.data_type == "s" and c.quotePrefix for c in hostile_cells)


def minimal_report():
    import datetime as dt

    from pmohub.aggregator.report.model import Column, Report, Section, Table

    table = Table(
        "t", "label.footer", [Column("title", "label.footer"), Column("n", "label.footer", "int")]
    )
    table.rows = [{"title": text, "n": -1} for text in HOSTILE]
    section = Section("s", 1, {"en": "S", "zh": "S"}, tables=[table])
    return Report(
        "weekly",
        AS_OF,
        dt.datetime(2026, 11, 21, tzinfo=dt.UTC),
        None,
        None,
        {"en": "T", "zh": "T"},
        "green",
        {},
        [section],
    )


def test_every_trigger_is_text_in_xlsx_and_quoted_in_csv() -> None:
    from openpyxl import load_workbook

    report = minimal_report()
    wb = load_workbook(io.BytesIO(render(report, "xlsx")))
    cells = {c.value: c for ws in wb.worksheets for row in ws.iter_rows() for c in row}
    for text in HOSTILE:
        cell = cells[text.replace("\r", "\n")]  # XML reads a lone CR back as LF
        assert cell.data_type == "s" and cell.quotePrefix, repr(text)
    assert cells[-1].data_type == "n"  # numbers stay numbers
    rows = list(csv.reader(io.StringIO(render(report, "csv").decode("utf-8-sig"))))
    assert sorted(r[-1] for r in rows if r[3] == "title") == sorted("'" + t for t in HOSTILE)
    assert [r[-1] for r in rows if r[3] == "n"] == ["-1"] * len(HOSTILE)


def test_csv_cells_are_neutralised(report) -> None:
    text = render(report, "csv").decode("utf-8-sig")
    values = [row[-1] for row in csv.reader(io.StringIO(text))]
    assert "'" + HYPERLINK in values and HYPERLINK not in values
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in values)


def test_cli_csv_output_is_neutralised() -> None:
    out = render_rows([{"title": HYPERLINK, "n": -3}], "csv", ["title", "n"])
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[1] == ["'" + HYPERLINK, "-3"]  # a number stays a number
    assert neutralise_csv(-3) == -3 and neutralise_csv("plain") == "plain"


def test_html_and_markdown_escape_markup(report) -> None:
    html = render(report, "html").decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    md = render(report, "md").decode()
    assert "<script>" not in md


def test_write_refuses_devices_directories_and_symlinks(report, tmp_path: Path) -> None:
    with pytest.raises(UnsafeTarget, match="not a regular file"):
        write_report(report, "md", "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    (tmp_path / "dir.md").mkdir()
    with pytest.raises(UnsafeTarget):
        write_report(report, "md", tmp_path / "dir.md")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "link.md").symlink_to(victim)
    with pytest.raises(UnsafeTarget, match="symbolic link"):
        write_report(report, "md", tmp_path / "link.md")
    assert victim.read_text() == "keep me"


def test_planted_temp_name_symlink_is_not_followed(report, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    # the names older versions used, and a spread of guesses at the new ones
    (tmp_path / ".weekly.html.tmp").symlink_to(victim)
    out = write_report(report, "html", tmp_path / "weekly.html")
    assert victim.read_text() == "keep me"
    assert out.read_text().startswith("<!DOCTYPE html") or "<html" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write(b"half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_report_cli_out_dev_full_keeps_the_device(tmp_path: Path) -> None:
    from pmohub.cli.main import main

    config = write_project(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "--quiet", "sync"]).exit_code == 0
    result = runner.invoke(
        main,
        ["--config", str(config), "report", "--as-of", "2026-11-21", "--format", "md"]
        + ["--out", "/dev/full"],
    )
    assert result.exit_code != 0
    assert "not a regular file" in result.output and "Traceback" not in result.output
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


def test_starter_config_is_private(tmp_path: Path) -> None:
    from pmohub.aggregator.config.loader import write_starter_config

    path = tmp_path / "pmohub.yaml"
    write_starter_config(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
