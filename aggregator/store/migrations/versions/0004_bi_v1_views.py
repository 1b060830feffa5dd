"""BI layer v1: read-only star-schema views (bi_v1_*) and the tables they read from the config

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

The view definitions are frozen here on purpose: ``bi_v1_*`` is a published contract
(docs/bi.md), so a later change is a new migration creating ``bi_v2_*`` beside them, never
an edit of this file. The same names and columns on SQLite and PostgreSQL; only the
expressions that have no common SQL (a timestamp's UTC date, a JSON field) differ.

The four ``bi_*`` tables hold what lives in the config or in code, not in the store
(the portfolio hierarchy, which tracker project belongs to which hierarchy project, the
item kinds, the working-day calendar); the nightly ``bi`` step and ``pmohub export``
rewrite them (aggregator/bi/refresh.py).
"""

# ruff: noqa: S608 - the views are built from this file's constants only, never from input
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = (
    "bi_v1_fact_work_items",
    "bi_v1_fact_status_changes",
    "bi_v1_fact_worklogs",
    "bi_v1_fact_findings",
    "bi_v1_fact_daily_status",
    "bi_v1_dim_project",
    "bi_v1_dim_tracker_project",
    "bi_v1_dim_person",
    "bi_v1_dim_iteration",
    "bi_v1_dim_milestone",
    "bi_v1_dim_calendar",
)


def _day(col: str, dialect: str) -> str:
    """The UTC calendar date of a stored timestamp (SQLite keeps naive UTC text)."""
    if dialect == "sqlite":
        return f"date({col})"
    return f"CAST(({col} AT TIME ZONE 'UTC') AS DATE)"


def _num(doc: str, key: str, dialect: str) -> str:
    """A number out of a JSON column (NULL when absent or not a number)."""
    if dialect == "sqlite":
        return f"CAST(json_extract({doc}, '$.{key}') AS REAL)"
    return (
        f"CASE WHEN json_typeof(({doc})::json -> '{key}') = 'number' "
        f"THEN (({doc})::json ->> '{key}')::double precision END"
    )


