"""GitHub Issues connector (REST v3): repositories as projects, issues as work items.

* ``projects`` lists ``owner/repo`` names. Pull requests come back from the issues endpoint
  too (they carry a ``pull_request`` key) and are dropped everywhere, census included.
* Incremental: ``since`` (updated at or after, second precision) with
  ``sort=updated&direction=asc``. Pages are key-set on ``updated_at``: each next request
  asks ``since=<updated_at of the last issue read, minus one second>`` instead of following
  the offset ``Link`` (an issue edited mid-run jumps to the end of an offset listing and
  shifts the rest one place forward, which would skip one). Issues of that second are
  served again and de-duplicated by (id, updated_at); only when a whole page shares one
  second does the reader follow the ``Link: rel="next"`` page. No mid-run ``Checkpoint``: repositories
  are read one after another, so no cursor is safe before the pass ends.
* Status, type, priority and points come from labels (see ``mapping``); status history from
  each changed issue's timeline (one paged request per changed issue; ``history: false``
  skips it). Parent from ``parent_issue_url`` (sub-issues). Worklogs: GitHub has no time
  tracking. Iterations: Projects (v2) iteration fields are GraphQL-only and per project
  board, so they are not read (not cheap over REST); milestones are read.
* People: assignable users of each repository; their public e-mail (``/users/{login}``,
  one request per person, ``public_emails: false`` skips it) lets identities merge.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pmohub.connectors.base import (
    CHILD_KINDS,
    ChildrenComplete,
    ClientConnector,
    Skipped,
    SourceConfig,
    StreamItem,
    probe_each,
)
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.github import mapping
from pmohub.connectors.github.client import GitHubClient
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Milestone, Person, Project
from pmohub.connectors.timestamps import format_utc, parse_utc

log = logging.getLogger("pmohub.github")

_ISSUE_URL = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)$")


class GitHubConnector(ClientConnector[GitHubClient]):
    type: ClassVar[str] = "github"
    projects_hint: ClassVar[str | None] = "list the repositories to read in 'projects' (owner/repo)"
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["github"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        for name in config.projects:
            if name.count("/") != 1:
                raise ConfigError(
                    f"projects: {name!r} is not an owner/repo name", source=config.name
                )
        opts = config.options
        self.ctx = mapping.MappingContext(
            source=config.name,
            status_map=dict(config.status_map),
            status_prefix=str(opts.get("status_label_prefix", "status:")),
            type_prefix=str(opts.get("type_label_prefix", "type:")),
            priority_prefix=str(opts.get("priority_label_prefix", "priority:")),
            points_prefix=str(opts.get("points_label_prefix", "points:")),
        )
        self._ids: dict[tuple[str, int], str] = {}

    def make_client(self, *, max_retries: int, max_wait_s: float) -> GitHubClient:
        return GitHubClient(
            self.config,
            env=self.env,
            max_retries=max_retries,
            max_wait_s=max_wait_s,
        )

    def check(self) -> dict[str, Any]:
        user = self.client.user()
        visible, missing = probe_each(self.config.projects, self.client.repo)
        return {
            "user": user.get("login"),
            "projects_visible": visible,
            "projects_missing": missing,
            "rate_limit_remaining": user.get("_rate_limit_remaining"),
        }

    def fetch_projects(self) -> Iterator[Project]:
        for name in self.config.projects:
            yield mapping.to_project(self.client.repo(name), self.ctx)

    def fetch_people(self) -> Iterator[Person | Skipped]:
        seen: set[str] = set()
        emails = self.flag("public_emails")
        for name in self.config.projects:
            for user in self.client.assignees(name):
                login = user.get("login")
                if not login or login in seen:
                    continue
                seen.add(login)
                try:
                    full = self.client.public_user(login) if emails else user
                    yield mapping.to_person(full, self.ctx)
                except (KeyError, ValueError) as exc:
                    yield Skipped(RecordError(str(exc), source=self.name, where=f"user {login}"))

    def fetch_milestones(self) -> Iterator[Milestone]:
        for name in self.config.projects:
            for ms in self.client.milestones(name):
                yield mapping.to_milestone(ms, name, self.ctx)

    def _parent_id(self, url: str) -> str | None:
        m = _ISSUE_URL.search(url)
        if m is None:
            return None
        key = (m["repo"], int(m["number"]))
        if key not in self._ids:
            self._ids[key] = str(self.client.issue(*key)["id"])
        return self._ids[key]

    def _issues(self, repo: str, since: str | None) -> Iterator[dict[str, Any]]:
        """Every issue (pull requests included) updated at or after ``since``, key-set paged."""
        per_page = min(100, max(1, self.config.page_size))
        seen: set[tuple[int, str]] = set()
        url: str | None = None
        while True:
            response = self.client.issues_page(repo, since=since, per_page=per_page, url=url)
            page = response.json()
            for issue in page:
                mark = (issue["id"], issue["updated_at"])
                if mark not in seen:
                    seen.add(mark)
                    yield issue
            nxt = response.links.get("next", {}).get("url")
            if not page or not nxt:
                return
            # GitHub documents ``since`` as "updated after": step back one second so the
            # issues sharing the last second are served again (and de-duplicated) whether
            # the bound is inclusive or not.
            following = _before(page[-1]["updated_at"])
            if since is not None and following <= since:
                url = nxt  # a whole page within one second: only offset paging gets past it
            else:
                since, url = following, None

    def fetch_work_items(self, since: Any) -> Iterator[StreamItem]:
        history = self.flag("history")
        kinds = CHILD_KINDS if history else CHILD_KINDS - {"status_changes"}
        since_text = format_utc(since) if since is not None else None
        for repo in self.config.projects:
            for issue in self._issues(repo, since_text):
                self._ids[(repo, issue["number"])] = str(issue["id"])
                if "pull_request" in issue:
                    continue
                try:
                    item = mapping.to_work_item(issue, repo, self.ctx, self._parent_id)
                except RecordError as exc:
                    yield Skipped(exc)
                    continue
                yield item
                if history:
                    events = self.client.timeline(repo, issue["number"])
                    yield from mapping.to_status_changes(issue, events, self.ctx)
                yield ChildrenComplete(item.external_id, kinds)

    def census(self, project_key: str) -> Iterator[str]:
        for issue in self.client.census_issues(project_key):
            if "pull_request" not in issue:
                yield str(issue["id"])


def _before(stamp: str) -> str:
    """One second before a GitHub timestamp (``2026-03-01T10:00:00Z``), same format."""
    at = parse_utc(stamp)
    assert at is not None
    return format_utc(at - dt.timedelta(seconds=1))
