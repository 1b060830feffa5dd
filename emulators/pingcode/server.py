"""PingCodeEmulator: PingCode's open API v1 as its documentation describes it
(open.pingcode.com, the open API v1 reference); where that is unclear the choice is noted here.

Deliberate behaviour:
- Roots: cloud answers ``/v1/...``; ``deployment="private"`` answers ``/open/v1/...`` only.
- Auth: ``GET /v1/auth/token`` with ``grant_type=client_credentials`` (enterprise token),
  ``authorization_code`` (with a ``code`` from :meth:`issue_code`) or ``refresh_token``.
  Tokens last 30 days; ``expires_in`` is an absolute epoch as in the vendor's example
  (``expires_in_style="seconds"`` sends a lifetime instead). An unknown or expired token
  answers 401 ``{"code":"100002",...}`` (the code is not documented: our choice).
- Paging: ``page_index`` from 0, ``page_size`` default 30, clamped to 100; answers
  ``{page_size, page_index, total, values}``. Listings sort by creation (then id).
- Single-resource GETs answer **201** (as documented), listings 200.
- Rate limit: a token bucket of 200 per token refilled at 200/min; over it, 429 with
  ``x-pc-retry-after: <seconds>`` and ``{"code":"100038","message":"请求频率过高"}``; a
  refused request takes nothing from the bucket, so retrying early fails the same way.
- Filters: at most 20 comma-separated ids per ``*_ids`` (400 ``100010`` beyond);
  ``*_between`` is ``from,to``, ``,to`` or ``from`` in seconds; ``include_deleted``
  keeps tombstones (``is_deleted: 1``).
- Workloads: with ``pilot_id`` the ``start_at``..``end_at`` range is at most 3 calendar
  months (China time), and the two go together.
- ``bad_answer(kind, path_prefix)`` serves one broken answer (HTML, truncated JSON, a
  list without ``values``) on top of the shared faults (429, 503, slow, dropped).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from pmohub.emulators.base import Emulator, HttpError, Reply, Request, route
from pmohub.emulators.pingcode.site import (
    CUSTOM_TYPE,
    PRIORITIES,
    PROJECT_STATES,
    RELATION_TYPES,
    STATES,
    SYSTEM_TYPES,
    PingCodeSite,
)

DEFAULT_CLIENT_ID = "pmohub-emulator-client"
DEFAULT_CLIENT_SECRET = "pc-emulator-secret-0123456789"
CLIENT_ID_ENV = "PINGCODE_CLIENT_ID"
TOKEN_ENV = "PINGCODE_CLIENT_SECRET"
TOKEN_DAYS = 30
RATE_PER_MIN = 200
MAX_IDS = 20
CN = dt.timezone(dt.timedelta(hours=8))
ITEM = r"/v1/project/work_items/(?P<wid>[^/]+)"
PROJECT = r"/v1/project/projects/(?P<pid>[^/]+)"


class TokenBucket:
    """200 requests/min per caller: ``capacity`` tokens refilled continuously."""

    def __init__(self, rate_per_min: float, clock: Callable[[], float]) -> None:
        self.capacity = rate_per_min
        self.rate = rate_per_min / 60.0
        self.clock = clock
        self.level: dict[str, float] = {}
        self.stamp: dict[str, float] = {}
        self.lock = threading.Lock()

    def take(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds until one token is there."""
        with self.lock:
            now = self.clock()
            level = self.level.get(caller, self.capacity)
            level = min(self.capacity, level + (now - self.stamp.get(caller, now)) * self.rate)
            self.stamp[caller] = now
            if level >= 1.0:
                self.level[caller] = level - 1.0
                return 0.0
            self.level[caller] = level
            return (1.0 - level) / self.rate


