"""One calendar per portfolio, or per project (docs/metrics.md 2.4), in the status roll-up and the
forecasts: a project's working-day metrics count its own calendar's working days.

CRM's origin is 2026-09-14 and the as-of date 2026-10-16 (tests/test_rollup.py). On the
cn calendar that is k = 20 working days; on a weekends-only calendar the 中秋/国庆 days
(Sep 25, Oct 1, 2, 5, 6, 7) are working days and the 调休 Saturdays/Sunday (Sep 20,
Oct 10) are not: 20 + 6 - 2 = 24.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_rollup import AS_OF, CONFIG_W, build

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.forecast import project_forecasts
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.store.engine import open_store

PLAIN = (
    "calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}, plain: {weekend: [sat, sun]}}"
)
CN = "calendars: {cn: {weekend: [sat, sun], source: chinesecalendar}}"

WD_COLUMNS = ["at_wd", "es_wd", "spi_t", "sv_t", "pv", "spi", "cycle_p50_wd", "cycle_p85_wd",
              "lead_p50_wd", "lead_p85_wd", "wip_age_p85_wd", "milestone_slip_max_wd",
              "rag_schedule", "rag"]  # fmt: skip


@pytest.fixture
def engine(store_url):
    engine = open_store(store_url)
    build(engine, parse_config(CONFIG_W))
    return engine


def _config(crm_calendar: str | None = None, default: str = "cn"):
    text = CONFIG_W.replace(CN, PLAIN).replace(
        "defaults: {calendar: cn,", f"defaults: {{calendar: {default},"
    )
    if crm_calendar:
        text = text.replace(
            "priority_rank: 1, critical: true,",
            f"priority_rank: 1, calendar: {crm_calendar}, critical: true,",
        )
    return parse_config(text)  # fmt: skip


def test_project_calendar_counts_its_own_working_days(engine) -> None:
    base = project_status(engine, _config(), AS_OF).projects.set_index("project_key")
    own = project_status(engine, _config("plain"), AS_OF).projects.set_index("project_key")
    assert base.loc["CRM", "at_wd"] == 20
    assert own.loc["CRM", "at_wd"] == 24
    # The other projects keep the default calendar's numbers.
    pd.testing.assert_frame_equal(
        own.drop(index="CRM")[WD_COLUMNS], base.drop(index="CRM")[WD_COLUMNS]
    )
    # CRM's numbers are exactly those of a run with its calendar as the default.
    all_plain = project_status(engine, _config(default="plain"), AS_OF).projects.set_index(
        "project_key"
    )
    pd.testing.assert_series_equal(own.loc["CRM", WD_COLUMNS], all_plain.loc["CRM", WD_COLUMNS])


def test_portfolio_calendar_applies_to_its_projects(engine) -> None:
    text = CONFIG_W.replace(CN, PLAIN).replace(
        "  - portfolio: DIGI\n", "  - portfolio: DIGI\n    calendar: plain\n"
    )
    rep = project_status(engine, parse_config(text), AS_OF)
    p = rep.projects.set_index("project_key")
    assert p.loc["CRM", "at_wd"] == 24
    assert not any("calendar plain" in w for w in rep.warnings)  # no holiday source to miss


def test_forecast_dates_use_the_project_calendar(engine) -> None:
    base = project_forecasts(engine, _config(), AS_OF).set_index("project_key")
    own = project_forecasts(engine, _config("plain"), AS_OF).set_index("project_key")
    plain = project_forecasts(engine, _config(default="plain"), AS_OF).set_index("project_key")
    cols = ["p50", "p85", "p95", "p_on_time", "history_wd"]
    pd.testing.assert_series_equal(own.loc["CRM", cols], plain.loc["CRM", cols])
    pd.testing.assert_frame_equal(own.drop(index="CRM")[cols], base.drop(index="CRM")[cols])


def test_unknown_project_or_portfolio_calendar_is_a_config_error() -> None:
    from pmohub.aggregator.config.loader import ConfigFileError

    text = CONFIG_W.replace(
        "  - portfolio: DIGI\n", "  - portfolio: DIGI\n    calendar: cm\n"
    ).replace(
        "priority_rank: 1, critical: true,", "priority_rank: 1, calendar: cnn, critical: true,"
    )
    with pytest.raises(ConfigFileError) as err:
        parse_config(text)
    problems = "\n".join(err.value.problems)
    assert "hierarchy[0].calendar: calendar 'cm' is not defined under calendars" in problems
    assert (
        "calendar: calendar 'cnn' is not defined under calendars (did you mean 'cn'?)" in problems
    )
    assert all(p.startswith("pmohub.yaml:") for p in err.value.problems)


def test_load_warns_about_calendar_years_it_cannot_know(engine) -> None:
    from pmohub.aggregator.status.load import person_load

    rep = person_load(engine, _config(), AS_OF, weeks=20)  # reaches into 2027
    assert any(w.startswith("calendar cn: holidays unknown for 2027") for w in rep.warnings)
    assert person_load(engine, _config(default="plain"), AS_OF, weeks=20).warnings == []
