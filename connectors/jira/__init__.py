"""Jira connector (Cloud and Data Center).

Paging and cursor design (the part that decides "never lost, never doubled"):

* Every search is key-set paged on the immutable issue id: each page is a fresh query
  ``<scope> [AND updated >= "<since>"] AND id > <last id> ORDER BY id ASC``. Offset paging
  (Data Center ``startAt``, and a Cloud ``nextPageToken`` that continues an offset) skips an
  item whenever an earlier one leaves the result set or moves to the end mid-run (issue
  updated, deleted or moved): everything after it shifts one place forward across the page
  boundary. Ids never change and ``id > last`` does not depend on positions, so no shift can
  skip anything; an issue updated during the run is either still ahead (read fresh) or
  already read (its new ``updated`` is >= run start, so the next run reads it). Ids are also
  de-duplicated within a run. On Cloud ``/rest/api/3/search/jql`` answers without
  ``nextPageToken`` on its last page: that (or a short page) ends the chain; the token itself
  is not sent back because key-set paging needs none. The removed ``/search`` is never used.
* ``Checkpoint`` is yielded once, at the end of a complete pass, with the run's start time.
  Mid-run checkpoints would be unsafe here: results come in id order, so an unread issue
  with a higher id may have an older ``updated`` than anything read so far; a cursor past it
  would lose it after a crash. (With ``ORDER BY updated`` a per-page cursor would be safe
  only without shifts, which offset paging cannot promise.) The cursor never passes the run
  start, so edits landing during the run are re-read next time. A crash re-reads the window;
  writes are upserts, so that costs time, not correctness.
* ``since`` becomes JQL ``updated >= "yyyy-MM-dd HH:mm"``: JQL dates are minute precision
  and read in the searching user's time zone (``/myself`` ``timeZone``), so ``since`` is
  converted to that zone and floored to the minute. Flooring only widens the window;
  re-reading is harmless. The lookback (search indexes lag writes) is applied by the sync
  engine, which passes ``cursor - lookback`` as ``since``; a caller without an engine can
  set ``extra_lookback_minutes``.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pmohub.connectors.base import (
    Checkpoint,
    ChildrenComplete,
    Connector,
    Problem,
    Skipped,
    SourceConfig,
    StreamItem,
)
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.jira import mapping, values
from pmohub.connectors.jira.client import USERS_PERMISSION, JiraClient, Refused
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Iteration, Milestone, Person, Project, Worklog

log = logging.getLogger("pmohub.jira")

BASE_FIELDS = (
    "summary,status,issuetype,priority,assignee,reporter,created,updated,resolutiondate,"
    "resolution,duedate,labels,components,fixVersions,timeoriginalestimate,timeestimate,"
    "timespent,project,parent,issuelinks"
)
ALL_KINDS = frozenset({"status_changes", "worklogs", "links"})
CLOUD_KINDS = frozenset({"status_changes", "links"})  # Cloud worklogs: separate feed


def jql_since(since: dt.datetime, lookback: dt.timedelta, zone: dt.tzinfo) -> str:
    """``since`` (UTC) minus ``lookback``, as a JQL date literal in the user's zone, floored
    to the minute (JQL has no seconds; flooring widens, never narrows, the window)."""
    local = (since - lookback).astimezone(zone).replace(second=0, microsecond=0)
    return local.strftime("%Y-%m-%d %H:%M")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(slots=True)
class _Site:
    deployment: str
    version: str
    user: dict[str, Any]
    zone: dt.tzinfo
    zone_name: str
    ctx: mapping.MappingContext
    all_fields: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Page:
    issues: list[dict[str, Any]]
    histories: dict[str, list[dict[str, Any]]]
    worklogs: dict[str, list[dict[str, Any]]]
    epic_ids: dict[str, str]


class JiraConnector(Connector):
    type: ClassVar[str] = "jira"
    # Incremental runs read the sprints issues name from the window's issues only
    # (_sprints_from_items): the whole-site light pass was most of an incremental run.
    narrows_iterations: ClassVar[bool] = True
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["jira"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        self._client: JiraClient | None = None
        self._site: _Site | None = None
        self._epic_ids: dict[str, str] = {}

    # --- set-up ---------------------------------------------------------------------

    @property
    def client(self) -> JiraClient:
        if self._client is None:
            opts = self.config.options
            self._client = JiraClient(
                self.config,
                env=self.env,
                max_retries=int(opts.get("max_retries", 6)),
                max_wait_s=float(opts.get("max_wait_s", 60.0)),
            )
        return self._client

    @property
    def site(self) -> _Site:
        if self._site is None:
            info = self.client.detect()
            user = self.client.myself()
            zone_name = user.get("timeZone") or "UTC"
            try:
                zone: dt.tzinfo = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("%s: unknown user time zone %r, using UTC", self.name, zone_name)
                zone = dt.UTC
            all_fields = self.client.fields()
            found = mapping.discover_fields(all_fields, self.config.fields)
            by_name = {str(f.get("name")): str(f.get("id")) for f in all_fields}
            ctx = mapping.MappingContext(
                source=self.name,
                base_url=self.client.base_url,
                fields=found,
                field_ids_by_name=by_name,
                status_map=dict(self.config.status_map),
                excluded_resolutions=frozenset(self.config.excluded_resolutions),
            )
            self._site = _Site(
                deployment=self.client.deployment or "datacenter",
                version=str(info.get("version") or ""),
                user=user,
                zone=zone,
                zone_name=zone_name,
                ctx=ctx,
                all_fields=all_fields,
            )
        return self._site

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def check(self) -> dict[str, Any]:
        site = self.site
        projects = [p.get("key") for p in self.client.projects()]
        wanted = list(self.config.projects)
        missing = [k for k in wanted if k not in projects]
        return {
            "deployment": "Cloud" if site.deployment == "cloud" else "Data Center",
            "version": site.version,
            "user": site.user.get("displayName") or mapping.person_id(site.user),
            "user_id": mapping.person_id(site.user),
            "time_zone": site.zone_name,
            "custom_fields": dict(site.ctx.fields),
            "projects_visible": projects,
            "projects_missing": missing,
            "auth": self.client.auth_kind,
        }

    # --- scope ------------------------------------------------------------------------

    def _scope(self) -> str:
        jql = self.config.options.get("jql")
        if jql:
            return f"({jql})"
        if self.config.projects:
            return "project in (" + ", ".join(_quote(k) for k in self.config.projects) + ")"
        return "project is not EMPTY"

    def _project_keys(self) -> list[str]:
        if self.config.projects:
            return list(self.config.projects)
        return [p["key"] for p in self.client.projects()]

    def _fields_param(self) -> str:
        custom = ",".join(sorted(set(self.site.ctx.fields.values())))
        return BASE_FIELDS + ",worklog" + ("," + custom if custom else "")

    # --- simple fetchers ------------------------------------------------------------------

    def fetch_projects(self) -> Iterator[Project | Skipped]:
        ctx = self.site.ctx
        for key in self._project_keys():
            payload = self.client.project(key)
            try:
                yield mapping.to_project(payload, ctx)
            except RecordError as exc:
                yield Skipped(exc)

    def fetch_people(self) -> Iterator[Person | Skipped | Problem]:
        ctx = self.site.ctx
        seen: set[str] = set()
        try:
            for user in self.client.users():
                # Cloud lists apps and add-ons too; only real accounts carry work.
                if user.get("accountType") not in (None, "atlassian"):
                    continue
                try:
                    person = mapping.to_person(user, ctx)
                except RecordError as exc:
                    yield Skipped(exc)
                    continue
                if person.external_id not in seen:
                    seen.add(person.external_id)
                    yield person
        except Refused as exc:
            # Most PMO bot accounts lack the global permission to list users (403): the
            # people are then the ones the issues name, read in one light pass.
            why = (
                f"lacks the global permission '{USERS_PERMISSION}'"
                if exc.status == 403
                else f"was refused (HTTP {exc.status})"
            )
            yield Problem(
                f"user list skipped: the account {why}; people are taken from the issues' "
                "assignees and reporters instead (grant it to list every user)",
                where="people",
                incomplete=True,
            )
            yield from self._people_from_items(seen)

    def _people_from_items(self, seen: set[str]) -> Iterator[Person | Skipped]:
        ctx = self.site.ctx
        for issue in self._light_pass(self._scope(), "assignee,reporter"):
            fields = issue.get("fields") or {}
            for name in ("assignee", "reporter"):
                user = fields.get(name)
                pid = mapping.person_id(user)
                if not pid or pid in seen:
                    continue
                seen.add(pid)
                try:
                    yield mapping.to_person(user, ctx)
                except RecordError as exc:
                    yield Skipped(exc)

    def _light_pass(self, where: str, fields: str) -> Iterator[dict[str, Any]]:
        """Every issue of ``where`` with only ``fields``, key-set paged on id, guarded."""
        size = max(1, int(self.config.page_size))
        last = 0
        while True:
            jql = where + (f" AND id > {last}" if last else "") + " ORDER BY id ASC"
            page = self.client.search_page(jql, fields=fields, max_results=size)
            issues = page.get("issues") or []
            if not issues:
                return
            self._guard_progress(issues, last, "issue search")
            yield from issues
            if not self._more(page, len(issues), size):
                return
            last = int(issues[-1]["id"])

    def _guard_progress(self, issues: list[dict[str, Any]], last: int, what: str) -> None:
        """A server (or a proxy cache) that ignores ``id > N`` answers the first page again
        and again; without this the loop would never end."""
        if last and int(issues[0]["id"]) <= last:
            raise ConfigError(
                f"{what} made no progress: asked for issues with id > {last}, the server "
                f"answered from id {issues[0]['id']} (it ignores the JQL id bound; a proxy "
                "caching search answers?). Stopped instead of looping forever",
                source=self.name,
            )

    def fetch_milestones(self) -> Iterator[Milestone | Skipped | Problem]:
        ctx = self.site.ctx
        for key in self._project_keys():
            try:
                versions = self.client.versions(key)
            except Refused as exc:
                yield Problem(
                    f"versions of {key} skipped: {exc}", where=f"versions {key}", incomplete=True
                )
                continue
            for version in versions:
                try:
                    yield mapping.to_milestone(version, ctx, key)
                except (KeyError, TypeError, ValueError) as exc:
                    yield Skipped(
                        RecordError(
                            f"cannot map version: {exc!r}",
                            source=self.name,
                            where=f"version {version.get('id')} of {key}",
                        )
                    )

    def fetch_iterations(self) -> Iterator[Iteration | Skipped | Problem]:
        seen: set[str] = set()
        refused = False
        for key in self._project_keys():
            try:
                for board in self.client.boards(key):
                    for sprint in self.client.sprints(board["id"]):
                        yield from self._iteration(sprint, key, seen)
            except Refused as exc:
                refused = True
                yield Problem(
                    f"boards/sprints of {key} skipped: {exc}",
                    where=f"sprints {key}",
                    incomplete=True,
                )
        default = refused or not self.client.is_cloud
        if self.site.ctx.fields.get("sprint") and self.flag("sprints_from_items", default):
            yield from self._sprints_from_items(seen)

    def flag(self, name: str, default: bool) -> bool:
        return bool(self.config.options.get(name, default))

    def _iteration(
        self, sprint: Mapping[str, Any], key: str | None, seen: set[str]
    ) -> Iterator[Iteration | Skipped]:
        sid = str(sprint.get("id"))
        if sid in seen:  # a sprint can show on several boards
            return
        seen.add(sid)
        try:
            yield mapping.to_iteration(sprint, self.site.ctx, key)
        except (KeyError, TypeError, ValueError) as exc:
            yield Skipped(
                RecordError(f"cannot map sprint: {exc!r}", source=self.name, where=f"sprint {sid}")
            )

    def _sprints_from_items(self, seen: set[str]) -> Iterator[Iteration | Skipped]:
        """Sprints the board listing lacks but issues name: their sprint field carries the
        name, state and dates (Data Center strings, Cloud objects), so items never point at
        a sprint the store does not have. One light pass over issues that have a sprint;
        on an incremental run (``catalogue_since``) only over the window's issues: a sprint
        newly named by an issue bumps its ``updated``, and the engine keeps the sprints
        stored items name from deletion. (A sprint only unchanged issues name, on a board
        the account cannot see, is refreshed by the next full sync or issue edit.)"""
        fid = self.site.ctx.fields["sprint"]
        window = self._window(self.catalogue_since)
        try:
            issues = list(self._light_pass(f"{self._scope()} AND sprint is not EMPTY{window}", fid))
        except Refused:  # a site without Jira Software knows no `sprint` in JQL
            issues = list(self._light_pass(self._scope() + window, fid))
        for issue in issues:
            fields = issue.get("fields") or {}
            key = str(issue.get("key") or "").rpartition("-")[0] or None
            for sprint in values.sprint_objects(fields.get(fid)):
                yield from self._iteration(sprint, key, seen)

    def census(self, project_key: str) -> Iterator[str]:
        """Ids only, key-set paged on id (deletions during the census cannot shift pages)."""
        last = 0
        size = 5000  # servers cap ids-only pages (DC 1000, Cloud 5000); asking more is free
        while True:
            jql = f"project = {_quote(project_key)}" + (f" AND id > {last}" if last else "")
            page = self.client.search_page(jql + " ORDER BY id ASC", fields="id", max_results=size)
            issues = page.get("issues") or []
            if issues:
                self._guard_progress(issues, last, "census")
            for issue in issues:
                yield str(issue["id"])
            if not issues or not self._more(page, len(issues), size):
                return
            last = int(issues[-1]["id"])

    def census_total(self, project_key: str) -> int | None:
        """Data Center: the exact ``total`` of the census query, from one request for no
        rows (``maxResults=0``), so an incremental run with nothing deleted skips the id
        listing (aggregator.ingest.sync.census_unchanged). Cloud's ``/search/jql`` gives no
        total (only an approximate count, which must not decide deletions): None there."""
        if self.client.is_cloud:
            return None
        try:
            page = self.client.search_page(
                f"project = {_quote(project_key)}", fields="id", max_results=0
            )
        except Refused:
            return None  # the listing then runs and reports the refusal itself
        total = page.get("total")
        return int(total) if isinstance(total, int) and not isinstance(total, bool) else None

    def _more(self, page: Mapping[str, Any], got: int, asked: int) -> bool:
        if self.client.is_cloud:
            # /search/jql: the token is absent on the last page (and there is no total).
            return bool(page.get("nextPageToken")) and not page.get("isLast", False)
        total = page.get("total")
        if total is not None and got >= int(total):
            return False
        # Data Center may cap maxResults below what we asked: only an empty page ends it.
        return got > 0

    # --- work items -----------------------------------------------------------------------

    def _extra_lookback(self) -> dt.timedelta:
        return dt.timedelta(minutes=int(self.config.options.get("extra_lookback_minutes", 0)))

    def _window(self, since: dt.datetime | None) -> str:
        """The JQL clause of an incremental window (empty for a full pass)."""
        if since is None:
            return ""
        return f' AND updated >= "{jql_since(since, self._extra_lookback(), self.site.zone)}"'

    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[StreamItem]:
        site = self.site
        ctx = site.ctx
        cloud = self.client.is_cloud
        run_start = dt.datetime.now(dt.UTC)
        lookback = self._extra_lookback()
        where = self._scope() + self._window(since)
        feed = cloud and bool(self.config.options.get("worklog_feed", False))
        kinds = CLOUD_KINDS if feed else ALL_KINDS
        seen: set[str] = set()
        for page in self._prefetched(self._fetch_pages(where)):
            for issue in page.issues:
                iid = str(issue.get("id"))
                if iid in seen:
                    continue
                seen.add(iid)
                yield from self._issue_stream(issue, page, ctx, kinds)
        if feed:
            yield from self._cloud_worklogs(since, lookback, seen)
        yield Checkpoint(run_start)

    def _issue_stream(
        self,
        issue: dict[str, Any],
        page: _Page,
        ctx: mapping.MappingContext,
        kinds: frozenset[str],
    ) -> list[StreamItem]:
        """One issue's stream items, in order: its problems, the item, its changes,
        worklogs and links, then ``ChildrenComplete``. A list, not a generator: ~12 items
        per issue pass through here, and a generator's resume per item cost more than
        the list (the issue is mapped whole before its first item is handed on anyway)."""
        iid = str(issue["id"])
        key = issue.get("key") or iid
        problems: list[Problem] = []
        try:
            parent_id, parent_key = mapping.parent_ref(issue, ctx)
            if parent_id is None and parent_key:
                parent_id = page.epic_ids.get(parent_key)
            item = mapping.to_work_item(issue, ctx, parent_id=parent_id, problems=problems)
            histories = page.histories.get(iid)
            if histories is None:
                histories = ((issue.get("changelog") or {}).get("histories")) or []
            changes = mapping.to_status_changes(iid, histories, ctx, problems=problems, where=key)
            links = list(mapping.to_links(issue, ctx))
            worklogs: list[Worklog] = []
            if "worklogs" in kinds:
                raw_wl = page.worklogs.get(iid)
                if raw_wl is None:
                    raw_wl = ((issue.get("fields") or {}).get("worklog") or {}).get(
                        "worklogs"
                    ) or []
                worklogs = [mapping.to_worklog(w, ctx, iid) for w in raw_wl]
        except RecordError as exc:
            return [Skipped(exc)]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return [
                Skipped(
                    RecordError(
                        f"cannot map issue history/links/worklogs: {type(exc).__name__}: {exc}",
                        source=self.name,
                        where=f"issue {key}",
                    )
                )
            ]
        out: list[StreamItem] = [*problems, item]
        out += changes
        out += worklogs
        out += links
        out.append(ChildrenComplete(iid, kinds))
        return out

    def _fetch_pages(self, where: str) -> Iterator[_Page]:
        """Search pages with their missing pieces fetched (complete changelogs, worklogs
        beyond the embedded ones, epic ids for Data Center Epic Link keys)."""
        client = self.client
        cloud = client.is_cloud
        size = max(1, int(self.config.page_size))
        fields = self._fields_param()
        last = 0
        while True:
            jql = where + (f" AND id > {last}" if last else "") + " ORDER BY id ASC"
            data = client.search_page(jql, fields=fields, max_results=size, expand="changelog")
            issues = data.get("issues") or []
            if not issues:
                return
            self._guard_progress(issues, last, "issue search")
            yield self._complete_page(issues, cloud)
            if not self._more(data, len(issues), size):
                return
            last = int(issues[-1]["id"])

    def _complete_page(self, issues: list[dict[str, Any]], cloud: bool) -> _Page:
        client = self.client
        ctx = self.site.ctx
        histories: dict[str, list[dict[str, Any]]] = {}
        truncated = []
        for issue in issues:
            cl = issue.get("changelog") or {}
            got = len(cl.get("histories") or ())
            total = cl.get("total")
            if total is not None and int(total) > got:
                truncated.append(str(issue["id"]))
        if truncated:
            if cloud:
                merged: dict[str, dict[str, dict[str, Any]]] = {i: {} for i in truncated}
                for issue_id, entries in client.changelogs_bulk(truncated):
                    bucket = merged.setdefault(issue_id, {})
                    for h in entries:
                        bucket[str(h["id"])] = h  # created may be epoch ms here (values)
                for issue_id, bucket in merged.items():
                    histories[issue_id] = sorted(bucket.values(), key=lambda h: int(h["id"]))
            else:
                for issue_id in truncated:
                    histories[issue_id] = client.changelog(issue_id)
        worklogs: dict[str, list[dict[str, Any]]] = {}
        for issue in issues:
            wl = (issue.get("fields") or {}).get("worklog") or {}
            got = len(wl.get("worklogs") or ())
            if int(wl.get("total") or 0) > got:
                # Jira embeds at most 20 worklogs per issue; the rest from the issue's list.
                worklogs[str(issue["id"])] = client.issue_worklogs(str(issue["id"]))
        # Data Center Epic Link holds the epic's key; parent_id must be the epic's id.
        epic_ids: dict[str, str] = {}
        wanted: set[str] = set()
        for issue in issues:
            self._epic_ids[issue["key"]] = str(issue["id"])
        for issue in issues:
            pid, pkey = mapping.parent_ref(issue, ctx)
            if pid is None and pkey:
                if pkey in self._epic_ids:
                    epic_ids[pkey] = self._epic_ids[pkey]
                else:
                    wanted.add(pkey)
        if wanted:
            epic_ids.update(self._resolve_keys(sorted(wanted)))
        return _Page(issues=issues, histories=histories, worklogs=worklogs, epic_ids=epic_ids)

    def _resolve_keys(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(keys), 100):
            chunk = keys[i : i + 100]
            jql = "key in (" + ", ".join(_quote(k) for k in chunk) + ")"
            try:
                page = self.client.search_page(jql, fields="key", max_results=len(chunk))
            except ConfigError:
                # A key that no longer exists makes the whole JQL invalid (400); resolve
                # one by one so the others still get their parent.
                for k in chunk:
                    try:
                        one = self.client.search_page(
                            f"key = {_quote(k)}", fields="key", max_results=1
                        )
                    except ConfigError:
                        continue
                    for issue in one.get("issues") or ():
                        found[k] = str(issue["id"])
                continue
            by_key = {iss["key"]: str(iss["id"]) for iss in page.get("issues") or ()}
            for k in chunk:
                # A moved epic answers under its new key: match what we asked by position
                # only when unambiguous.
                if k in by_key:
                    found[k] = by_key[k]
            if len(by_key) == 1 and len(chunk) == 1 and chunk[0] not in found:
                found[chunk[0]] = next(iter(by_key.values()))
        self._epic_ids.update(found)
        return found

    def _prefetched(self, pages: Iterator[_Page]) -> Iterator[_Page]:
        """Fetch the next pages in a background thread while the caller maps and stores the
        current one: the HTTP wait and the store writes overlap instead of adding up."""
        depth = int(self.config.options.get("prefetch_pages", 8))
        if depth <= 0:
            yield from pages
            return
        q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        stop = threading.Event()

        def run() -> None:
            try:
                for page in pages:
                    while not stop.is_set():
                        try:
                            q.put(("page", page), timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(("end", None))
            except BaseException as exc:  # handed to the consumer, re-raised there
                q.put(("error", exc))

        worker = threading.Thread(target=run, name=f"jira-prefetch-{self.name}", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = q.get()
                if kind == "page":
                    yield value
                elif kind == "end":
                    return
                else:
                    raise value
        finally:
            stop.set()
            worker.join(timeout=5)

    def _cloud_worklogs(
        self, since: dt.datetime | None, lookback: dt.timedelta, seen: set[str]
    ) -> Iterator[StreamItem]:
        """Cloud: worklogs changed since the window start from the /worklog/updated feed,
        bodies from /worklog/list, kept when their issue is in scope. Adding or editing a
        worklog bumps the issue's ``updated``, so its issue was normally read in this run;
        others are checked against the scope with one id query per batch (issues synced by
        an earlier run)."""
        ctx = self.site.ctx
        since_ms = 0 if since is None else int((since - lookback).timestamp() * 1000)
        in_scope: dict[str, bool] = {}
        for ids, _until in self.client.worklogs_updated(since_ms):
            if not ids:
                continue
            bodies = self.client.worklogs_list(ids)
            unknown = sorted({str(w.get("issueId")) for w in bodies} - seen - set(in_scope))
            if unknown:
                in_scope.update(self._ids_in_scope(unknown))
            for w in bodies:
                issue_id = str(w.get("issueId"))
                if issue_id in seen or in_scope.get(issue_id):
                    try:
                        yield mapping.to_worklog(w, ctx, issue_id)
                    except RecordError as exc:
                        yield Skipped(exc)

    def _ids_in_scope(self, ids: list[str]) -> dict[str, bool]:
        out = dict.fromkeys(ids, False)
        for i in range(0, len(ids), 100):
            chunk = ids[i : i + 100]
            jql = f"{self._scope()} AND id in ({', '.join(chunk)})"
            page = self.client.search_page(jql, fields="id", max_results=len(chunk))
            for issue in page.get("issues") or ():
                out[str(issue["id"])] = True
        return out