class PingCodeEmulator(Emulator):
    server_name = "nginx"

    def __init__(
        self,
        site: PingCodeSite,
        *,
        port: int = 0,
        deployment: str = "cloud",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        rate_per_min: float = RATE_PER_MIN,
        clock: Callable[[], float] = time.time,
        expires_in_style: str = "epoch",
    ) -> None:
        super().__init__(port)
        self.site = site
        self.deployment = deployment
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.bucket = TokenBucket(rate_per_min, clock)
        self.expires_in_style = expires_in_style
        self.token_lifetime_s = TOKEN_DAYS * 86_400
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)
        self.refresh_tokens: dict[str, float] = {}
        self.codes: set[str] = set()
        self.refused: list[tuple[str, str]] = []  # (token, path) of every 429 answered
        self.answers: list[tuple[str, int]] = []  # (path?query, status) of every request
        self.token_owner: dict[str, str] = {}  # access token -> client_id
        self.issued: list[str] = []
        self._bad: list[tuple[str, str]] = []

    # -- roots, auth, limits ------------------------------------------------------------
    @property
    def root(self) -> str:
        """The ``rest_api_root`` a client is configured with."""
        return self.url + ("/open" if self.deployment == "private" else "")

    def dispatch(self, req: Request) -> Reply:
        reply = self._dispatch(req)
        key = req.path + "?" + "&".join(f"{k}={v[-1]}" for k, v in sorted(req.query.items()))
        with self.lock:
            self.answers.append((key, reply.status))
        return reply

    def _dispatch(self, req: Request) -> Reply:
        if self.deployment == "private":
            if not req.path.startswith("/open/"):
                return Reply(self.error_body(404, "Not Found"), 404)
            req.path = req.path[len("/open") :]
        elif req.path.startswith("/open/"):
            return Reply(self.error_body(404, "Not Found"), 404)
        if req.path != "/v1/auth/token" and self.authorised(req):
            token = self._bearer(req)
            # the limit is per caller identity: the app, however many tokens it holds
            wait = self.bucket.take(self.token_owner.get(token, token))
            if wait > 0:
                with self.lock:
                    self.refused.append((token, req.path))
                return self.rate_limited(str(math.ceil(wait)))
            bad = self._take_bad(req.path)
            if bad == "html":
                return Reply(b"<html><body>502 Bad Gateway</body></html>", 200)
            if bad == "truncated":
                return Reply(b'{"page_index":0,"values":[{"id":', 200)
            if bad == "shape":
                return Reply({"page_index": 0, "page_size": 30, "total": 1, "items": []}, 200)
        return super().dispatch(req)

    def _bearer(self, req: Request) -> str:
        value = str(req.headers.get("authorization") or "")
        return value[7:] if value.lower().startswith("bearer ") else ""

    def authorised(self, req: Request) -> bool:
        if req.path == "/v1/auth/token":
            return True
        token = self._bearer(req)
        expiry = self.tokens.get(token)
        return expiry is not None and expiry > self.clock()

    def unauthorised(self, req: Request) -> Reply:
        return Reply({"code": "100002", "message": "无效的访问令牌"}, 401)

    def error_body(self, status: int, message: str) -> Any:
        code = {400: "100010", 401: "100002", 404: "100004", 429: "100038"}.get(status, "100000")
        return {"code": code, "message": message}

    def rate_limited(self, retry_after: str | None) -> Reply:
        return Reply(
            {"code": "100038", "message": "请求频率过高"},
            429,
            {"x-pc-retry-after": retry_after or "1"},
        )

    def unavailable(self, retry_after: str | None) -> Reply:
        return Reply({"code": "100000", "message": "Internal Server Error"}, 503)

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (as 30 days passing would)."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = self.clock() - 1

    def issue_code(self) -> str:
        """An authorisation code, as ``/oauth2/authorize`` would redirect with."""
        code = secrets.token_hex(8)
        self.codes.add(code)
        return code

    def bad_answer(self, kind: str, path_prefix: str = "/v1/project/work_items") -> None:
        """The next request under ``path_prefix`` gets a broken answer: ``html`` (a proxy
        page with 200), ``truncated`` (JSON cut short) or ``shape`` (a list without
        ``values``)."""
        with self.lock:
            self._bad.append((kind, path_prefix))

    def _take_bad(self, path: str) -> str | None:
        with self.lock:
            for n, (kind, prefix) in enumerate(self._bad):
                if path.startswith(prefix):
                    del self._bad[n]
                    return kind
        return None

    # -- helpers -------------------------------------------------------------------------
    def _ids(self, req: Request, name: str) -> set[str] | None:
        raw = req.arg(name)
        if raw in (None, ""):
            return None
        ids = [x for x in str(raw).split(",") if x]
        if len(ids) > MAX_IDS:
            raise HttpError(400, f"{name} 最多支持 {MAX_IDS} 个")
        return set(ids)

    @staticmethod
    def _between(req: Request, name: str) -> tuple[int | None, int | None]:
        raw = req.arg(name)
        if raw in (None, ""):
            return None, None
        lo, _, hi = str(raw).partition(",")
        try:
            return (int(lo) if lo else None), (int(hi) if hi else None)
        except ValueError as exc:
            raise HttpError(400, f"{name} 格式错误") from exc

    @staticmethod
    def _flag(req: Request, name: str) -> bool:
        return str(req.arg(name, "false")).lower() in ("true", "1")

    def _page(self, req: Request, rows: list[Any]) -> dict[str, Any]:
        size = max(1, min(100, req.int_arg("page_size", 30)))
        index = max(0, req.int_arg("page_index", 0))
        return {
            "page_size": size,
            "page_index": index,
            "total": len(rows),
            "values": rows[index * size : (index + 1) * size],
        }

    def _one(self, payload: Any) -> Reply:
        return Reply(payload, 201)

    def _user_ref(self, uid: str | None) -> dict[str, Any] | None:
        u = self.site.user(uid)
        if u is None:
            return None
        return {
            "id": u["id"],
            "url": f"{self.root}/v1/directory/users/{u['id']}",
            "name": u["name"],
            "display_name": u["display_name"],
            "avatar": None,
        }

    def _user(self, u: dict[str, Any]) -> dict[str, Any]:
        return {**self._user_ref(u["id"]), **{k: u[k] for k in (  # type: ignore[dict-item]
            "email", "mobile", "department", "job", "status", "employee_number")}}  # fmt: skip

    def _project_ref(self, pid: str) -> dict[str, Any]:
        p = self.site.project(pid)
        assert p is not None
        return {
            "id": p["id"],
            "url": f"{self.root}/v1/project/projects/{p['id']}",
            "identifier": p["identifier"],
            "name": p["name"],
            "type": p["type"],
            "is_archived": p["is_archived"],
            "is_deleted": p["is_deleted"],
        }

    @staticmethod
    def _state_ref(sid: str) -> dict[str, Any]:
        s = next(x for x in STATES if x[0] == sid)
        return {"id": s[0], "name": s[1], "type": s[2]}

    def _project(self, p: dict[str, Any]) -> dict[str, Any]:
        state = next(s for s in PROJECT_STATES if s[0] == p["state"])
        return {
            **self._project_ref(p["id"]),
            "description": f"{p['name']}（模拟）",
            "assignee": self._user_ref(p["assignee"]),
            "state": {"id": state[0], "name": state[1], "type": state[2]},
            "start_at": p["start_at"],
            "end_at": p["end_at"],
            "properties": {},
            "members": [{"id": m, "type": "user", "user": self._user_ref(m)} for m in p["members"]],
            "created_at": p["created_at"],
            "created_by": self._user_ref(p["created_by"]),
            "updated_at": p["updated_at"],
            "updated_by": self._user_ref(p["created_by"]),
        }

    def _sprint_ref(self, sid: str | None) -> dict[str, Any] | None:
        s = next((x for x in self.site.sprints if x["id"] == sid), None)
        return {"id": s["id"], "name": s["name"], "url": None} if s else None

    def _version_ref(self, vid: str | None) -> dict[str, Any] | None:
        v = next((x for x in self.site.versions if x["id"] == vid), None)
        return {"id": v["id"], "name": v["name"], "url": None} if v else None

    def _item(self, i: dict[str, Any]) -> dict[str, Any]:
        prio = next((p for p in PRIORITIES if p[0] == i["priority"]), None)
        parent = self.site.item(i["parent_id"]) if i["parent_id"] else None
        return {
            "id": i["id"],
            "url": f"{self.root}/v1/project/work_items/{i['id']}",
            "project": self._project_ref(i["project_id"]),
            "identifier": i["identifier"],
            "short_id": i["short_id"],
            "html_url": f"{self.url}/pjm/workitems/{i['short_id']}",
            "title": i["title"],
            "type": i["type"],
            "start_at": i["start_at"],
            "end_at": i["end_at"],
            "parent_id": i["parent_id"],
            "parent": {
                "id": parent["id"],
                "identifier": parent["identifier"],
                "title": parent["title"],
            }
            if parent
            else None,  # fmt: skip
            "assignee": self._user_ref(i["assignee"]),
            "state": self._state_ref(i["state"]),
            "priority": {"id": prio[0], "name": prio[1]} if prio else None,
            "sprint": self._sprint_ref(i["sprint_id"]),
            "version": self._version_ref(i["version_id"]),
            "phase": {"id": f"ph-{i['phase']}", "name": i["phase"]} if i["phase"] else None,
            "board": None,
            "entry": None,
            "swimlane": None,
            "completed_at": i["completed_at"],
            "story_points": i["story_points"],
            "estimated_workload": i["estimated_workload"],
            "remaining_workload": i["remaining_workload"],
            "properties": dict(i["properties"]),
            "tags": [{"id": f"tag-{t}", "name": t} for t in i["tags"]],
            "participants": [
                {"id": u, "type": "user", "user": self._user_ref(u)} for u in i["participants"]
            ],
            "created_at": i["created_at"],
            "created_by": self._user_ref(i["created_by"]),
            "updated_at": i["updated_at"],
            "updated_by": self._user_ref(i["updated_by"]),
            "is_archived": i["is_archived"],
            "is_deleted": i["is_deleted"],
        }

    def _the_project(self, pid: str) -> dict[str, Any]:
        p = self.site.project(pid)
        if p is None or p["is_deleted"]:
            raise HttpError(404, "项目不存在")
        return p

    def _the_item(self, wid: str) -> dict[str, Any]:
        i = self.site.item(wid)
        if i is None:
            raise HttpError(404, "工作项不存在")
        return i

    # -- auth ----------------------------------------------------------------------------
    @route("GET", r"/v1/auth/token")
    def token(self, req: Request) -> Any:
        grant = req.arg("grant_type")
        now = self.clock()
        refresh = None
        if grant == "client_credentials":
            if (req.arg("client_id"), req.arg("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                raise HttpError(401, "client_id 或 client_secret 错误")
        elif grant == "authorization_code":
            if req.arg("client_id") != self.client_id or req.arg("code") not in self.codes:
                raise HttpError(401, "code 无效")
            self.codes.discard(str(req.arg("code")))
            refresh = secrets.token_hex(16)
        elif grant == "refresh_token":
            expiry = self.refresh_tokens.pop(str(req.arg("refresh_token")), 0)
            if expiry <= now:
                raise HttpError(401, "refresh_token 无效或已过期")
            refresh = secrets.token_hex(16)
        else:
            raise HttpError(400, "grant_type 无效")
        token = secrets.token_hex(16)
        expires_at = now + self.token_lifetime_s
        with self.lock:
            self.tokens[token] = expires_at
            self.token_owner[token] = str(req.arg("client_id") or self.client_id)
            self.issued.append(token)
            if refresh:
                self.refresh_tokens[refresh] = now + 90 * 86_400
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(expires_at)
            if self.expires_in_style == "epoch"
            else int(self.token_lifetime_s),
        }
        if refresh:
            body["refresh_token"] = refresh
        return self._one(body)

    # -- projects, people ---------------------------------------------------------------
    @route("GET", r"/v1/project/projects")
    def projects(self, req: Request) -> Any:
        rows = [
            p
            for p in self.site.projects
            if (self._flag(req, "include_deleted") or not p["is_deleted"])
            and (self._flag(req, "include_archived") or not p["is_archived"])
            and req.arg("identifier") in (None, "", p["identifier"])
            and req.arg("type") in (None, "", p["type"])
        ]
        return self._page(req, [self._project(p) for p in rows])

    @route("GET", PROJECT)
    def project(self, req: Request, pid: str) -> Any:
        return self._one(self._project(self._the_project(pid)))

    @route("GET", PROJECT + r"/progress")
    def progress(self, req: Request, pid: str) -> Any:
        p = self._the_project(pid)
        mine = [i for i in self.site.items if i["project_id"] == p["id"] and not i["is_deleted"]]
        kinds = [self._state_ref(i["state"])["type"] for i in mine]
        return self._one(
            {"work_item": {"total": len(mine), "pending_count": kinds.count("pending"),
                           "in_progress_count": kinds.count("in_progress"),
                           "completed_count": kinds.count("completed")}}
        )  # fmt: skip

    @route("GET", r"/v1/project/project/states")
    def project_states(self, req: Request) -> Any:
        self._the_project(str(req.arg("project_id") or ""))
        return self._page(req, [{"id": s[0], "name": s[1], "type": s[2]} for s in PROJECT_STATES])

    @route("GET", PROJECT + r"/members")
    def members(self, req: Request, pid: str) -> Any:
        p = self._the_project(pid)
        rows = [
            {"id": m, "type": "user", "user": self._user_ref(m),
             "role": {"id": "role-member", "name": "成员"}}
            for m in p["members"]
        ]  # fmt: skip
        return self._page(req, rows)

    @route("GET", r"/v1/directory/users")
    def users(self, req: Request) -> Any:
        rows = [
            self._user(u)
            for u in self.site.users
            if req.arg("name") in (None, "", u["name"])
            and str(req.arg("keywords") or "") in u["name"] + u["display_name"]
        ]
        return self._page(req, rows)

    @route("GET", r"/v1/directory/users/(?P<uid>[^/]+)")
    def user(self, req: Request, uid: str) -> Any:
        u = self.site.user(uid)
        if u is None:
            raise HttpError(404, "用户不存在")
        return self._one(self._user(u))

    # -- work item configuration ---------------------------------------------------------
    @route("GET", r"/v1/project/work_item/types")
    def types(self, req: Request) -> Any:
        rows = [
            {"id": t, "name": n, "group": "requirement", "is_system": 1} for t, n in SYSTEM_TYPES
        ]
        rows.append(
            {"id": CUSTOM_TYPE[0], "name": CUSTOM_TYPE[1], "group": "custom", "is_system": 0}
        )
        return self._page(req, rows)

    @route("GET", r"/v1/project/work_item/states")
    def states(self, req: Request) -> Any:
        return self._page(req, [self._state_ref(s[0]) for s in STATES])

    @route("GET", r"/v1/project/work_item/priorities")
    def priorities(self, req: Request) -> Any:
        return self._page(req, [{"id": p, "name": n} for p, n in PRIORITIES])

    @route("GET", r"/v1/project/work_item/relation_types")
    def relation_types(self, req: Request) -> Any:
        return self._page(req, [{"id": r, "name": n} for r, n in RELATION_TYPES])

    # -- work items ----------------------------------------------------------------------
    @route("GET", r"/v1/project/work_items")
    def work_items(self, req: Request) -> Any:
        filters = {
            "project_ids": "project_id", "type_ids": "type", "state_ids": "state",
            "sprint_ids": "sprint_id", "version_ids": "version_id",
            "parent_ids": "parent_id", "assignee_ids": "assignee",
        }  # fmt: skip
        wanted = {key: self._ids(req, name) for name, key in filters.items()}
        c_lo, c_hi = self._between(req, "created_between")
        u_lo, u_hi = self._between(req, "updated_between")
        deleted = self._flag(req, "include_deleted")
        archived = self._flag(req, "include_archived")
        words = str(req.arg("keywords") or "")
        with self.lock:
            rows = []
            for i in self.site.items:
                if any(ids is not None and i[key] not in ids for key, ids in wanted.items()):
                    continue
                if (i["is_deleted"] and not deleted) or (i["is_archived"] and not archived):
                    continue
                if not _within(i["created_at"], c_lo, c_hi):
                    continue
                if not _within(i["updated_at"], u_lo, u_hi):
                    continue
                if words and words not in i["title"] and words != i["identifier"]:
                    continue
                rows.append(i)
            rows.sort(key=lambda i: (i["created_at"], i["id"]))
            page = self._page(req, rows)
            page["values"] = [self._item(i) for i in page["values"]]
        return page

    @route("GET", ITEM)
    def work_item(self, req: Request, wid: str) -> Any:
        return self._one(self._item(self._the_item(wid)))

    @route("GET", ITEM + r"/transition_histories")
    def transitions(self, req: Request, wid: str) -> Any:
        i = self._the_item(wid)
        ref = {"id": i["id"], "identifier": i["identifier"], "title": i["title"]}
        rows = [
            {
                "id": t["id"],
                "work_item": ref,
                "from_state": self._state_ref(t["from"]) if t["from"] else None,
                "to_state": self._state_ref(t["to"]),
                "created_at": t["at"],
                "created_by": self._user_ref(t["by"]),
            }
            for t in i["transitions"]
        ]
        return self._page(req, rows)

    @route("GET", ITEM + r"/relations")
    def relations(self, req: Request, wid: str) -> Any:
        i = self._the_item(wid)
        rows = []
        for r in i["relations"]:
            target = self.site.item(r["target"])
            rtype = next(x for x in RELATION_TYPES if x[0] == r["type"])
            rows.append(
                {
                    "id": r["id"],
                    "relation_type": {"id": rtype[0], "name": rtype[1]},
                    "work_item": {"id": i["id"], "identifier": i["identifier"]},
                    "target": {"id": target["id"], "identifier": target["identifier"]}
                    if target
                    else {"id": r["target"]},
                }
            )
        return self._page(req, rows)

    # -- sprints, versions, workloads ----------------------------------------------------
    @route("GET", PROJECT + r"/sprints")
    def sprints(self, req: Request, pid: str) -> Any:
        p = self._the_project(pid)
        lo, hi = self._between(req, "updated_between")
        rows = [
            s
            for s in self.site.sprints
            if s["project_id"] == p["id"]
            and req.arg("status") in (None, "", s["status"])
            and _within(s["updated_at"], lo, hi)
        ]
        return self._page(req, [self._sprint(s) for s in rows])

    def _sprint(self, s: dict[str, Any]) -> dict[str, Any]:
        mine = [i for i in self.site.items if i["sprint_id"] == s["id"] and not i["is_deleted"]]
        points = [
            (i["story_points"] if isinstance(i["story_points"], int | float) else 0,
             self._state_ref(i["state"])["type"])
            for i in mine
        ]  # fmt: skip
        return {
            "id": s["id"],
            "url": None,
            "project": self._project_ref(s["project_id"]),
            "name": s["name"],
            "status": s["status"],
            "start_at": s["start_at"],
            "end_at": s["end_at"],
            "started_at": s["started_at"],
            "completed_at": s["completed_at"],
            "assignee": self._user_ref(s["assignee"]),
            "description": s["description"],
            "categories": [],
            "total_story_points": sum(p for p, _ in points),
            "started_story_points": sum(p for p, t in points if t == "in_progress"),
            "completed_story_points": sum(p for p, t in points if t == "completed"),
            "updated_at": s["updated_at"],
        }

    @route("GET", PROJECT + r"/versions")
    def versions(self, req: Request, pid: str) -> Any:
        p = self._the_project(pid)
        rows = []
        for v in self.site.versions:
            if v["project_id"] != p["id"]:
                continue
            rows.append(
                {
                    "id": v["id"],
                    "url": None,
                    "project": self._project_ref(v["project_id"]),
                    "name": v["name"],
                    "start_at": v["start_at"],
                    "end_at": v["end_at"],
                    "stage": {"id": v["stage"][0], "name": v["stage"][1], "type": v["stage"][2]},
                    "released_at": v["released_at"],
                    "description": v["description"],
                }
            )
        return self._page(req, rows)

    @route("GET", r"/v1/workloads")
    def workloads(self, req: Request) -> Any:
        kind = req.arg("principal_type")
        if kind not in ("work_item", "idea", "test_case"):
            raise HttpError(400, "principal_type 无效")
        lo, hi = req.arg("start_at"), req.arg("end_at")
        if (lo in (None, "")) != (hi in (None, "")):
            raise HttpError(400, "start_at 和 end_at 必须同时传入")
        try:
            start, end = (int(lo), int(hi)) if lo and hi else (None, None)
        except ValueError as exc:
            raise HttpError(400, "start_at/end_at 格式错误") from exc
        pilot = req.arg("pilot_id")
        if pilot and start is not None and end is not None and end > _plus_3_months(start):
            raise HttpError(400, "时间范围不能超过3个月")
        rows = []
        with self.lock:
            for i in self.site.items:
                if kind != "work_item" or (pilot and i["project_id"] != pilot):
                    continue
                if req.arg("principal_id") not in (None, "", i["id"]):
                    continue
                for w in i["workloads"]:
                    if start is not None and not start <= w["report_at"] <= (end or 0):
                        continue
                    if req.arg("report_by_id") not in (None, "", w["report_by"]):
                        continue
                    rows.append((w, i))
        rows.sort(key=lambda x: (x[0]["report_at"], x[0]["id"]))
        page = self._page(req, rows)
        page["values"] = [
            {
                "id": w["id"],
                "url": None,
                "principal_type": "work_item",
                "principal": {"id": i["id"], "identifier": i["identifier"], "title": i["title"]},
                "type": {"id": w["type"], "name": w["type"]},
                "duration": w["duration"],
                "description": w["description"],
                "report_at": w["report_at"],
                "report_by": self._user_ref(w["report_by"]),
                "review_state": w["review_state"],
                "created_at": w["created_at"],
                "created_by": self._user_ref(w["report_by"]),
            }
            for w, i in page["values"]
        ]
        return page

    # -- mutations (tests) --------------------------------------------------------------
    def touch(self, item: dict[str, Any]) -> int:
        latest = max(i["updated_at"] for i in self.site.items)
        floor = dt.datetime.fromtimestamp(max(latest, self.clock()), dt.UTC)
        at = int(self.now(floor).timestamp())
        item["updated_at"] = at
        return at

    def transition(self, wid: str, state_id: str) -> dict[str, Any]:
        with self.lock:
            i = self._the_item(wid)
            at = self.touch(i)
            i["transitions"].append(
                {"id": f"tr{len(i['transitions'])}-{i['id'][-8:]}", "from": i["state"],
                 "to": state_id, "at": at, "by": i["created_by"]}
            )  # fmt: skip
            i["state"] = state_id
            i["completed_at"] = at if self._state_ref(state_id)["type"] == "completed" else None
            return i

    def edit(self, wid: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            i = self._the_item(wid)
            i.update(fields)
            self.touch(i)
            return i

    def move(self, wid: str, project_ref: str) -> dict[str, Any]:
        """Move an item to another project: same id, new identifier (PingCode renumbers)."""
        with self.lock:
            i = self._the_item(wid)
            p = self.site.project(project_ref)
            assert p is not None
            n = 1 + sum(1 for x in self.site.items if x["project_id"] == p["id"])
            i.update(project_id=p["id"], identifier=f"{p['identifier']}-{n}", sprint_id=None)
            self.touch(i)
            return i

    def delete(self, wid: str) -> dict[str, Any]:
        with self.lock:
            i = self._the_item(wid)
            i["is_deleted"] = 1
            self.touch(i)
            return i

    def log_work(
        self, wid: str, hours: float, day: dt.date, review_state: str = "no_review"
    ) -> dict[str, Any]:
        with self.lock:
            i = self._the_item(wid)
            midnight = int(dt.datetime.combine(day, dt.time(), tzinfo=CN).timestamp())
            w = {"id": self.site.new_id("workload"), "duration": hours, "report_at": midnight,
                 "report_by": i["assignee"] or i["created_by"], "type": "wt-dev",
                 "review_state": review_state, "description": "补登", "created_at": int(self.clock())}  # fmt: skip
            i["workloads"].append(w)
            self.touch(i)
            return w


def _within(value: int, lo: int | None, hi: int | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _plus_3_months(start: int) -> int:
    day = dt.datetime.fromtimestamp(start, CN)
    month = day.month + 3
    year, month = day.year + (month - 1) // 12, (month - 1) % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return int(day.replace(year=year, month=month, day=d).timestamp())
        except ValueError:
            continue
    raise AssertionError("unreachable")
