"""JiraEmulator: a local HTTP server that answers like Jira Cloud or Jira Data Center.

Deliberate choices (documented because a connector may depend on them):
- Cloud `/rest/api/3/search/jql` pages with an opaque `nextPageToken` that encodes the sort
  key of the last issue served (keyset paging): an issue edited mid-iteration moves to the
  end of an `ORDER BY updated` query and is served again there; nothing is skipped.
- Data Center `/rest/api/2/search` pages by offset (`startAt`) over the result as it is at
  the time of each request, like the real thing: edits during a run shift later pages.
- Default order without ORDER BY: `key DESC` on DC, `id DESC` on Cloud (matches what the
  sites show for an unordered search closely enough; connectors should always order).
- Timestamps are rendered in the searching user's time zone (`user_time_zone`), JQL dates
  are read in that zone, minute precision.
- DC sprint custom field uses the `Sprint@...[id=..,state=ACTIVE,..]` strings of Jira
  Server/DC REST v2 (`dc_sprint_format="object"` switches to objects).
- `deploymentType` is "Cloud" or "Server" (what Jira Data Center 9.x reports).
"""

from __future__ import annotations

import base64
import bisect
import gc
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from pmohub.emulators.handler import KeepAliveHandler, LoopbackServed, QuietServer
from pmohub.emulators.jira import jql as jqlmod
from pmohub.emulators.jira import quirks
from pmohub.emulators.jira.faults import Faults
from pmohub.emulators.jira.paging import (
    HttpError,
    decode_token,
    encode_token,
    sort_key,
    split_id_bound,
    tuplify,
)
from pmohub.emulators.jira.payloads import (
    STATUS_BY_NAME,
    Ctx,
    comment_json,
    field_list,
    history_json,
    issue_fields,
    project_json,
    rendered_fields,
    select_fields,
    status_json,
    user_json,
    utc_time,
    version_json,
    worklog_json,
)
from pmohub.emulators.jira.site import STATUSES, JiraSite

DEFAULT_EMAIL = "pmo-bot@example.cn"
DEFAULT_TOKEN = "jira-emulator-token"
DEFAULT_USERNAME = "pmo-bot"
EMAIL_ENV = "JIRA_EMULATOR_EMAIL"
TOKEN_ENV = "JIRA_EMULATOR_TOKEN"

REMOVED_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
CLOUD_ID_ONLY_CAP = 5000
DC_CAP = 1000
WORKLOG_PAGE = 1000
CHANGELOG_EMBED_CAP = 40


