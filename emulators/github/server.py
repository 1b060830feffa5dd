"""GitHubEmulator: the REST v3 endpoints pmohub reads, shaped like api.github.com.

Deliberate behaviour (a connector may rely on it, as it may on GitHub):
- ``GET /repos/{o}/{r}/issues`` returns pull requests too (with a ``pull_request`` key),
  ``state=open`` by default, ``sort=created&direction=desc`` by default; ``since`` keeps
  items updated at or after it (second precision); page paging with a ``Link`` header,
  ``per_page`` capped at 100, computed on the result as it is at each request (edits shift
  later pages, as on GitHub).
- Every answer carries ``x-ratelimit-*`` headers. ``rate_limit_style = "primary"`` makes the
  rate-limit fault answer 403 with ``x-ratelimit-remaining: 0`` and a reset one second ahead;
  ``"secondary"`` answers 403 with ``Retry-After``; ``"429"`` answers 429 + ``Retry-After``.
- Authentication: ``Authorization: Bearer <token>`` or ``token <token>``; else 401
  ``Bad credentials``.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from typing import Any

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
from pmohub.emulators.github.site import GitHubSite

DEFAULT_TOKEN = "github-emulator-token"
TOKEN_ENV = "GITHUB_EMULATOR_TOKEN"
REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


def _parse_since(value: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HttpError(422, "Validation Failed: since is not a valid ISO 8601 time") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC)


class GitHubEmulator(Emulator):
    server_name = "GitHub.com"

    def __init__(
        self, site: GitHubSite, *, port: int = 0, token: str = DEFAULT_TOKEN, login: str = "pmo-bot"
    ) -> None:
        super().__init__(port)
        self.site = site
        self.token = token
        self.login = login
        self.rate_limit_style = "primary"
        # seconds until the primary limit resets (an hour away: the run must not wait)
        self.rate_limit_reset_in = 1.0
        # GitHub documents ``since`` as "updated after"; False makes the bound strict.
        self.since_inclusive = True
        self.hidden_repos: set[str] = set()

    # -- vendor behaviour ----------------------------------------------------------------
    def authorised(self, req: Request) -> bool:
        header = req.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() in ("bearer", "token") and value == self.token

    def unauthorised(self, req: Request) -> Reply:
        return Reply(self.error_body(401, "Bad credentials"), 401)

    def error_body(self, status: int, message: str) -> Any:
        return {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        }

    def extra_headers(self, req: Request) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": "1",
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
        }

    def rate_limited(self, retry_after: str | None) -> Reply:
        if self.rate_limit_style == "primary":
            body = self.error_body(403, "API rate limit exceeded for user ID 1.")
            headers = {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(int(time.time() + self.rate_limit_reset_in)),
            }
            return Reply(body, 403, headers)
        status = 403 if self.rate_limit_style == "secondary" else 429
        body = self.error_body(status, "You have exceeded a secondary rate limit.")
        return Reply(body, status, {"Retry-After": retry_after or "1"})

    # -- payloads ----------------------------------------------------------------------
    def user_json(self, login: str) -> dict[str, Any]:
        u = self.site.user(login) or {"id": 1, "login": login}
        base = f"{self.url}/users/{login}"
        return {
            "login": login,
            "id": u["id"],
            "node_id": f"MDQ6VXNlcj{u['id']}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{u['id']}?v=4",
            "gravatar_id": "",
            "url": base,
            "html_url": f"https://github.com/{login}",
            "followers_url": base + "/followers",
            "following_url": base + "/following{/other_user}",
            "gists_url": base + "/gists{/gist_id}",
            "starred_url": base + "/starred{/owner}{/repo}",
            "subscriptions_url": base + "/subscriptions",
            "organizations_url": base + "/orgs",
            "repos_url": base + "/repos",
            "events_url": base + "/events{/privacy}",
            "received_events_url": base + "/received_events",
            "type": "User",
            "user_view_type": "public",
            "site_admin": False,
        }

    def public_user_json(self, login: str) -> dict[str, Any]:
        u = self.site.user(login)
        if u is None and login == self.login:
            u = {"id": 1, "login": login, "name": "PMO Bot", "email": None}
        if u is None:
            raise HttpError(404, "Not Found")
        created = iso(dt.datetime(2019, 5, 1, tzinfo=dt.UTC))
        return {
            **self.user_json(login),
            "name": u["name"],
            "company": None,
            "blog": "",
            "location": None,
            "email": u["email"],
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 3,
            "public_gists": 0,
            "followers": 1,
            "following": 1,
            "created_at": created,
            "updated_at": created,
        }

    def repo_json(self, repo: dict[str, Any]) -> dict[str, Any]:
        full = f"{self.site.owner}/{repo['name']}"
        base = f"{self.url}/repos/{full}"
        urls = {
            f"{k}_url": base + suffix
            for k, suffix in {
                "archive": "/{archive_format}{/ref}",
                "assignees": "/assignees{/user}",
                "blobs": "/git/blobs{/sha}",
                "branches": "/branches{/branch}",
                "collaborators": "/collaborators{/collaborator}",
                "comments": "/comments{/number}",
                "commits": "/commits{/sha}",
                "compare": "/compare/{base}...{head}",
                "contents": "/contents/{+path}",
                "contributors": "/contributors",
                "deployments": "/deployments",
                "downloads": "/downloads",
                "events": "/events",
                "forks": "/forks",
                "git_commits": "/git/commits{/sha}",
                "git_refs": "/git/refs{/sha}",
                "git_tags": "/git/tags{/sha}",
                "hooks": "/hooks",
                "issue_comment": "/issues/comments{/number}",
                "issue_events": "/issues/events{/number}",
                "issues": "/issues{/number}",
                "keys": "/keys{/key_id}",
                "labels": "/labels{/name}",
                "languages": "/languages",
                "merges": "/merges",
                "milestones": "/milestones{/number}",
                "notifications": "/notifications{?since,all,participating}",
                "pulls": "/pulls{/number}",
                "releases": "/releases{/id}",
                "stargazers": "/stargazers",
                "statuses": "/statuses/{sha}",
                "subscribers": "/subscribers",
                "subscription": "/subscription",
                "tags": "/tags",
                "teams": "/teams",
                "trees": "/git/trees{/sha}",
            }.items()
        }
        created = iso(repo["created_at"])
        return {
            "id": repo["id"],
            "node_id": f"R_kgDO{repo['id']}",
            "name": repo["name"],
            "full_name": full,
            "owner": self.user_json(self.site.owner),
            "private": True,
            "html_url": f"https://github.com/{full}",
            "description": repo["description"],
            "fork": False,
            "url": base,
            **urls,
            "git_url": f"git://github.com/{full}.git",
            "ssh_url": f"git@github.com:{full}.git",
            "clone_url": f"https://github.com/{full}.git",
            "svn_url": f"https://github.com/{full}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 1024,
            "default_branch": "main",
            "open_issues_count": sum(
                1 for i in self.site.issues if i["repo"] == repo["name"] and i["state"] == "open"
            ),
            "open_issues": 0,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private",
            "pushed_at": created,
            "created_at": created,
            "updated_at": created,
            "license": None,
            "network_count": 0,
            "subscribers_count": 1,
        }

    def label_json(self, repo: str, name: str) -> dict[str, Any]:
        n = zlib.crc32(f"{repo}/{name}".encode()) % 10_000_000
        return {
            "id": 4_000_000_000 + n,
            "node_id": f"LA_kwDO{n}",
            "url": f"{self.url}/repos/{self.site.owner}/{repo}/labels/{name}",
            "name": name,
            "description": None,
            "color": "ededed",
            "default": False,
        }

    def milestone_json(self, ms: dict[str, Any]) -> dict[str, Any]:
        base = f"{self.url}/repos/{self.site.owner}/{ms['repo']}/milestones/{ms['number']}"
        issues = [
            i
            for i in self.site.issues
            if i["repo"] == ms["repo"] and i["milestone"] == ms["number"]
        ]
        return {
            "url": base,
            "html_url": f"https://github.com/{self.site.owner}/{ms['repo']}/milestone/{ms['number']}",
            "labels_url": base + "/labels",
            "id": ms["id"],
            "node_id": f"MI_kwDO{ms['id']}",
            "number": ms["number"],
            "state": ms["state"],
            "title": ms["title"],
            "description": ms["description"],
            "creator": self.user_json(ms["creator"]),
            "open_issues": sum(1 for i in issues if i["state"] == "open"),
            "closed_issues": sum(1 for i in issues if i["state"] == "closed"),
            "created_at": iso(ms["created_at"]),
            "updated_at": iso(ms["updated_at"]),
            "closed_at": iso(ms["closed_at"]) if ms["closed_at"] else None,
            "due_on": iso(ms["due_on"]) if ms["due_on"] else None,
        }

    def _milestone(self, repo: str, number: int | None) -> dict[str, Any] | None:
        if number is None:
            return None
        return next(
            (m for m in self.site.milestones if m["repo"] == repo and m["number"] == number), None
        )

    def issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        owner, repo, n = self.site.owner, issue["repo"], issue["number"]
        base = f"{self.url}/repos/{owner}/{repo}/issues/{n}"
        ms = self._milestone(repo, issue["milestone"])
        assignees = [self.user_json(a) for a in issue["assignees"]]
        out: dict[str, Any] = {
            "url": base,
            "repository_url": f"{self.url}/repos/{owner}/{repo}",
            "labels_url": base + "/labels{/name}",
            "comments_url": base + "/comments",
            "events_url": base + "/events",
            "html_url": f"https://github.com/{owner}/{repo}/{'pull' if issue['pull_request'] else 'issues'}/{n}",
            "id": issue["id"],
            "node_id": f"I_kwDO{issue['id']}",
            "number": n,
            "title": issue["title"],
            "user": self.user_json(issue["user"]),
            "labels": [self.label_json(repo, lab) for lab in issue["labels"]],
            "state": issue["state"],
            "locked": False,
            "assignee": assignees[0] if assignees else None,
            "assignees": assignees,
            "milestone": self.milestone_json(ms) if ms else None,
            "comments": 0,
            "created_at": iso(issue["created_at"]),
            "updated_at": iso(issue["updated_at"]),
            "closed_at": iso(issue["closed_at"]) if issue["closed_at"] else None,
            "author_association": "MEMBER",
            "active_lock_reason": None,
            "body": issue["body"],
            "closed_by": None,
            "timeline_url": base + "/timeline",
            "performed_via_github_app": None,
            "state_reason": issue["state_reason"],
        }
        if issue["pull_request"]:
            pr = f"{self.url}/repos/{owner}/{repo}/pulls/{n}"
            out["draft"] = False
            out["pull_request"] = {
                "url": pr,
                "html_url": f"https://github.com/{owner}/{repo}/pull/{n}",
                "diff_url": f"https://github.com/{owner}/{repo}/pull/{n}.diff",
                "patch_url": f"https://github.com/{owner}/{repo}/pull/{n}.patch",
                "merged_at": None,
            }
        else:
            children = [
                i for i in self.site.issues if i["repo"] == repo and i["parent"] == issue["number"]
            ]
            done = sum(1 for c in children if c["state"] == "closed")
            out["sub_issues_summary"] = {
                "total": len(children),
                "completed": done,
                "percent_completed": int(100 * done / len(children)) if children else 0,
            }
            if issue.get("issue_type"):
                name = issue["issue_type"]
                tid = 3_000 + ("Bug", "Feature", "Task").index(name)
                out["type"] = {
                    "id": tid,
                    "node_id": f"IT_kwDO{tid}",
                    "name": name,
                    "description": f"{name} (organisation issue type)",
                    "color": {"Bug": "red", "Feature": "blue", "Task": "yellow"}[name],
                    "created_at": "2025-01-01T00:00:00Z",
                    "updated_at": "2025-01-01T00:00:00Z",
                    "is_enabled": True,
                }
            if issue["parent"] is not None:
                out["parent_issue_url"] = (
                    f"{self.url}/repos/{owner}/{repo}/issues/{issue['parent']}"
                )
        return out

    def event_json(self, issue: dict[str, Any], e: dict[str, Any]) -> dict[str, Any]:
        repo = issue["repo"]
        out: dict[str, Any] = {
            "id": e["id"],
            "node_id": f"LE_lADO{e['id']}",
            "url": f"{self.url}/repos/{self.site.owner}/{repo}/issues/events/{e['id']}",
            "actor": self.user_json(e["actor"]),
            "event": e["event"],
            "commit_id": None,
            "commit_url": None,
            "created_at": iso(e["at"]),
            "performed_via_github_app": None,
        }
        if e["event"] in ("labeled", "unlabeled"):
            out["label"] = {"name": e["label"], "color": "ededed"}
        elif e["event"] in ("milestoned", "demilestoned"):
            ms = self._milestone(repo, e["milestone"])
            out["milestone"] = {"title": ms["title"] if ms else str(e["milestone"])}
        elif e["event"] in ("closed", "reopened"):
            out["state_reason"] = e.get("state_reason")
        elif e["event"] in ("assigned", "unassigned"):
            out["assignee"] = self.user_json(e["assignee"])
            out["assigner"] = self.user_json(e["actor"])
        return out

    # -- helpers -----------------------------------------------------------------------
    def _repo(self, owner: str, repo: str) -> dict[str, Any]:
        r = self.site.repo(repo)
        if owner != self.site.owner or r is None or repo in self.hidden_repos:
            raise HttpError(404, "Not Found")
        return r

    def _page(self, req: Request, rows: list[Any]) -> Reply:
        page = offset_page(req, rows, default_size=30)
        headers = {}
        link = link_header(self.url + req.path, req.query, page.number, page.last)
        if link:
            headers["Link"] = link
        return Reply(page.rows, 200, headers)

    # -- routes ------------------------------------------------------------------------
    @route("GET", r"/user")
    def get_user(self, req: Request) -> Any:
        return {
            **self.public_user_json(self.login),
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
            "user_view_type": "private",
        }

    @route("GET", r"/users/(?P<login>[^/]+)")
    def get_public_user(self, req: Request, login: str) -> Any:
        return self.public_user_json(login)

    @route("GET", REPO)
    def get_repo(self, req: Request, owner: str, repo: str) -> Any:
        return self.repo_json(self._repo(owner, repo))

    @route("GET", REPO + r"/assignees")
    def get_assignees(self, req: Request, owner: str, repo: str) -> Any:
        self._repo(owner, repo)
        return self._page(req, [self.user_json(u["login"]) for u in self.site.users])

    @route("GET", REPO + r"/milestones")
    def get_milestones(self, req: Request, owner: str, repo: str) -> Any:
        self._repo(owner, repo)
        state = req.arg("state", "open")
        rows = [
            m
            for m in self.site.milestones
            if m["repo"] == repo and (state == "all" or m["state"] == state)
        ]
        rows.sort(key=lambda m: m["due_on"] or dt.datetime.max.replace(tzinfo=dt.UTC))
        return self._page(req, [self.milestone_json(m) for m in rows])

    @route("GET", REPO + r"/issues")
    def list_issues(self, req: Request, owner: str, repo: str) -> Any:
        self._repo(owner, repo)
        state = req.arg("state", "open")
        if state not in ("open", "closed", "all"):
            raise HttpError(422, "Validation Failed")
        since = _parse_since(req.arg("since") or "") if req.arg("since") else None
        sort = req.arg("sort", "created")
        if sort not in ("created", "updated", "comments"):
            raise HttpError(422, "Validation Failed")
        desc = req.arg("direction", "desc") != "asc"
        with self.lock:
            rows = [
                i
                for i in self.site.issues
                if i["repo"] == repo
                and (state == "all" or i["state"] == state)
                and (
                    since is None
                    or i["updated_at"] > since
                    or (self.since_inclusive and i["updated_at"] == since)
                )
            ]
            key = "updated_at" if sort == "updated" else "created_at"
            rows.sort(key=lambda i: (i[key], i["id"]), reverse=desc)
            payload = [self.issue_json(i) for i in rows]
        return self._page(req, payload)

    def _issue(self, owner: str, repo: str, number: str) -> dict[str, Any]:
        self._repo(owner, repo)
        issue = self.site.issue(repo, int(number))
        if issue is None:
            raise HttpError(404, "Not Found")
        return issue

    @route("GET", REPO + r"/issues/(?P<number>\d+)")
    def get_issue(self, req: Request, owner: str, repo: str, number: str) -> Any:
        return self.issue_json(self._issue(owner, repo, number))

    @route("GET", REPO + r"/issues/(?P<number>\d+)/timeline")
    def get_timeline(self, req: Request, owner: str, repo: str, number: str) -> Any:
        issue = self._issue(owner, repo, number)
        return self._page(req, [self.event_json(issue, e) for e in issue["events"]])

    # -- mutations (tests and the demo) ------------------------------------------------
    def _event(
        self, issue: dict[str, Any], kind: str, at: dt.datetime, actor: str, **kw: Any
    ) -> None:
        eid = 9_000_000_000 + 100_000 + self.site.next_id("event")
        issue["events"].append({"id": eid, "event": kind, "at": at, "actor": actor, **kw})

    def latest(self) -> dt.datetime:
        return max(i["updated_at"] for i in self.site.issues)

    def set_status(
        self, repo: str, number: int, status: str, actor: str | None = None
    ) -> dict[str, Any]:
        """Move an issue like a user would: swap its ``status:`` label, or close it
        (``closed`` / ``not_planned``), or reopen it (``reopened``)."""
        with self.lock:
            issue = self.site.issue(repo, number)
            if issue is None:
                raise KeyError(f"{repo}#{number}")
            now = self.now(self.latest())
            actor = actor or issue["user"]
            old = [lab for lab in issue["labels"] if lab.startswith("status:")]
            if status in ("closed", "not_planned"):
                for lab in old:
                    issue["labels"].remove(lab)
                    self._event(issue, "unlabeled", now, actor, label=lab)
                reason = "completed" if status == "closed" else "not_planned"
                issue.update(state="closed", state_reason=reason, closed_at=now)
                self._event(issue, "closed", now, actor, state_reason=reason)
            elif status == "reopened":
                issue.update(state="open", state_reason="reopened", closed_at=None)
                self._event(issue, "reopened", now, actor, state_reason="reopened")
            else:
                for lab in old:
                    issue["labels"].remove(lab)
                    self._event(issue, "unlabeled", now, actor, label=lab)
                issue["labels"].append(status)
                self._event(issue, "labeled", now, actor, label=status)
            issue["updated_at"] = now
            return issue

    def edit_title(self, repo: str, number: int, title: str) -> dict[str, Any]:
        with self.lock:
            issue = self.site.issue(repo, number)
            assert issue is not None
            issue["title"] = title
            issue["updated_at"] = self.now(self.latest())
            return issue

    def delete_issue(self, repo: str, number: int) -> None:
        with self.lock:
            issue = self.site.issue(repo, number)
            assert issue is not None
            self.site.issues.remove(issue)

    def add_issue(self, repo: str, title: str, *, pull_request: bool = False) -> dict[str, Any]:
        with self.lock:
            now = self.now(self.latest())
            number = 1 + max(i["number"] for i in self.site.issues if i["repo"] == repo)
            issue = {
                "id": 2_100_000_000 + self.site.next_id("issue"),
                "number": number,
                "repo": repo,
                "title": title,
                "body": "",
                "user": self.site.users[0]["login"],
                "state": "open",
                "state_reason": None,
                "labels": ["status:todo"],
                "assignees": [],
                "milestone": None,
                "created_at": now,
                "updated_at": now,
                "closed_at": None,
                "pull_request": pull_request,
                "parent": None,
                "events": [],
                "issue_type": None,
            }
            self._event(issue, "labeled", now, issue["user"], label="status:todo")
            self.site.issues.append(issue)
            return issue
