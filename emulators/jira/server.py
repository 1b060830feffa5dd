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

This module holds the emulator (site, clock, query evaluation and caches) and the request
handler that dispatches to the route tables of the API modules: ``api_platform`` (server
info, fields, projects, users), ``api_search`` (search and single issues),
``api_changelog``, ``api_worklogs`` and ``api_agile``. Mutations used by tests and the demo
(edit, log work, delete, move) are in ``mutations``.
"""

from __future__ import annotations

import base64
import bisect
import gc
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pmohub.emulators.jira.api_agile as api_agile
import pmohub.emulators.jira.api_changelog as api_changelog
import pmohub.emulators.jira.api_platform as api_platform
import pmohub.emulators.jira.api_search as api_search
import pmohub.emulators.jira.api_worklogs as api_worklogs
import pmohub.emulators.jira.jql as jqlmod
import pmohub.emulators.jira.quirks as quirks
from pmohub.emulators.handler import KeepAliveHandler, LoopbackServed, QuietServer
from pmohub.emulators.jira.faults import Faults
from pmohub.emulators.jira.mutations import IssueMutations
from pmohub.emulators.jira.paging import HttpError, sort_key, split_id_bound
from pmohub.emulators.jira.payloads import STATUS_BY_NAME, Ctx
from pmohub.emulators.jira.site import JiraSite

DEFAULT_EMAIL = "pmo-bot@example.cn"
DEFAULT_TOKEN = "jira-emulator-token"
DEFAULT_USERNAME = "pmo-bot"
EMAIL_ENV = "JIRA_EMULATOR_EMAIL"
TOKEN_ENV = "JIRA_EMULATOR_TOKEN"

# Registration order is dispatch order. The families' path patterns do not overlap, so
# concatenating their tables answers exactly like one table in this order.
ROUTES = [
    *api_platform.ROUTES.routes,
    *api_search.ROUTES.routes,
    *api_changelog.ROUTES.routes,
    *api_worklogs.ROUTES.routes,
    *api_agile.ROUTES.routes,
]


class JiraEmulator(IssueMutations, LoopbackServed):
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
        return type("Handler", (JiraHandler,), {"emu": self})

    # -- clock and query caches (mutations: see IssueMutations) ---------------------
    def now_ms(self) -> int:
        """Wall clock, but never behind the newest generated timestamp, strictly increasing."""
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return self._last_ms

    def _touched(self) -> None:
        self.site.version_no += 1
        self._query_cache.clear()
        self._base_cache.clear()

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


class JiraHandler(KeepAliveHandler):
    """One request against ``emu``, in Jira's order: injected faults, permission faults,
    authentication, the JSON body, then the first matching route.
    :meth:`JiraEmulator.handler_class` subclasses it with ``emu`` set."""

    server_version = "JiraEmulator/1.0"
    emu: JiraEmulator
    routes = ROUTES

    def handle_method(self, method: str) -> None:
        emu = self.emu
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        with emu.lock:
            emu.requests.append((method, path, query))
        for hook in emu.faults.hooks_for(path):
            hook(method, path, query)
        fault = emu.faults.take(path)
        if fault is not None and self._answer_fault(fault):
            return
        forbidden = emu.faults.forbidden_for(path)
        if forbidden is not None:
            self.send_json(403, {"errorMessages": [forbidden], "errors": {}})
            return
        if not self.authorised():
            self._refuse_unauthenticated()
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
        self._dispatch(method, path, query, body)

    def _answer_fault(self, fault: Any) -> bool:
        """Play an injected fault; True when it answered (or dropped) the request, False
        when the request goes on (a slow answer goes on after the delay)."""
        if fault.kind == "drop":
            self.close_connection = True
            return True
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
            self.send_json(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers)
            return True
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
            return True
        elif fault.kind == "login_page":  # SSO in front of the API answers 200
            self.send_raw(200, quirks.LOGIN_PAGE, "text/html;charset=UTF-8")
            return True
        return False

    def _refuse_unauthenticated(self) -> None:
        """401 as each deployment words it: Cloud in plain text, Data Center in JSON."""
        if self.emu.cloud:
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
                    "WWW-Authenticate": 'OAuth realm="' + self.emu.url + '"',
                    "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                },
            )

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        """The first route whose pattern matches the path answers; 405 when only routes
        for other methods match it, Jira's 404 when none does."""
        matched_path = False
        for methods, pattern, fn in self.routes:
            m = pattern.match(path)
            if m is None:
                continue
            matched_path = True
            if method not in methods.split("|"):
                continue
            try:
                payload = fn(self.emu, m.groupdict(), query, body)
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
                404, {"errorMessages": [f"null for uri: {self.emu.url}{path}"], "errors": {}}
            )

    def authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        emu = self.emu
        auth = emu.auth
        if header.startswith("Basic "):
            try:
                user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            names = {auth.get("email")} if emu.cloud else {auth.get("email"), auth.get("username")}
            return user in names and secret == auth.get("token")
        if header.startswith("Bearer ") and not emu.cloud:
            return header[7:] == auth.get("token")
        return False

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
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