def _int(query: dict[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise HttpError(400, f"The '{name}' parameter must be an integer.") from exc


class JiraEmulator(LoopbackServed):
    """Serve `site` as Jira Cloud (`deployment="cloud"`) or Data Center (`"datacenter"`)."""

    def __init__(
        self,
        site: JiraSite,
        deployment: str = "cloud",
        port: int = 0,
        user_time_zone: str = "Asia/Shanghai",
        page_size_cap: int = 100,
        auth: dict[str, str] | None = None,
        hidden_projects: tuple[str, ...] | list[str] = (),
        dc_sprint_format: str = "string",
        worklog_quiet_seconds: int = 60,
    ) -> None:
        if deployment not in ("cloud", "datacenter"):
            raise ValueError("deployment must be 'cloud' or 'datacenter'")
        self.site = site
        self.deployment = deployment
        self.cloud = deployment == "cloud"
        self.port = port
        self.tz = ZoneInfo(user_time_zone)
        self.user_time_zone = user_time_zone
        self.page_size_cap = page_size_cap
        self.auth = auth or {
            "email": DEFAULT_EMAIL,
            "token": DEFAULT_TOKEN,
            "username": DEFAULT_USERNAME,
        }
        self.hidden_projects = {p.upper() for p in hidden_projects}
        self.dc_sprint_format = dc_sprint_format
        # Real Cloud leaves out worklogs changed in the minute before the request.
        self.worklog_quiet_seconds = worklog_quiet_seconds
        self.faults = Faults()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.RLock()
        self._server: QuietServer | None = None
        self._last_ms = max([i["updated"] for i in site.issues] + [0])
        self._memo: dict[Any, Any] = {}
        self._query_cache: dict[tuple, tuple[list[tuple], list[dict[str, Any]]]] = {}
        # Results of a query minus its top-level ``id > N`` bound, so key-set paging
        # (``<scope> AND id > <last> ORDER BY id``: a new JQL text per page) filters and
        # sorts the site once per scope, not once per page.
        self._base_cache: dict[tuple, tuple[list[tuple], list[dict[str, Any]], list[int]]] = {}

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> JiraEmulator:
        # A 50k-issue site is millions of long-lived objects; without freezing them every
        # gen-2 collection (triggered by the client decoding pages in the same process)
        # rescans them all, which made pages 4x slower than serving them.
        gc.freeze()
        return super().start()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    # -- clock and mutations -----------------------------------------------------------
    def now_ms(self) -> int:
        """Wall clock, but never behind the newest generated timestamp, strictly increasing."""
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return self._last_ms

    def _touched(self) -> None:
        self.site.version_no += 1
        self._query_cache.clear()
        self._base_cache.clear()

    def _get(self, key: str) -> dict[str, Any]:
        issue = self.site.issue(key)
        if issue is None:
            raise KeyError(f"no issue {key}")
        return issue

    def edit_issue(self, key: str, author: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change fields like a user would: bumps `updated`, appends a changelog entry.
        Keys: summary, description, status, assignee (accountId or None), priority, due_on,
        story_points, labels, or any logical custom field name of `site.field_ids`."""
        with self.lock:
            issue = self._get(key)
            now = self.now_ms()
            items: list[dict[str, Any]] = []
            for name, value in changes.items():
                name = {"duedate": "due_on"}.get(name, name)
                if name == "status":
                    if value not in STATUS_BY_NAME:
                        raise ValueError(f"unknown status {value!r}")
                    old = issue["status"]
                    items.append(
                        {
                            "field": "status",
                            "fieldtype": "jira",
                            "fieldId": "status",
                            "from": old,
                            "to": value,
                        }
                    )
                    issue["status"] = value
                    done = STATUS_BY_NAME[value][1] == "done"
                    if done and not issue["resolution"]:
                        items.append(
                            {
                                "field": "resolution",
                                "fieldtype": "jira",
                                "fieldId": "resolution",
                                "from": None,
                                "to": "Done",
                            }
                        )
                        issue["resolution"], issue["resolved"] = "Done", now
                    elif not done and issue["resolution"]:
                        items.append(
                            {
                                "field": "resolution",
                                "fieldtype": "jira",
                                "fieldId": "resolution",
                                "from": issue["resolution"],
                                "to": None,
                            }
                        )
                        issue["resolution"], issue["resolved"] = None, None
                elif name in ("summary", "description"):
                    items.append(
                        {
                            "field": name,
                            "fieldtype": "jira",
                            "fieldId": name,
                            "from": issue[name],
                            "to": value,
                        }
                    )
                    issue[name] = value
                elif name in ("assignee", "priority", "due_on"):
                    field = {"due_on": "duedate"}.get(name, name)
                    items.append(
                        {
                            "field": field,
                            "fieldtype": "jira",
                            "fieldId": field,
                            "from": issue[name],
                            "to": value,
                        }
                    )
                    issue[name] = value
                elif name == "story_points":
                    items.append(
                        {
                            "field": "Story Points",
                            "fieldtype": "custom",
                            "fieldId": self.site.field_ids["story_points"],
                            "from": None,
                            "to": None,
                            "fromString": None if issue[name] is None else str(issue[name]),
                            "toString": None if value is None else str(value),
                        }
                    )
                    issue[name] = value
                elif name == "labels":
                    items.append(
                        {
                            "field": "labels",
                            "fieldtype": "jira",
                            "fieldId": "labels",
                            "from": None,
                            "to": None,
                            "fromString": " ".join(issue["labels"]),
                            "toString": " ".join(value),
                        }
                    )
                    issue["labels"] = list(value)
                elif name in self.site.field_ids:
                    items.append(
                        {
                            "field": name,
                            "fieldtype": "custom",
                            "fieldId": self.site.field_ids[name],
                            "from": None,
                            "to": None,
                            "fromString": _s(issue["custom"].get(name)),
                            "toString": _s(value),
                        }
                    )
                    issue["custom"][name] = value
                else:
                    raise ValueError(f"edit_issue cannot change {name!r}")
            issue["histories"].append(
                {
                    "id": self.site.next_id("history"),
                    "author": author or self.site.bot_account_id,
                    "created": now,
                    "items": items,
                }
            )
            issue["updated"] = now
            self._touched()
            return issue

    def add_worklog(self, key: str, seconds: int, author: str | None = None) -> dict[str, Any]:
        """Log work on an issue (shows up in /worklog/updated after the quiet period)."""
        with self.lock:
            issue = self._get(key)
            now = self.now_ms()
            worklog = {
                "id": 10_000 + self.site.next_id("worklog"),
                "author": author or self.site.bot_account_id,
                "started": now - seconds * 1000,
                "seconds": seconds,
                "created": now,
                "updated": now,
                "comment": "",
            }
            issue["worklogs"].append(worklog)
            issue["spent_s"] = (issue["spent_s"] or 0) + seconds
            issue["updated"] = now
            self.site.worklogs_by_id[worklog["id"]] = (worklog, issue)
            self._touched()
            return worklog

    def delete_issue(self, key: str) -> None:
        """Delete an issue: it vanishes from search; its worklogs appear in /worklog/deleted."""
        with self.lock:
            issue = self._get(key)
            now = self.now_ms()
            self.site.issues.remove(issue)
            del self.site.by_id[issue["id"]]
            self.site.by_key.pop(issue["key"], None)
            for w in issue["worklogs"]:
                self.site.worklogs_by_id.pop(w["id"], None)
                self.site.deleted_worklogs.append({"worklogId": w["id"], "updatedTime": now})
            for link in issue["links"]:
                other = self.site.by_id.get(link["other"])
                if other is not None:
                    other["links"] = [lk for lk in other["links"] if lk["id"] != link["id"]]
            self.site.key_aliases = {
                k: v for k, v in self.site.key_aliases.items() if v != issue["id"]
            }
            self._touched()

    def move_issue(self, key: str, project_key: str) -> dict[str, Any]:
        """Move to another project: same numeric id, new key; the old key still resolves."""
        with self.lock:
            issue = self._get(key)
            target = next((p for p in self.site.projects if p["key"] == project_key), None)
            if target is None:
                raise KeyError(f"no project {project_key}")
            source = next(p for p in self.site.projects if p["key"] == issue["project"])
            numbers = [
                int(i["key"].rsplit("-", 1)[1])
                for i in self.site.issues
                if i["project"] == project_key
            ]
            numbers += [
                int(k.rsplit("-", 1)[1])
                for k in self.site.key_aliases
                if k.rsplit("-", 1)[0] == project_key
            ]
            new_key = f"{project_key}-{max(numbers, default=0) + 1}"
            old_key = issue["key"]
            now = self.now_ms()
            issue["histories"].append(
                {
                    "id": self.site.next_id("history"),
                    "author": self.site.bot_account_id,
                    "created": now,
                    "items": [
                        {
                            "field": "project",
                            "fieldtype": "jira",
                            "fieldId": "project",
                            "from": None,
                            "to": None,
                            "fromString": source["name"],
                            "toString": target["name"],
                        },
                        {
                            "field": "Key",
                            "fieldtype": "jira",
                            "fieldId": "issuekey",
                            "from": None,
                            "to": None,
                            "fromString": old_key,
                            "toString": new_key,
                        },
                    ],
                }
            )
            # Versions belong to a project; Jira drops them on a move.
            issue["fix_versions"] = []
            issue["project"] = project_key
            issue["key"] = new_key
            issue["updated"] = now
            self.site.by_key.pop(old_key, None)
            self.site.by_key[new_key] = issue
            self.site.key_aliases[old_key] = issue["id"]
            self._touched()
            return issue

    # -- helpers used by the handler ---------------------------------------------------
    def ctx(self, api: str) -> Ctx:
        return Ctx(self.site, self.url, self.cloud, api, self.tz, self.dc_sprint_format, self._memo)

    def visible_projects(self) -> list[dict[str, Any]]:
        return [p for p in self.site.projects if p["key"] not in self.hidden_projects]

    def visible_issue(self, id_or_key: str) -> dict[str, Any]:
        issue = self.site.issue(id_or_key)
        if issue is None or issue["project"] in self.hidden_projects:
            raise HttpError(404, "Issue does not exist or you do not have permission to see it.")
        return issue

    def run_query(
        self, jql_text: str, *, require_bounded: bool
    ) -> tuple[list[tuple], list[dict[str, Any]]]:
        """(sort keys, issues) for a JQL query, cached until the next mutation."""
        with self.lock:
            cache_key = (jql_text, self.site.version_no)
            cached = self._query_cache.get(cache_key)
            if cached is not None:
                return cached
            try:
                query = jqlmod.parse(jql_text, self.tz, self.now_ms())
            except jqlmod.JqlError as exc:
                raise HttpError(400, str(exc)) from exc
            if require_bounded and query.where is None:
                raise HttpError(
                    400,
                    "Unbounded JQL queries are not allowed here. Please add a "
                    "search restriction to your query.",
                )
            known = (
                {p["key"].lower() for p in self.visible_projects()}
                | {p["name"].lower() for p in self.visible_projects()}
                | {str(p["id"]) for p in self.visible_projects()}
            )
            for value in jqlmod.clause_values(query.where, "project"):
                if str(value).lower() not in known:
                    raise HttpError(
                        400, f"The value '{value}' does not exist for the field 'project'."
                    )
            order = list(query.order_by) or [("id" if self.cloud else "key", True)]
            if not any(f == "id" for f, _ in order):
                order.append(("id", False))
            where, bound = split_id_bound(query.where)
            if self.faults.ignore_id_bound:
                bound = None
            base_key = (where, tuple(order), self.site.version_no)
            try:
                base = self._base_cache.get(base_key)
            except TypeError:  # an unhashable literal somewhere: no base caching
                base_key, base = None, None
            if base is None:
                base = self._evaluate(where, order)
                if base_key is not None:
                    if len(self._base_cache) > 16:
                        self._base_cache.clear()
                    self._base_cache[base_key] = base
            keys, issues, ids = base
            if bound is None:
                result = (keys, issues)
            elif order[0] == ("id", False):
                op, value = bound
                start = (bisect.bisect_right if op == ">" else bisect.bisect_left)(ids, value)
                result = (keys[start:], issues[start:])
            else:
                op, value = bound
                picked = [
                    (k, i)
                    for k, i in zip(keys, issues, strict=True)
                    if (i["id"] > value if op == ">" else i["id"] >= value)
                ]
                result = ([k for k, _ in picked], [i for _, i in picked])
            if len(self._query_cache) > 64:
                self._query_cache.clear()
            self._query_cache[cache_key] = result
            return result

    def _evaluate(
        self, where: Any, order: list[tuple[str, bool]]
    ) -> tuple[list[tuple], list[dict[str, Any]], list[int]]:
        """(sort keys, issues, their ids) matching ``where``, sorted by ``order``."""
        names_by_id = {str(p["id"]): p["key"].lower() for p in self.site.projects}
        names_by_name = {p["name"].lower(): p["key"].lower() for p in self.site.projects}
        site = self.site

        def get(issue: dict[str, Any], field: str) -> Any:
            if field == "project":
                return issue["project"]
            if field == "type":
                return issue["type"]
            if field == "statuscategory":
                cat = STATUS_BY_NAME[issue["status"]][1]
                return {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}[cat]
            if field == "parent":
                parent = site.by_id.get(issue["parent"]) if issue["parent"] else None
                return parent["key"] if parent else None
            return issue.get(field)

        predicate = jqlmod.compile_predicate(
            _normalise_projects(where, names_by_id, names_by_name), get
        )
        hidden = self.hidden_projects
        matched = [i for i in site.issues if i["project"] not in hidden and predicate(i)]
        keyed = sorted(((sort_key(i, order), i) for i in matched), key=lambda t: t[0])
        return ([k for k, _ in keyed], [i for _, i in keyed], [i["id"] for _, i in keyed])


def _s(value: Any) -> str | None:
    if value is None:
        return None
    return ",".join(value) if isinstance(value, list) else str(value)


def _normalise_projects(node: Any, by_id: dict[str, str], by_name: dict[str, str]) -> Any:
    """`project = 10001` and `project = "Payments Platform"` mean the same project."""
    if node is None:
        return None
    if isinstance(node, jqlmod.BoolNode):
        return jqlmod.BoolNode(
            node.op, tuple(_normalise_projects(c, by_id, by_name) for c in node.children)
        )
    if node.field != "project":
        return node
    values = tuple(by_id.get(str(v), by_name.get(str(v).lower(), str(v))) for v in node.values)
    return jqlmod.Clause(node.field, node.op, values)


def _make_handler(emu: JiraEmulator) -> type[BaseHTTPRequestHandler]:
    routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = []

    def route(method: str, pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            routes.append((method, re.compile(f"^{pattern}$"), fn))
            return fn

        return register

    api = r"/rest/api/(?P<api>2|3|latest)"

    def ctx_for(groups: dict[str, str]) -> Ctx:
        version = groups.get("api", "2")
        if version == "latest":
            version = "3" if emu.cloud else "2"
        if version == "3" and not emu.cloud:
            raise HttpError(404, "null for uri: /rest/api/3")
        return emu.ctx(version)

    # ---- platform -------------------------------------------------------------------
    @route("GET", api + r"/serverInfo")
    def server_info(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
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

    @route("GET", api + r"/myself")
    def myself(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        out = dict(user_json(ctx, emu.site.bot_account_id) or {})
        out["timeZone"] = emu.user_time_zone
        out["emailAddress"] = emu.site.users_by_id[emu.site.bot_account_id]["email"]
        out["locale"] = "zh_CN"
        out["groups"] = {"size": 1, "items": []}
        out["applicationRoles"] = {"size": 1, "items": []}
        out["expand"] = "groups,applicationRoles"
        return out

    @route("GET", api + r"/field")
    def fields(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        return field_list(ctx_for(g))

    @route("GET", api + r"/status")
    def statuses(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        return [status_json(ctx, name) for _sid, name, _cat in STATUSES]

    @route("GET", api + r"/project")
    def projects(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        return [project_json(ctx, p) for p in emu.visible_projects()]

    @route("GET", api + r"/project/search")
    def project_search(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        if not emu.cloud:
            raise HttpError(404, "null for uri: " + "/project/search")
        start, size = _int(q, "startAt", 0), min(_int(q, "maxResults", 50), 100)
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

    def find_project(key: str) -> dict[str, Any]:
        for p in emu.visible_projects():
            if p["key"] == key.upper() or str(p["id"]) == key:
                return p
        raise HttpError(404, f"No project could be found with key '{key}'.")

    @route("GET", api + r"/project/(?P<key>[^/]+)")
    def project_one(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        return project_json(ctx_for(g), find_project(g["key"]), full=True)

    @route("GET", api + r"/project/(?P<key>[^/]+)/versions?")
    def project_versions(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        proj = find_project(g["key"])
        rows = [
            version_json(ctx, v, proj["id"])
            for v in emu.site.versions
            if v["project_key"] == proj["key"]
        ]
        for row in rows:
            row["projectId"] = proj["id"]
        return rows

    def users_matching(q: dict[str, str]) -> list[dict[str, Any]]:
        needle = (q.get("query") or q.get("username") or "").lower()
        return [
            u
            for u in emu.site.users
            if not needle
            or needle in u["name"].lower()
            or needle in u["display_name"].lower()
            or (u["email_visible"] and needle in u["email"].lower())
        ]

    @route("GET", api + r"/user/search")
    def user_search(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        if emu.faults.users_forbidden:
            raise HttpError(403, quirks.USERS_FORBIDDEN)
        if not (q.get("query") or q.get("username") or q.get("accountId")):
            raise HttpError(
                400,
                "The query parameter 'query' or 'accountId' must be provided."
                if emu.cloud
                else "The username query parameter was not provided",
            )
        start, size = _int(q, "startAt", 0), min(_int(q, "maxResults", 50), 1000)
        if q.get("accountId"):
            rows = [u for u in emu.site.users if u["account_id"] == q["accountId"]]
        else:
            rows = users_matching(q)
        return [user_json(ctx, u["account_id"]) for u in rows[start : start + size]]

    @route("GET", api + r"/users/search")
    def users_search(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        if emu.faults.users_forbidden:
            raise HttpError(403, quirks.USERS_FORBIDDEN)
        if not emu.cloud:
            raise HttpError(404, "null for uri: /users/search")
        start, size = _int(q, "startAt", 0), min(_int(q, "maxResults", 50), 1000)
        return [user_json(ctx, u["account_id"]) for u in emu.site.users[start : start + size]]

    # ---- search ---------------------------------------------------------------------
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

    fids = emu.site.field_ids
    sp_ids = (fids["story_points"], fids.get("story_point_estimate", fids["story_points"]))

    def embed_cap() -> int | None:
        if not emu.cloud:
            return None
        return (
            emu.faults.embedded_changelog_limit
            if emu.faults.truncate_changelogs
            else (CHANGELOG_EMBED_CAP)
        )

    @route("GET|POST", r"/rest/api/(?P<api>2|3|latest)/search/jql")
    def search_jql(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
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
                render_issue(ctx, i, fields, args["expand"], False, embed_cap()) for i in page
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

    @route("GET|POST", api + r"/search")
    def search_old(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
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
            "issues": [render_issue(ctx, i, fields, args["expand"], False, None) for i in page],
        }

    # ---- issues ---------------------------------------------------------------------
    @route("GET", api + r"/issue/(?P<key>[^/]+)")
    def issue_get(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        issue = emu.visible_issue(g["key"])
        fields = [f for f in q.get("fields", "").split(",") if f] or None
        expand = {e for e in q.get("expand", "").split(",") if e}
        return render_issue(ctx, issue, fields, expand, True, embed_cap())

    @route("GET", api + r"/issue/(?P<key>[^/]+)/changelog")
    def issue_changelog(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        if not emu.cloud:
            raise HttpError(404, "null for uri: /changelog")
        issue = emu.visible_issue(g["key"])
        start, size = _int(q, "startAt", 0), max(1, min(_int(q, "maxResults", 100), 100))
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

    @route("POST", r"/rest/api/(?P<api>3|latest)/changelog/bulkfetch")
    def changelog_bulk(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
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

    @route("GET", api + r"/issue/(?P<key>[^/]+)/worklog")
    def issue_worklogs(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        issue = emu.visible_issue(g["key"])
        start, size = _int(q, "startAt", 0), max(1, min(_int(q, "maxResults", 5000), 5000))
        rows = issue["worklogs"]
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(rows),
            "worklogs": [worklog_json(ctx, w, issue) for w in rows[start : start + size]],
        }

    @route("GET", api + r"/issue/(?P<key>[^/]+)/comment")
    def issue_comments(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        issue = emu.visible_issue(g["key"])
        start, size = _int(q, "startAt", 0), max(1, min(_int(q, "maxResults", 5000), 5000))
        rows = issue["comments"]
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(rows),
            "comments": [comment_json(ctx, c, issue) for c in rows[start : start + size]],
        }

    @route("GET", api + r"/issue/(?P<key>[^/]+)/remotelink")
    def remote_links(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
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

    # ---- worklog feeds --------------------------------------------------------------
    def changed_worklogs(
        ctx: Ctx, q: dict[str, str], rows: list[tuple[int, int]], kind: str
    ) -> dict[str, Any]:
        since = _int(q, "since", 0)
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

    @route("GET", api + r"/worklog/updated")
    def worklog_updated(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        rows = [
            (w["updated"], wid)
            for wid, (w, issue) in emu.site.worklogs_by_id.items()
            if issue["project"] not in emu.hidden_projects
        ]
        return changed_worklogs(ctx, q, rows, "updated")

    @route("GET", api + r"/worklog/deleted")
    def worklog_deleted(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
        rows = [(d["updatedTime"], d["worklogId"]) for d in emu.site.deleted_worklogs]
        return changed_worklogs(ctx, q, rows, "deleted")

    @route("POST", api + r"/worklog/list")
    def worklog_list(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = ctx_for(g)
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

    # ---- agile ----------------------------------------------------------------------
    agile = r"/rest/agile/1\.0"

    def agile_ctx() -> Ctx:
        return emu.ctx("3" if emu.cloud else "2")

    def visible_boards() -> list[dict[str, Any]]:
        return [b for b in emu.site.boards if b["project_key"] not in emu.hidden_projects]

    def find_board(board_id: str) -> dict[str, Any]:
        for b in visible_boards():
            if str(b["id"]) == board_id:
                return b
        raise HttpError(404, "Board does not exist or you do not have permission to see it.")

    def paged(rows: list[Any], q: dict[str, str], cap: int = 50) -> dict[str, Any]:
        start, size = _int(q, "startAt", 0), max(1, min(_int(q, "maxResults", 50), cap))
        page = rows[start : start + size]
        return {
            "maxResults": size,
            "startAt": start,
            "total": len(rows),
            "isLast": start + size >= len(rows),
            "values": page,
        }

    @route("GET", agile + r"/board")
    def boards(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = agile_ctx()
        rows = visible_boards()
        if q.get("type"):
            rows = [b for b in rows if b["type"] in q["type"].split(",")]
        if q.get("projectKeyOrId"):
            rows = [b for b in rows if b["project_key"] == q["projectKeyOrId"].upper()]
        projects_by_key = {p["key"]: p for p in emu.site.projects}
        values = []
        for b in rows:
            p = projects_by_key[b["project_key"]]
            values.append(
                {
                    "id": b["id"],
                    "self": f"{ctx.base_url}/rest/agile/1.0/board/{b['id']}",
                    "name": b["name"],
                    "type": b["type"],
                    "location": {
                        "projectId": p["id"],
                        "displayName": f"{p['name']} ({p['key']})",
                        "projectName": p["name"],
                        "projectKey": p["key"],
                        "projectTypeKey": "software",
                        "avatarURI": f"/secure/projectavatar?size=small&pid={p['id']}",
                        "name": f"{p['name']} ({p['key']})",
                    },
                }
            )
        return paged(values, q)

    def sprint_json(ctx: Ctx, s: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": s["id"],
            "self": f"{ctx.base_url}/rest/agile/1.0/sprint/{s['id']}",
            "state": s["state"],
            "name": s["name"],
        }
        if s["start_at"] is not None:
            out["startDate"] = utc_time(s["start_at"])
            out["endDate"] = utc_time(s["end_at"])
        if s["complete_at"] is not None:
            out["completeDate"] = utc_time(s["complete_at"])
        out["originBoardId"] = s["board_id"]
        out["goal"] = s["goal"]
        return out

    @route("GET", agile + r"/board/(?P<board>\d+)/sprint")
    def board_sprints(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = agile_ctx()
        board = find_board(g["board"])
        if board["type"] != "scrum":
            raise HttpError(400, "The board does not support sprints")
        states = {s for s in q.get("state", "").split(",") if s}
        order = {"closed": 0, "active": 1, "future": 2}
        rows = sorted(
            (
                s
                for s in emu.site.sprints
                if s["board_id"] == board["id"] and (not states or s["state"] in states)
            ),
            key=lambda s: (order[s["state"]], s["id"]),
        )
        if emu.faults.board_sprints_hidden:
            rows = []
        return paged([sprint_json(ctx, s) for s in rows], q)

    @route("GET", agile + r"/sprint/(?P<sprint>\d+)")
    def sprint_one(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = agile_ctx()
        for s in emu.site.sprints:
            if str(s["id"]) == g["sprint"]:
                find_board(str(s["board_id"]))
                return sprint_json(ctx, s)
        raise HttpError(404, "Sprint does not exist or you do not have permission to see it.")

    @route("GET", agile + r"/board/(?P<board>\d+)/version")
    def board_versions(g: dict[str, str], q: dict[str, str], body: Any) -> Any:
        ctx = agile_ctx()
        board = find_board(g["board"])
        proj = next(p for p in emu.site.projects if p["key"] == board["project_key"])
        rows = []
        for v in emu.site.versions:
            if v["project_key"] != proj["key"]:
                continue
            row: dict[str, Any] = {
                "self": f"{ctx.rest}/version/{v['id']}",
                "id": v["id"],
                "projectId": proj["id"],
                "name": v["name"],
                "description": v["description"],
                "archived": v["archived"],
                "released": v["released"],
            }
            if v.get("release_on"):
                row["releaseDate"] = v["release_on"] + "T00:00:00.000Z"
            rows.append(row)
        return paged(rows, q)

    class Handler(KeepAliveHandler):
        server_version = "JiraEmulator/1.0"

        def handle_method(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            query = {
                k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()
            }
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            with emu.lock:
                emu.requests.append((method, path, query))
            for hook in emu.faults.hooks_for(path):
                hook(method, path, query)
            fault = emu.faults.take(path)
            if fault is not None:
                if fault.kind == "drop":
                    self.close_connection = True
                    return
                if fault.kind == "slow":
                    time.sleep(fault.seconds)
                elif fault.kind == "rate_limit":
                    headers = {
                        "X-RateLimit-Limit": "100",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-NearLimit": "true",
                        "RateLimit-Reason": "jira-burst-based",
                    }
                    if fault.retry_after is not None:
                        headers["Retry-After"] = fault.retry_after
                    self.send_json(
                        429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers
                    )
                    return
                elif fault.kind == "unavailable":
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = fault.retry_after
                    self.send_raw(
                        503,
                        b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                        "text/html;charset=UTF-8",
                        headers,
                    )
                    return
                elif fault.kind == "login_page":  # SSO in front of the API answers 200
                    self.send_raw(200, quirks.LOGIN_PAGE, "text/html;charset=UTF-8")
                    return
            forbidden = emu.faults.forbidden_for(path)
            if forbidden is not None:
                self.send_json(403, {"errorMessages": [forbidden], "errors": {}})
                return
            if not self.authorised():
                if emu.cloud:
                    self.send_raw(
                        401,
                        b"Client must be authenticated to access this resource.",
                        "text/plain;charset=UTF-8",
                        {
                            "WWW-Authenticate": 'Basic realm="protected-area"',
                            "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                        },
                    )
                else:
                    self.send_json(
                        401,
                        {
                            "errorMessages": [
                                "You are not authenticated. Authentication required to perform this "
                                "operation."
                            ],
                            "errors": {},
                        },
                        {
                            "WWW-Authenticate": 'OAuth realm="' + emu.url + '"',
                            "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                        },
                    )
                return
            body: Any = None
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except json.JSONDecodeError:
                    self.send_json(
                        400,
                        {
                            "errorMessages": ["Unexpected character in the request body."],
                            "errors": {},
                        },
                    )
                    return
            matched_path = False
            for methods, pattern, fn in routes:
                m = pattern.match(path)
                if m is None:
                    continue
                matched_path = True
                if method not in methods.split("|"):
                    continue
                try:
                    payload = fn(m.groupdict(), query, body)
                except HttpError as err:
                    if err.raw is not None:
                        self.send_raw(err.status, err.raw, "text/plain", err.headers)
                    else:
                        self.send_json(
                            err.status, {"errorMessages": err.messages, "errors": {}}, err.headers
                        )
                    return
                self.send_json(200, payload)
                return
            if matched_path:
                self.send_json(405, {"errorMessages": ["Method Not Allowed"], "errors": {}})
            else:
                self.send_json(
                    404, {"errorMessages": [f"null for uri: {emu.url}{path}"], "errors": {}}
                )

        def authorised(self) -> bool:
            header = self.headers.get("Authorization", "")
            auth = emu.auth
            if header.startswith("Basic "):
                try:
                    user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    return False
                names = (
                    {auth.get("email")} if emu.cloud else {auth.get("email"), auth.get("username")}
                )
                return user in names and secret == auth.get("token")
            if header.startswith("Bearer ") and not emu.cloud:
                return header[7:] == auth.get("token")
            return False

        def send_json(
            self, status: int, payload: Any, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            self.send_raw(status, data, "application/json;charset=UTF-8", headers)

        def send_raw(
            self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-AREQUESTID", f"{int(time.time() * 1000) % 100000}x1")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
