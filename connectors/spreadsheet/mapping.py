"""Pure mapping from spreadsheet cells to records: header synonyms, cell parsers (dates,
hours, statuses) and the ``to_*`` functions. No I/O here.

Cell parsers raise ``CellError`` naming what they could not read; the connector turns it
into a ``RecordError`` with the file, row and header.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pmohub.connectors.base import DEFAULT_TIME_ZONE
from pmohub.connectors.records import STATUS_CATEGORIES, Milestone, Person, Project, WorkItem

Cell = Any


class CellError(ValueError):
    """One cell could not be read. ``field`` is the canonical field name."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


# Canonical field -> header synonyms (English and Chinese), most specific first: when a
# sheet has several (编号 and 序号), the earlier one wins. Matching ignores case, spaces,
# a trailing "*" (required-field marker) and full/half-width differences (（h） == (h)).
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "key": ("编号", "任务编号", "任务ID", "ID", "Key", "Issue Key", "Task ID", "序号"),
    # Jira exports: the numeric id that ``Parent id`` refers to (the key is "Issue key")
    "issue_id": ("Issue id",),
    "title": (
        "任务名称",
        "名称",
        "标题",
        "任务",
        "工作项",
        "事项",
        "Title",
        "Summary",
        "Task Name",
        "Name",
        "Task",
    ),
    "project": ("项目", "项目编号", "项目代码", "Project", "Project Key"),
    "project_name": ("项目名称", "Project Name"),
    "type": ("类型", "任务类型", "工作项类型", "Type", "Issue Type", "Item Type"),
    "status": ("状态", "任务状态", "Status", "State"),
    "priority": ("优先级", "Priority"),
    "assignee": ("负责人", "执行人", "经办人", "处理人", "责任人", "Assignee", "Owner"),
    "assignee_email": (
        "负责人邮箱",
        "邮箱",
        "电子邮件",
        "邮件",
        "Assignee Email",
        "Email",
        "E-mail",
    ),
    "reporter": ("创建人", "报告人", "提出人", "Reporter", "Created By"),
    "parent": (
        "上级编号",
        "上级",
        "上级任务",
        "父任务",
        "父任务编号",
        "父级",
        "Parent",
        "Parent ID",
        "Parent Key",
        "Parent id",
        "Parent Task",
    ),
    "wbs": ("WBS", "WBS编号", "WBS编码", "大纲编号", "大纲", "WBS Code", "Outline Number"),
    "start_on": (
        "开始日期",
        "计划开始",
        "计划开始日期",
        "开始时间",
        "Start",
        "Start Date",
        "Planned Start",
    ),
    "due_on": (
        "截止日期",
        "完成日期",
        "计划完成",
        "计划完成日期",
        "结束日期",
        "到期日",
        "Due",
        "Due Date",
        "End Date",
        "Finish",
        "Planned Finish",
    ),
    "resolved_at": (
        "实际完成",
        "实际完成日期",
        "实际完成时间",
        "Resolved",
        "Actual Finish",
        "Completed On",
    ),
    "created_at": ("创建时间", "创建日期", "Created", "Created At"),
    "updated_at": ("更新时间", "最后更新", "Updated", "Updated At", "Last Updated"),
    "original_estimate_h": (
        "预计工时",
        "计划工时",
        "估算工时",
        "工时(h)",
        "工时",
        "Estimate",
        "Estimate (h)",
        "Original Estimate",
        "Estimated Hours",
    ),
    "time_spent_h": ("已用工时", "实际工时", "Time Spent", "Spent (h)", "Actual Hours"),
    "remaining_estimate_h": ("剩余工时", "Remaining", "Remaining (h)", "Remaining Estimate"),
    "story_points": (
        "故事点",
        "Story Points",
        "SP",
        "Points",
        "Custom field (Story Points)",
        "Custom field (Story point estimate)",
    ),
    "milestone": ("里程碑", "所属里程碑", "Milestone", "Fix Version", "Fix Version/s"),
    "labels": ("标签", "Labels", "Tags"),
    "components": ("模块", "组件", "Components", "Component", "Component/s"),
    "sprints": ("Sprint", "Sprints"),
    "predecessors": ("前置任务", "紧前任务", "依赖", "Predecessors", "Depends On"),
    "percent_complete": (
        "完成百分比",
        "完成率",
        "完成度",
        "完成进度",
        "进度",
        "% Complete",
        "Percent Complete",
        "% Done",
        "Progress",
    ),
    "url": ("链接", "URL", "Link"),
}
KNOWN_FIELDS = frozenset(FIELD_SYNONYMS)
DATE_FIELDS = ("start_on", "due_on")
DATETIME_FIELDS = ("resolved_at", "created_at", "updated_at")
HOUR_FIELDS = ("original_estimate_h", "time_spent_h", "remaining_estimate_h")
#: Fields a sheet may repeat: Jira's CSV export writes one ``Labels`` / ``Sprint`` /
#: ``Fix Version/s`` / ``Component/s`` column per value, all under the same header.
LIST_FIELDS = ("labels", "components", "milestone", "sprints")
#: Jira's CSV export (Data Center and Cloud, English UI): ``10/May/22 10:37 PM``. Month
#: names make it unambiguous, so it is always tried after the configured formats.
JIRA_DATE_FORMATS: tuple[str, ...] = ("%d/%b/%y %I:%M %p", "%d/%b/%y %H:%M", "%d/%b/%y")

