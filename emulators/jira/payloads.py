"""Render site data as Jira REST payloads (Cloud v3 / v2 and Data Center v2 shapes).

Built lazily per request: the site holds compact dicts and nothing here is cached, so an
edit is visible on the very next request.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pmohub.emulators.jira.customfields import CUSTOM_FIELDS, SELECT_OPTIONS
from pmohub.emulators.jira.site import (
    ISSUE_TYPES,
    LINK_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUS_CATEGORIES,
    STATUSES,
    JiraSite,
)

STATUS_BY_NAME = {name: (sid, cat) for sid, name, cat in STATUSES}
TYPE_BY_NAME = {name: (tid, sub, level) for tid, name, sub, level in ISSUE_TYPES}
PRIORITY_BY_NAME = {name: pid for pid, name in PRIORITIES}
RESOLUTION_BY_NAME = {name: rid for rid, name in RESOLUTIONS}
# Fields Jira treats as non-navigable (left out of `*navigable`, the DC search default).
NON_NAVIGABLE = {"comment", "worklog", "timetracking"}


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def jira_time(ms: int | None, tz: ZoneInfo) -> str | None:
    """Jira's timestamp format: 2026-11-20T10:05:03.123+0800 (offset without a colon)."""
    if ms is None:
        return None
    text = datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="milliseconds")
    return text[:-3] + text[-2:]


