"""Per-person calendars in `pmohub load` (docs/metrics.md 2.4: a calendar per portfolio with
per-person overrides), on SQLite and PostgreSQL, hand-computed.

The tests/test_load.py dataset as of Thu 2026-10-08 on the cn calendar (国庆 Oct 1-7,
make-up Saturday Oct 10). 李娜 (8 h/day x allocation 0.5 = 4 h per working day, leave
Oct 13-14) works by her own calendar ``site``: cn plus a holiday on Fri Oct 9 and a
make-up working Saturday on Oct 17.

  default cn   week 0 (Oct 5-11) from today: Oct 8, 9, 10        -> 3 wd
               week 1 (Oct 12-18):           Oct 12-16           -> 5 wd
  site         week 0:                       Oct 8, 10           -> 2 wd
               week 1:                       Oct 12-16, Sat 17   -> 6 wd
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import test_load
from rollup_data import item, write

from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import ConfigFileError, load_config_file, parse_config
from pmohub.aggregator.status.load import person_load
from pmohub.aggregator.store.engine import open_store

AS_OF = test_load.AS_OF
SITE = (
    "calendars: {cn: {weekend: [sat, sun], source: chinesecalendar},\n"
    "            site: {weekend: [sat, sun], source: chinesecalendar,\n"
    "                   extra_holidays: [2026-10-09], extra_workdays: [2026-10-17]}}"
)
CFG = test_load.CFG.replace(
    "calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}}", SITE
).replace(
    'allocation: 0.5, leave: ["2026-10-13..2026-10-14"]}',
    'allocation: 0.5, leave: ["2026-10-13..2026-10-14"], calendar: site}',
)


@pytest.fixture
def env(store_url: str):
    engine = open_store(store_url)
    test_load.build(engine)
    # 李娜 again: 6 h starting on the make-up Saturday Oct 17, due Mon Oct 19.
    write(
        engine,
        items=[
            item(
                "CRMA-25",
                "CRMA",
                assignee="u-li",
                remaining_estimate_h=6.0,
                start_on=dt.date(2026, 10, 17),
                due_on=dt.date(2026, 10, 19),
            )
        ],
    )
    return engine


def test_config_really_gives_li_her_own_calendar() -> None:
    config = parse_config(CFG)
    li = next(p for p in config.people if p.name == "李娜")
    assert li.calendar == "site"
    assert config.calendars["site"].extra_holidays == (dt.date(2026, 10, 9),)


def test_own_calendar_capacity_and_spreading(env) -> None:
    default = person_load(env, parse_config(test_load.CFG), AS_OF, weeks=3)
    own = person_load(env, parse_config(CFG), AS_OF, weeks=3)
    d = default.weeks.set_index(["name", "week"])
    o = own.weeks.set_index(["name", "week"])

    # Capacity: the extra holiday takes one working day (4 h) off week 0, the make-up
    # Saturday adds one (4 h) to week 1 (leave Oct 13-14 is 2 wd on both calendars).
    assert [d.loc[("李娜", w)].workdays for w in (0, 1)] == [3, 5]
    assert [o.loc[("李娜", w)].workdays for w in (0, 1)] == [2, 6]
    assert [d.loc[("李娜", w)].cap_h for w in (0, 1)] == [12.0, 12.0]
    assert [o.loc[("李娜", w)].cap_h for w in (0, 1)] == [8.0, 16.0]

    # Demand on her working days. CRMA-21 (10 h, Oct 8..16): cn 8 wd (3 + 5), site 7 wd
    # (Oct 8, 10 | 12-16). Sprint item CRMA-22 (5 h, sprint ends Oct 13): cn 5 wd
    # (8, 9, 10 | 12, 13), site 4 wd (8, 10 | 12, 13). CRMA-25 (6 h, Sat Oct 17..Mon 19):
    # cn only Oct 19 (week 2), site Oct 17 (week 1) and Oct 19 (week 2).
    assert d.loc[("李娜", 0)].demand_h == pytest.approx(10 * 3 / 8 + 5 * 3 / 5)
    assert d.loc[("李娜", 1)].demand_h == pytest.approx(10 * 5 / 8 + 5 * 2 / 5)
    assert d.loc[("李娜", 2)].demand_h == pytest.approx(6.0)
    assert o.loc[("李娜", 0)].demand_h == pytest.approx(10 * 2 / 7 + 5 * 2 / 4)
    assert o.loc[("李娜", 1)].demand_h == pytest.approx(10 * 5 / 7 + 5 * 2 / 4 + 3.0)
    assert o.loc[("李娜", 2)].demand_h == pytest.approx(3.0)
    assert o.loc[("李娜", 0)].load == pytest.approx((20 / 7 + 2.5) / 8)
    # Nothing is lost by moving hours between days: her total demand is unchanged.
    total = sum(o.loc[("李娜", w)].demand_h for w in range(3))
    assert total == pytest.approx(10 + 5 + 6)

    # Everyone else stays on the default calendar: 张伟's numbers are identical.
    for w in range(3):
        assert o.loc[("张伟", w)].cap_h == d.loc[("张伟", w)].cap_h
        assert o.loc[("张伟", w)].demand_h == pytest.approx(d.loc[("张伟", w)].demand_h)
    assert o.loc[("张伟", 0)].workdays == 3


def test_utilisation_capacity_uses_own_calendar(env) -> None:
    # Utilisation's capacity is the load's: the last complete week, Sep 28 - Oct 4, has
    # 3 working days on cn (Sep 28-30; Oct 1-4 国庆); with site's extra holiday moved to
    # Tue Sep 29, 李娜 has 2.
    cfg = CFG.replace("extra_holidays: [2026-10-09]", "extra_holidays: [2026-09-29]")
    rep = person_load(env, parse_config(cfg), AS_OF, weeks=1, util_weeks=1)
    util = rep.utilisation.set_index("name")
    # 李娜 loses Sep 29 (2 wd x 4 h = 8 h); 张伟 keeps 3 wd x 6 h.
    assert util.loc["李娜", "cap_h"] == 8.0
    assert util.loc["张伟", "cap_h"] == 18.0


def test_unknown_person_calendar_is_a_config_error(tmp_path: Path) -> None:
    text = (
        "calendars: {cn: {weekend: [sat, sun]}}\n"
        "people:\n"
        "  - {id: a, calendar: cn}\n"
        "  - {id: b, calendar: cm}\n"
    )
    path = tmp_path / "pmohub.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_config_file(path)
    (problem,) = info.value.problems
    assert problem.startswith("pmohub.yaml:4: people[1].calendar"), problem
    assert "calendar 'cm' is not defined under calendars" in problem


def test_check_warns_when_a_person_calendar_lacks_holidays(sqlite_url: str) -> None:
    # Default calendar without a holiday source; only 李娜's calendar uses chinesecalendar,
    # which does not know 2027 (as_of 2026 looks at 2025-2027).
    engine = open_store(sqlite_url)
    test_load.build(engine)
    cfg = CFG.replace("cn: {weekend: [sat, sun], source: chinesecalendar}", "cn: {}")
    config = parse_config(cfg)
    assert config.calendars["cn"].source == "none"
    res = run_checks(engine, config, as_of=AS_OF, rule_ids=["RES-001"], write=False)
    [warning] = [w for w in res.warnings if "holidays unknown" in w]
    # issue 15: it says what to do (the installed chinesecalendar is the newest)
    assert warning.startswith("calendar site: holidays unknown for 2027 (chinesecalendar ")
    assert "upgrade" not in warning and "those years count weekends only" in warning
    assert "calendars: {site: {extra_holidays: [2027-01-01" in warning
    assert "extra_workdays: [2027-" in warning


def test_the_warnings_example_silences_it() -> None:
    """The calendars snippet the warning shows is valid YAML and, once in the config,
    covers the year: the warning goes away (issue 15)."""
    import re

    import yaml

    from pmohub.rules.calendar import build_calendar, uncovered_warnings

    cal = build_calendar("cn", {"source": "chinesecalendar"})
    assert cal.covered_years is not None
    year = cal.covered_years[1] + 1
    [warning] = uncovered_warnings([cal], [year])
    snippet = re.search(r"e\.g\. (calendars: \{.*?\}\})", warning).group(1)
    spec = yaml.safe_load(snippet)["calendars"]["cn"]
    assert all(d.year == year for d in (*spec["extra_holidays"], *spec["extra_workdays"]))
    declared = build_calendar("cn", {"source": "chinesecalendar", **spec})
    assert uncovered_warnings([declared], [year]) == []
    # the declared days take effect: 1 January is a holiday, the make-up Saturday works
    assert not declared.is_workday([spec["extra_holidays"][0]])[0]
    assert declared.is_workday([spec["extra_workdays"][0]])[0]