# Built-in status words; the source's ``status_map`` is applied first and wins.
DEFAULT_STATUS_MAP: dict[str, str] = {
    **dict.fromkeys(
        (
            "未开始",
            "待办",
            "待处理",
            "新建",
            "计划中",
            "未启动",
            "to do",
            "todo",
            "open",
            "new",
            "not started",
            "backlog",
            "planned",
        ),
        "todo",
    ),
    **dict.fromkeys(
        (
            "进行中",
            "处理中",
            "开发中",
            "测试中",
            "执行中",
            "已开始",
            "in progress",
            "doing",
            "started",
            "active",
            "ongoing",
            "wip",
        ),
        "in_progress",
    ),
    **dict.fromkeys(("待验收", "评审中", "in review", "review"), "review"),
    **dict.fromkeys(("阻塞", "受阻", "暂停", "挂起", "blocked", "on hold"), "blocked"),
    **dict.fromkeys(
        (
            "已完成",
            "完成",
            "已关闭",
            "关闭",
            "已验收",
            "已上线",
            "已解决",
            "done",
            "closed",
            "complete",
            "completed",
            "resolved",
            "finished",
        ),
        "done",
    ),
    **dict.fromkeys(
        (
            "已取消",
            "取消",
            "作废",
            "已作废",
            "不做",
            "cancelled",
            "canceled",
            "won't do",
            "abandoned",
            "dropped",
        ),
        "cancelled",
    ),
}
_DEFAULT_STATUS_NORM = {"".join(k.split()).lower(): v for k, v in DEFAULT_STATUS_MAP.items()}
STATUS_MAP_VALUES: tuple[str, ...] = (*STATUS_CATEGORIES, "review", "blocked")
MILESTONE_TYPES: tuple[str, ...] = ("里程碑", "milestone", "Milestone")
_TRUE_FLAGS = frozenset(("是", "y", "yes", "true", "√", "✓", "✔", "1", "x"))
_FALSE_FLAGS = frozenset(("否", "n", "no", "false", "0", "-", "×"))


@lru_cache(maxsize=4096)  # headers, statuses and types repeat on every row
def normalise_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(text.split()).rstrip("*").lower()


