"""HTTP to the Trello REST API (``https://api.trello.com/1``).

Trello authenticates with an application key plus a user token. Both go in an
``Authorization: OAuth oauth_consumer_key="..", oauth_token=".."`` header rather than the
query string, so they never sit in URLs (and so in proxies' logs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.restclient import JsonClient

DEFAULT_URL = "https://api.trello.com/1"
HISTORY_FILTER = "createCard,updateCard:idList,updateCard:closed,updateCard:due"


class TrelloClient(JsonClient):
    def __init__(
        self, config: SourceConfig, *, key: str, env: Mapping[str, str] | None = None, **kw: Any
    ):
        token = config.secret(env)  # None without token_env
        super().__init__(config, config.url or DEFAULT_URL, token=token, secrets=(key,), **kw)
        self.key_source = str(config.options.get("api_key_env") or "api_key")
        self.session.headers["Authorization"] = (
            f'OAuth oauth_consumer_key="{key}", oauth_token="{token or ""}"'
        )

    def hint(self, code: int, path: str) -> str:
        token_env = self.config.token_env or "token_env"
        if code == 401:
            return (
                f"Trello refused the key or token: check the API key ({self.key_source}) and the "
                f"token in the environment variable {token_env}"
            )
        if code in (400, 404) and path.startswith("/boards/"):
            return "board not found: check 'projects' (board ids or short links from the board URL)"
        return super().hint(code, path)

    def me(self) -> dict[str, Any]:
        return self.get("/members/me", {"fields": "id,username,fullName,email"})

    def board(self, ref: str) -> dict[str, Any]:
        return self.get(f"/boards/{ref}")

    def lists(self, board_id: str) -> list[dict[str, Any]]:
        return self.get(f"/boards/{board_id}/lists", {"filter": "all"})

    def members(self, board_id: str) -> list[dict[str, Any]]:
        return self.get(f"/boards/{board_id}/members")

    def checklists(self, board_id: str) -> list[dict[str, Any]]:
        return self.get(f"/boards/{board_id}/checklists")

    def cards(self, board_id: str, page_size: int) -> Iterator[dict[str, Any]]:
        """Every card, archived ones too, paged back by id (``limit`` + ``before``)."""
        limit = min(1000, max(1, page_size))
        before: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if before:
                params["before"] = before
            page = self.get(f"/boards/{board_id}/cards/all", params)
            yield from page
            if len(page) < limit:
                return
            before = min(c["id"] for c in page)

    def board_actions(self, board_id: str) -> Iterator[dict[str, Any]]:
        """The board's card history, newest first, paged back with ``before``."""
        before: str | None = None
        while True:
            params: dict[str, Any] = {"filter": HISTORY_FILTER, "limit": 1000}
            if before:
                params["before"] = before
            page = self.get(f"/boards/{board_id}/actions", params)
            yield from page
            if len(page) < 1000:
                return
            before = page[-1]["id"]

    def card_actions(self, card_id: str) -> Iterator[dict[str, Any]]:
        page = 0
        while True:
            rows = self.get(f"/cards/{card_id}/actions", {"filter": HISTORY_FILTER, "page": page})
            yield from rows
            if len(rows) < 50:
                return
            page += 1
