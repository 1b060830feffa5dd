"""Issue search and single-issue endpoints of the Jira emulator.

- Cloud ``/rest/api/3/search/jql``: key-set paging with an opaque ``nextPageToken`` (the
  sort key of the last issue served), bounded JQL required, 5,000 ids per page when only
  ``id``/``key`` are asked for.
- Data Center ``/rest/api/2/search``: offset paging (``startAt``) over the result as it is
  at each request; Cloud answers 410 there (the API was removed).
- ``/issue/{key}`` with its embedded changelog (capped on Cloud, like the real one),
  ``/comment`` and ``/remotelink``.
"""

from __future__ import annotations

import bisect
import hashlib
from typing import Any

import pmohub.emulators.jira.quirks as quirks
from pmohub.emulators.jira.paging import HttpError, decode_token, encode_token, tuplify
from pmohub.emulators.jira.payloads import (
    Ctx,
    comment_json,
    field_list,
    history_json,
    issue_fields,
    rendered_fields,
    select_fields,
)
from pmohub.emulators.jira.routing import API, RouteTable, ctx_for, int_param

ROUTES = RouteTable()

REMOVED_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
# Page caps of the real sites: Cloud serves up to 5,000 issues a page when only ids are
# asked for, Data Center 1,000; other pages are capped by the emulator's page_size_cap.
CLOUD_ID_ONLY_CAP = 5000
DC_CAP = 1000
# Cloud embeds at most the newest 40 histories in an issue; the rest needs /changelog.
CHANGELOG_EMBED_CAP = 40


def parse_search_args(q: dict[str, str], body: Any) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if isinstance(body, dict):
        args.update(body)
    for name in ("jql", "nextPageToken", "maxResults", "startAt", "expand", "fields"):
        if name in q:
            args[name] = q[name]
    fields = args.get("fields")
    if isinstance(fields, str):
        fields = [f for f in fields.split(",") if f]
    expand = args.get("expand") or ""
    if isinstance(expand, list):
        expand = ",".join(expand)
    args["fields"] = fields
    args["expand"] = {e.strip() for e in expand.split(",") if e.strip()}
    for name in ("maxResults", "startAt"):
        if name in args and not isinstance(args[name], int):
            try:
                args[name] = int(args[name])
            except (TypeError, ValueError) as exc:
                raise HttpError(400, f"The '{name}' parameter must be an integer.") from exc
    return args


def ids_only(fields: list[str] | None) -> bool:
    return not fields or all(f.strip() in ("id", "key") for f in fields)


def render_issue(
    emu: Any,
    ctx: Ctx,
    issue: dict[str, Any],
    fields: list[str] | None,
    expand: set[str],
    default_all: bool,
    embed_cap: int | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,"
        "versionedRepresentations",
        "id": str(issue["id"]),
        "self": f"{ctx.rest}/issue/{issue['id']}",
        "key": issue["key"],
    }
    if fields == ["id"] or (fields and all(f == "id" for f in fields)):
        return {"id": str(issue["id"])}
    wanted = [f for f in (fields or []) if f not in ("id", "key")] if fields else None
    if fields and not wanted:
        out["fields"] = {}
    else:
        fids = emu.site.field_ids
        sp_ids = (fids["story_points"], fids.get("story_point_estimate", fids["story_points"]))
        raw = quirks.issue_fields(emu.faults, issue, issue_fields(ctx, issue), sp_ids)
        out["fields"] = select_fields(ctx, raw, wanted, default_all)
    if "changelog" in expand:
        histories = issue["histories"]
        total = len(histories)
        shown = histories
        if embed_cap is not None and total > embed_cap:
            shown = histories[-embed_cap:]
        out["changelog"] = {
            "startAt": total - len(shown),
            "maxResults": len(shown),
            "total": total,
            "histories": [quirks.history(emu.faults, history_json(ctx, h)) for h in shown],
        }
    if "renderedFields" in expand:
        out["renderedFields"] = rendered_fields(ctx, issue)
    if "names" in expand:
        out["names"] = {f["id"]: f["name"] for f in field_list(ctx)}
    if "transitions" in expand:
        out["transitions"] = []
    if "operations" in expand:
        out["operations"] = {"linkGroups": []}
    return out


