"""Fault injection for the Jira emulator (thread-safe; each fault fires a set number of times)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RequestHook = Callable[[str, str, dict[str, str]], Any]


@dataclass
class _Pending:
    kind: str  # rate_limit | unavailable | slow | drop | login_page
    remaining: int
    retry_after: str | None = None
    seconds: float = 0.0
    path_prefix: str = ""


class Faults:
    """`emu.faults`: queue faults that apply to the next matching requests, in call order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._hooks: list[tuple[str, RequestHook]] = []
        # Cloud embeds at most 40 histories in search results; tests set this flag to see
        # truncation with small generated histories (then `embedded_changelog_limit` applies).
        self.truncate_changelogs = False
        self.embedded_changelog_limit = 3
        # Real-site quirks (emulators/jira/quirks.py describes each); all off by default.
        self.users_forbidden = False
        self.bulkfetch_created: str | None = None  # "ms" | "s"
        self.odd_changelog = False
        self.ignore_id_bound = False
        self.board_sprints_hidden = False
        self.story_points_text: dict[str, Any] = {}
        self.forbidden: dict[str, str] = {}  # path prefix -> 403 message, until cleared

    def rate_limit(
        self, times: int = 1, retry_after: str | int | None = "1", path_prefix: str = ""
    ) -> None:
        """Next `times` requests answer 429; `retry_after` is seconds or an HTTP date."""
        self._add(_Pending("rate_limit", times, _text(retry_after), path_prefix=path_prefix))

    def unavailable(
        self, times: int = 1, retry_after: str | int | None = None, path_prefix: str = ""
    ) -> None:
        """Next `times` requests answer 503 (with Retry-After only when given)."""
        self._add(_Pending("unavailable", times, _text(retry_after), path_prefix=path_prefix))

    def slow(self, seconds: float = 0.5, times: int = 1, path_prefix: str = "") -> None:
        """Next `times` requests wait `seconds` before answering (to trip client timeouts)."""
        self._add(_Pending("slow", times, seconds=seconds, path_prefix=path_prefix))

    def drop_connection(self, times: int = 1, path_prefix: str = "") -> None:
        """Next `times` requests get their socket closed without any response."""
        self._add(_Pending("drop", times, path_prefix=path_prefix))

    def on_request(self, path_prefix: str, callback: RequestHook) -> None:
        """Call `callback(method, path, query)` before serving each request under the prefix
        (e.g. to edit an issue after the second search page)."""
        with self._lock:
            self._hooks.append((path_prefix, callback))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._hooks.clear()
        self.truncate_changelogs = False
        self.users_forbidden = self.odd_changelog = False
        self.ignore_id_bound = self.board_sprints_hidden = False
        self.bulkfetch_created = None
        self.story_points_text = {}
        self.forbidden = {}

    def forbid(self, path_prefix: str, message: str = "You do not have permission.") -> None:
        """Every request under `path_prefix` answers 403 (an endpoint the account may not
        use: boards, versions) until `clear()`."""
        self.forbidden[path_prefix] = message

    def forbidden_for(self, path: str) -> str | None:
        return next((m for p, m in self.forbidden.items() if path.startswith(p)), None)

    def login_page(self, times: int = 1, path_prefix: str = "") -> None:
        """Next `times` requests answer 200 with an HTML single sign-on page (a proxy or SSO
        in front of the API), not JSON."""
        self._add(_Pending("login_page", times, path_prefix=path_prefix))

    def hooks_for(self, path: str) -> list[RequestHook]:
        with self._lock:
            return [cb for prefix, cb in self._hooks if path.startswith(prefix)]

    def take(self, path: str) -> _Pending | None:
        """Consume the first pending fault matching `path` (one per request)."""
        with self._lock:
            for fault in self._pending:
                if path.startswith(fault.path_prefix) and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def _add(self, fault: _Pending) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._pending.append(fault)


def _text(value: str | int | None) -> str | None:
    return None if value is None else str(value)
