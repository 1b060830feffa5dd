"""Workflow facts kept in prefixed labels, for trackers whose issues are only open/closed
(GitHub ``status:in-progress``, GitLab scoped ``workflow::doing``): the value a label
prefix carries, and the status category of such a label status. Pure; no I/O.
"""

from __future__ import annotations

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
}


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
    tracker's ``defaults`` by lower-cased name, and in_progress for names it does not know
    (a custom workflow step is work under way)."""
    for p in prefixes:
        if p + status in status_map:
            return map_status_category(p + status, "todo", status_map)
    return map_status_category(status, defaults.get(status.lower(), "in_progress"), status_map)
