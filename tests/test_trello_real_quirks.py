"""Trello quirks met on real boards (issue 12): list names, due dates in the team's zone,
resolved dates without history. Pure mapping; expected values written out by hand."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.trello import TrelloConnector, mapping

CTX = mapping.MappingContext(source="t", zone=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("Working On", "in_progress"),
        ("Current Sprint", "in_progress"),
        ("On Hold", "in_progress"),
        ("Waiting for customer", "in_progress"),
        ("This Week", "in_progress"),
        ("Not started", "todo"),
        ("Sprint Backlog", "todo"),
        ("Ideas", "todo"),
        ("Done this sprint", "done"),
        ("Won't do", "cancelled"),
        ("List One", "todo"),  # a name that says nothing stays todo
    ],
)
def test_real_list_names_get_sensible_categories(name: str, category: str) -> None:
    assert mapping.list_category(name, CTX) == category


def card(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "5b0e3b7a1c2d3e4f5a6b7c8d",
        "idShort": 7,
        "shortLink": "abc",
        "name": "Ship it",
        "idList": "L-done",
        "dateLastActivity": "2026-05-14T03:20:00.000Z",
    }
    base.update(kw)
    return base


LISTS = {"L-done": {"id": "L-done", "name": "Done"}, "L-doing": {"id": "L-doing", "name": "Doing"}}


def test_due_date_is_the_day_in_the_configured_zone() -> None:
    # "due 12 May, midnight" set by a user in Shanghai is stored as 11 May 16:00 UTC
    item = mapping.to_work_item(
        card(idList="L-doing", due="2026-05-11T16:00:00.000Z", start="2026-05-04T16:00:00.000Z"),
        "B",
        LISTS,
        CTX,
    )
    assert item.due_on == dt.date(2026, 5, 12)
    assert item.start_on == dt.date(2026, 5, 5)
    utc_ctx = mapping.MappingContext(source="t")
    assert mapping.to_work_item(
        card(due="2026-05-11T16:00:00.000Z"), "B", LISTS, utc_ctx
    ).due_on == (dt.date(2026, 5, 11))


def test_due_date_history_uses_the_zone_too() -> None:
    action = {
        "id": "a1",
        "type": "updateCard",
        "date": "2026-05-01T02:00:00.000Z",
        "data": {
            "old": {"due": "2026-05-09T16:00:00.000Z"},
            "card": {"due": "2026-05-11T16:00:00.000Z"},
        },
    }
    (change,) = mapping.to_status_changes("c", [action], CTX)
    assert (change.from_value, change.to_value) == ("2026-05-10", "2026-05-12")


def test_done_card_without_history_resolves_at_last_activity() -> None:
    item = mapping.to_work_item(card(), "B", LISTS, CTX)
    assert item.status_category == "done"
    assert item.resolved_at == dt.datetime(2026, 5, 14, 3, 20, tzinfo=dt.UTC)
    assert item.extra["resolved_from"] == "dateLastActivity"
    # an open card gets none
    assert mapping.to_work_item(card(idList="L-doing"), "B", LISTS, CTX).resolved_at is None


def test_time_zone_option_default_and_unknown() -> None:
    conf = SourceConfig(name="t", type="trello", projects=("b",))
    assert str(TrelloConnector(conf, env={}).ctx.zone) == "Asia/Shanghai"
    bad = SourceConfig(name="t", type="trello", projects=("b",), options={"time_zone": "Mars/Base"})
    with pytest.raises(ConfigError, match="Mars/Base"):
        TrelloConnector(bad, env={})
