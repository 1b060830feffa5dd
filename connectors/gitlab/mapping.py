"""Pure mapping of GitLab REST v4 (and one GraphQL) payloads to records (no I/O).

GitLab issues are only ``opened``/``closed``; the workflow lives in scoped labels
(``workflow::doing``, ``status::review``: prefixes configurable). Closed issues take status
``closed``; open ones without a workflow label ``open``. ``type::bug`` labels give the type,
else ``issue_type`` (issue, incident, task, test_case). ``weight`` (Premium) is the story
points, ``time_stats`` the estimate and time spent (seconds). History merges
``resource_state_events`` and ``resource_label_events`` and replays them: events at the same
instant (a scoped label swap is a remove + add) are applied together. Epics (group-level) are
work items of type ``Epic`` keyed ``epic:<id>`` (their id space differs from issues').
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from pmohub.connectors.errors import RecordError
from pmohub.connectors.labels import COMMON_CATEGORIES, label_status_category, label_value
from pmohub.connectors.records import (
    Iteration,
    Milestone,
    Person,
    Project,
    StatusChange,
    WorkItem,
    Worklog,
)
from pmohub.connectors.timestamps import parse_day, parse_utc

DEFAULT_CATEGORIES: dict[str, str] = {
    **COMMON_CATEGORIES,
    "in dev": "in_progress",
    "canceled": "cancelled",
    "cancelled": "cancelled",
    "won't do": "cancelled",
}
ITERATION_STATES = {
    1: "future",
    2: "active",
    3: "closed",
    "upcoming": "future",
    "current": "active",
    "started": "active",
    "closed": "closed",
}


@dataclass(frozen=True, slots=True)
class MappingContext:
    source: str
    status_map: Mapping[str, str] = field(default_factory=dict)
    status_prefixes: tuple[str, ...] = ("workflow::", "status::")
    type_prefix: str = "type::"
    priority_prefix: str = "priority::"


def derive_status(state: str, labels: Iterable[str], ctx: MappingContext) -> str:
    if state == "closed":
        return "closed"
    return label_value(labels, ctx.status_prefixes) or "open"


def status_category(status: str, ctx: MappingContext) -> str:
    return label_status_category(status, ctx.status_prefixes, ctx.status_map, DEFAULT_CATEGORIES)


def person_id(user: Mapping[str, Any] | None) -> str | None:
    if not user or user.get("id") is None:
        return None
    raw = str(user["id"])
    return raw.rsplit("/", 1)[-1]  # GraphQL global ids: gid://gitlab/User/42


def to_project(p: Mapping[str, Any], ctx: MappingContext) -> Project:
    return Project(
        source=ctx.source,
        external_id=str(p["id"]),
        key=str(p["path_with_namespace"]),
        name=str(p.get("name") or p["path_with_namespace"]),
        url=p.get("web_url"),
        description=p.get("description") or None,
        raw=p,
    )


def to_group_project(group: Mapping[str, Any], ctx: MappingContext) -> Project:
    """A group holds the epics: it becomes a project of its own (key = its full path)."""
    return Project(
        source=ctx.source,
        external_id=f"group:{group['id']}",
        key=str(group["full_path"]),
        name=str(group.get("name") or group["full_path"]),
        url=group.get("web_url"),
        category="group",
        raw=group,
    )


def to_person(user: Mapping[str, Any], ctx: MappingContext) -> Person:
    return Person(
        source=ctx.source,
        external_id=str(user["id"]),
        display_name=str(user.get("name") or user["username"]),
        # `email` is visible to admins only; `public_email` is what the user chose to show.
        email=user.get("email") or user.get("public_email") or None,
        username=user.get("username"),
        active=user.get("state", "active") == "active",
        raw=user,
    )


def to_milestone(m: Mapping[str, Any], project_key: str, ctx: MappingContext) -> Milestone:
    closed = m.get("state") == "closed"
    return Milestone(
        source=ctx.source,
        external_id=str(m["id"]),
        name=str(m["title"]),
        project_key=project_key,
        start_on=parse_day(m.get("start_date")),
        due_on=parse_day(m.get("due_date")),
        released=closed,
        released_on=parse_day(m.get("due_date")) if closed else None,
        description=m.get("description") or None,
        raw=m,
    )


def to_iteration(it: Mapping[str, Any], project_key: str, ctx: MappingContext) -> Iteration:
    start, due = parse_day(it.get("start_date")), parse_day(it.get("due_date"))
    state = ITERATION_STATES.get(it.get("state"), "future")  # type: ignore[arg-type]
    # Cadence iterations have no title; GitLab's UI shows the dates instead.
    name = it.get("title") or (
        f"{start} - {due}" if start and due else f"Iteration {it.get('iid')}"
    )
    return Iteration(
        source=ctx.source,
        external_id=str(it["id"]),
        name=str(name),
        state=state,
        project_key=project_key,
        start_at=dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC) if start else None,
        end_at=dt.datetime.combine(due, dt.time(23, 59, 59), tzinfo=dt.UTC) if due else None,
        complete_at=dt.datetime.combine(due, dt.time(23, 59, 59), tzinfo=dt.UTC)
        if due and state == "closed"
        else None,
        goal=it.get("description") or None,
        raw=it,
    )


def epic_id(epic: Mapping[str, Any]) -> str:
    return f"epic:{epic['id']}"


def to_work_item(issue: Mapping[str, Any], project_key: str, ctx: MappingContext) -> WorkItem:
    where = f"{project_key}#{issue.get('iid')}"
    try:
        labels = [str(x) for x in issue.get("labels") or []]
        status = derive_status(issue["state"], labels, ctx)
        stats = issue.get("time_stats") or {}
        estimate = stats.get("time_estimate") or 0
        spent = stats.get("total_time_spent") or 0
        assignees = issue.get("assignees") or ([issue["assignee"]] if issue.get("assignee") else [])
        ms, it, epic = issue.get("milestone"), issue.get("iteration"), issue.get("epic")
        closed = issue["state"] == "closed"
        return WorkItem(
            source=ctx.source,
            external_id=str(issue["id"]),
            key=where,
            project_key=project_key,
            title=str(issue["title"]),
            type=label_value(labels, (ctx.type_prefix,)) or str(issue.get("issue_type") or "issue"),
            status=status,
            status_category=status_category(status, ctx),  # type: ignore[arg-type]
            priority=label_value(labels, (ctx.priority_prefix,)),
            assignee=person_id(assignees[0]) if assignees else None,
            reporter=person_id(issue.get("author")),
            parent_id=epic_id(epic) if epic else None,
            created_at=parse_utc(issue.get("created_at")),
            updated_at=parse_utc(issue.get("updated_at")),
            resolved_at=parse_utc(issue.get("closed_at")) if closed else None,
            due_on=parse_day(issue.get("due_date")),
            story_points=float(issue["weight"]) if issue.get("weight") is not None else None,
            original_estimate_h=estimate / 3600 if estimate else None,
            remaining_estimate_h=max(0, estimate - spent) / 3600 if estimate else None,
            time_spent_h=spent / 3600 if spent else None,
            labels=tuple(labels),
            milestone_ids=(str(ms["id"]),) if ms else (),
            iteration_ids=(str(it["id"]),) if it else (),
            url=issue.get("web_url"),
            raw=issue,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"cannot map issue: {exc!r}", source=ctx.source, where=where) from exc


def to_epic_item(epic: Mapping[str, Any], group_key: str, ctx: MappingContext) -> WorkItem:
    where = f"{group_key}&{epic.get('iid')}"
    try:
        labels = [str(x) for x in epic.get("labels") or []]
        status = derive_status(epic["state"], labels, ctx)
        closed = epic["state"] == "closed"
        return WorkItem(
            source=ctx.source,
            external_id=epic_id(epic),
            key=where,
            project_key=group_key,
            title=str(epic["title"]),
            type="Epic",
            status=status,
            status_category=status_category(status, ctx),  # type: ignore[arg-type]
            reporter=person_id(epic.get("author")),
            parent_id=f"epic:{epic['parent_id']}" if epic.get("parent_id") else None,
            created_at=parse_utc(epic.get("created_at")),
            updated_at=parse_utc(epic.get("updated_at")),
            resolved_at=parse_utc(epic.get("closed_at")) if closed else None,
            start_on=parse_day(epic.get("start_date")),
            due_on=parse_day(epic.get("due_date") or epic.get("end_date")),
            labels=tuple(labels),
            url=epic.get("web_url"),
            raw=epic,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"cannot map epic: {exc!r}", source=ctx.source, where=where) from exc


def to_status_changes(
    issue: Mapping[str, Any],
    state_events: Iterable[Mapping[str, Any]],
    label_events: Iterable[Mapping[str, Any]],
    ctx: MappingContext,
) -> Iterator[StatusChange]:
    iid = str(issue["id"])
    tagged = [("s", e) for e in state_events] + [("l", e) for e in label_events]
    tagged = [t for t in tagged if t[1].get("created_at")]
    tagged.sort(key=lambda t: (parse_utc(t[1]["created_at"]), t[1]["id"]))
    labels: list[str] = []
    state = "opened"
    status = derive_status(state, labels, ctx)
    for _at, group in groupby(tagged, key=lambda t: parse_utc(t[1]["created_at"])):
        batch = list(group)
        for kind, e in batch:
            if kind == "s":
                state = "closed" if e.get("state") == "closed" else "opened"
            else:
                name = (e.get("label") or {}).get("name")
                if not name:
                    continue  # a deleted label: GitLab sends label null
                labels = [x for x in labels if x != name]
                if e.get("action") == "add":
                    labels.append(name)
        new = derive_status(state, labels, ctx)
        if new != status:
            kind, e = batch[-1]
            yield StatusChange(
                source=ctx.source,
                external_id=f"{iid}:{kind}{e['id']}",
                work_item_id=iid,
                field="status",
                from_value=status,
                to_value=new,
                changed_at=parse_utc(e["created_at"]),  # type: ignore[arg-type]
                author=person_id(e.get("user")),
            )
            status = new


def to_worklog(node: Mapping[str, Any], work_item_id: str, ctx: MappingContext) -> Worklog:
    return Worklog(
        source=ctx.source,
        external_id=str(node["id"]).rsplit("/", 1)[-1],
        work_item_id=work_item_id,
        author=person_id(node.get("user")),
        started_at=parse_utc(node["spentAt"]),  # type: ignore[arg-type]
        seconds=int(node["timeSpent"]),
        raw=node,
    )
