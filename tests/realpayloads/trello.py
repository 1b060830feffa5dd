"""Replay of ``../shared/real-payloads/trello`` (board exports recorded from trello.com by
alphagov/trello-tracker) through the Trello mappings: lists, cards, their actions."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from pmohub.connectors.errors import RecordError
from pmohub.connectors.trello import mapping
from realpayloads import Replay, real_folder
from realpayloads._connector import reason

CTX = mapping.MappingContext(source="real-trello")


def replay(keep: dict[str, Any] | None = None) -> Replay:
    out = Replay("trello")
    kept = keep if keep is not None else {}
    for path in sorted(real_folder("trello").rglob("*.json")):
        out.files += 1
        board = json.loads(path.read_text())
        key = str(board.get("shortLink") or board["id"])
        out.mapped["projects"] += bool(mapping.to_project(board, key, CTX))
        lists = {lst["id"]: lst for lst in board.get("lists") or []}
        actions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in board.get("actions") or []:
            card = (a.get("data") or {}).get("card") or {}
            if card.get("id"):
                actions[card["id"]].append(a)
        for member in board.get("members") or []:
            mapping.to_person(member, CTX)
            out.mapped["people"] += 1
        for card in board.get("cards") or []:
            changes = list(mapping.to_status_changes(card["id"], actions[card["id"]], CTX))
            try:
                item = mapping.to_work_item(card, key, lists, CTX, changes=changes)
            except RecordError as exc:
                out.skipped[reason(str(exc.args[0]))] += 1
                continue
            kept.setdefault(f"{path.stem}/{item.title}", item)
            out.mapped["work_items"] += 1
            out.mapped["status_changes"] += len(changes)
    return out
