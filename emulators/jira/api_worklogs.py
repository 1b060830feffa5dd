"""Worklog endpoints of the Jira emulator: an issue's worklogs and the site-wide feeds
``/worklog/updated``, ``/worklog/deleted`` (paged by time, never splitting equal
timestamps, leaving out the last ``worklog_quiet_seconds`` like Cloud) and ``/worklog/list``.
"""

from __future__ import annotations

from typing import Any

from pmohub.emulators.jira.paging import HttpError
from pmohub.emulators.jira.payloads import Ctx, worklog_json
from pmohub.emulators.jira.routing import API, RouteTable, ctx_for, int_param

ROUTES = RouteTable()

# Entries per /worklog/updated or /worklog/deleted page (Jira's own 1,000); a module
# constant so a test can shrink it to page a small site.
WORKLOG_PAGE = 1000


@ROUTES.route("GET", API + r"/issue/(?P<key>[^/]+)/worklog")
def issue_worklogs(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    issue = emu.visible_issue(g["key"])
    start, size = int_param(q, "startAt", 0), max(1, min(int_param(q, "maxResults", 5000), 5000))
    rows = issue["worklogs"]
    return {
        "startAt": start,
        "maxResults": size,
        "total": len(rows),
        "worklogs": [worklog_json(ctx, w, issue) for w in rows[start : start + size]],
    }


def changed_worklogs(
    emu: Any, ctx: Ctx, q: dict[str, str], rows: list[tuple[int, int]], kind: str
) -> dict[str, Any]:
    since = int_param(q, "since", 0)
    cutoff = emu.now_ms() - emu.worklog_quiet_seconds * 1000
    eligible = sorted((t, wid) for t, wid in rows if since <= t <= cutoff)
    page = eligible[:WORKLOG_PAGE]
    # Never split equal timestamps across pages (the next page starts after `until`).
    if len(eligible) > WORKLOG_PAGE:
        last = page[-1][0]
        page = [r for r in eligible if r[0] <= last]
    last_page = len(page) == len(eligible)
    until = page[-1][0] if page else since
    out: dict[str, Any] = {
        "values": [{"worklogId": wid, "updatedTime": t, "properties": []} for t, wid in page],
        "since": since,
        "until": until,
        "self": f"{ctx.rest}/worklog/{kind}?since={since}",
        "lastPage": last_page,
    }
    if not last_page:
        out["nextPage"] = f"{ctx.rest}/worklog/{kind}?since={until + 1}"
    return out


@ROUTES.route("GET", API + r"/worklog/updated")
def worklog_updated(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    rows = [
        (w["updated"], wid)
        for wid, (w, issue) in emu.site.worklogs_by_id.items()
        if issue["project"] not in emu.hidden_projects
    ]
    return changed_worklogs(emu, ctx, q, rows, "updated")


@ROUTES.route("GET", API + r"/worklog/deleted")
def worklog_deleted(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    rows = [(d["updatedTime"], d["worklogId"]) for d in emu.site.deleted_worklogs]
    return changed_worklogs(emu, ctx, q, rows, "deleted")


@ROUTES.route("POST", API + r"/worklog/list")
def worklog_list(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list):
        raise HttpError(400, "Request body must contain 'ids'.")
    if len(ids) > 1000:
        raise HttpError(400, "The number of worklog IDs must not exceed 1000.")
    out = []
    for wid in ids:
        found = emu.site.worklogs_by_id.get(int(wid))
        if found and found[1]["project"] not in emu.hidden_projects:
            out.append(worklog_json(ctx, found[0], found[1]))
    return out
