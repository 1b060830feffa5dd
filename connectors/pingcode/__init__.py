"""PingCode connector (open API v1, cloud or private deployment).

* ``url``: ``https://open.pingcode.com`` (the default) or a private deployment's
  ``https://<host>/open``. ``client_id`` (or ``client_id_env``) and ``token_env`` (the
  variable holding the app's client secret) obtain an enterprise token (client
  credentials), renewed by the client. ``projects``: project identifiers (``SCR``); all
  projects the app can see when empty.
* Work items are listed for up to 20 projects per request (the id filter's limit), with
  ``include_deleted=true``: a deletion then leaves a tombstone in place instead of
  shifting the offset pages under the reader; tombstones are not yielded, so the census
  (live items only) soft-deletes them. If ``total`` changes during a pass (an item moved
  out of the listed projects), the pass is read again; pairs already read are skipped.
* Incremental: ``updated_between=<since>`` (no upper bound, so an item edited during the
  run stays in the listing). No mid-run ``Checkpoint``: the listing is in creation order.
* History: one ``transition_histories`` request per changed item (PingCode has no bulk
  history), skipped for items never updated since creation. Relations: one request per
  changed item (``relations: false`` saves it). Worklogs: ``/v1/workloads`` per project
  in windows under 3 months (PingCode's cap with ``pilot_id``); a full pass reads from the
  project's creation, an incremental one the last ``worklog_lookback_days`` (hours are
  often booked late), so only full passes prune deleted worklogs. Rejected or terminated
  hours (``review_state``) are not actuals and are left out.
* Degrading: a bad value loses its field (reported), an unmappable item is skipped, a
  refused or broken history/relations answer loses that stream for the item (its stored
  children are kept), a refused sprint/version listing loses that project's listing.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pmohub.connectors.base import (
    ChildrenComplete,
    ClientConnector,
    Skipped,
    SourceConfig,
    StreamItem,
)
from pmohub.connectors.errors import ConfigError, ConnectorError, RecordError
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.pingcode import mapping
from pmohub.connectors.pingcode.client import MAX_IDS, RATE_PER_MIN, PingCodeClient
from pmohub.connectors.records import Iteration, Milestone, Person, Project

log = logging.getLogger("pmohub.pingcode")

#: Under PingCode's 3-month workload window in every reading (3 months >= 89 days).
WINDOW_S = 89 * 86_400
_PASSES = 3


class PingCodeConnector(ClientConnector[PingCodeClient]):
    type: ClassVar[str] = "pingcode"
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["pingcode"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        opts = config.options
        zone_name = str(opts.get("time_zone") or "Asia/Shanghai")
        try:
            self.zone: dt.tzinfo = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time_zone {zone_name!r}", source=config.name) from exc
        if not opts.get("client_id") and not opts.get("client_id_env"):
            raise ConfigError(
                "PingCode needs the app's client_id (option 'client_id' or 'client_id_env') "
                "and its secret in the variable named by token_env",
                source=config.name,
            )
        self.clock = time.time
        self.sleep = time.sleep
        self._projects: list[dict[str, Any]] | None = None
        self._ctx: mapping.MappingContext | None = None
        self._census: dict[str, list[str]] | None = None

    def make_client(self, *, max_retries: int, max_wait_s: float) -> PingCodeClient:
        opts = self.config.options
        client_id = opts.get("client_id")
        if not client_id:
            name = str(opts["client_id_env"])
            client_id = self.env.get(name)
            if not client_id:
                raise ConfigError(
                    f"environment variable {name} (client_id_env) is not set", source=self.name
                )
        secret = self.config.secret(self.env)
        if not secret:
            raise ConfigError(
                "set token_env to the variable holding the PingCode app's client secret",
                source=self.name,
            )
        return PingCodeClient(
            self.config,
            client_id=str(client_id),
            client_secret=secret,
            max_retries=max_retries,
            max_wait_s=max_wait_s,
            rate_per_min=float(opts.get("rate_per_min", RATE_PER_MIN)),
            clock=self.clock,
            sleep=self.sleep,
        )

    # -- catalogue -------------------------------------------------------------------
    @property
    def projects(self) -> list[dict[str, Any]]:
        if self._projects is None:
            listed = self.client.projects()
            wanted = self.config.projects
            if not wanted:
                self._projects = listed
            else:
                by_key = {str(p["identifier"]): p for p in listed} | {
                    str(p["id"]): p for p in listed
                }
                missing = [k for k in wanted if k not in by_key]
                if missing:
                    raise ConfigError(
                        f"project(s) {', '.join(missing)} not found or outside the app's data "
                        "scope: check 'projects' (identifiers like SCR)",
                        source=self.name,
                    )
                self._projects = list({by_key[k]["id"]: by_key[k] for k in wanted}.values())
        return self._projects

    @property
    def ctx(self) -> mapping.MappingContext:
        if self._ctx is None:
            names: dict[str, str] = {}
            for p in self.projects:
                try:
                    for t in self.client.types(str(p["id"])):
                        names.setdefault(str(t["id"]), str(t.get("name") or t["id"]))
                except ConfigError as exc:  # custom types keep their ids as names
                    log.warning("%s: work item types of %s: %s", self.name, p["identifier"], exc)
            states = self.config.options.get("worklog_review_states")
            self._ctx = mapping.MappingContext(
                source=self.name,
                zone=self.zone,
                status_map=dict(self.config.status_map),
                type_names=names,
                fields=dict(self.config.fields),
                review_states=frozenset(map(str, states))
                if states
                else mapping.COUNTED_REVIEW_STATES,
            )
        return self._ctx

    def check(self) -> dict[str, Any]:
        listed = self.client.projects()
        keys = {str(p["identifier"]) for p in listed}
        wanted = list(self.config.projects) or sorted(keys)
        visible = [k for k in wanted if k in keys]
        items = 0
        for p in listed:
            if p["identifier"] in visible:
                items += int(
                    (self.client.progress(str(p["id"])).get("work_item") or {}).get("total") or 0
                )
        return {
            "projects_visible": visible,
            "projects_missing": [k for k in wanted if k not in keys],
            "work_items": items,
            "token_expires_at": dt.datetime.fromtimestamp(
                self.client.expires_at, dt.UTC
            ).isoformat(),
        }

    def fetch_projects(self) -> Iterator[Project | Skipped]:
        for p in self.projects:
            try:
                yield mapping.to_project(p, self.ctx)
            except (KeyError, TypeError, ValueError) as exc:
                yield Skipped(
                    RecordError(f"project: {exc!r}", source=self.name, where=str(p.get("id")))
                )

    def fetch_people(self) -> Iterator[Person | Skipped]:
        directory = {str(u["id"]): u for u in self.client.users()}
        seen: set[str] = set()
        for p in self.projects:
            for member in self.client.members(str(p["id"])):
                user = member.get("user") or member
                uid = str(user.get("id") or "")
                if not uid or uid in seen:
                    continue
                seen.add(uid)
                try:
                    yield mapping.to_person({**user, **directory.get(uid, {})}, self.ctx)
                except (KeyError, TypeError, ValueError) as exc:
                    yield Skipped(RecordError(f"user: {exc!r}", source=self.name, where=uid))

    def _listing(self, kind: str, p: dict[str, Any]) -> Iterator[Any]:
        """A project's sprints or versions; a refusal loses this listing, not the source."""
        try:
            fetch = self.client.sprints if kind == "sprints" else self.client.versions
            yield from list(fetch(str(p["id"])))
        except ConfigError as exc:
            yield Skipped(
                RecordError(
                    f"{kind} not readable: {exc}", source=self.name, where=str(p["identifier"])
                )
            )

    def fetch_iterations(self) -> Iterator[Iteration | Skipped]:
        for p in self.projects:
            if p.get("type") not in (None, "scrum", "hybrid"):
                continue  # kanban and waterfall projects have no sprints
            for s in self._listing("sprints", p):
                yield (
                    s
                    if isinstance(s, Skipped)
                    else mapping.to_iteration(s, str(p["identifier"]), self.ctx)
                )

    def fetch_milestones(self) -> Iterator[Milestone | Skipped]:
        for p in self.projects:
            for v in self._listing("versions", p):
                yield (
                    v
                    if isinstance(v, Skipped)
                    else mapping.to_milestone(v, str(p["identifier"]), self.ctx)
                )

    # -- work items ------------------------------------------------------------------
    def _workloads(
        self, since: dt.datetime | None
    ) -> tuple[dict[str, list[dict[str, Any]]], set[str], list[Skipped]]:
        """Workloads by work item id, the projects whose reading is complete, problems."""
        by_item: dict[str, list[dict[str, Any]]] = {}
        complete: set[str] = set()
        problems: list[Skipped] = []
        if not self.flag("worklogs"):
            return by_item, complete, problems
        now = int(self.clock())
        lookback = int(self.config.options.get("worklog_lookback_days", 92)) * 86_400
        for p in self.projects:
            pid = str(p["id"])
            if since is None:
                first = min(int(p.get(k) or now) for k in ("created_at", "start_at"))
            else:
                first = int(since.timestamp()) - lookback
            seen: set[str] = set()
            try:
                start = first - 86_400  # report_at is a local midnight: a day's margin
                while start <= now:
                    end = min(start + WINDOW_S, now + 86_400)
                    for wl in self.client.workloads(pid, start, end):
                        if str(wl["id"]) not in seen:
                            seen.add(str(wl["id"]))
                            item = mapping.ref_id(wl.get("principal")) or ""
                            by_item.setdefault(item, []).append(wl)
                    start = end + 1
                if since is None:
                    complete.add(pid)
            except ConnectorError as exc:
                problems.append(
                    Skipped(
                        RecordError(
                            f"workloads not readable: {exc}",
                            source=self.name,
                            where=str(p["identifier"]),
                        )
                    )
                )
        return by_item, complete, problems

    def _listed(self, since: dt.datetime | None) -> Iterator[dict[str, Any]]:
        ids = [str(p["id"]) for p in self.projects]
        updated_from = int(since.timestamp()) if since is not None else None
        seen: set[tuple[str, Any]] = set()
        for n in range(0, len(ids), MAX_IDS):
            chunk = ids[n : n + MAX_IDS]
            for _ in range(_PASSES):
                totals: set[int] = set()
                for page in self.client.work_item_pages(
                    chunk, updated_from=updated_from, include_deleted=True
                ):
                    totals.add(int(page.get("total") or 0))
                    for w in page["values"]:
                        mark = (str(w.get("id")), w.get("updated_at"))
                        if mark not in seen:
                            seen.add(mark)
                            yield w
                if len(totals) <= 1:
                    break
                log.info("%s: the listing changed while it was read; reading it again", self.name)

    def _children(self, w: dict[str, Any], item_id: str) -> Iterator[StreamItem | str]:
        """Status changes and links of one item, then the kinds read completely."""
        if self.flag("history") and w.get("updated_at") != w.get("created_at"):
            try:
                yield from mapping.to_status_changes(
                    item_id, self.client.transitions(item_id), self.ctx
                )
                yield "status_changes"
            except (ConnectorError, KeyError, TypeError, ValueError) as exc:
                yield Skipped(
                    RecordError(
                        f"transition histories lost: {exc}",
                        source=self.name,
                        where=str(w.get("identifier")),
                    )
                )
        elif self.flag("history"):
            yield "status_changes"  # never updated since creation: no transition to read
        if self.flag("relations"):
            try:
                links = [
                    mapping.to_link(r, item_id, self.ctx) for r in self.client.relations(item_id)
                ]
                yield from links
                yield "links"
            except (ConnectorError, KeyError, TypeError, ValueError) as exc:
                yield Skipped(
                    RecordError(
                        f"relations lost: {exc}", source=self.name, where=str(w.get("identifier"))
                    )
                )

    def _worklogs(self, loads: list[dict[str, Any]], where: str) -> Iterator[StreamItem]:
        for wl in loads:
            if not mapping.counted(wl, self.ctx):
                continue
            try:
                yield mapping.to_worklog(wl, self.ctx)
            except (KeyError, TypeError, ValueError) as exc:
                yield Skipped(
                    RecordError(f"workload {wl.get('id')}: {exc}", source=self.name, where=where)
                )

    def fetch_work_items(self, since: Any) -> Iterator[StreamItem]:
        ctx = self.ctx
        loads, complete, problems = self._workloads(since)
        yield from problems
        project_of = {str(p["identifier"]): str(p["id"]) for p in self.projects}
        census: dict[str, list[str]] = {key: [] for key in project_of}
        tombstones: set[str] = set()
        for w in self._listed(since):
            if w.get("is_deleted"):
                tombstones.add(str(w.get("id")))
                continue
            found: list[RecordError] = []
            try:
                item = mapping.to_work_item(w, ctx, found)
            except RecordError as exc:
                yield Skipped(exc)
                key = (w.get("project") or {}).get("identifier")
                if key and w.get("id"):  # not loaded, but alive: the census must not drop it
                    census.setdefault(str(key), []).append(str(w["id"]))
                continue
            yield from (Skipped(e) for e in found)
            yield item
            census.setdefault(item.project_key, []).append(item.external_id)
            kinds = set()
            for child in self._children(w, item.external_id):
                if isinstance(child, str):
                    kinds.add(child)
                else:
                    yield child
            if self.flag("worklogs"):
                yield from self._worklogs(loads.pop(item.external_id, []), item.key)
                if project_of.get(item.project_key) in complete:
                    kinds.add("worklogs")
            yield ChildrenComplete(item.external_id, frozenset(kinds))
        # hours booked (incremental window) on items that did not change themselves
        for item_id, rest in loads.items():
            if item_id and item_id not in tombstones and since is not None:
                yield from self._worklogs(rest, item_id)
        self._census = census if since is None else None

    def census(self, project_key: str) -> Iterator[str]:
        if self._census is not None and project_key in self._census:
            # the full pass just read every live item: no second listing
            yield from self._census[project_key]
            return
        pid = next((str(p["id"]) for p in self.projects if p["identifier"] == project_key), None)
        if pid is None:
            return
        # tombstones included: a deletion during the census must not shift its pages
        for page in self.client.work_item_pages([pid], updated_from=None, include_deleted=True):
            for w in page["values"]:
                if (
                    not w.get("is_deleted")
                    and (w.get("project") or {}).get("identifier") == project_key
                ):
                    yield str(w["id"])
