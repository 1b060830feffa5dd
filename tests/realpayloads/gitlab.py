"""Replay of ``../shared/real-payloads/gitlab`` through the GitLab mappings (no HTTP).

perceval's fdroid/fdroiddata recordings: the project, two issue list pages and two single
issues (the same issues again: counted once per file, as each is a separate answer).
GitLab's docs examples: resource state and label events (replayed as one issue's history;
they name different resource ids, so each list is replayed for its own resource) and an
iteration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pmohub.connectors.errors import RecordError
from pmohub.connectors.gitlab import mapping
from realpayloads import Replay, real_folder

CTX = mapping.MappingContext(source="real-gitlab")


def replay(keep: dict[str, Any] | None = None) -> Replay:
    folder = real_folder("gitlab")
    out = Replay("gitlab")
    kept = keep if keep is not None else {}
    project_key = "fdroid/fdroiddata"
    for path in sorted(folder.rglob("*.json")):
        out.files += 1
        doc = json.loads(path.read_text())
        name = path.stem
        if name == "project":
            _count(out, kept, "projects", lambda d=doc: mapping.to_project(d, CTX))
        elif name.startswith("issue"):
            for issue in doc if isinstance(doc, list) else [doc]:
                _count(
                    out,
                    kept,
                    "work_items",
                    lambda i=issue: mapping.to_work_item(i, project_key, CTX),
                )
        elif name == "iterations":
            for it in doc:
                _count(
                    out, kept, "iterations", lambda i=it: mapping.to_iteration(i, "my-group", CTX)
                )
        elif name in ("resource_state_events", "resource_label_events"):
            state = doc if name == "resource_state_events" else []
            labels = doc if name == "resource_label_events" else []
            issue = {"id": doc[0]["resource_id"]}
            changes = list(mapping.to_status_changes(issue, state, labels, CTX))
            out.mapped["status_changes"] += len(changes)
            kept.setdefault("status_changes", []).extend(changes)
        else:
            out.skipped[f"not replayed: {name}"] += 1
    return out


def _count(out: Replay, kept: dict[str, Any], kind: str, make: Callable[[], Any]) -> None:
    try:
        record = make()
    except (RecordError, KeyError, TypeError, ValueError) as exc:
        out.skipped[f"{kind}: {type(exc).__name__}"] += 1
        return
    out.mapped[kind] += 1
    kept.setdefault(kind, []).append(record)
