"""Pre-rendered Jira pages for benchmarks/jira_sync.py: record, then serve from memory.

``record`` runs the real connector (``sync_source``) against the in-process Jira emulator
and keeps every exchange it makes, as sent and as answered: method, path with query
string, request body -> status, content type, body bytes. It records a full sync, then
edits a share of the issues in the emulator and records the incremental sync that
follows (the JQL ``updated >= "..."`` answer and everything else that run asks).

``serve`` (``python benchmarks/jira_pages.py --serve FILE``, its own process so its CPU
is never the client's) answers those exchanges from a dict of complete pre-rendered HTTP/1.1
responses on a raw asyncio protocol: no routing, no JSON, no handler objects; keep-alive,
``TCP_NODELAY``. ``GET /__stats`` answers the server's own CPU seconds, so a benchmark
can show the server was not the bottleneck.

Lookup is exact on the request line (and body); on a miss, the JQL date literal of
``updated >= "yyyy-MM-dd HH:mm"`` is masked and the lookup retried: an incremental run's
window start is its previous run's start, which differs between recording and replay.
The answer is the recorded one either way. An unknown request is answered 599 so a
mismatch fails the run loudly instead of quietly measuring something else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import re
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

STATS_PATH = "/__stats"
_SINCE = re.compile(r'updated >= "[^"]*"')


@dataclass(frozen=True)
class Exchange:
    method: str
    target: str  # path + "?" + query, exactly as sent
    body: bytes
    status: int
    content_type: str
    payload: bytes


def loose_key(method: str, target: str, body: bytes) -> tuple[str, str, bytes]:
    """The request with the incremental window's date literal masked (see module doc)."""
    parts = urlsplit(target)
    query = [(k, _SINCE.sub('updated >= "*"', v)) for k, v in parse_qsl(parts.query)]
    return method, parts.path + "?" + urlencode(sorted(query)), body


# --- recording ----------------------------------------------------------------------------


def _recording_connector(config: Any, log: list[Exchange]) -> Any:
    from pmohub.connectors.jira import JiraConnector

    conn = JiraConnector(config)

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        req = response.request
        body = req.body or b""
        log.append(
            Exchange(
                method=req.method,
                target=req.path_url,
                body=body.encode() if isinstance(body, str) else body,
                status=response.status_code,
                content_type=response.headers.get("Content-Type", "application/json"),
                payload=response.content,
            )
        )
        return response

    conn.client.session.hooks["response"].append(hook)
    return conn


