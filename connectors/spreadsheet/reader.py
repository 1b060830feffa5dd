"""File I/O for the spreadsheet connector: CSV (encoding detected) and XLSX (openpyxl,
read-only, streaming). Nothing here knows about records; it yields cells.

Row numbers are the ones a person sees when opening the file in Excel/WPS: 1-based, the
header row included, one per CSV record (a quoted multi-line cell is still one row).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmohub.connectors.errors import ConfigError

Cell = str | int | float | bool | dt.datetime | dt.date | dt.time | None

# utf-8-sig also reads plain UTF-8 and strips the BOM Excel writes ("CSV UTF-8").
# GB18030 is a superset of GBK/GB2312: Chinese Excel "CSV" exports are in it. UTF-8 is
# tried first because GBK decodes almost any byte soup, UTF-8 does not.
DEFAULT_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "gb18030")
HEADER_SCAN_ROWS = 30
_CHUNK = 1 << 16
#: Largest CSV cell read. Python's csv default (131,072 characters) is smaller than the
#: comment cells of real Jira exports (141,307 in one of ours), and the csv module fails
#: the whole file on the first one. Bounded all the same: a file with an unterminated
#: quote would otherwise pull everything after it into one cell in memory.
MAX_CELL_CHARS = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A CSV record that cannot be trusted: its problem, the record's row number and the
    physical lines it spans. ``fetch_rows`` leaves it out and reports it."""

    row: int
    first_line: int
    last_line: int
    message: str


@dataclass(frozen=True, slots=True)
class Table:
    """Where the data sits in a file: the sheet, the header row and its cleaned headers."""

    path: Path
    sheet: str | None  # None for CSV
    header_row: int
    headers: tuple[str | None, ...]  # None where the header cell is empty (column ignored)
    encoding: str | None = None  # CSV only
    delimiter: str | None = None  # CSV only

    @property
    def label(self) -> str:
        """How messages name the file: ``plan.xlsx`` or ``plan.xlsx sheet '计划'``."""
        if self.sheet is None:
            return self.path.name
        return f"{self.path.name} sheet {self.sheet!r}"


def file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".xls":
        raise ConfigError(
            f"{path.name}: the old binary .xls format is not supported; "
            "save it as .xlsx (Excel Workbook) or CSV"
        )
    raise ConfigError(f"{path.name}: unknown spreadsheet type {suffix!r}; use .csv or .xlsx")


def detect_encoding(path: Path, candidates: Sequence[str] = DEFAULT_ENCODINGS) -> str:
    """The first candidate that decodes the whole file, read in chunks (flat memory)."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode Text" export: UTF-16 with BOM, tab-separated
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ConfigError(
        f"{path.name}: cannot decode the file as {' or '.join(candidates)}; "
        "set options.encoding or save it as 'CSV UTF-8'"
    )


def _sniff_delimiter(path: Path, encoding: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    with path.open(encoding=encoding, newline="") as f:
        sample = f.read(8192)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _clean(value: Any) -> Cell:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _fetch_raw_csv(
    path: Path, encoding: str, delimiter: str
) -> Iterator[tuple[list[Cell], int, int]]:
    """(cells, first physical line, last physical line) per record."""
    if csv.field_size_limit() < MAX_CELL_CHARS:
        csv.field_size_limit(MAX_CELL_CHARS)
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        last = 0
        try:
            for record in reader:
                yield [_clean(v) for v in record], last + 1, reader.line_num
                last = reader.line_num
        except csv.Error as exc:
            raise csv.Error(f"line {reader.line_num}: {exc}") from exc


#: Bounds on what an .xlsx may unpack to, checked in the zip directory before openpyxl
#: reads a byte (issue 13: a zip bomb ran into MemoryError). openpyxl streams the sheets
#: in read-only mode, but holds the shared strings, styles and workbook parts whole.
XLSX_MAX_TOTAL = 2 * 1024**3
XLSX_MAX_MEMBER = 1024**3
XLSX_MAX_HELD = 256 * 1024**2  # a part openpyxl keeps in memory (not a sheet)
XLSX_MAX_RATIO = 200  # uncompressed / compressed, for members above 16 MiB


def check_xlsx_container(path: Path) -> None:
    """Fail with a clear ConfigError when ``path`` is not a zip, or unpacks beyond the
    bounds above (zipfile enforces the sizes the directory states, so they can be trusted
    as an upper bound)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ConfigError(
            f"{path.name}: not an Excel file (.xlsx is a zip archive; this is not one: "
            "a renamed .xls or CSV, or a damaged download?)"
        ) from None
    total = 0
    for m in members:
        total += m.file_size
        held = not m.filename.startswith("xl/worksheets/")
        ratio = m.file_size / max(m.compress_size, 1)
        if (
            m.file_size > XLSX_MAX_MEMBER
            or (held and m.file_size > XLSX_MAX_HELD)
            or (m.file_size > 16 * 1024**2 and ratio > XLSX_MAX_RATIO)
            or total > XLSX_MAX_TOTAL
        ):
            raise ConfigError(
                f"{path.name}: {m.filename} would unpack to {m.file_size:,} bytes "
                f"({ratio:,.0f}x its compressed size; {total:,} bytes so far): beyond what "
                "pmohub reads from a spreadsheet (a zip bomb?); not read"
            )
    if not any(m.filename == "xl/workbook.xml" for m in members):
        raise ConfigError(f"{path.name}: not an Excel workbook (a zip without xl/workbook.xml)")


