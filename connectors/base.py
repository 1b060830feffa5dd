"""The connector contract (perceval style): a client does HTTP, pure ``to_*`` functions map
payloads to records, and a ``Connector`` subclass yields records. A connector never knows
where its records go: no database, no pandas, no click here.
"""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pmohub.connectors.errors import ConfigError, RecordError

# re-exported: plugin connectors list these in their option_keys ({**RETRY_OPTIONS, ...})
from pmohub.connectors.options import RETRY_OPTIONS as RETRY_OPTIONS
from pmohub.connectors.records import (
    Iteration,
    Link,
    Milestone,
    Person,
    Project,
    StatusChange,
    WorkItem,
    Worklog,
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Marker in a record stream: every work item updated before ``cursor`` has been yielded.

    The sync engine commits the buffered page together with this cursor, so a crash right
    after loses nothing. A connector that cannot promise order (a spreadsheet) yields none,
    and the cursor moves only at the end of a complete pass.
    """

    cursor: dt.datetime


#: The kinds of children a work item has in the stream (see ``ChildrenComplete``).
CHILD_KINDS: frozenset[str] = frozenset({"status_changes", "worklogs", "links"})


@dataclass(frozen=True, slots=True)
class ChildrenComplete:
    """Marker: the children of the kinds in ``kinds`` yielded so far for ``work_item_id`` are
    its complete set, so stored ones of those kinds not among them were deleted upstream.

    ``kinds`` exists because some trackers deliver one kind through a separate feed (Jira
    Cloud worklogs come from ``/worklog/updated``, only those changed since the cursor): such
    a connector leaves that kind out, and the engine must not prune it for this item.
    """

    work_item_id: str
    kinds: frozenset[str] = CHILD_KINDS


@dataclass(frozen=True, slots=True)
class Skipped:
    """Marker: one payload could not be mapped. The connector yields this instead of raising
    (an exception would end the generator and lose the rest of the stream); the sync engine
    counts it as skipped and reports ``error`` in the run's problems. Allowed in every
    ``fetch_*`` stream, not only work items.
    """

    error: RecordError


#: Every stored problem text of a ``Problem`` starts with this (a skipped record's does not),
#: so ``pmohub sync`` / ``pmohub runs`` can tell "kept, but degraded" from "skipped".
WARNING_PREFIX = "warning: "


@dataclass(frozen=True, slots=True)
class Problem:
    """Marker: something was degraded, nothing was skipped (docs/degrade-policy.md).

    Two uses, both allowed in every ``fetch_*`` stream:

    - a value that could not be mapped: the record is yielded with that field cleared, and a
      ``Problem`` locating it (``where`` = item key, ``field``, the raw ``value``);
    - an auxiliary endpoint that refused (403/404/400 on users, boards, sprints, versions, a
      project without a module): the connector yields a ``Problem`` with ``incomplete=True``
      in that stream and goes on without it. The engine then infers no deletions from that
      stream for this run (a refused sprint list must not soft-delete every stored sprint;
      in the work-item stream it skips the census).

    Pure ``to_*`` mappers cannot yield: they take an optional ``problems`` list and append
    to it; the connector yields what they appended. The engine stores ``str(problem)``
    prefixed with ``WARNING_PREFIX`` in the run's problems; the record counts are untouched.
    """

    message: str
    where: str | None = None  # item key, project key or stream name
    field: str | None = None
    value: Any = None  # the raw value that could not be mapped
    incomplete: bool = False

    def __str__(self) -> str:
        loc = ", ".join(
            p
            for p in (
                self.where,
                f"field {self.field!r}" if self.field else None,
                f"value {_short(self.value)}" if self.value is not None else None,
            )
            if p
        )
        return f"{loc}: {self.message}" if loc else self.message


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


StreamItem = (
    WorkItem | StatusChange | Worklog | Link | Checkpoint | ChildrenComplete | Skipped | Problem
)


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One configured source, as validated by the config loader."""

    name: str
    type: str
    url: str | None = None
    token_env: str | None = None
    email: str | None = None
    username: str | None = None
    projects: tuple[str, ...] = ()
    status_map: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    issue_types: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    excluded_resolutions: tuple[str, ...] = ()
    registry_project: str | None = None
    verify_tls: bool = True
    timeout_s: float = 60.0
    page_size: int = 100
    lookback_minutes: int = 60
    #: the deletion circuit breaker (aggregator/ingest/guard.py): a census may soft-delete
    #: at most this share of the source's live items unconfirmed (capped at one half)
    max_deletion_share: float = 0.2
    #: confirms a census the breaker would hold (one-off: remove it after the sync)
    accept_deletions: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)  # type-specific keys

    def secret(self, env: Mapping[str, str] | None = None) -> str | None:
        """The token, read from the environment variable the config names, never stored."""
        if not self.token_env:
            return None
        env = os.environ if env is None else env
        value = env.get(self.token_env)
        if not value:
            raise ConfigError(
                f"environment variable {self.token_env} (token_env) is not set", source=self.name
            )
        return value


