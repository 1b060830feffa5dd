"""Replay of ``../shared/real-payloads/jira`` through the Jira mappings (no HTTP).

Every issue list (search pages, board/sprint issue lists, single issues) goes through
``to_work_item`` with its embedded changelog, links and worklogs; worklog lists through
``to_worklog``; Agile sprints and the sprint strings in issues through ``to_iteration``.
Custom fields are discovered from the site's own ``/field`` list where the folder has one
(perceval's jira.fiware.org), otherwise from the issues' ``names`` or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pmohub.connectors.base import Problem
from pmohub.connectors.errors import RecordError
from pmohub.connectors.jira import mapping, values
from realpayloads import Replay, real_folder


def _issues(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, dict) and isinstance(doc.get("issues"), list):
        yield from doc["issues"]
    elif isinstance(doc, dict) and "fields" in doc and "key" in doc:
        yield doc


def _context(folder: Path, sub: str) -> mapping.MappingContext:
    fields_file = folder / sub / "jira_fields.json"
    field_list = json.loads(fields_file.read_text()) if fields_file.exists() else []
    found = mapping.discover_fields(field_list)
    if not field_list:
        # no /field list recorded here: a custom field holding sprint values is the sprint
        # field (what discover_fields finds by schema on a live site)
        for path in (folder / sub).glob("*.json"):
            for issue in _issues(json.loads(path.read_text())):
                for fid, value in (issue.get("fields") or {}).items():
                    if fid.startswith("customfield_") and _is_sprint_value(value):
                        found.setdefault("sprint", fid)
    return mapping.MappingContext(
        source=f"real-{sub}",
        fields=found,
        field_ids_by_name={str(f.get("name")): str(f.get("id")) for f in field_list},
    )


def replay(keep: dict[str, Any] | None = None) -> Replay:
    """``keep`` (optional) collects the mapped records by kind, for tests asserting values."""
    folder = real_folder("jira")
    out = Replay("jira")
    kept = keep if keep is not None else {}
    for path in sorted(folder.rglob("*.json")):
        out.files += 1
        sub = path.relative_to(folder).parts[0]
        ctx = _context(folder, sub)
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and "worklogs" in doc:  # /issue/{id}/worklog
            issue_id = path.stem.split("_")[1]  # issue_10002_worklog.json
            for w in doc["worklogs"]:
                _count(
                    out,
                    kept,
                    "worklogs",
                    lambda w=w, c=ctx, i=issue_id: mapping.to_worklog(w, c, i),
                )
            continue
        sprints = doc.get("values") if isinstance(doc, dict) and "values" in doc else None
        if isinstance(doc, dict) and "state" in doc and "name" in doc:
            sprints = [doc]
        if sprints is not None:
            for s in sprints:
                _count(out, kept, "iterations", lambda s=s, c=ctx: mapping.to_iteration(s, c, None))
            continue
        for issue in _issues(doc):
            _issue(out, kept, issue, ctx)
    return out


def _issue(out: Replay, kept: dict[str, Any], issue: dict[str, Any], ctx: Any) -> None:
    problems: list[Problem] = []
    if "fields" not in issue:  # an id/key listing (board issues asked with fields=id)
        out.skipped["ids only: the listing carries no fields"] += 1
        return
    try:
        item = mapping.to_work_item(issue, ctx, problems=problems)
        histories = (issue.get("changelog") or {}).get("histories") or []
        changes = list(
            mapping.to_status_changes(str(issue["id"]), histories, ctx, problems=problems)
        )
        links = list(mapping.to_links(issue, ctx))
        raw_wl = ((issue.get("fields") or {}).get("worklog") or {}).get("worklogs") or []
        worklogs = [mapping.to_worklog(w, ctx, str(issue["id"])) for w in raw_wl]
    except RecordError as exc:
        out.skipped[f"no readable {exc.field or 'payload'}"] += 1
        return
    for p in problems:
        out.dropped[p.field or "?"] += 1
    for kind, records in (
        ("work_items", [item]),
        ("status_changes", changes),
        ("links", links),
        ("worklogs", worklogs),
    ):
        out.mapped[kind] += len(records)
        kept.setdefault(kind, []).extend(records)
    # sprint strings/objects in the issue's fields (every customfield holding one)
    for value in (issue.get("fields") or {}).values():
        if _is_sprint_value(value):
            for s in values.sprint_objects(value):
                _count(
                    out,
                    kept,
                    "iterations_from_items",
                    lambda s=s: mapping.to_iteration(s, ctx, None),
                )


def _is_sprint_value(value: Any) -> bool:
    first = value[0] if isinstance(value, list) and value else value
    if isinstance(first, str):
        return "greenhopper.service.sprint.Sprint@" in first
    return isinstance(first, dict) and "boardId" in first and "state" in first


def _count(out: Replay, kept: dict[str, Any], kind: str, make: Any) -> None:
    try:
        record = make()
    except (RecordError, KeyError, TypeError, ValueError) as exc:
        out.skipped[_reason(f"{kind}: {exc}")] += 1
        return
    out.mapped[kind] += 1
    kept.setdefault(kind, []).append(record)


def _reason(text: str) -> str:
    return text.split(":", 1)[0][:60]
