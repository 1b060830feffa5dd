"""Trello connector: boards as projects, lists as statuses, cards as work items.

* ``projects``: board ids or short links (from ``trello.com/b/<shortLink>/...``). The
  project key is the short link unless ``board_keys`` maps it (``{<id or shortLink>: KEY}``).
* Auth: ``token_env`` names the variable holding the user token; the application key comes
  from ``api_key_env`` (a variable name, default ``TRELLO_API_KEY``) or ``api_key``.
* Trello has no "updated since" card query. Every run lists the board's cards (paged,
  archived included, cheap) and keeps those whose ``dateLastActivity`` is at or after
  ``since``. History: a full pass reads the board's action feed once (all list moves,
  paged); an incremental run reads each changed card's own actions instead.
* ``time_zone`` (default Asia/Shanghai, as for files): the team's zone, in which a card's
  due and start instants are read as calendar days.
* No worklogs, iterations or milestones: Trello has none. Checklists: see ``mapping``
  (``checklist_items: true`` turns check items into child work items).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pmohub.connectors.base import (
    CHILD_KINDS,
    DEFAULT_TIME_ZONE,
    ChildrenComplete,
    ClientConnector,
    Skipped,
    SourceConfig,
    StreamItem,
    probe_each,
)
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Person, Project
from pmohub.connectors.timestamps import parse_utc
from pmohub.connectors.trello import mapping
from pmohub.connectors.trello.client import TrelloClient

DEFAULT_KEY_ENV = "TRELLO_API_KEY"


class TrelloConnector(ClientConnector[TrelloClient]):
    type: ClassVar[str] = "trello"
    projects_hint: ClassVar[str | None] = (
        "list the boards to read in 'projects' (ids or short links)"
    )
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["trello"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        zone_name = str(config.options.get("time_zone") or DEFAULT_TIME_ZONE)
        try:
            zone: dt.tzinfo = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time_zone {zone_name!r}", source=config.name) from exc
        self.ctx = mapping.MappingContext(
            source=config.name, status_map=dict(config.status_map), zone=zone
        )
        self._boards: dict[str, dict[str, Any]] | None = None

    def _api_key(self) -> str:
        opts = self.config.options
        if opts.get("api_key"):
            return str(opts["api_key"])
        var = str(opts.get("api_key_env") or DEFAULT_KEY_ENV)
        value = self.env.get(var)
        if not value:
            raise ConfigError(
                f"no Trello API key: set the environment variable {var} (api_key_env) or api_key",
                source=self.name,
            )
        return value

    def make_client(self, *, max_retries: int, max_wait_s: float) -> TrelloClient:
        return TrelloClient(
            self.config,
            key=self._api_key(),
            env=self.env,
            max_retries=max_retries,
            max_wait_s=max_wait_s,
        )

    @property
    def boards(self) -> dict[str, dict[str, Any]]:
        """Project key -> board payload (with its lists under ``_lists``)."""
        if self._boards is None:
            keys = {
                str(k): str(v) for k, v in (self.config.options.get("board_keys") or {}).items()
            }
            self._boards = {}
            for ref in self.config.projects:
                board = self.client.board(ref)
                key = (
                    keys.get(ref)
                    or keys.get(board["id"])
                    or keys.get(board.get("shortLink", ""))
                    or board.get("shortLink")
                    or board["id"]
                )
                board["_lists"] = {lst["id"]: lst for lst in self.client.lists(board["id"])}
                self._boards[key] = board
        return self._boards

    def check(self) -> dict[str, Any]:
        me = self.client.me()
        visible, missing = probe_each(self.config.projects, self.client.board)
        return {
            "user": me.get("username"),
            "projects_visible": visible,
            "projects_missing": missing,
        }

    def fetch_projects(self) -> Iterator[Project]:
        for key, board in self.boards.items():
            payload = {k: v for k, v in board.items() if k != "_lists"}
            yield mapping.to_project(payload, key, self.ctx)

    def fetch_people(self) -> Iterator[Person]:
        seen: set[str] = set()
        me = self.client.me()
        for board in self.boards.values():
            for member in self.client.members(board["id"]):
                if member["id"] not in seen:
                    seen.add(member["id"])
                    # Only the token's own member comes with an e-mail.
                    yield mapping.to_person(
                        {**member, **(me if me.get("id") == member["id"] else {})}, self.ctx
                    )

    def fetch_work_items(self, since: Any) -> Iterator[StreamItem]:
        history = self.flag("history")
        as_items = self.flag("checklist_items", False)
        kinds = CHILD_KINDS if history else CHILD_KINDS - {"status_changes"}
        for key, board in self.boards.items():
            checklists: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for cl in self.client.checklists(board["id"]):
                checklists[str(cl.get("idCard"))].append(cl)
            feed: dict[str, list[dict[str, Any]]] | None = None
            if history and since is None:
                feed = defaultdict(list)
                for action in self.client.board_actions(board["id"]):
                    card = (action.get("data") or {}).get("card") or {}
                    if card.get("id"):
                        feed[card["id"]].append(action)
            for card in self.client.cards(board["id"], self.config.page_size):
                updated = parse_utc(card.get("dateLastActivity"))
                if since is not None and updated is not None and updated < since:
                    continue
                changes = []
                if history:
                    actions = (
                        feed.get(card["id"], [])
                        if feed is not None
                        else self.client.card_actions(card["id"])
                    )
                    changes = list(mapping.to_status_changes(card["id"], actions, self.ctx))
                try:
                    item = mapping.to_work_item(
                        card,
                        key,
                        board["_lists"],
                        self.ctx,
                        changes=changes,
                        checklists=checklists.get(card["id"], ()),
                    )
                except RecordError as exc:
                    yield Skipped(exc)
                    continue
                yield item
                yield from changes
                yield ChildrenComplete(item.external_id, kinds)
                if as_items:
                    for sub in mapping.to_checklist_items(
                        item, checklists.get(card["id"], ()), self.ctx
                    ):
                        yield sub
                        yield ChildrenComplete(sub.external_id, kinds)

    def census(self, project_key: str) -> Iterator[str]:
        board = self.boards.get(project_key)
        if board is None:
            return
        for card in self.client.cards(board["id"], 1000):
            yield str(card["id"])
        if self.flag("checklist_items", False):
            for cl in self.client.checklists(board["id"]):
                for item in cl.get("checkItems") or []:
                    yield str(item["id"])
