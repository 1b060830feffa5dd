"""Quirks real Jira sites show and the emulator serves when switched on (``emu.faults``;
issue 12). Each is off by default so the plain emulator keeps answering by the schema:

- ``users_forbidden``: the user lists answer 403 (an account without the global
  "Browse users and groups" permission, as most PMO bot accounts are);
- ``bulkfetch_created``: ``"ms"`` / ``"s"``: ``POST /changelog/bulkfetch`` answers
  ``created`` as epoch milliseconds (live Cloud) or seconds (Atlassian's example);
- ``odd_changelog``: every history gets a ``Workflow`` and a ``RemoteIssueLink`` item (not
  field changes) and absent ``from`` sides are sent as ``""``;
- ``ignore_id_bound``: search ignores a top-level ``id > N`` (a caching proxy), so key-set
  paging gets the first page again and again;
- ``board_sprints_hidden``: boards list no sprints (a board the account cannot see, a
  deleted board) while issues still name them;
- ``forbid(prefix)``: an endpoint answering 403 (boards, versions) until cleared;
- ``login_page(times)``: 200 answers that are an HTML SSO login page, not JSON;
- ``story_points_text``: issue key -> the raw story-points value served (``"XL"``,
  ``"1,5"``, ``-3``), as a text-typed custom field would.
"""

from __future__ import annotations

from typing import Any

from pmohub.emulators.jira.faults import Faults

LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in - Example Corp SSO</title></head><body>"
    b'<form method="post" action="/idp/login"><input name="username"/>'
    b'<input type="password" name="password"/></form></body></html>'
)
USERS_FORBIDDEN = (
    "You do not have permission to browse users and groups "
    "(global permission 'Browse users and groups')."
)


def history(faults: Faults, hist: dict[str, Any]) -> dict[str, Any]:
    if not faults.odd_changelog:
        return hist
    items = []
    for item in hist["items"]:
        item = dict(item)
        item.setdefault("from", "")  # real Jira writes empty sides as "" for text fields
        items.append(item)
    items.append(
        {
            "field": "Workflow",
            "fieldtype": "jira",
            "from": "10000",
            "fromString": "classic default workflow",
            "to": "10100",
            "toString": "Software Simplified Workflow",
        }
    )
    items.append(
        {
            "field": "RemoteIssueLink",
            "fieldtype": "jira",
            "from": None,
            "fromString": None,
            "to": "10200",
            "toString": 'This issue links to "Design page (Confluence)"',
        }
    )
    return {**hist, "items": items}


def bulk_history(faults: Faults, hist: dict[str, Any], created_ms: int) -> dict[str, Any]:
    """``created_ms``: the history's time in epoch ms (the emulator's own clock)."""
    hist = history(faults, hist)
    if faults.bulkfetch_created == "ms":
        return {**hist, "created": created_ms}
    if faults.bulkfetch_created == "s":
        return {**hist, "created": created_ms // 1000}
    return hist


def issue_fields(
    faults: Faults, issue: dict[str, Any], fields: dict[str, Any], sp_ids: tuple[str, ...]
) -> dict[str, Any]:
    if issue["key"] in faults.story_points_text:
        value = faults.story_points_text[issue["key"]]
        for fid in sp_ids:
            if fid in fields:
                fields[fid] = value
    return fields
