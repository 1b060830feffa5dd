"""Fuzzing the user-supplied inputs (issue 13) with Hypothesis: ``pmohub.yaml``, the
spreadsheet reader (CSV and .xlsx) and the MS Project XML reader. Whatever the input,
the outcome is the data or a ``PmohubError`` naming the problem: never another exception
(a traceback), never a hang (``deadline``), never unbounded memory (peak RSS growth).

Settings: ``max_examples`` per property (``PMOHUB_FUZZ_EXAMPLES``, default 400; the six
properties make ~2,150 examples, ~3,700 inputs; .xlsx gets 3/8 of them, each saves
a workbook), derandomised so CI is repeatable; set
``PMOHUB_FUZZ_EXAMPLES=5000`` and ``PMOHUB_FUZZ_RANDOM=1`` for a longer, fresh run.
"""

from __future__ import annotations

import io
import os
import resource
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pmohub.aggregator.config.loader import parse_config
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import PmohubError
from pmohub.connectors.msproject import MSProjectConnector
from pmohub.connectors.spreadsheet import SpreadsheetConnector

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("PMOHUB_FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=3000,  # ms per input: a hang fails the test instead of stalling CI
    derandomize=not os.environ.get("PMOHUB_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
MAX_RSS_GROWTH_KB = 400 * 1024


@pytest.fixture(scope="module", autouse=True)
def bounded_memory() -> Iterator[None]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown < MAX_RSS_GROWTH_KB, f"peak RSS grew by {grown} KiB while fuzzing"


def mutate(data: Any, edits: list[tuple[int, int, bytes]]) -> Any:
    """Apply (position, delete count, insertion) edits to a str or bytes."""
    text = isinstance(data, str)
    out = bytearray(data.encode("utf-8") if text else data)
    for pos, cut, ins in edits:
        pos %= len(out) + 1
        out[pos : pos + cut] = ins
    return out.decode("utf-8", "replace") if text else bytes(out)


EDITS = st.lists(
    st.tuples(
        st.integers(0, 1 << 20),
        st.integers(0, 40),
        st.binary(max_size=12)
        | st.sampled_from(
            [b"\x00", b"&a", b"*a", b"[", b"{", b"- ", b": ", b"\n  ", b'"', b"\t", b"<", b"]]>"]
        ),
    ),
    max_size=8,
)

# ------------------------------------------------------------------------- pmohub.yaml

EXAMPLE_CONFIG = (ROOT / "docs" / "example-config.yaml").read_text(encoding="utf-8")
KEYS = st.sampled_from(
    ["version", "database", "sources", "type", "path", "waivers", "expires", "rule", "hierarchy",
     "portfolio", "projects", "calendars", "report", "smtp", "schedule", "x", "<<", "timezone"]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.dates().map(str)
    | st.sampled_from(["2026-02-30", "spreadsheet", "jira", "sqlite:///x.db", "&a x", "*a"])
)
YAML_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


def parse_or_named(text: str, tmp_path: Path) -> None:
    try:
        parse_config(text, path=tmp_path / "pmohub.yaml")
    except PmohubError as exc:
        assert str(exc)  # named, not empty


@FUZZ
@given(edits=EDITS)
@example(edits=[(9705, 1, b"")])  # found: a project source without 'name' (KeyError)
@example(edits=[(0, 0, b"\x01")])  # found: a control character (raw yaml ReaderError)
def test_fuzz_config_mutations(edits: list[tuple[int, int, bytes]], tmp_path: Path) -> None:
    parse_or_named(mutate(EXAMPLE_CONFIG, edits), tmp_path)


@FUZZ
@given(value=st.dictionaries(KEYS, YAML_VALUES, max_size=6), raw=st.text(max_size=200))
def test_fuzz_config_documents(value: dict[str, Any], raw: str, tmp_path: Path) -> None:
    import yaml

    parse_or_named(yaml.safe_dump(value, allow_unicode=True), tmp_path)
    parse_or_named(raw, tmp_path)


# ------------------------------------------------------------------------- spreadsheets

HEADERS = st.lists(
    st.sampled_from(
        ["Key", "Summary", "Issue Type", "Status", "Due Date", "Start Date", "Assignee",
         "Story Points", "Parent", "Resolved", "Labels", "Estimate (h)", "标题", "状态", ""]
    ),
    min_size=1,
    max_size=8,
)  # fmt: skip
CELLS = st.text(max_size=15) | st.sampled_from(
    ["2026-02-30", "10/May/22 10:37 PM", "1,5", "-3", "XL", "=1+1", '"', "\x00", "1e309"]
)


def consume(connector: Any) -> None:
    try:
        for obj in connector.fetch_work_items(None):
            del obj
        connector.check()
    except PmohubError as exc:
        assert str(exc)


def sheet_source(path: Path) -> SpreadsheetConnector:
    return SpreadsheetConnector(
        SourceConfig(name="s", type="spreadsheet", options={"path": str(path), "project_key": "P"})
    )


@FUZZ
@given(
    header=HEADERS,
    rows=st.lists(st.lists(CELLS, max_size=9), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
    edits=EDITS,
)
def test_fuzz_csv(
    header: list[str], rows: list[list[str]], delimiter: str, edits: list, tmp_path: Path
) -> None:
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / "plan.csv"
    path.write_bytes(mutate(buf.getvalue().encode("utf-8"), edits))
    consume(sheet_source(path))


def _valid_xlsx(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Key", "Summary", "Issue Type", "Status", "Due Date"])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


XLSX_CELLS = (
    st.none()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=12)
    | st.dates()
)


@settings(FUZZ, max_examples=max(1, EXAMPLES * 3 // 8))  # each example saves a workbook
@given(rows=st.lists(st.lists(XLSX_CELLS, max_size=6), max_size=6), edits=EDITS)
@example(rows=[], edits=[(242, 1, b"\x00")])  # found: zlib.error from a damaged part
def test_fuzz_xlsx(rows: list[list[Any]], edits: list, tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    data = _valid_xlsx(rows)
    path.write_bytes(data)
    consume(sheet_source(path))  # the valid workbook reads
    path.write_bytes(mutate(data, edits))  # and a damaged one says so
    consume(sheet_source(path))


@FUZZ
@given(
    members=st.dictionaries(
        st.sampled_from(
            ["xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml",
             "[Content_Types].xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"]
        ),
        st.binary(max_size=200) | st.sampled_from([b"<workbook/>", b"<?xml version='1.0'?><x>"]),
        max_size=6,
    )
)  # fmt: skip
def test_fuzz_xlsx_parts(members: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "parts.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    consume(sheet_source(path))


# ------------------------------------------------------------------------- MS Project

TASK_FIELDS = st.sampled_from(
    ["UID", "ID", "Name", "OutlineLevel", "OutlineNumber", "Start", "Finish", "Summary",
     "Milestone", "PercentComplete", "Work", "Duration", "Type", "Notes", "Priority"]
)  # fmt: skip
XML_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
FIELD_VALUES = XML_TEXT | st.sampled_from(
    ["1", "0", "-1", "2026-02-30T09:00:00", "2026-09-01T09:00:00", "PT8H0M0S", "100", "999"]
)


def _xml(tasks: list[dict[str, str]]) -> str:
    from xml.sax.saxutils import escape

    def clean(s: str) -> str:  # characters XML 1.0 cannot carry at all
        return "".join(c for c in s if c in "\t\n\r" or ord(c) >= 0x20)

    body = "".join(
        "<Task>" + "".join(f"<{k}>{escape(clean(v))}</{k}>" for k, v in t.items()) + "</Task>"
        for t in tasks
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Project xmlns="http://schemas.microsoft.com/project"><Name>f</Name>'
        f"<Tasks>{body}</Tasks></Project>\n"
    )


@FUZZ
@given(
    tasks=st.lists(st.dictionaries(TASK_FIELDS, FIELD_VALUES, max_size=8), max_size=8),
    edits=EDITS,
)
def test_fuzz_msproject(tasks: list[dict[str, str]], edits: list, tmp_path: Path) -> None:
    path = tmp_path / "plan.xml"
    text = _xml(tasks)
    for content in (text.encode("utf-8"), mutate(text.encode("utf-8"), edits)):
        path.write_bytes(content)
        connector = MSProjectConnector(
            SourceConfig(name="m", type="msproject", options={"path": str(path)})
        )
        consume(connector)
