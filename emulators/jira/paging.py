"""Paging helpers of the Jira emulator: the ``id > N`` bound split off a query (key-set
paging), sort keys, and the opaque page tokens. Kept apart from server.py (size)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pmohub.emulators.jira.jql as jqlmod


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        messages: list[str] | str,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.messages = [messages] if isinstance(messages, str) else messages
        self.headers = headers or {}
        self.raw = raw


def split_id_bound(where: Any) -> tuple[Any, tuple[str, int] | None]:
    """``(rest, (op, n))`` when ``where`` is ``id > n`` / ``id >= n`` or a top-level AND
    with one such clause; otherwise ``(where, None)``."""

    def bound(node: Any) -> tuple[str, int] | None:
        if (
            isinstance(node, jqlmod.Clause)
            and node.field == "id"
            and node.op in (">", ">=")
            and isinstance(node.values[0], int)
        ):
            return node.op, node.values[0]
        return None

    found = bound(where)
    if found is not None:
        return None, found
    if isinstance(where, jqlmod.BoolNode) and where.op == "and":
        bounds = [bound(c) for c in where.children]
        if sum(b is not None for b in bounds) == 1:
            rest = tuple(c for c, b in zip(where.children, bounds, strict=True) if b is None)
            found = next(b for b in bounds if b is not None)
            return (rest[0] if len(rest) == 1 else jqlmod.BoolNode("and", rest)), found
    return where, None


def sort_key(issue: dict[str, Any], order: list[tuple[str, bool]]) -> tuple:
    parts: list[Any] = []
    for field, desc in order:
        if field == "key":
            proj, _, num = issue["key"].rpartition("-")
            value: Any = (
                (tuple(-ord(c) for c in proj) + (1,), -int(num))
                if desc
                else (tuple(ord(c) for c in proj) + (-1,), int(num))
            )
            parts.append((0, value))
            continue
        raw = issue.get(field)
        if field == "due_on" and raw is not None:
            raw = int(raw.replace("-", ""))
        if raw is None:
            parts.append((-1, 0) if desc else (1, 0))
        else:
            parts.append((0, -raw if desc else raw))
    return tuple(parts)


def tuplify(value: Any) -> Any:
    return tuple(tuplify(v) for v in value) if isinstance(value, list) else value


def encode_token(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
        return data
    except (ValueError, json.JSONDecodeError) as exc:
        raise HttpError(400, "The provided next page token is invalid or expired.") from exc
