"""Pure mappers from Redmine REST payloads to pmohub records (no I/O).

Everything a mapper needs beyond the payload (status, tracker and priority names, project
identifiers by id, the status map) arrives in a ``MappingContext`` built once per run from
the small catalogue endpoints.

Choices worth knowing:

- ``WorkItem.key`` is ``#<id>``, how Redmine users write an issue reference; Redmine ids are
  global and immutable, so ``external_id`` is the bare id. ``project_key`` is the project's
  *identifier* (immutable in Redmine once created), not its display name.
- Status category: the source's ``status_map`` first; then a closed status (``is_closed``)
  is ``done``, or ``cancelled`` when its name says so (Rejected, Cancelled, Won't fix,
  已拒绝...); an open status that some tracker uses as its default status is ``todo``; any
  other open status is ``in_progress``.
- History (journals): each ``attr`` detail becomes a ``StatusChange``. Fields shared with
  other trackers take the names the Jira connector uses, so rules and baseline
  reconstruction read every source the same way: ``status`` (status *names*),
  ``assignee`` (user ids), ``duedate`` / ``start_date`` (ISO dates),
  ``timeoriginalestimate`` (estimated hours converted to *seconds*, like Jira),
  ``fixVersions`` (version ids), ``parent`` (issue id), ``priority`` / ``issuetype``
  (names), ``summary``. Other attributes keep Redmine's attribute name (``done_ratio``,
  ``category_id``...); custom fields are ``cf_<id>``. Notes-only journals, attachments and
  relation details carry no field change and are left out (relations come as ``Link``).
- ``done_ratio`` (% Done, whole percent) becomes ``WorkItem.progress`` (÷ 100); it also
  stays in ``extra["done_ratio"]`` as before.
- Custom fields: the source's ``fields`` map canonical names to Redmine custom fields, by
  id or by name (``fields: {story_points: "Story points", risk_probability: 7}``).
  ``story_points`` becomes ``WorkItem.story_points``; the others go to ``WorkItem.extra``
  under their canonical name. Their journal entries are named by the canonical name too
  (``story_points``, as for Jira), other custom fields ``cf_<id>``.
- Relations: Redmine stores each relation once, from ``issue_id`` to ``issue_to_id``, and
  normalises reversed kinds (``blocked`` is stored as the other issue's ``blocks``). A
  ``Link`` is yielded only by its ``issue_id`` end, so the engine can prune links by their
  "from" end. ``precedes`` is a scheduling dependency and becomes ``blocks``; ``copied_to``
  becomes ``clones``.
- Time entries: ``spent_on`` is a date without time; the worklog starts at 00:00 UTC of
  that date. Hours become whole seconds.
- Versions: ``closed`` versions are released (on their due date when they have one);
  ``locked`` versions are kept as open milestones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pmohub.connectors.base import map_status_category
from pmohub.connectors.errors import RecordError
from pmohub.connectors.records import (
    Link,
    Milestone,
    Person,
    Project,
    StatusChange,
    WorkItem,
    Worklog,
)
from pmohub.connectors.timestamps import parse_day, parse_utc

CANCELLED_WORDS = (
    "reject",
    "cancel",
    "won't",
    "wont fix",
    "invalid",
    "duplicate",
    "已拒绝",
    "拒绝",
    "已取消",
    "取消",
    "作废",
)

# Redmine journal attribute -> StatusChange.field (the names the Jira connector uses).
HISTORY_NAMES = {
    "status_id": "status",
    "assigned_to_id": "assignee",
    "due_date": "duedate",
    "start_date": "start_date",
    "estimated_hours": "timeoriginalestimate",
    "fixed_version_id": "fixVersions",
    "parent_id": "parent",
    "priority_id": "priority",
    "tracker_id": "issuetype",
    "subject": "summary",
    "project_id": "project",
}

LINK_KINDS = {
    "relates": "relates",
    "blocks": "blocks",
    "precedes": "blocks",
    "duplicates": "duplicates",
    "copied_to": "clones",
}
# The reverse spellings, should a server ever return them unnormalised.
REVERSED_KINDS = {
    "blocked": "blocks",
    "follows": "precedes",
    "duplicated": "duplicates",
    "copied_from": "copied_to",
}


@dataclass(frozen=True, slots=True)
class MappingContext:
    source: str
    base_url: str = ""
    statuses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # id -> status
    default_status_ids: frozenset[str] = frozenset()
    trackers: Mapping[str, str] = field(default_factory=dict)  # id -> name
    priorities: Mapping[str, str] = field(default_factory=dict)  # id -> name
    project_keys: Mapping[str, str] = field(default_factory=dict)  # id -> identifier
    status_map: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)  # canonical -> cf id or name
    keep_raw: bool = False
    #: group principal ids: an issue assigned to a group has no person assignee
    group_ids: frozenset[str] = frozenset()


def _id(ref: Mapping[str, Any] | None) -> str | None:
    if not ref or ref.get("id") is None:
        return None
    return str(ref["id"])


def number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def to_progress(done_ratio: Any) -> float | None:
    """``done_ratio`` (whole percent 0..100) as a fraction. Redmine always sends it (0 for
    an untouched issue); depending on the instance settings it is typed by the user, set by
    the status, or derived for a parent from its children (closed children count as 100)."""
    ratio = number(done_ratio)
    if ratio is None:
        return None
    if not 0.0 <= ratio <= 100.0:
        raise ValueError(f"done_ratio {done_ratio!r} is not a percentage between 0 and 100")
    return ratio / 100.0


def status_category(status_id: str, name: str, ctx: MappingContext) -> str:
    status = ctx.statuses.get(status_id) or {}
    if status.get("is_closed"):
        lowered = name.lower()
        default = "cancelled" if any(w in lowered for w in CANCELLED_WORDS) else "done"
    elif status_id in ctx.default_status_ids:
        default = "todo"
    else:
        default = "in_progress"
    return map_status_category(name, default, ctx.status_map)


def to_project(payload: Mapping[str, Any], ctx: MappingContext) -> Project:
    try:
        ident = payload["identifier"]
        parent = payload.get("parent") or {}
        return Project(
            source=ctx.source,
            external_id=str(payload["id"]),
            key=ident,
            name=payload.get("name") or ident,
            url=f"{ctx.base_url}/projects/{ident}" if ctx.base_url else None,
            description=payload.get("description") or None,
            # Redmine nests projects; the parent's identifier is the closest thing to a
            # category (Project has no parent column).
            category=ctx.project_keys.get(str(parent["id"])) if parent.get("id") else None,
            raw=payload if ctx.keep_raw else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(
            f"unreadable project: {exc!r}", source=ctx.source, where=f"project {payload.get('id')}"
        ) from exc


def to_person(user: Mapping[str, Any], ctx: MappingContext) -> Person:
    """A ``/users.json`` entry (admin view: login and mail) or a membership's ``user``
    reference (id and name only)."""
    uid = _id(user)
    if uid is None:
        raise RecordError("user without id", source=ctx.source)
    full = " ".join(p for p in (user.get("firstname"), user.get("lastname")) if p)
    # /users.json status: 1 active, 2 registered (not yet activated), 3 locked
    status = user.get("status")
    return Person(
        source=ctx.source,
        external_id=uid,
        display_name=user.get("name") or full or user.get("login") or uid,
        email=user.get("mail") or None,
        active=status in (None, 1, "1"),
        username=user.get("login") or None,
        raw=user if ctx.keep_raw else None,
    )


def custom_field_names(issue: Mapping[str, Any], ctx: MappingContext) -> dict[str, str]:
    """Custom field id -> canonical name, for the configured ones this issue carries."""
    out: dict[str, str] = {}
    for cf in issue.get("custom_fields") or ():
        cid, name = str(cf.get("id")), str(cf.get("name") or "")
        for canonical, ref in ctx.fields.items():
            if str(ref) in (cid, name):
                out[cid] = canonical
    return out


def _cf_value(value: Any) -> Any:
    if value in (None, "", []):
        return None
    return value


def to_work_item(issue: Mapping[str, Any], ctx: MappingContext) -> WorkItem:
    iid = issue.get("id")
    current = "id"
    try:
        external_id = str(issue["id"])
        current = "status"
        status = issue["status"]
        status_id = str(status["id"])
        status_name = status.get("name") or (ctx.statuses.get(status_id) or {}).get("name")
        if not status_name:
            raise KeyError("status name")
        if "is_closed" in status and status_id not in ctx.statuses:
            ctx = _with_status(ctx, status_id, status)
        category = status_category(status_id, status_name, ctx)
        current = "project"
        project_id = str(issue["project"]["id"])
        project_key = ctx.project_keys.get(project_id)
        if project_key is None:
            raise KeyError(f"project {project_id} is not among the synced projects")
        current = "dates"
        created = parse_utc(issue.get("created_on"))
        updated = parse_utc(issue.get("updated_on"))
        closed = parse_utc(issue.get("closed_on"))
        start_on = parse_day(issue.get("start_date"))
        due_on = parse_day(issue.get("due_date"))
        current = "estimated_hours"
        estimate = number(issue.get("estimated_hours"))
        spent = number(issue.get("spent_hours"))
        current = "done_ratio"
        done_ratio = issue.get("done_ratio")
        progress = to_progress(done_ratio)
        extra: dict[str, Any] = {}
        if done_ratio is not None:
            extra["done_ratio"] = int(done_ratio)
        current = "custom_fields"
        story_points = None
        names = custom_field_names(issue, ctx)
        for cf in issue.get("custom_fields") or ():
            canonical = names.get(str(cf.get("id")))
            value = _cf_value(cf.get("value"))
            if canonical is None or value is None:
                continue
            if canonical == "story_points":
                current = f"custom field {cf.get('name')!r}"
                story_points = float(value)
            else:
                extra[canonical] = value
        current = "assigned_to"
        assignee = _id(issue.get("assigned_to"))
        if assignee is not None and assignee in ctx.group_ids:
            # Redmine lets an issue be assigned to a group ("A Team"): not a person, so
            # not an assignee (it became a person named "10" in the store); kept by name
            extra["assigned_group"] = (issue.get("assigned_to") or {}).get("name") or assignee
            assignee = None
        current = "fixed_version"
        version = _id(issue.get("fixed_version"))
        category_ref = issue.get("category") or {}
        return WorkItem(
            source=ctx.source,
            external_id=external_id,
            key=f"#{external_id}",
            project_key=project_key,
            title=issue.get("subject") or "",
            type=(issue.get("tracker") or {}).get("name") or "",
            status=status_name,
            status_category=category,  # type: ignore[arg-type]
            priority=(issue.get("priority") or {}).get("name"),
            assignee=assignee,
            reporter=_id(issue.get("author")),
            parent_id=_id(issue.get("parent")),
            created_at=created,
            updated_at=updated,
            resolved_at=closed if category in ("done", "cancelled") else None,
            start_on=start_on,
            due_on=due_on,
            story_points=story_points,
            original_estimate_h=estimate,
            time_spent_h=spent,
            progress=progress,
            components=(category_ref["name"],) if category_ref.get("name") else (),
            milestone_ids=(version,) if version else (),
            url=f"{ctx.base_url}/issues/{external_id}" if ctx.base_url else None,
            extra=extra,
            raw=issue if ctx.keep_raw else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(
            f"cannot map issue: {type(exc).__name__}: {exc}",
            source=ctx.source,
            where=f"issue #{iid}",
            field=current,
        ) from exc


def _with_status(ctx: MappingContext, status_id: str, status: Mapping[str, Any]) -> MappingContext:
    return replace(ctx, statuses={**ctx.statuses, status_id: status})


def history_value(name: str, value: Any, ctx: MappingContext) -> str | None:
    """A journal detail value, made human where the lookup is cheap (status, priority and
    tracker names) and unit-compatible with other sources (estimates in seconds)."""
    if value is None or value == "":
        return None
    text = str(value)
    if name == "status_id":
        return str((ctx.statuses.get(text) or {}).get("name") or text)
    if name == "priority_id":
        return ctx.priorities.get(text, text)
    if name == "tracker_id":
        return ctx.trackers.get(text, text)
    if name == "estimated_hours":
        return str(round(float(text) * 3600))
    return text


def to_status_changes(
    issue_id: str,
    journals: list[Mapping[str, Any]],
    ctx: MappingContext,
    cf_names: Mapping[str, str] | None = None,
) -> Iterator[StatusChange]:
    """``cf_names`` (custom field id -> canonical name, :func:`custom_field_names`) names
    the configured custom fields' changes."""
    cf_names = cf_names or {}
    for journal in journals:
        jid = journal["id"]
        changed_at = parse_utc(journal.get("created_on"))
        if changed_at is None:
            raise RecordError(
                "journal without created_on", source=ctx.source, where=f"issue #{issue_id}"
            )
        author = _id(journal.get("user"))
        for detail in journal.get("details") or ():
            prop = detail.get("property")
            name = str(detail.get("name"))
            if prop == "attr":
                field_name = HISTORY_NAMES.get(name, name)
                value_name = name
            elif prop == "cf":
                field_name = cf_names.get(name) or f"cf_{name}"
                value_name = f"cf_{name}"
            else:  # attachment, relation: not a field change
                continue
            yield StatusChange(
                source=ctx.source,
                external_id=f"{jid}:{prop}:{name}",
                work_item_id=issue_id,
                field=field_name,
                from_value=history_value(value_name, detail.get("old_value"), ctx),
                to_value=history_value(value_name, detail.get("new_value"), ctx),
                changed_at=changed_at,
                author=author,
            )


