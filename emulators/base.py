"""Shared plumbing of the small tracker emulators (GitHub, GitLab, Trello, Azure Boards).

An emulator subclasses :class:`Emulator`, marks handler methods with :func:`route` and says
how its vendor authenticates, reports errors and rate-limits. The HTTP server, request log,
fault injection (the Jira emulator's :class:`~emulators.jira.faults.Faults`, which is
vendor-neutral apart from its changelog flag), threading and the monotonic clock live here.
The Jira emulator predates this module and keeps its own, larger server.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pmohub.emulators.handler import KeepAliveHandler, LoopbackServed, QuietServer
from pmohub.emulators.jira.faults import Faults
from pmohub.emulators.jira.quirks import LOGIN_PAGE

__all__ = ["Emulator", "Faults", "HttpError", "Reply", "Request", "iso", "route"]


class HttpError(Exception):
    """Raised by a handler: answered with the vendor's error body (``error_body``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Reply:
    """A handler result with a status or headers other than 200 + JSON (``bytes`` payloads
    are sent as text/plain)."""

    payload: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # email.message.Message
    body: Any

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def int_arg(self, name: str, default: int, *, maximum: int | None = None) -> int:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            n = int(value)
        except ValueError as exc:
            raise HttpError(400, f"{name} must be an integer") from exc
        return min(n, maximum) if maximum is not None else n


Handler = Callable[..., Any]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Mark an emulator method as the handler of ``method`` on paths matching ``pattern``
    (named groups become keyword arguments)."""

    def mark(fn: Handler) -> Handler:
        fn._route = (method, re.compile(f"^{pattern}$"))  # type: ignore[attr-defined]
        return fn

    return mark


def iso(at: dt.datetime, *, millis: bool = False) -> str:
    """UTC ISO 8601 with a ``Z`` (what GitHub, GitLab, Trello and Azure all send)."""
    at = at.astimezone(dt.UTC)
    if millis:
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class Emulator(LoopbackServed):
    """Base class: an HTTP server on 127.0.0.1 answering from in-memory state."""

    server_name = "Emulator/1.0"
    #: prefix stripped from every path before routing (``/api/v4``, ``/1`` ...)
    prefix = ""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.faults = Faults()
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.lock = threading.RLock()
        self._server: QuietServer | None = None
        self._last = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for name in dir(type(self)):
            fn = getattr(type(self), name)
            marked = getattr(fn, "_route", None)
            if marked is not None:
                self._routes.append((marked[0], marked[1], getattr(self, name)))

    # -- lifecycle ---------------------------------------------------------------------
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def now(self, floor: dt.datetime | None = None) -> dt.datetime:
        """Wall clock, never behind ``floor`` or the last value, strictly increasing (1 ms),
        so edits made in one test always sort after the generated data."""
        with self.lock:
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            candidates = [now, self._last + dt.timedelta(milliseconds=1)]
            if floor is not None:
                candidates.append(floor + dt.timedelta(seconds=1))
            self._last = max(candidates)
            return self._last

    # -- vendor behaviour (override) ---------------------------------------------------
    def authorised(self, req: Request) -> bool:
        return True

    def unauthorised(self, req: Request) -> Reply:
        return Reply(self.error_body(401, "Unauthorized"), 401)

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message}

    def rate_limited(self, retry_after: str | None) -> Reply:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(self.error_body(429, "Too Many Requests"), 429, headers)

    def unavailable(self, retry_after: str | None) -> Reply:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return Reply(self.error_body(503, "Service Unavailable"), 503, headers)

    def extra_headers(self, req: Request) -> dict[str, str]:
        return {}

    # -- dispatch ------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Reply:
        for hook in self.faults.hooks_for(req.path):
            hook(req.method, req.path, {k: ",".join(v) for k, v in req.query.items()})
        fault = self.faults.take(req.path)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.seconds)
            elif fault.kind == "rate_limit":
                return self.rate_limited(fault.retry_after)
            elif fault.kind == "unavailable":
                return self.unavailable(fault.retry_after)
            elif fault.kind == "drop":
                raise ConnectionAbortedError
            elif fault.kind == "login_page":  # SSO/proxy in front of the API, answering 200
                return Reply(LOGIN_PAGE, 200, {"Content-Type": "text/html; charset=utf-8"})
        if not self.authorised(req):
            return self.unauthorised(req)
        matched = False
        for method, pattern, fn in self._routes:
            m = pattern.match(req.path)
            if m is None:
                continue
            matched = True
            if method != req.method:
                continue
            try:
                result = fn(req, **m.groupdict())
            except HttpError as err:
                return Reply(self.error_body(err.status, err.message), err.status, err.headers)
            return result if isinstance(result, Reply) else Reply(result)
        if matched:
            return Reply(self.error_body(405, "Method Not Allowed"), 405)
        return Reply(self.error_body(404, "Not Found"), 404)


def _handler_for(emu: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(KeepAliveHandler):
        server_version = emu.server_name

        def do_PATCH(self) -> None:
            self.handle_method("PATCH")

        def handle_method(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            if emu.prefix and path.startswith(emu.prefix):
                path = path[len(emu.prefix) :]
            path = path.rstrip("/") or "/"
            query = parse_qs(parts.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw.decode("utf-8-sig"))
                except (ValueError, UnicodeDecodeError):
                    self.send(Reply(emu.error_body(400, "Problems parsing JSON"), 400))
                    return
            req = Request(method, path, query, self.headers, body)
            with emu.lock:
                emu.requests.append((method, path, query))
            try:
                reply = emu.dispatch(req)
            except ConnectionAbortedError:
                self.close_connection = True
                return
            reply.headers = {**emu.extra_headers(req), **reply.headers}
            self.send(reply)

        def send(self, reply: Reply) -> None:
            headers = dict(reply.headers)
            if isinstance(reply.payload, bytes):  # plain-text answers (Trello errors ...)
                data = reply.payload
                kind = headers.pop("Content-Type", "text/plain; charset=utf-8")
            else:
                data = json.dumps(reply.payload, ensure_ascii=False, separators=(",", ":")).encode()
                kind = "application/json; charset=utf-8"
            self.send_response(reply.status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


#: The day seeded sites end on unless a test says otherwise (a Monday).
DEFAULT_TODAY = dt.date(2026, 3, 2)


def history_window(today: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """(start, end) of a seeded site's history: ``days`` long, ending at 07:00 UTC on
    ``today``, so every seeded event lies before the working day's first requests."""
    end = dt.datetime.combine(today, dt.time(9), tzinfo=dt.UTC) - dt.timedelta(hours=2)
    return end - dt.timedelta(days=days), end


