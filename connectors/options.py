"""The built-in connectors' type-specific options (name -> Python type), one home for each
connector class's ``option_keys`` and for the config check.

Standard library only, on purpose: checking a config (every CLI command, ``pmohub load``
among them) reads these without importing a connector module and its HTTP stack
(``requests``, ``urllib3``), which read-only commands never use. Keys keep their order:
error messages list them in it. Plugin types (entry points) declare theirs on their class.
"""

from __future__ import annotations

from collections.abc import Mapping

# What every HTTP connector's RetryingSession takes from its source's options.
RETRY_OPTIONS: Mapping[str, type] = {"max_retries": int, "max_wait_s": float}

BUILTIN_OPTIONS: Mapping[str, Mapping[str, type]] = {
    "spreadsheet": {
        "path": str,  # the file; relative paths are resolved by the config loader
        "sheet": str,  # XLSX sheet name (default: the first sheet)
        "header_row": int,  # default: found in the top 30 rows
        "project_key": str,  # project of rows without a project column/cell
        "project_name": str,
        "columns": dict,  # canonical field -> header, overrides the built-in synonyms
        "id_column": str,  # shorthand for columns.key
        "date_formats": list,  # strptime formats tried first, e.g. ["%m/%d/%Y"]
        "time_zone": str,  # for datetimes without a zone (default Asia/Shanghai)
        "encoding": str,  # CSV only; default: detect utf-8 / utf-8-sig / gbk
        "delimiter": str,  # CSV only; default: sniffed among , ; tab
        "hours_per_day": float,  # converts "2d"/"2人天" estimates (default 8)
        "milestone_types": list,  # type values that make a row a milestone
        "default_type": str,  # type of rows without a type cell (default Task)
    },
    "jira": {
        "jql": str,  # replaces the project scope, e.g. "project = CRMA AND labels = pmo"
        "max_retries": int,
        "max_wait_s": float,
        "prefetch_pages": int,
        # Cloud only: worklogs from the /worklog/updated + /worklog/list feed instead of
        # each issue's own list. Needs an engine that honours ChildrenComplete.kinds.
        "worklog_feed": bool,
        "extra_lookback_minutes": int,
        # Sprints named only in the issues' sprint field (a board the account cannot see,
        # a deleted board) are read from the issues too. Default: on Data Center (whose
        # sprint strings carry name, state and dates) and whenever the boards refuse.
        "sprints_from_items": bool,
    },
    "github": {
        "status_label_prefix": str,
        "type_label_prefix": str,
        "priority_label_prefix": str,
        "points_label_prefix": str,
        "history": bool,
        "public_emails": bool,
        **RETRY_OPTIONS,
    },
    "gitlab": {
        "groups": list,
        "status_label_prefixes": list,
        "type_label_prefix": str,
        "priority_label_prefix": str,
        "epics": bool,
        "history": bool,
        "worklogs": bool,
        "public_emails": bool,
        **RETRY_OPTIONS,
    },
    "trello": {
        "api_key": str,
        "api_key_env": str,
        "board_keys": dict,
        "history": bool,
        "checklist_items": bool,
        "time_zone": str,  # the team's zone, for the calendar day of due dates
        **RETRY_OPTIONS,
    },
    "azureboards": {
        "team": str,
        "area_projects": dict,
        "wiql_top": int,
        "history": bool,
        **RETRY_OPTIONS,
    },
    "pingcode": {
        "client_id": str,
        "client_id_env": str,
        "time_zone": str,
        "history": bool,
        "relations": bool,
        "worklogs": bool,
        "worklog_lookback_days": int,
        "worklog_review_states": list,
        "rate_per_min": float,
        **RETRY_OPTIONS,
    },
    "redmine": {
        "include_subprojects": bool,  # default true
        "worklog_window_days": int,  # incremental runs: time entries spent this far back
        "history_workers": int,  # concurrent journal requests (default 4)
        "read_unedited_history": bool,  # journals also for updated_on == created_on
        **RETRY_OPTIONS,
    },
    "msproject": {
        "path": str,  # the plan: .xml (MSPDI) or .mpp (needs the mpp extra and Java)
        "project_key": str,  # default: from the file name (ops_plan.xml -> OPS-PLAN)
        "project_name": str,  # default: the plan's Title, else its Name
        "time_zone": str,  # the plan's local time (default Asia/Shanghai)
        "summary_type": str,  # type of summary tasks (default Epic)
        "task_type": str,  # type of other tasks (default Task)
    },
}