def record(
    issues: int, changed: float, page_size: int, token_env: str, seed: int = 7
) -> dict[str, Any]:
    """Full and incremental exchanges of the real sync against the emulator (Data Center)."""
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store import open_store
    from pmohub.connectors.base import SourceConfig
    from pmohub.emulators.jira.generator import generate_site
    from pmohub.emulators.jira.server import DEFAULT_TOKEN, JiraEmulator

    os.environ[token_env] = DEFAULT_TOKEN
    site = generate_site(seed=seed, projects=4, issues=issues)
    stats = {
        "issues": len(site.issues),
        "histories": sum(len(i["histories"]) for i in site.issues),
        "worklogs": sum(len(i["worklogs"]) for i in site.issues),
        "projects": [p["key"] for p in site.projects],
    }
    full: list[Exchange] = []
    inc: list[Exchange] = []
    with JiraEmulator(site, deployment="datacenter") as emu, tempfile.TemporaryDirectory() as tmp:
        cfg = SourceConfig(
            name="bench_jira",
            type="jira",
            url=emu.url,
            token_env=token_env,
            projects=tuple(stats["projects"]),
            page_size=page_size,
        )
        engine = open_store(f"sqlite:///{tmp}/record.db")
        with _recording_connector(cfg, full) as c:
            first = sync_source(engine, c, full=True)
        assert first.ok, first.error
        ordered = sorted(site.issues, key=lambda i: i["id"])
        want = max(1, int(len(ordered) * changed))
        step = max(1, len(ordered) // want)
        edited = 0
        for issue in ordered[::step][:want]:
            emu.edit_issue(issue["key"], summary=f"{issue['summary']} (edited)")
            edited += 1
        with _recording_connector(cfg, inc) as c:
            second = sync_source(engine, c)
        assert second.ok and second.mode == "incremental", second.error
        engine.dispose()
        url = emu.url
    stats.update(
        edited=edited,
        full_fetched=first.fetched,
        full_requests=len(full),
        full_bytes=sum(len(e.payload) for e in full),
        incremental_fetched=second.fetched,
        incremental_requests=len(inc),
        full_targets=[(e.method, e.target) for e in full],
    )
    return {"url": url, "full": full, "incremental": inc, "stats": stats}


# --- serving ------------------------------------------------------------------------------


def _render(e: Exchange, old_url: bytes, new_url: bytes) -> bytes:
    # Bodies name the recording emulator's address (self links); point them at this one.
    payload = e.payload.replace(old_url, new_url)
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(e.status, "X")
    head = (
        f"HTTP/1.1 {e.status} {reason}\r\nContent-Type: {e.content_type}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + payload


class _Pages(asyncio.Protocol):
    exact: dict[tuple[bytes, bytes, bytes], bytes] = {}
    loose: dict[tuple[str, str, bytes], bytes] = {}

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buf = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].split(b"\r\n")
            length = 0
            for line in lines[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            method, target, _ = lines[0].split(b" ", 2)
            self.transport.write(self.answer(method, target, body))

    def answer(self, method: bytes, target: bytes, body: bytes) -> bytes:
        found = self.exact.get((method, target, body))
        if found is not None:
            return found
        if target == STATS_PATH.encode():
            t = os.times()
            text = f'{{"cpu_s": {t.user + t.system}}}'.encode()
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)
        found = self.loose.get(loose_key(method.decode(), target.decode(), body))
        if found is not None:
            return found
        text = b"not recorded: " + method + b" " + target
        sys.stderr.write(text.decode() + "\n")
        return b"HTTP/1.1 599 Not Recorded\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)


def load_table(path: Path, port: int) -> None:
    rec = pickle.loads(path.read_bytes())
    old, new = rec["url"].encode(), f"http://127.0.0.1:{port}".encode()
    # Full first, then incremental: a request both runs make (catalogue, census) is
    # answered as the incremental run saw it, which for those is the same bytes.
    for e in rec["full"] + rec["incremental"]:
        raw = _render(e, old, new)
        _Pages.exact[(e.method.encode(), e.target.encode(), e.body)] = raw
        _Pages.loose[loose_key(e.method, e.target, e.body)] = raw


async def _serve(path: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    load_table(path, port)
    server = await asyncio.get_running_loop().create_server(_Pages, sock=sock)
    print(port, flush=True)
    async with server:
        await server.serve_forever()


class PageServer:
    """The serving process: ``with PageServer(file) as url: ...``."""

    def __init__(self, path: Path):
        self.path = path
        self.proc: Any = None

    def __enter__(self) -> str:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        port = int(self.proc.stdout.readline())
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def server_cpu(url: str) -> float:
    import json
    import urllib.request

    with urllib.request.urlopen(url + STATS_PATH, timeout=10) as r:
        return float(json.loads(r.read())["cpu_s"])


def record_to(path: Path, issues: int, changed: float, page_size: int, token_env: str) -> dict:
    """``record`` in a child process, pickled to ``path``; returns its stats. The parent
    stays small: a trial's peak RSS counts the parent's pages at fork (Linux keeps the
    high-water mark across exec), so a parent holding the recording would inflate all."""
    import json
    import subprocess

    argv = [sys.executable, __file__, "--record", str(path), "--issues", str(issues)]
    argv += ["--changed", str(changed), "--page-size", str(page_size), "--token-env", token_env]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    import json

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--serve", type=Path)
    ap.add_argument("--record", type=Path)
    ap.add_argument("--issues", type=int, default=10_000)
    ap.add_argument("--changed", type=float, default=0.01)
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--token-env", default="PMOHUB_BENCH_JIRA_TOKEN")
    args = ap.parse_args()
    if args.record:
        rec = record(args.issues, args.changed, args.page_size, args.token_env)
        args.record.write_bytes(pickle.dumps(rec))
        print(json.dumps(rec["stats"]))
        return 0
    asyncio.run(_serve(args.serve))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