def utc_time(ms: int | None) -> str | None:
    """Agile API sprint dates (ISO with Z, UTC), as Cloud's sprint objects carry them."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, _zone("UTC"))
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def adf(text: str | None) -> dict[str, Any] | None:
    """Atlassian Document Format, which v3 uses for rich text (v2 returns plain strings)."""
    if text is None:
        return None
    paragraphs = [p for p in text.split("\n") if p]
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs
        ],
    }


@dataclass
class Ctx:
    """Per-request rendering context."""

    site: JiraSite
    base_url: str
    cloud: bool
    api: str  # "2" | "3"
    tz: ZoneInfo
    dc_sprint_format: str = "string"
    # Shared across requests of one emulator: users, statuses, types never change, and
    # re-rendering them for every issue dominated page time at 50k issues.
    memo: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rest = f"{self.base_url}/rest/api/{self.api}"

    def cached(self, kind: str, ident: Any, build: Any) -> Any:
        key = (self.api, kind, ident)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = build()
        return found

    def text(self, value: str | None) -> Any:
        return adf(value) if self.api == "3" else value

    def time(self, ms: int | None) -> str | None:
        return jira_time(ms, self.tz)


def avatar_urls(base: str, kind: str, ident: str) -> dict[str, str]:
    return {
        f"{n}x{n}": f"{base}/secure/useravatar?size={n}&{kind}={ident}" for n in (48, 24, 16, 32)
    }


def user_json(ctx: Ctx, account_id: str | None) -> dict[str, Any] | None:
    if account_id is None:
        return None
    return ctx.cached("user", account_id, lambda: _user_json(ctx, account_id))


def _user_json(ctx: Ctx, account_id: str) -> dict[str, Any]:
    u = ctx.site.users_by_id[account_id]
    if ctx.cloud:
        out: dict[str, Any] = {
            "self": f"{ctx.rest}/user?accountId={u['account_id']}",
            "accountId": u["account_id"],
            "accountType": "atlassian",
            "avatarUrls": avatar_urls(ctx.base_url, "accountId", u["account_id"]),
            "displayName": u["display_name"],
            "active": u["active"],
            "timeZone": u["time_zone"],
        }
        # Cloud hides e-mail addresses per the user's profile visibility setting.
        if u["email_visible"]:
            out["emailAddress"] = u["email"]
        return out
    return {
        "self": f"{ctx.rest}/user?username={u['name']}",
        "name": u["name"],
        "key": u["key"],
        "emailAddress": u["email"],
        "avatarUrls": avatar_urls(ctx.base_url, "ownerId", u["key"]),
        "displayName": u["display_name"],
        "active": u["active"],
        "timeZone": u["time_zone"],
    }


def user_ref(ctx: Ctx, account_id: str | None) -> str | None:
    """How a user appears in changelog from/to: accountId on Cloud, user key on DC."""
    if account_id is None:
        return None
    return account_id if ctx.cloud else ctx.site.users_by_id[account_id]["key"]


def status_json(ctx: Ctx, name: str) -> dict[str, Any]:
    return ctx.cached("status_json", name, lambda: _status_json(ctx, name))


def _status_json(ctx: Ctx, name: str) -> dict[str, Any]:
    sid, cat = STATUS_BY_NAME[name]
    cat_id, cat_name, colour = STATUS_CATEGORIES[cat]
    return {
        "self": f"{ctx.rest}/status/{sid}",
        "description": "",
        "iconUrl": f"{ctx.base_url}/images/icons/statuses/generic.png",
        "name": name,
        "id": sid,
        "statusCategory": {
            "self": f"{ctx.rest}/statuscategory/{cat_id}",
            "id": cat_id,
            "key": cat,
            "colorName": colour,
            "name": cat_name,
        },
    }


def issuetype_json(ctx: Ctx, name: str) -> dict[str, Any]:
    return ctx.cached("issuetype_json", name, lambda: _issuetype_json(ctx, name))


def _issuetype_json(ctx: Ctx, name: str) -> dict[str, Any]:
    tid, sub, level = TYPE_BY_NAME[name]
    out: dict[str, Any] = {
        "self": f"{ctx.rest}/issuetype/{tid}",
        "id": tid,
        "description": "",
        "iconUrl": f"{ctx.base_url}/images/icons/issuetypes/{name.lower()}.svg",
        "name": name,
        "subtask": sub,
        "avatarId": 10300 + int(tid) % 100,
    }
    if ctx.cloud:
        out["hierarchyLevel"] = level
    return out


def priority_json(ctx: Ctx, name: str) -> dict[str, Any]:
    return ctx.cached("priority_json", name, lambda: _priority_json(ctx, name))


def _priority_json(ctx: Ctx, name: str) -> dict[str, Any]:
    pid = PRIORITY_BY_NAME[name]
    return {
        "self": f"{ctx.rest}/priority/{pid}",
        "iconUrl": f"{ctx.base_url}/images/icons/priorities/{name.lower()}.svg",
        "name": name,
        "id": pid,
    }


def project_json(ctx: Ctx, project: dict[str, Any], full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": f"{ctx.rest}/project/{project['id']}",
        "id": str(project["id"]),
        "key": project["key"],
        "name": project["name"],
        "projectTypeKey": "software",
        "avatarUrls": {
            f"{n}x{n}": f"{ctx.base_url}/secure/projectavatar?size={n}&pid={project['id']}"
            for n in (48, 24, 16, 32)
        },
    }
    if ctx.cloud:
        out["simplified"] = False
        if full:
            out.update({"style": "classic", "isPrivate": False, "properties": {}})
    if full:
        out["description"] = project["description"]
        out["lead"] = user_json(ctx, project["lead"])
    return out


def version_json(ctx: Ctx, v: dict[str, Any], project_id: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": f"{ctx.rest}/version/{v['id']}",
        "id": str(v["id"]),
        "description": v["description"],
        "name": v["name"],
        "archived": v["archived"],
        "released": v["released"],
        "projectId": project_id,
    }
    if v.get("start_on"):
        out["startDate"] = v["start_on"]
    if v.get("release_on"):
        out["releaseDate"] = v["release_on"]
        today = ctx.site.today
        if not v["released"]:
            out["overdue"] = v["release_on"] < today
        d = datetime.fromisoformat(v["release_on"])
        out["userReleaseDate"] = f"{d:%d/%b/%y}"
    if v.get("start_on"):
        out["userStartDate"] = f"{datetime.fromisoformat(v['start_on']):%d/%b/%y}"
    return out


def field_list(ctx: Ctx) -> list[dict[str, Any]]:
    """GET /field: system fields plus this site's custom fields (ids differ per site)."""
    system = [
        ("summary", "Summary", {"type": "string", "system": "summary"}),
        ("status", "Status", {"type": "status", "system": "status"}),
        ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}),
        ("priority", "Priority", {"type": "priority", "system": "priority"}),
        ("assignee", "Assignee", {"type": "user", "system": "assignee"}),
        ("reporter", "Reporter", {"type": "user", "system": "reporter"}),
        ("created", "Created", {"type": "datetime", "system": "created"}),
        ("updated", "Updated", {"type": "datetime", "system": "updated"}),
        ("resolutiondate", "Resolved", {"type": "datetime", "system": "resolutiondate"}),
        ("resolution", "Resolution", {"type": "resolution", "system": "resolution"}),
        ("duedate", "Due date", {"type": "date", "system": "duedate"}),
        ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}),
        (
            "components",
            "Components",
            {"type": "array", "items": "component", "system": "components"},
        ),
        (
            "fixVersions",
            "Fix versions",
            {"type": "array", "items": "version", "system": "fixVersions"},
        ),
        (
            "timeoriginalestimate",
            "Original estimate",
            {"type": "number", "system": "timeoriginalestimate"},
        ),
        ("timeestimate", "Remaining Estimate", {"type": "number", "system": "timeestimate"}),
        ("timespent", "Time Spent", {"type": "number", "system": "timespent"}),
        (
            "issuelinks",
            "Linked Issues",
            {"type": "array", "items": "issuelinks", "system": "issuelinks"},
        ),
        ("project", "Project", {"type": "project", "system": "project"}),
        ("description", "Description", {"type": "string", "system": "description"}),
        ("comment", "Comment", {"type": "comments-page", "system": "comment"}),
        ("worklog", "Log Work", {"type": "array", "items": "worklog", "system": "worklog"}),
    ]
    if ctx.cloud:
        system.append(("parent", "Parent", {"type": "issuelink", "system": "parent"}))
    out: list[dict[str, Any]] = []
    for fid, name, schema in system:
        entry: dict[str, Any] = {
            "id": fid,
            "name": name,
            "custom": False,
            "orderable": fid not in ("created", "updated", "resolutiondate", "status"),
            "navigable": fid not in NON_NAVIGABLE,
            "searchable": True,
            "clauseNames": [fid],
            "schema": schema,
        }
        if ctx.cloud:
            entry["key"] = fid
        out.append(entry)
    for logical, (name, custom, typ, items, where) in CUSTOM_FIELDS.items():
        if (where == "cloud" and not ctx.cloud) or (where == "dc" and ctx.cloud):
            continue
        fid = ctx.site.field_ids[logical]
        num = int(fid.rsplit("_", 1)[1])
        schema: dict[str, Any] = {"type": typ, "custom": custom, "customId": num}
        if items:
            schema["items"] = items
        entry = {
            "id": fid,
            "name": name,
            "custom": True,
            "orderable": True,
            "navigable": True,
            "searchable": True,
            "clauseNames": [f"cf[{num}]", name],
            "schema": schema,
        }
        if ctx.cloud:
            entry["key"] = fid
        out.append(entry)
    return out