def _fetch_raw_xlsx(path: Path, sheet: str | None) -> Iterator[tuple[str, list[Cell]]]:
    import zipfile
    import zlib

    import openpyxl  # the only module that imports the vendor library
    from openpyxl.utils.exceptions import InvalidFileException

    check_xlsx_container(path)
    try:
        # data_only: the cached result of formulas, not "=SUM(...)"
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (
        InvalidFileException,
        OSError,
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,  # a damaged deflate stream (found by fuzzing)
        SyntaxError,  # ElementTree.ParseError of a damaged part
    ) as exc:
        raise ConfigError(f"{path.name}: not a readable .xlsx workbook ({exc})") from exc
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise ConfigError(
                f"{path.name}: no sheet {sheet!r}; sheets are: {', '.join(wb.sheetnames)}"
            )
        title = ws.title
        # read_only worksheets yield every row from 1, empty ones included, so the
        # position is the row number Excel shows.
        rows = ws.iter_rows(values_only=True)
        while True:
            try:
                values = next(rows)
            except StopIteration:
                break
            except (zipfile.BadZipFile, zlib.error, EOFError, SyntaxError, ValueError) as exc:
                # the sheet is streamed: a damaged part shows only while it is read
                raise ConfigError(f"{path.name}: sheet {title!r} is damaged ({exc})") from exc
            yield title, [_clean(v) for v in values]
    finally:
        wb.close()


def fetch_raw_rows(
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Iterator[tuple[int, list[Cell], dict[str, Any]]]:
    """(row_number, cells, facts) for every row; ``facts`` says sheet/encoding/delimiter."""
    if not path.is_file():
        raise ConfigError(f"spreadsheet file not found: {path}")
    if file_kind(path) == "csv":
        enc = encoding or detect_encoding(path)
        delim = delimiter or _sniff_delimiter(path, enc)
        facts: dict[str, Any] = {"sheet": None, "encoding": enc, "delimiter": delim}
        try:
            for n, (cells, first, last) in enumerate(_fetch_raw_csv(path, enc, delim), start=1):
                yield n, cells, {**facts, "lines": (first, last)} if last > first else facts
        except UnicodeDecodeError as exc:  # only with an explicit, wrong options.encoding
            raise ConfigError(f"{path.name}: not valid {enc} ({exc.reason})") from exc
        except csv.Error as exc:
            raise ConfigError(f"{path.name}: malformed CSV ({exc})") from exc
        return
    for n, (title, cells) in enumerate(_fetch_raw_xlsx(path, sheet), start=1):
        yield n, cells, {"sheet": title, "encoding": None, "delimiter": None}


def _header_text(value: Cell) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split())
    return text or None


