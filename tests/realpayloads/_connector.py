"""Shared by the Part B replays: count what a connector's streams yield into a Replay."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pmohub.connectors.base import Checkpoint, ChildrenComplete, Problem, Skipped
from realpayloads import Replay

KINDS = {
    "Project": "projects",
    "Person": "people",
    "WorkItem": "work_items",
    "StatusChange": "status_changes",
    "Worklog": "worklogs",
    "Link": "links",
    "Iteration": "iterations",
    "Milestone": "milestones",
}


def reason(text: str) -> str:
    """A skip message without its location and numbers, so equal causes count together."""
    text = text.split(": ", 1)[-1] if ": " in text else text
    text = re.sub(r"\b[0-9a-f]{12,}\b", "<id>", text)
    return re.sub(r"\d+", "N", text)[:90]


def tally(out: Replay, stream: Iterable[Any]) -> None:
    for obj in stream:
        if isinstance(obj, Checkpoint | ChildrenComplete):
            continue
        if isinstance(obj, Skipped):
            out.skipped[reason(str(obj.error.args[0] if obj.error.args else obj.error))] += 1
        elif isinstance(obj, Problem):
            if obj.field:
                out.dropped[obj.field] += 1
            else:
                out.skipped[f"warning: {reason(obj.message)}"] += 1
        else:
            out.mapped[KINDS.get(type(obj).__name__, type(obj).__name__)] += 1
