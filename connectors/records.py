"""The one vocabulary every connector speaks and every store table reuses.

Frozen dataclasses, standard library only. Every datetime is timezone-aware UTC
(``__post_init__`` refuses naive ones: a naive timestamp from a tracker is a data hazard,
not something to guess about). ``external_id`` is the tracker's *immutable* id, never a key
that changes when an issue moves between projects.

Field names are the contract: store columns and DataFrame columns use the same names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

StatusCategory = Literal["todo", "in_progress", "done", "cancelled"]
STATUS_CATEGORIES: tuple[str, ...] = ("todo", "in_progress", "done", "cancelled")
LINK_KINDS: tuple[str, ...] = ("blocks", "relates", "duplicates", "parent", "clones", "other")


#: Per record class, the fields that may hold a datetime: ``dataclasses.fields()`` and the
#: scan over every field cost more than the rest of a record's construction together.
_DATETIME_FIELDS: dict[type, tuple[str, ...]] = {}
_ZERO = dt.timedelta(0)
_UTC = dt.UTC
_DATETIME = dt.datetime


def _datetime_fields(cls: type) -> tuple[str, ...]:
    names = _DATETIME_FIELDS.get(cls)
    if names is None:
        names = _DATETIME_FIELDS[cls] = tuple(
            f.name
            for f in fields(cls)  # type: ignore[arg-type]
            # annotations are strings here (``from __future__ import annotations``); a
            # field typed loosely (Any, object) could still carry a datetime, so keep it
            if any(word in str(f.type) for word in ("datetime", "Any", "object"))
            and f.name != "raw"
        )
    return names


def _check_utc(obj: object, name: str, value: object) -> None:
    """The full check of one field, for what the fast path in ``Record.__post_init__``
    does not take: None is fine, any other datetime must have a zero UTC offset."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() != _ZERO:
            raise ValueError(
                f"{type(obj).__name__}.{name} must be a UTC-aware datetime, got {value!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Base of all records: where it came from and its immutable id there."""

    source: str
    external_id: str
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError(f"{type(self).__name__}: empty source")
        if not self.external_id:
            raise ValueError(f"{type(self).__name__}: empty external_id")
        cls = type(self)
        for name in _DATETIME_FIELDS.get(cls) or _datetime_fields(cls):
            value = getattr(self, name)
            # Fast path first: every parser in connectors/timestamps.py hands out datetimes
            # whose tzinfo *is* dt.UTC, and a sync builds ~10 records per issue; only other
            # values (another zero-offset zone, naive, a subclass) take the full check.
            if value is None or (value.__class__ is _DATETIME and value.tzinfo is _UTC):
                continue
            _check_utc(self, name, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Project(Record):
    key: str
    name: str
    lead: str | None = None  # Person.external_id
    url: str | None = None
    description: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Person(Record):
    display_name: str
    email: str | None = None
    active: bool = True
    username: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkItem(Record):
    key: str
    project_key: str
    title: str
    type: str
    status: str
    status_category: StatusCategory
    priority: str | None = None
    assignee: str | None = None  # Person.external_id
    reporter: str | None = None  # Person.external_id
    parent_id: str | None = None  # WorkItem.external_id of the parent (epic or story)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    resolution: str | None = None
    start_on: dt.date | None = None
    due_on: dt.date | None = None
    story_points: float | None = None
    original_estimate_h: float | None = None
    remaining_estimate_h: float | None = None
    time_spent_h: float | None = None
    # Fraction done as the tracker states it (Redmine done_ratio, MS Project PercentComplete,
    # a spreadsheet's "% complete"), 0..1; None when the tracker does not say. docs/metrics.md 2.3
    # reads it only when there is no remaining estimate.
    progress: float | None = None
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    milestone_ids: tuple[str, ...] = ()  # Milestone.external_id
    iteration_ids: tuple[str, ...] = ()  # Iteration.external_id
    url: str | None = None
    # PMO fields a rule may need (risk probability/impact, CR decision, RAG, ...), keyed by
    # the canonical names of docs/configuration.md `fields:`; values are JSON-serialisable.
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        Record.__post_init__(self)
        if self.status_category not in STATUS_CATEGORIES:
            raise ValueError(
                f"WorkItem {self.key}: status_category {self.status_category!r} "
                f"is not one of {', '.join(STATUS_CATEGORIES)}"
            )
        progress = self.progress
        if progress is not None and (
            isinstance(progress, bool)
            or not isinstance(progress, int | float)
            or not 0.0 <= progress <= 1.0  # also refuses NaN
        ):
            # a ValueError like the check above: every mapper turns it into a RecordError
            # carrying the source and the issue (records stay standard library only)
            raise ValueError(
                f"WorkItem {self.key}: progress {progress!r} is not a fraction between 0 and 1"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChange(Record):
    """One field change from the full history (not the truncated copy APIs embed)."""

    work_item_id: str  # WorkItem.external_id
    field: str
    from_value: str | None
    to_value: str | None
    changed_at: dt.datetime
    author: str | None = None  # Person.external_id


@dataclass(frozen=True, slots=True, kw_only=True)
class Worklog(Record):
    work_item_id: str  # WorkItem.external_id
    author: str | None
    started_at: dt.datetime
    seconds: int
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Iteration(Record):
    name: str
    state: str  # future | active | closed
    project_key: str | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    complete_at: dt.datetime | None = None
    goal: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Milestone(Record):
    name: str
    project_key: str | None = None
    start_on: dt.date | None = None
    due_on: dt.date | None = None
    released: bool = False
    released_on: dt.date | None = None
    archived: bool = False
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Link(Record):
    from_id: str  # WorkItem.external_id
    to_id: str  # WorkItem.external_id
    kind: str  # one of LINK_KINDS


AnyRecord = Project | Person | WorkItem | StatusChange | Worklog | Iteration | Milestone | Link


def utc(value: dt.datetime) -> dt.datetime:
    """Normalise an aware datetime to UTC; refuse naive ones."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: the source must say its time zone")
    return value.astimezone(dt.UTC)
