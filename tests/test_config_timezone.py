"""One default zone: rules.clock.DEFAULT_TZ; connectors (which may not import rules/)
mirror it, and a config without ``timezone:`` gets it."""

from __future__ import annotations

from pmohub.aggregator.config.loader import parse_config
from pmohub.connectors.base import DEFAULT_TIME_ZONE
from pmohub.rules.clock import DEFAULT_TZ
from pmohub.rules.engine import RuleContext


def test_connectors_mirror_the_default_zone() -> None:
    assert DEFAULT_TIME_ZONE == DEFAULT_TZ


def test_a_config_without_timezone_gets_the_default() -> None:
    assert parse_config("version: 1\n").timezone == DEFAULT_TZ
    assert RuleContext.__dataclass_fields__["timezone"].default == DEFAULT_TZ
