"""One implementation per metric: the rules (`pmohub check`) and the roll-up (`pmohub
status` / `pmohub load`) give the same SPI_t and the same person/week load on the same
store, on SQLite and PostgreSQL. The datasets are the hand-computed ones of
tests/test_rollup.py (EVM with holidays, 调休, undated and cancelled baseline items) and
tests/test_load.py (merged GitLab account, sprint spreading, overdue, leave, allocation).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import test_load
import test_load_calendars
import test_load_hpp
import test_rollup
from rollup_data import CONFIG, item, write

from pmohub.aggregator.compliance.frames import load_frames, merged_person_settings
from pmohub.aggregator.compliance.run import _project_hpp, run_checks
from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.config.settings import config_calendar
from pmohub.aggregator.people import person_keys
from pmohub.aggregator.status.load import person_load
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.store.engine import open_store
from pmohub.rules.engine import load_rules
from pmohub.rules.formulas import evm_frame, load_frame


def subject_of(engine, person_id: int) -> str:
    """``person:<key>``: findings name a person by the stable key, not the store id."""
    with engine.connect() as conn:
        return f"person:{person_keys(conn)[person_id]}"


def test_spi_t_rule_equals_rollup(store_url: str) -> None:
    engine = open_store(store_url)
    config = parse_config(test_rollup.CONFIG_W)
    test_rollup.build(engine, config)
    as_of = test_rollup.AS_OF
    status = project_status(engine, config, as_of).projects.set_index("project_key")
    res = run_checks(engine, config, as_of=as_of, rule_ids=["VAR-003"], write=False).outcomes
    var = res.set_index("subject")
    evaluable = status["spi_t"].dropna()
    assert {"CRM", "PAY"} <= set(evaluable.index)  # hours and points baselines
    # VAR-003 evaluates CRM (PAY has < 10 % of BAC planned: N/E, OPS has no baseline).
    assert var.loc["project:CRM", "outcome"] == "finding"
    for key, spi_t in evaluable.items():
        row = var.loc[f"project:{key}"]
        if row["outcome"] != "ne":
            assert row["value"] == pytest.approx(spi_t, abs=1e-12), key
    # The EVM frame VAR-003/004 read (shared_evm -> evm_frame on the rules' frames), for
    # every project including the N/E ones.
    frames = load_frames(engine, config, [load_rules()["VAR-003"]])
    calendar, _ = config_calendar(config)
    evm = evm_frame(
        frames["baselines"], frames["work_items"], None, calendar, as_of, config.timezone
    )
    for col in ("bac", "ev", "pv", "es_wd", "at_wd", "spi_t"):
        got = evm[col].reindex(evaluable.index).to_numpy(dtype=float)
        want = status[col].reindex(evaluable.index).to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=col)
    # CRM is the hand-computed case: ES = 6.36 wd over AT = 20 wd from the Sep 14 origin.
    assert var.loc["project:CRM", "value"] == pytest.approx(
        (6 + (16 - (8 + 48 / 7)) / (18 - (8 + 48 / 7))) / 20
    )


def rule_load_frame(engine, config, as_of, weeks: int) -> pd.DataFrame:
    """The frame RES-001/002 compute from (rules.formulas.load_frame), fed as run_checks
    feeds it (merged person settings and calendars, the teams' hours per point)."""
    rules = [load_rules()["RES-001"]]
    frames = load_frames(engine, config, rules)
    calendar, _ = config_calendar(config)
    its = frames["iterations"]
    active = its[its["state"] == "active"]
    sprint_end = pd.Series(
        pd.to_datetime(active["end_at"], utc=True)
        .dt.tz_convert(config.timezone)
        .dt.tz_localize(None)
        .dt.normalize()
        .to_numpy(),
        index=active["external_id"].astype(str).to_numpy(),
    )
    ps = merged_person_settings(engine, config)
    defaults = config.defaults
    return load_frame(
        frames["work_items"],
        calendar,
        as_of,
        weeks=weeks,
        hours_per_day=float(defaults.get("hours_per_day", 8.0)),
        hpp=float(defaults.get("hpp", 6.0)),
        allocation=float(ps["allocation"]),
        default_estimate_h=defaults.get("default_estimate_h"),
        person_hours=ps["person_hours"],
        person_allocation=ps["person_allocation"],
        person_leave=ps["person_leave"],
        person_canonical=ps["person_canonical"],
        sprint_end_on=sprint_end,
        person_calendar=ps["person_calendar"],
        project_hpp=_project_hpp(engine, config, as_of),
    )


def test_person_week_load_rule_equals_load(store_url: str) -> None:
    engine = open_store(store_url)
    test_load.build(engine)
    config = parse_config(test_load.CFG)
    as_of = test_load.AS_OF
    rep = person_load(engine, config, as_of, weeks=4)
    weeks = rep.weeks.set_index(["person_id", "week"])
    zhang = int(rep.weeks.loc[rep.weeks["name"] == "张伟", "person_id"].iloc[0])

    # Per person and week, the rules' demand and capacity equal `pmohub load`'s.
    lf = rule_load_frame(engine, config, as_of, 4)
    pw = lf.groupby(["person_id", "week"]).agg(dem=("demand_h", "sum"), cap=("cap_h", "first"))
    assert zhang in pw.index.get_level_values("person_id")
    for (pid, week), r in pw.iterrows():
        agg = weeks.loc[(pid, week)]
        assert r["dem"] == pytest.approx(agg["demand_h"], abs=1e-9), (pid, week)
        assert r["cap"] == pytest.approx(agg["cap_h"], abs=1e-9), (pid, week)
    # Every loaded person-week of `pmohub load` is in the rule's frame too.
    loaded = weeks[weeks["demand_h"] > 0].index
    assert set(loaded) <= set(pw.index)

    # RES-001 itself: 张伟's finding is his worst week of `pmohub load` (the merged GitLab
    # account's overdue OPS item included).
    res = run_checks(engine, config, as_of=as_of, rule_ids=["RES-001"], write=False).outcomes
    finding = res.set_index("subject").loc[subject_of(engine, zhang)]
    worst = weeks.loc[zhang]["load"].to_numpy(dtype=float)
    assert finding["value"] == pytest.approx(np.nanmax(worst), abs=1e-12)
    assert finding["value"] == pytest.approx(30 / 18)

    # RES-002's displaced hours per (person, project) are pmohub load's.
    res2 = run_checks(engine, config, as_of=as_of, rule_ids=["RES-002"], write=False).outcomes
    got = {r.subject: float(r.value) for r in res2.itertuples() if r.outcome == "finding"}
    disp = rep.by_project.groupby(["person_id", "project_key"])["displaced_h"].sum()
    want = {f"{subject_of(engine, p)}:{k}": round(v, 1) for (p, k), v in disp.items() if v > 0.05}
    assert got == want and want == {
        f"{subject_of(engine, zhang)}:OPS": 6.0,
        f"{subject_of(engine, zhang)}:PAY": 6.0,
    }


def test_undated_sprint_item_fills_by_priority(sqlite_url: str) -> None:
    """Capacity fills by (priority_rank, due) whatever the item's dates: 李娜's undated
    sprint item of PAY (P2) is displaced for CRM (P1), in pmohub load and RES-002 alike."""
    engine = open_store(sqlite_url)
    test_load.build(engine)
    write(
        engine,
        items=[
            item("PAY-22", "PAY", assignee="u-li", remaining_estimate_h=20.0, iteration_ids=("s1",))
        ],
    )
    config = parse_config(test_load.CFG)
    as_of = test_load.AS_OF
    rep = person_load(engine, config, as_of, weeks=4)
    li = int(rep.weeks.loc[rep.weeks["name"] == "李娜", "person_id"].iloc[0])
    week0 = rep.by_project[(rep.by_project["person_id"] == li) & (rep.by_project["week"] == 0)]
    disp = week0.set_index("project_key")["displaced_h"]
    # Week 0: cap 12 h; CRM 10x3/8 + 5x3/5 = 6.75 h fits first, PAY 20x3/5 = 12 h gets 5.25.
    assert disp["CRM"] == pytest.approx(0.0)
    assert disp["PAY"] == pytest.approx(12 - (12 - 6.75))
    res2 = run_checks(engine, config, as_of=as_of, rule_ids=["RES-002"], write=False).outcomes
    got = res2.set_index("subject").loc[f"{subject_of(engine, li)}:PAY", "value"]
    total = rep.by_project.groupby(["person_id", "project_key"])["displaced_h"].sum()
    assert got == pytest.approx(round(total[(li, "PAY")], 1))


@pytest.mark.parametrize("case", ["own_calendar", "team_hpp"])
def test_own_calendar_and_team_hpp_rule_equals_load(store_url: str, case: str) -> None:
    """A person on their own calendar (tests/test_load_calendars.py: 李娜 on ``site``, an
    extra holiday Fri Oct 9 and a make-up Sat Oct 17) and points converted with a team's
    hours per point (tests/test_load_hpp.py: PAY 7 h/pt): RES-001's frame and finding are
    `pmohub load`'s."""
    engine = open_store(store_url)
    if case == "own_calendar":
        test_load.build(engine)
        # 10 h more for 李娜 on Oct 8..10: on site 2 wd, both in week 0.
        write(
            engine,
            items=[
                item(
                    "CRMA-26",
                    "CRMA",
                    assignee="u-li",
                    remaining_estimate_h=10.0,
                    start_on=test_load.AS_OF,
                    due_on=test_load.AS_OF + dt.timedelta(days=2),
                ),
            ],
        )
        config, as_of, who = parse_config(test_load_calendars.CFG), test_load.AS_OF, "李娜"
        # Week 0 on site: 10 x 2/7 (CRMA-21) + 5 x 2/4 (sprint) + 10 over 8 h.
        worst = (10 * 2 / 7 + 2.5 + 10) / 8
    else:
        test_load_hpp.build(engine)
        config, as_of, who = parse_config(CONFIG), test_load_hpp.AS_OF, "李娜"
        worst = 21 / 12
    rep = person_load(engine, config, as_of, weeks=4)
    weeks = rep.weeks.set_index(["person_id", "week"])
    pw = (
        rule_load_frame(engine, config, as_of, 4)
        .groupby(["person_id", "week"])
        .agg(dem=("demand_h", "sum"), cap=("cap_h", "first"))
    )
    for (pid, week), r in pw.iterrows():
        assert r["dem"] == pytest.approx(weeks.loc[(pid, week), "demand_h"], abs=1e-9)
        assert r["cap"] == pytest.approx(weeks.loc[(pid, week), "cap_h"], abs=1e-9)
    assert set(weeks[weeks["demand_h"] > 0].index) <= set(pw.index)
    pid = int(rep.weeks.loc[rep.weeks["name"] == who, "person_id"].iloc[0])
    assert weeks.loc[pid]["load"].max() == pytest.approx(worst)
    res = run_checks(engine, config, as_of=as_of, rule_ids=["RES-001"], write=False).outcomes
    assert res.set_index("subject").loc[subject_of(engine, pid), "value"] == pytest.approx(worst)
