"""Platform endpoints of the Jira emulator: server info, the calling user, fields,
statuses, projects (list, paged search, one, versions) and user search.

Cloud-only endpoints (``/project/search``, ``/users/search``) answer 404 on Data Center
with Jira's own "null for uri" body, as a connector written for one deployment meets it.
"""

from __future__ import annotations

from typing import Any

import pmohub.emulators.jira.quirks as quirks
from pmohub.emulators.jira.paging import HttpError
from pmohub.emulators.jira.payloads import (
    field_list,
    project_json,
    status_json,
    user_json,
    version_json,
)
from pmohub.emulators.jira.routing import API, RouteTable, ctx_for, int_param
from pmohub.emulators.jira.site import STATUSES

ROUTES = RouteTable()


@ROUTES.route("GET", API + r"/serverInfo")
def server_info(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    now = emu.now_ms()
    if emu.cloud:
        return {
            "baseUrl": emu.url,
            "displayUrl": emu.url,
            "displayUrlServicedeskHelpCenter": emu.url,
            "displayUrlConfluence": emu.url + "/wiki",
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100292,
            "buildDate": "2026-11-18T00:00:00.000+0000",
            "serverTime": ctx.time(now),
            "scmInfo": "8f3c2b0e9a1d",
            "serverTitle": "Jira",
        }
    return {
        "baseUrl": emu.url,
        "version": "9.12.15",
        "versionNumbers": [9, 12, 15],
        "deploymentType": "Server",
        "buildNumber": 9120015,
        "buildDate": "2024-10-15T00:00:00.000+0800",
        "serverTime": ctx.time(now),
        "scmInfo": "0c5e4b7f2a",
        "serverTitle": "PMO Jira",
        "serverTimeZone": "Asia/Shanghai",
    }


@ROUTES.route("GET", API + r"/myself")
def myself(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    out = dict(user_json(ctx, emu.site.bot_account_id) or {})
    out["timeZone"] = emu.user_time_zone
    out["emailAddress"] = emu.site.users_by_id[emu.site.bot_account_id]["email"]
    out["locale"] = "zh_CN"
    out["groups"] = {"size": 1, "items": []}
    out["applicationRoles"] = {"size": 1, "items": []}
    out["expand"] = "groups,applicationRoles"
    return out


@ROUTES.route("GET", API + r"/field")
def fields(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    return field_list(ctx_for(emu, g))


@ROUTES.route("GET", API + r"/status")
def statuses(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    return [status_json(ctx, name) for _sid, name, _cat in STATUSES]


@ROUTES.route("GET", API + r"/project")
def projects(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    return [project_json(ctx, p) for p in emu.visible_projects()]


@ROUTES.route("GET", API + r"/project/search")
def project_search(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    if not emu.cloud:
        raise HttpError(404, "null for uri: " + "/project/search")
    start, size = int_param(q, "startAt", 0), min(int_param(q, "maxResults", 50), 100)
    wanted = {k.strip().upper() for k in q.get("keys", "").split(",") if k.strip()}
    rows = [p for p in emu.visible_projects() if not wanted or p["key"] in wanted]
    page = rows[start : start + size]
    out: dict[str, Any] = {
        "self": f"{ctx.rest}/project/search?startAt={start}&maxResults={size}",
        "maxResults": size,
        "startAt": start,
        "total": len(rows),
        "isLast": start + size >= len(rows),
        "values": [project_json(ctx, p, full=True) for p in page],
    }
    if not out["isLast"]:
        out["nextPage"] = f"{ctx.rest}/project/search?startAt={start + size}&maxResults={size}"
    return out


def find_project(emu: Any, key: str) -> dict[str, Any]:
    for p in emu.visible_projects():
        if p["key"] == key.upper() or str(p["id"]) == key:
            return p
    raise HttpError(404, f"No project could be found with key '{key}'.")


@ROUTES.route("GET", API + r"/project/(?P<key>[^/]+)")
def project_one(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    return project_json(ctx_for(emu, g), find_project(emu, g["key"]), full=True)


@ROUTES.route("GET", API + r"/project/(?P<key>[^/]+)/versions?")
def project_versions(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    proj = find_project(emu, g["key"])
    rows = [
        version_json(ctx, v, proj["id"])
        for v in emu.site.versions
        if v["project_key"] == proj["key"]
    ]
    for row in rows:
        row["projectId"] = proj["id"]
    return rows


def users_matching(emu: Any, q: dict[str, str]) -> list[dict[str, Any]]:
    needle = (q.get("query") or q.get("username") or "").lower()
    return [
        u
        for u in emu.site.users
        if not needle
        or needle in u["name"].lower()
        or needle in u["display_name"].lower()
        or (u["email_visible"] and needle in u["email"].lower())
    ]


@ROUTES.route("GET", API + r"/user/search")
def user_search(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    if emu.faults.users_forbidden:
        raise HttpError(403, quirks.USERS_FORBIDDEN)
    if not (q.get("query") or q.get("username") or q.get("accountId")):
        raise HttpError(
            400,
            "The query parameter 'query' or 'accountId' must be provided."
            if emu.cloud
            else "The username query parameter was not provided",
        )
    start, size = int_param(q, "startAt", 0), min(int_param(q, "maxResults", 50), 1000)
    if q.get("accountId"):
        rows = [u for u in emu.site.users if u["account_id"] == q["accountId"]]
    else:
        rows = users_matching(emu, q)
    return [user_json(ctx, u["account_id"]) for u in rows[start : start + size]]


@ROUTES.route("GET", API + r"/users/search")
def users_search(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    if emu.faults.users_forbidden:
        raise HttpError(403, quirks.USERS_FORBIDDEN)
    if not emu.cloud:
        raise HttpError(404, "null for uri: /users/search")
    start, size = int_param(q, "startAt", 0), min(int_param(q, "maxResults", 50), 1000)
    return [user_json(ctx, u["account_id"]) for u in emu.site.users[start : start + size]]
