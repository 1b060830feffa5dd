"""Pure mappers from MSPDI task/resource/assignment dicts (``reader.py``) to records.

Choices worth knowing:

- Identity: a task's ``UID`` (stable across saves; the row ``ID`` changes whenever a task is
  inserted above it). ``WorkItem.key`` is ``<project key>-<WBS>`` (what the PM sees; it may
  change on re-ordering, which the store handles as a move of the same UID).
- Hierarchy: the nearest task with a shorter ``OutlineNumber`` prefix is the parent; the
  project summary task (``UID`` 0, outline level 0) is not a work item. Summary tasks get
  the type ``Epic`` (option ``summary_type``) so roll-ups do not count them as delivery
  work twice; other tasks ``Task`` (option ``task_type``).
- Milestones (``<Milestone>1``) become ``Milestone`` records, not work items; a task that
  is a predecessor of a milestone carries that milestone in ``milestone_ids``.
- Status from ``PercentComplete``: 0 ``Not Started`` (todo), 100 ``Completed`` (done),
  otherwise ``In Progress``; an inactive task (``<Active>0``) is ``Inactive``
  (cancelled). The source's ``status_map`` can re-map these names.
- ``PercentComplete`` (0..100) -> ``progress`` (÷ 100; it also stays in
  ``extra["percent_complete"]``). It is the share of the *duration* done, not of the work
  (``PercentWorkComplete``): the one the PM sets and MS Project shows by default.
- Work: ``Work`` -> ``original_estimate_h``, ``RemainingWork`` -> ``remaining_estimate_h``,
  ``ActualWork`` -> ``time_spent_h`` (hours). Baseline 0 (``Baseline/Number`` 0) goes to
  ``extra``: ``baseline_start_on``, ``baseline_due_on`` (ISO dates) and
  ``baseline_work_h``, which ``aggregator.compliance.baselines.import_plan_baselines`` writes into the
  ``baselines`` table.
- People: work resources (``Type`` 1) are ``Person`` records (``external_id`` = resource
  UID, e-mail from ``EmailAddress``). A task with several assignments has one assignee: the
  resource with the most work on it (ties: the lowest resource UID); all assignments are
  kept in ``extra["assignments"]`` (resource, units, work and remaining hours) for the
  load calculation. Each assignment's ``ActualWork`` is a ``Worklog`` by its resource,
  starting at the assignment's actual start.
- Times: MSPDI date-times carry no zone; they are local to the plan, read in the source's
  ``time_zone`` option (default Asia/Shanghai) and converted to UTC.
- Predecessor links (any of FS/SS/FF/SF) are ``blocks`` links from the predecessor.
- Custom fields: the source's ``fields`` map canonical names to task fields by name
  (``Text1``), alias (``风险等级``) or field id; ``story_points`` becomes first-class, the
  others go to ``WorkItem.extra`` under their canonical name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pmohub.connectors.base import map_status_category
from pmohub.connectors.errors import RecordError
from pmohub.connectors.records import Link, Milestone, Person, Project, WorkItem, Worklog
from pmohub.connectors.timestamps import parse_day

# ISO 8601 durations as MSPDI writes them; MPXJ writes an overrun's remaining work with a
# negative component ("PT-2H0M0S"), so each number may carry its own sign.
_NUM = r"(-?\d+(?:\.\d+)?)"
_DURATION = re.compile(
    rf"^(-)?P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$"
)
PRIORITY_NAMES = (
    (900, "Highest"),
    (800, "Very High"),
    (700, "High"),
    (600, "Medium High"),
    (500, "Medium"),
    (400, "Medium Low"),
    (300, "Low"),
    (200, "Lower"),
    (100, "Very Low"),
    (0, "Lowest"),
)
UNASSIGNED_RESOURCE = "-65535"  # MS Project's "no resource" placeholder on assignments


def resource_uid(value: Any) -> str | None:
    """An assignment's ``ResourceUID`` when it names a resource, else None.

    MS Project writes -65535 for "no resource"; other writers (older Project versions,
    MPXJ-converted and generated plans) write -1, and UID 0 is Project's own nameless
    "unassigned" resource. Resource UIDs are never negative, so every negative value (and 0)
    means nobody: a person "-1" assigned to half the plan is worse than no assignee."""
    rid = str(value if value is not None else "").strip()
    if not rid or rid == "0" or rid.startswith("-"):
        return None
    return rid


@dataclass(frozen=True, slots=True)
class MappingContext:
    source: str
    project_key: str
    zone: dt.tzinfo = dt.UTC
    status_map: Mapping[str, str] = field(default_factory=dict)
    summary_type: str = "Epic"
    task_type: str = "Task"
    file: str = ""
    # FieldID -> canonical name, from the source's `fields` and the plan's definitions
    custom_fields: Mapping[str, str] = field(default_factory=dict)


def parse_local(value: str | None, zone: dt.tzinfo) -> dt.datetime | None:
    """An MSPDI date-time (``2026-03-02T08:00:00``, no zone) in the plan's zone, as UTC."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(dt.UTC)


