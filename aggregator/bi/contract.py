"""The published columns of every ``bi_v1_*`` view and their types: the contract that
docs/bi.md documents, tests/test_bi.py checks against both databases and the Parquet
export writes (``ts`` = timestamp with time zone UTC, ``date`` = calendar date).

A column is never renamed, retyped or dropped under ``bi_v1``; a change is ``bi_v2``.
"""

from __future__ import annotations

VERSION = "v1"

INT, FLOAT, STR, BOOL, DATE, TS = "int", "float", "str", "bool", "date", "ts"

_ITEM = [
    ("work_item_id", INT), ("source", STR), ("external_id", STR), ("item_key", STR),
    ("project_id", INT), ("project_key", STR), ("title", STR), ("type", STR), ("kind", STR),
    ("status", STR), ("status_category", STR), ("priority", STR), ("assignee_id", INT),
    ("reporter_id", INT), ("parent_id", INT), ("created_at", TS), ("updated_at", TS),
    ("resolved_at", TS), ("created_on", DATE), ("resolved_on", DATE), ("start_on", DATE),
    ("due_on", DATE), ("story_points", FLOAT), ("original_estimate_h", FLOAT),
    ("remaining_estimate_h", FLOAT), ("time_spent_h", FLOAT), ("progress", FLOAT), ("url", STR),
]  # fmt: skip

VIEWS: dict[str, list[tuple[str, str]]] = {
    "bi_v1_fact_work_items": _ITEM,
    "bi_v1_fact_status_changes": [
        ("status_change_id", INT), ("work_item_id", INT), ("project_id", INT),
        ("project_key", STR), ("field", STR), ("from_value", STR), ("to_value", STR),
        ("changed_at", TS), ("changed_on", DATE), ("author", STR),
    ],
    "bi_v1_fact_worklogs": [
        ("worklog_id", INT), ("work_item_id", INT), ("project_id", INT), ("project_key", STR),
        ("person_id", INT), ("author", STR), ("started_at", TS), ("started_on", DATE),
        ("seconds", INT), ("hours", FLOAT),
    ],
    "bi_v1_fact_findings": [
        ("finding_id", INT), ("rule_id", STR), ("rule_version", STR), ("subject", STR),
        ("scope", STR), ("project_id", INT), ("project_key", STR), ("severity", STR),
        ("state", STR), ("message", STR), ("value", FLOAT), ("threshold", FLOAT),
        ("first_seen_at", TS), ("last_seen_at", TS), ("resolved_at", TS),
        ("first_seen_on", DATE), ("waived", BOOL),
    ],
    "bi_v1_fact_daily_status": [
        ("snapshot_id", INT), ("project_key", STR), ("taken_on", DATE), ("taken_at", TS),
        ("rag", STR), ("progress_count", FLOAT), ("progress_estimate", FLOAT),
        ("items_total", INT), ("items_done", INT), ("compliance", FLOAT), ("spi", FLOAT),
        ("spi_t", FLOAT), ("cpi", FLOAT), ("actual_h", FLOAT),
    ],
    "bi_v1_dim_project": [
        ("project_key", STR), ("project_name", STR), ("programme_key", STR),
        ("programme_name", STR), ("portfolio_key", STR), ("portfolio_name", STR),
        ("priority_rank", INT), ("weight", FLOAT), ("critical", BOOL), ("pm", STR),
        ("planned_start", DATE), ("planned_end", DATE), ("refreshed_at", TS),
    ],
    "bi_v1_dim_tracker_project": [
        ("project_id", INT), ("source", STR), ("external_id", STR), ("tracker_key", STR),
        ("tracker_name", STR), ("url", STR), ("lead", STR), ("category", STR),
        ("project_key", STR),
    ],
    "bi_v1_dim_person": [
        ("person_id", INT), ("display_name", STR), ("email", STR), ("active", BOOL),
        ("time_zone", STR),
    ],
    "bi_v1_dim_iteration": [
        ("iteration_id", INT), ("source", STR), ("external_id", STR), ("project_id", INT),
        ("project_key", STR), ("name", STR), ("state", STR), ("start_at", TS), ("end_at", TS),
        ("complete_at", TS),
    ],
    "bi_v1_dim_milestone": [
        ("milestone_id", INT), ("source", STR), ("external_id", STR), ("project_id", INT),
        ("project_key", STR), ("name", STR), ("start_on", DATE), ("due_on", DATE),
        ("released", BOOL), ("released_on", DATE), ("archived", BOOL),
    ],
    "bi_v1_dim_calendar": [
        ("day", DATE), ("year", INT), ("quarter", INT), ("month", INT), ("iso_year", INT),
        ("iso_week", INT), ("weekday", INT), ("week_start", DATE), ("is_weekend", BOOL),
        ("is_workday", BOOL),
    ],
}  # fmt: skip


def file_name(view: str) -> str:
    """``bi_v1_fact_work_items`` -> ``fact_work_items`` (the export's file stem)."""
    return view.removeprefix(f"bi_{VERSION}_")