def normalise_name(name: str) -> str:
    """Person names as identities: NFKC (full-width letters), single spaces, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


_TRAILING_NOTE = re.compile(r"\([^()]*\)$")


def resolve_columns(
    headers: Sequence[str | None], overrides: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(field -> header actually present, missing overrides field -> header asked for).

    Explicit ``overrides`` (the config's ``columns``) win; the synonyms fill the rest. A
    header claimed by an override is never also matched by a synonym.
    """
    by_norm: dict[str, str] = {}
    for h in headers:
        if h is not None:
            by_norm.setdefault(normalise_header(h), h)
    # then without a trailing unit or note: 预计工时（小时）, 截止日期(计划), Due (UTC+8)
    for norm, h in list(by_norm.items()):
        base = _TRAILING_NOTE.sub("", norm)
        if base:
            by_norm.setdefault(base, h)
    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    for fld, wanted in overrides.items():
        h = by_norm.get(normalise_header(wanted))
        if h is None:
            missing[fld] = wanted
        else:
            found[fld] = h
    taken = set(found.values())
    for fld, synonyms in FIELD_SYNONYMS.items():
        if fld in found or fld in overrides:
            continue
        for s in synonyms:
            h = by_norm.get(normalise_header(s))
            if h is not None and h not in taken:
                found[fld] = h
                taken.add(h)
                break
    return found, missing


# --- cell parsers ---------------------------------------------------------------------

_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 once Lotus' leap bug is absorbed
_SERIAL_RANGE = (1, 2958465)  # 1900-01-01 .. 9999-12-31
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_YMD_SEP = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_CN = re.compile(
    r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"
    r"(?:\s*(\d{1,2})\s*[:：时]\s*(\d{1,2})\s*分?(?::(\d{2}))?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")


def _from_serial(value: float) -> dt.datetime:
    if not (_SERIAL_RANGE[0] <= value <= _SERIAL_RANGE[1]):
        raise ValueError(value)
    days = int(value)
    seconds = round((value - days) * 86400)
    return dt.datetime.combine(_EXCEL_EPOCH + dt.timedelta(days=days), dt.time()) + dt.timedelta(
        seconds=seconds
    )


def _parse_when(fld: str, value: Cell, formats: Sequence[str]) -> dt.datetime | dt.date:
    """A date or naive/aware datetime from a cell; ``CellError`` when unreadable."""
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, bool):
        raise CellError(fld, f"cannot read date {value!r}")
    if isinstance(value, int | float):
        try:
            return _from_serial(float(value))
        except ValueError:
            raise CellError(fld, f"cannot read date {value!r} (not an Excel date serial)") from None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        for fmt in formats:  # configured first: they resolve ambiguity (5/1/2026)
            try:
                return dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
        for fmt in JIRA_DATE_FORMATS:
            try:
                when = dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
            return when.date() if fmt == "%d/%b/%y" else when
        for pattern in (_ISO, _YMD_SEP, _CN, _COMPACT):
            m = pattern.match(text)
            if m:
                y, mo, d, hh, mm, ss = (*m.groups(), None, None, None)[:6]
                if hh is None:
                    return dt.date(int(y), int(mo), int(d))
                return dt.datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss or 0))
        if _SERIAL.match(text):
            return _from_serial(float(text))
        try:
            return dt.datetime.fromisoformat(text)  # 2026-05-01T09:30:00+08:00
        except ValueError:
            pass
    except ValueError:
        raise CellError(fld, f"cannot read date {text!r}") from None
    hint = " (day/month order is ambiguous: set options.date_formats)" if "/" in text else ""
    raise CellError(fld, f"cannot read date {text!r}{hint}")


def to_date(fld: str, value: Cell, formats: Sequence[str] = ()) -> dt.date | None:
    if value is None:
        return None
    when = _parse_when(fld, value, formats)
    return when.date() if isinstance(when, dt.datetime) else when


def to_utc(fld: str, value: Cell, tz: dt.tzinfo, formats: Sequence[str] = ()) -> dt.datetime | None:
    """A UTC datetime. Naive values (and bare dates, taken as local midnight) are in ``tz``:
    spreadsheets never carry a zone, and guessing UTC would shift Chinese dates by a day."""
    if value is None:
        return None
    when = _parse_when(fld, value, formats)
    if not isinstance(when, dt.datetime):
        when = dt.datetime.combine(when, dt.time())
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(dt.UTC)


_HOURS = re.compile(
    r"^([+-]?\d+(?:\.\d+)?)\s*(h|hr|hrs|hours?|小时|工时|d|days?|天|人天|人日|pd)?$", re.IGNORECASE
)