def _view_sql(d: str) -> dict[str, str]:
    return {
        "bi_v1_fact_work_items": f"""
SELECT w.id AS work_item_id, w.source, w.external_id, w.key AS item_key, w.project_id,
       m.project_key, w.title, w.type, COALESCE(k.kind, 'work') AS kind, w.status,
       w.status_category, w.priority, w.assignee_id, w.reporter_id, w.parent_id,
       w.created_at, w.updated_at, w.resolved_at, {_day("w.created_at", d)} AS created_on,
       {_day("w.resolved_at", d)} AS resolved_on, w.start_on, w.due_on, w.story_points,
       w.original_estimate_h, w.remaining_estimate_h, w.time_spent_h, w.progress, w.url
FROM work_items w
LEFT JOIN bi_project_map m ON m.project_id = w.project_id
LEFT JOIN bi_item_kinds k ON k.type = w.type
WHERE w.deleted_at IS NULL""",
        "bi_v1_fact_status_changes": f"""
SELECT c.id AS status_change_id, c.work_item_id, w.project_id, m.project_key, c.field,
       c.from_value, c.to_value, c.changed_at, {_day("c.changed_at", d)} AS changed_on,
       c.author
FROM status_changes c
JOIN work_items w ON w.id = c.work_item_id
LEFT JOIN bi_project_map m ON m.project_id = w.project_id
WHERE c.deleted_at IS NULL AND w.deleted_at IS NULL""",
        "bi_v1_fact_worklogs": f"""
SELECT l.id AS worklog_id, l.work_item_id, w.project_id, m.project_key, l.person_id,
       l.author, l.started_at, {_day("l.started_at", d)} AS started_on, l.seconds,
       l.seconds / 3600.0 AS hours
FROM worklogs l
JOIN work_items w ON w.id = l.work_item_id
LEFT JOIN bi_project_map m ON m.project_id = w.project_id
WHERE l.deleted_at IS NULL AND w.deleted_at IS NULL""",
        "bi_v1_fact_findings": f"""
SELECT f.id AS finding_id, f.rule_id, f.rule_version, f.subject, f.scope, f.project_id,
       f.project_key, f.severity, f.state, f.message, f.value, f.threshold,
       f.first_seen_at, f.last_seen_at, f.resolved_at,
       {_day("f.first_seen_at", d)} AS first_seen_on,
       CASE WHEN f.waiver_id IS NULL THEN 0 ELSE 1 END AS waived
FROM findings f""",
        "bi_v1_fact_daily_status": f"""
SELECT s.id AS snapshot_id, s.project_key, s.taken_on, s.taken_at, s.rag,
       s.progress_count, s.progress_estimate, s.items_total, s.items_done, s.compliance,
       {_num("s.metrics", "spi", d)} AS spi, {_num("s.metrics", "spi_t", d)} AS spi_t,
       {_num("s.metrics", "cpi", d)} AS cpi, {_num("s.metrics", "ac_h", d)} AS actual_h
FROM snapshots s""",
        "bi_v1_dim_project": """
SELECT h.project_key, h.project_name, h.programme_key, h.programme_name, h.portfolio_key,
       h.portfolio_name, h.priority_rank, h.weight, h.critical, h.pm, h.planned_start,
       h.planned_end, h.refreshed_at
FROM bi_hierarchy h""",
        "bi_v1_dim_tracker_project": """
SELECT p.id AS project_id, p.source, p.external_id, p.key AS tracker_key,
       p.name AS tracker_name, p.url, p.lead, p.category, m.project_key
FROM projects p
LEFT JOIN bi_project_map m ON m.project_id = p.id
WHERE p.deleted_at IS NULL""",
        "bi_v1_dim_person": """
SELECT p.id AS person_id, p.display_name, p.email, p.active, p.time_zone
FROM people p""",
        "bi_v1_dim_iteration": """
SELECT i.id AS iteration_id, i.source, i.external_id, i.project_id, m.project_key, i.name,
       i.state, i.start_at, i.end_at, i.complete_at
FROM iterations i
LEFT JOIN bi_project_map m ON m.project_id = i.project_id
WHERE i.deleted_at IS NULL""",
        "bi_v1_dim_milestone": """
SELECT s.id AS milestone_id, s.source, s.external_id, s.project_id, m.project_key, s.name,
       s.start_on, s.due_on, s.released, s.released_on, s.archived
FROM milestones s
LEFT JOIN bi_project_map m ON m.project_id = s.project_id
WHERE s.deleted_at IS NULL""",
        "bi_v1_dim_calendar": """
SELECT c.day, c.year, c.quarter, c.month, c.iso_year, c.iso_week, c.weekday, c.week_start,
       c.is_weekend, c.is_workday
FROM bi_calendar c""",
    }


def upgrade() -> None:
    op.create_table(
        "bi_hierarchy",
        sa.Column("project_key", sa.String(255), nullable=False),
        sa.Column("project_name", sa.Text(), nullable=True),
        sa.Column("programme_key", sa.String(255), nullable=True),
        sa.Column("programme_name", sa.Text(), nullable=True),
        sa.Column("portfolio_key", sa.String(255), nullable=True),
        sa.Column("portfolio_name", sa.Text(), nullable=True),
        sa.Column("priority_rank", sa.Integer(), nullable=True),
        sa.Column("weight", sa.Float(), nullable=True),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("pm", sa.String(255), nullable=True),
        sa.Column("planned_start", sa.Date(), nullable=True),
        sa.Column("planned_end", sa.Date(), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_key", name=op.f("pk_bi_hierarchy")),
    )
    op.create_table(
        "bi_project_map",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("project_key", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_bi_project_map")),
    )
    op.create_table(
        "bi_item_kinds",
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("type", name=op.f("pk_bi_item_kinds")),
    )
    op.create_table(
        "bi_calendar",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("iso_year", sa.Integer(), nullable=False),
        sa.Column("iso_week", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("is_weekend", sa.Boolean(), nullable=False),
        sa.Column("is_workday", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_bi_calendar")),
    )
    dialect = op.get_bind().dialect.name
    for name, sql in _view_sql(dialect).items():
        op.execute(f"CREATE VIEW {name} AS {sql.strip()}")


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in ("bi_calendar", "bi_item_kinds", "bi_project_map", "bi_hierarchy"):
        op.drop_table(table)
