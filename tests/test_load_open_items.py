"""Which open items ``person_load`` loads, from its single read of the open items: a parent
with an open sub-task is planned through it (whoever the sub-task's assignee, none
included); a parent whose sub-tasks are all done is loaded; a non-work kind (Risk) and an
unassigned item are not; dated and undated items both come through."""

from __future__ import annotations

import datetime as dt

from rollup_data import CONFIG, SRC, item, write

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.load import person_load
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec

AS_OF = dt.date(2026, 10, 8)


def test_open_items_kinds_parents_assignees(store_url):
    engine = open_store(store_url)
    d = dt.date(2026, 10, 9)
    zhang = dict(assignee="u-zhang", due_on=d)
    write(
        engine,
        people=[rec.Person(source=SRC, external_id="u-zhang", display_name="Zhang Wei")],
        items=[
            item("CRMA-1", "CRMA", remaining_estimate_h=10.0, **zhang),  # parent, open sub-task
            item(
                "CRMA-2",
                "CRMA",
                type="Sub-task",
                parent_id="id-CRMA-1",
                remaining_estimate_h=3.0,
                due_on=d,
            ),  # unassigned: not loaded, yet its parent is planned through it
            item("CRMA-3", "CRMA", remaining_estimate_h=5.0, **zhang),  # parent, done sub-task
            item(
                "CRMA-4",
                "CRMA",
                type="Sub-task",
                parent_id="id-CRMA-3",
                status="Done",
                status_category="done",
                assignee="u-zhang",
                remaining_estimate_h=40.0,
                due_on=d,
            ),
            item("CRMA-5", "CRMA", type="Risk", remaining_estimate_h=100.0, **zhang),
            item("CRMA-6", "CRMA", remaining_estimate_h=7.0, due_on=d),  # unassigned
            item("CRMA-7", "CRMA", type="Bug", assignee="u-zhang"),  # undated: unscheduled
        ],
    )
    rep = person_load(engine, parse_config(CONFIG), AS_OF, weeks=1)
    w0 = rep.weeks.set_index("name").loc["张伟"]
    assert w0.demand_h == 5.0  # CRMA-3 only
    assert rep.unscheduled["key"].tolist() == ["CRMA-7"]
