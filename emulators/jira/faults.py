"""Fault injection for the Jira emulator (thread-safe; each fault fires a set number of times)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RequestHook = Callable[[str, str, dict[str, str]], Any]


@dataclass
class _Pending:
    kind: str  # rate_limit | unavailable | slow | drop
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
