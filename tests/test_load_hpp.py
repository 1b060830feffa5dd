"""rem_h = remaining estimate, else points x the team's hours per point x (1 − progress),
else the type default (docs/metrics.md 2.3), on SQLite and PostgreSQL, hand-computed.

The team's hours per point is the project's ``hpp`` of `pmohub status` (90-day median of
logged hours per point of done leaf items, at least 3 of them, else the policy default 6):

  PAY  done PAY-1 30 h / 5 pt = 6, PAY-2 24 h / 3 pt = 8, PAY-3 14 h / 2 pt = 7 -> 7 h/pt.
       Not counted: PAY-4 (100 h / 1 pt, last updated in June: outside 90 days) and the
       epic PAY-5 (500 h / 10 pt: not a leaf).
  CRM  only 2 done items with points and hours -> the default, 6 h/pt.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from rollup_data import CONFIG, SRC, item, local, write

from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.people import person_keys
from pmohub.aggregator.status.load import person_load, team_hpp
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.status.settings import hierarchy, project_ids, settings_for
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec
from pmohub.rules.metrics import DEFAULT_TYPE_HOURS, remaining_hours

AS_OF = dt.date(2026, 10, 8)  # Thu; cn: Oct 8, 9, 10 (make-up Sat) are week 0's working days


def done(key: str, project: str, pts: float, spent: float, **kw) -> rec.WorkItem:
    return item(
        key,
        project,
        status="Done",
        status_category="done",
        story_points=pts,
        time_spent_h=spent,
        resolved_at=kw.pop("resolved_at", local(2026, 9, 30)),
        updated_at=kw.pop("updated_at", local(2026, 9, 30)),
        **kw,
    )


def build(engine) -> None:
    d = dt.date
    write(
        engine,
        people=[
            rec.Person(source=SRC, external_id=e, display_name=n, email=f"{e}@example.cn")
            for e, n in (("u-zhang", "Zhang Wei"), ("u-li", "Li Na"))
        ],
        items=[
            done("PAY-1", "PAY", 5.0, 30.0),
            done("PAY-2", "PAY", 3.0, 24.0),
            done("PAY-3", "PAY", 2.0, 14.0),
            done(
                "PAY-4",
                "PAY",
                1.0,
                100.0,
                resolved_at=local(2026, 6, 1),
                updated_at=local(2026, 6, 1),
            ),
            done("PAY-5", "PAY", 10.0, 500.0, type="Epic"),
            done("CRMA-1", "CRMA", 2.0, 20.0),
            done("CRMA-2", "CRMA", 1.0, 10.0),
            # Open, undated: listed as unscheduled with their rem_h.
            item("PAY-10", "PAY", assignee="u-zhang", story_points=2.0),
            item("PAY-11", "PAY", assignee="u-zhang", story_points=4.0, progress=0.25),
            item(
                "PAY-12",
                "PAY",
                assignee="u-zhang",
                story_points=4.0,
                progress=0.25,
                remaining_estimate_h=5.0,
            ),
            item("PAY-13", "PAY", assignee="u-zhang", story_points=2.0, progress=1.0),
            item("CRMA-10", "CRMA", assignee="u-zhang", story_points=3.0),
            item("OPS-10", "OPS", type="Task", assignee="u-zhang", progress=0.5),
            # Open, dated: 4 pt x 7 h/pt x (1 - 0.25) = 21 h over 李娜's week 0 (cap 3 wd
            # x 4 h = 12 h).
            item(
                "PAY-14",
                "PAY",
                assignee="u-li",
                story_points=4.0,
                progress=0.25,
                start_on=d(2026, 10, 8),
                due_on=d(2026, 10, 10),
            ),
        ],
    )


@pytest.fixture
def env(store_url: str):
    engine = open_store(store_url)
    build(engine)
    return engine, parse_config(CONFIG)


def test_team_hpp_is_the_status_rollups_hpp(env) -> None:
    engine, config = env
    status = project_status(engine, config, AS_OF).projects.set_index("project_key")["hpp"]
    assert status.to_dict() == {"CRM": 6.0, "PAY": 7.0, "OPS": 6.0}
    pid = project_ids(engine, hierarchy(engine, config))
    own = team_hpp(engine, pid, AS_OF, settings_for(config))
    # Only PAY has enough samples; the others fall back to the policy default.
    assert own.to_dict() == {"PAY": 7.0}
    assert own.reindex(status.index).fillna(6.0).to_dict() == status.to_dict()


def test_points_use_team_hpp_and_progress(env) -> None:
    engine, config = env
    rep = person_load(engine, config, AS_OF, weeks=2)
    un = rep.unscheduled.set_index("key")
    assert un.loc["PAY-10", "rem_h"] == pytest.approx(2 * 7.0)
    assert un.loc["PAY-11", "rem_h"] == pytest.approx(4 * 7.0 * (1 - 0.25))
    assert un.loc["PAY-12", "rem_h"] == 5.0  # the remaining estimate wins over points
    assert un.loc["PAY-13", "rem_h"] == 0.0  # 100 % done
    assert un.loc["CRMA-10", "rem_h"] == pytest.approx(3 * 6.0)  # CRM: the default hpp
    # No estimate, no points: the type default, whatever the progress; flagged assumed.
    assert un.loc["OPS-10", "rem_h"] == 4.0 and bool(un.loc["OPS-10", "assumed"])
    assert not un.loc[["PAY-10", "PAY-11", "PAY-12", "CRMA-10"], "assumed"].any()
    li = rep.weeks.set_index(["name", "week"]).loc[("李娜", 0)]
    assert li.cap_h == 12.0 and li.demand_h == pytest.approx(21.0)
    assert li.load == pytest.approx(21 / 12) and li.status == "red"


def test_res_001_converts_points_as_load_does(env) -> None:
    engine, config = env
    rep = person_load(engine, config, AS_OF, weeks=4)
    li = int(rep.weeks.loc[rep.weeks["name"] == "李娜", "person_id"].iloc[0])
    res = run_checks(engine, config, as_of=AS_OF, rule_ids=["RES-001"], write=False).outcomes
    with engine.connect() as conn:
        key = person_keys(conn)[li]
    finding = res.set_index("subject").loc[f"person:{key}"]
    # 21 h (PAY's 7 h/pt, a quarter done), not 18 h (the default 6 h/pt) nor 28 h (progress
    # ignored), over 12 h of capacity.
    assert finding["value"] == pytest.approx(21 / 12)
    assert "move 9 h" in finding["message"]


def test_remaining_hours_progress_and_per_item_hpp() -> None:
    rem = pd.Series([np.nan, np.nan, np.nan, np.nan, 3.0, np.nan, np.nan])
    pts = pd.Series([2.0, 2.0, 2.0, 2.0, 5.0, np.nan, 1.0])
    types = pd.Series(["Story", "Story", "Story", "Story", "Story", "Bug", None])
    progress = pd.Series([None, np.nan, 0.5, 1.7, 0.9, 0.5, -0.2], dtype=object)
    hpp = np.array([5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 8.0])
    got, assumed = remaining_hours(
        rem, pts, types, hpp=hpp, progress=progress, type_hours={"bug": 3}
    )
    # None/NaN = nothing done; 1.7 clipped to 1 (all done), -0.2 to 0; the remaining
    # estimate ignores progress; no points: the type default.
    assert got.tolist() == [10.0, 10.0, 5.0, 0.0, 3.0, 3.0, 8.0]
    assert assumed.tolist() == [False] * 5 + [True, False]
    # Without progress (None) it is points x hpp; a scalar hpp applies to every item.
    got, assumed = remaining_hours(rem, pts, types, hpp=6.0)
    assert got.tolist() == [12.0, 12.0, 12.0, 12.0, 3.0, DEFAULT_TYPE_HOURS, 6.0]