def _custom_value(ctx: Ctx, issue: dict[str, Any], logical: str) -> Any:
    fid = ctx.site.field_ids[logical]
    if logical in ("story_points", "story_point_estimate"):
        return issue["story_points"]
    if logical == "start_date":
        return issue["start_on"]
    if logical == "sprint":
        return sprint_field(ctx, issue["sprints"])
    if logical == "epic_link":
        parent = ctx.site.by_id.get(issue["parent"]) if issue["parent"] else None
        return parent["key"] if parent and parent["type"] == "Epic" else None
    if logical == "rank":
        return f"0|i{issue['id']:05d}:"
    value = issue["custom"].get(logical)
    if value is None:
        return None
    _name, custom, typ, _items, _where = CUSTOM_FIELDS[logical]
    if custom.endswith(":select"):
        idx = SELECT_OPTIONS[logical].index(value)
        opt_id = str(10_500 + 10 * list(SELECT_OPTIONS).index(logical) + idx)
        return {"self": f"{ctx.rest}/customFieldOption/{opt_id}", "value": value, "id": opt_id}
    if custom.endswith(":multicheckboxes"):
        base = 10_500 + 10 * list(SELECT_OPTIONS).index(logical)
        return [
            {
                "self": f"{ctx.rest}/customFieldOption/{base + SELECT_OPTIONS[logical].index(v)}",
                "value": v,
                "id": str(base + SELECT_OPTIONS[logical].index(v)),
            }
            for v in value
        ]
    if typ == "user":
        return user_json(ctx, value)
    if custom.endswith(":textarea"):
        return ctx.text(value)
    del fid
    return value


