"""TrelloEmulator: the REST endpoints pmohub reads (``https://api.trello.com/1``), shaped per
Atlassian's Trello OpenAPI description (developer.atlassian.com/cloud/trello, swagger v3).

Deliberate behaviour:
- Auth: ``key`` and ``token`` query parameters, or ``Authorization: OAuth
  oauth_consumer_key="<key>", oauth_token="<token>"``; a bad one answers 401 text/plain
  ``invalid key`` / ``invalid token`` (as Trello does).
- ``/boards/{id}/cards[/{filter}]``: without ``limit`` all cards in ``pos`` order; with
  ``limit`` (max 1000) newest id first, paged back with ``before=<card id>``.
- ``/boards/{id}/actions``: newest first, ``limit`` (default 50, max 1000), ``before`` /
  ``since`` (an action id or a date), ``filter`` (comma list; ``updateCard:idList`` etc.).
- ``/cards/{id}/actions``: default filter ``commentCard,updateCard:idList`` (Trello's),
  50 per ``page``.
- Rate limit fault: 429 ``{"error": "API_TOKEN_LIMIT_EXCEEDED", ...}``.
- Real boards' quirks, each off by default: ``quirks=TrelloQuirks(...)`` or ``emu.quirks``
  (emulators/trello/quirks.py: real list names, due dates at local midnight, moves into
  done lists missing from the actions, card ids that are not ObjectIds).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pmohub.emulators.base import Emulator, HttpError, Reply, Request, iso, route
from pmohub.emulators.trello.quirks import TrelloQuirks
from pmohub.emulators.trello.site import TrelloSite, created_from_id

DEFAULT_KEY = "0123456789abcdef0123456789abcdef"
DEFAULT_TOKEN = "trello-emulator-token"
TOKEN_ENV = "TRELLO_EMULATOR_TOKEN"
_OAUTH = re.compile(r'(\w+)="([^"]*)"')


def _when(value: str) -> tuple[str, Any]:
    """A ``before``/``since`` value: an object id (compared by its time prefix) or a date."""
    if re.fullmatch(r"[0-9a-fA-F]{24}", value):
        return "id", value.lower()
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HttpError(400, "invalid value for since/before") from exc
    return "date", at if at.tzinfo else at.replace(tzinfo=dt.UTC)


class TrelloEmulator(Emulator):
    server_name = "Trello"
    prefix = "/1"

    def __init__(
        self,
        site: TrelloSite,
        *,
        port: int = 0,
        key: str = DEFAULT_KEY,
        token: str = DEFAULT_TOKEN,
        quirks: TrelloQuirks | None = None,
    ) -> None:
        super().__init__(port)
        self.site = site
        self.quirks = quirks or TrelloQuirks()
        self.key = key
        self.token = token
        self._why = "invalid token"

    # -- vendor behaviour ----------------------------------------------------------------
    def authorised(self, req: Request) -> bool:
        key, token = req.arg("key"), req.arg("token")
        header = req.headers.get("Authorization", "")
        if header.startswith("OAuth "):
            parts = dict(_OAUTH.findall(header))
            key, token = parts.get("oauth_consumer_key"), parts.get("oauth_token")
        if key != self.key:
            self._why = "invalid key"
            return False
        self._why = "invalid token"
        return token == self.token

    def unauthorised(self, req: Request) -> Reply:
        return Reply(self._why.encode(), 401)

    def error_body(self, status: int, message: str) -> Any:
        return message.encode()

    def rate_limited(self, retry_after: str | None) -> Reply:
        body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
        return Reply(body, 429, {"Retry-After": retry_after} if retry_after else {})

    # -- payloads ----------------------------------------------------------------------
    def member_json(self, m: dict[str, Any], *, me: bool = False) -> dict[str, Any]:
        out = {
            "id": m["id"],
            "fullName": m["fullName"],
            "username": m["username"],
            "initials": "".join(w[0] for w in m["fullName"].split()[:2]).upper(),
            "avatarHash": None,
            "avatarUrl": None,
            "confirmed": True,
            "memberType": "normal",
            "url": f"https://trello.com/u/{m['username']}",
            "activityBlocked": False,
            "nonPublic": {},
            "nonPublicAvailable": True,
        }
        if me:
            out["email"] = m["email"]
            out["idBoards"] = [b["id"] for b in self.site.boards]
        return out

    def _member(self, mid: str) -> dict[str, Any]:
        found = next((m for m in [*self.site.members, self.site.me] if m["id"] == mid), None)
        return found or {"id": mid, "fullName": "Deleted member", "username": "deleted"}

    def board_json(self, b: dict[str, Any]) -> dict[str, Any]:
        last = max((c["dateLastActivity"] for c in b["cards"]), default=created_from_id(b["id"]))
        return {
            "id": b["id"],
            "name": b["name"],
            "desc": b["desc"],
            "descData": None,
            "closed": False,
            "idOrganization": None,
            "idEnterprise": None,
            "pinned": False,
            "url": f"https://trello.com/b/{b['shortLink']}/{b['name'].lower().replace(' ', '-')}",
            "shortUrl": f"https://trello.com/b/{b['shortLink']}",
            "shortLink": b["shortLink"],
            "dateLastActivity": iso(last, millis=True),
            "labelNames": {lab["color"]: lab["name"] for lab in b["labels"]},
        }

    def list_json(self, b: dict[str, Any], lst: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": lst["id"],
            "name": self.quirks.list_name(lst["name"]),
            "closed": lst["closed"],
            "idBoard": b["id"],
            "pos": lst["pos"],
            "subscribed": False,
            "softLimit": None,
        }

    def label_json(self, b: dict[str, Any], lab: dict[str, Any]) -> dict[str, Any]:
        return {"id": lab["id"], "idBoard": b["id"], "name": lab["name"], "color": lab["color"]}

    def card_json(self, b: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
        checks = [i for cl in c["checklists"] for i in cl["checkItems"]]
        due, start = self.quirks.due(c["due"]), self.quirks.start(c["start"])
        return {
            "id": self.quirks.card_id(c),
            "badges": {
                "checkItems": len(checks),
                "checkItemsChecked": sum(1 for i in checks if i["state"] == "complete"),
                "comments": 0,
                "attachments": 0,
                "description": bool(c["desc"]),
                "due": iso(due, millis=True) if due else None,
                "dueComplete": c["dueComplete"],
                "start": iso(start, millis=True) if start else None,
                "votes": 0,
                "viewingMemberVoted": False,
                "subscribed": False,
                "fogbugz": "",
            },
            "checkItemStates": [],
            "closed": c["closed"],
            "dateLastActivity": iso(c["dateLastActivity"], millis=True),
            "desc": c["desc"],
            "descData": {"emoji": {}},
            "due": iso(due, millis=True) if due else None,
            "dueReminder": None,
            "dueComplete": c["dueComplete"],
            "start": iso(start, millis=True) if start else None,
            "idBoard": b["id"],
            "idChecklists": [cl["id"] for cl in c["checklists"]],
            "idLabels": list(c["idLabels"]),
            "idList": c["idList"],
            "idMembers": list(c["idMembers"]),
            "idMembersVoted": [],
            "idShort": c["idShort"],
            "idAttachmentCover": None,
            "labels": [
                self.label_json(b, lab) for lab in b["labels"] if lab["id"] in c["idLabels"]
            ],
            "manualCoverAttachment": False,
            "name": c["name"],
            "pos": c["pos"],
            "shortLink": c["shortLink"],
            "shortUrl": f"https://trello.com/c/{c['shortLink']}",
            "url": f"https://trello.com/c/{c['shortLink']}/{c['idShort']}",
            "subscribed": False,
            "cover": {"idAttachment": None, "color": None, "size": "normal", "brightness": "dark"},
        }

    def checklist_json(
        self, b: dict[str, Any], c: dict[str, Any], cl: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": cl["id"],
            "name": cl["name"],
            "idBoard": b["id"],
            "idCard": self.quirks.card_id(c),
            "pos": 16384,
            "checkItems": [
                {
                    "id": i["id"],
                    "idChecklist": cl["id"],
                    "name": i["name"],
                    "nameData": None,
                    "pos": i["pos"],
                    "state": i["state"],
                    "due": None,
                    "idMember": None,
                }
                for i in cl["checkItems"]
            ],
        }

    def action_json(
        self, b: dict[str, Any], c: dict[str, Any], a: dict[str, Any]
    ) -> dict[str, Any]:
        lists = {lst["id"]: lst for lst in b["lists"]}
        card = {
            "id": self.quirks.card_id(c),
            "name": c["name"],
            "idShort": c["idShort"],
            "shortLink": c["shortLink"],
        }
        board = {"id": b["id"], "name": b["name"], "shortLink": b["shortLink"]}
        if a["type"] == "createCard":
            kind = "createCard"
            data: dict[str, Any] = {
                "card": card,
                "board": board,
                "list": self._ref(lists[a["list"]]),
            }
            key = "action_create_card"
        elif a["type"] == "move":
            kind = "updateCard"
            data = {
                "card": {**card, "idList": a["new"]},
                "old": {"idList": a["old"]},
                "board": board,
                "listBefore": self._ref(lists[a["old"]]),
                "listAfter": self._ref(lists[a["new"]]),
            }
            key = "action_move_card_from_list_to_list"
        elif a["type"] == "due":
            kind = "updateCard"
            data = {
                "card": {**card, "due": iso(self.quirks.due(a["new"]), millis=True)},
                "old": {"due": iso(self.quirks.due(a["old"]), millis=True) if a["old"] else None},
                "board": board,
                "list": self._ref(lists[c["idList"]]),
            }
            key = "action_changed_a_due_date"
        else:
            kind = "updateCard"
            data = {
                "card": {**card, "closed": True},
                "old": {"closed": False},
                "board": board,
                "list": self._ref(lists[c["idList"]]),
            }
            key = "action_archived_card"
        member = self._member(a["member"])
        return {
            "id": a["id"],
            "idMemberCreator": a["member"],
            "data": data,
            "appCreator": None,
            "type": kind,
            "date": iso(a["date"], millis=True),
            "limits": {},
            "display": {"translationKey": key, "entities": {}},
            "memberCreator": {
                "id": member["id"],
                "activityBlocked": False,
                "avatarHash": None,
                "avatarUrl": None,
                "fullName": member["fullName"],
                "idMemberReferrer": None,
                "initials": "".join(w[0] for w in member["fullName"].split()[:2]).upper(),
                "nonPublic": {},
                "nonPublicAvailable": True,
                "username": member["username"],
            },
        }

    # -- helpers -----------------------------------------------------------------------
    def _ref(self, lst: dict[str, Any]) -> dict[str, Any]:
        return {"id": lst["id"], "name": self.quirks.list_name(lst["name"])}

    def _served(self, a: dict[str, Any], b: dict[str, Any]) -> bool:
        return not self.quirks.hides(a, {lst["id"]: lst for lst in b["lists"]})

    def _board(self, ref: str) -> dict[str, Any]:
        b = self.site.board(ref)
        if b is None:
            raise HttpError(404, "The requested resource was not found.")
        return b

    @staticmethod
    def _filters(req: Request, default: str) -> set[str]:
        return {f for f in (req.arg("filter") or default).split(",") if f}

    @staticmethod
    def _matches(a: dict[str, Any], filters: set[str]) -> bool:
        if "all" in filters:
            return True
        names = {
            "createCard": {"createCard"},
            "move": {"updateCard", "updateCard:idList"},
            "archive": {"updateCard", "updateCard:closed"},
            "due": {"updateCard", "updateCard:due"},
        }[a["type"]]
        return bool(names & filters)

    # -- routes ------------------------------------------------------------------------
    @route("GET", r"/members/me")
    def get_me(self, req: Request) -> Any:
        return self.member_json(self.site.me, me=True)

    @route("GET", r"/boards/(?P<bid>\w+)")
    def get_board(self, req: Request, bid: str) -> Any:
        return self.board_json(self._board(bid))

    @route("GET", r"/boards/(?P<bid>\w+)/lists")
    def get_lists(self, req: Request, bid: str) -> Any:
        b = self._board(bid)
        want = req.arg("filter", "open")
        return [self.list_json(b, x) for x in b["lists"] if want == "all" or not x["closed"]]

    @route("GET", r"/boards/(?P<bid>\w+)/members")
    def get_members(self, req: Request, bid: str) -> Any:
        b = self._board(bid)
        return [self.member_json(self._member(m)) for m in b["members"]]

    @route("GET", r"/boards/(?P<bid>\w+)/labels")
    def get_labels(self, req: Request, bid: str) -> Any:
        b = self._board(bid)
        return [self.label_json(b, lab) for lab in b["labels"]]

    @route("GET", r"/boards/(?P<bid>\w+)/checklists")
    def get_checklists(self, req: Request, bid: str) -> Any:
        b = self._board(bid)
        return [self.checklist_json(b, c, cl) for c in b["cards"] for cl in c["checklists"]]

    @route("GET", r"/boards/(?P<bid>\w+)/cards")
    def get_cards(self, req: Request, bid: str) -> Any:
        return self._cards(req, bid, req.arg("filter", "visible") or "visible")

    @route("GET", r"/boards/(?P<bid>\w+)/cards/(?P<which>all|closed|open|visible|none)")
    def get_cards_filtered(self, req: Request, bid: str, which: str) -> Any:
        return self._cards(req, bid, which)

    def _cards(self, req: Request, bid: str, which: str) -> Any:
        b = self._board(bid)
        with self.lock:
            rows = [
                c
                for c in b["cards"]
                if which == "all" or (which == "closed") == c["closed"] and which != "none"
            ]
            if req.arg("limit") is None:
                rows.sort(key=lambda c: c["pos"])
                return [self.card_json(b, c) for c in rows]
            limit = max(1, req.int_arg("limit", 1000, maximum=1000))
            served = self.quirks.card_id
            rows.sort(key=served, reverse=True)
            before = req.arg("before") or ""
            if before:
                if re.fullmatch(r"[0-9a-fA-F]{24}", before):
                    before = before.lower()
                rows = [c for c in rows if served(c) < before]
            return [self.card_json(b, c) for c in rows[:limit]]

    @route("GET", r"/boards/(?P<bid>\w+)/actions")
    def get_board_actions(self, req: Request, bid: str) -> Any:
        b = self._board(bid)
        filters = self._filters(req, "all")
        limit = max(0, req.int_arg("limit", 50, maximum=1000))
        with self.lock:
            rows = [
                (c, a)
                for c in b["cards"]
                for a in c["actions"]
                if self._matches(a, filters) and self._served(a, b)
            ]
            for name, keep in (("before", lambda x, y: x < y), ("since", lambda x, y: x > y)):
                value = req.arg(name)
                if value:
                    kind, v = _when(value)
                    rows = [
                        (c, a) for c, a in rows if keep(a["id"] if kind == "id" else a["date"], v)
                    ]
            rows.sort(key=lambda ca: (ca[1]["date"], ca[1]["id"]), reverse=True)
            return [self.action_json(b, c, a) for c, a in rows[:limit]]

    @route("GET", r"/cards/(?P<cid>\w+)/actions")
    def get_card_actions(self, req: Request, cid: str) -> Any:
        found = self.site.card(cid) or next(
            ((b, c) for b in self.site.boards for c in b["cards"] if self.quirks.card_id(c) == cid),
            None,
        )
        if found is None:
            raise HttpError(404, "The requested resource was not found.")
        b, c = found
        filters = self._filters(req, "commentCard,updateCard:idList")
        page = max(0, req.int_arg("page", 0))
        rows = sorted(
            (a for a in c["actions"] if self._matches(a, filters) and self._served(a, b)),
            key=lambda a: (a["date"], a["id"]),
            reverse=True,
        )
        return [self.action_json(b, c, a) for a in rows[page * 50 : (page + 1) * 50]]

    # -- mutations ---------------------------------------------------------------------
    def latest(self) -> dt.datetime:
        return max(c["dateLastActivity"] for b in self.site.boards for c in b["cards"])

    def move_card(self, card_id: str, list_name: str, member: str | None = None) -> dict[str, Any]:
        with self.lock:
            found = self.site.card(card_id)
            assert found is not None
            b, c = found
            target = next(x for x in b["lists"] if x["name"] == list_name)
            now = self.now(self.latest())
            c["actions"].append(
                {
                    "id": self.site.new_id(now),
                    "type": "move",
                    "date": now,
                    "member": member or c["creator"],
                    "old": c["idList"],
                    "new": target["id"],
                }
            )
            c["idList"] = target["id"]
            c["dateLastActivity"] = now
            return c

    def delete_card(self, card_id: str) -> None:
        with self.lock:
            found = self.site.card(card_id)
            assert found is not None
            found[0]["cards"].remove(found[1])
