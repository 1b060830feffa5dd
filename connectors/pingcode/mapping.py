"""Pure mapping of PingCode open API v1 payloads to records (no I/O).

* Times are 10-digit Unix seconds. Dates (``start_at``/``end_at`` of items, sprints and
  versions) are stored by PingCode as the second of their local midnight, so a date is
  read in the source's ``time_zone`` (default Asia/Shanghai): in UTC, 2026-03-02 00:00
  +08:00 is still 1 March.
* State names are the team's (Chinese: 进行中, 已完成 ...); the state's English ``type``
  (pending / in_progress / completed) gives the category. A completed state whose name
  says rejected or cancelled (已拒绝, 已取消 ...) is ``cancelled``; ``status_map`` wins.
* ``type`` is a system type's English id (story, bug ...) or a custom type's opaque id,
  named through ``/project/work_item/types``. System types map to the capitalised English
  names every other tracker uses (Story, Bug, Epic ...).
* A bad value loses its field, not the item: it is reported through ``problems``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from pmohub.connectors.base import DEFAULT_TIME_ZONE, map_status_category
from pmohub.connectors.errors import RecordError
from pmohub.connectors.records import (
    Iteration,
    Link,
    Milestone,
    Person,
    Project,
    StatusChange,
    WorkItem,
    Worklog,
)

SYSTEM_TYPES: Mapping[str, str] = {
    "epic": "Epic",
    "feature": "Feature",
    "story": "Story",
    "requirement": "Requirement",
    "task": "Task",
    "bug": "Bug",
    "issue": "Issue",
    "phase": "Phase",
    "milestone": "Milestone",
}
STATE_TYPES: Mapping[str, str] = {
    "pending": "todo",
    "in_progress": "in_progress",
    "completed": "done",
}
CANCELLED_WORDS = ("拒绝", "取消", "废弃", "关闭不做", "rejected", "cancel", "won't")
SPRINT_STATES: Mapping[str, str] = {
    "pending": "future",
    "in_progress": "active",
    "completed": "closed",
}
#: Relation types by id or name (PingCode's own 关联/阻塞/重复 ..., or English ids).
LINK_WORDS: tuple[tuple[str, str], ...] = (
    ("阻塞", "blocks"),
    ("block", "blocks"),
    ("依赖", "blocks"),
    ("depend", "blocks"),
    ("重复", "duplicates"),
    ("duplicate", "duplicates"),
    ("复制", "clones"),
    ("clone", "clones"),
    ("关联", "relates"),
    ("relate", "relates"),
)
#: Workload review states counted as actuals; rejected or terminated hours are not.
COUNTED_REVIEW_STATES = frozenset({"no_review", "pending", "in_progress", "approved"})


@dataclass(frozen=True, slots=True)
class MappingContext:
    source: str
    zone: dt.tzinfo = field(default_factory=lambda: ZoneInfo(DEFAULT_TIME_ZONE))
    status_map: Mapping[str, str] = field(default_factory=dict)
    type_names: Mapping[str, str] = field(default_factory=dict)  # custom type id -> name
    fields: Mapping[str, str] = field(default_factory=dict)  # canonical -> property key
    review_states: frozenset[str] = COUNTED_REVIEW_STATES


def at_utc(value: Any) -> dt.datetime | None:
    """Unix seconds (an int, or digits in a string) -> UTC; None for 0/None/empty."""
    if value in (None, "", 0):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a Unix timestamp: {value!r}")
    seconds = float(value)
    if seconds > 1e11:  # 13 digits: milliseconds slipped in
        seconds /= 1000.0
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def local_day(value: Any, zone: dt.tzinfo) -> dt.date | None:
    at = at_utc(value)
    return at.astimezone(zone).date() if at else None


def ref_id(ref: Any) -> str | None:
    if isinstance(ref, Mapping):
        return str(ref["id"]) if ref.get("id") else None
    return str(ref) if ref else None


def hours(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    n = float(value)
    if n != n or n < 0:
        raise ValueError(f"not a non-negative number: {value!r}")
    return n


def status_category(state: Mapping[str, Any], ctx: MappingContext) -> str:
    name = str(state.get("name") or "")
    default = STATE_TYPES.get(str(state.get("type") or ""), "in_progress")
    if default == "done" and any(w in name.lower() for w in CANCELLED_WORDS):
        default = "cancelled"
    return map_status_category(name, default, ctx.status_map)


def type_name(kind: Any, ctx: MappingContext) -> str:
    key = str(kind or "")
    return SYSTEM_TYPES.get(key) or ctx.type_names.get(key) or key or "Task"


def to_project(p: Mapping[str, Any], ctx: MappingContext) -> Project:
    return Project(
        source=ctx.source,
        external_id=str(p["id"]),
        key=str(p["identifier"]),
        name=str(p.get("name") or p["identifier"]),
        lead=ref_id(p.get("assignee")),
        url=p.get("html_url") or None,
        description=p.get("description") or None,
        category=p.get("type") or None,
        raw=p,
    )


def to_person(u: Mapping[str, Any], ctx: MappingContext) -> Person:
    return Person(
        source=ctx.source,
        external_id=str(u["id"]),
        display_name=str(u.get("display_name") or u.get("name") or u["id"]),
        email=(str(u["email"]).strip() or None) if u.get("email") else None,
        username=u.get("name") or None,
        active=str(u.get("status") or "enabled") not in ("disabled", "deleted", "resigned"),
        raw=u,
    )


def to_iteration(s: Mapping[str, Any], project_key: str, ctx: MappingContext) -> Iteration:
    state = SPRINT_STATES.get(str(s.get("status")), "future")
    return Iteration(
        source=ctx.source,
        external_id=str(s["id"]),
        name=str(s.get("name") or s["id"]),
        state=state,
        project_key=project_key,
        start_at=at_utc(s.get("started_at") or s.get("start_at")),
        end_at=at_utc(s.get("end_at")),
        complete_at=at_utc(s.get("completed_at")) if state == "closed" else None,
        goal=s.get("description") or None,
        raw=s,
    )


def to_milestone(v: Mapping[str, Any], project_key: str, ctx: MappingContext) -> Milestone:
    stage = v.get("stage") or {}
    released = stage.get("type") == "completed" or bool(v.get("released_at"))
    return Milestone(
        source=ctx.source,
        external_id=str(v["id"]),
        name=str(v.get("name") or v["id"]),
        project_key=project_key,
        start_on=local_day(v.get("start_at"), ctx.zone),
        due_on=local_day(v.get("end_at"), ctx.zone),
        released=released,
        released_on=local_day(v.get("released_at") or v.get("end_at"), ctx.zone)
        if released
        else None,
        description=v.get("description") or None,
        raw=v,
    )


def _try(problems: list[RecordError], ctx: MappingContext, where: str, name: str,
         fn: Callable[[Any], Any], value: Any) -> Any:  # fmt: skip
    """``fn(value)``, or None with a problem naming the field (the item still loads)."""
    try:
        return fn(value)
    except (TypeError, ValueError, OverflowError, KeyError) as exc:
        problems.append(
            RecordError(
                f"bad value {value!r} ({exc}); the field is left empty, the item is loaded",
                source=ctx.source,
                where=where,
                field=name,
            )
        )
        return None


def to_work_item(
    w: Mapping[str, Any], ctx: MappingContext, problems: list[RecordError] | None = None
) -> WorkItem:
    """A work item; bad optional values go to ``problems`` (when given) and lose only
    their field. Missing id, identifier, project or state raise ``RecordError``."""
    where = str(w.get("identifier") or w.get("id"))
    found: list[RecordError] = [] if problems is None else problems
    try:
        project = w.get("project") or {}
        state = w.get("state") or {}
        status = str(state.get("name") or state["id"])
        category = status_category(state, ctx)

        def opt(name: str, fn: Callable[[Any], Any]) -> Any:
            return _try(found, ctx, where, name, fn, w.get(name))

        def day(value: Any) -> dt.date | None:
            return local_day(value, ctx.zone)

        extra = {}
        props = w.get("properties") or {}
        for canonical, key in ctx.fields.items():
            if props.get(key) not in (None, ""):
                extra[canonical] = props[key]
        sprint, version, phase = w.get("sprint"), w.get("version"), w.get("phase")
        return WorkItem(
            source=ctx.source,
            external_id=str(w["id"]),
            key=str(w["identifier"]),
            project_key=str(project["identifier"]),
            title=str(w.get("title") or ""),
            type=type_name(w.get("type"), ctx),
            status=status,
            status_category=category,  # type: ignore[arg-type]
            priority=(w.get("priority") or {}).get("name") or None,
            assignee=ref_id(w.get("assignee")),
            reporter=ref_id(w.get("created_by")),
            parent_id=str(w["parent_id"]) if w.get("parent_id") else ref_id(w.get("parent")),
            created_at=opt("created_at", at_utc),
            updated_at=opt("updated_at", at_utc),
            resolved_at=opt("completed_at", at_utc) if category in ("done", "cancelled") else None,
            start_on=opt("start_at", day),
            due_on=opt("end_at", day),
            story_points=opt("story_points", hours),
            original_estimate_h=opt("estimated_workload", hours),
            remaining_estimate_h=opt("remaining_workload", hours),
            labels=tuple(str(t.get("name")) for t in w.get("tags") or () if t.get("name")),
            components=(str(phase["name"]),) if phase and phase.get("name") else (),
            milestone_ids=(str(version["id"]),) if version and version.get("id") else (),
            iteration_ids=(str(sprint["id"]),) if sprint and sprint.get("id") else (),
            url=w.get("html_url") or None,
            extra=extra,
            raw=w,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"cannot map work item: {exc!r}", source=ctx.source, where=where) from exc


def to_status_changes(
    item_id: str, transitions: Iterable[Mapping[str, Any]], ctx: MappingContext
) -> Iterator[StatusChange]:
    """Each transition is one status change (``from_state`` is null on the first one of
    some items: their state was set when they were created)."""
    for t in sorted(transitions, key=lambda t: (int(t.get("created_at") or 0), str(t["id"]))):
        to_state = t.get("to_state") or {}
        from_state = t.get("from_state") or {}
        changed = at_utc(t.get("created_at"))
        if changed is None or not to_state:
            continue
        yield StatusChange(
            source=ctx.source,
            external_id=f"{item_id}:{t['id']}",
            work_item_id=item_id,
            field="status",
            from_value=from_state.get("name") or None,
            to_value=str(to_state.get("name") or to_state.get("id")),
            changed_at=changed,
            author=ref_id(t.get("created_by")),
            raw=t,
        )


def link_kind(relation_type: Mapping[str, Any] | None) -> str:
    text = " ".join(str((relation_type or {}).get(k) or "") for k in ("id", "name")).lower()
    for word, kind in LINK_WORDS:
        if word in text:
            return kind
    return "other"


def to_link(rel: Mapping[str, Any], item_id: str, ctx: MappingContext) -> Link:
    target = ref_id(rel.get("target") or rel.get("target_work_item"))
    if not target:
        raise ValueError("relation without a target")
    return Link(
        source=ctx.source,
        external_id=f"{item_id}:{rel['id']}",
        from_id=item_id,
        to_id=target,
        kind=link_kind(rel.get("relation_type") or rel.get("type")),
        raw=rel,
    )


def counted(workload: Mapping[str, Any], ctx: MappingContext) -> bool:
    """Whether the hours count as actuals (rejected or terminated ones do not)."""
    return str(workload.get("review_state") or "no_review") in ctx.review_states


def to_worklog(wl: Mapping[str, Any], ctx: MappingContext) -> Worklog:
    """``duration`` is hours (one decimal); ``report_at`` is the day worked, sent as its
    local midnight: that instant is the start (no time of day is recorded)."""
    duration = hours(wl.get("duration"))
    started = at_utc(wl.get("report_at"))
    if duration is None or started is None:
        raise ValueError("workload without duration or report_at")
    return Worklog(
        source=ctx.source,
        external_id=str(wl["id"]),
        work_item_id=str(ref_id(wl.get("principal"))),
        author=ref_id(wl.get("report_by") or wl.get("created_by")),
        started_at=started,
        seconds=round(duration * 3600),
        updated_at=at_utc(wl.get("updated_at") or wl.get("created_at")),
        raw=wl,
    )
