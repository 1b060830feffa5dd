"""GitLabEmulator: the REST v4 endpoints pmohub reads, shaped per GitLab's API docs (there
is no vendor OpenAPI description for these endpoints here; see SOURCES.md).

Deliberate behaviour:
- Auth: ``PRIVATE-TOKEN`` header (or ``Authorization: Bearer``); else 401
  ``{"message": "401 Unauthorized"}``.
- Offset pagination: ``page``/``per_page`` (max 100), ``X-Page``, ``X-Per-Page``,
  ``X-Next-Page`` (empty on the last page), ``X-Total``, ``X-Total-Pages`` and ``Link``.
- Issues: ``updated_after`` keeps items updated at or after it; ``order_by=updated_at``
  or ``created_at`` (default), ``sort=asc|desc`` (default desc); millisecond timestamps.
- ``licensed=False`` is GitLab Free: group epics answer 403, iterations 404, and issues
  carry no ``weight``/``epic``/``iteration``.
- ``POST /api/graphql`` answers only the per-issue ``timelogs`` query (REST has no
  timelog listing; GitLab's own UI reads them over GraphQL too).
- Rate limit fault: ``rate_limit_status`` (429, or 403 as some GitLab versions answer) with
  GitLab's ``RateLimit-*`` headers, ``RateLimit-Reset`` ``rate_limit_reset_in`` seconds
  ahead (epoch seconds), and ``Retry-After`` only while ``rate_limit_retry_after``.
- ``label_renames``: labels served under other names, e.g. ``NUMBERED_WORKFLOW`` (GitLab's
  own ``workflow::1 - triage`` ... ``workflow::X - blocked`` scoped labels).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import unquote

from pmohub.emulators.base import (
    Emulator,
    HttpError,
    Reply,
    Request,
    iso,
    link_header,
    offset_page,
    route,
)
from pmohub.emulators.gitlab.site import GitLabSite

DEFAULT_TOKEN = "glpat-emulator-token"
TOKEN_ENV = "GITLAB_EMULATOR_TOKEN"
API = "/api/v4"
PROJECT = API + r"/projects/(?P<ref>[^/]+)"
GROUP = API + r"/groups/(?P<gref>[^/]+)"


def _parse_at(value: str, name: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HttpError(400, f"{name} is invalid") from exc
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


#: The emulator's three workflow labels as GitLab's own numbered scoped labels.
NUMBERED_WORKFLOW = {
    "workflow::todo": "workflow::4 - scheduled",
    "workflow::doing": "workflow::X - blocked",
    "workflow::review": "workflow::6 - in review",
}


class GitLabEmulator(Emulator):
    server_name = "nginx"
    prefix = ""

    def __init__(
        self, site: GitLabSite, *, port: int = 0, token: str = DEFAULT_TOKEN, licensed: bool = True
    ) -> None:
        super().__init__(port)
        self.site = site
        self.token = token
        self.licensed = licensed
        self.rate_limit_status = 429
        self.rate_limit_reset_in = 1.0
        self.rate_limit_retry_after = True
        self.label_renames: dict[str, str] = {}

    # -- vendor behaviour ----------------------------------------------------------------
    def authorised(self, req: Request) -> bool:
        if req.headers.get("PRIVATE-TOKEN") == self.token:
            return True
        return req.headers.get("Authorization", "") == f"Bearer {self.token}"

    def unauthorised(self, req: Request) -> Reply:
        return Reply({"message": "401 Unauthorized"}, 401)

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message} if status != 404 else {"message": "404 Not Found"}

    def rate_limited(self, retry_after: str | None) -> Reply:
        headers = {
            "RateLimit-Limit": "2000",
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(int(time.time() + self.rate_limit_reset_in)),
        }
        if self.rate_limit_retry_after:
            headers["Retry-After"] = retry_after or "1"
        return Reply(b"Retry later\n", self.rate_limit_status, headers)

    def _labels(self, labels: list[str]) -> list[str]:
        return [self.label_renames.get(x, x) for x in labels]

    # -- payloads ----------------------------------------------------------------------
    def _user(self, uid: int) -> dict[str, Any]:
        u = next((x for x in self.site.users if x["id"] == uid), None) or {
            "id": uid,
            "username": f"user{uid}",
            "name": f"User {uid}",
            "public_email": "",
        }
        return {
            "id": u["id"],
            "username": u["username"],
            "name": u["name"],
            "state": "active",
            "locked": False,
            "avatar_url": f"https://secure.gravatar.com/avatar/{u['id']}?s=80&d=identicon",
            "web_url": f"{self.url}/{u['username']}",
        }

    def _gl_project(self, p: dict[str, Any]) -> dict[str, Any]:
        g = self.site.group
        full = f"{g['full_path']}/{p['path']}"
        return {
            "id": p["id"],
            "description": f"{p['name']} service",
            "name": p["name"],
            "name_with_namespace": f"{g['name']} / {p['name']}",
            "path": p["path"],
            "path_with_namespace": full,
            "created_at": iso(p["created_at"], millis=True),
            "default_branch": "main",
            "web_url": f"{self.url}/{full}",
            "namespace": {
                "id": g["id"],
                "name": g["name"],
                "path": g["path"],
                "kind": "group",
                "full_path": g["full_path"],
                "parent_id": None,
                "web_url": f"{self.url}/groups/{g['full_path']}",
            },
            "issues_enabled": True,
            "open_issues_count": sum(
                1 for i in self.site.issues if i["project_id"] == p["id"] and i["state"] == "opened"
            ),
            "archived": False,
            "visibility": "private",
        }

    def _milestone(self, m: dict[str, Any]) -> dict[str, Any]:
        out = {
            "id": m["id"],
            "iid": m["iid"],
            "title": m["title"],
            "description": "",
            "state": m["state"],
            "created_at": "2025-10-01T08:00:00.000Z",
            "updated_at": "2025-10-01T08:00:00.000Z",
            "start_date": _day(m["start_date"]),
            "due_date": _day(m["due_date"]),
            "expired": bool(m["due_date"] and m["due_date"] < dt.date.today()),
            "web_url": f"{self.url}/milestones/{m['id']}",
        }
        if m["project_id"] is not None:
            out["project_id"] = m["project_id"]
        else:
            out["group_id"] = m["group_id"]
        return out

    def _iteration(self, it: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": it["id"],
            "iid": it["iid"],
            "sequence": it["sequence"],
            "group_id": self.site.group["id"],
            "title": it["title"],
            "description": None,
            "state": it["state"],
            "created_at": "2025-10-01T08:00:00.000Z",
            "updated_at": "2025-10-01T08:00:00.000Z",
            "start_date": _day(it["start_date"]),
            "due_date": _day(it["due_date"]),
            "web_url": f"{self.url}/groups/{self.site.group['full_path']}/-/iterations/{it['id']}",
        }

    def _epic(self, e: dict[str, Any]) -> dict[str, Any]:
        g = self.site.group
        return {
            "id": e["id"],
            "iid": e["iid"],
            "group_id": g["id"],
            "parent_id": None,
            "title": e["title"],
            "description": "",
            "state": e["state"],
            "confidential": False,
            "web_url": f"{self.url}/groups/{g['full_path']}/-/epics/{e['iid']}",
            "author": self._user(e["author"]),
            "start_date": None,
            "end_date": None,
            "due_date": None,
            "created_at": iso(e["created_at"], millis=True),
            "updated_at": iso(e["updated_at"], millis=True),
            "closed_at": iso(e["closed_at"], millis=True) if e["closed_at"] else None,
            "labels": self._labels(e["labels"]),
            "upvotes": 0,
            "downvotes": 0,
        }

    def _issue(self, i: dict[str, Any]) -> dict[str, Any]:
        p = next(x for x in self.site.projects if x["id"] == i["project_id"])
        full = f"{self.site.group['full_path']}/{p['path']}"
        ms = next((m for m in self.site.milestones if m["id"] == i["milestone_id"]), None)
        spent = sum(t["seconds"] for t in i["timelogs"])
        assignees = [self._user(a) for a in i["assignees"]]
        out: dict[str, Any] = {
            "id": i["id"],
            "iid": i["iid"],
            "project_id": i["project_id"],
            "title": i["title"],
            "description": "Generated.",
            "state": i["state"],
            "created_at": iso(i["created_at"], millis=True),
            "updated_at": iso(i["updated_at"], millis=True),
            "closed_at": iso(i["closed_at"], millis=True) if i["closed_at"] else None,
            "closed_by": None,
            "labels": self._labels(i["labels"]),
            "milestone": self._milestone(ms) if ms else None,
            "assignees": assignees,
            "assignee": assignees[0] if assignees else None,
            "author": self._user(i["author"]),
            "type": i["issue_type"].upper(),
            "issue_type": i["issue_type"],
            "user_notes_count": 0,
            "merge_requests_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "due_date": _day(i["due_date"]),
            "confidential": False,
            "discussion_locked": None,
            "web_url": f"{self.url}/{full}/-/issues/{i['iid']}",
            "time_stats": {
                "time_estimate": i["time_estimate"],
                "total_time_spent": spent,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": 0, "completed_count": 0},
            "references": {
                "short": f"#{i['iid']}",
                "relative": f"#{i['iid']}",
                "full": f"{full}#{i['iid']}",
            },
            "severity": "UNKNOWN",
        }
        if self.licensed:
            out["weight"] = i["weight"]
            it = next((x for x in self.site.iterations if x["id"] == i["iteration_id"]), None)
            out["iteration"] = self._iteration(it) if it else None
            ep = next((x for x in self.site.epics if x["id"] == i["epic_id"]), None)
            out["epic_iid"] = ep["iid"] if ep else None
            out["epic"] = (
                {
                    "id": ep["id"],
                    "iid": ep["iid"],
                    "title": ep["title"],
                    "group_id": self.site.group["id"],
                    "url": f"/groups/{self.site.group['full_path']}/-/epics/{ep['iid']}",
                }
                if ep
                else None
            )
        return out

    # -- helpers -----------------------------------------------------------------------
    def _project(self, ref: str) -> dict[str, Any]:
        p = self.site.project(unquote(ref))
        if p is None:
            raise HttpError(404, "404 Project Not Found")
        return p

    def _group(self, gref: str) -> dict[str, Any]:
        g = self.site.group
        if unquote(gref) not in (str(g["id"]), g["full_path"]):
            raise HttpError(404, "404 Group Not Found")
        return g

    def _page(self, req: Request, rows: list[Any]) -> Reply:
        page = offset_page(req, rows, default_size=20)
        n, pages = page.number, page.last
        headers = {
            "X-Page": str(n),
            "X-Per-Page": str(page.size),
            "X-Next-Page": str(n + 1) if n < pages else "",
            "X-Prev-Page": str(n - 1) if n > 1 else "",
            "X-Total": str(len(rows)),
            "X-Total-Pages": str(pages),
        }
        link = link_header(f"{self.url}{req.path}", req.query, n, pages)
        if link:
            headers["Link"] = link
        return Reply(page.rows, 200, headers)

    def _order(self, req: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        order_by = req.arg("order_by", "created_at")
        if order_by not in ("created_at", "updated_at"):
            raise HttpError(400, "order_by does not have a valid value")
        return sorted(
            rows, key=lambda r: (r[order_by], r["id"]), reverse=req.arg("sort", "desc") != "asc"
        )

    # -- routes ------------------------------------------------------------------------
    @route("GET", API + r"/user")
    def get_user(self, req: Request) -> Any:
        return {
            **self._user(1),
            "username": "pmo-bot",
            "name": "PMO Bot",
            "email": "pmo-bot@example.cn",
        }

    @route("GET", API + r"/users/(?P<uid>\d+)")
    def get_public_user(self, req: Request, uid: str) -> Any:
        u = next((x for x in self.site.users if x["id"] == int(uid)), None)
        if u is None:
            raise HttpError(404, "404 User Not Found")
        return {
            **self._user(u["id"]),
            "public_email": u["public_email"],
            "bio": "",
            "location": "",
            "created_at": "2020-01-01T00:00:00.000Z",
        }

    @route("GET", PROJECT)
    def get_project(self, req: Request, ref: str) -> Any:
        return self._gl_project(self._project(ref))

    @route("GET", PROJECT + r"/members/all")
    def get_members(self, req: Request, ref: str) -> Any:
        self._project(ref)
        return self._page(
            req, [{**self._user(u["id"]), "access_level": 30} for u in self.site.users]
        )

    @route("GET", PROJECT + r"/milestones")
    def project_milestones(self, req: Request, ref: str) -> Any:
        p = self._project(ref)
        return self._page(
            req, [self._milestone(m) for m in self.site.milestones if m["project_id"] == p["id"]]
        )

    @route("GET", GROUP + r"/milestones")
    def group_milestones(self, req: Request, gref: str) -> Any:
        self._group(gref)
        return self._page(
            req, [self._milestone(m) for m in self.site.milestones if m["project_id"] is None]
        )

    @route("GET", PROJECT + r"/iterations")
    def project_iterations(self, req: Request, ref: str) -> Any:
        self._project(ref)
        if not self.licensed:
            raise HttpError(404, "404 Not Found")
        return self._page(req, [self._iteration(i) for i in self.site.iterations])

    @route("GET", GROUP + r"/epics")
    def group_epics(self, req: Request, gref: str) -> Any:
        self._group(gref)
        if not self.licensed:
            raise HttpError(403, "403 Forbidden")
        rows = list(self.site.epics)
        if req.arg("updated_after"):
            since = _parse_at(req.arg("updated_after") or "", "updated_after")
            rows = [e for e in rows if e["updated_at"] >= since]
        return self._page(req, [self._epic(e) for e in self._order(req, rows)])

    @route("GET", PROJECT + r"/issues")
    def project_issues(self, req: Request, ref: str) -> Any:
        p = self._project(ref)
        return self._issue_listing(req, {p["id"]})

    @route("GET", GROUP + r"/issues")
    def group_issues(self, req: Request, gref: str) -> Any:
        self._group(gref)
        return self._issue_listing(req, {p["id"] for p in self.site.projects})

    def _issue_listing(self, req: Request, project_ids: set[int]) -> Reply:
        with self.lock:
            rows = [i for i in self.site.issues if i["project_id"] in project_ids]
            state = req.arg("state", "all")
            if state in ("opened", "closed"):
                rows = [i for i in rows if i["state"] == state]
            if req.arg("updated_after"):
                since = _parse_at(req.arg("updated_after") or "", "updated_after")
                rows = [i for i in rows if i["updated_at"] >= since]
            if req.arg("updated_before"):
                until = _parse_at(req.arg("updated_before") or "", "updated_before")
                rows = [i for i in rows if i["updated_at"] <= until]
            payload = [self._issue(i) for i in self._order(req, rows)]
        return self._page(req, payload)

    @route("GET", GROUP)
    def get_group(self, req: Request, gref: str) -> Any:
        g = self._group(gref)
        return {
            "id": g["id"],
            "name": g["name"],
            "path": g["path"],
            "full_path": g["full_path"],
            "full_name": g["name"],
            "description": "",
            "visibility": "private",
            "parent_id": None,
            "web_url": f"{self.url}/groups/{g['full_path']}",
            "created_at": "2024-01-01T00:00:00.000Z",
        }

    @route("GET", GROUP + r"/projects")
    def group_projects(self, req: Request, gref: str) -> Any:
        self._group(gref)
        return self._page(req, [self._gl_project(p) for p in self.site.projects])

    @route("GET", GROUP + r"/members/all")
    def group_members(self, req: Request, gref: str) -> Any:
        self._group(gref)
        return self._page(
            req, [{**self._user(u["id"]), "access_level": 30} for u in self.site.users]
        )

    @route("GET", GROUP + r"/iterations")
    def group_iterations(self, req: Request, gref: str) -> Any:
        self._group(gref)
        if not self.licensed:
            raise HttpError(404, "404 Not Found")
        return self._page(req, [self._iteration(i) for i in self.site.iterations])

    def _the_issue(self, ref: str, iid: str) -> dict[str, Any]:
        issue = self.site.issue(self._project(ref)["id"], int(iid))
        if issue is None:
            raise HttpError(404, "404 Issue Not Found")
        return issue

    def _resource_event(self, issue: dict[str, Any], e: dict[str, Any]) -> dict[str, Any]:
        """The fields every resource event of an issue carries."""
        return {
            "id": e["id"],
            "user": self._user(e["user"]),
            "created_at": iso(e["at"], millis=True),
            "resource_type": "Issue",
            "resource_id": issue["id"],
        }

    @route("GET", PROJECT + r"/issues/(?P<iid>\d+)/resource_state_events")
    def state_events(self, req: Request, ref: str, iid: str) -> Any:
        i = self._the_issue(ref, iid)
        return self._page(
            req, [{**self._resource_event(i, e), "state": e["state"]} for e in i["state_events"]]
        )

    @route("GET", PROJECT + r"/issues/(?P<iid>\d+)/resource_label_events")
    def label_events(self, req: Request, ref: str, iid: str) -> Any:
        i = self._the_issue(ref, iid)
        return self._page(
            req,
            [
                {
                    **self._resource_event(i, e),
                    "label": {
                        "id": 1000 + abs(sum(map(ord, e["label"]))),
                        "name": self.label_renames.get(e["label"], e["label"]),
                        "color": "#428BCA",
                        "description": None,
                    },
                    "action": e["action"],
                }
                for e in i["label_events"]
            ],
        )

    @route("POST", r"/api/graphql")
    def graphql(self, req: Request) -> Any:
        body = req.body or {}
        query, variables = str(body.get("query", "")), body.get("variables") or {}
        if "timelogs" not in query:
            return {"errors": [{"message": "this emulator answers only the issue timelogs query"}]}
        p = self.site.project(str(variables.get("fullPath", "")))
        issue = self.site.issue(p["id"], int(variables.get("iid", 0))) if p else None
        if issue is None:
            return {"data": {"project": None if p is None else {"issue": None}}}
        logs = sorted(issue["timelogs"], key=lambda t: t["id"])
        after = int(variables.get("after") or 0)
        first = int(variables.get("first") or 100)
        rest = [t for t in logs if t["id"] > after]
        chunk = rest[:first]
        nodes = [
            {
                "id": f"gid://gitlab/Timelog/{t['id']}",
                "spentAt": iso(t["spent_at"]),
                "timeSpent": t["seconds"],
                "summary": None,
                "user": {
                    "id": f"gid://gitlab/User/{t['user']}",
                    "username": self._user(t["user"])["username"],
                },
            }
            for t in chunk
        ]
        return {
            "data": {
                "project": {
                    "issue": {
                        "timelogs": {
                            "pageInfo": {
                                "hasNextPage": len(rest) > first,
                                "endCursor": str(chunk[-1]["id"]) if chunk else None,
                            },
                            "nodes": nodes,
                        }
                    }
                }
            }
        }

    # -- mutations ---------------------------------------------------------------------
    def latest(self) -> dt.datetime:
        return max(i["updated_at"] for i in self.site.issues)

    def set_workflow(self, project_id: int, iid: int, label: str) -> dict[str, Any]:
        """Swap the issue's ``workflow::`` label (``close``/``reopen`` change its state)."""
        with self.lock:
            i = self.site.issue(project_id, iid)
            assert i is not None
            now = self.now(self.latest())
            actor = i["author"]
            if label in ("close", "reopen"):
                state = "closed" if label == "close" else "reopened"
                i["state"] = "closed" if label == "close" else "opened"
                i["closed_at"] = now if label == "close" else None
                i["state_events"].append(
                    {
                        "id": self.site.next_id("note", 80_000),
                        "at": now,
                        "state": state,
                        "user": actor,
                    }
                )
            else:
                for old in [x for x in i["labels"] if x.startswith("workflow::")]:
                    i["labels"].remove(old)
                    i["label_events"].append(
                        {
                            "id": self.site.next_id("note", 50_000),
                            "at": now,
                            "label": old,
                            "action": "remove",
                            "user": actor,
                        }
                    )
                i["labels"].append(label)
                i["label_events"].append(
                    {
                        "id": self.site.next_id("note", 50_000),
                        "at": now,
                        "label": label,
                        "action": "add",
                        "user": actor,
                    }
                )
            i["updated_at"] = now
            return i

    def log_time(
        self, project_id: int, iid: int, seconds: int, user: int | None = None
    ) -> dict[str, Any]:
        with self.lock:
            i = self.site.issue(project_id, iid)
            assert i is not None
            now = self.now(self.latest())
            log = {
                "id": self.site.next_id("timelog", 1000),
                "spent_at": now,
                "seconds": seconds,
                "user": user or i["author"],
            }
            i["timelogs"].append(log)
            i["updated_at"] = now
            return log

    def delete_issue(self, project_id: int, iid: int) -> None:
        with self.lock:
            i = self.site.issue(project_id, iid)
            assert i is not None
            self.site.issues.remove(i)
