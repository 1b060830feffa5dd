"""Baselines: taken from the current plan, or rebuilt from the changelog as of approval."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from pmohub.aggregator.compliance.baselines import reconstruct_baseline, take_baseline
from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.engine import open_store

CONFIG = """
version: 1
sources:
  jira_main: {type: jira, url: https://example.atlassian.net, token_env: JIRA_TOKEN}
hierarchy:
  - portfolio: DIGI
    projects:
      - {key: CRM, source: {name: jira_main, jql: "project = CRMA"}}
"""
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
APPROVED = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)


def _item(c, pid: int, n: int, **kw) -> int:
    values = dict(
        source="jira_main",
        external_id=str(n),
        key=f"CRMA-{n}",
        project_id=pid,
        project_key="CRMA",
        title="t",
        type="Story",
        status="To Do",
        status_category="todo",
        created_at=T0,
        labels=[],
        components=[],
        milestone_ids=[],
        iteration_ids=[],
        extra={},
    )
    values.update(kw)
    return c.execute(insert(m.WorkItem.__table__).values(**values)).inserted_primary_key[0]


def test_take_and_reconstruct(store_url: str) -> None:
    engine = open_store(store_url)
    config = parse_config(CONFIG)
    with engine.begin() as c:
        c.execute(insert(m.Source.__table__).values(name="jira_main", type="jira", created_at=T0))
        pid = c.execute(
            insert(m.Project.__table__).values(
                source="jira_main", external_id="1", key="CRMA", name="CRM"
            )
        ).inserted_primary_key[0]
        moved = _item(c, pid, 1, due_on=dt.date(2026, 7, 31), story_points=8.0)
        _item(c, pid, 2, due_on=dt.date(2026, 5, 1), story_points=3.0)
        _item(
            c, pid, 3, due_on=dt.date(2026, 9, 1), created_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
        )
        for n, (field, frm, to, when) in enumerate(
            [
                ("duedate", "2026-05-15", "2026-06-30", dt.datetime(2026, 4, 20, tzinfo=dt.UTC)),
                ("duedate", "2026-06-30", "2026-07-31", dt.datetime(2026, 5, 20, tzinfo=dt.UTC)),
                ("story_points", "5", "8", dt.datetime(2026, 4, 10, tzinfo=dt.UTC)),
                ("duedate", "2026-04-01", "2026-05-15", dt.datetime(2026, 3, 15, tzinfo=dt.UTC)),
            ]
        ):
            c.execute(
                insert(m.StatusChange.__table__).values(
                    source="jira_main",
                    external_id=f"h{n}",
                    work_item_id=moved,
                    field=field,
                    from_value=frm,
                    to_value=to,
                    changed_at=when,
                )
            )
    assert reconstruct_baseline(engine, config, "CRM", APPROVED) == 3  # 2 items + project
    assert (
        take_baseline(
            engine, config, "CRM", "manual", taken_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        )
        == 4
    )
    b = m.Baseline.__table__
    with engine.connect() as c:
        rows = c.execute(select(b).order_by(b.c.id)).all()
    rebuilt = {r.work_item_id: r for r in rows if r.reconstructed and r.subject_kind == "work_item"}
    # As of 04-01 item 1 was due 05-15 (the first change after approval says "from 05-15")
    # with 5 points; the change before approval is already in that value.
    assert rebuilt[moved].due_on == dt.date(2026, 5, 15)
    assert rebuilt[moved].story_points == 5.0
    assert len(rebuilt) == 2  # item 3 was created after approval
    project_row = next(r for r in rows if r.reconstructed and r.subject_kind == "project")
    assert project_row.due_on == dt.date(2026, 5, 15)
    current = {
        r.work_item_id: r for r in rows if not r.reconstructed and r.subject_kind == "work_item"
    }
    assert current[moved].due_on == dt.date(2026, 7, 31) and len(current) == 3
