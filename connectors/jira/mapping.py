"""Pure mappers from Jira REST payloads (Cloud v3 and Data Center v2) to pmohub records.

No I/O here: everything a mapper needs (the site's custom field ids, the status map, the
base URL) arrives in a ``MappingContext``. A payload that cannot be mapped raises
``RecordError`` naming the issue key and the field.

History field names (``StatusChange.field``), one rule for both deployments:

* a PMO field configured or discovered for this source is named by its canonical name
  (``story_points``, ``sprint``, ``start_date``, ``epic_link``, ``flagged``,
  ``risk_probability``...), because its Jira id differs per site;
* the parent link is ``parent`` whatever the site calls it (Cloud ``IssueParentAssociation``
  / ``Parent``, Data Center sub-task ``Parent``);
* every other field is named by its Jira field id (``status``, ``assignee``, ``duedate``,
  ``fixVersions``, ``resolution``, ``priority``, ``timeoriginalestimate``, or
  ``customfield_NNNNN``). Cloud puts that id in ``fieldId``; Data Center only gives the
  display name, so it is looked up in the site's ``/field`` list (plus a few changelog
  spellings that differ from ``/field`` names, e.g. ``Fix Version``).

Values: for fields whose value is a reference (people, versions, sprints, parent, dates)
``from_value``/``to_value`` are Jira's ``from``/``to`` (accountId or user key, version id,
sprint ids, issue id, ISO date); for the rest they are the display strings
(``fromString``/``toString``: status name, priority name, estimate seconds...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pmohub.connectors.base import Problem, map_status_category
from pmohub.connectors.errors import RecordError
from pmohub.connectors.jira import values
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

# Jira writes ``2024-01-02T03:04:05.000+0800`` (both deployments) or ``...Z``.
from pmohub.connectors.timestamps import parse_day as parse_date
from pmohub.connectors.timestamps import parse_utc as parse_datetime

CATEGORY_BY_JIRA_KEY = {"new": "todo", "indeterminate": "in_progress", "done": "done"}

# Canonical names whose values are promoted to first-class WorkItem columns; every other
# configured canonical field goes to WorkItem.extra.
FIRST_CLASS = frozenset({"story_points", "start_date", "sprint", "epic_link"})

# Changelog spellings (Data Center and older Cloud) -> field id, where they differ from the
# names /field returns.
CHANGELOG_ALIASES = {
    "Fix Version": "fixVersions",
    "Version": "versions",
    "Component": "components",
    "Attachment": "attachment",
    "Link": "issuelinks",
    "Parent": "parent",
    "IssueParentAssociation": "parent",
    "Parent Issue": "parent",
    "WorklogId": "worklogid",
    "Rank": "rank",
}

# Fields whose from/to ids are more useful than their display strings.
REFERENCE_FIELDS = frozenset(
    {
        "assignee",
        "reporter",
        "duedate",
        "fixVersions",
        "versions",
        "sprint",
        "parent",
        "epic_link",
        "start_date",
    }
)

# Changelog items that are not field changes: a workflow scheme migration, a remote link
# (Confluence page, web link) added or removed. Both have no field value to track.
NOT_FIELD_CHANGES = frozenset({"Workflow", "RemoteIssueLink"})


@dataclass(frozen=True, slots=True)
class MappingContext:
    """What the mappers need to know about one source and site."""

    source: str
    base_url: str = ""
    # canonical name -> Jira field id (customfield_NNNNN), discovered and/or configured.
    fields: Mapping[str, str] = field(default_factory=dict)
    # Jira display name -> field id (from /field), to name Data Center changelog items.
    field_ids_by_name: Mapping[str, str] = field(default_factory=dict)
    status_map: Mapping[str, str] = field(default_factory=dict)
    excluded_resolutions: frozenset[str] = frozenset()
    keep_raw: bool = False
    # field id -> canonical name, built once: it is read for every changelog item
    _canonical_by_id: dict[str, str] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    # (fieldId, field) of a changelog item -> history_field's answer: a site has a few
    # dozen distinct pairs and a 10,000-issue sync reads ~100,000 items
    field_names: dict[tuple[Any, Any], str] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    # the same pair -> (name, is a reference field), or None for a non-field item
    field_kinds: dict[tuple[Any, Any], tuple[str, bool] | None] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_canonical_by_id", {fid: name for name, fid in self.fields.items()}
        )

    @property
    def canonical_by_id(self) -> dict[str, str]:
        return self._canonical_by_id


# --- small helpers -------------------------------------------------------------------


def person_id(user: Mapping[str, Any] | None) -> str | None:
    """Cloud identifies people by ``accountId``; Data Center by ``key`` (stable across
    renames, unlike ``name``)."""
    if not user:
        return None
    return user.get("accountId") or user.get("key") or user.get("name")


def adf_text(doc: Any) -> str:
    """Plain text of an Atlassian Document Format value (Cloud v3 rich-text fields)."""
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, Mapping):
        return ""
    if doc.get("type") == "text":
        return str(doc.get("text", ""))
    parts = [adf_text(child) for child in doc.get("content") or ()]
    sep = "\n" if doc.get("type") in ("doc", "bulletList", "orderedList") else ""
    return sep.join(p for p in parts if p) if sep else "".join(parts)


def field_value(value: Any) -> Any:
    """A custom field value made JSON-friendly: options -> their value, users -> their id,
    rich text -> plain text, lists element-wise."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [field_value(v) for v in value]
    if isinstance(value, Mapping):
        if value.get("type") == "doc":
            return adf_text(value)
        if "accountId" in value or ("key" in value and "displayName" in value):
            return person_id(value)
        for k in ("value", "name", "key", "id"):
            if k in value:
                return value[k]
        return {str(k): field_value(v) for k, v in value.items()}
    return str(value)


