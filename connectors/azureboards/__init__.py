"""Azure Boards connector (Azure DevOps Services or Server, REST 7.1).

* ``url`` is the organisation (``https://dev.azure.com/<org>``), ``projects`` the project
  names, ``token_env`` the variable holding a PAT (Work Items: Read; Project and Team: Read).
  ``team`` (default ``<project> Team``) is whose iterations and members are read.
* Ids come from WIQL, key-set paged on the immutable id: ``... AND [System.Id] > <last>
  ORDER BY [System.Id]`` with ``$top`` (``wiql_top``, default 5000; Azure refuses results
  over 20,000), so no query hits the size limit and no edit during the run can shift
  anything. Then ``workitemsbatch`` fetches them 200 at a time with their relations.
* Incremental: ``[System.ChangedDate] >= '<since>'`` with ``timePrecision=true``. Without
  that flag WIQL compares whole days (in the user's profile time zone) and rejects a time;
  the literal is sent in UTC with a ``Z`` so the profile zone does not apply. Seconds are
  floored: it only widens the window.
* History: each changed item's updates feed (state, assignee and iteration changes). No
  worklogs: Azure Boards has CompletedWork totals, not time entries. No milestones.
* Area paths become components. ``area_projects: {"Fabrikam Fiber\\Web": FAB-WEB}`` makes an
  area (with its sub-areas, unless mapped themselves) a project of its own; the census of
  each is a WIQL ``UNDER`` query.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pmohub.connectors.azureboards import mapping
from pmohub.connectors.azureboards.client import BATCH_MAX, AzureBoardsClient
from pmohub.connectors.base import (
    CHILD_KINDS,
    ChildrenComplete,
    ClientConnector,
    Skipped,
    SourceConfig,
    StreamItem,
)
from pmohub.connectors.errors import RecordError
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Iteration, Person, Project
from pmohub.connectors.timestamps import format_utc


class AzureBoardsConnector(ClientConnector[AzureBoardsClient]):
    type: ClassVar[str] = "azureboards"
    projects_hint: ClassVar[str | None] = "list the Azure DevOps projects to read in 'projects'"
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["azureboards"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        self._ctx: mapping.MappingContext | None = None
        self._states: dict[tuple[str, str], str] = {}
        self._types_seen: set[tuple[str, str]] = set()

    def make_client(self, *, max_retries: int, max_wait_s: float) -> AzureBoardsClient:
        return AzureBoardsClient(
            self.config,
            env=self.env,
            max_retries=max_retries,
            max_wait_s=max_wait_s,
        )

    @property
    def area_keys(self) -> dict[str, str]:
        return {str(a): str(k) for a, k in (self.config.options.get("area_projects") or {}).items()}

    def team(self, project: str) -> str:
        return str(self.config.options.get("team") or f"{project} Team")

    @property
    def ctx(self) -> mapping.MappingContext:
        if self._ctx is None:
            paths: dict[str, str] = {}
            for project in self.config.projects:
                for it in self.client.iterations(project, self.team(project)):
                    if it.get("id") is not None:
                        paths[mapping.iteration_path(it, project)] = str(it["id"])
            self._ctx = mapping.MappingContext(
                source=self.name,
                base_url=self.client.base_url,
                status_map=dict(self.config.status_map),
                state_categories=self._states,
                iteration_ids=paths,
                area_keys=self.area_keys,
            )
        return self._ctx

    def _learn_states(self, project: str, work_items: list[dict[str, Any]]) -> None:
        """State categories of the work item types met so far (one request per type)."""
        for wi in work_items:
            kind = str((wi.get("fields") or {}).get("System.WorkItemType") or "")
            if kind and (project, kind) not in self._types_seen:
                self._types_seen.add((project, kind))
                for s in self.client.states(project, kind):
                    if s.get("category"):
                        self._states[(kind, str(s["name"]))] = str(s["category"])

    def check(self) -> dict[str, Any]:
        names = [p["name"] for p in self.client.projects()]
        return {
            "projects_visible": names,
            "projects_missing": [p for p in self.config.projects if p not in names],
        }

    def fetch_projects(self) -> Iterator[Project]:
        for name in self.config.projects:
            yield mapping.to_project(self.client.project(name), self.ctx)
        for area, key in self.area_keys.items():
            team_project = area.split("\\", 1)[0]
            yield Project(
                source=self.name,
                external_id=f"area:{area}",
                key=key,
                name=area.rsplit("\\", 1)[-1],
                url=f"{self.client.base_url}/{team_project}",
                category="area",
            )

    def fetch_people(self) -> Iterator[Person]:
        seen: set[str] = set()
        for project in self.config.projects:
            for member in self.client.team_members(project, self.team(project)):
                identity = member.get("identity") or {}
                if identity.get("id") and identity["id"] not in seen:
                    seen.add(identity["id"])
                    yield mapping.to_person(identity, self.ctx)

    def fetch_iterations(self) -> Iterator[Iteration]:
        for project in self.config.projects:
            for it in self.client.iterations(project, self.team(project)):
                yield mapping.to_iteration(it, project, self.ctx)

    def _ids(self, project: str, since: Any, where: str = "") -> Iterator[list[int]]:
        top = max(1, min(20_000, int(self.config.options.get("wiql_top", 5000))))
        date = ""
        if since is not None:
            date = f" AND [System.ChangedDate] >= '{format_utc(since)}'"
        last = 0
        while True:
            # WIQL, not SQL; interpolated: an int, a formatted datetime, quoted area paths.
            query = (
                "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"  # noqa: S608
                f"{date}{where} AND [System.Id] > {last} ORDER BY [System.Id] ASC"
            )
            ids = self.client.wiql(project, query, top)
            if ids:
                yield ids
            if len(ids) < top:
                return
            last = ids[-1]

    def _under(self, project: str, area: str) -> set[int]:
        quoted = area.replace("'", "''")
        where = f" AND [System.AreaPath] UNDER '{quoted}'"
        return {i for ids in self._ids(project, None, where) for i in ids}

    def fetch_work_items(self, since: Any) -> Iterator[StreamItem]:
        history = self.flag("history")
        kinds = CHILD_KINDS if history else CHILD_KINDS - {"status_changes"}
        ctx = self.ctx
        for project in self.config.projects:
            for ids in self._ids(project, since):
                for start in range(0, len(ids), BATCH_MAX):
                    batch = self.client.batch(project, ids[start : start + BATCH_MAX])
                    self._learn_states(project, batch)
                    for wi in batch:
                        try:
                            item = mapping.to_work_item(wi, ctx)
                        except RecordError as exc:
                            yield Skipped(exc)
                            continue
                        yield item
                        if history:
                            updates = self.client.updates(project, int(wi["id"]))
                            yield from mapping.to_status_changes(item.external_id, updates, ctx)
                        yield from mapping.to_links(wi, ctx)
                        yield ChildrenComplete(item.external_id, kinds)

    def census(self, project_key: str) -> Iterator[str]:
        areas = self.area_keys
        mine = [a for a, k in areas.items() if k == project_key]
        if mine:
            area = mine[0]
            project = area.split("\\", 1)[0]
            ids = self._under(project, area)
            for other in areas:  # deeper areas mapped to another project are theirs
                if other.startswith(area + "\\") and areas[other] != project_key:
                    ids -= self._under(project, other)
        else:
            project = project_key
            ids = {i for batch in self._ids(project, None) for i in batch}
            for area in areas:
                if area == project or area.startswith(project + "\\"):
                    ids -= self._under(project, area)
        yield from (str(i) for i in sorted(ids))