def sprint_field(ctx: Ctx, sprint_ids: list[int]) -> Any:
    if not sprint_ids:
        return None
    by_id = ctx.cached(
        "sprints", ctx.site.version_no, lambda: {s["id"]: s for s in ctx.site.sprints}
    )
    sprints = [by_id[s] for s in sprint_ids if s in by_id]
    if ctx.cloud or ctx.dc_sprint_format == "object":
        out = []
        for s in sprints:
            item: dict[str, Any] = {
                "id": s["id"],
                "name": s["name"],
                "state": s["state"],
                "boardId": s["board_id"],
                "goal": s["goal"],
            }
            if s["start_at"] is not None:
                item["startDate"] = utc_time(s["start_at"])
                item["endDate"] = utc_time(s["end_at"])
            if s["complete_at"] is not None:
                item["completeDate"] = utc_time(s["complete_at"])
            out.append(item)
        return out
    # Jira Server / Data Center (REST v2, through 9.x) serialises sprints with
    # Sprint.toString(); connectors have to parse this.
    return [
        "com.atlassian.greenhopper.service.sprint.Sprint@"
        f"{s['id'] * 7919:x}[id={s['id']},rapidViewId={s['board_id']},"
        f"state={s['state'].upper()},name={s['name']},"
        f"startDate={ctx.time(s['start_at']) or '<null>'},"
        f"endDate={ctx.time(s['end_at']) or '<null>'},"
        f"completeDate={ctx.time(s['complete_at']) or '<null>'},"
        f"activatedDate={ctx.time(s['start_at']) or '<null>'},"
        f"sequence={s['id']},goal={s['goal'] or '<null>'},autoStartStop=false]"
        for s in sprints
    ]


def issue_ref(ctx: Ctx, other: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(other["id"]),
        "key": other["key"],
        "self": f"{ctx.rest}/issue/{other['id']}",
        "fields": {
            "summary": other["summary"],
            "status": status_json(ctx, other["status"]),
            "priority": priority_json(ctx, other["priority"]),
            "issuetype": issuetype_json(ctx, other["type"]),
        },
    }


def worklog_json(ctx: Ctx, w: dict[str, Any], issue: dict[str, Any]) -> dict[str, Any]:
    hours, rem = divmod(w["seconds"], 3600)
    spent = " ".join(p for p in (f"{hours}h" if hours else "", f"{rem // 60}m" if rem else "") if p)
    out: dict[str, Any] = {
        "self": f"{ctx.rest}/issue/{issue['id']}/worklog/{w['id']}",
        "author": user_json(ctx, w["author"]),
        "updateAuthor": user_json(ctx, w["author"]),
        "created": ctx.time(w["created"]),
        "updated": ctx.time(w["updated"]),
        "started": ctx.time(w["started"]),
        "timeSpent": spent or "0m",
        "timeSpentSeconds": w["seconds"],
        "id": str(w["id"]),
        "issueId": str(issue["id"]),
    }
    if w.get("comment"):
        out["comment"] = ctx.text(w["comment"])
    return out


def comment_json(ctx: Ctx, c: dict[str, Any], issue: dict[str, Any]) -> dict[str, Any]:
    return (
        {
            "self": f"{ctx.rest}/issue/{issue['id']}/comment/{c['id']}",
            "id": str(c["id"]),
            "author": user_json(ctx, c["author"]),
            "body": ctx.text(c["body"]),
            "updateAuthor": user_json(ctx, c["author"]),
            "created": ctx.time(c["created"]),
            "updated": ctx.time(c["updated"]),
            "jsdPublic": True,
        }
        if ctx.cloud
        else {
            "self": f"{ctx.rest}/issue/{issue['id']}/comment/{c['id']}",
            "id": str(c["id"]),
            "author": user_json(ctx, c["author"]),
            "body": c["body"],
            "updateAuthor": user_json(ctx, c["author"]),
            "created": ctx.time(c["created"]),
            "updated": ctx.time(c["updated"]),
        }
    )