class Connector(ABC):
    """Base class of every connector. Subclasses set ``type`` and implement the fetchers.

    ``option_keys`` declares the type-specific config keys (name -> Python type) so the
    config loader can reject unknown ones with a did-you-mean.
    """

    type: ClassVar[str]
    option_keys: ClassVar[Mapping[str, type]] = {}
    #: True when ``fetch_work_items`` honours ``since`` (else every run is a full pass).
    incremental: ClassVar[bool] = True
    #: True when the connector wants ``known_updated`` filled before an incremental
    #: ``fetch_work_items`` (it then skips re-reading children of unchanged items).
    wants_known_updated: ClassVar[bool] = False
    #: external_id -> stored ``updated_at`` of this source's live items updated at or
    #: after ``since``; set by the sync engine on incremental runs when wanted, else empty.
    known_updated: Mapping[str, dt.datetime] = {}
    #: True when ``fetch_iterations`` can list, on incremental runs, only the iterations
    #: named by items updated since ``catalogue_since`` (plus every board/team listing):
    #: the sync engine then sets ``catalogue_since`` before the catalogue and keeps the
    #: iterations stored live items still name out of that run's soft-deletions.
    narrows_iterations: ClassVar[bool] = False
    #: The incremental window start (``cursor - lookback``); None on full runs.
    catalogue_since: dt.datetime | None = None

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        self.config = config
        self.name = config.name
        self.env = os.environ if env is None else env

    @abstractmethod
    def check(self) -> dict[str, Any]:
        """Test the connection; return facts worth showing (version, user, projects...)."""

    @abstractmethod
    def fetch_projects(self) -> Iterator[Project]: ...

    def fetch_people(self) -> Iterator[Person]:
        return iter(())

    @abstractmethod
    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[StreamItem]:
        """Work items updated at or after ``since`` (all when None), each followed by its
        status changes, worklogs and links; ``Checkpoint`` markers where order allows."""

    def fetch_iterations(self) -> Iterator[Iteration]:
        return iter(())

    def fetch_milestones(self) -> Iterator[Milestone]:
        return iter(())

    @abstractmethod
    def census(self, project_key: str) -> Iterator[str]:
        """Every live work item external_id in the project (ids only, cheap)."""

    def census_total(self, project_key: str) -> int | None:
        """How many ids ``census(project_key)`` would list, from one cheap request (a
        count), or None when the connector cannot tell (the default). On incremental runs
        the sync engine skips the id listing when the totals of every project equal the
        store's live items (``aggregator.ingest.sync.census_unchanged``); it never deletes
        on a count."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions or temp files."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Closable(Protocol):
    def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_Closable)


class ClientConnector(Connector, Generic[ClientT]):
    """A connector that talks to its tracker through one client object.

    The client is built on first use, not in ``__init__``: constructing a connector (the
    config loader does, to validate a source) must not read the secret or open a session.
    Subclasses build it in ``make_client`` from the ``RETRY_OPTIONS``
    (connectors/options.py; list them in their ``option_keys``); ``close()`` closes it and a later use builds a new one. A subclass
    that cannot work without ``projects`` says what to list there in ``projects_hint``.
    """

    projects_hint: ClassVar[str | None] = None
    _client: ClientT | None = None

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        if self.projects_hint and not config.projects:
            raise ConfigError(self.projects_hint, source=config.name)

    def flag(self, name: str, default: bool = True) -> bool:
        """A boolean option (``history: false`` switches a feed off)."""
        return bool(self.config.options.get(name, default))

    @abstractmethod
    def make_client(self, *, max_retries: int, max_wait_s: float) -> ClientT: ...

    @property
    def client(self) -> ClientT:
        if self._client is None:
            opts = self.config.options
            self._client = self.make_client(
                max_retries=int(opts.get("max_retries", 6)),
                max_wait_s=float(opts.get("max_wait_s", 60.0)),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


#: Local time of a file without zones (spreadsheets, plans) unless ``time_zone`` says.
DEFAULT_TIME_ZONE = "Asia/Shanghai"


class FileConnector(Connector):
    """A connector over one local file named by the option ``path`` (a spreadsheet, a project
    plan), re-read whole on every run: not incremental. ``time_zone`` is the file's local
    time. Options are checked here as well as by the config loader: these connectors are
    also built directly (``pmohub demo``, scripts), where a mistyped key would otherwise
    fall back to a default unnoticed.
    """

    incremental: ClassVar[bool] = False
    #: What ``path`` must name, for the error when it is missing.
    path_hint: ClassVar[str] = "the file"

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        opts = config.options
        unknown = sorted(set(opts) - set(self.option_keys))
        if unknown:
            raise ConfigError(
                f"unknown {self.type} option(s) {', '.join(unknown)}; "
                f"known: {', '.join(self.option_keys)}",
                source=self.name,
            )
        if not opts.get("path"):
            raise ConfigError(
                f"{self.type} source needs option 'path' ({self.path_hint})", source=self.name
            )
        self.path = Path(str(opts["path"])).expanduser()
        zone_name = str(opts.get("time_zone") or DEFAULT_TIME_ZONE)
        try:
            self.zone: dt.tzinfo = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time_zone {zone_name!r}", source=self.name) from exc


def probe_each(names: Iterable[str], probe: Callable[[str], object]) -> tuple[list[str], list[str]]:
    """``check()`` helper: (visible, missing) names, missing being those ``probe`` answers
    with a ``ConfigError`` (404, 403: not there or not readable with this token)."""
    visible: list[str] = []
    missing: list[str] = []
    for name in names:
        try:
            probe(name)
            visible.append(name)
        except ConfigError:
            missing.append(name)
    return visible, missing


def map_status_category(status: str, default: str, status_map: Mapping[str, str]) -> str:
    """Apply the source's ``status_map`` over the tracker's own category.

    ``status_map`` values that are canonical categories override; other values (``review``,
    ``blocked``) are sub-states of in_progress for roll-ups and kept by rules via ``status``.
    """
    mapped = status_map.get(status)
    if mapped in ("todo", "in_progress", "done", "cancelled"):
        return mapped
    if mapped in ("review", "blocked"):
        return "in_progress"
    return default
