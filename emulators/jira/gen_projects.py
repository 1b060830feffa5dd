"""Projects of a generated Jira site and their release plan: versions (one overdue),
one board each (the last delivery project's is kanban) and two-week sprints on the scrum
boards, closed, active and future relative to the site's "today". Also the shared state
of a generation (:class:`Builder`: seed, random generator, activity window, id counters)
and its millisecond/date helpers, which every later step uses.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

PROJECT_NAMES: list[tuple[str, str]] = [
    ("CRMA", "新版CRM"),
    ("PAY", "Payments Platform"),
    ("OPS", "运维迁移"),
    ("DATA", "Data Lake"),
    ("MOB", "Mobile App"),
    ("HRX", "人力资源系统"),
    ("WEB", "Web Portal"),
    ("SEC", "Security Hardening"),
]
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def ms_at(day: date, hour: int = 0) -> int:
    """Epoch milliseconds of ``hour`` o'clock UTC on ``day``."""
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def day_of(ms: int) -> str:
    """The UTC date (ISO) of epoch milliseconds ``ms``."""
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


class Builder:
    """The seed, the one random generator every step draws from, the activity window and the
    id counters of one site being generated."""

    def __init__(self, seed: int, start_on: date, today: date) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.start_ms = ms_at(start_on, 1)
        # All generated activity ends before the start of `today` (UTC), so "now" is later.
        self.end_ms = ms_at(today) - HOUR_MS
        self.start_on = start_on
        self.today = today
        self.counters: dict[str, int] = {"history": 0, "worklog": 0, "comment": 0, "link": 0}

    def nid(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]


def project_rows(
    rng: random.Random, people: list[dict[str, Any]], projects: int
) -> list[dict[str, Any]]:
    """``projects - 1`` delivery projects, then the PMO registry project (always last)."""
    delivery_keys = [
        PROJECT_NAMES[i] if i < len(PROJECT_NAMES) else (f"P{i}", f"Project {i}")
        for i in range(projects - 1)
    ]
    project_rows: list[dict[str, Any]] = []
    for n, (key, name) in enumerate([*delivery_keys, ("PMO", "PMO 项目台账")]):
        project_rows.append(
            {
                "id": 10_000 + n,
                "key": key,
                "name": name,
                "lead": rng.choice(people)["account_id"],
                "description": f"{name} ({key})",
            }
        )
    return project_rows


def releases(
    b: Builder, project_rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(versions, boards, sprints) of the delivery projects."""
    rng, start_on, today = b.rng, b.start_on, b.today
    versions: list[dict[str, Any]] = []
    boards: list[dict[str, Any]] = []
    sprints: list[dict[str, Any]] = []
    span_days = (today - start_on).days
    for n, proj in enumerate(project_rows[:-1]):
        for v in range(4):
            rel = start_on + timedelta(days=int(span_days * (v + 1) / 3.2))
            released = rel < today and v < 2
            versions.append(
                {
                    "id": 10_100 + len(versions),
                    "project_key": proj["key"],
                    "name": f"R{v + 1}.0",
                    "description": f"Release {v + 1}",
                    "start_on": (rel - timedelta(days=40)).isoformat(),
                    "release_on": rel.isoformat(),
                    "released": released,
                    "archived": False,
                }
            )
        kanban = n == len(project_rows) - 2 and n > 0
        board_id = 1 + n
        boards.append(
            {
                "id": board_id,
                "name": f"{proj['key']} board",
                "type": "kanban" if kanban else "scrum",
                "project_key": proj["key"],
            }
        )
        if kanban:
            continue
        sprint_start = ms_at(start_on, 2)
        s = 1
        while sprint_start < b.end_ms + 28 * DAY_MS:
            end = sprint_start + 14 * DAY_MS
            if end <= b.end_ms:
                state, complete = "closed", end + 3 * HOUR_MS
            elif sprint_start <= b.end_ms:
                state, complete = "active", None
            else:
                state, complete = "future", None
            sprints.append(
                {
                    "id": 100 * board_id + s,
                    "board_id": board_id,
                    "name": f"{proj['key']} Sprint {s}",
                    "state": state,
                    "start_at": sprint_start if state != "future" else None,
                    "end_at": end if state != "future" else None,
                    "complete_at": complete,
                    "goal": rng.choice(["", "交付核心功能", "Stabilise release", "性能优化"]),
                }
            )
            sprint_start = end
            s += 1
    # One overdue version: unreleased, release date in the past.
    for v in versions:
        if not v["released"] and v["release_on"] < today.isoformat():
            break
    else:
        versions[1]["released"] = False
    return versions, boards, sprints