def history_json(ctx: Ctx, h: dict[str, Any]) -> dict[str, Any]:
    items = []
    sp_id = ctx.site.field_ids["story_points"]
    for it in h["items"]:
        field, fid = it["field"], it.get("fieldId")
        frm, to = it.get("from"), it.get("to")
        from_s, to_s = it.get("fromString"), it.get("toString")
        if field == "status":
            from_s, to_s = frm, to
            frm = STATUS_BY_NAME[frm][0] if frm else None
            to = STATUS_BY_NAME[to][0] if to else None
        elif field == "resolution":
            from_s, to_s = frm, to
            frm = RESOLUTION_BY_NAME[frm] if frm else None
            to = RESOLUTION_BY_NAME[to] if to else None
        elif field == "priority":
            from_s, to_s = frm, to
            frm = PRIORITY_BY_NAME[frm] if frm else None
            to = PRIORITY_BY_NAME[to] if to else None
        elif field == "assignee":
            from_s = ctx.site.users_by_id[frm]["display_name"] if frm else None
            to_s = ctx.site.users_by_id[to]["display_name"] if to else None
            frm, to = user_ref(ctx, frm), user_ref(ctx, to)
        elif field == "duedate":
            from_s = f"{frm} 00:00:00.0" if frm else None
            to_s = f"{to} 00:00:00.0" if to else None
        elif field == "summary":
            from_s, to_s, frm, to = frm, to, None, None
        elif fid == sp_id and ctx.cloud:
            field, fid = "Story point estimate", ctx.site.field_ids["story_point_estimate"]
        item: dict[str, Any] = {"field": field, "fieldtype": it["fieldtype"]}
        # Real Jira sends explicit nulls here; the published schema types these as
        # non-nullable strings, so empty sides are left out (readers use .get()).
        for name, value in (("from", frm), ("fromString", from_s), ("to", to), ("toString", to_s)):
            if value is not None:
                item[name] = value
        if ctx.cloud and fid:
            item["fieldId"] = fid
        items.append(item)
    return {
        "id": str(h["id"]),
        "author": user_json(ctx, h["author"]),
        "created": ctx.time(h["created"]),
        "items": items,
    }


