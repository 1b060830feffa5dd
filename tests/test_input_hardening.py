"""Config and input hardening (issue 13): bounded YAML (alias bombs, deep nesting), every
user mistake named with its file and line, never a traceback; a file that is not an
.xlsx, a zip bomb and XML entities refused with a clear error and bounded memory."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmohub.aggregator.config.loader import ConfigFileError, parse_config
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.msproject import MSProjectConnector
from pmohub.connectors.spreadsheet import SpreadsheetConnector


def billion_laughs(levels: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghijklmn"[:levels]:
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return "version: 1\nx:\n" + "".join("  " + line + "\n" for line in text.splitlines())


def test_alias_bomb_fails_fast_with_bounded_memory() -> None:
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(ConfigFileError, match="alias bomb"):
        parse_config(billion_laughs())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.monotonic() - started < 2 and peak < 50 * 1024**2


@pytest.mark.parametrize(
    "text, message",
    [
        ("version: 1\nx: " + "[" * 3000 + "]" * 3000 + "\n", "nested"),
        ("version: 1\nx:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 120)), ":66: "),
        ("version: 1\na: &a [*a]\n", "contains itself"),
        ("version: 1\ndatabase: sqlite:///a\x00.db\n", "pmohub.yaml:2: a NUL character"),
        ("version: 1\nwaivers:\n  - {rule: X, expires: 2026-02-30}\n", "pmohub.yaml:3:"),
        ("version: 1\nwaivers:\n  - {rule: X, expires: 2026-13-01}\n", "month must be"),
        ("version: 1\n2026-02-30: x\n", "pmohub.yaml"),
    ],
)
def test_config_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigFileError, match=message):
        parse_config(text)


def test_cli_names_the_mistake_without_a_traceback(tmp_path: Path) -> None:
    from pmohub.cli.main import main

    config = tmp_path / "pmohub.yaml"
    config.write_text(billion_laughs())
    result = CliRunner().invoke(main, ["--config", str(config), "sources"])
    assert result.exit_code != 0 and "alias bomb" in result.output
    assert "Traceback" not in result.output


def spreadsheet(path: Path) -> SpreadsheetConnector:
    return SpreadsheetConnector(
        SourceConfig(name="s", type="spreadsheet", options={"path": str(path), "project_key": "P"})
    )


def test_not_an_xlsx_says_so(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    path.write_bytes(b"Key,Summary\nP-1,x\n")  # a CSV renamed
    with pytest.raises(ConfigError, match="not an Excel file"):
        list(spreadsheet(path).fetch_work_items())
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "no workbook here")
    with pytest.raises(ConfigError, match="xl/workbook.xml"):
        list(spreadsheet(path).fetch_work_items())


def test_zip_bomb_xlsx_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        # 300 MiB of shared strings compress to ~300 KiB: openpyxl would hold them whole
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as member:
            chunk = b"<si><t>x</t></si>" * 65536
            for _ in range(300 * 1024**2 // len(chunk)):
                member.write(chunk)
    assert path.stat().st_size < 5 * 1024**2
    tracemalloc.start()
    with pytest.raises(ConfigError, match="zip bomb"):
        list(spreadsheet(path).fetch_work_items())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 1024**2


def test_msproject_entities_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE Project [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<Project xmlns="http://schemas.microsoft.com/project"><Name>&b;</Name></Project>\n'
    )
    connector = MSProjectConnector(
        SourceConfig(name="m", type="msproject", options={"path": str(path)})
    )
    with pytest.raises(ConfigError, match="refused XML"):
        list(connector.fetch_projects())


def test_valid_xlsx_still_reads(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["Key", "Summary", "Issue Type", "Status"])
    wb.active.append(["P-1", "Build", "Task", "To Do"])
    buf = io.BytesIO()
    wb.save(buf)
    path = tmp_path / "ok.xlsx"
    path.write_bytes(buf.getvalue())
    items = [r for r in spreadsheet(path).fetch_work_items() if type(r).__name__ == "WorkItem"]
    assert [i.title for i in items] == ["Build"]