def duration_hours(value: str | None) -> float | None:
    """``PT40H0M0S`` -> 40.0. Days in work values are 24 h (MSPDI writes work in hours)."""
    if not value:
        return None
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    sign, years, months, days, hours, minutes, seconds = m.groups()
    if years or months:
        raise ValueError(f"calendar duration {value!r} cannot be converted to hours")
    total = (
        float(days or 0) * 24
        + float(hours or 0)
        + float(minutes or 0) / 60
        + float(seconds or 0) / 3600
    )
    return round(-total if sign else total, 4)


def _remaining(value: str | None) -> float | None:
    """Remaining work; an overrun (more actual than planned work) leaves none, not less."""
    hours = duration_hours(value)
    return None if hours is None else max(hours, 0.0)


def flag(record: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = record.get(name)
    if value in (None, ""):
        return default
    return str(value).strip().lower() in ("1", "true")


def priority_name(value: str | None) -> str | None:
    if not value:
        return None
    number = int(value)
    for threshold, name in PRIORITY_NAMES:
        if number >= threshold:
            return "Do Not Level" if number >= 1000 else name
    return "Lowest"


def baseline0(task: Mapping[str, Any]) -> Mapping[str, Any]:
    for b in task.get("Baseline") or ():
        if str(b.get("Number", "")).strip() == "0":
            return b
    return {}


def to_progress(percent_complete: Any) -> float | None:
    """``PercentComplete`` (whole percent of the task's *duration* done; MS Project rolls it
    up for summary tasks) as a fraction; None when the plan does not carry the element."""
    if percent_complete in (None, ""):
        return None
    pct = float(percent_complete)
    if not 0 <= pct <= 100:
        raise ValueError(f"PercentComplete {percent_complete!r} is not between 0 and 100")
    return pct / 100


def status_of(task: Mapping[str, Any], ctx: MappingContext) -> tuple[str, str]:
    if not flag(task, "Active", default=True):
        name, category = "Inactive", "cancelled"
    else:
        pct = float(task.get("PercentComplete") or 0)
        if pct >= 100:
            name, category = "Completed", "done"
        elif pct > 0 or task.get("ActualStart"):
            name, category = "In Progress", "in_progress"
        else:
            name, category = "Not Started", "todo"
    return name, map_status_category(name, category, ctx.status_map)


def to_project(properties: Mapping[str, str], ctx: MappingContext, name: str | None) -> Project:
    return Project(
        source=ctx.source,
        external_id=ctx.project_key,
        key=ctx.project_key,
        name=name or properties.get("Title") or properties.get("Name") or ctx.project_key,
        description=properties.get("Subject") or None,
        category=properties.get("Category") or None,
    )


def to_person(resource: Mapping[str, Any], ctx: MappingContext) -> Person:
    uid = str(resource.get("UID") or "")
    if not uid:
        raise RecordError("resource without UID", source=ctx.source, where=ctx.file)
    return Person(
        source=ctx.source,
        external_id=uid,
        display_name=resource.get("Name") or f"resource {uid}",
        email=resource.get("EmailAddress") or None,
        active=flag(resource, "IsInactive") is False,
        username=resource.get("NTAccount") or None,
    )


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """Cross-task facts the connector computes from the whole plan."""

    parent_id: str | None = None
    milestone_ids: tuple[str, ...] = ()
    assignments: tuple[Mapping[str, Any], ...] = ()


def main_resource(assignments: tuple[Mapping[str, Any], ...]) -> str | None:
    best: tuple[float, int] | None = None
    chosen: str | None = None
    for a in assignments:
        rid = resource_uid(a.get("ResourceUID"))
        if rid is None:
            continue
        key = (-(duration_hours(a.get("Work")) or 0.0), int(rid) if rid.isdigit() else 0)
        if best is None or key < best:
            best, chosen = key, rid
    return chosen


def to_work_item(task: Mapping[str, Any], ctx: MappingContext, facts: TaskFacts) -> WorkItem:
    uid = str(task.get("UID") or "?")
    current = "UID"
    try:
        if uid == "?":
            raise KeyError("UID")
        status, category = status_of(task, ctx)
        current = "OutlineNumber"
        wbs = task.get("WBS") or task.get("OutlineNumber") or uid
        current = "Start"
        start_on = parse_day(task.get("Start"))
        current = "Finish"
        due_on = parse_day(task.get("Finish"))
        current = "ActualFinish"
        finished = parse_local(task.get("ActualFinish"), ctx.zone)
        current = "CreateDate"
        created = parse_local(task.get("CreateDate"), ctx.zone)
        current = "Work"
        work = duration_hours(task.get("Work"))
        current = "RemainingWork"
        remaining = _remaining(task.get("RemainingWork"))
        current = "ActualWork"
        actual = duration_hours(task.get("ActualWork"))
        current = "Baseline"
        extra: dict[str, Any] = {}
        base = baseline0(task)
        if base:
            if base.get("Start"):
                extra["baseline_start_on"] = str(parse_day(base["Start"]))
            if base.get("Finish"):
                extra["baseline_due_on"] = str(parse_day(base["Finish"]))
            if base.get("Work"):
                extra["baseline_work_h"] = duration_hours(base["Work"])
        story_points = None
        for attr in task.get("ExtendedAttribute") or ():
            canonical = ctx.custom_fields.get(str(attr.get("FieldID")))
            value = attr.get("Value")
            if canonical is None or value in (None, ""):
                continue
            current = f"custom field {canonical}"
            if canonical == "story_points":
                story_points = float(value)
            else:
                extra[canonical] = value
        current = "PercentComplete"
        extra["percent_complete"] = float(task.get("PercentComplete") or 0)
        progress = to_progress(task.get("PercentComplete"))
        current = "Assignment"
        if facts.assignments:
            extra["assignments"] = [
                {
                    "resource": str(a.get("ResourceUID")),
                    "units": float(a.get("Units") or 1),
                    "work_h": duration_hours(a.get("Work")),
                    "remaining_h": _remaining(a.get("RemainingWork")),
                }
                for a in facts.assignments
                if resource_uid(a.get("ResourceUID")) is not None
            ]
        current = "Priority"
        summary = flag(task, "Summary")
        return WorkItem(
            source=ctx.source,
            external_id=uid,
            key=f"{ctx.project_key}-{wbs}",
            project_key=ctx.project_key,
            title=task.get("Name") or "",
            type=ctx.summary_type if summary else ctx.task_type,
            status=status,
            status_category=category,  # type: ignore[arg-type]
            priority=priority_name(task.get("Priority")),
            assignee=main_resource(facts.assignments),
            parent_id=facts.parent_id,
            created_at=created,
            resolved_at=finished if category == "done" else None,
            start_on=start_on,
            due_on=due_on,
            story_points=story_points,
            original_estimate_h=work,
            remaining_estimate_h=remaining,
            time_spent_h=actual,
            progress=progress,
            milestone_ids=facts.milestone_ids,
            extra=extra,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(
            f"cannot map task: {type(exc).__name__}: {exc}",
            source=ctx.source,
            where=f"{ctx.file} task UID {uid} ({task.get('Name') or 'unnamed'})",
            field=current,
        ) from exc


def to_milestone(task: Mapping[str, Any], ctx: MappingContext) -> Milestone:
    uid = str(task.get("UID") or "?")
    try:
        done = float(task.get("PercentComplete") or 0) >= 100
        return Milestone(
            source=ctx.source,
            external_id=f"m{uid}",
            name=task.get("Name") or f"milestone {uid}",
            project_key=ctx.project_key,
            due_on=parse_day(task.get("Finish")),
            released=done,
            released_on=parse_day(task.get("ActualFinish")) if done else None,
            description=task.get("Notes") or None,
        )
    except (TypeError, ValueError) as exc:
        raise RecordError(
            f"cannot map milestone: {exc}",
            source=ctx.source,
            where=f"{ctx.file} task UID {uid}",
        ) from exc


def to_worklog(assignment: Mapping[str, Any], ctx: MappingContext) -> Worklog | None:
    """The actual work of one assignment, or None when nothing was done yet."""
    hours = duration_hours(assignment.get("ActualWork")) or 0.0
    if hours <= 0:
        return None
    started = parse_local(assignment.get("ActualStart") or assignment.get("Start"), ctx.zone)
    if started is None:
        raise RecordError(
            "assignment with actual work but no start",
            source=ctx.source,
            where=f"{ctx.file} assignment UID {assignment.get('UID')}",
        )
    return Worklog(
        source=ctx.source,
        external_id=f"a{assignment.get('UID')}",
        work_item_id=str(assignment.get("TaskUID")),
        author=resource_uid(assignment.get("ResourceUID")),
        started_at=started,
        seconds=round(hours * 3600),
    )


def to_link(predecessor_uid: str, task_uid: str, ctx: MappingContext) -> Link:
    return Link(
        source=ctx.source,
        external_id=f"{predecessor_uid}>{task_uid}",
        from_id=predecessor_uid,
        to_id=task_uid,
        kind="blocks",
    )


def custom_field_ids(
    definitions: Mapping[str, Mapping[str, str]], wanted: Mapping[str, str]
) -> dict[str, str]:
    """FieldID -> canonical name for the ``fields`` the source configures (a field's
    name like ``Text1``, its alias in this plan, or its numeric id)."""
    out: dict[str, str] = {}
    for canonical, ref in wanted.items():
        ref = str(ref)
        for fid, d in definitions.items():
            if ref in (fid, d.get("FieldName"), d.get("Alias")):
                out[fid] = canonical
        if ref.isdigit() and ref not in out:
            out[ref] = canonical  # a field id without a definition block
    return out
