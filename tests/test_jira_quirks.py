"""Jira as real sites answer (issue 12), against the emulator's switchable quirks
(emulators/jira/quirks.py) and through the sync engine into a real SQLite store."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from test_jira_connector import ENV, config, connector, expected, fresh_site

from pmohub.aggregator.ingest.inventory import sync_run_rows
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import iterations_t, status_changes_t, work_items_t
from pmohub.aggregator.store.models import PersonAlias
from pmohub.connectors.base import Problem
from pmohub.connectors.jira import JiraConnector
from pmohub.connectors.records import StatusChange, WorkItem
from pmohub.emulators.jira.server import JiraEmulator


@pytest.fixture
def engine(sqlite_url: str) -> Engine:
    return open_store(sqlite_url)


def stored_changes(engine: Engine, source: str = "jira_main") -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                status_changes_t.c.external_id,
                status_changes_t.c.field,
                status_changes_t.c.from_value,
                status_changes_t.c.changed_at,
            ).where(status_changes_t.c.source == source)
        ).all()
    return {r.external_id: r for r in rows}


def test_cloud_sync_with_users_403_and_truncated_changelogs_is_complete(engine: Engine) -> None:
    """The must-show: a PMO bot account (no 'Browse users and groups') on Cloud, the busiest
    issues' changelogs truncated and completed through bulkfetch answering epoch ms."""
    with JiraEmulator(fresh_site(), deployment="cloud") as emu:
        emu.faults.users_forbidden = True
        emu.faults.truncate_changelogs = True
        emu.faults.bulkfetch_created = "ms"
        result = sync_source(engine, connector(emu))
        bulk_calls = [p for _, p, _ in emu.requests if p.endswith("/changelog/bulkfetch")]
    assert result.status == "ok", result.error
    assert result.skipped == 0
    want = expected(emu.site)
    with engine.connect() as conn:
        items = set(
            conn.execute(
                select(work_items_t.c.external_id).where(work_items_t.c.deleted_at.is_(None))
            ).scalars()
        )
        people = dict(conn.execute(select(PersonAlias.external_id, PersonAlias.display_name)).all())
    assert items == set(want["items"])  # every issue
    assert set(stored_changes(engine)) == want["changes"]  # its full history
    assert bulk_calls, "no changelog was truncated: the test would prove nothing"
    (warning,) = [w for w in result.warnings if "people" in w]
    assert "'Browse users and groups'" in warning and "Browse Projects" not in warning
    # people come from the issues: assignees and reporters with their real names
    named = {u["account_id"]: u["display_name"] for u in emu.site.users}
    assignees = {i["assignee"] for i in emu.site.issues if i["assignee"]}
    assert assignees <= set(people)
    assert all(people[a] == named[a] for a in assignees)
    (row,) = sync_run_rows(engine)
    assert row["status"] == "ok" and row["warnings"] >= 1 and row["skipped"] == 0