def sprint_ids(value: Any) -> tuple[str, ...]:
    """Sprint ids from the sprint field: Cloud (and DC 8+) give objects; older Data Center
    gives ``com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=3,rapidViewId=1,...]``
    (parsed by ``values.parse_sprint_string``, which also keeps name, state and dates)."""
    return tuple(str(s["id"]) for s in values.sprint_objects(value))


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600.0, 4)


# --- records -------------------------------------------------------------------------


def to_project(payload: Mapping[str, Any], ctx: MappingContext) -> Project:
    try:
        category = payload.get("projectCategory") or {}
        return Project(
            source=ctx.source,
            external_id=str(payload["id"]),
            key=payload["key"],
            name=payload.get("name") or payload["key"],
            lead=person_id(payload.get("lead")),
            url=f"{ctx.base_url}/browse/{payload['key']}" if ctx.base_url else None,
            description=field_value(payload.get("description")) or None,
            category=category.get("name"),
            raw=payload if ctx.keep_raw else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(
            f"unreadable project: {exc!r}", source=ctx.source, where=str(payload.get("key"))
        ) from exc


def to_person(user: Mapping[str, Any], ctx: MappingContext) -> Person:
    pid = person_id(user)
    if not pid:
        raise RecordError("user without accountId/key", source=ctx.source)
    # Cloud hides e-mail unless the user allows it: "" or absent both mean unknown.
    email = user.get("emailAddress") or None
    return Person(
        source=ctx.source,
        external_id=pid,
        display_name=user.get("displayName") or user.get("name") or pid,
        email=email,
        active=bool(user.get("active", True)),
        username=user.get("name"),
        time_zone=user.get("timeZone"),
        raw=user if ctx.keep_raw else None,
    )


def parent_ref(issue: Mapping[str, Any], ctx: MappingContext) -> tuple[str | None, str | None]:
    """(parent issue id, parent key). Cloud and sub-tasks: ``parent`` with its id. Data
    Center epics: the Epic Link field holds only the epic's key; the caller resolves it."""
    fields = issue.get("fields") or {}
    parent = fields.get("parent")
    if isinstance(parent, Mapping) and parent.get("id"):
        return str(parent["id"]), parent.get("key")
    epic_field = ctx.fields.get("epic_link")
    if epic_field:
        epic = fields.get(epic_field)
        if isinstance(epic, str) and epic:
            return None, epic
        if isinstance(epic, Mapping):
            return (str(epic["id"]) if epic.get("id") else None), epic.get("key")
    return None, None


def to_work_item(
    issue: Mapping[str, Any],
    ctx: MappingContext,
    *,
    parent_id: str | None = None,
    problems: list[Problem] | None = None,
) -> WorkItem:
    """One issue. ``parent_id`` overrides the parent found in the payload (the connector
    passes the resolved id of a Data Center Epic Link key). A value that cannot be read
    (story points ``"XL"``, a date in an unknown format) clears that field and appends a
    ``Problem`` to ``problems``; only an issue without id, fields or status is refused."""
    key = issue.get("key") or "?"
    current = "fields"
    try:
        f = issue["fields"]
        current = "status"
        status = f["status"]
        status_name = status["name"]
        jira_cat = (status.get("statusCategory") or {}).get("key", "new")
        category = CATEGORY_BY_JIRA_KEY.get(jira_cat, "in_progress")
        current = "resolution"
        resolution = (f.get("resolution") or {}).get("name")
        if resolution and resolution in ctx.excluded_resolutions:
            category = "cancelled"
        category = map_status_category(status_name, category, ctx.status_map)
        if parent_id is None:
            parent_id, _ = parent_ref(issue, ctx)
        extra: dict[str, Any] = {}
        for name, fid in ctx.fields.items():
            if name in FIRST_CLASS:
                continue
            current = fid
            value = f.get(fid)
            if value is not None:
                extra[name] = field_value(value)
        current = "story_points"
        sp_id = ctx.fields.get("story_points")
        story_points = (
            values.story_points(f.get(sp_id), key, "story_points", problems) if sp_id else None
        )
        current = "start_date"
        sd_id = ctx.fields.get("start_date")
        start_on = (
            values.soft(parse_date, f.get(sd_id), key, "start_date", problems) if sd_id else None
        )
        due_on = values.soft(parse_date, f.get("duedate"), key, "duedate", problems)
        # Affects Versions (``versions``): the releases a bug was found in. Not delivery
        # targets, so not milestone_ids (which rules read as "planned for"); kept as
        # Milestone external ids under extra["affects_version_ids"].
        affects = tuple(str(v["id"]) for v in f.get("versions") or () if v.get("id"))
        if affects:
            extra["affects_version_ids"] = list(affects)
        current = "sprint"
        spr_id = ctx.fields.get("sprint")
        iterations = sprint_ids(f.get(spr_id)) if spr_id else ()
        current = "dates"
        project = f.get("project") or {}
        return WorkItem(
            source=ctx.source,
            external_id=str(issue["id"]),
            key=key,
            project_key=project.get("key") or key.rsplit("-", 1)[0],
            title=f.get("summary") or "",
            type=(f.get("issuetype") or {}).get("name") or "",
            status=status_name,
            status_category=category,  # type: ignore[arg-type]
            priority=(f.get("priority") or {}).get("name"),
            assignee=person_id(f.get("assignee")),
            reporter=person_id(f.get("reporter")),
            parent_id=parent_id,
            created_at=parse_datetime(f.get("created")),
            updated_at=parse_datetime(f.get("updated")),
            resolved_at=parse_datetime(f.get("resolutiondate")),
            resolution=resolution,
            start_on=start_on,
            due_on=due_on,
            story_points=story_points,
            original_estimate_h=_hours(f.get("timeoriginalestimate")),
            remaining_estimate_h=_hours(f.get("timeestimate")),
            time_spent_h=_hours(f.get("timespent")),
            labels=tuple(f.get("labels") or ()),
            components=tuple(c.get("name", "") for c in f.get("components") or ()),
            milestone_ids=tuple(str(v["id"]) for v in f.get("fixVersions") or ()),
            iteration_ids=iterations,
            url=f"{ctx.base_url}/browse/{key}" if ctx.base_url else None,
            extra=extra,
            raw=issue if ctx.keep_raw else None,
        )
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(
            f"cannot map issue: {type(exc).__name__}: {exc}",
            source=ctx.source,
            where=f"issue {key}",
            field=current,
        ) from exc


def history_field(item: Mapping[str, Any], ctx: MappingContext) -> str:
    """The one name a changelog item's field gets (see the module docstring)."""
    pair = (item.get("fieldId"), item.get("field"))
    found = ctx.field_names.get(pair)
    if found is None:
        found = ctx.field_names[pair] = _history_field(*pair, ctx)
    return found


def _history_field(fid: Any, name: Any, ctx: MappingContext) -> str:
    name = name or ""
    if name in CHANGELOG_ALIASES and CHANGELOG_ALIASES[name] == "parent":
        return "parent"
    if not fid:
        fid = CHANGELOG_ALIASES.get(name) or ctx.field_ids_by_name.get(name) or name
    if fid in ("IssueParentAssociation",):
        return "parent"
    return ctx.canonical_by_id.get(fid, fid)


_UNSEEN: Any = object()


def _field_kind(item: Mapping[str, Any], ctx: MappingContext) -> tuple[str, bool] | None:
    if item.get("field") in NOT_FIELD_CHANGES:
        return None
    name = history_field(item, ctx)
    return name, name in REFERENCE_FIELDS


def to_status_changes(
    work_item_id: str,
    histories: Iterable[Mapping[str, Any]],
    ctx: MappingContext,
    *,
    problems: list[Problem] | None = None,
    where: str | None = None,
) -> list[StatusChange]:
    """Every field-change item of every history entry. ``external_id`` is
    ``"{history id}:{index}"``: stable across runs because Jira never edits a history entry
    (the index counts every item, skipped ones too, so it never shifts). An entry whose
    time cannot be read is left out with a problem; the issue keeps the rest.

    A list, not a generator: the connector holds an issue's changes before yielding any
    (a history that fails to map skips the whole issue), and ~80,000 changes per 10,000
    issues made the generator's resume per change a visible share of a sync."""
    kinds = ctx.field_kinds
    source = ctx.source
    out: list[StatusChange] = []
    append = out.append
    for h in histories:
        hid = str(h["id"])
        try:
            changed_at = values.history_time(h.get("created"))
        except (TypeError, ValueError):
            changed_at = None
        if changed_at is None:
            if problems is not None:
                problems.append(
                    Problem(
                        f"history entry {hid} has no readable time; entry left out",
                        where=where or work_item_id,
                        field="changelog.created",
                        value=h.get("created"),
                    )
                )
            continue
        author = person_id(h.get("author"))
        for index, item in enumerate(h.get("items") or ()):
            get = item.get
            pair = (get("fieldId"), get("field"))
            kind = kinds.get(pair, _UNSEEN)
            if kind is _UNSEEN:
                kind = kinds[pair] = _field_kind(item, ctx)
            if kind is None:
                continue
            name, reference = kind
            if reference:
                before = get("from")
                after = get("to")
                if before is None and after is None:
                    before, after = get("fromString"), get("toString")
                elif before is None:
                    before = get("fromString") if not after else None
            else:
                before, after = get("fromString"), get("toString")
                if before is None and after is None:
                    before, after = get("from"), get("to")
            append(
                StatusChange(
                    source=source,
                    external_id=f"{hid}:{index}",
                    work_item_id=work_item_id,
                    field=name,
                    # Jira writes an absent side as null or as "": both mean "no value"
                    from_value=None if before is None or before == "" else str(before),
                    to_value=None if after is None or after == "" else str(after),
                    changed_at=changed_at,
                    author=author,
                )
            )
    return out


def link_kind(link_type: Mapping[str, Any]) -> str:
    text = " ".join(str(link_type.get(k) or "") for k in ("name", "outward", "inward")).lower()
    for needle, kind in (
        ("block", "blocks"),
        ("duplicat", "duplicates"),
        ("clone", "clones"),
        ("relat", "relates"),
    ):
        if needle in text:
            return kind
    return "other"


def to_links(issue: Mapping[str, Any], ctx: MappingContext) -> Iterator[Link]:
    """Outward links only: each link appears on both issues (outward on one, inward on the
    other), so taking one side stores it once. ``external_id`` is Jira's link id."""
    issue_id = str(issue["id"])
    for link in (issue.get("fields") or {}).get("issuelinks") or ():
        target = link.get("outwardIssue")
        if not target or not link.get("id"):
            continue
        yield Link(
            source=ctx.source,
            external_id=str(link["id"]),
            from_id=issue_id,
            to_id=str(target["id"]),
            kind=link_kind(link.get("type") or {}),
        )


def to_worklog(
    payload: Mapping[str, Any], ctx: MappingContext, work_item_id: str | None = None
) -> Worklog:
    try:
        started = parse_datetime(payload["started"])
        assert started is not None
        return Worklog(
            source=ctx.source,
            external_id=str(payload["id"]),
            work_item_id=work_item_id or str(payload["issueId"]),
            author=person_id(payload.get("author")),
            started_at=started,
            seconds=_worklog_seconds(payload),
            updated_at=parse_datetime(payload.get("updated")),
        )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise RecordError(
            f"cannot map worklog: {exc!r}", source=ctx.source, where=f"worklog {payload.get('id')}"
        ) from exc


def _worklog_seconds(payload: Mapping[str, Any]) -> int:
    seconds = payload.get("timeSpentSeconds")
    if seconds is None:  # old Jira Server: only the text ("18w 2d")
        seconds = values.duration_seconds(payload.get("timeSpent"))
    return int(seconds or 0)


def to_iteration(
    sprint: Mapping[str, Any], ctx: MappingContext, project_key: str | None
) -> Iteration:
    """An Agile API sprint, or a sprint parsed from an issue's sprint field (a Data Center
    string: state upper case, dates with offsets, ``<null>`` already None)."""
    return Iteration(
        source=ctx.source,
        external_id=str(sprint["id"]),
        name=sprint.get("name") or str(sprint["id"]),
        state=(sprint.get("state") or "future").lower(),
        project_key=project_key,
        start_at=parse_datetime(sprint.get("startDate")),
        end_at=parse_datetime(sprint.get("endDate")),
        complete_at=parse_datetime(sprint.get("completeDate")),
        goal=sprint.get("goal") or None,
    )


def to_milestone(
    version: Mapping[str, Any], ctx: MappingContext, project_key: str | None
) -> Milestone:
    return Milestone(
        source=ctx.source,
        external_id=str(version["id"]),
        name=version.get("name") or str(version["id"]),
        project_key=project_key,
        start_on=parse_date(version.get("startDate")),
        due_on=parse_date(version.get("releaseDate")),
        released=bool(version.get("released", False)),
        # Jira keeps no separate release date: a released version's releaseDate is it.
        released_on=parse_date(version.get("releaseDate")) if version.get("released") else None,
        archived=bool(version.get("archived", False)),
        description=version.get("description") or None,
    )


# --- custom field discovery ----------------------------------------------------------

_STORY_POINT_NAMES = ("story points", "story point estimate")


def discover_fields(
    field_list: Iterable[Mapping[str, Any]], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Canonical name -> field id from the site's ``/field`` list, by schema type (the ids
    differ per site), then the config's ``fields:`` on top. Overrides may name a field by id
    or by its display name."""
    found: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for fld in field_list:
        fid = str(fld.get("id") or "")
        name = str(fld.get("name") or "")
        schema = fld.get("schema") or {}
        custom = str(schema.get("custom") or "")
        lname = name.lower()
        by_name[lname] = fid
        if not fid.startswith("customfield_"):
            continue
        if custom.endswith(":gh-sprint") and "sprint" not in found:
            found["sprint"] = fid
        elif custom.endswith(":gh-epic-link") and "epic_link" not in found:
            found["epic_link"] = fid
        elif lname in _STORY_POINT_NAMES and schema.get("type") == "number":
            # "Story point estimate" (team-managed / newer) loses to "Story Points" if both.
            if "story_points" not in found or lname == "story points":
                found["story_points"] = fid
        elif lname == "start date" and schema.get("type") in ("date", "datetime"):
            found.setdefault("start_date", fid)
        elif lname == "flagged":
            found.setdefault("flagged", fid)
    for name, ref in (overrides or {}).items():
        found[name] = (
            ref
            if ref.startswith("customfield_") or ref in by_name.values()
            else by_name.get(ref.lower(), ref)
        )
    return found
