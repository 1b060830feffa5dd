"""Replay of ``../shared/real-payloads/azureboards`` (Microsoft's published REST examples,
Fabrikam demo org) through the Azure Boards mappings, each answer by the endpoint it is."""

from __future__ import annotations

import json
from typing import Any

from pmohub.connectors.azureboards import mapping
from pmohub.connectors.errors import RecordError
from realpayloads import Replay, real_folder
from realpayloads._connector import reason

CTX = mapping.MappingContext(source="real-azure", base_url="https://dev.azure.com/fabrikam")


def _values(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        return body["value"]
    if isinstance(body, dict) and isinstance(body.get("values"), list):
        return body["values"]
    return [body] if isinstance(body, dict) else []


def replay(keep: dict[str, Any] | None = None) -> Replay:
    out = Replay("azureboards")
    kept = keep if keep is not None else {}
    for path in sorted(real_folder("azureboards").rglob("*.json")):
        out.files += 1
        doc = json.loads(path.read_text())
        body = (doc.get("responses") or {}).get("200", {}).get("body")
        project = str((doc.get("parameters") or {}).get("project") or "Fabrikam-Fiber")
        name = path.name
        if name.startswith(("workItems__", "workItemsBatch__")):
            for wi in _values(body):
                try:
                    item = mapping.to_work_item(wi, CTX)
                except RecordError as exc:
                    out.skipped[reason(str(exc.args[0]))] += 1
                    continue
                kept.setdefault(f"{name}/{item.external_id}", item)
                out.mapped["work_items"] += 1
                out.mapped["links"] += len(list(mapping.to_links(wi, CTX)))
        elif name.startswith("updates__"):
            updates = _values(body)
            wid = str(updates[0].get("workItemId") or updates[0].get("id")) if updates else "?"
            out.mapped["status_changes"] += len(list(mapping.to_status_changes(wid, updates, CTX)))
        elif name.startswith("iterations__"):
            for it in _values(body):
                mapping.iteration_path(it, project)  # no "path" in Microsoft's example
                kept.setdefault(f"{name}/{it['id']}", mapping.to_iteration(it, project, CTX))
                out.mapped["iterations"] += 1
        elif name.startswith("wiql__"):
            out.mapped["wiql_ids"] += len((body or {}).get("workItems") or [])
        elif name.startswith("workItemTypeStates__"):
            out.mapped["states"] += len(_values(body))
        else:
            out.skipped["not replayed: endpoint pmohub does not call"] += 1
    return out
