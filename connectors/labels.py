"""Workflow facts kept in prefixed labels, for trackers whose issues are only open/closed
(GitHub ``status:in-progress``, GitLab scoped ``workflow::doing``): the value a label
prefix carries, and the status category of such a label status. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from pmohub.connectors.base import map_status_category

#: Label statuses both GitHub and GitLab teams use, by lower-cased name; each tracker's
#: mapper adds the spellings its own conventions bring.
COMMON_CATEGORIES: Mapping[str, str] = {
    "open": "todo",
    "todo": "todo",
    "to do": "todo",
    "backlog": "todo",
    "ready": "todo",
    "in progress": "in_progress",
    "doing": "in_progress",
    "review": "in_progress",
    "in review": "in_progress",
    "blocked": "in_progress",
    "testing": "in_progress",
    "closed": "done",
    "done": "done",
    # GitLab's own workflow labels (handbook "workflow::" scope) and the usual variants:
    # steps before development are still to do; blocked is a sub-state of in progress
    # (``status_map`` value ``blocked``), kept by rules through ``status``.
    "triage": "todo",
    "scheduled": "todo",
    "scheduling": "todo",
    "planned": "todo",
    "planning breakdown": "todo",
    "refinement": "todo",
    "validation backlog": "todo",
    "problem validation": "todo",
    "solution validation": "todo",
    "design": "todo",
    "ready for development": "todo",
    "ready for dev": "todo",
    "in dev": "in_progress",
    "in development": "in_progress",
    "development": "in_progress",
    "verification": "in_progress",
    "awaiting security release": "in_progress",
    "on hold": "in_progress",
    "complete": "done",
    "completed": "done",
    "production": "done",
    "released": "done",
    "deployed": "done",
}

# A step number or letter teams put before the step name so boards sort in order:
# ``1 - triage``, ``4. scheduled``, ``X - blocked`` (GitLab's own "workflow::X - blocked").
_STEP_NUMBER = re.compile(r"^\s*(?:\d{1,3}|[a-z])\s*[-.):]\s*(?=\S)", re.I)


def step_name(status: str) -> str:
    """The status without its ordering number, lower-cased: ``4 - Scheduled`` -> ``scheduled``."""
    return _STEP_NUMBER.sub("", status).strip().lower()


def label_value(labels: Iterable[str], prefixes: Sequence[str]) -> str | None:
    """The value of the last label starting with one of ``prefixes`` (case-insensitive):
    ``status:Review`` -> ``Review``; None when no label has one, or its value is empty."""
    found = None
    for lab in labels:
        for p in prefixes:
            if p and lab.lower().startswith(p.lower()):
                found = lab[len(p) :].strip()
    return found or None


def label_status_category(
    status: str,
    prefixes: Sequence[str],
    status_map: Mapping[str, str],
    defaults: Mapping[str, str],
) -> str:
    """Category of a label status. ``status_map`` may name the full label
    (``status:review``: its own value or else todo) or the bare status; otherwise the
    tracker's ``defaults`` by lower-cased name, without a leading step number
    (``1 - triage``), and in_progress for names it does not know (a custom workflow step
    is work under way)."""
    for p in prefixes:
        if p + status in status_map:
            return map_status_category(p + status, "todo", status_map)
    lowered = status.lower()
    default = defaults.get(lowered) or defaults.get(step_name(status), "in_progress")
    if status not in status_map and step_name(status) in status_map:
        return map_status_category(step_name(status), default, status_map)
    return map_status_category(status, default, status_map)
