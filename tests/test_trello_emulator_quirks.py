"""The Trello connector meets real boards' quirks through the emulator (issue 12): each
quirk is switched on alone (emulators/trello/quirks.py) and the connector's records are
compared card by card with those it makes from the plain emulator serving the same site.
The pure mapping side is in tests/test_trello_real_quirks.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from trackerkit import source_config

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.connectors.base import ChildrenComplete, Skipped
from pmohub.connectors.records import StatusChange, WorkItem
from pmohub.connectors.timestamps import parse_utc
from pmohub.connectors.trello import TrelloConnector
from pmohub.emulators.trello import DEFAULT_KEY, DEFAULT_TOKEN, TrelloEmulator, generate_site
from pmohub.emulators.trello.quirks import REAL_LIST_NAMES, REAL_LIST_NAMES_ALT, TrelloQuirks

ENV = {"TRELLO_TOKEN": DEFAULT_TOKEN, "TRELLO_API_KEY": DEFAULT_KEY}


def site() -> Any:
    return generate_site(seed=5, boards=2, cards=40)


def connector(emu: TrelloEmulator, **options: Any) -> TrelloConnector:
    base = {
        "name": "trello",
        "type": "trello",
        "url": emu.url + "/1",
        "token_env": "TRELLO_TOKEN",
        "projects": tuple(b["shortLink"] for b in emu.site.boards),
        "page_size": 10,  # several pages, paged back by card id
    }
    return TrelloConnector(source_config(base, **options), env=ENV)


def read(
    quirks: TrelloQuirks | None = None, **options: Any
) -> tuple[dict[str, WorkItem], list[StatusChange]]:
    """The connector's work items (by key: board-idShort, which no quirk changes) and
    status changes from a full pass."""
    with TrelloEmulator(site(), quirks=quirks) as emu, connector(emu, **options) as conn:
        out = list(conn.fetch_work_items(None))
    assert not [o for o in out if isinstance(o, Skipped)]
    items = {o.key: o for o in out if isinstance(o, WorkItem)}
    assert len(items) == 80
    assert sum(1 for o in out if isinstance(o, ChildrenComplete)) == 80
    return items, [o for o in out if isinstance(o, StatusChange)]


@pytest.fixture(scope="module")
def plain() -> tuple[dict[str, WorkItem], list[StatusChange]]:
    return read()


@pytest.mark.parametrize("names", [REAL_LIST_NAMES, REAL_LIST_NAMES_ALT])
def test_real_list_names_keep_every_category(
    plain: tuple[dict[str, WorkItem], list[StatusChange]], names: Mapping[str, str]
) -> None:
    items, changes = read(TrelloQuirks(list_names=names))
    base, base_changes = plain
    served = {i.status for i in items.values()}
    assert served & set(names.values()) and not served & set(names)  # real names only
    for key, item in items.items():
        was = base[key]
        assert item.status == names.get(was.status, was.status), key
        assert item.status_category == was.status_category, (key, item.status)
        assert item.resolved_at == was.resolved_at, key  # found by the renamed move
    renamed = [(c.from_value, c.to_value) for c in changes if c.field == "status"]
    assert renamed == [
        (names.get(c.from_value or "", c.from_value), names.get(c.to_value or "", c.to_value))
        for c in base_changes
        if c.field == "status"
    ]
    assert {c.status_category for c in items.values()} >= {"todo", "in_progress", "done"}


def test_due_dates_at_local_midnight_read_in_the_team_zone(
    plain: tuple[dict[str, WorkItem], list[StatusChange]],
) -> None:
    items, changes = read(TrelloQuirks(due_zone="Asia/Shanghai"), time_zone="Asia/Shanghai")
    base, base_changes = plain
    due = [k for k, i in items.items() if i.due_on is not None]
    assert len(due) > 20
    for key, item in items.items():
        assert (item.due_on, item.start_on) == (base[key].due_on, base[key].start_on), key
    for key in due:
        # what was served is the previous day in UTC: a UTC reading would be a day early
        served = parse_utc(items[key].raw["due"])
        assert served is not None and served.time() == dt.time(16)
        assert served.date() == items[key].due_on - dt.timedelta(days=1)  # type: ignore[operator]
    assert [(c.from_value, c.to_value) for c in changes if c.field == "duedate"] == [
        (c.from_value, c.to_value) for c in base_changes if c.field == "duedate"
    ]
    utc, _ = read(TrelloQuirks(due_zone="Asia/Shanghai"), time_zone="UTC")
    for key in due:
        assert utc[key].due_on == items[key].due_on - dt.timedelta(days=1)  # type: ignore[operator]


def test_done_moves_missing_resolve_at_last_activity(
    plain: tuple[dict[str, WorkItem], list[StatusChange]],
) -> None:
    items, changes = read(TrelloQuirks(done_moves_hidden=True))
    base, _ = plain
    no_history, _ = read(history=False)
    finished = [k for k, i in items.items() if i.status_category in ("done", "cancelled")]
    assert len(finished) > 5
    # the plain emulator had the moves: most finished cards resolved from them
    assert sum(1 for k in finished if "resolved_from" not in base[k].extra) > len(finished) // 2
    assert not [c for c in changes if c.field == "status" and c.to_value in ("Done", "Won't do")]
    for key in finished:
        item = items[key]
        assert item.resolved_at is not None and item.resolved_at == item.updated_at, key
        assert item.extra["resolved_from"] == "dateLastActivity"
        assert item.resolved_at == no_history[key].resolved_at  # as with history off
        assert item.resolved_at >= (base[key].resolved_at or item.resolved_at)  # never early
    for key, item in items.items():
        if key not in finished:
            assert item.resolved_at is None


def test_done_move_missing_on_an_incremental_run(sqlite_url: str) -> None:
    """A card moved to Done between runs, its move not in its own actions: the incremental
    run (card actions, not the board feed) resolves it at its last activity."""
    engine = open_store(sqlite_url)
    quirks = TrelloQuirks(done_moves_hidden=True)
    with TrelloEmulator(site(), quirks=quirks) as emu:
        assert sync_source(engine, connector(emu)).ok
        board = emu.site.boards[0]
        done = next(x["id"] for x in board["lists"] if x["name"] == "Done")
        card = next(c for c in board["cards"] if c["idList"] != done and not c["closed"])
        moved = emu.move_card(card["id"], "Done")
        result = sync_source(engine, connector(emu))
        assert result.ok and result.mode == "incremental", result.error
        with connector(emu) as conn:
            out = list(conn.fetch_work_items(moved["dateLastActivity"]))
    (item,) = [o for o in out if isinstance(o, WorkItem) and o.external_id == card["id"]]
    assert item.status == "Done" and item.resolved_at == moved["dateLastActivity"]
    assert item.extra["resolved_from"] == "dateLastActivity"


def test_card_ids_that_are_not_trello_ids_are_kept(
    plain: tuple[dict[str, WorkItem], list[StatusChange]],
) -> None:
    items, changes = read(TrelloQuirks(foreign_ids_every=4))
    base, base_changes = plain
    foreign = {k for k, i in items.items() if i.external_id.startswith("card_")}
    assert len(foreign) == 20  # idShort 4, 8, ..., 40 on both boards
    for key, item in items.items():
        was = base[key]
        if key in foreign:
            assert item.external_id == f"card_{was.raw['shortLink']}"
            assert item.created_at is None  # no creation time in such an id
        else:
            assert (item.external_id, item.created_at) == (was.external_id, was.created_at)
        assert (item.status, item.progress, item.resolved_at) == (
            was.status,
            was.progress,
            was.resolved_at,
        )  # checklists and history found under the served id
    by_id = {i.external_id: k for k, i in items.items()}
    base_by_id = {i.external_id: k for k, i in base.items()}
    assert sorted((by_id[c.work_item_id], c.external_id) for c in changes) == sorted(
        (base_by_id[c.work_item_id], c.external_id) for c in base_changes
    )


def test_every_quirk_at_once_through_the_store(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    quirks = TrelloQuirks(
        list_names=REAL_LIST_NAMES,
        due_zone="Asia/Shanghai",
        done_moves_hidden=True,
        foreign_ids_every=3,
    )
    with TrelloEmulator(site(), quirks=quirks) as emu:
        first = sync_source(engine, connector(emu), full=True)
        assert first.ok and first.skipped == 0, first.problems
        again = sync_source(engine, connector(emu), full=True)
        assert again.ok and (again.inserted, again.updated, again.deleted) == (0, 0, 0)
        inc = sync_source(engine, connector(emu))
        assert inc.ok and inc.mode == "incremental" and inc.deleted == 0