def changelog_embed_cap(emu: Any) -> int | None:
    if not emu.cloud:
        return None
    return (
        emu.faults.embedded_changelog_limit
        if emu.faults.truncate_changelogs
        else (CHANGELOG_EMBED_CAP)
    )


@ROUTES.route("GET|POST", r"/rest/api/(?P<api>2|3|latest)/search/jql")
def search_jql(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    if not emu.cloud:
        raise HttpError(404, "null for uri: /search/jql")
    args = parse_search_args(q, body)
    jql_text = str(args.get("jql") or "")
    keys, matched = emu.run_query(jql_text, require_bounded=True)
    fields = args["fields"] or ["id"]
    cap = CLOUD_ID_ONLY_CAP if ids_only(fields) else emu.page_size_cap
    size = max(1, min(args.get("maxResults", 50), cap))
    digest = hashlib.sha1(jql_text.encode()).hexdigest()[:12]
    start = 0
    if args.get("nextPageToken"):
        token = decode_token(str(args["nextPageToken"]))
        if token.get("q") != digest:
            raise HttpError(400, "The provided next page token is invalid or expired.")
        start = bisect.bisect_right(keys, tuplify(token["k"]))
    page = matched[start : start + size]
    out: dict[str, Any] = {
        "issues": [
            render_issue(emu, ctx, i, fields, args["expand"], False, changelog_embed_cap(emu))
            for i in page
        ],
    }
    if start + size < len(matched):
        out["nextPageToken"] = encode_token({"q": digest, "k": keys[start + size - 1]})
        out["isLast"] = False
    else:
        out["isLast"] = True
    if "names" in args["expand"]:
        out["names"] = {f["id"]: f["name"] for f in field_list(ctx)}
    return out


@ROUTES.route("GET|POST", API + r"/search")
def search_old(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    if emu.cloud:
        raise HttpError(410, REMOVED_SEARCH)
    args = parse_search_args(q, body)
    keys, matched = emu.run_query(str(args.get("jql") or ""), require_bounded=False)
    del keys
    start = max(0, args.get("startAt", 0))
    fields = args["fields"]
    cap = DC_CAP if ids_only(fields) and fields else emu.page_size_cap
    size = max(0, min(args.get("maxResults", 50), cap))
    page = matched[start : start + size]
    return {
        "expand": "schema,names",
        "startAt": start,
        "maxResults": size,
        "total": len(matched),
        "issues": [render_issue(emu, ctx, i, fields, args["expand"], False, None) for i in page],
    }


@ROUTES.route("GET", API + r"/issue/(?P<key>[^/]+)")
def issue_get(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    issue = emu.visible_issue(g["key"])
    fields = [f for f in q.get("fields", "").split(",") if f] or None
    expand = {e for e in q.get("expand", "").split(",") if e}
    return render_issue(emu, ctx, issue, fields, expand, True, changelog_embed_cap(emu))


@ROUTES.route("GET", API + r"/issue/(?P<key>[^/]+)/comment")
def issue_comments(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    issue = emu.visible_issue(g["key"])
    start, size = int_param(q, "startAt", 0), max(1, min(int_param(q, "maxResults", 5000), 5000))
    rows = issue["comments"]
    return {
        "startAt": start,
        "maxResults": size,
        "total": len(rows),
        "comments": [comment_json(ctx, c, issue) for c in rows[start : start + size]],
    }


@ROUTES.route("GET", API + r"/issue/(?P<key>[^/]+)/remotelink")
def remote_links(emu: Any, g: dict[str, str], q: dict[str, str], body: Any) -> Any:
    ctx = ctx_for(emu, g)
    issue = emu.visible_issue(g["key"])
    return [
        {
            "id": link["id"],
            "self": f"{ctx.rest}/issue/{issue['key']}/remotelink/{link['id']}",
            "globalId": f"system=wiki&id={link['id']}",
            "application": {"type": "com.atlassian.confluence", "name": "Wiki"},
            "relationship": link["relationship"],
            "object": {"url": link["url"], "title": link["title"], "summary": link["title"]},
        }
        for link in issue["remote_links"]
    ]
