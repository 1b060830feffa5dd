"""Local stand-ins for a Slack incoming webhook and a Teams Workflows webhook (127.0.0.1).

Each checks the payload shape the real service requires and enforces its limits the way
the service does: Slack answers 400 ``invalid_blocks`` for more than 50 blocks or a
section text over 3,000 characters (``invalid_payload`` for a body that is not Block Kit),
Teams a 400 for anything but one Adaptive Card attachment of a version it renders.
``plan`` scripts answers before the real check (e.g. ``[(429, {"Retry-After": "2"})]``).
Every accepted body is kept in ``received``; ``links_and_mentions`` lists what a client
would turn into a mention or a link.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image"}
TEAMS_ELEMENT_TYPES = {"TextBlock", "RichTextBlock", "Container", "ColumnSet", "FactSet"}
TEAMS_VERSIONS = {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}

# Slack control sequences, and what auto-linking picks up when verbatim is off
SLACK_CONTROL = re.compile(r"<[!@#]|<(https?|mailto):|<[^>]*\|")
BARE_LINK = re.compile(r"(?i)\b(https?|mailto):(//)?\w")
BARE_MENTION = re.compile(r"(?i)@(channel|here|everyone)\b")
TEAMS_MARKDOWN = re.compile(r"\[[^\]]*\]\([^)]*\)|\*\*|<at>")


class Receiver:
    def __init__(self, check: Any) -> None:
        self.check = check
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.received: list[dict[str, Any]] = []
        self.requests = 0
        self.rejections: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.plan:
                    status, headers = receiver.plan.pop(0)
                    return self.answer(status, "planned", headers)
                try:
                    payload = json.loads(body)
                except ValueError:
                    return self.answer(400, "invalid_payload")
                problem = receiver.check(payload)
                if problem:
                    receiver.rejections.append(problem)
                    return self.answer(400, problem)
                receiver.received.append(payload)
                return self.answer(*receiver.ok)

            def answer(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
                data = text.encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.ok = (200, "ok")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        # the path stands for the secret part of a real webhook URL
        return f"http://127.0.0.1:{self.server.server_port}/services/T0SECRET/B0SECRET/xyzzy"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def slack_texts(payload: dict[str, Any]) -> list[tuple[str, bool]]:
    """Every text of a Block Kit body: (text, parsed as mrkdwn without verbatim)."""
    out = []

    def visit(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("type") in ("mrkdwn", "plain_text") and "text" in obj:
                out.append((obj["text"], obj["type"] == "mrkdwn" and not obj.get("verbatim")))
            for v in obj.values():
                visit(v)
        elif isinstance(obj, list):
            for v in obj:
                visit(v)

    visit(payload.get("blocks", []))
    return out


def check_slack(payload: dict[str, Any]) -> str | None:
    blocks = payload.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return "invalid_payload"
    if len(blocks) > 50:
        return "invalid_blocks: more than 50 blocks"
    for b in blocks:
        if b.get("type") not in SLACK_BLOCK_TYPES:
            return f"invalid_blocks: type {b.get('type')!r}"
        text = b.get("text")
        if b["type"] == "section":
            if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
                return "invalid_blocks: section without text"
            if len(text["text"]) > 3000:
                return "invalid_blocks: section text over 3000 characters"
        if b["type"] == "header" and (
            text.get("type") != "plain_text" or len(text.get("text", "")) > 150
        ):
            return "invalid_blocks: header"
        if b["type"] == "context" and not 1 <= len(b.get("elements", [])) <= 10:
            return "invalid_blocks: context elements"
    return None


def check_teams(payload: dict[str, Any]) -> str | None:
    if payload.get("type") != "message":
        return "type must be message"
    atts = payload.get("attachments")
    if not isinstance(atts, list) or len(atts) != 1:
        return "exactly one attachment"
    att = atts[0]
    if att.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return "not an Adaptive Card"
    card = att.get("content") or {}
    if card.get("type") != "AdaptiveCard" or card.get("version") not in TEAMS_VERSIONS:
        return f"card version {card.get('version')!r} not rendered"
    if len(json.dumps(payload).encode()) > 28_000:
        return "message over 28 KB"

    def visit(elements: list[Any]) -> str | None:
        for e in elements:
            if e.get("type") not in TEAMS_ELEMENT_TYPES:
                return f"unknown element {e.get('type')!r}"
            if e["type"] == "RichTextBlock" and any(
                i.get("type") != "TextRun" for i in e["inlines"]
            ):
                return "RichTextBlock inlines must be TextRun"
            if e["type"] == "Container":
                bad = visit(e.get("items", []))
                if bad:
                    return bad
        return None

    return visit(card.get("body", []))


def links_and_mentions_slack(payload: dict[str, Any]) -> list[str]:
    found = []
    for text, parses in slack_texts(payload):
        found += [m.group(0) for m in SLACK_CONTROL.finditer(text)]
        if parses:  # without verbatim Slack links bare URLs and @channel itself
            found += [m.group(0) for m in BARE_LINK.finditer(text)]
            found += [m.group(0) for m in BARE_MENTION.finditer(text)]
        found += [m.group(0) for m in BARE_LINK.finditer(text)]  # even verbatim: defanged
    return found


def teams_runs(payload: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def visit(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("type") in ("TextRun", "TextBlock"):
                out.append(obj)
            for v in obj.values():
                visit(v)
        elif isinstance(obj, list):
            for v in obj:
                visit(v)

    visit(payload)
    return out


def links_and_mentions_teams(payload: dict[str, Any]) -> list[str]:
    found = []
    for el in teams_runs(payload):
        text = el.get("text", "")
        if el["type"] == "TextBlock":  # TextBlock renders markdown
            found += [m.group(0) for m in TEAMS_MARKDOWN.finditer(text)]
        found += [m.group(0) for m in BARE_LINK.finditer(text)]
    return found
