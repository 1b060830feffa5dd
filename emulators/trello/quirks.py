"""Quirks real Trello boards show and the emulator serves when switched on (``emu.quirks``;
issue 12). Each is off by default so the plain emulator keeps the generated site as it is:

- ``list_names``: site list name -> the name served (lists, action ``listBefore`` /
  ``listAfter``). ``REAL_LIST_NAMES`` and ``REAL_LIST_NAMES_ALT`` are names real boards use
  ("Working On", "Current Sprint", "On Hold", ...), each meaning what the list it renames
  means, so a card's category must not change;
- ``due_zone``: a zone name; due and start dates (cards and due-date actions) are served
  as midnight of their day in that zone, as a UTC instant, which is the previous UTC day
  east of Greenwich (Asia/Shanghai: ``2026-05-12`` is ``2026-05-11T16:00:00.000Z``);
- ``done_moves_hidden``: the move into a done or won't-do list is missing from the
  actions (card created there by a Butler rule, copied from another board, or an action
  feed that no longer goes back that far); ``dateLastActivity`` still counts it;
- ``foreign_ids_every``: every Nth card (by ``idShort``) is served with an id that is not
  a Trello ObjectId (``card_<shortLink>``, as boards imported from elsewhere or exports
  edited by hand carry) everywhere it appears.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

#: real names for the generated lists (Backlog, To Do, Doing, Review, Done), same meaning
REAL_LIST_NAMES: Mapping[str, str] = {
    "Backlog": "Ideas",
    "To Do": "Next Up",
    "Doing": "Working On",
    "Review": "On Hold",
    "Done": "Done this sprint",
}
REAL_LIST_NAMES_ALT: Mapping[str, str] = {
    "Backlog": "Icebox",
    "To Do": "Not started",
    "Doing": "Current Sprint",
    "Review": "Waiting for customer",
    "Done": "Shipped",
}
#: the generated lists whose cards are finished
FINISHED_LISTS = frozenset({"Done", "Won't do"})


@dataclass
class TrelloQuirks:
    list_names: Mapping[str, str] = field(default_factory=dict)
    due_zone: str | None = None
    done_moves_hidden: bool = False
    foreign_ids_every: int = 0

    def list_name(self, name: str) -> str:
        return self.list_names.get(name, name)

    def card_id(self, card: Mapping[str, Any]) -> str:
        every = self.foreign_ids_every
        if every > 0 and int(card["idShort"]) % every == 0:
            return f"card_{card['shortLink']}"
        return str(card["id"])

    def day_instant(self, day: dt.date) -> dt.datetime:
        """Midnight of ``day`` in ``due_zone``, in UTC."""
        assert self.due_zone is not None
        local = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(self.due_zone))
        return local.astimezone(dt.UTC)

    def due(self, value: dt.datetime | None) -> dt.datetime | None:
        """A due instant as served: unchanged, or its (UTC) day's local midnight."""
        if value is None or self.due_zone is None:
            return value
        return self.day_instant(value.date())

    def start(self, value: dt.date | None) -> dt.datetime | None:
        if value is None:
            return None
        if self.due_zone is None:
            return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
        return self.day_instant(value)

    def hides(self, action: Mapping[str, Any], lists: Mapping[str, Mapping[str, Any]]) -> bool:
        """Whether ``action`` is left out of the actions served."""
        if not self.done_moves_hidden or action["type"] != "move":
            return False
        return lists[action["new"]]["name"] in FINISHED_LISTS
