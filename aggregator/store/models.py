"""SQLAlchemy 2.x models of the central store. Table and column names are a contract
(docs/architecture.md): columns reuse the record field names from ``connectors.records``.

Conventions
- integer ``id`` primary keys; child tables reference ``work_item_id`` / ``project_id`` /
  ``person_id``;
- every synced table is unique on ``(source, external_id)`` and carries ``deleted_at`` (soft
  delete: history is never hard-deleted) and ``synced_at``;
- every datetime is stored as UTC (``UTCDateTime`` makes SQLite, which has no time zones,
  hand back aware UTC values like PostgreSQL does).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC in, aware UTC out, on every dialect. Naive input is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} written to the store")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class SyncedMixin:
    """Columns every synced table has."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100), ForeignKey("sources.name"))
    external_id: Mapped[str] = mapped_column(String(255))
    synced_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    # Digest of the synced content (aggregator/store/writes.py): an unchanged row is neither
    # rewritten nor counted as updated, so re-running a sync provably changes nothing.
    content_hash: Mapped[str | None] = mapped_column(String(32))


class Source(Base):
    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(50))
    url: Mapped[str | None] = mapped_column(Text)
    deployment: Mapped[str | None] = mapped_column(String(50))  # e.g. Cloud / Server
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime | None]


class Project(SyncedMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "source", "key"),
    )
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    lead: Mapped[str | None] = mapped_column(String(255))  # person external_id at the source
    url: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(255))


class Person(Base):
    """One human, merged across tools (by e-mail, config aliases, `people link`)."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]


class PersonAlias(SyncedMixin, Base):
    """One account in one source, pointing at the merged person."""

    __tablename__ = "person_aliases"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    username: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    linked_by: Mapped[str] = mapped_column(String(20), default="sync")  # sync|email|config|manual


class WorkItem(SyncedMixin, Base):
    __tablename__ = "work_items"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "project_id", "status_category"),
        Index(None, "source", "key"),
        Index(None, "assignee_id"),
        Index(None, "source", "parent_external_id"),
        # Covering index for the status roll-up (aggregator/status/rollup.py): its GROUP BY reads
        # these narrow entries in index order instead of sorting a million wide rows.
        Index(
            "ix_work_items_rollup",
            "project_id",
            "status_category",
            "type",
            "status",
            "story_points",
            "original_estimate_h",
            "deleted_at",
        ),
    )
    key: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    project_key: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(100))
    status_category: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str | None] = mapped_column(String(100))
    assignee: Mapped[str | None] = mapped_column(String(255))  # external id at the source
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reporter: Mapped[str | None] = mapped_column(String(255))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    parent_external_id: Mapped[str | None] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("work_items.id"))
    created_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(100))
    start_on: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    story_points: Mapped[float | None] = mapped_column(Float)
    original_estimate_h: Mapped[float | None] = mapped_column(Float)
    remaining_estimate_h: Mapped[float | None] = mapped_column(Float)
    time_spent_h: Mapped[float | None] = mapped_column(Float)
    progress: Mapped[float | None] = mapped_column(Float)  # 0..1, migration 0003
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    milestone_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    iteration_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    url: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StatusChange(SyncedMixin, Base):
    __tablename__ = "status_changes"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "work_item_id", "changed_at"),
    )
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id"))
    field: Mapped[str] = mapped_column(String(100))
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[dt.datetime]
    author: Mapped[str | None] = mapped_column(String(255))


class Worklog(SyncedMixin, Base):
    __tablename__ = "worklogs"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "work_item_id"),
        Index(None, "person_id", "started_at"),
    )
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id"))
    author: Mapped[str | None] = mapped_column(String(255))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    started_at: Mapped[dt.datetime]
    seconds: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime | None]


class Iteration(SyncedMixin, Base):
    __tablename__ = "iterations"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    start_at: Mapped[dt.datetime | None]
    end_at: Mapped[dt.datetime | None]
    complete_at: Mapped[dt.datetime | None]
    goal: Mapped[str | None] = mapped_column(Text)


class Milestone(SyncedMixin, Base):
    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("source", "external_id"),)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(Text)
    start_on: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    released: Mapped[bool] = mapped_column(Boolean, default=False)
    released_on: Mapped[dt.date | None] = mapped_column(Date)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)


class WorkItemLink(SyncedMixin, Base):
    __tablename__ = "work_item_links"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "source", "from_external_id"),
        Index(None, "source", "to_external_id"),
    )
    # External ids, not FKs: a link may point at an item not synced yet (or in a project
    # outside the configured set); readers join on (source, external_id).
    from_external_id: Mapped[str] = mapped_column(String(255))
    to_external_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(50))


class SyncState(Base):
    """The incremental cursor, committed in the same transaction as the page it covers."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("source", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100), ForeignKey("sources.name"))
    scope: Mapped[str] = mapped_column(String(100))  # "work_items", "worklogs", ...
    cursor: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime]


class SyncLock(Base):
    """Per-source lock row (SQLite); PostgreSQL also takes an advisory lock."""

    __tablename__ = "sync_locks"
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))  # host:pid:run
    acquired_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]


class SyncRun(Base):
    __tablename__ = "sync_runs"
    __table_args__ = (Index(None, "source", "started_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    job_id: Mapped[str | None] = mapped_column(String(64))  # nightly run this belongs to
    mode: Mapped[str] = mapped_column(String(20))  # full | incremental
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(20))  # running | ok | failed | partial | suspect
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    cursor_before: Mapped[str | None] = mapped_column(Text)
    cursor_after: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)  # skipped-record messages


