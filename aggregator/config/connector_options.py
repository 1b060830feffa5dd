"""The built-in connectors' ``option_keys``, declared here so that checking a config does
not import the connector modules: ``pmohub load`` and the other read-only commands parse
the config but never talk to a tracker, and importing a connector pulls in its HTTP stack
(``requests``, ``urllib3``: ~70 ms of a 2.5 s ``load --format json``).

The connector class stays the home of its options: this is a copy in the same order
(error messages list keys in it), and tests/test_config_connector_options.py fails
whenever it differs from ``registry.get(name).option_keys`` of a built-in. Plugin types
(entry points) are not listed and are imported to read their options, as before.
"""

from __future__ import annotations

from collections.abc import Mapping

_RETRY: dict[str, type] = {"max_retries": int, "max_wait_s": float}

BUILTIN_OPTIONS: Mapping[str, Mapping[str, type]] = {
    "spreadsheet": {
        "path": str,
        "sheet": str,
        "header_row": int,
        "project_key": str,
        "project_name": str,
        "columns": dict,
        "id_column": str,
        "date_formats": list,
        "time_zone": str,
        "encoding": str,
        "delimiter": str,
        "hours_per_day": float,
        "milestone_types": list,
        "default_type": str,
    },
    "jira": {
        "jql": str,
        "max_retries": int,
        "max_wait_s": float,
        "prefetch_pages": int,
        "worklog_feed": bool,
        "extra_lookback_minutes": int,
        "sprints_from_items": bool,
    },
    "github": {
        "status_label_prefix": str,
        "type_label_prefix": str,
        "priority_label_prefix": str,
        "points_label_prefix": str,
        "history": bool,
        "public_emails": bool,
        **_RETRY,
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
        **_RETRY,
    },
    "trello": {
        "api_key": str,
        "api_key_env": str,
        "board_keys": dict,
        "history": bool,
        "checklist_items": bool,
        "time_zone": str,
        **_RETRY,
    },
    "azureboards": {
        "team": str,
        "area_projects": dict,
        "wiql_top": int,
        "history": bool,
        **_RETRY,
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
        **_RETRY,
    },
    "redmine": {
        "include_subprojects": bool,
        "worklog_window_days": int,
        "history_workers": int,
        "read_unedited_history": bool,
        **_RETRY,
    },
    "msproject": {
        "path": str,
        "project_key": str,
        "project_name": str,
        "time_zone": str,
        "summary_type": str,
        "task_type": str,
    },
}
