"""MS Project connector: one plan file (MSPDI ``.xml``, or ``.mpp`` with the ``mpp`` extra)
is one project.

A plan has no per-task "updated" time, so every sync is a complete pass
(``incremental = False``) and tasks removed from the plan are soft-deleted through
``census``. A task that cannot be read is reported (file, task UID and name, field) and
skipped, but stays in the census, so a bad cell never deletes the stored copy.

Mapping choices (hierarchy, milestones, status from % complete, baselines, main resource
of multi-resource tasks) are listed in ``connectors/msproject/mapping.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from pmohub.connectors.base import (
    ChildrenComplete,
    FileConnector,
    Skipped,
    SourceConfig,
    StreamItem,
)
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.msproject import mapping
from pmohub.connectors.msproject.reader import Plan, read_plan
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Milestone, Person, Project


def default_project_key(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path.stem).strip("-").upper() or "PLAN"


def _outline_parent(number: str, by_outline: Mapping[str, str]) -> str | None:
    parts = number.split(".")
    while len(parts) > 1:
        parts.pop()
        uid = by_outline.get(".".join(parts))
        if uid is not None:
            return uid
    return None


class MSProjectConnector(FileConnector):
    type: ClassVar[str] = "msproject"
    path_hint: ClassVar[str] = "the .xml or .mpp plan"
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["msproject"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        opts = config.options
        self.ctx = mapping.MappingContext(
            source=self.name,
            project_key=str(opts.get("project_key") or default_project_key(self.path)),
            zone=self.zone,
            status_map=dict(config.status_map),
            summary_type=str(opts.get("summary_type") or "Epic"),
            task_type=str(opts.get("task_type") or "Task"),
            file=self.path.name,
        )

    @cached_property
    def plan(self) -> Plan:
        try:
            return read_plan(self.path)
        except ConfigError as exc:
            if exc.source is None:
                raise ConfigError(str(exc), source=self.name) from exc
            raise

    @cached_property
    def _ctx(self) -> mapping.MappingContext:
        """The context with this plan's custom field ids resolved."""
        ids = mapping.custom_field_ids(self.plan.field_defs, self.config.fields)
        return dataclasses.replace(self.ctx, custom_fields=ids)

    @cached_property
    def _tasks(self) -> list[dict[str, Any]]:
        """Real tasks: not the project summary task (UID 0 / level 0), not blank rows."""
        return [
            t
            for t in self.plan.tasks
            if str(t.get("UID", "")) not in ("", "0")
            and str(t.get("OutlineLevel", "1")) != "0"
            and not mapping.flag(t, "IsNull")
        ]

    @cached_property
    def _milestone_uids(self) -> set[str]:
        return {str(t["UID"]) for t in self._tasks if mapping.flag(t, "Milestone")}

    def close(self) -> None:
        for name in ("plan", "_tasks", "_ctx", "_milestone_uids"):
            self.__dict__.pop(name, None)

    def check(self) -> dict[str, Any]:
        props = self.plan.properties
        return {
            "file": str(self.path),
            "title": props.get("Title") or props.get("Name"),
            "saved": props.get("LastSaved"),
            "project_key": self.ctx.project_key,
            "tasks": len(self._tasks) - len(self._milestone_uids),
            "milestones": len(self._milestone_uids),
            "resources": len(self._work_resources()),
        }

    def fetch_projects(self) -> Iterator[Project]:
        project = mapping.to_project(
            self.plan.properties, self.ctx, self.config.options.get("project_name")
        )
        # The plan's Manager is a name; it is a lead when a work resource has that name.
        manager = (self.plan.properties.get("Manager") or "").strip()
        lead = next(
            (str(r["UID"]) for r in self._work_resources() if manager and r.get("Name") == manager),
            None,
        )
        yield dataclasses.replace(project, lead=lead) if lead else project

    def _work_resources(self) -> list[dict[str, Any]]:
        # Type 1 = work (people); 0 = material, 2 = cost. UID 0 is Project's "unassigned".
        return [
            r
            for r in self.plan.resources
            if str(r.get("UID", "")) not in ("", "0")
            and str(r.get("Type", "1")) == "1"
            and not mapping.flag(r, "IsNull")
        ]

    def fetch_people(self) -> Iterator[Person | Skipped]:
        for resource in self._work_resources():
            try:
                yield mapping.to_person(resource, self.ctx)
            except RecordError as exc:
                yield Skipped(exc)

    def fetch_milestones(self) -> Iterator[Milestone | Skipped]:
        for task in self._tasks:
            if str(task["UID"]) in self._milestone_uids:
                try:
                    yield mapping.to_milestone(task, self.ctx)
                except RecordError as exc:
                    yield Skipped(exc)

    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[StreamItem]:
        """Every task (a plan is re-read completely; ``since`` does not apply)."""
        ctx = self._ctx
        milestones = self._milestone_uids
        by_outline = {
            str(t["OutlineNumber"]): str(t["UID"]) for t in self._tasks if t.get("OutlineNumber")
        }
        successors: dict[str, list[str]] = {}
        reaches: dict[str, list[str]] = {}  # task -> milestones it precedes
        for t in self._tasks:
            uid = str(t["UID"])
            for link in t.get("PredecessorLink") or ():
                pred = str(link.get("PredecessorUID") or "")
                if not pred or pred in milestones:
                    continue
                if uid in milestones:
                    reaches.setdefault(pred, []).append(f"m{uid}")
                else:
                    successors.setdefault(pred, []).append(uid)
        assignments: dict[str, list[dict[str, Any]]] = {}
        for a in self.plan.assignments:
            assignments.setdefault(str(a.get("TaskUID")), []).append(a)

        for task in self._tasks:
            uid = str(task["UID"])
            if uid in milestones:
                continue
            parent = _outline_parent(str(task.get("OutlineNumber") or ""), by_outline)
            facts = mapping.TaskFacts(
                parent_id=parent if parent not in milestones else None,
                milestone_ids=tuple(dict.fromkeys(reaches.get(uid, ()))),
                assignments=tuple(assignments.get(uid, ())),
            )
            try:
                item = mapping.to_work_item(task, ctx, facts)
                worklogs = [mapping.to_worklog(a, ctx) for a in facts.assignments]
                links = [
                    mapping.to_link(uid, s, ctx) for s in dict.fromkeys(successors.get(uid, ()))
                ]
            except RecordError as exc:
                yield Skipped(exc)
                continue
            except (KeyError, TypeError, ValueError) as exc:
                yield Skipped(
                    RecordError(
                        f"cannot map assignments: {type(exc).__name__}: {exc}",
                        source=self.name,
                        where=f"{ctx.file} task UID {uid}",
                    )
                )
                continue
            yield item
            yield from (w for w in worklogs if w is not None)
            yield from links
            yield ChildrenComplete(uid)

    def census(self, project_key: str) -> Iterator[str]:
        if project_key != self.ctx.project_key:
            return
        for task in self._tasks:
            uid = str(task["UID"])
            if uid not in self._milestone_uids:
                yield uid