class Finding(Base):
    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("rule_id", "subject"),
        Index(None, "project_id"),
        Index(None, "project_key"),
        Index(None, "state"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(50))
    rule_version: Mapped[str | None] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(500))  # "project:CRM", "issue:jira_main:10023"
    scope: Mapped[str] = mapped_column(String(20))  # portfolio|programme|project|issue|person
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    # The *hierarchy* project key (config), which a tracker project id cannot express
    # (one hierarchy project may span trackers); NULL for portfolio/person subjects.
    project_key: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20))  # new|persisting|resolved|waived
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]
    waiver_id: Mapped[int | None] = mapped_column(ForeignKey("waivers.id"))


class Waiver(Base):
    __tablename__ = "waivers"
    __table_args__ = (UniqueConstraint("rule_id", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(50))
    scope: Mapped[str] = mapped_column(String(500))  # "project:OPS-MIG"
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(255))
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime]


class Snapshot(Base):
    """Daily per-project metrics, so trends need no recomputation from history."""

    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("project_key", "taken_on"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_key: Mapped[str] = mapped_column(String(255))  # hierarchy key from the policy
    taken_on: Mapped[dt.date] = mapped_column(Date)
    taken_at: Mapped[dt.datetime]
    rag: Mapped[str | None] = mapped_column(String(10))
    progress_count: Mapped[float | None] = mapped_column(Float)
    progress_estimate: Mapped[float | None] = mapped_column(Float)
    items_total: Mapped[int | None] = mapped_column(Integer)
    items_done: Mapped[int | None] = mapped_column(Integer)
    compliance: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Baseline(Base):
    """One row per baselined item (or milestone / project end) per baseline taken."""

    __tablename__ = "baselines"
    __table_args__ = (Index(None, "project_key", "taken_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_key: Mapped[str] = mapped_column(String(255))  # hierarchy key from the policy
    label: Mapped[str] = mapped_column(String(100))  # plan-approved | CR-123 | manual
    taken_at: Mapped[dt.datetime]
    reconstructed: Mapped[bool] = mapped_column(Boolean, default=False)
    subject_kind: Mapped[str] = mapped_column(String(20))  # work_item | milestone | project
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_items.id"))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"))
    story_points: Mapped[float | None] = mapped_column(Float)
    original_estimate_h: Mapped[float | None] = mapped_column(Float)
    start_on: Mapped[dt.date | None] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)


class Revision(Base):
    """A change counter per writer: ``source:<name>`` (bumped by every sync transaction
    that changed rows of that source), ``findings``, ``baselines``. Bumped in the
    same transaction as the change, so a cached result computed at a set of revisions is
    provably current while they are unchanged (``aggregator.status.cache``)."""

    __tablename__ = "revisions"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    rev: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[dt.datetime]


class StatusCache(Base):
    """The status roll-up of one business date, as computed at ``fingerprint`` (the store
    revisions, the config and the code): ``pmohub status`` answers from it while the
    fingerprint still matches. Frames are pandas Table Schema JSON (dtypes round-trip)."""

    __tablename__ = "status_cache"
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[dt.datetime]
    projects: Mapped[str] = mapped_column(Text)
    programmes: Mapped[str] = mapped_column(Text)
    portfolios: Mapped[str] = mapped_column(Text)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)


class JobRun(Base):
    """One nightly/scheduled job execution (sync+check+snapshot+report), for catch-up."""

    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(50))
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    scheduled_for: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# -- BI layer (migration 0004, docs/bi.md): what the bi_v1_* views read from the config ---
# Rewritten whole by aggregator/bi/refresh.py (nightly `bi` step, `pmohub export`).


class BiHierarchy(Base):
    """One row per hierarchy project of the config, with its programme and portfolio."""

    __tablename__ = "bi_hierarchy"
    project_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    project_name: Mapped[str | None] = mapped_column(Text)
    programme_key: Mapped[str | None] = mapped_column(String(255))
    programme_name: Mapped[str | None] = mapped_column(Text)
    portfolio_key: Mapped[str | None] = mapped_column(String(255))
    portfolio_name: Mapped[str | None] = mapped_column(Text)
    priority_rank: Mapped[int | None] = mapped_column(Integer)
    weight: Mapped[float | None] = mapped_column(Float)
    critical: Mapped[bool] = mapped_column(Boolean)
    pm: Mapped[str | None] = mapped_column(String(255))
    planned_start: Mapped[dt.date | None] = mapped_column(Date)
    planned_end: Mapped[dt.date | None] = mapped_column(Date)
    refreshed_at: Mapped[dt.datetime]


class BiProjectMap(Base):
    """Tracker project (``projects.id``) -> hierarchy project key, as ``pmohub status``
    matches them."""

    __tablename__ = "bi_project_map"
    project_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_key: Mapped[str] = mapped_column(String(255))


class BiItemKind(Base):
    """Tracker item type -> the policy's kind (work, bug, epic, risk, ...)."""

    __tablename__ = "bi_item_kinds"
    type: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))


class BiCalendar(Base):
    """Calendar days with the policy calendar's working days (holidays, make-up days)."""

    __tablename__ = "bi_calendar"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    iso_year: Mapped[int] = mapped_column(Integer)
    iso_week: Mapped[int] = mapped_column(Integer)
    weekday: Mapped[int] = mapped_column(Integer)  # ISO: 1 = Monday
    week_start: Mapped[dt.date] = mapped_column(Date)
    is_weekend: Mapped[bool] = mapped_column(Boolean)
    is_workday: Mapped[bool] = mapped_column(Boolean)


metadata = Base.metadata