@dataclass(frozen=True)
class OffsetPage:
    """One ``page``/``per_page`` slice of a listing (GitHub and GitLab paging)."""

    rows: list[Any]
    number: int
    last: int
    size: int


def offset_page(req: Request, rows: list[Any], *, default_size: int) -> OffsetPage:
    """The page ``req`` asks for: ``per_page`` (default ``default_size``, at most 100) and
    ``page`` (from 1); a page past the end is empty, as the vendors answer."""
    size = max(1, req.int_arg("per_page", default_size, maximum=100))
    number = max(1, req.int_arg("page", 1))
    last = max(1, -(-len(rows) // size))
    return OffsetPage(rows[(number - 1) * size : number * size], number, last, size)


def link_header(base: str, query: dict[str, list[str]], page: int, last: int) -> str:
    """RFC 8288 ``Link`` with next/prev/first/last page URLs (GitHub and GitLab style)."""
    from urllib.parse import urlencode

    def url(n: int) -> str:
        q = {k: v[-1] for k, v in query.items()}
        q["page"] = str(n)
        return f"{base}?{urlencode(q)}"

    rels = []
    if page < last:
        rels.append(f'<{url(page + 1)}>; rel="next"')
        rels.append(f'<{url(last)}>; rel="last"')
    if page > 1:
        rels.append(f'<{url(1)}>; rel="first"')
        rels.append(f'<{url(page - 1)}>; rel="prev"')
    return ", ".join(rels)
