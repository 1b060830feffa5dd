"""Trello: the emulator's answers against Atlassian's Trello OpenAPI description, and the
connector against the emulator on 127.0.0.1, alone and through the sync engine.

Spec caveats (the description is looser/stricter than Trello itself): many endpoints we use
(board cards, members, actions, checklists) have no response schema, so their elements are
checked against the component schemas (Card, Member, Action, Checklist); fields Trello
sends as null (``due``, ``start``, ``avatarHash``...) are not declared nullable, and
CheckItem ``pos`` is typed string though Trello sends a number: those errors are skipped.
Card ``labels`` is typed as ids but holds Label objects (checked as Labels).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30ReadValidator
from sqlalchemy import select
from trackerkit import live_item_ids, load_spec, record_sleeps, source_config, sync_twice

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import status_changes_t, work_items_t
from pmohub.connectors import registry
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.records import StatusChange, WorkItem
from pmohub.connectors.trello import TrelloConnector
from pmohub.emulators.trello import DEFAULT_KEY, DEFAULT_TOKEN, TrelloEmulator, generate_site

SPEC = "trello-swagger.v3.json"
ENV = {"TRELLO_TOKEN": DEFAULT_TOKEN, "TRELLO_API_KEY": DEFAULT_KEY}
AUTH = {"key": DEFAULT_KEY, "token": DEFAULT_TOKEN}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec(SPEC)


@pytest.fixture
def emu() -> Iterator[TrelloEmulator]:
    with TrelloEmulator(generate_site(seed=3, boards=2, cards=25)) as e:
        yield e


def check(spec: dict[str, Any], schema: dict[str, Any], payload: Any) -> None:
    root = dict(schema)
    root["components"] = spec["components"]
    errors = [
        e
        for e in OAS30ReadValidator(root).iter_errors(payload)
        if not (e.validator in ("type", "enum") and e.instance is None)
        and not (e.validator == "type" and list(e.path)[-1:] == ["pos"])
    ]
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5])


def op_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    return spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def config(emu: TrelloEmulator, **kw: Any) -> SourceConfig:
    base: dict[str, Any] = {
        "name": "trello",
        "type": "trello",
        "url": emu.url + "/1",
        "token_env": "TRELLO_TOKEN",
        "projects": tuple(b["shortLink"] for b in emu.site.boards),
        "page_size": 10,
    }
    return source_config(base, **kw)


def connector(emu: TrelloEmulator, env: dict[str, str] | None = None, **kw: Any) -> TrelloConnector:
    return TrelloConnector(config(emu, **kw), env=ENV if env is None else env)


def card_ids(emu: TrelloEmulator) -> set[str]:
    return {c["id"] for b in emu.site.boards for c in b["cards"]}


def test_emulator_answers_match_the_openapi_description(emu: TrelloEmulator, spec: dict) -> None:
    b = emu.site.boards[0]

    def get(path: str, **q: Any) -> Any:
        r = requests.get(emu.url + "/1" + path, params={**AUTH, **q}, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    # the operation's schema is a one-branch oneOf: Member
    assert op_schema(spec, "/members/{id}") == {"oneOf": [ref("Member")]}
    check(spec, ref("Member"), get("/members/me"))
    check(spec, op_schema(spec, "/boards/{id}"), get(f"/boards/{b['id']}"))
    check(
        spec, op_schema(spec, "/boards/{id}/lists"), get(f"/boards/{b['id']}/lists", filter="all")
    )
    cards = get(f"/boards/{b['id']}/cards/all")
    assert len(cards) == len(b["cards"])
    # Card.labels is typed as label ids; Trello sends label objects there (ids are in
    # idLabels): check them as Labels.
    check(
        spec,
        {"type": "array", "items": ref("Card")},
        [{**c, "labels": c["idLabels"]} for c in cards],
    )
    check(
        spec, {"type": "array", "items": ref("Label")}, [lab for c in cards for lab in c["labels"]]
    )
    check(spec, {"type": "array", "items": ref("Member")}, get(f"/boards/{b['id']}/members"))
    check(spec, {"type": "array", "items": ref("Checklist")}, get(f"/boards/{b['id']}/checklists"))
    for cl in get(f"/boards/{b['id']}/checklists"):
        check(spec, {"type": "array", "items": ref("CheckItem")}, cl["checkItems"])
    actions = get(f"/boards/{b['id']}/actions", limit=1000)
    assert len(actions) == sum(len(c["actions"]) for c in b["cards"])
    check(spec, {"type": "array", "items": ref("Action")}, actions)
    card_actions = get(f"/cards/{b['cards'][0]['id']}/actions", filter="all")
    check(spec, op_schema(spec, "/cards/{id}/actions"), card_actions)
    bad = requests.get(
        emu.url + "/1/members/me", params={"key": DEFAULT_KEY, "token": "x"}, timeout=5
    )
    assert (bad.status_code, bad.text) == (401, "invalid token")


def test_full_fetch_lists_as_status_and_moves_as_history(emu: TrelloEmulator) -> None:
    with connector(emu, status_map={"Review": "review"}) as c:
        stream = list(c.fetch_work_items(None))
        projects = list(c.fetch_projects())
    assert {p.key for p in projects} == {b["shortLink"] for b in emu.site.boards}
    got = [r for r in stream if isinstance(r, WorkItem)]
    assert {w.external_id for w in got} == card_ids(emu) and len(got) == len(card_ids(emu))
    lists = {lst["id"]: lst["name"] for b in emu.site.boards for lst in b["lists"]}
    cards = {c["id"]: c for b in emu.site.boards for c in b["cards"]}
    expected_cat = {
        "Backlog": "todo",
        "To Do": "todo",
        "Doing": "in_progress",
        "Review": "in_progress",
        "Done": "done",
        "Won't do": "cancelled",
    }
    for w in got:
        card = cards[w.external_id]
        assert w.status == lists[card["idList"]]
        assert w.status_category == expected_cat[w.status]
        assert ("archived" in w.labels) == card["closed"]
        assert w.due_on == (card["due"].date() if card["due"] else None)
        assert w.assignee == (card["idMembers"][0] if card["idMembers"] else None)
        items = [i for cl in card["checklists"] for i in cl["checkItems"]]
        assert w.extra.get("checklist_items") == (len(items) or None)
        if w.status_category in ("done", "cancelled"):
            assert w.resolved_at == max(a["date"] for a in card["actions"] if a["type"] == "move")
        else:
            assert w.resolved_at is None
    changes = [r for r in stream if isinstance(r, StatusChange) and r.field == "status"]
    moves = {a["id"] for c in cards.values() for a in c["actions"] if a["type"] == "move"}
    assert {ch.external_id for ch in changes} == moves
    # due-date moves arrive as Jira-named `duedate` changes
    slips = {
        (c["id"], a["old"].date().isoformat(), a["new"].date().isoformat())
        for c in cards.values()
        for a in c["actions"]
        if a["type"] == "due"
    }
    due = {
        (r.work_item_id, r.from_value, r.to_value)
        for r in stream
        if isinstance(r, StatusChange) and r.field == "duedate"
    }
    assert slips and due == slips
    last: dict[str, str | None] = {}
    for ch in sorted(changes, key=lambda ch: ch.changed_at):
        last[ch.work_item_id] = ch.to_value
    assert all(last[w.external_id] == w.status for w in got if w.external_id in last)


def test_incremental_reads_changed_cards_with_their_own_actions(emu: TrelloEmulator) -> None:
    card = emu.site.boards[1]["cards"][4]
    emu.move_card(card["id"], "Done")
    with connector(emu) as c:
        stream = list(c.fetch_work_items(card["dateLastActivity"]))
    got = [r for r in stream if isinstance(r, WorkItem)]
    assert [w.external_id for w in got] == [card["id"]]
    assert got[0].status == "Done" and got[0].resolved_at == card["dateLastActivity"]
    assert any(p.startswith(f"/cards/{card['id']}/actions") for _, p, _ in emu.requests)
    assert not any(p.endswith("/actions") and p.startswith("/boards") for _, p, _ in emu.requests)
    changes = [r for r in stream if isinstance(r, StatusChange)]
    assert {ch.external_id for ch in changes} == {
        a["id"] for a in card["actions"] if a["type"] in ("move", "due")
    }


def test_cards_are_paged_by_id(emu: TrelloEmulator) -> None:
    with connector(emu, page_size=4, history=False) as c:
        got = [r for r in c.fetch_work_items(None) if isinstance(r, WorkItem)]
    assert {w.external_id for w in got} == card_ids(emu)
    befores = [q for _, p, q in emu.requests if p.endswith("/cards/all") and "before" in q]
    assert len(befores) >= 10


def test_rate_limit_then_success(emu: TrelloEmulator) -> None:
    emu.faults.rate_limit(times=2, retry_after="1", path_prefix="/boards")
    sleeps: list[float] = []
    with connector(emu, history=False) as c:
        record_sleeps(c, sleeps)
        got = [r for r in c.fetch_work_items(None) if isinstance(r, WorkItem)]
    assert sleeps == [1.0, 1.0] and {w.external_id for w in got} == card_ids(emu)


def test_auth_errors_name_the_source_and_variables(emu: TrelloEmulator) -> None:
    with pytest.raises(ConfigError) as err:
        connector(emu, env={"TRELLO_TOKEN": "bad-token", "TRELLO_API_KEY": DEFAULT_KEY}).check()
    text = str(err.value)
    assert "[trello]" in text and "TRELLO_TOKEN" in text and "bad-token" not in text
    with pytest.raises(ConfigError, match="TRELLO_API_KEY"):
        connector(emu, env={"TRELLO_TOKEN": DEFAULT_TOKEN}).check()
    with pytest.raises(ConfigError, match="TRELLO_TOKEN"):
        connector(emu, env={"TRELLO_API_KEY": DEFAULT_KEY}).check()
    with pytest.raises(ConfigError, match="projects"), connector(emu, projects=("nope",)) as c:
        list(c.fetch_projects())
    assert registry.get("trello") is TrelloConnector


def test_people_and_board_keys(emu: TrelloEmulator) -> None:
    b = emu.site.boards[0]
    with connector(emu, board_keys={b["shortLink"]: "MKT-SITE"}) as c:
        people = list(c.fetch_people())
        keys = [p.key for p in c.fetch_projects()]
        census = set(c.census("MKT-SITE"))
    assert {p.external_id for p in people} == {m["id"] for m in emu.site.members}
    assert "MKT-SITE" in keys and census == {card["id"] for card in b["cards"]}


def test_sync_into_the_store_nothing_lost_or_doubled(emu: TrelloEmulator, store_url: str) -> None:
    engine = open_store(store_url)
    try:
        sync_twice(engine, lambda: connector(emu))
        moved = emu.site.boards[0]["cards"][0]
        gone = emu.site.boards[0]["cards"][1]
        emu.move_card(moved["id"], "Review")
        emu.delete_card(gone["id"])
        third = sync_source(engine, connector(emu))
        assert third.status == "ok" and third.deleted == 1 and third.mode == "incremental"
        live = live_item_ids(engine, "trello")
        with engine.connect() as conn:
            status = conn.execute(
                select(work_items_t.c.status).where(work_items_t.c.external_id == moved["id"])
            ).scalar_one()
            n_changes = len(
                conn.execute(
                    select(status_changes_t.c.id).where(
                        status_changes_t.c.source == "trello",
                        status_changes_t.c.deleted_at.is_(None),
                    )
                ).all()
            )
        assert live == card_ids(emu) and status == "Review"
        # the deleted card's history stays (the card row is soft-deleted, not erased)
        moves = [a for b in emu.site.boards for c in b["cards"] for a in c["actions"]]
        moves += gone["actions"]
        assert n_changes == sum(1 for a in moves if a["type"] in ("move", "due"))
    finally:
        engine.dispose()


def test_checklist_items_as_child_work_items(emu: TrelloEmulator) -> None:
    with connector(emu, checklist_items=True) as c:
        got = [r for r in c.fetch_work_items(None) if isinstance(r, WorkItem)]
        census = {k: set(c.census(k)) for k in c.boards}
    checks = {
        i["id"]: (c["id"], i["state"])
        for b in emu.site.boards
        for c in b["cards"]
        for cl in c["checklists"]
        for i in cl["checkItems"]
    }
    subs = {w.external_id: w for w in got if w.type == "Checklist item"}
    assert checks and set(subs) == set(checks)
    for cid, (card_id, state) in checks.items():
        assert subs[cid].parent_id == card_id
        assert subs[cid].status_category == ("done" if state == "complete" else "todo")
    assert set().union(*census.values()) == card_ids(emu) | set(checks)
