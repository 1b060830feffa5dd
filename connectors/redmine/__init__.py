"""Redmine connector (REST API, API key in ``X-Redmine-API-Key``).

Scope: the configured ``projects`` (identifiers) and, unless ``include_subprojects`` is
false, all their descendants; every visible project when none are configured. Each Redmine
project is a ``Project`` of its own (key = identifier), so the census and the roll-ups see
subprojects as they are in Redmine.

Paging and cursor (the "never lost, never doubled" part), as in the Jira connector:

* Issues are key-set paged on the immutable id: each page is a fresh query
  ``status_id=* [project_id in scope] [updated_on >= since] issue_id >= last+1`` sorted by
  id, ``offset=0``. Offset paging (sorted by ``updated_on``, or by id) shifts every later
  row one place whenever an earlier row leaves the result set or moves to the end mid-run
  (an edit, a deletion, a move to another project), and the row at the page boundary is
  skipped. Ids never change, so ``issue_id >=`` cannot skip anything; an issue edited
  during the run is re-read by the next run because its ``updated_on`` is then after the
  cursor. ``status_id=*`` is required: Redmine lists open issues only by default.
* Hence one ``Checkpoint`` at the end of a complete pass, at the run's start time: in id
  order an unread issue may have an older ``updated_on`` than those already read, so no
  earlier cursor is safe. Writes are upserts; a crash costs a re-read, never a loss.
* ``since`` goes to the server as ``updated_on >= <UTC second>``. Redmine widens a
  timestamp filter by one second (it compares ``> t - 1s``), so issues updated before
  ``since`` are dropped here as well: ``since`` means exactly what it says.

Children of each issue read in a run are complete (``ChildrenComplete`` for status
changes, worklogs and links):

* history comes from ``/issues/<id>.json?include=journals,relations``, one request per
  issue read. It is never skipped for ``updated_on == created_on``: Redmine stamps whole
  seconds, so an edit made in the same second as the creation (a script, a workflow
  plug-in) leaves the two equal while a journal exists;
* time entries from ``/time_entries.json`` filtered on the issue, skipped when the issue's
  own ``spent_hours`` is 0.

Logging time does not change an issue's ``updated_on`` in Redmine, and Redmine 5.0 cannot
filter time entries by ``updated_on``. So an incremental run also reads the time entries
*spent on* or after ``since - worklog_window_days`` (default 30) and keeps those created
or edited since ``since``, for issues not read in this run. A time entry back-dated by more
than the window, or deleted from an issue that did not change, is picked up by the next
full sync (``pmohub sync --full``).

Deletions: the census lists every issue id of each project (100 per request). On an
incremental run the engine first asks ``census_total`` (one ``limit=1`` request per
project, ``status_id=*``); when the totals equal the store's live items nothing can have
been deleted and the listing is skipped. Any difference (a deletion, a move out of scope,
a permission lost, an issue skipped as malformed) runs the full listing; full runs always
run it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from pmohub.connectors.base import (
    Checkpoint,
    ChildrenComplete,
    ClientConnector,
    Problem,
    Skipped,
    SourceConfig,
    StreamItem,
)
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Milestone, Person, Project
from pmohub.connectors.redmine import mapping
from pmohub.connectors.redmine.client import Filter, RedmineClient, filter_params
from pmohub.connectors.timestamps import format_utc, parse_utc

log = logging.getLogger("pmohub.redmine")


class RedmineConnector(ClientConnector[RedmineClient]):
    type: ClassVar[str] = "redmine"
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["redmine"]
    wants_known_updated: ClassVar[bool] = True

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        self._ctx: mapping.MappingContext | None = None
        self._projects: list[dict[str, Any]] | None = None
        self._scope: list[dict[str, Any]] | None = None
        self._no_tracking: list[dict[str, Any]] = []  # in scope, Issue tracking off

    # --- set-up ---------------------------------------------------------------------

    def make_client(self, *, max_retries: int, max_wait_s: float) -> RedmineClient:
        return RedmineClient(
            self.config,
            env=self.env,
            max_retries=max_retries,
            max_wait_s=max_wait_s,
        )

    def _all_projects(self) -> list[dict[str, Any]]:
        if self._projects is None:
            self._projects = list(self.client.projects())
        return self._projects

    def _scoped_projects(self) -> list[dict[str, Any]]:
        """Configured projects plus their descendants (Redmine's order), or all."""
        if self._scope is None:
            projects = self._all_projects()
            wanted = list(self.config.projects)
            if not wanted:
                chosen = {str(p["id"]) for p in projects}
                self._scope = projects
            by_ident = {p["identifier"]: p for p in projects}
            missing = [k for k in wanted if k not in by_ident]
            if missing:
                visible = ", ".join(sorted(by_ident)) or "none"
                raise ConfigError(
                    f"project(s) {', '.join(missing)} not found or not visible to this "
                    f"account; visible: {visible}",
                    source=self.name,
                )
            if wanted:
                chosen = {str(by_ident[k]["id"]) for k in wanted}
            if wanted and self.config.options.get("include_subprojects", True):
                parent_of = {
                    str(p["id"]): str((p.get("parent") or {}).get("id") or "") for p in projects
                }
                for p in projects:
                    pid = str(p["id"])
                    seen: set[str] = set()
                    cur = pid
                    while cur and cur not in seen:
                        if cur in chosen:
                            chosen.add(pid)
                            break
                        seen.add(cur)
                        cur = parent_of.get(cur, "")
            self._scope = [p for p in projects if str(p["id"]) in chosen]
            # A project without the Issue tracking module answers 403 on its versions and
            # lists no issues: skipped with a warning (it failed the whole source, blaming
            # admin rights). Only when Redmine says which modules are on (>= 3.4).
            self._no_tracking = [
                p
                for p in self._scope
                if "enabled_modules" in p
                and "issue_tracking" not in {m.get("name") for m in p["enabled_modules"] or ()}
            ]
            skip = {str(p["id"]) for p in self._no_tracking}
            self._scope = [p for p in self._scope if str(p["id"]) not in skip]
        return self._scope

    @property
    def ctx(self) -> mapping.MappingContext:
        if self._ctx is None:
            client = self.client
            statuses = {str(s["id"]): s for s in client.statuses()}
            trackers = client.trackers()
            defaults = frozenset(
                str(t["default_status"]["id"]) for t in trackers if t.get("default_status")
            )
            if not defaults and statuses:
                # Redmine < 3.0 does not say; its lowest status id is the initial one.
                defaults = frozenset({min(statuses, key=int)})
            try:
                priorities = {str(p["id"]): str(p["name"]) for p in client.priorities()}
            except ConfigError:
                priorities = {}  # names still come with each issue; only history uses ids
            self._ctx = mapping.MappingContext(
                source=self.name,
                base_url=client.base_url,
                statuses=statuses,
                default_status_ids=defaults,
                trackers={str(t["id"]): str(t["name"]) for t in trackers},
                priorities=priorities,
                project_keys={str(p["id"]): p["identifier"] for p in self._all_projects()},
                status_map=dict(self.config.status_map),
                fields=dict(self.config.fields),
                group_ids=self._group_ids(),
            )
        return self._ctx

    def _group_ids(self) -> frozenset[str]:
        """Ids of groups (``/groups.json``, admin only; else the groups among the scoped
        projects' memberships): an issue assigned to one has no person assignee."""
        try:
            return frozenset(str(g["id"]) for g in self.client.groups() if g.get("id"))
        except ConfigError:
            found: set[str] = set()
            for project in self._scoped_projects():
                try:
                    members = list(self.client.memberships(project["id"]))
                except ConfigError:
                    continue
                found.update(
                    str(m["group"]["id"]) for m in members if (m.get("group") or {}).get("id")
                )
            return frozenset(found)

    def check(self) -> dict[str, Any]:
        user = self.client.current_user() if self.client.authenticated else {}
        visible = [p["identifier"] for p in self._all_projects()]
        missing = [k for k in self.config.projects if k not in visible]
        scope = [] if missing else [p["identifier"] for p in self._scoped_projects()]
        return {
            "user": user.get("login") or "anonymous",
            "admin": bool(user.get("admin")),
            "projects_visible": visible,
            "projects_missing": missing,
            "projects_in_scope": scope,
            "statuses": [s.get("name") for s in self.ctx.statuses.values()],
        }

    def _scope_filter(self) -> list[Filter]:
        if not self.config.projects:
            return []
        return [("project_id", "=", [str(p["id"]) for p in self._scoped_projects()])]

    # --- catalogue ------------------------------------------------------------------

    def fetch_projects(self) -> Iterator[Project | Skipped | Problem]:
        ctx = self.ctx
        scope = self._scoped_projects()
        for payload in self._no_tracking:
            yield Problem(
                "the Issue tracking module is off in this project (Settings > Modules): "
                "project skipped",
                where=f"project {payload.get('identifier')}",
            )
        for payload in scope:
            try:
                yield mapping.to_project(payload, ctx)
            except RecordError as exc:
                yield Skipped(exc)

    def fetch_people(self) -> Iterator[Person | Skipped]:
        ctx = self.ctx
        try:
            users: list[dict[str, Any]] = list(self.client.users())
        except ConfigError as exc:
            # /users.json is admin-only: members of the projects in scope are the next best
            # thing (names without e-mail).
            log.info("%s: %s; reading project memberships instead", self.name, exc)
            found: dict[str, dict[str, Any]] = {}
            for project in self._scoped_projects():
                for m in self.client.memberships(project["id"]):
                    user = m.get("user")  # group memberships carry "group" instead
                    if user and user.get("id") is not None:
                        found.setdefault(str(user["id"]), user)
            users = list(found.values())
        for user in users:
            try:
                yield mapping.to_person(user, ctx)
            except RecordError as exc:
                yield Skipped(exc)

    def fetch_milestones(self) -> Iterator[Milestone | Skipped | Problem]:
        ctx = self.ctx
        seen: set[str] = set()
        for project in self._scoped_projects():
            try:
                versions = self.client.versions(project["id"])
            except ConfigError as exc:
                # one project refusing its versions (a role without "View issues") must
                # not fail the source: that project's versions are skipped this run
                yield Problem(
                    f"versions not readable, skipped: {exc}",
                    where=f"project {project.get('identifier')}",
                    incomplete=True,
                )
                continue
            for version in versions:
                vid = str(version.get("id"))
                if vid in seen:  # shared versions show in every project that shares them
                    continue
                seen.add(vid)
                try:
                    yield mapping.to_milestone(version, ctx)
                except RecordError as exc:
                    yield Skipped(exc)

    # --- work items -----------------------------------------------------------------

    def _issue_pages(
        self, filters: list[Filter], relations: bool = True
    ) -> Iterator[list[dict[str, Any]]]:
        size = self.client.page_size
        last = 0
        while True:
            keyset: list[Filter] = [("issue_id", ">=", [str(last + 1)])] if last else []
            page = self.client.issues_page(filters + keyset, limit=size, relations=relations)
            issues = page.get("issues") or []
            if not issues:
                return
            yield issues
            # total_count counts what is left from this page on (the id filter moves);
            # a short page ends it only when the server does not say (older Redmines).
            total = page.get("total_count")
            if len(issues) >= int(total) if total is not None else len(issues) < size:
                return
            last = max(int(i["id"]) for i in issues)

    def _needs_history(self, issue: Mapping[str, Any], full_run: bool) -> bool:
        """Whether to read this issue's journals: not when the store already holds this
        very ``updated_on`` (an incremental run re-lists the lookback window: nothing
        moved, nothing to read), nor on a full run when the issue was never edited
        (``updated_on == created_on``: Redmine writes no journal at creation). The latter
        misses a journal written in the very second of creation (a script): set
        ``read_unedited_history: true`` for such sites."""
        updated = parse_utc(issue.get("updated_on"))
        known = self.known_updated.get(str(issue.get("id")))
        if known is not None and updated is not None and known == updated:
            return False
        if full_run and not self.flag("read_unedited_history", False):
            return updated is None or updated != parse_utc(issue.get("created_on"))
        return True

    def _children(
        self, issue: Mapping[str, Any], history: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None]:
        """(full issue with journals or None, its time entries or None); runs in a worker.
        Time entries are read with the journals, or on a full run for any issue with
        spent time; an unchanged issue's entries come from the recent-entries pass."""
        iid = str(issue["id"])
        full = self.client.issue(iid) if history else None
        entries = None
        if (mapping.number(issue.get("spent_hours")) or 0.0) > 0 and (
            history or not self.known_updated
        ):
            entries = list(self.client.time_entries([("issue_id", "=", [iid])]))
        return full, entries

    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[StreamItem]:
        ctx = self.ctx
        run_start = dt.datetime.now(dt.UTC)
        filters: list[Filter] = [("status_id", "*", []), *self._scope_filter()]
        if since is not None:
            filters.append(("updated_on", ">=", [format_utc(since)]))
        seen: set[str] = set()
        done: set[str] = set()  # issues whose time entries were read in this run
        workers = max(1, int(self.config.options.get("history_workers", 4)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="redmine") as pool:
            for issues in self._issue_pages(filters):
                page = []
                for issue in issues:
                    iid = str(issue.get("id"))
                    if iid in seen:
                        continue
                    updated = parse_utc(issue.get("updated_on"))
                    if since is not None and updated is not None and updated < since:
                        continue  # Redmine's one-second widening; see the module docstring
                    seen.add(iid)
                    page.append((issue, self._needs_history(issue, since is None)))
                # bounded concurrency: at most `workers` requests in flight; map keeps the
                # page's order, so the stream stays deterministic
                results = pool.map(lambda job: self._children(*job), page)
                for (issue, history), (full, entries) in zip(page, results, strict=True):
                    if entries is not None or history:
                        done.add(str(issue["id"]))
                    yield from self._issue_stream(issue, ctx, history, full, entries)
        yield from self._project_time(since, done, ctx)
        yield Checkpoint(run_start)

    def _issue_stream(
        self,
        issue: dict[str, Any],
        ctx: mapping.MappingContext,
        history: bool,
        full: dict[str, Any] | None,
        entries: list[dict[str, Any]] | None,
    ) -> Iterator[StreamItem]:
        iid = str(issue["id"])
        try:
            item = mapping.to_work_item(issue, ctx)
            if history and full is None:
                # Deleted between the list page and this read: nothing to store; the
                # census at the end of the run soft-deletes it.
                return
            journals: list[dict[str, Any]] = (full or {}).get("journals") or []
            cf_names = mapping.custom_field_names(issue, ctx)
            changes = list(mapping.to_status_changes(iid, journals, ctx, cf_names))
            links = list(mapping.to_links(full or issue, ctx))  # the list has relations too
            worklogs = [mapping.to_worklog(e, ctx) for e in entries or ()]
        except RecordError as exc:
            yield Skipped(exc)
            return
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            yield Skipped(
                RecordError(
                    f"cannot map journals/relations/time entries: {type(exc).__name__}: {exc}",
                    source=self.name,
                    where=f"issue #{iid}",
                )
            )
            return
        yield item
        yield from changes
        yield from worklogs
        yield from links
        # complete: links always (the list page carries them), history when read, time
        # entries when read or when the issue has none
        kinds = {"links"}
        if history:
            kinds.add("status_changes")
        if history or entries is not None or not mapping.number(issue.get("spent_hours")):
            kinds.add("worklogs")
        yield ChildrenComplete(iid, frozenset(kinds))

    def _project_time(
        self, since: dt.datetime | None, done: set[str], ctx: mapping.MappingContext
    ) -> Iterator[StreamItem]:
        """Recent time entries on incremental runs; on full runs the time logged on the
        projects themselves, under each project's pseudo item (``to_project_time_item``)."""
        if since is not None:
            yield from self._recent_worklogs(since, done, ctx)
            return
        by_project: dict[str, list[dict[str, Any]]] = {}
        try:
            for entry in self.client.time_entries([("issue_id", "!*", []), *self._scope_filter()]):
                pid = str((entry.get("project") or {}).get("id") or "")
                by_project.setdefault(pid, []).append(entry)
        except ConfigError as exc:
            yield Problem(f"project-level time entries not readable: {exc}", where="time entries")
            return
        scoped = {str(p["id"]): p for p in self._scoped_projects()}
        for pid, rows in by_project.items():
            if pid not in scoped:
                continue
            yield mapping.to_project_time_item(scoped[pid], ctx)
            for entry in rows:
                try:
                    yield mapping.to_worklog(entry, ctx)
                except RecordError as exc:
                    yield Skipped(exc)
            yield ChildrenComplete(mapping.project_time_id(pid), frozenset({"worklogs"}))

    def _recent_worklogs(
        self, since: dt.datetime, done: set[str], ctx: mapping.MappingContext
    ) -> Iterator[StreamItem]:
        days = int(self.config.options.get("worklog_window_days", 30))
        spent_from = (since - dt.timedelta(days=days)).date().isoformat()
        filters: list[Filter] = [("spent_on", ">=", [spent_from]), *self._scope_filter()]
        scoped = {str(p["id"]): p for p in self._scoped_projects()}
        pseudo_sent: set[str] = set()
        for entry in self.client.time_entries(filters):
            issue_id = str((entry.get("issue") or {}).get("id") or "")
            if issue_id in done:
                continue  # read with its issue in this run: complete already
            changed = parse_utc(entry.get("updated_on") or entry.get("created_on"))
            if changed is not None and changed < since:
                continue
            pid = str((entry.get("project") or {}).get("id") or "")
            if not issue_id:
                if pid not in scoped:
                    continue
                if pid not in pseudo_sent:  # the item the entry hangs on, before it
                    pseudo_sent.add(pid)
                    yield mapping.to_project_time_item(scoped[pid], ctx)
            try:
                yield mapping.to_worklog(entry, ctx)
            except RecordError as exc:
                yield Skipped(exc)

    def _project_id(self, project_key: str) -> str | None:
        return next((k for k, v in self.ctx.project_keys.items() if v == project_key), None)

    def _has_project_time(self, pid: str) -> bool | None:
        """Whether time is logged on the project itself (its pseudo item exists); None
        when time entries are not readable."""
        try:
            page = self.client.get(
                "/time_entries.json",
                [
                    *filter_params([("issue_id", "!*", []), ("project_id", "=", [pid])]),
                    ("limit", "1"),
                ],
            )
        except ConfigError:
            return None
        return int(page.get("total_count") or 0) > 0

    def census(self, project_key: str) -> Iterator[str]:
        """Ids of the project's own issues (not its subprojects': they are projects of their
        own), key-set paged on id."""
        pid = self._project_id(project_key)
        if pid is None:
            # Deleted (or archived) in Redmine: so are its issues.
            log.warning("%s: project %s is no longer listed by Redmine", self.name, project_key)
            return
        filters: list[Filter] = [("status_id", "*", []), ("project_id", "=", [pid])]
        for issues in self._issue_pages(filters, relations=False):
            for issue in issues:
                yield str(issue["id"])
        if self._has_project_time(pid):
            yield mapping.project_time_id(pid)

    def census_total(self, project_key: str) -> int | None:
        """What ``census`` would list, counted: the ``total_count`` of the same query with
        ``limit=1`` (closed issues included), plus the project's pseudo time item. None
        (the engine then lists every id) for a project Redmine no longer lists, a refused
        query or a server that does not say ``total_count``."""
        pid = self._project_id(project_key)
        if pid is None:
            return None
        filters: list[Filter] = [("status_id", "*", []), ("project_id", "=", [pid])]
        try:
            total = self.client.issues_page(filters, limit=1, relations=False).get("total_count")
        except ConfigError:
            return None
        has_time = self._has_project_time(pid)
        if total is None or has_time is None:
            return None
        return int(total) + int(has_time)