def to_hours(fld: str, value: Cell, hours_per_day: float = 8.0) -> float | None:
    """Hours from 8 / "8h" / "1.5小时" / "2d" / "2人天" (days x ``hours_per_day``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError(fld, f"cannot read hours {value!r}")
    if isinstance(value, int | float):
        number, unit = float(value), None
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        m = _HOURS.match(text)
        if not m:
            raise CellError(fld, f"cannot read hours {text!r} (a number, e.g. 8, 8h, 1.5d)")
        number, unit = float(m.group(1)), (m.group(2) or "").lower()
    if number < 0:
        raise CellError(fld, f"negative hours {value!r}")
    if unit and unit[0] in "d天人p":
        number *= hours_per_day
    return number


def to_number(fld: str, value: Cell) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        return float(text)
    except ValueError:
        raise CellError(fld, f"cannot read number {text!r}") from None


def to_percent(fld: str, value: Cell) -> float | None:
    """0..100 from "45%" / 45 / 0.45. A bare number (a number cell or text without ``%``)
    up to 1 is a fraction, above 1 a percentage: a cell formatted as a percentage holds
    0.45, a typed 45 means 45 %. So a bare 1 is 100 %; one percent must be written 1%."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().endswith(("%", "％")):
        number = to_number(fld, value.strip()[:-1].strip())
    else:
        number = to_number(fld, value)
        if number is not None and 0 <= number <= 1:
            # round away the binary noise of 0.45 * 100 = 45.00000000000001
            number = round(number * 100, 10)
    if number is None or not 0 <= number <= 100:  # NaN fails too
        raise CellError(fld, f"percentage {value!r} is not between 0 and 100")
    return number


def to_progress(fld: str, value: Cell) -> float | None:
    """``WorkItem.progress`` (0..1) from a percentage cell, read as ``to_percent`` does."""
    pct = to_percent(fld, value)
    return None if pct is None else pct / 100


