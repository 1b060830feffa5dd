"""Small, hand-checkable datasets for the roll-up / load / forecast tests, written through
the real store writers (``aggregator.store.writes``), the way a sync writes them.

Calendar facts used (chinesecalendar, 2026): 2026-09-25 (Fri) is a holiday (中秋),
2026-09-20 (Sun) is a make-up working day (调休), 2026-10-01..07 are holidays (国庆) and
2026-10-10 (Sat) is a make-up working day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from pmohub.aggregator.store import writes as w
from pmohub.connectors import records as rec

SH = ZoneInfo("Asia/Shanghai")
SRC = "jira_main"

CONFIG = """
version: 1
timezone: Asia/Shanghai
calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}}
defaults: {calendar: cn, hours_per_day: 8, hpp: 6, default_estimate_h: {Story: 8, Task: 4, Bug: 4}}
sources:
  jira_main: {type: jira, url: https://example.atlassian.net, token_env: JIRA_TOKEN}
people:
  - {id: "jira_main:u-zhang", name: 张伟, hours_per_day: 6, aliases: ["gitlab:zhangwei"]}
  - {id: "jira_main:u-li", name: 李娜, allocation: 0.5, leave: ["2026-10-13..2026-10-14"]}
hierarchy:
  - portfolio: DIGI
    name: 数字化转型
    programmes:
      - programme: CUST
        name: 客户平台
        projects:
          - {key: CRM, name: 新版CRM, source: {name: jira_main, jql: "project = CRMA"},
             priority_rank: 1, critical: true, start_on: 2026-09-14, due_on: 2026-10-16}
          - {key: PAY, name: 支付, source: {name: jira_main, jql: "project = PAY"},
             priority_rank: 2}
    projects:
      - {key: OPS, name: 运维迁移, source: {name: jira_main, jql: "project = OPS"},
         priority_rank: 3}
"""


def local(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> dt.datetime:
    """A Shanghai wall-clock time as the UTC instant the store keeps."""
    return dt.datetime(y, mo, d, h, mi, tzinfo=SH).astimezone(dt.UTC)


def item(key: str, project: str, **kw: Any) -> rec.WorkItem:
    base: dict[str, Any] = {
        "source": SRC,
        "external_id": kw.pop("external_id", f"id-{key}"),
        "key": key,
        "project_key": project,
        "title": kw.pop("title", key),
        "type": kw.pop("type", "Story"),
        "status": kw.pop("status", "To Do"),
        "status_category": kw.pop("status_category", "todo"),
        "created_at": kw.pop("created_at", local(2026, 9, 1)),
        "updated_at": kw.pop("updated_at", local(2026, 10, 12)),
    }
    return rec.WorkItem(**base, **kw)


def moves(key: str, *steps: tuple[str, str, dt.datetime]) -> list[rec.StatusChange]:
    return [
        rec.StatusChange(
            source=SRC,
            external_id=f"sc-{key}-{n}",
            work_item_id=f"id-{key}",
            field="status",
            from_value=a,
            to_value=b,
            changed_at=at,
        )
        for n, (a, b, at) in enumerate(steps)
    ]


def write(
    engine: Engine,
    *,
    projects: Sequence[str] = ("CRMA", "PAY", "OPS"),
    people: Sequence[rec.Person] = (),
    items: Sequence[rec.WorkItem] = (),
    changes: Sequence[rec.StatusChange] = (),
    worklogs: Sequence[rec.Worklog] = (),
    milestones: Sequence[rec.Milestone] = (),
    iterations: Sequence[rec.Iteration] = (),
    at: dt.datetime | None = None,
) -> None:
    at = at or local(2026, 10, 16, 23)
    with engine.begin() as conn:
        w.upsert_source(conn, SRC, "jira", at=at)
        w.upsert_projects(
            conn,
            SRC,
            [rec.Project(source=SRC, external_id=f"p-{k}", key=k, name=k) for k in projects],
            at=at,
        )
        if people:
            w.upsert_people(conn, SRC, list(people), at=at)
        if milestones:
            w.upsert_milestones(conn, SRC, list(milestones), at=at)
        if iterations:
            w.upsert_iterations(conn, SRC, list(iterations), at=at)
        _, ids = w.upsert_work_items(conn, SRC, list(items), at=at)
        if changes:
            w.upsert_status_changes(conn, SRC, list(changes), item_ids=ids, at=at)
        if worklogs:
            w.upsert_worklogs(conn, SRC, list(worklogs), item_ids=ids, at=at)
