"""The report model: a plain, JSON-serialisable description of the weekly (or monthly) PMO
report. Renderers (HTML, Markdown, Excel, CSV/JSON) only lay it out; the sections that fill it
live in :mod:`aggregator.report.sections` and :mod:`aggregator.report.build` assembles them.

Shape: :class:`Report` -> :class:`Section` (the report's sections, English and Chinese
headings) -> :class:`Table` (typed :class:`Column` + rows of plain values) and
:class:`Chart` (data series; pictures are drawn by the HTML renderer). Words are stored as
catalogue keys (``{"key": ..., "params": ...}``, see :mod:`aggregator.report.i18n`) so one
model renders in either language; tracker text (titles, names) is stored as is and escaped
by the renderers.

Traceability: ``Report.trace`` lists the as-of date, the sync run of every source (id,
status, times), the rules evaluated with their versions and the snapshots used.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pmohub.aggregator.report.i18n import both


@dataclass
class Column:
    key: str
    label: str  # catalogue key
    kind: str = "text"  # text|int|float|percent|hours|date|datetime|rag|bool|state|severity


@dataclass
class Table:
    id: str
    title: str  # catalogue key
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Chart:
    id: str  # rag_trend | burnup | load_heatmap | compliance_trend
    title: str  # catalogue key
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Section:
    id: str
    number: int
    title: dict[str, str]  # {"en": ..., "zh": ...}
    available: bool = True
    messages: list[Any] = field(default_factory=list)  # text items
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass
class Report:
    kind: str  # weekly | monthly
    as_of: dt.date
    generated_at: dt.datetime
    portfolio: str | None
    portfolio_name: str | None
    title: dict[str, str]
    overall_rag: str
    trace: dict[str, Any]
    sections: list[Section]
    notes: list[Any] = field(default_factory=list)  # data-quality notes (text items)
    data_label: str | None = None  # report.data_label, e.g. "demo data"

    def as_of_text(self) -> str:
        """``2026-11-21``, or ``2026-11-21 (demo data)`` with a data label."""
        day = self.as_of.isoformat()
        return f"{day} ({self.data_label})" if self.data_label else day

    def section(self, sid: str) -> Section:
        return next(s for s in self.sections if s.id == sid)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


def to_jsonable(value: Any) -> Any:
    """Dates as ``YYYY-MM-DD``, datetimes as ISO 8601 UTC, NaN as null."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        # whole seconds: Excel keeps milliseconds at best, and no report needs more
        value = value.astimezone(dt.UTC).replace(microsecond=0)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if np.isnan(f) else f
    if value is pd.NaT:
        return None
    return value


def msg(key: str, /, **params: Any) -> dict[str, Any]:
    return {"key": key, "params": params}


def section_title(key: str) -> dict[str, str]:
    """A heading in both languages, from its catalogue key."""
    return both(key)


def new_section(sid: str, *, available: bool = True) -> Section:
    """An empty section under its catalogue heading (``sec.<id>``). Its number is its place in
    the ordered list (:data:`aggregator.report.sections.SECTIONS`), set when the report is
    assembled, so no builder repeats it."""
    return Section(sid, 0, section_title(f"sec.{sid}"), available=available)