def issue_fields(ctx: Ctx, issue: dict[str, Any]) -> dict[str, Any]:
    """Every field of an issue; callers filter by the `fields` parameter."""
    site = ctx.site
    projects = ctx.cached("projects", site.version_no, lambda: {p["key"]: p for p in site.projects})
    proj = projects[issue["project"]]
    versions = ctx.cached("versions", site.version_no, lambda: {v["id"]: v for v in site.versions})
    links = []
    for link in issue["links"]:
        other = site.by_id.get(link["other"])
        if other is None:
            continue
        lid, inward, outward = LINK_TYPES[link["type"]]
        entry: dict[str, Any] = {
            "id": str(link["id"]),
            "self": f"{ctx.rest}/issueLink/{link['id']}",
            "type": {
                "id": lid,
                "name": link["type"],
                "inward": inward,
                "outward": outward,
                "self": f"{ctx.rest}/issueLinkType/{lid}",
            },
        }
        entry["outwardIssue" if link["direction"] == "outward" else "inwardIssue"] = issue_ref(
            ctx, other
        )
        links.append(entry)
    orig, rem, spent = issue["original_s"], issue["remaining_s"], issue["spent_s"]
    timetracking: dict[str, Any] = {}
    if orig is not None:
        timetracking["originalEstimateSeconds"] = orig
        timetracking["originalEstimate"] = f"{orig // 3600}h"
    if rem is not None:
        timetracking["remainingEstimateSeconds"] = rem
        timetracking["remainingEstimate"] = f"{rem // 3600}h"
    if spent is not None:
        timetracking["timeSpentSeconds"] = spent
        timetracking["timeSpent"] = f"{spent // 3600}h"
    resolution = None
    if issue["resolution"]:
        rid = RESOLUTION_BY_NAME[issue["resolution"]]
        resolution = {
            "self": f"{ctx.rest}/resolution/{rid}",
            "id": rid,
            "description": "",
            "name": issue["resolution"],
        }
    fields: dict[str, Any] = {
        "summary": issue["summary"],
        "description": ctx.text(issue["description"]),
        "status": status_json(ctx, issue["status"]),
        "issuetype": issuetype_json(ctx, issue["type"]),
        "priority": priority_json(ctx, issue["priority"]),
        "assignee": user_json(ctx, issue["assignee"]),
        "reporter": user_json(ctx, issue["reporter"]),
        "creator": user_json(ctx, issue["reporter"]),
        "project": project_json(ctx, proj),
        "created": ctx.time(issue["created"]),
        "updated": ctx.time(issue["updated"]),
        "resolutiondate": ctx.time(issue["resolved"]),
        "resolution": resolution,
        "duedate": issue["due_on"],
        "labels": list(issue["labels"]),
        "components": [
            {"self": f"{ctx.rest}/component/{10_000 + n}", "id": str(10_000 + n), "name": c}
            for n, c in enumerate(issue["components"])
        ],
        "fixVersions": [
            version_json(ctx, versions[v], proj["id"])
            for v in issue["fix_versions"]
            if v in versions
        ],
        "timeoriginalestimate": orig,
        "timeestimate": rem,
        "timespent": spent,
        "aggregatetimespent": spent,
        "timetracking": timetracking,
        "issuelinks": links,
        "subtasks": [],
        "comment": {
            "comments": [comment_json(ctx, c, issue) for c in issue["comments"]],
            "maxResults": len(issue["comments"]),
            "total": len(issue["comments"]),
            "startAt": 0,
        },
        "worklog": {
            # Jira embeds at most 20 worklogs; the rest must come from /issue/{key}/worklog.
            "startAt": 0,
            "maxResults": 20,
            "total": len(issue["worklogs"]),
            "worklogs": [worklog_json(ctx, w, issue) for w in issue["worklogs"][:20]],
        },
    }
    parent = site.by_id.get(issue["parent"]) if issue["parent"] else None
    # Cloud: `parent` for sub-tasks and for epic children alike. DC: only sub-tasks have a
    # parent; stories point to their epic through the Epic Link custom field.
    if parent is not None and (ctx.cloud or issue["type"] == "Sub-task"):
        fields["parent"] = issue_ref(ctx, parent)
    for logical, (_name, _custom, _typ, _items, where) in CUSTOM_FIELDS.items():
        if (where == "cloud" and not ctx.cloud) or (where == "dc" and ctx.cloud):
            continue
        fields[site.field_ids[logical]] = _custom_value(ctx, issue, logical)
    return fields


def select_fields(
    ctx: Ctx, fields: dict[str, Any], wanted: list[str] | None, default_all: bool
) -> dict[str, Any]:
    """Apply the `fields` parameter: *all, *navigable, explicit names, -exclusions."""
    if not wanted:
        wanted = ["*all"] if default_all else ["*navigable"]
    include: set[str] = set()
    exclude: set[str] = set()
    everything = False
    navigable = False
    for raw in wanted:
        for name in raw.split(","):
            name = name.strip()
            if not name:
                continue
            if name == "*all":
                everything = True
            elif name == "*navigable":
                navigable = True
            elif name.startswith("-"):
                exclude.add(name[1:])
            else:
                include.add(name)
    if everything:
        keep = set(fields)
    elif navigable:
        keep = {f for f in fields if f not in NON_NAVIGABLE}
    else:
        keep = include & set(fields)
    keep |= include & set(fields)
    return {k: v for k, v in fields.items() if k in keep and k not in exclude}


def rendered_fields(ctx: Ctx, issue: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": f"<p>{html.escape(issue['description'])}</p>",
        "created": ctx.time(issue["created"]),
        "updated": ctx.time(issue["updated"]),
    }
