"""The request handler base every emulator server shares (stdlib only, so both
``emulators.base`` and ``emulators.jira.server`` can import it without a cycle)."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler
from typing import Any


class KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no per-request logging, and GET/POST/PUT/DELETE handed to
    ``handle_method``. Subclasses set ``server_version`` and implement ``handle_method``."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
        # stalls every response ~40 ms (half the time of a Jira census page).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle_method(self, method: str) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self.handle_method("GET")

    def do_POST(self) -> None:
        self.handle_method("POST")

    def do_PUT(self) -> None:
        self.handle_method("PUT")

    def do_DELETE(self) -> None:
        self.handle_method("DELETE")
