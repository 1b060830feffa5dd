"""Renderers of the report model: HTML (self-contained, e-mail safe), Markdown, Excel,
JSON and CSV. All tracker text is escaped: Jinja2 autoescape in HTML, entity-escaping
in Markdown; in Excel and CSV a text cell that starts like a formula (``=``, ``+``, ``-``,
``@``, tab, CR) is written as text / prefixed with a quote (aggregator/safefiles.py), so
tracker text never becomes a live formula. Files are written atomically and privately.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from pmohub.aggregator.report.i18n import t, text_of
from pmohub.aggregator.report.model import Column, Report, Table
from pmohub.aggregator.safefiles import (
    check_target,
    is_formula_like,
    make_private_dir,
    neutralise_csv,
    write_bytes,
)

FORMATS = ("html", "md", "xlsx", "json", "csv")
TRANSLATED_KINDS = {"rag": "rag", "state": "state", "severity": "sev", "level": "level", "ms": "ms"}
RAG_CSS = {"green": "#2e9d4f", "amber": "#f0a500", "red": "#d64541", "ne": "#9e9e9e"}
RAG_FILL = {"green": "C6EFCE", "amber": "FFEB9C", "red": "FFC7CE", "ne": "E0E0E0"}


def _tz(report: Report) -> ZoneInfo:
    return ZoneInfo(report.trace.get("timezone") or "UTC")


def column_kind(col: Column, row: dict[str, Any]) -> str:
    return str(row.get("kind") or "text") if col.kind == "mixed" else col.kind


def display(value: Any, kind: str, lang: str, tz: ZoneInfo) -> str:
    """A cell as text for people (HTML, Markdown)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return text_of(value, lang)
    if kind in TRANSLATED_KINDS:
        return t(f"{TRANSLATED_KINDS[kind]}.{value}", lang)
    if kind == "bool":
        return t(f"bool.{str(bool(value)).lower()}", lang)
    if kind == "percent":
        return f"{float(value) * 100:.1f} %"
    if kind == "hours":
        return f"{float(value):,.1f}"
    if kind == "float":
        return f"{float(value):.2f}"
    if kind == "int":
        return f"{int(value)}"
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def cell_value(value: Any, kind: str, lang: str, tz: dt.tzinfo = dt.UTC) -> Any:
    """A cell as a typed value for spreadsheets: numbers stay numbers, dates dates; words
    are translated. Datetimes are wall-clock time in ``tz`` (the report's configured zone,
    so the xlsx shows the same times as the HTML)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return text_of(value, lang)
    if kind in TRANSLATED_KINDS:
        return t(f"{TRANSLATED_KINDS[kind]}.{value}", lang)
    if isinstance(value, dt.datetime):
        # Excel has no time zones: local time in ``tz``, named in the column header
        return value.astimezone(tz).replace(tzinfo=None, microsecond=0)
    return value


def title_text(report: Report, lang: str) -> str:
    scope = (
        f"{report.portfolio} {report.portfolio_name or ''}".strip()
        if report.portfolio
        else t("title.all", lang)
    )
    return f"{report.title.get(lang, report.title['en'])} · {scope} · {report.as_of_text()}"


def subject_line(report: Report, lang: str, prefix: str = "") -> str:
    rag = t(f"rag.{report.overall_rag}", lang)
    return f"{prefix + ' ' if prefix else ''}{title_text(report, lang)} · {rag}".strip()


# --------------------------------------------------------------------------- HTML


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pmohub.aggregator.report", "templates"),
        autoescape=True,  # every value, tracker text included, is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render_html(report: Report, lang: str = "en", *, charts: bool = True) -> str:
    from pmohub.aggregator.report.charts import chart_uri

    tz = _tz(report)
    other = "en" if lang == "zh" else "zh"
    sections = []
    for s in report.sections:
        tables = []
        for tab in s.tables:
            rows = []
            for row in tab.rows:
                cells = []
                for c in tab.columns:
                    kind = column_kind(c, row)
                    v = row.get(c.key)
                    cells.append(
                        {
                            "text": display(v, kind, lang, tz),
                            "rag": v if kind == "rag" else None,
                            "num": kind in ("int", "float", "percent", "hours"),
                        }
                    )
                rows.append(cells)
            tables.append(
                {
                    "title": t(tab.title, lang),
                    "headers": [t(c.label, lang) for c in tab.columns],
                    "num": [c.kind in ("int", "float", "percent", "hours") for c in tab.columns],
                    "rows": rows,
                }
            )
        images = []
        if charts:
            for ch in s.charts:
                uri = chart_uri(ch.id, ch.data, lang)
                if uri:
                    images.append({"uri": uri, "alt": t(ch.title, lang)})
        sections.append(
            {
                "anchor": f"s{s.number}",
                "number": s.number,
                "title": s.title.get(lang, s.title["en"]),
                "subtitle": s.title.get(other, ""),
                "available": s.available,
                "messages": [text_of(mm, lang) for mm in s.messages],
                "tables": tables,
                "images": images,
            }
        )
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            lang="zh-CN" if lang == "zh" else "en",
            title=title_text(report, lang),
            as_of=report.as_of_text(),
            generated=display(report.generated_at, "datetime", lang, tz),
            overall=t(f"rag.{report.overall_rag}", lang),
            overall_colour=RAG_CSS.get(report.overall_rag, "#9e9e9e"),
            rag_css=RAG_CSS,
            sections=sections,
            labels={
                "as_of": t("label.as_of", lang),
                "generated": t("label.generated_at", lang),
                "contents": t("label.contents", lang),
                "none": t("label.none", lang),
                "not_available": t("label.not_available", lang),
                "footer": t("label.footer", lang),
                "overall": t("m.overall_rag", lang),
            },
        )
    )


# --------------------------------------------------------------------------- Markdown

_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]|#])")


def md_escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_ESCAPE.sub(r"\\\1", text)
    return " ".join(text.splitlines())


def render_markdown(report: Report, lang: str = "en") -> str:
    tz = _tz(report)
    out = [f"# {md_escape(title_text(report, lang))}", ""]
    out.append(
        f"**{t('m.overall_rag', lang)}:** {t('rag.' + report.overall_rag, lang)} · "
        f"**{t('label.as_of', lang)}:** {report.as_of_text()} · "
        f"**{t('label.generated_at', lang)}:** {display(report.generated_at, 'datetime', lang, tz)}"
    )
    out.append("")
    other = "en" if lang == "zh" else "zh"
    for s in report.sections:
        out.append(f"## {s.number}. {md_escape(s.title[lang])} / {md_escape(s.title[other])}")
        out.append("")
        if not s.available:
            out.append(f"_{t('label.not_available', lang)}_")
            out.append("")
        for mm in s.messages:
            out.append(f"- {md_escape(text_of(mm, lang))}")
        if s.messages:
            out.append("")
        for tab in s.tables:
            out.append(f"### {md_escape(t(tab.title, lang))}")
            out.append("")
            if not tab.rows:
                out.append(f"_{t('label.none', lang)}_")
                out.append("")
                continue
            out.append("| " + " | ".join(md_escape(t(c.label, lang)) for c in tab.columns) + " |")
            out.append(
                "|"
                + "|".join(
                    "---:" if c.kind in ("int", "float", "percent", "hours") else "---"
                    for c in tab.columns
                )
                + "|"
            )
            for row in tab.rows:
                out.append(
                    "| "
                    + " | ".join(
                        md_escape(display(row.get(c.key), column_kind(c, row), lang, tz))
                        for c in tab.columns
                    )
                    + " |"
                )
            out.append("")
    out.append(f"_{md_escape(t('label.footer', lang))}_")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Excel

_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_name(section_number: int, index: int, title: str, used: set[str]) -> str:
    base = f"{section_number:02d}{chr(ord('a') + index) if index else ''} {title}"
    name = _SHEET_BAD.sub(" ", base)[:31].strip()
    n = 2
    while name in used:
        name = f"{name[:28]}~{n}"
        n += 1
    used.add(name)
    return name


def xlsx_sheets(report: Report) -> list[tuple[int, Table]]:
    """(section number, table) per sheet, in workbook order after the cover sheet."""
    return [(s.number, tab) for s in report.sections for tab in s.tables]


def render_xlsx(report: Report, lang: str = "en") -> bytes:
    from openpyxl import Workbook
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    cover = wb.active
    cover.title = "Report" if lang == "en" else "报告"
    tz_name = report.trace.get("timezone") or "UTC"
    tz = _tz(report)
    cover.append([title_text(report, lang)])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([t("m.overall_rag", lang), t(f"rag.{report.overall_rag}", lang)])
    cover.append([t("label.as_of", lang), report.as_of])
    cover.cell(row=3, column=2).number_format = "yyyy-mm-dd"
    cover.append(
        [
            t("label.generated_at", lang) + f" ({tz_name})",
            cell_value(report.generated_at, "datetime", lang, tz),
        ]
    )
    cover.cell(row=4, column=2).number_format = "yyyy-mm-dd hh:mm"
    cover.append(["timezone", tz_name])
    cover.append([])
    for s in report.sections:
        for mm in s.messages:
            cover.append([s.title[lang], text_of(mm, lang)])
    cover.column_dimensions["A"].width = 28
    cover.column_dimensions["B"].width = 100
    colour = {
        t(f"rag.{k}", lang): PatternFill(start_color=v, end_color=v, fill_type="solid")
        for k, v in RAG_FILL.items()
    }
    used: set[str] = {cover.title}
    counters: dict[int, int] = {}
    for number, tab in xlsx_sheets(report):
        idx = counters.get(number, 0)
        counters[number] = idx + 1
        ws = wb.create_sheet(sheet_name(number, idx, t(tab.title, lang), used))
        headers = [
            t(c.label, lang) + (f" ({tz_name})" if c.kind == "datetime" else "")
            for c in tab.columns
        ]
        ws.append(headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(vertical="top", wrap_text=True)
        for row in tab.rows:
            ws.append(
                [cell_value(row.get(c.key), column_kind(c, row), lang, tz) for c in tab.columns]
            )
        last_row = max(1, len(tab.rows) + 1)
        for j, c in enumerate(tab.columns, start=1):
            letter = get_column_letter(j)
            fmt = {
                "date": "yyyy-mm-dd",
                "datetime": "yyyy-mm-dd hh:mm",
                "percent": "0.0%",
                "hours": "#,##0.0",
                "float": "0.00",
                "int": "0",
            }.get(c.kind)
            if fmt and len(tab.rows):
                for (cell,) in ws.iter_rows(min_row=2, max_row=last_row, min_col=j, max_col=j):
                    cell.number_format = fmt
            width = max(
                [len(str(headers[j - 1]))]
                + [
                    len(str(display(r.get(c.key), column_kind(c, r), lang, tz)))
                    for r in tab.rows[:200]
                ]
            )
            ws.column_dimensions[letter].width = min(60, max(8, width + 2))
            if c.kind == "rag" and len(tab.rows):
                ref = f"{letter}2:{letter}{last_row}"
                for label, fill in colour.items():
                    ws.conditional_formatting.add(
                        ref, CellIsRule(operator="equal", formula=[f'"{label}"'], fill=fill)
                    )
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(tab.columns))}{last_row}"
    _formulas_as_text(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _formulas_as_text(wb: Any) -> None:
    """openpyxl stores any string starting with ``=`` as a formula; tracker text must stay
    text (formula injection): string type, and Excel's quote prefix so that editing the
    cell does not turn it into a formula either. The report itself writes no formulas."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if is_formula_like(cell.value):
                    cell.data_type = "s"
                    cell.quotePrefix = True


