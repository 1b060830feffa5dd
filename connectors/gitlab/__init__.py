"""GitLab connector (REST v4): projects, issues, group epics, milestones, iterations,
weights, time tracking and the state/label event history.

* ``projects`` lists full project paths (``group/project``) or numeric ids; ``groups``
  lists groups that are each ONE pmohub project (key = the group's full path) holding every
  issue of the group and its subgroups (read through ``/groups/:id/issues``), so a PMO
  project that spans several repositories maps to one hierarchy entry
  (``source: {name: ..., group: ops/migration}``). A project also inside a listed group
  would be read twice: list it in one place.
* Incremental: ``updated_after`` (at or after) with ``order_by=updated_at&sort=asc``, key-set
  on ``updated_at``: each next request starts from the last ``updated_at`` read instead of
  the next offset page, so an issue edited mid-run (it jumps to the end of the listing and
  shifts the rest forward) cannot make us skip another. Issues sharing that instant come
  again and are de-duplicated; if a whole page shares one instant the reader pages by offset
  within ``updated_after = updated_before = that instant``. No mid-run ``Checkpoint``: the
  projects are read one after another.
* Epics: group epics (Premium) of each project's group; 403/404 means "not licensed" and is
  not an error (no epics, no group project). Iterations likewise (404 on Free).
* History: ``resource_state_events`` + ``resource_label_events`` per changed issue (two paged
  requests). Worklogs: REST has no timelog listing, so timelogs come from one GraphQL query
  per changed issue that has time spent (``time_stats.total_time_spent`` > 0); issues
  without spent time cost nothing. ``history: false`` / ``worklogs: false`` switch them off.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pmohub.connectors.base import (
    ChildrenComplete,
    ClientConnector,
    Skipped,
    SourceConfig,
    StreamItem,
    probe_each,
)
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.gitlab import mapping
from pmohub.connectors.gitlab.client import GitLabClient
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Iteration, Milestone, Person, Project
from pmohub.connectors.timestamps import format_utc, parse_utc

log = logging.getLogger("pmohub.gitlab")


class GitLabConnector(ClientConnector[GitLabClient]):
    type: ClassVar[str] = "gitlab"
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["gitlab"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        opts = config.options
        self.group_paths = [str(g) for g in opts.get("groups") or ()]
        if not config.projects and not self.group_paths:
            raise ConfigError(
                "list the projects to read in 'projects' (full paths like group/project) "
                "or whole groups in 'groups'",
                source=config.name,
            )
        self.ctx = mapping.MappingContext(
            source=config.name,
            status_map=dict(config.status_map),
            status_prefixes=tuple(opts.get("status_label_prefixes", ("workflow::", "status::"))),
            type_prefix=str(opts.get("type_label_prefix", "type::")),
            priority_prefix=str(opts.get("priority_label_prefix", "priority::")),
        )
        self._projects: list[dict[str, Any]] | None = None
        self._config_groups: list[dict[str, Any]] | None = None
        self._epic_groups: dict[int, dict[str, Any]] | None = None

    def make_client(self, *, max_retries: int, max_wait_s: float) -> GitLabClient:
        return GitLabClient(
            self.config,
            env=self.env,
            max_retries=max_retries,
            max_wait_s=max_wait_s,
        )

    @property
    def projects(self) -> list[dict[str, Any]]:
        """The projects named in ``projects`` (read project by project)."""
        if self._projects is None:
            self._projects = [self.client.project(p) for p in self.config.projects]
        return self._projects

    @property
    def config_groups(self) -> list[dict[str, Any]]:
        """The groups named in ``groups``: each is ONE pmohub project (key = its full path)
        holding the issues of every project in it and its subgroups, read through the
        group's own issue listing."""
        if self._config_groups is None:
            self._config_groups = [self.client.group(g) for g in self.group_paths]
        return self._config_groups

    def _groups(self) -> dict[int, dict[str, Any]]:
        groups: dict[int, dict[str, Any]] = {}
        for p in self.projects:
            ns = p.get("namespace") or {}
            if ns.get("kind") == "group":
                groups[int(ns["id"])] = ns
        for g in self.config_groups:
            groups[int(g["id"])] = g
        return groups

    @property
    def epic_groups(self) -> dict[int, dict[str, Any]]:
        """Groups whose epics we can read (empty when epics are off or not licensed)."""
        if self._epic_groups is None:
            self._epic_groups = {}
            if self.flag("epics"):
                for gid, group in self._groups().items():
                    probe = self.client.optional_items(f"/groups/{gid}/epics", {"per_page": 1})
                    if probe is None:
                        log.info(
                            "%s: group %s has no epics (not licensed)",
                            self.name,
                            group.get("full_path"),
                        )
                    else:
                        self._epic_groups[gid] = group
        return self._epic_groups

    def check(self) -> dict[str, Any]:
        user = self.client.user()
        projects = probe_each(self.config.projects, self.client.project)
        groups = probe_each(self.group_paths, self.client.group)
        visible, missing = projects[0] + groups[0], projects[1] + groups[1]
        return {
            "user": user.get("username"),
            "projects_visible": visible,
            "projects_missing": missing,
            "epics": bool(self.epic_groups) if not missing else None,
        }

    def fetch_projects(self) -> Iterator[Project]:
        for p in self.projects:
            yield mapping.to_project(p, self.ctx)
        own = {int(g["id"]) for g in self.config_groups}
        for g in self.config_groups:
            yield mapping.to_group_project(g, self.ctx)
        for gid, group in self.epic_groups.items():
            if gid not in own:
                yield mapping.to_group_project(group, self.ctx)

    def _owners(self) -> list[tuple[str, int]]:
        return [("projects", int(p["id"])) for p in self.projects] + [
            ("groups", int(g["id"])) for g in self.config_groups
        ]

    def fetch_people(self) -> Iterator[Person | Skipped]:
        seen: set[int] = set()
        for kind, oid in self._owners():
            for member in self.client.members(kind, oid):
                if member["id"] in seen:
                    continue
                seen.add(member["id"])
                try:
                    full = (
                        self.client.public_user(member["id"])
                        if self.flag("public_emails")
                        else member
                    )
                    yield mapping.to_person({**member, **full}, self.ctx)
                except (KeyError, ValueError) as exc:
                    yield Skipped(
                        RecordError(str(exc), source=self.name, where=f"user {member.get('id')}")
                    )

    def fetch_milestones(self) -> Iterator[Milestone]:
        seen: set[int] = set()
        projects = [(int(p["id"]), str(p["path_with_namespace"])) for p in self.projects]
        for g in self.config_groups:
            # issues of a group project may carry any of its projects' milestones
            projects += [
                (int(p["id"]), str(g["full_path"])) for p in self.client.group_projects(g["id"])
            ]
        for pid, key in projects:
            for m in self.client.milestones("projects", pid):
                if m["id"] not in seen:
                    seen.add(m["id"])
                    yield mapping.to_milestone(m, key, self.ctx)
        for gid, group in self._groups().items():
            listing = self.client.optional_items(f"/groups/{gid}/milestones", {"per_page": 100})
            for m in listing or ():
                if m["id"] not in seen:
                    seen.add(m["id"])
                    yield mapping.to_milestone(m, str(group["full_path"]), self.ctx)

    def fetch_iterations(self) -> Iterator[Iteration]:
        seen: set[int] = set()
        owners = [("projects", int(p["id"]), str(p["path_with_namespace"])) for p in self.projects]
        owners += [("groups", int(g["id"]), str(g["full_path"])) for g in self.config_groups]
        for kind, oid, key in owners:
            listing = self.client.optional_items(
                f"/{kind}/{oid}/iterations", {"per_page": 100, "include_ancestors": "true"}
            )
            for it in listing or ():
                if it["id"] not in seen:
                    seen.add(it["id"])
                    yield mapping.to_iteration(it, key, self.ctx)

    def _issues(self, owner: str, since: str | None) -> Iterator[dict[str, Any]]:
        per_page = min(100, max(1, self.config.page_size))
        seen: set[tuple[int, str]] = set()
        page, pinned = 1, False
        while True:
            response = self.client.issues_page(
                owner,
                updated_after=since,
                per_page=per_page,
                page=page,
                updated_before=since if pinned else None,
            )
            rows = response.json()
            for issue in rows:
                mark = (issue["id"], issue["updated_at"])
                if mark not in seen:
                    seen.add(mark)
                    yield issue
            has_next = bool(response.headers.get("X-Next-Page")) or "next" in response.links
            if pinned:
                if has_next:
                    page += 1
                    continue
                page, pinned = 1, False  # that instant is done: move on past it
                since = _after(since)
                continue
            if not rows or not has_next:
                return
            last = rows[-1]["updated_at"]
            if last == since:
                pinned, page = True, 2  # a whole page at one instant: page within it
            else:
                since, page = last, 1

    def _history_and_worklogs(self, issue: dict[str, Any], item_id: str) -> Iterator[StreamItem]:
        pid, iid = int(issue["project_id"]), int(issue["iid"])
        if self.flag("history"):
            states = list(self.client.state_events(pid, iid))
            labels = list(self.client.label_events(pid, iid))
            yield from mapping.to_status_changes(issue, states, labels, self.ctx)
        spent = (issue.get("time_stats") or {}).get("total_time_spent") or 0
        if self.flag("worklogs") and spent:
            # GraphQL wants the project's full path: it is in the issue's full reference.
            full = str((issue.get("references") or {}).get("full") or "").rsplit("#", 1)[0]
            for node in self.client.timelogs(full or str(pid), iid):
                try:
                    yield mapping.to_worklog(node, item_id, self.ctx)
                except (KeyError, TypeError, ValueError) as exc:
                    yield Skipped(
                        RecordError(
                            f"timelog: {exc!r}", source=self.name, where=issue.get("web_url")
                        )
                    )

    def fetch_work_items(self, since: Any) -> Iterator[StreamItem]:
        kinds = {"links"}
        if self.flag("history"):
            kinds.add("status_changes")
        if self.flag("worklogs"):
            kinds.add("worklogs")
        since_text = format_utc(since, micros=True) if since is not None else None
        for gid, group in self.epic_groups.items():
            params: dict[str, Any] = {"per_page": 100, "order_by": "updated_at", "sort": "asc"}
            if since_text:
                params["updated_after"] = since_text
            for epic in self.client.optional_items(f"/groups/{gid}/epics", params) or ():
                try:
                    yield mapping.to_epic_item(epic, str(group["full_path"]), self.ctx)
                except RecordError as exc:
                    yield Skipped(exc)
        keys = {int(p["id"]): str(p["path_with_namespace"]) for p in self.projects}
        keys.update({int(g["id"]): str(g["full_path"]) for g in self.config_groups})
        for kind, oid in self._owners():
            key = keys[oid]
            for issue in self._issues(f"{kind}/{oid}", since_text):
                try:
                    item = mapping.to_work_item(issue, key, self.ctx)
                except RecordError as exc:
                    yield Skipped(exc)
                    continue
                yield item
                yield from self._history_and_worklogs(issue, item.external_id)
                yield ChildrenComplete(item.external_id, frozenset(kinds))

    def census(self, project_key: str) -> Iterator[str]:
        for gid, group in self.epic_groups.items():
            if group["full_path"] == project_key:
                for epic in (
                    self.client.optional_items(f"/groups/{gid}/epics", {"per_page": 100}) or ()
                ):
                    yield mapping.epic_id(epic)
        for g in self.config_groups:
            if g["full_path"] == project_key:
                for issue in self.client.census_issues(f"groups/{g['id']}"):
                    yield str(issue["id"])
                return
        for p in self.projects:
            if p["path_with_namespace"] == project_key:
                for issue in self.client.census_issues(f"projects/{p['id']}"):
                    yield str(issue["id"])


def _after(instant: str | None) -> str | None:
    """The next millisecond after a GitLab timestamp (to step past a crowded instant)."""
    if instant is None:
        return None
    at = parse_utc(instant)
    assert at is not None
    return format_utc(at + dt.timedelta(milliseconds=1), micros=True)