@pytest.mark.parametrize("unit", ["ms", "s"])
def test_bulkfetch_numeric_created_is_read_as_epoch(unit: str) -> None:
    with JiraEmulator(fresh_site(), deployment="cloud") as emu:
        emu.faults.truncate_changelogs = True
        emu.faults.bulkfetch_created = unit
        c = connector(emu)
        got = {
            o.external_id: o.changed_at
            for o in c.fetch_work_items(None)
            if isinstance(o, StatusChange)
        }
    by_id = {str(h["id"]): h["created"] for i in emu.site.issues for h in i["histories"]}
    assert len(got) == len(expected(emu.site)["changes"])
    for ext, at in got.items():
        ms = by_id[ext.split(":")[0]]
        want = dt.datetime.fromtimestamp((ms // 1000) if unit == "s" else ms / 1000, dt.UTC)
        assert abs((at - want).total_seconds()) < 1.0, ext


def test_workflow_and_remote_link_items_are_not_field_changes(engine: Engine) -> None:
    with JiraEmulator(fresh_site(), deployment="cloud") as emu:
        emu.faults.odd_changelog = True
        assert sync_source(engine, connector(emu)).status == "ok"
    rows = stored_changes(engine)
    assert rows and set(rows) == expected(emu.site)["changes"]  # the odd items are skipped
    assert not {r.field for r in rows.values()} & {"Workflow", "RemoteIssueLink"}
    assert all(r.from_value != "" for r in rows.values())  # "" was sent: stored as None
    assert sum(r.from_value is None for r in rows.values()) > 0


def test_story_points_that_are_not_numbers_clear_the_field_only() -> None:
    site = fresh_site()
    busy = sorted(site.issues, key=lambda i: -len(i["histories"]))[:4]
    keys = [i["key"] for i in busy]
    with JiraEmulator(site, deployment="datacenter") as emu:
        emu.faults.story_points_text = dict(zip(keys, ["XL", "1,5", -3, "8"], strict=True))
        stream = list(connector(emu).fetch_work_items(None))
    items = {o.key: o for o in stream if isinstance(o, WorkItem)}
    problems = [o for o in stream if isinstance(o, Problem)]
    assert len(items) == len(site.issues)  # nobody skipped
    assert items[keys[0]].story_points is None
    assert items[keys[1]].story_points == 1.5
    assert items[keys[2]].story_points is None
    assert items[keys[3]].story_points == 8.0
    located = {(p.where, p.field, p.value) for p in problems}
    assert located == {(keys[0], "story_points", "XL"), (keys[2], "story_points", -3)}
    assert "negative" in next(str(p) for p in problems if p.value == -3)
    # the issue keeps its history
    changes = {o.work_item_id for o in stream if isinstance(o, StatusChange)}
    assert str(busy[0]["id"]) in changes


def test_search_ignoring_the_id_bound_fails_promptly(engine: Engine) -> None:
    with JiraEmulator(fresh_site(), deployment="cloud") as emu:
        emu.faults.ignore_id_bound = True
        started = time.monotonic()
        result = sync_source(engine, connector(emu))
    assert time.monotonic() - started < 30
    assert result.status == "failed"
    assert "made no progress" in (result.error or "") and "id >" in (result.error or "")


def test_dc_sprint_strings_give_sprints_the_boards_lack(engine: Engine) -> None:
    with JiraEmulator(fresh_site(), deployment="datacenter") as emu:
        emu.faults.board_sprints_hidden = True
        result = sync_source(engine, connector(emu))
    assert result.status == "ok", result.error
    used = {s for i in emu.site.issues for s in i["sprints"]}
    by_id = {s["id"]: s for s in emu.site.sprints}
    with engine.connect() as conn:
        rows = {
            r.external_id: r
            for r in conn.execute(
                select(
                    iterations_t.c.external_id,
                    iterations_t.c.name,
                    iterations_t.c.state,
                    iterations_t.c.start_at,
                )
            )
        }
        refs = {
            s for ids in conn.execute(select(work_items_t.c.iteration_ids)).scalars() for s in ids
        }
    assert used and {str(s) for s in used} == set(rows) and refs <= set(rows)
    for sid in used:
        sprint, row = by_id[sid], rows[str(sid)]
        assert (row.name, row.state) == (sprint["name"], sprint["state"])
        assert (row.start_at is None) == (sprint["start_at"] is None)


def test_refused_boards_skip_the_stream_and_delete_no_sprint(engine: Engine) -> None:
    with JiraEmulator(fresh_site(), deployment="cloud") as emu:
        assert sync_source(engine, connector(emu)).status == "ok"
        with engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(iterations_t)).scalar_one()
        emu.faults.forbid("/rest/agile/1.0/board", "You do not have permission to view this board.")
        result = sync_source(engine, connector(emu), full=True)
    assert result.status == "ok", result.error
    assert any("sprints" in w and "skipped" in w for w in result.warnings)
    with engine.connect() as conn:
        live = conn.execute(
            select(func.count())
            .select_from(iterations_t)
            .where(iterations_t.c.deleted_at.is_(None))
        ).scalar_one()
    assert live == before > 0  # the sprints named by issues stay live


def test_people_warning_text_is_stable() -> None:
    """The message a PMO reads in `pmohub runs`: names the right permission and the remedy."""
    with JiraEmulator(fresh_site(), deployment="datacenter") as emu:
        emu.faults.users_forbidden = True
        c = JiraConnector(config(emu), env=ENV)
        out = list(c.fetch_people())
    problem = out[0]
    assert isinstance(problem, Problem) and problem.incomplete
    assert str(problem).startswith("people: user list skipped: the account lacks the global")
    assert len(out) > 1  # people from the issues


def test_login_page_is_retried_then_described_not_blamed_on_url() -> None:
    from pmohub.connectors.http import NotJson

    with JiraEmulator(fresh_site(), deployment="cloud") as emu:
        emu.faults.login_page(times=2)
        c = connector(emu, sleeps=[])
        c.check()  # two login pages, then JSON: retried, it works
        emu.faults.login_page(times=20)
        with pytest.raises(NotJson) as err:
            connector(emu, sleeps=[]).check()
    text = str(err.value)
    assert "text/html" in text and "login page" in text and "Sign in - Example Corp SSO" in text
    assert "'url'" not in text


def test_values_parsers() -> None:
    from pmohub.connectors.jira import mapping, values

    s = (
        "com.atlassian.greenhopper.service.sprint.Sprint@1829488[rapidViewId=142,state=CLOSED,"
        "name=Sprint 7, hardening,startDate=2014-04-07T13:55:52.263+02:00,endDate=<null>,"
        "completeDate=2014-04-22T17:30:25.628+02:00,id=642]"
    )
    parsed = values.parse_sprint_string(s)
    assert parsed["id"] == "642" and parsed["name"] == "Sprint 7, hardening"
    assert parsed["endDate"] is None and parsed["state"] == "CLOSED"
    it = mapping.to_iteration(parsed, mapping.MappingContext(source="j"), "DMG")
    assert (it.external_id, it.state, it.end_at) == ("642", "closed", None)
    assert it.start_at == dt.datetime(2014, 4, 7, 11, 55, 52, 263000, tzinfo=dt.UTC)
    assert values.history_time(1700000000000) == values.history_time(1700000000)
    assert values.history_time("2024-01-02T03:04:05.000+0800") == dt.datetime(
        2024, 1, 1, 19, 4, 5, tzinfo=dt.UTC
    )
    problems: list[Problem] = []
    got = [
        values.story_points(v, "K-1", "story_points", problems)
        for v in ("3", "1,5", "1,500", {"value": "5"}, True, float("nan"), 0)
    ]
    assert got == [3.0, 1.5, None, 5.0, None, None, 0.0]
    assert [p.value for p in problems][:1] == ["1,500"] and len(problems) == 3


def test_affects_versions_and_empty_from() -> None:
    from pmohub.connectors.jira import mapping

    ctx = mapping.MappingContext(source="j")
    issue = {
        "id": "1",
        "key": "K-1",
        "fields": {
            "status": {"name": "Open", "statusCategory": {"key": "new"}},
            "versions": [{"id": "10010", "name": "2.0"}],
            "fixVersions": [{"id": "10020", "name": "2.1"}],
            "duedate": "31/02/2026",
        },
    }
    problems: list[Problem] = []
    item = mapping.to_work_item(issue, ctx, problems=problems)
    assert item.milestone_ids == ("10020",)
    assert item.extra["affects_version_ids"] == ["10010"]
    assert item.due_on is None and problems[0].field == "duedate"
    hist = [
        {
            "id": "5",
            "created": 1700000000000,
            "items": [
                {"field": "labels", "from": "", "fromString": "", "to": "", "toString": "x"},
                {"field": "Workflow", "fromString": "a", "toString": "b"},
            ],
        },
        {"id": "6", "created": None, "items": [{"field": "summary", "toString": "y"}]},
    ]
    changes = list(mapping.to_status_changes("1", hist, ctx, problems=problems, where="K-1"))
    assert [(c.external_id, c.from_value, c.to_value) for c in changes] == [("5:0", None, "x")]
    assert problems[-1].where == "K-1" and "history entry 6" in problems[-1].message


def test_incremental_reads_sprints_from_the_window_and_keeps_the_named_ones(
    store_url: str,
) -> None:
    """An incremental run lists the sprints issues name from the window's issues only (the
    whole-site light pass was most of its time) and soft-deletes none that stored live
    items still name, though the boards list none of them (SQLite and PostgreSQL: the
    stored lists are read as text)."""
    engine = open_store(store_url)

    def live_sprints() -> set[str]:
        with engine.connect() as conn:
            return set(
                conn.execute(
                    select(iterations_t.c.external_id).where(iterations_t.c.deleted_at.is_(None))
                ).scalars()
            )

    with JiraEmulator(fresh_site(), deployment="datacenter") as emu:
        emu.faults.board_sprints_hidden = True
        assert sync_source(engine, connector(emu)).status == "ok"
        before = live_sprints()
        edited = next(i for i in emu.site.issues if i["sprints"])
        emu.edit_issue(edited["key"], summary="edited")
        emu.requests.clear()
        result = sync_source(engine, connector(emu))
        sprint_passes = [
            q.get("jql", "")
            for _m, p, q in emu.requests
            if "/search" in p and "sprint" in q.get("jql", "")
        ]
    assert result.status == "ok" and result.mode == "incremental", result.error
    assert sprint_passes and all("updated >=" in jql for jql in sprint_passes)
    assert before and live_sprints() == before
