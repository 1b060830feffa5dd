"""Pure mapping of GitHub REST v3 payloads to records (no I/O).

GitHub issues have only open/closed, so the workflow status comes from labels by
convention: ``status:in-progress`` -> status ``in-progress``; ``type:bug`` -> type ``bug``;
``priority:high`` -> priority; ``points:5`` -> story points (prefixes configurable). Closed
issues take status ``closed`` (``state_reason: completed``) or ``not planned``; an open issue
without a status label is ``open``. ``status_map`` may name either the status (``review``)
or the full label (``status:review``). History replays the timeline: events sharing one
timestamp (GitHub's relabel = unlabel + label) are applied together, so no phantom
intermediate status is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from pmohub.connectors.errors import RecordError
from pmohub.connectors.labels import COMMON_CATEGORIES, label_status_category, label_value
from pmohub.connectors.records import Milestone, Person, Project, StatusChange, WorkItem
from pmohub.connectors.timestamps import parse_utc

DEFAULT_CATEGORIES: dict[str, str] = {
    **COMMON_CATEGORIES,
    "to-do": "todo",
    "new": "todo",
    "in-progress": "in_progress",
    "wip": "in_progress",
    "in-review": "in_progress",
    "not planned": "cancelled",
    "wontfix": "cancelled",
}


@dataclass(frozen=True, slots=True)
class MappingContext:
    source: str
    status_map: Mapping[str, str] = field(default_factory=dict)
    status_prefix: str = "status:"
    type_prefix: str = "type:"
    priority_prefix: str = "priority:"
    points_prefix: str = "points:"
    default_type: str = "Issue"


def label_names(issue: Mapping[str, Any]) -> list[str]:
    out = []
    for lab in issue.get("labels") or []:
        name = lab.get("name") if isinstance(lab, Mapping) else lab
        if name:
            out.append(str(name))
    return out


def derive_status(
    state: str, state_reason: str | None, labels: Iterable[str], ctx: MappingContext
) -> str:
    if state == "closed":
        return "not planned" if state_reason == "not_planned" else "closed"
    return label_value(labels, (ctx.status_prefix,)) or "open"


def status_category(status: str, ctx: MappingContext) -> str:
    return label_status_category(status, (ctx.status_prefix,), ctx.status_map, DEFAULT_CATEGORIES)


def person_id(user: Mapping[str, Any] | None) -> str | None:
    return str(user["id"]) if user and user.get("id") is not None else None


def to_project(repo: Mapping[str, Any], ctx: MappingContext) -> Project:
    return Project(
        source=ctx.source,
        external_id=str(repo["id"]),
        key=str(repo["full_name"]),
        name=str(repo.get("name") or repo["full_name"]),
        lead=None,
        url=repo.get("html_url"),
        description=repo.get("description"),
        raw=repo,
    )


def to_person(user: Mapping[str, Any], ctx: MappingContext) -> Person:
    return Person(
        source=ctx.source,
        external_id=str(user["id"]),
        display_name=str(user.get("name") or user["login"]),
        email=user.get("email") or None,
        username=user.get("login"),
        active=True,
        raw=user,
    )


def to_milestone(ms: Mapping[str, Any], project_key: str, ctx: MappingContext) -> Milestone:
    due = parse_utc(ms.get("due_on"))
    closed = parse_utc(ms.get("closed_at"))
    return Milestone(
        source=ctx.source,
        external_id=str(ms["id"]),
        name=str(ms["title"]),
        project_key=project_key,
        # GitHub stores a due date as a timestamp (07:00/08:00 UTC for a date picked in
        # the UI): its UTC date is the date the user chose.
        due_on=due.date() if due else None,
        released=ms.get("state") == "closed",
        released_on=closed.date() if closed and ms.get("state") == "closed" else None,
        description=ms.get("description"),
        raw=ms,
    )


def to_work_item(
    issue: Mapping[str, Any],
    project_key: str,
    ctx: MappingContext,
    parent_id: Callable[[str], str | None] = lambda _url: None,
) -> WorkItem:
    where = f"{project_key}#{issue.get('number')}"
    try:
        labels = label_names(issue)
        status = derive_status(issue["state"], issue.get("state_reason"), labels, ctx)
        type_obj = issue.get("type")
        kind = (
            (type_obj.get("name") if isinstance(type_obj, Mapping) else None)
            or label_value(labels, (ctx.type_prefix,))
            or ctx.default_type
        )
        points = label_value(labels, (ctx.points_prefix,))
        assignees = issue.get("assignees") or ([issue["assignee"]] if issue.get("assignee") else [])
        closed_at = parse_utc(issue.get("closed_at"))
        ms = issue.get("milestone")
        parent_url = issue.get("parent_issue_url")
        summary = issue.get("sub_issues_summary") or {}
        return WorkItem(
            source=ctx.source,
            external_id=str(issue["id"]),
            key=where,
            project_key=project_key,
            title=str(issue["title"]),
            type=kind,
            status=status,
            status_category=status_category(status, ctx),  # type: ignore[arg-type]
            priority=label_value(labels, (ctx.priority_prefix,)),
            assignee=person_id(assignees[0]) if assignees else None,
            reporter=person_id(issue.get("user")),
            parent_id=parent_id(parent_url) if parent_url else None,
            created_at=parse_utc(issue.get("created_at")),
            updated_at=parse_utc(issue.get("updated_at")),
            resolved_at=closed_at if issue["state"] == "closed" else None,
            resolution=issue.get("state_reason") if issue["state"] == "closed" else None,
            story_points=float(points) if points else None,
            labels=tuple(labels),
            milestone_ids=(str(ms["id"]),) if ms else (),
            url=issue.get("html_url"),
            extra={"sub_issues_total": summary["total"]} if summary.get("total") else {},
            raw=issue,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"cannot map issue: {exc!r}", source=ctx.source, where=where) from exc


def to_status_changes(
    issue: Mapping[str, Any], events: Iterable[Mapping[str, Any]], ctx: MappingContext
) -> Iterator[StatusChange]:
    """Status, milestone and assignee changes replayed from timeline events."""
    iid = str(issue["id"])
    labels: list[str] = []
    state, reason = "open", None
    status = derive_status(state, reason, labels, ctx)
    relevant = [e for e in events if e.get("created_at") and e.get("id") is not None]

    def change(e: Mapping[str, Any], name: str, old: str | None, new: str | None) -> StatusChange:
        return StatusChange(
            source=ctx.source,
            external_id=f"{iid}:{e['id']}:{name}",
            work_item_id=iid,
            field=name,
            from_value=old,
            to_value=new,
            changed_at=parse_utc(e["created_at"]),  # type: ignore[arg-type]
            author=person_id(e.get("actor")),
        )

    for _at, group in groupby(relevant, key=lambda e: e["created_at"]):
        batch = list(group)
        last_status_event = None
        for e in batch:
            kind = e.get("event")
            if kind == "labeled":
                name = (e.get("label") or {}).get("name")
                if name:
                    labels = [x for x in labels if x != name] + [name]
                last_status_event = e
            elif kind == "unlabeled":
                name = (e.get("label") or {}).get("name")
                labels = [x for x in labels if x != name]
                last_status_event = e
            elif kind == "closed":
                state, reason = "closed", e.get("state_reason")
                last_status_event = e
            elif kind == "reopened":
                state, reason = "open", None
                last_status_event = e
            elif kind in ("milestoned", "demilestoned"):
                title = (e.get("milestone") or {}).get("title")
                old, new = (None, title) if kind == "milestoned" else (title, None)
                yield change(e, "milestone", old, new)
            elif kind in ("assigned", "unassigned"):
                who = person_id(e.get("assignee"))
                if who is None:
                    # events recorded before GitHub named the assignee (2012) say only
                    # "assigned": a None -> None change would be noise in the history
                    continue
                old, new = (None, who) if kind == "assigned" else (who, None)
                yield change(e, "assignee", old, new)
        if last_status_event is not None:
            new_status = derive_status(state, reason, labels, ctx)
            if new_status != status:
                yield change(last_status_event, "status", status, new_status)
                status = new_status
