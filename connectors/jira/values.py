"""Jira field values that real sites send in shapes their schemas do not promise (issue 12).

Pure functions, no I/O. Each reader either returns the value or, when it cannot, returns
None and appends a located ``Problem`` (docs/degrade-policy.md): the field is cleared, the
issue is kept.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from pmohub.connectors.base import Problem
from pmohub.connectors.timestamps import parse_utc

# "1,5": a decimal comma, unambiguous only with one comma, no dot and no thousands grouping
# ("1,500" could be fifteen hundred; it is refused).
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,(\d{1,2}|\d{4,})$")


def story_points(raw: Any, where: str, field: str, problems: list[Problem] | None) -> float | None:
    """A story-points value as a number, or None with a problem.

    Text-typed custom fields (Data Center, or a site that made "Story Points" a select or
    text field) carry ``"3"``, ``"1,5"``, ``"XL"`` or an option object; negative points are
    nonsense (summing them would subtract work) and are dropped too.
    """
    if raw is None or raw == "":
        return None
    value = raw
    if isinstance(value, Mapping):  # a select-list option {"value": "5"}
        value = value.get("value", value.get("name"))
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        _note(problems, where, field, raw, "story points are not a number; field cleared")
        return None
    if number < 0:
        _note(problems, where, field, raw, "negative story points; field cleared")
        return None
    return number


def soft(
    read: Callable[[Any], Any],
    raw: Any,
    where: str,
    field: str,
    problems: list[Problem] | None,
) -> Any:
    """``read(raw)``, or None with a problem when it raises (a date in an unknown format)."""
    try:
        return read(raw)
    except (TypeError, ValueError, AttributeError) as exc:
        _note(problems, where, field, raw, f"unreadable ({exc}); field cleared")
        return None


def history_time(value: Any) -> dt.datetime | None:
    """A changelog entry's ``created``. The schema says an ISO string, but
    ``POST /rest/api/3/changelog/bulkfetch`` answers a number: epoch milliseconds in live
    use, epoch seconds in Atlassian's own example. Below 1e11 it is read as seconds (1e11 s
    is the year 5138; 1e11 ms is 1973, before any Jira)."""
    if isinstance(value, str):  # the common case first: ~100,000 entries per 10k issues
        if value[4:5] == "-":  # ISO 8601 ("2024-01-02T..."): never a run of digits
            return parse_utc(value)
        # == re.fullmatch(r"\d{9,}", text), without a regex call per changelog entry
        text = value.strip()
        if len(text) < 9 or not text.isdecimal():
            return parse_utc(value)
        value = int(text)
    if isinstance(value, bool):
        raise ValueError(f"created {value!r} is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000.0 if abs(value) >= 1e11 else float(value)
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    return parse_utc(value)


#: Keys of Data Center's ``Sprint.toString()``; a sprint name may itself contain commas, so
#: the string is cut only before ``,<known key>=``.
_SPRINT_KEYS = (
    "id",
    "rapidViewId",
    "state",
    "name",
    "startDate",
    "endDate",
    "completeDate",
    "activatedDate",
    "sequence",
    "goal",
    "autoStartStop",
    "incompleteIssuesDestinationId",
    "synced",
)
_SPRINT_SPLIT = re.compile(r",(?=(?:" + "|".join(_SPRINT_KEYS) + r")=)")
_SPRINT_BODY = re.compile(r"\[(.*)\]\s*$", re.S)


def parse_sprint_string(text: str) -> dict[str, str | None]:
    """``com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=3,rapidViewId=1,
    state=ACTIVE,name=Sprint 3, the big one,startDate=2024-01-08T09:00:00.000+08:00,...]``
    -> ``{"id": "3", "name": "Sprint 3, the big one", "state": "ACTIVE", ...}``. Keys may
    come in any order (an old Cloud site puts ``id`` last); ``<null>`` is None."""
    m = _SPRINT_BODY.search(text)
    body = m.group(1) if m else text
    out: dict[str, str | None] = {}
    for part in _SPRINT_SPLIT.split(body):
        key, sep, value = part.partition("=")
        if not sep:
            continue
        value = value.strip()
        out[key.strip()] = None if value in ("<null>", "") else value
    return out


@functools.lru_cache(maxsize=4096)
def _parsed_sprint(text: str) -> dict[str, str | None]:
    # Every issue of a sprint repeats the same string (and the sprint light pass reads
    # every issue with a sprint on every run): parse each once. Callers get copies.
    return parse_sprint_string(text)


def sprint_objects(value: Any) -> list[dict[str, Any]]:
    """The sprint field as Agile-API-like objects (``id``, ``name``, ``state``,
    ``startDate``...), whether the site sent objects (Cloud, DC 8+) or strings (DC)."""
    if not value:
        return []
    out: list[dict[str, Any]] = []
    for s in value if isinstance(value, list) else [value]:
        if isinstance(s, Mapping):
            if s.get("id") is not None:
                out.append(dict(s))
        elif isinstance(s, str):
            parsed = _parsed_sprint(s)
            if parsed.get("id"):
                out.append(dict(parsed))
        elif isinstance(s, int) and not isinstance(s, bool):
            out.append({"id": s})
    return out


def _note(problems: list[Problem] | None, where: str, field: str, raw: Any, message: str) -> None:
    if problems is not None:
        problems.append(Problem(message, where=where, field=field, value=raw))


_DURATION_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([wdhm])", re.I)
#: Jira's default time tracking: 8-hour days, 5-day weeks (a site may configure others;
#: only old Server answers lack timeSpentSeconds, and they use these defaults unless set).
_UNIT_SECONDS = {"w": 5 * 8 * 3600, "d": 8 * 3600, "h": 3600, "m": 60}


def duration_seconds(text: Any) -> int | None:
    """Jira's duration text (``"18w 2d"``, ``"3h 30m"``) as seconds; None when unreadable.
    Old Jira Server worklogs carry only ``timeSpent``, no ``timeSpentSeconds``."""
    if not isinstance(text, str) or not text.strip():
        return None
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        return None
    return int(sum(float(n.replace(",", ".")) * _UNIT_SECONDS[u.lower()] for n, u in parts))