# --------------------------------------------------------------------------- JSON / CSV


def render_json(report: Report, lang: str = "en") -> str:
    data = report.to_dict()
    data["lang"] = lang
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


CSV_COLUMNS = ("section", "table", "row", "column", "value")


def render_csv(report: Report, lang: str = "en") -> str:
    """Every table in one long CSV: section, table, row number, column key, value (dates ISO,
    numbers plain, words translated), so one file carries the whole report."""
    buf = io.StringIO()
    # CRLF (RFC 4180): the writer quotes a field only when it holds a character of the line
    # terminator, so with "\n" a lone CR in tracker text went out unquoted and split the row
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    tz = _tz(report)
    for s in report.sections:
        for tab in s.tables:
            for i, row in enumerate(tab.rows, start=1):
                for c in tab.columns:
                    v = cell_value(row.get(c.key), column_kind(c, row), lang, tz)
                    if isinstance(v, dt.datetime):  # ISO with the zone's offset
                        v = v.replace(tzinfo=tz).isoformat()
                    elif isinstance(v, dt.date):
                        v = v.isoformat()
                    w.writerow([s.id, tab.id, i, c.key, "" if v is None else neutralise_csv(v)])
    return buf.getvalue()


def render(report: Report, fmt: str, lang: str = "en") -> bytes:
    if fmt == "html":
        return render_html(report, lang).encode("utf-8")
    if fmt == "md":
        return render_markdown(report, lang).encode("utf-8")
    if fmt == "xlsx":
        return render_xlsx(report, lang)
    if fmt == "json":
        return render_json(report, lang).encode("utf-8")
    if fmt == "csv":
        # BOM: Excel opens UTF-8 CSV with Chinese text correctly only with it.
        return render_csv(report, lang).encode("utf-8-sig")
    raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")


def write_report(report: Report, fmt: str, path: str | Path, lang: str = "en") -> Path:
    """Write atomically through a private temporary file in the target directory, renamed
    over the target: a reader never sees half a report, a planted symlink is not followed,
    and a target that is not a regular file (``/dev/full``) is refused
    (:func:`pmohub.aggregator.safefiles.atomic_output`)."""
    path = Path(path)
    check_target(path)  # before the work of rendering
    make_private_dir(path.parent)
    data = render(report, fmt, lang)
    write_bytes(path, data)
    return path
