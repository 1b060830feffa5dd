"""The request handler, server and lifecycle every emulator shares (stdlib only, so both
``emulators.base`` and ``emulators.jira.server`` can import it without a cycle)."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


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


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or hung up (the slow/drop faults) is normal here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackServed:
    """Start/stop (also as a context manager) and ``url`` of an emulator served on
    127.0.0.1 from a daemon thread; subclasses set ``port`` and ``_server = None`` and give
    their request handler class in :meth:`handler_class`."""

    port: int
    _server: QuietServer | None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        self._server = QuietServer(("127.0.0.1", self.port), self.handler_class())
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"{type(self).__name__}-{self.port}",
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
