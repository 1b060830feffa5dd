"""Change-history endpoints of the Jira emulator (Cloud only): the paged
``/issue/{key}/changelog`` and the bulk ``/changelog/bulkfetch``, whose token resumes
inside an issue's history (a page may end mid-issue).
"""

from __future__ import annotations

from typing import Any

import pmohub.emulators.jira.quirks as quirks
from pmohub.emulators.jira.paging import HttpError, decode_token, encode_token
from pmohub.emulators.jira.payloads import history_json
from pmohub.emulators.jira.routing import API, RouteTable, ctx_for, int_param

ROUTES = RouteTable()


@ROUTES.route("GET", API + r"/issue/(?P<key>[^/]+)/changelog")
def issue_changelog(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    if not emu.cloud:
        raise HttpError(404, "null for uri: /changelog")
    issue = emu.visible_issue(g["key"])
    start, size = int_param(q, "startAt", 0), max(1, min(int_param(q, "maxResults", 100), 100))
    histories = issue["histories"]
    page = histories[start : start + size]
    base = f"{ctx.rest}/issue/{issue['key']}/changelog"
    out: dict[str, Any] = {
        "self": f"{base}?maxResults={size}&startAt={start}",
        "maxResults": size,
        "startAt": start,
        "total": len(histories),
        "isLast": start + size >= len(histories),
        "values": [quirks.history(emu.faults, history_json(ctx, h)) for h in page],
    }
    if not out["isLast"]:
        out["nextPage"] = f"{base}?maxResults={size}&startAt={start + size}"
    return out


@ROUTES.route("POST", r"/rest/api/(?P<api>3|latest)/changelog/bulkfetch")
def changelog_bulk(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    if not emu.cloud:
        raise HttpError(404, "null for uri: /changelog/bulkfetch")
    if not isinstance(body, dict) or not body.get("issueIdsOrKeys"):
        raise HttpError(400, "issueIdsOrKeys must not be empty.")
    ids = [str(x) for x in body["issueIdsOrKeys"]]
    if len(ids) > 1000:
        raise HttpError(400, "The number of issueIdsOrKeys must not exceed 1000.")
    size = max(1, min(int(body.get("maxResults") or 1000), 10000))
    field_ids = set(body.get("fieldIds") or [])
    pos_issue, pos_hist = 0, 0
    if body.get("nextPageToken"):
        token = decode_token(str(body["nextPageToken"]))
        pos_issue, pos_hist = int(token.get("i", 0)), int(token.get("h", 0))
    issues = []
    for ident in ids:
        issue = emu.site.issue(ident)
        if issue is not None and issue["project"] not in emu.hidden_projects:
            issues.append(issue)
    out_logs: list[dict[str, Any]] = []
    budget = size
    i, h = pos_issue, pos_hist
    while i < len(issues) and budget > 0:
        issue = issues[i]
        histories = issue["histories"]
        chunk = []
        while h < len(histories) and budget > 0:
            raw = histories[h]
            hist = quirks.bulk_history(emu.faults, history_json(ctx, raw), raw["created"])
            h += 1
            if field_ids:
                hist["items"] = [
                    it
                    for it in hist["items"]
                    if it.get("fieldId") in field_ids or it["field"] in field_ids
                ]
                if not hist["items"]:
                    continue
            chunk.append(hist)
            budget -= 1
        if chunk:
            out_logs.append({"issueId": str(issue["id"]), "changeHistories": chunk})
        if h >= len(histories):
            i, h = i + 1, 0
    out: dict[str, Any] = {"issueChangeLogs": out_logs}
    if i < len(issues):
        out["nextPageToken"] = encode_token({"i": i, "h": h})
    return out
