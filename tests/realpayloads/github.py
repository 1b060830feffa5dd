"""Replay of ``../shared/real-payloads/github`` through the GitHub mappings (no HTTP).

PyGithub's replay recordings are lists of exchanges (method, url, status, headers, body);
each answer is routed by its URL to the mapper the connector uses for that endpoint.
Pull requests (issues carrying ``pull_request``) are dropped as the connector drops them.
Rate-limit answers are run through the retry layer's header readers. perceval's files are
REST issue lists, and GraphQL timeline pages and rate-limit bodies (not what pmohub asks
for: counted as not replayed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import requests

from pmohub.connectors.errors import RecordError
from pmohub.connectors.github import mapping
from pmohub.connectors.http import is_retryable, rate_limit_reset_wait
from realpayloads import Replay, real_folder

CTX = mapping.MappingContext(source="real-github")
_REPO = re.compile(r"/repos/([^/]+/[^/?]+)")


def replay(keep: dict[str, Any] | None = None) -> Replay:
    folder = real_folder("github")
    out = Replay("github")
    kept = keep if keep is not None else {}
    seen: set[tuple[str, str]] = set()  # (file, issue id): a recording may repeat an answer
    for path in sorted(folder.rglob("*.json")):
        out.files += 1
        doc = json.loads(path.read_text())
        if path.parent.name == "pygithub":
            for ex in doc:
                _exchange(out, kept, ex, path.stem, seen)
        elif isinstance(doc, list):  # perceval: REST issue list
            for issue in doc:
                _issue(out, kept, issue, "chaoss/grimoirelab-perceval", path.stem, seen)
        else:
            out.skipped["not replayed: GraphQL or rate-limit body"] += 1
    return out


def _body(ex: dict[str, Any]) -> Any:
    body = ex.get("body")
    if isinstance(body, str):
        try:
            return json.loads(body) if body.strip() else None
        except ValueError:
            return None
    return body


def _exchange(
    out: Replay, kept: dict[str, Any], ex: dict[str, Any], name: str, seen: set[tuple[str, str]]
) -> None:
    url, status, body = str(ex["url"]), int(ex["status"]), _body(ex)
    headers = ex.get("headers") or {}
    if _rate_limited(status, headers):
        out.mapped["rate_limit_answers"] += 1
        return
    if status >= 300 or body is None:
        out.skipped[f"HTTP {status} answer"] += 1
        return
    m = _REPO.search(url)
    repo = m.group(1) if m else ""
    tail = url.split("?")[0][m.end() :] if m else url
    if re.fullmatch(r"/issues(/\d+)?", tail):
        for issue in body if isinstance(body, list) else [body]:
            _issue(out, kept, issue, repo, name, seen)
    elif re.fullmatch(r"/issues/\d+/(events|timeline)", tail):
        number = tail.split("/")[2]
        issue = {"id": f"{repo}#{number}"}
        _count(
            out, kept, "status_changes", lambda: list(mapping.to_status_changes(issue, body, CTX))
        )
    elif re.fullmatch(r"/milestones(/\d+)?", tail):
        for ms in body if isinstance(body, list) else [body]:
            _count(out, kept, "milestones", lambda ms=ms: mapping.to_milestone(ms, repo, CTX))
    elif tail == "" and m:
        _count(out, kept, "projects", lambda: mapping.to_project(body, CTX))
    else:
        out.skipped["not replayed: endpoint pmohub does not read"] += 1


def _rate_limited(status: int, headers: dict[str, str]) -> bool:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return status >= 400 and (is_retryable(response) or rate_limit_reset_wait(response) is not None)


def _issue(
    out: Replay,
    kept: dict[str, Any],
    issue: dict[str, Any],
    repo: str,
    name: str,
    seen: set[tuple[str, str]],
) -> None:
    if set(issue) <= {"id", "number"}:  # PyGithub's Issue33 recordings keep only the ids
        out.skipped["ids only: the recording keeps no fields"] += 1
        return
    if "pull_request" in issue:
        out.skipped["pull request (dropped like the connector does)"] += 1
        return
    key = (name, str(issue.get("id")))
    if key in seen:
        return
    seen.add(key)
    _count(out, kept, "work_items", lambda: mapping.to_work_item(issue, repo, CTX))


def _count(out: Replay, kept: dict[str, Any], kind: str, make: Callable[[], Any]) -> None:
    try:
        record = make()
    except (RecordError, KeyError, TypeError, ValueError) as exc:
        out.skipped[f"{kind}: {type(exc).__name__}"] += 1
        return
    records = record if isinstance(record, list) else [record]
    out.mapped[kind] += len(records)
    kept.setdefault(kind, []).extend(records)
