"""The route table of the Jira emulator's REST API and what every API module shares.

Each ``api_*`` module registers its handlers on its own :class:`RouteTable`; the server
(``server.py``) concatenates the tables and dispatches a request to the first pattern that
matches its path. A handler is a plain module function ``(emu, groups, query, body)``: the
emulator is passed in rather than closed over, so the API families can live in separate
modules without importing the server (which imports them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pmohub.emulators.jira.paging import HttpError
from pmohub.emulators.jira.payloads import Ctx

#: (emulator, path groups, query, JSON body) -> the JSON payload of a 200 answer
RouteHandler = Callable[[Any, dict[str, str], dict[str, str], Any], Any]

API = r"/rest/api/(?P<api>2|3|latest)"
AGILE = r"/rest/agile/1\.0"


class RouteTable:
    """Routes in registration order: the order matters where patterns overlap (for
    instance ``/project/search`` must be tried before ``/project/{key}``)."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], RouteHandler]] = []

    def route(self, method: str, pattern: str) -> Callable[[RouteHandler], RouteHandler]:
        """Register the decorated handler for ``method`` ("GET", "GET|POST", ...) on the
        full-path regular expression ``pattern``."""

        def register(fn: RouteHandler) -> RouteHandler:
            self.routes.append((method, re.compile(f"^{pattern}$"), fn))
            return fn

        return register


def int_param(query: dict[str, str], name: str, default: int) -> int:
    """An integer query parameter; Jira answers 400 (not 500) to a non-number."""
    value = query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise HttpError(400, f"The '{name}' parameter must be an integer.") from exc


def ctx_for(emu: Any, groups: dict[str, str]) -> Ctx:
    """The rendering context for the API version in the path (``latest`` is 3 on Cloud,
    2 on Data Center, which has no v3)."""
    version = groups.get("api", "2")
    if version == "latest":
        version = "3" if emu.cloud else "2"
    if version == "3" and not emu.cloud:
        raise HttpError(404, "null for uri: /rest/api/3")
    return emu.ctx(version)
