"""A seeded Trello workspace: kanban boards with lists, members, labels, cards, checklists
and the card actions (create, move between lists, archive) Trello records."""

from __future__ import annotations

import datetime as dt
import random
import string
from dataclasses import dataclass, field
from typing import Any

from pmohub.emulators.base import DEFAULT_TODAY, history_window
from pmohub.emulators.jira.people import PEOPLE

LISTS = ("Backlog", "To Do", "Doing", "Review", "Done")
BOARD_NAMES = ("Marketing Site", "Partner Onboarding", "Event Planning")
LABELS = (("green", "Quick win"), ("red", "Urgent"), ("blue", "Content"), ("purple", "Design"))


def trello_id(at: dt.datetime, n: int) -> str:
    """Trello ids are Mongo ObjectIds: 4 bytes of creation time, then 8 more bytes."""
    return f"{int(at.timestamp()):08x}{n:016x}"


def created_from_id(object_id: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(object_id[:8], 16), dt.UTC)


@dataclass
class TrelloSite:
    boards: list[dict[str, Any]]
    members: list[dict[str, Any]]
    me: dict[str, Any]
    counter: list[int] = field(default_factory=lambda: [0])

    def new_id(self, at: dt.datetime) -> str:
        self.counter[0] += 1
        return trello_id(at, 0xA000_0000 + self.counter[0])

    def board(self, ref: str) -> dict[str, Any] | None:
        return next((b for b in self.boards if ref in (b["id"], b["shortLink"])), None)

    def card(self, ref: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for b in self.boards:
            for c in b["cards"]:
                if ref in (c["id"], c["shortLink"]):
                    return b, c
        return None


def _short(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(8))


class _Ids:
    """Object ids of one generation: ``nid(at)`` is the next ObjectId created at ``at``."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, at: dt.datetime) -> str:
        self.n += 1
        return trello_id(at, self.n)


def generate_site(
    seed: int = 7,
    *,
    boards: int = 2,
    cards: int = 30,
    today: dt.date | None = None,
    people: int = 8,
) -> TrelloSite:
    # The steps draw from one generator in a fixed order: reordering them changes the site.
    rng = random.Random(seed)
    today = today or DEFAULT_TODAY
    start, end = history_window(today, 60)
    nid = _Ids()
    old = start - dt.timedelta(days=100)
    members = [
        {
            "id": nid(old),
            "fullName": display,
            "username": login.replace(".", ""),
            # Trello shows a member's e-mail only to that member (and enterprise admins).
            "email": f"{login}@example.cn",
        }
        for display, login, _tz in PEOPLE[:people]
    ]
    me = {
        "id": nid(old),
        "fullName": "PMO Bot",
        "username": "pmobot",
        "email": "pmo-bot@example.cn",
    }
    site = TrelloSite(boards=[], members=members, me=me)
    for b in range(boards):
        board = _board(rng, nid, b, members, old)
        for k in range(cards):
            board["cards"].append(_card(rng, nid, board, members, k, start, end, today))
        site.boards.append(board)
    return site


def _board(
    rng: random.Random, nid: _Ids, b: int, members: list[dict[str, Any]], old: dt.datetime
) -> dict[str, Any]:
    """Board number ``b``: the workflow lists plus "Won't do", and the labels; no cards yet."""
    board = {
        "id": nid(old),
        "name": BOARD_NAMES[b % len(BOARD_NAMES)] + ("" if b < len(BOARD_NAMES) else f" {b}"),
        "shortLink": _short(rng),
        "desc": "Generated board",
        "lists": [],
        "labels": [],
        "cards": [],
        "members": [m["id"] for m in members],
    }
    for k, name in enumerate(LISTS):
        board["lists"].append(
            {"id": nid(old), "name": name, "pos": 16384 * (k + 1), "closed": False}
        )
    board["lists"].append({"id": nid(old), "name": "Won't do", "pos": 16384 * 9, "closed": False})
    for color, name in LABELS:
        board["labels"].append({"id": nid(old), "name": name, "color": color})
    return board


def _card(
    rng: random.Random,
    nid: _Ids,
    board: dict[str, Any],
    members: list[dict[str, Any]],
    k: int,
    start: dt.datetime,
    end: dt.datetime,
    today: dt.date,
) -> dict[str, Any]:
    """Card ``k`` of ``board`` with its actions (create, moves along a list path, maybe an
    archive and a due-date change) and maybe a checklist."""
    lists = board["lists"]
    created = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 45))
    card_id = nid(created)
    creator = rng.choice(members)["id"]
    path = rng.choice([[0], [0, 1], [1, 2], [1, 2, 3], [1, 2, 3, 4], [0, 1, 2, 4], [1, 5], [2]])
    actions = [
        {
            "id": nid(created),
            "type": "createCard",
            "date": created,
            "member": creator,
            "list": lists[path[0]]["id"],
        }
    ]
    t = _moves(rng, nid, actions, lists, path, members, created, end)
    closed = rng.random() < 0.08
    if closed:
        t = min(end - dt.timedelta(minutes=1), t + dt.timedelta(hours=5))
        actions.append({"id": nid(t), "type": "archive", "date": t, "member": creator})
    checklists = _checklists(rng, nid, created)
    due = _due(rng, nid, actions, creator, created, end, today)
    return {
        "id": card_id,
        "idShort": k + 1,
        "shortLink": _short(rng),
        "name": f"{board['name']} card {k + 1}",
        "desc": "",
        "idList": lists[path[-1]]["id"],
        "idMembers": rng.sample([m["id"] for m in members], rng.choice((0, 1, 1, 2))),
        "idLabels": [lab["id"] for lab in rng.sample(board["labels"], rng.randrange(0, 3))],
        "due": due,
        "dueComplete": bool(due and path[-1] == 4),
        "start": (due - dt.timedelta(days=7)).date() if due and rng.random() < 0.5 else None,
        "closed": closed,
        "pos": 16384.0 * (k + 1),
        "dateLastActivity": max(a["date"] for a in actions),
        "checklists": checklists,
        "actions": actions,
        "creator": creator,
    }


def _moves(
    rng: random.Random,
    nid: _Ids,
    actions: list[dict[str, Any]],
    lists: list[dict[str, Any]],
    path: list[int],
    members: list[dict[str, Any]],
    created: dt.datetime,
    end: dt.datetime,
) -> dt.datetime:
    """A move action per step of ``path`` (list indexes), hours to days apart, before
    ``end``; returns the time of the last one (``created`` without moves)."""
    t = created
    for a, b_ in zip(path, path[1:], strict=False):
        t = t + dt.timedelta(minutes=rng.randrange(60, 60 * 24 * 4))
        if t >= end:
            t = end - dt.timedelta(minutes=rng.randrange(1, 300))
        actions.append(
            {
                "id": nid(t),
                "type": "move",
                "date": t,
                "member": rng.choice(members)["id"],
                "old": lists[a]["id"],
                "new": lists[b_]["id"],
            }
        )
    return t


def _checklists(rng: random.Random, nid: _Ids, created: dt.datetime) -> list[dict[str, Any]]:
    """A checklist of two to four items, half of them done, on 40% of the cards."""
    checklists = []
    if rng.random() < 0.4:
        items = [
            {
                "id": nid(created),
                "name": f"Step {i + 1}",
                "state": "complete" if rng.random() < 0.5 else "incomplete",
                "pos": 16384 * (i + 1),
            }
            for i in range(rng.randrange(2, 5))
        ]
        checklists.append({"id": nid(created), "name": "Checklist", "checkItems": items})
    return checklists


def _due(
    rng: random.Random,
    nid: _Ids,
    actions: list[dict[str, Any]],
    creator: str,
    created: dt.datetime,
    end: dt.datetime,
    today: dt.date,
) -> dt.datetime | None:
    """A due date on 60% of the cards; a third of those were moved once (a "due" action)."""
    due = (
        dt.datetime.combine(
            today + dt.timedelta(days=rng.randrange(-20, 30)), dt.time(10), tzinfo=dt.UTC
        )
        if rng.random() < 0.6
        else None
    )
    if due and rng.random() < 0.35:
        # the due date was moved once (a slip the PMO wants to see)
        when = min(
            end - dt.timedelta(minutes=2),
            created + dt.timedelta(hours=rng.randrange(2, 48)),
        )
        actions.append(
            {
                "id": nid(when),
                "type": "due",
                "date": when,
                "member": creator,
                "old": due - dt.timedelta(days=rng.randrange(5, 16)),
                "new": due,
            }
        )
    return due
