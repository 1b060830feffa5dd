"""Pure mapping of Azure Boards payloads to records (no I/O).

* Status category comes from the process itself: each work item type's states carry a
  category (Proposed -> todo, InProgress and Resolved -> in_progress, Completed -> done,
  Removed -> cancelled); ``status_map`` overrides per state name.
* Effort: StoryPoints (Agile), Effort (Scrum) or Size (CMMI) -> story_points;
  OriginalEstimate / RemainingWork / CompletedWork (hours) -> the three hour fields.
* Parent: ``System.Parent`` (or the Hierarchy-Reverse relation). Links are owned by their
  ``from`` end: Dependency-Forward (this item precedes the target) -> ``blocks``,
  Duplicate-Forward -> ``duplicates``, Related -> ``relates`` emitted by the lower id only.
* History from the updates feed (state, assignee, iteration, due/target/start dates,
  points, original estimate; Jira's field names): the change time is
  ``System.ChangedDate``'s new value (``revisedDate`` is when a revision was superseded,
  9999-01-01 for the latest).
* Area path -> components; with ``area_projects`` an area (and its sub-areas) is a project
  of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pmohub.connectors.base import map_status_category
from pmohub.connectors.errors import RecordError
from pmohub.connectors.records import Iteration, Link, Person, Project, StatusChange, WorkItem
from pmohub.connectors.timestamps import parse_utc

CATEGORY = {
    "Proposed": "todo",
    "InProgress": "in_progress",
    "Resolved": "in_progress",
    "Completed": "done",
    "Removed": "cancelled",
}
DEFAULT_BY_NAME = {
    "new": "todo",
    "proposed": "todo",
    "to do": "todo",
    "approved": "todo",
    "active": "in_progress",
    "committed": "in_progress",
    "doing": "in_progress",
    "in progress": "in_progress",
    "resolved": "in_progress",
    "closed": "done",
    "done": "done",
    "removed": "cancelled",
}
LINK_KINDS = {
    "System.LinkTypes.Dependency-Forward": "blocks",
    "System.LinkTypes.Duplicate-Forward": "duplicates",
}
# Update fields kept as history, under the field names the rest of pmohub uses (Jira's:
# ``duedate``, ``start_date``, ``story_points``, ``timeoriginalestimate`` in seconds), so
# due-date-move and baseline rules read every tracker alike.
HISTORY_FIELDS: dict[str, str] = {
    "System.State": "status",
    "System.AssignedTo": "assignee",
    "System.IterationPath": "iteration",
    "Microsoft.VSTS.Scheduling.DueDate": "duedate",
    "Microsoft.VSTS.Scheduling.TargetDate": "duedate",
    "Microsoft.VSTS.Scheduling.StartDate": "start_date",
    "Microsoft.VSTS.Scheduling.StoryPoints": "story_points",
    "Microsoft.VSTS.Scheduling.Effort": "story_points",
    "Microsoft.VSTS.Scheduling.Size": "story_points",
    "Microsoft.VSTS.Scheduling.OriginalEstimate": "timeoriginalestimate",
}
POINTS = (
    "Microsoft.VSTS.Scheduling.StoryPoints",
    "Microsoft.VSTS.Scheduling.Effort",
    "Microsoft.VSTS.Scheduling.Size",
)


@dataclass(frozen=True, slots=True)
class MappingContext:
    source: str
    base_url: str
    status_map: Mapping[str, str] = field(default_factory=dict)
    # (work item type, state) -> Azure state category
    state_categories: Mapping[tuple[str, str], str] = field(default_factory=dict)
    iteration_ids: Mapping[str, str] = field(default_factory=dict)  # iteration path -> id
    area_keys: Mapping[str, str] = field(default_factory=dict)  # area path -> project key


def area_key(area_path: str, ctx: MappingContext) -> str | None:
    """The project key of the deepest configured area containing ``area_path``."""
    best: tuple[int, str] | None = None
    for area, key in ctx.area_keys.items():
        if area_path == area or area_path.startswith(area + "\\"):
            if best is None or len(area) > best[0]:
                best = (len(area), key)
    return best[1] if best else None


def parse_at(value: Any) -> dt.datetime | None:
    # Revision fields hold numbers and identities as well: only text can be a time.
    return parse_utc(value) if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def identity_id(ref: Any) -> str | None:
    if isinstance(ref, Mapping):
        return str(ref.get("id") or ref.get("uniqueName") or "") or None
    return None


def category(work_item_type: str, state: str, ctx: MappingContext) -> str:
    azure = ctx.state_categories.get((work_item_type, state))
    default = CATEGORY.get(azure or "", DEFAULT_BY_NAME.get(state.lower(), "in_progress"))
    return map_status_category(state, default, ctx.status_map)


def to_project(p: Mapping[str, Any], ctx: MappingContext) -> Project:
    return Project(
        source=ctx.source,
        external_id=str(p["id"]),
        key=str(p["name"]),
        name=str(p["name"]),
        url=f"{ctx.base_url}/{p['name']}",
        description=p.get("description") or None,
        raw=p,
    )


def to_person(identity: Mapping[str, Any], ctx: MappingContext) -> Person:
    unique = str(identity.get("uniqueName") or "")
    return Person(
        source=ctx.source,
        external_id=str(identity["id"]),
        display_name=str(identity.get("displayName") or unique or identity["id"]),
        # In Entra ID-backed organisations uniqueName is the sign-in e-mail.
        email=unique if "@" in unique else None,
        username=unique or None,
        active=not identity.get("inactive", False),
        raw=identity,
    )


def iteration_path(it: Mapping[str, Any], project: str) -> str:
    """The iteration's path, as work items' ``System.IterationPath`` spell it.

    ``path`` is optional in the team-iteration payload: Microsoft's own published example
    (``GET .../teamsettings/iterations?$timeframe=current``) and older servers leave it
    out. A team's iterations are then children of the project's root iteration, so
    ``<project>\\<name>`` is the path they have; reading ``it["path"]`` raised KeyError and
    aborted the whole source."""
    path = it.get("path")
    if path:
        return str(path)
    return f"{project}\\{it.get('name') or it.get('id')}"


def to_iteration(it: Mapping[str, Any], project_key: str, ctx: MappingContext) -> Iteration:
    attrs = it.get("attributes") or {}
    state = {"past": "closed", "current": "active"}.get(attrs.get("timeFrame"), "future")
    finish = parse_at(attrs.get("finishDate"))
    return Iteration(
        source=ctx.source,
        external_id=str(it["id"]),
        name=str(it["name"]),
        state=state,
        project_key=project_key,
        start_at=parse_at(attrs.get("startDate")),
        end_at=finish,
        complete_at=finish if state == "closed" else None,
        raw=it,
    )


def _target(relation: Mapping[str, Any]) -> str | None:
    url = str(relation.get("url") or "")
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None


def to_work_item(wi: Mapping[str, Any], ctx: MappingContext) -> WorkItem:
    wid = str(wi.get("id"))
    try:
        f = wi["fields"]
        kind = str(f["System.WorkItemType"])
        state = str(f["System.State"])
        cat = category(kind, state, ctx)
        parent = f.get("System.Parent")
        if parent is None:
            parent = next(
                (
                    _target(r)
                    for r in wi.get("relations") or []
                    if r.get("rel") == "System.LinkTypes.Hierarchy-Reverse"
                ),
                None,
            )
        points = next((_num(f.get(name)) for name in POINTS if _num(f.get(name)) is not None), None)
        tags = [t.strip() for t in str(f.get("System.Tags") or "").split(";") if t.strip()]
        iteration = ctx.iteration_ids.get(str(f.get("System.IterationPath") or ""))
        start, due = (
            parse_at(f.get("Microsoft.VSTS.Scheduling.StartDate")),
            parse_at(
                f.get("Microsoft.VSTS.Scheduling.DueDate")
                or f.get("Microsoft.VSTS.Scheduling.TargetDate")
            ),
        )
        priority = f.get("Microsoft.VSTS.Common.Priority")
        return WorkItem(
            source=ctx.source,
            external_id=wid,
            key=f"AB#{wid}",
            project_key=area_key(str(f.get("System.AreaPath") or ""), ctx)
            or str(f["System.TeamProject"]),
            title=str(f.get("System.Title") or ""),
            type=kind,
            status=state,
            status_category=cat,  # type: ignore[arg-type]
            priority=str(priority) if priority is not None else None,
            assignee=identity_id(f.get("System.AssignedTo")),
            reporter=identity_id(f.get("System.CreatedBy")),
            parent_id=str(parent) if parent else None,
            created_at=parse_at(f.get("System.CreatedDate")),
            updated_at=parse_at(f.get("System.ChangedDate")),
            resolved_at=parse_at(f.get("Microsoft.VSTS.Common.ClosedDate"))
            if cat in ("done", "cancelled")
            else None,
            start_on=start.date() if start else None,
            due_on=due.date() if due else None,
            story_points=points,
            original_estimate_h=_num(f.get("Microsoft.VSTS.Scheduling.OriginalEstimate")),
            remaining_estimate_h=_num(f.get("Microsoft.VSTS.Scheduling.RemainingWork")),
            time_spent_h=_num(f.get("Microsoft.VSTS.Scheduling.CompletedWork")),
            labels=tuple(tags),
            components=(str(f["System.AreaPath"]),) if f.get("System.AreaPath") else (),
            iteration_ids=(iteration,) if iteration else (),
            url=f"{ctx.base_url}/{f['System.TeamProject']}/_workitems/edit/{wid}",
            raw=wi,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(
            f"cannot map work item: {exc!r}", source=ctx.source, where=f"work item {wid}"
        ) from exc


def to_links(wi: Mapping[str, Any], ctx: MappingContext) -> Iterator[Link]:
    me = str(wi["id"])
    for r in wi.get("relations") or []:
        rel, target = str(r.get("rel") or ""), _target(r)
        if target is None:
            continue
        if rel in LINK_KINDS:
            kind = LINK_KINDS[rel]
        elif rel == "System.LinkTypes.Related" and int(me) < int(target):
            kind = "relates"
        else:
            continue
        yield Link(
            source=ctx.source,
            external_id=f"{me}:{rel}:{target}",
            from_id=me,
            to_id=target,
            kind=kind,
        )


def _history_value(label: str, value: Any) -> str | None:
    if value is None:
        return None
    if label == "assignee":
        return identity_id(value)
    if label in ("duedate", "start_date"):
        at = parse_at(value)
        return at.date().isoformat() if at else str(value)
    if label == "timeoriginalestimate":
        hours = _num(value)
        return None if hours is None else str(round(hours * 3600))
    return str(value)


def to_status_changes(
    work_item_id: str, updates: Iterable[Mapping[str, Any]], ctx: MappingContext
) -> Iterator[StatusChange]:
    """Changes of the ``HISTORY_FIELDS`` from the updates feed. The creation revision
    (rev 1) sets values and changes nothing; a later update without ``oldValue`` sets a
    field that was empty (Azure leaves null old values out)."""
    for u in updates:
        if u.get("rev") == 1:
            continue
        fields = u.get("fields") or {}
        changed = parse_at((fields.get("System.ChangedDate") or {}).get("newValue"))
        if changed is None:
            changed = parse_at(u.get("revisedDate"))
            if changed is None or changed.year >= 9999:
                continue
        done: set[str] = set()
        for name, label in HISTORY_FIELDS.items():
            change = fields.get(name)
            if not isinstance(change, Mapping) or label in done:
                continue
            old = _history_value(label, change.get("oldValue"))
            new = _history_value(label, change.get("newValue"))
            if old == new:
                continue
            done.add(label)
            yield StatusChange(
                source=ctx.source,
                external_id=f"{work_item_id}:{u.get('rev')}:{label}",
                work_item_id=work_item_id,
                field=label,
                from_value=old,
                to_value=new,
                changed_at=changed,
                author=identity_id(u.get("revisedBy")),
            )
