"""The typed result of loading a config: :class:`Config` and the hierarchy nodes.

Frozen dataclasses: a loaded config is a value (hashable digest, safe to share between
threads); nothing here parses or validates, see aggregator/config/loader.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pmohub.aggregator.config.schema import (
    CheckContext,
)
from pmohub.connectors.base import SourceConfig
from pmohub.rules.clock import DEFAULT_TZ


@dataclass(frozen=True)
class PersonConfig:
    id: str
    name: str | None = None
    email: str | None = None
    aliases: tuple[str, ...] = ()
    team: str | None = None
    hours_per_day: float | None = None
    allocation: float | None = None
    leave: tuple[tuple[dt.date, dt.date], ...] = ()
    calendar: str | None = None
    active: bool = True


@dataclass(frozen=True)
class CalendarConfig:
    name: str
    weekend: tuple[str, ...] = ("sat", "sun")
    source: str = "none"
    extra_holidays: tuple[dt.date, ...] = ()
    extra_workdays: tuple[dt.date, ...] = ()


@dataclass(frozen=True)
class Waiver:
    rule: str
    scope: str
    reason: str
    expires: dt.date
    approved_by: str | None = None
    subject: str | None = None
    path: str = ""  # dotted path in the file, for Config.where()


@dataclass(frozen=True)
class ProjectSource:
    name: str
    selector: Mapping[str, Any] = field(default_factory=dict)  # jql, group, project...


@dataclass(frozen=True)
class ProjectNode:
    key: str
    name: str | None = None
    source: ProjectSource | None = None
    registry_issue: str | None = None
    priority_rank: int | None = None
    weight: float | None = None
    critical: bool = False
    cadence: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pm: str | None = None
    exempt: tuple[str, ...] = ()
    calendar: str | None = None
    start_on: dt.date | None = None
    due_on: dt.date | None = None
    programme: str | None = None
    portfolio: str | None = None
    path: str = ""
    rag_override: Mapping[str, Any] | None = None  # rag, reason, expires_on


@dataclass(frozen=True)
class ProgrammeNode:
    key: str
    name: str | None = None
    pm: str | None = None
    cadence: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    projects: tuple[ProjectNode, ...] = ()
    portfolio: str | None = None
    path: str = ""


@dataclass(frozen=True)
class PortfolioNode:
    key: str
    name: str | None = None
    owner: str | None = None
    cadence: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    programmes: tuple[ProgrammeNode, ...] = ()
    calendar: str | None = None
    projects: tuple[ProjectNode, ...] = ()  # directly under the portfolio
    path: str = ""

    def all_projects(self) -> list[ProjectNode]:
        return [*self.projects, *(p for g in self.programmes for p in g.projects)]


@dataclass(frozen=True)
class Config:
    path: Path | None
    database: str
    timezone: str = DEFAULT_TZ
    language: str = "zh-CN"
    version: int = 1
    calendars: Mapping[str, CalendarConfig] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    people: tuple[PersonConfig, ...] = ()
    people_exclude: tuple[str, ...] = ()  # patterns of service/app accounts (not people)
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    hierarchy: tuple[PortfolioNode, ...] = ()
    sections: Mapping[str, Any] = field(default_factory=dict)
    env_names: frozenset[str] = frozenset()  # every env var the file names (for redaction)
    lines: Mapping[str, int] = field(default_factory=dict, repr=False)
    #: SHA-256 of the text the config was parsed from ("" when built in code).
    text_sha256: str = field(default="", repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def where(self, path: str) -> str:
        """``file:line`` of a dotted key path (``rules.VAR-003.amber``), or its nearest parent."""
        ctx = CheckContext(self.path.name if self.path else "<config>", self.lines, self.base_dir)
        return ctx.where(path)

    @property
    def database_display(self) -> str:
        return redact_url(self.database)

    def projects(self) -> list[ProjectNode]:
        return [p for pf in self.hierarchy for p in pf.all_projects()]

    def digest(self) -> str:
        """SHA-256 identifying the settings, stable across processes: a cached result
        computed under one digest is not served under another. A parsed config is its
        text (any edit, even a comment, counts; 1 ms where walking a 2,000-project
        hierarchy takes 25 ms; the only values not in the text are the ``${VAR}`` parts
        of URLs, which no number depends on); one built in code is its fields."""
        if self.text_sha256:
            return self.text_sha256
        keep = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("path", "database", "env_names", "lines", "text_sha256")
        }
        text = json.dumps(keep, default=_canonical, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def secret_values(self, env: Mapping[str, str] | None = None) -> list[str]:
        """Current values of every variable the file names, for log redaction."""
        env = os.environ if env is None else env
        return [env[n] for n in sorted(self.env_names) if env.get(n)]


def _canonical(value: Any) -> Any:
    """``json.dumps`` default: config objects as plain JSON (sets sorted: their iteration
    order changes with the interpreter's hash seed). A hook, not a recursive copy: the C
    encoder walks a 2,000-project hierarchy in milliseconds."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    return repr(value)


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"