def to_text(value: Cell) -> str | None:
    """Cell as text; integral floats lose ``.0`` (Excel stores id 17 as 17.0)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    text = str(value).strip()
    return text or None


_LIST_SPLIT = re.compile(r"[,，;；、\n]+")


def to_list(value: Cell) -> tuple[str, ...]:
    text = to_text(value)
    if not text:
        return ()
    return tuple(p.strip() for p in _LIST_SPLIT.split(text) if p.strip())


def to_flag(value: Cell) -> bool | None:
    """True/False for a yes/no cell (是/否, Y/N, √), None when it is not a flag."""
    text = to_text(value)
    if text is None:
        return False
    low = text.lower()
    if low in _TRUE_FLAGS:
        return True
    if low in _FALSE_FLAGS:
        return False
    return None


#: Words of workflow statuses real Jira exports carry ("Dev Testing", "In Development",
#: "Ready For QA", "Code Review", "Analysis", "Ready for Stage/Release"): work started and
#: not finished. Tried after the exact words and ``status_map``.
_IN_PROGRESS_WORDS = re.compile(
    r"develop|dev\b|test|review|analys|\bqa\b|\buat\b|ready for|staging|stage|implement"
    r"|progress|doing|verif|开发|测试|评审|分析|验证",
    re.IGNORECASE,
)


def to_status_category(status: str, status_map: Mapping[str, str]) -> str:
    """``status_map`` (exact, then case/width-insensitive), then the built-in words, then
    in-progress workflow words; a status nobody knows is a ``CellError`` rather than a
    silent guess (a wrong category skews every roll-up): the caller keeps the row as in
    progress and reports the cell."""
    mapped = status_map.get(status)
    if mapped is None:
        norm = normalise_header(status)
        mapped = next((v for k, v in status_map.items() if normalise_header(k) == norm), None)
        if mapped is None:
            mapped = _DEFAULT_STATUS_NORM.get(norm)
        if mapped is None and _IN_PROGRESS_WORDS.search(status):
            mapped = "in_progress"
    if mapped is None:
        raise CellError(
            "status",
            f"unknown status {status!r}: add it to the source's status_map "
            f"(one of {', '.join(STATUS_MAP_VALUES)})",
        )
    return "in_progress" if mapped in ("review", "blocked") else mapped


# --- records --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowContext:
    """What a row needs from the rest of the file and the config, resolved beforehand."""

    source: str
    columns: Mapping[str, str]  # field -> header
    project_key: str
    tz: dt.tzinfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIME_ZONE))
    date_formats: tuple[str, ...] = ()
    status_map: Mapping[str, str] = field(default_factory=dict)
    hours_per_day: float = 8.0
    default_type: str = "Task"
    extra_fields: tuple[str, ...] = ()  # configured columns that are not known fields
    #: LIST_FIELDS present in the sheet -> every header holding them (repeated columns)
    repeats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: hour fields whose cells are seconds (Jira's export writes estimates in seconds)
    seconds_fields: frozenset[str] = frozenset()


def cell(row: Mapping[str, Cell], ctx: RowContext, fld: str) -> Cell:
    header = ctx.columns.get(fld)
    return None if header is None else row.get(header)


def cells_list(row: Mapping[str, Cell], ctx: RowContext, fld: str) -> tuple[str, ...]:
    """Every value of a list field over all its columns (``Labels``, ``Labels.2``, ...),
    each cell split on , ; 、 and newlines; first occurrence order, no repeats."""
    headers = ctx.repeats.get(fld) or ((ctx.columns[fld],) if fld in ctx.columns else ())
    values = (v for h in headers for v in to_list(row.get(h)))
    return tuple(dict.fromkeys(values))


def repeated_headers(headers: Sequence[str | None], first: str) -> tuple[str, ...]:
    """``first`` and the copies ``read_table`` renamed ``first.2``, ``first.3``..."""
    out = [first]
    prefix = f"{first}."
    for h in headers:
        if h and h.startswith(prefix) and h[len(prefix) :].isdigit():
            out.append(h)
    return tuple(out)


def person_id(name: str | None, email: str | None) -> str | None:
    """A person's id in this source: the e-mail when known (merges across tools), else
    the normalised name."""
    if email:
        return email.strip().lower()
    if name:
        return normalise_name(name)
    return None


def to_person(source: str, name: str | None, email: str | None) -> Person | None:
    pid = person_id(name, email)
    if pid is None:
        return None
    display = normalise_name(name) if name else pid
    return Person(
        source=source,
        external_id=pid,
        display_name=display,
        email=email.strip().lower() if email else None,
    )


def to_project(source: str, key: str, name: str | None) -> Project:
    return Project(source=source, external_id=key, key=key, name=name or key)


def to_status(row: Mapping[str, Cell], ctx: RowContext) -> tuple[str, str]:
    """(status text, category); a blank status cell means not started."""
    text = to_text(cell(row, ctx, "status"))
    if text is None:
        return "todo", "todo"
    return text, to_status_category(text, ctx.status_map)


def to_extra(row: Mapping[str, Cell], ctx: RowContext, progress: float | None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if progress is not None:
        extra["percent_complete"] = round(progress * 100, 10)  # as before progress existed
    sprints = cells_list(row, ctx, "sprints")
    if sprints:
        extra["sprints"] = list(sprints)
    for fld in ctx.extra_fields:
        value = cell(row, ctx, fld)
        if isinstance(value, dt.date | dt.time):
            value = value.isoformat()
        if value is not None:
            extra[fld] = value
    return extra


def _soft(errors: list[CellError] | None, fld: str, read: Any, *args: Any) -> Any:
    """``read(fld, *args)``, or None with the ``CellError`` appended to ``errors`` (the
    row keeps every other field); raises when ``errors`` is None (callers that want the
    old all-or-nothing behaviour)."""
    try:
        return read(fld, *args)
    except CellError as exc:
        if errors is None:
            raise
        errors.append(exc)
        return None


def _hours(fld: str, value: Cell, ctx: RowContext) -> float | None:
    if fld in ctx.seconds_fields and value is not None:
        seconds = to_number(fld, value)
        if seconds is not None and seconds < 0:
            raise CellError(fld, f"negative time {value!r}")
        return None if seconds is None else seconds / 3600
    return to_hours(fld, value, ctx.hours_per_day)


def to_work_item(
    row: Mapping[str, Cell],
    ctx: RowContext,
    *,
    external_id: str,
    project_key: str,
    parent_id: str | None,
    assignee: str | None,
    reporter: str | None,
    milestone_ids: tuple[str, ...] = (),
    cell_errors: list[CellError] | None = None,
) -> WorkItem:
    """One task row. Cross-row facts (parent, people ids, milestones) come resolved.

    Only an empty title raises (a row without one is not a task). With ``cell_errors``
    given, any other unreadable cell (a date, hours, points, the percentage, an unknown
    status) is read as empty, its ``CellError`` is appended there, and the row is kept: the
    smallest unit degrades, not the record (docs/degrade-policy.md). An unknown status
    keeps its text and counts as in progress until ``status_map`` says better.
    """
    title = to_text(cell(row, ctx, "title"))
    if not title:
        raise CellError("title", "empty title")
    errs = cell_errors
    status = to_text(cell(row, ctx, "status")) or "todo"
    category = "todo"
    if cell(row, ctx, "status") is not None:
        category = _soft(
            errs, "status", lambda _f, t: to_status_category(t, ctx.status_map), status
        )
        category = category or "in_progress"
    progress = _soft(errs, "percent_complete", to_progress, cell(row, ctx, "percent_complete"))

    def when(fld: str) -> dt.datetime | None:
        return _soft(errs, fld, to_utc, cell(row, ctx, fld), ctx.tz, ctx.date_formats)

    def day(fld: str) -> dt.date | None:
        return _soft(errs, fld, to_date, cell(row, ctx, fld), ctx.date_formats)

    def hours(fld: str) -> float | None:
        return _soft(errs, fld, _hours, cell(row, ctx, fld), ctx)

    return WorkItem(
        source=ctx.source,
        external_id=external_id,
        key=external_id,
        project_key=project_key,
        title=title,
        type=to_text(cell(row, ctx, "type")) or ctx.default_type,
        status=status,
        status_category=category,  # type: ignore[arg-type]  # validated above
        priority=to_text(cell(row, ctx, "priority")),
        assignee=assignee,
        reporter=reporter,
        parent_id=parent_id,
        created_at=when("created_at"),
        updated_at=when("updated_at"),
        resolved_at=when("resolved_at"),
        start_on=day("start_on"),
        due_on=day("due_on"),
        story_points=_soft(errs, "story_points", to_number, cell(row, ctx, "story_points")),
        original_estimate_h=hours("original_estimate_h"),
        remaining_estimate_h=hours("remaining_estimate_h"),
        time_spent_h=hours("time_spent_h"),
        progress=progress,
        labels=cells_list(row, ctx, "labels"),
        components=cells_list(row, ctx, "components"),
        milestone_ids=milestone_ids,
        url=to_text(cell(row, ctx, "url")),
        extra=to_extra(row, ctx, progress),
        raw={k: to_text(v) for k, v in row.items()},
    )


def to_milestone(
    row: Mapping[str, Cell], ctx: RowContext, *, external_id: str, project_key: str
) -> Milestone:
    """A milestone row: due on its due (else start) date, released when its status is done."""
    name = to_text(cell(row, ctx, "title"))
    if not name:
        raise CellError("title", "empty title")
    _, category = to_status(row, ctx)
    due_on = to_date("due_on", cell(row, ctx, "due_on"), ctx.date_formats)
    start_on = to_date("start_on", cell(row, ctx, "start_on"), ctx.date_formats)
    resolved_at = to_utc("resolved_at", cell(row, ctx, "resolved_at"), ctx.tz, ctx.date_formats)
    released = category == "done"
    return Milestone(
        source=ctx.source,
        external_id=external_id,
        name=name,
        project_key=project_key,
        start_on=start_on,
        due_on=due_on or start_on,
        released=released,
        released_on=resolved_at.astimezone(ctx.tz).date() if released and resolved_at else None,
        archived=category == "cancelled",
        raw={k: to_text(v) for k, v in row.items()},
    )
