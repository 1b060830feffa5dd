"""Monte Carlo forecasts on SQLite and PostgreSQL with hand-computable distributions.

As of Fri 2026-10-16 (no holidays in the next six weeks of the cn calendar):
+1 wd = Mon Oct 19, +3 = Wed Oct 21, +5 = Fri Oct 23, +24 = Thu Nov 19.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from rollup_data import SRC, item, local, write

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.forecast import project_forecasts, simulate_days, stable_seed
from pmohub.aggregator.status.settings import settings_for
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec

AS_OF = dt.date(2026, 10, 16)
CONFIG = """
version: 1
timezone: Asia/Shanghai
calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}}
defaults: {calendar: cn}
sources:
  jira_main: {type: jira, url: https://example.atlassian.net, token_env: JIRA_TOKEN}
hierarchy:
  - portfolio: P
    projects:
      - {key: A, source: {name: jira_main, project: A}, due_on: 2026-10-23}
      - {key: B, source: {name: jira_main, project: B}, due_on: 2026-10-20}
      - {key: C, source: {name: jira_main, project: C}}
"""


def _done(key: str, project: str, day: dt.date) -> tuple[rec.WorkItem, list[rec.StatusChange]]:
    at = local(day.year, day.month, day.day, 10)
    wi = item(
        key,
        project,
        status="Done",
        status_category="done",
        created_at=local(2026, 6, 1),
        resolved_at=at,
    )
    ch = rec.StatusChange(
        source=SRC,
        external_id=f"sc-{key}",
        work_item_id=f"id-{key}",
        field="status",
        from_value="In Progress",
        to_value="Done",
        changed_at=at,
    )
    return wi, [ch]


def build(engine, config) -> None:
    cal = settings_for(config).calendar
    # The last 60 working days up to as_of (data construction only).
    days = [dt.date.fromisoformat(str(d)) for d in cal.add_wd([AS_OF] * 60, -np.arange(60))]
    items, changes = [], []
    for n, d in enumerate(days):  # A: exactly one completion every working day
        wi, ch = _done(f"A-{n}", "A", d)
        items.append(wi)
        changes += ch
    for n, d in enumerate(days[::2]):  # B: one on every other working day (TH 0 or 1)
        wi, ch = _done(f"B-{n}", "B", d)
        items.append(wi)
        changes += ch
    for n, d in enumerate(days[:5]):  # C: only 5 completions -> low confidence
        wi, ch = _done(f"C-{n}", "C", d)
        items.append(wi)
        changes += ch
    created = local(2026, 6, 1)
    items += [item(f"A-open-{i}", "A", created_at=created) for i in range(5)]
    items += [item("B-open", "B", created_at=created)]
    items += [item(f"C-open-{i}", "C", created_at=created) for i in range(2)]
    write(engine, projects=("A", "B", "C"), items=items, changes=changes)


@pytest.fixture
def fc(store_url):
    engine = open_store(store_url)
    config = parse_config(CONFIG)
    build(engine, config)
    return project_forecasts(engine, config, AS_OF).set_index("project_key")


def test_forecasts(fc):
    a, b, c = fc.loc["A"], fc.loc["B"], fc.loc["C"]
    # A: TH is always 1, 5 open -> 5 wd in every trial.
    assert a.method == "monte_carlo" and not a.low_confidence
    assert (a.completions, a.history_wd) == (60, 60)
    assert a.p50 == a.p85 == a.p95 == dt.date(2026, 10, 23)
    assert a.p_on_time == 1.0
    # B: TH is 0 or 1 with p = 1/2 and 1 item open: days ~ geometric(1/2).
    # P(N<=1) = .5, P(N<=3) = .875 >= .85 > P(N<=2) = .75, P(N<=5) = .969 >= .95 > .9375.
    assert (b.p50, b.p85, b.p95) == (
        dt.date(2026, 10, 19),
        dt.date(2026, 10, 21),
        dt.date(2026, 10, 23),
    )
    # done by Tue Oct 20 (2 wd): 1 - 1/4, within sampling error of 10 000 trials
    assert b.p_on_time == pytest.approx(0.75, abs=0.02)
    # C: 5 completions in 60 wd -> mean TH 1/12; 2 open -> 24 wd, flagged.
    assert c.low_confidence and c.method == "mean"
    assert c.p50 == c.p95 == dt.date(2026, 11, 19)
    assert np.isnan(c.p_on_time)


def test_seed_is_stable_and_results_reproducible():
    assert stable_seed("CRM", AS_OF) == stable_seed("CRM", AS_OF)
    assert stable_seed("CRM", AS_OF) != stable_seed("CRM", AS_OF + dt.timedelta(days=1))
    th = np.array([0, 1, 2, 3, 0, 5])
    one = simulate_days(th, 40, 10_000, 500, stable_seed("X", AS_OF))
    two = simulate_days(th, 40, 10_000, 500, stable_seed("X", AS_OF))
    assert np.array_equal(one, two)
    # never done when nothing ever completes: capped
    assert (simulate_days(np.zeros(60), 3, 100, 500, 1) == 501).all()