def read_table(
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    header_row: int | None = None,
    is_header: Callable[[Sequence[str | None]], bool],
    describe_missing: Callable[[Sequence[str | None]], str],
) -> Table:
    """Find the header row: ``header_row`` if given, else the first of the top
    ``HEADER_SCAN_ROWS`` rows that ``is_header`` accepts (PMO sheets often carry a title
    and a few notes above the header)."""
    best: tuple[int, tuple[str | None, ...]] | None = None
    facts: dict[str, Any] = {}
    for n, cells, facts in fetch_raw_rows(
        path, sheet=sheet, encoding=encoding, delimiter=delimiter
    ):
        headers = tuple(_header_text(c) for c in cells)
        if header_row is not None:
            if n < header_row:
                continue
            best = (n, headers)
            if not is_header(headers):
                break
            return _make_table(path, n, headers, facts)
        if not any(headers):
            continue
        if best is None or sum(h is not None for h in headers) > sum(
            h is not None for h in best[1]
        ):
            best = (n, headers)
        if is_header(headers):
            return _make_table(path, n, headers, facts)
        if n >= HEADER_SCAN_ROWS:
            break
    where = path.name if not facts.get("sheet") else f"{path.name} sheet {facts['sheet']!r}"
    if best is None:
        raise ConfigError(f"{where}: no header row found (the sheet is empty)")
    n, headers = best
    found = ", ".join(h for h in headers if h) or "(nothing)"
    raise ConfigError(f"{where}: {describe_missing(headers)}; header row {n} has: {found}")


def _make_table(
    path: Path, n: int, headers: tuple[str | None, ...], facts: dict[str, Any]
) -> Table:
    seen: dict[str, int] = {}
    unique: list[str | None] = []
    for h in headers:
        if h is None:
            unique.append(None)
            continue
        seen[h] = seen.get(h, 0) + 1
        # Excel happily allows two "备注" columns; keep both, addressable as 备注 and 备注.2
        unique.append(h if seen[h] == 1 else f"{h}.{seen[h]}")
    return Table(
        path=path,
        sheet=facts.get("sheet"),
        header_row=n,
        headers=tuple(unique),
        encoding=facts.get("encoding"),
        delimiter=facts.get("delimiter"),
    )


def _suspect(n: int, cells: list[Cell], facts: dict[str, Any], width: int) -> BadRecord | None:
    """A CSV record spanning several lines whose cell count is not the header's: the mark of
    an unterminated quote, which makes the csv module read the following rows into one
    cell (silently: Python's reader only complains at the very end of the file, and not
    even then unless ``strict``). A legitimate multi-line cell keeps the count."""
    lines = facts.get("lines")
    if lines is None or len(cells) == width:
        return None
    first, last = lines
    return BadRecord(
        row=n,
        first_line=first,
        last_line=last,
        message=(
            f"line {first}: unterminated quote? this record runs to line {last} and has "
            f"{len(cells)} cells where the header has {width}; the rows it swallowed are "
            "not loaded: fix the quote"
        ),
    )


def fetch_rows(
    table: Table, bad: list[BadRecord] | None = None
) -> Iterator[tuple[int, dict[str, Cell]]]:
    """(row_number, {header: cell}) for each non-blank row below the header row. A CSV
    record that swallowed others (see ``_suspect``) is left out and appended to ``bad``."""
    width = len(table.headers)
    for n, cells, facts in fetch_raw_rows(
        table.path, sheet=table.sheet, encoding=table.encoding, delimiter=table.delimiter
    ):
        if n <= table.header_row or all(c is None for c in cells):
            continue
        suspect = _suspect(n, cells, facts, width)
        if suspect is not None:
            if bad is not None:
                bad.append(suspect)
            continue
        row = {h: cells[i] if i < len(cells) else None for i, h in enumerate(table.headers) if h}
        if all(v is None for v in row.values()):
            continue  # text only in columns without a header: notes beside the table
        yield n, row