def to_links(issue: Mapping[str, Any], ctx: MappingContext) -> Iterator[Link]:
    """The issue's relations that it owns (it is their ``issue_id`` end)."""
    me = str(issue["id"])
    for rel in issue.get("relations") or ():
        kind = str(rel.get("relation_type"))
        src, dst = str(rel.get("issue_id")), str(rel.get("issue_to_id"))
        if kind in REVERSED_KINDS:
            kind, src, dst = REVERSED_KINDS[kind], dst, src
        if src != me:
            continue
        yield Link(
            source=ctx.source,
            external_id=str(rel["id"]),
            from_id=src,
            to_id=dst,
            kind=LINK_KINDS.get(kind, "other"),
        )


#: Type of the per-project pseudo work item that carries time logged on a project itself.
PROJECT_TIME_TYPE = "Project time"


def project_time_id(project_id: str) -> str:
    """external_id of a project's pseudo item: ``p<id>-time`` (issue ids are bare digits)."""
    return f"p{project_id}-time"


def to_project_time_item(project: Mapping[str, Any], ctx: MappingContext) -> WorkItem:
    """The pseudo work item holding a project's project-level time entries.

    Redmine lets time be logged on a project without an issue (meetings, management);
    the store keeps worklogs under a work item (``worklogs.work_item_id`` is required), so
    each project with such entries gets one item of type ``Project time``. It is in
    progress, unassigned, has no dates and is marked ``extra["pseudo"]``, so the hours
    reach load and cost roll-ups while rules can tell it from real issues."""
    pid = str(project["id"])
    ident = ctx.project_keys.get(pid) or str(project.get("identifier") or pid)
    return WorkItem(
        source=ctx.source,
        external_id=project_time_id(pid),
        key=f"{ident}/time",
        project_key=ident,
        title=f"Time logged on project {project.get('name') or ident}",
        type=PROJECT_TIME_TYPE,
        status=PROJECT_TIME_TYPE,
        status_category="in_progress",
        url=f"{ctx.base_url}/projects/{ident}/time_entries" if ctx.base_url else None,
        extra={"pseudo": "project_time"},
    )


