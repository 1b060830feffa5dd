"""Policy precedence, validation errors with file:line, waivers; the working-day calendar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.config.settings import config_policy
from pmohub.rules.calendar import build_calendar
from pmohub.rules.engine import load_rules
from pmohub.rules.policy import PolicyError

BASE = """
version: 1
sources:
  jira_main: {type: jira, url: https://example.atlassian.net, token_env: JIRA_TOKEN}
rules:
  VAR-001: {overdue_share: 0.10, max_late_wd: 8}
{extra}
hierarchy:
  - portfolio: DIGI
    overrides: {VAR-001: {overdue_share: 0.20}}
    programmes:
      - programme: CUST
        overrides: {VAR-001: {overdue_share: 0.30}}
        projects:
          - {key: CRM, overrides: {VAR-001: {overdue_share: 0.40}, QUA-003: {enabled: false}}}
          - {key: APP}
    projects:
      - {key: OPS}
  - portfolio: OTHER
    projects:
      - {key: SOLO}
"""


def _policy(extra: str = ""):
    config = parse_config(BASE.replace("{extra}", extra))
    return config_policy(config, load_rules())


def test_precedence_project_programme_portfolio_rules_defaults() -> None:
    policy = _policy()
    meta = load_rules()["VAR-001"].meta
    assert policy.params(meta, "CRM")["overdue_share"] == 0.40
    assert policy.params(meta, "APP")["overdue_share"] == 0.30
    assert policy.params(meta, "OPS")["overdue_share"] == 0.20
    assert policy.params(meta, "SOLO")["overdue_share"] == 0.10
    assert policy.params(meta, "SOLO")["max_late_wd"] == 8
    assert policy.params(meta, "SOLO")["epic_late_wd"] == meta.defaults["epic_late_wd"]
    q3 = load_rules()["QUA-003"].meta
    assert not policy.enabled(q3, "CRM") and policy.enabled(q3, "APP")


def test_unknown_rule_and_key_rejected_with_line() -> None:
    with pytest.raises(
        PolicyError, match=r"<config>:6: rules.VAR-009: unknown rule id.*did you mean"
    ):
        config_policy(
            parse_config(
                BASE.replace("{extra}", "").replace(
                    "VAR-001: {overdue_share: 0.10, max_late_wd: 8}", "VAR-009: {enabled: false}"
                )
            ),
            load_rules(),
        )
    with pytest.raises(
        PolicyError,
        match=r"<config>:6: rules.VAR-001.overdue_shares: unknown key.*did you mean 'overdue_share'",
    ):
        config_policy(
            parse_config(
                BASE.replace("{extra}", "").replace("overdue_share: 0.10", "overdue_shares: 0.10")
            ),
            load_rules(),
        )
    with pytest.raises(PolicyError, match="expected a number"):
        config_policy(
            parse_config(
                BASE.replace("{extra}", "").replace("max_late_wd: 8", "max_late_wd: lots")
            ),
            load_rules(),
        )


def test_waivers_expire_and_unknown_scope_rejected() -> None:
    policy = _policy(
        'waivers:\n  - {rule: VAR-001, scope: "programme:CUST", reason: r, expires: 2026-12-31, approved_by: pmo}'
    )
    match = policy.waiver_for("VAR-001", "CRM", dt.date(2026, 12, 31))
    assert match is not None and match.active
    match = policy.waiver_for("VAR-001", "CRM", dt.date(2027, 1, 1))
    assert match is not None and not match.active and "expired" in match.note()
    assert policy.waiver_for("VAR-001", "OPS", dt.date(2026, 12, 1)) is None
    with pytest.raises(PolicyError, match="no programme 'CUSTX'.*did you mean 'CUST'"):
        _policy(
            'waivers:\n  - {rule: VAR-001, scope: "programme:CUSTX", reason: r, expires: 2026-12-31}'
        )


def test_chinese_calendar_holidays_and_makeup_days() -> None:
    cn = build_calendar("cn", {"source": "chinesecalendar", "extra_holidays": ["2026-12-31"]})
    # National Day 2026: Oct 1-7 off; Sat Sep 20 and Sat Oct 10 are make-up working days.
    assert list(
        cn.is_workday(["2026-09-20", "2026-10-01", "2026-10-08", "2026-10-10", "2026-10-11"])
    ) == [True, False, True, True, False]
    # From Wed Sep 30 to Fri Oct 9: Oct 8 and 9 are the only working days after it.
    assert (
        cn.wd_diff(np.array(["2026-09-30"], dtype="datetime64[D]"), np.datetime64("2026-10-09"))[0]
        == 2
    )
    assert str(cn.add_wd(np.array(["2026-09-30"], dtype="datetime64[D]"), 1)[0]) == "2026-10-08"
    assert not cn.is_workday(["2026-12-31"])[0]
    assert cn.uncovered_years([2026, 2027]) == [2027]
    plain = build_calendar("x", {"weekend": ["fri", "sat"]})
    assert list(plain.is_workday(["2026-11-20", "2026-11-22"])) == [False, True]
    assert plain.uncovered_years([2030]) == []
