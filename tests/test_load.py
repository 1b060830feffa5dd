"""Resource load per person per week on SQLite and PostgreSQL, hand-computed.

As of Thu 2026-10-08 (cn calendar): Oct 1-7 are 国庆 holidays and Sat Oct 10 is a make-up
working day, so week 0 (Oct 5-11) has 3 working days left (8, 9, 10); week 1 (Oct 12-18)
has 5.
"""

from __future__ import annotations

import datetime as dt

import pytest
from rollup_data import CONFIG, SRC, item, local, write

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.load import person_load
from pmohub.aggregator.store import writes as w
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec

AS_OF = dt.date(2026, 10, 8)
CFG = CONFIG.replace(
    'leave: ["2026-10-13..2026-10-14"]}',
    'leave: ["2026-10-13..2026-10-14"]}\n  - {id: "jira_main:u-wang", name: 王芳, allocation: 0}',
)


def people() -> list[rec.Person]:
    return [
        rec.Person(source=SRC, external_id=e, display_name=n, email=f"{e}@example.cn")
        for e, n in (("u-zhang", "Zhang Wei"), ("u-li", "Li Na"), ("u-wang", "Wang Fang"))
    ]


def build(engine) -> None:
    d = dt.date
    write(
        engine,
        people=people(),
        iterations=[
            rec.Iteration(
                source=SRC,
                external_id="s1",
                name="Sprint 1",
                state="active",
                project_key="CRMA",
                start_at=local(2026, 9, 28),
                end_at=local(2026, 10, 13, 18),
            ),
        ],
        items=[
            item(
                "CRMA-20",
                "CRMA",
                assignee="u-zhang",
                remaining_estimate_h=12.0,
                start_on=d(2026, 10, 8),
                due_on=d(2026, 10, 10),
            ),
            item("PAY-20", "PAY", assignee="u-zhang", story_points=2.0, due_on=d(2026, 10, 9)),
            item("PAY-21", "PAY", type="Bug", assignee="u-zhang"),  # undated: unscheduled
            item(
                "CRMA-21",
                "CRMA",
                assignee="u-li",
                remaining_estimate_h=10.0,
                start_on=d(2026, 10, 8),
                due_on=d(2026, 10, 16),
            ),
            item(
                "CRMA-22", "CRMA", assignee="u-li", remaining_estimate_h=5.0, iteration_ids=("s1",)
            ),
            item(
                "CRMA-23",
                "CRMA",
                assignee="u-wang",
                remaining_estimate_h=2.0,
                due_on=d(2026, 10, 9),
            ),
            item(
                "CRMA-24",
                "CRMA",
                assignee="u-li",
                status="Done",
                status_category="done",
                remaining_estimate_h=50.0,
                due_on=d(2026, 10, 9),
            ),
        ],
    )
    # The same human in GitLab under another account: merged through the config alias.
    with engine.begin() as conn:
        w.upsert_source(conn, "gitlab", "gitlab")
        w.upsert_projects(
            conn, "gitlab", [rec.Project(source="gitlab", external_id="g1", key="OPS", name="ops")]
        )
        w.upsert_people(
            conn, "gitlab", [rec.Person(source="gitlab", external_id="zhangwei", display_name="zw")]
        )
        w.upsert_work_items(
            conn,
            "gitlab",
            [
                rec.WorkItem(
                    source="gitlab",
                    external_id="g-1",
                    key="OPS-20",
                    project_key="OPS",
                    title="迁移",
                    type="Task",
                    status="opened",
                    status_category="todo",
                    assignee="zhangwei",
                    remaining_estimate_h=6.0,
                    due_on=dt.date(2026, 9, 30),
                )
            ],
        )


@pytest.fixture
def load_env(store_url):
    engine = open_store(store_url)
    build(engine)
    return engine, parse_config(CFG)


def test_load_capacity_demand_conflicts(load_env):
    engine, config = load_env
    rep = person_load(engine, config, AS_OF, weeks=2)
    wk = rep.weeks.set_index(["name", "week"])
    # 张伟: 6 h/day; week 0: CRM 12 + PAY 2 pts x 6 = 12 + overdue OPS 6 (GitLab account).
    z0 = wk.loc[("张伟", 0)]
    assert z0.workdays == 3 and z0.cap_h == 18.0
    assert z0.demand_h == pytest.approx(30.0) and z0.load == pytest.approx(30 / 18)
    assert z0.status == "red" and z0.over == pytest.approx(30 / 18 - 1)
    assert wk.loc[("张伟", 1)].cap_h == 30.0 and wk.loc[("张伟", 1)].demand_h == 0
    # 李娜: 8 h x 0.5; leave Oct 13-14 takes 2 wd of week 1. CRMA-21 10 h over 8 wd;
    # sprint item 5 h over the sprint's 5 remaining wd (Oct 8, 9, 10, 12, 13).
    l0, l1 = wk.loc[("李娜", 0)], wk.loc[("李娜", 1)]
    assert (l0.cap_h, l1.cap_h) == (12.0, 12.0)
    assert l0.demand_h == pytest.approx(10 * 3 / 8 + 3.0)
    assert l1.demand_h == pytest.approx(10 * 5 / 8 + 2.0)
    # 王芳: allocation 0 with demand: red, not "infinitely loaded".
    assert wk.loc[("王芳", 0)].status == "red" and wk.loc[("王芳", 0)].cap_h == 0
    # Conflict: fill by priority -> CRM (P1) 12 h, PAY (P2) 6 of 12 h, OPS (P3) 0 of 6 h.
    c = rep.conflicts.set_index("name").loc["张伟"]
    assert c.recommendation == (
        "Defer 6 h of OPS (P3) for CRM (P1); Defer 6 h of PAY (P2) for CRM (P1)"
    )
    disp = rep.by_project.set_index(["person_id", "week", "project_key"])["displaced_h"]
    assert disp.groupby(level="project_key").sum().to_dict() == {"CRM": 0.0, "OPS": 6.0, "PAY": 6.0}
    assert len(rep.conflicts) == 1
    un = rep.unscheduled.set_index("key").loc["PAY-21"]
    assert un.rem_h == 4.0 and bool(un.assumed) and un["name"] == "张伟"