def to_worklog(entry: Mapping[str, Any], ctx: MappingContext) -> Worklog:
    try:
        spent_on = dt.date.fromisoformat(str(entry["spent_on"])[:10])
        issue_id = _id(entry.get("issue"))
        if issue_id is None:
            # logged on the project itself: kept on the project's pseudo item
            project_id = _id(entry.get("project"))
            if project_id is None:
                raise KeyError("issue")
            issue_id = project_time_id(project_id)
        return Worklog(
            source=ctx.source,
            external_id=str(entry["id"]),
            work_item_id=issue_id,
            author=_id(entry.get("user")),
            started_at=dt.datetime.combine(spent_on, dt.time(), tzinfo=dt.UTC),
            seconds=round(float(entry["hours"]) * 3600),
            updated_at=parse_utc(entry.get("updated_on")),
            raw=entry if ctx.keep_raw else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(
            f"cannot map time entry: {type(exc).__name__}: {exc}",
            source=ctx.source,
            where=f"time entry {entry.get('id')}",
        ) from exc


def to_milestone(version: Mapping[str, Any], ctx: MappingContext) -> Milestone:
    try:
        due = parse_day(version.get("due_date") or version.get("effective_date"))
        closed = version.get("status") == "closed"
        project_id = _id(version.get("project"))
        return Milestone(
            source=ctx.source,
            external_id=str(version["id"]),
            name=version["name"],
            project_key=ctx.project_keys.get(project_id or ""),
            due_on=due,
            released=closed,
            released_on=due if closed else None,
            description=version.get("description") or None,
            raw=version if ctx.keep_raw else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(
            f"cannot map version: {type(exc).__name__}: {exc}",
            source=ctx.source,
            where=f"version {version.get('id')}",
        ) from exc
