"""The census shortcut against a REAL Redmine (issue 12): an incremental run with nothing
deleted counts each project (``limit=1``, ``status_id=*``) instead of listing every issue
id; a deletion, a deleted+created pair or a move out of scope makes the counts differ and
the full census runs and deletes exactly what went. Data created through the REST API."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redmine_server import (
    ACTIVITY_DEVELOPMENT,
    TOKEN_ENV,
    RedmineServer,
    create_issue,
    create_project,
    redmine_server,
)
from sqlalchemy import Engine, select

from pmohub.aggregator.ingest.sync import SyncResult, sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import projects_t, work_items_t
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.redmine import RedmineConnector


@pytest.fixture(scope="module")
def server() -> RedmineServer:
    return redmine_server()


@pytest.fixture
def portfolio(server: RedmineServer) -> dict[str, Any]:
    """A project with a subproject (both in scope), three issues, one closed, and time
    logged on the project itself (its pseudo item counts too)."""
    key = f"cen{secrets.token_hex(3)}"
    pid = create_project(server, key, "Census")
    sub = create_project(server, f"{key}-sub", "Census sub", parent=pid)
    other = create_project(server, f"oth{secrets.token_hex(3)}", "Out of scope")
    issues = [create_issue(server, pid, f"issue {k}") for k in range(3)]
    server.put(f"/issues/{issues[2]}.json", {"issue": {"status_id": 5}})  # closed
    sub_issue = create_issue(server, sub, "in the subproject")
    server.post(
        "/time_entries.json",
        {
            "time_entry": {
                "project_id": pid,
                "hours": 1.5,
                "spent_on": dt.date.today().isoformat(),
                "activity_id": ACTIVITY_DEVELOPMENT,
            }
        },
    )
    return {"key": key, "pid": pid, "sub": sub, "other": other, "issues": issues + [sub_issue]}


def connector(server: RedmineServer, key: str, calls: list[str]) -> RedmineConnector:
    conf = SourceConfig(
        name=f"rm_{key}", type="redmine", url=server.url, token_env=TOKEN_ENV, projects=(key,)
    )
    conn = RedmineConnector(conf, env=server.env)

    def counted(name: str, real: Callable[[str], Any]) -> Callable[[str], Any]:
        def call(project_key: str) -> Any:
            calls.append(f"{name} {project_key}")
            return real(project_key)

        return call

    real_census = conn.census

    def census(project_key: str) -> Iterator[str]:
        calls.append(f"census {project_key}")
        yield from real_census(project_key)

    conn.census = census  # type: ignore[method-assign]
    conn.census_total = counted("total", conn.census_total)  # type: ignore[method-assign]
    return conn


def sync(
    engine: Engine, server: RedmineServer, key: str, **kw: Any
) -> tuple[SyncResult, list[str]]:
    calls: list[str] = []
    with connector(server, key, calls) as conn:
        result = sync_source(engine, conn, **kw)
    assert result.ok, result.error
    return result, calls


def live(engine: Engine, key: str) -> set[str]:
    t = work_items_t
    with engine.connect() as db:
        return set(
            db.execute(
                select(t.c.external_id).where(t.c.source == f"rm_{key}", t.c.deleted_at.is_(None))
            ).scalars()
        )


def listed(calls: list[str]) -> bool:
    return any(c.startswith("census ") for c in calls)


def test_nothing_changed_skips_the_listing_and_deletes_nothing(
    server: RedmineServer, portfolio: dict[str, Any], sqlite_url: str
) -> None:
    key, pid = portfolio["key"], portfolio["pid"]
    engine = open_store(sqlite_url)
    try:
        first, calls = sync(engine, server, key)
        assert first.mode == "full" and listed(calls)  # full runs always list the ids
        expected = {str(i) for i in portfolio["issues"]} | {f"p{pid}-time"}
        assert live(engine, key) == expected
        again, calls = sync(engine, server, key)
        assert again.mode == "incremental" and again.deleted == 0
        assert sorted(calls) == sorted([f"total {key}", f"total {key}-sub"])
        assert live(engine, key) == expected
    finally:
        engine.dispose()


def test_one_deleted_runs_the_census_and_deletes_exactly_it(
    server: RedmineServer, portfolio: dict[str, Any], sqlite_url: str
) -> None:
    key, issues = portfolio["key"], portfolio["issues"]
    engine = open_store(sqlite_url)
    try:
        sync(engine, server, key)
        before = live(engine, key)
        server.delete(f"/issues/{issues[0]}.json")
        result, calls = sync(engine, server, key)
        assert result.mode == "incremental" and listed(calls)
        assert result.deleted == 1
        assert live(engine, key) == before - {str(issues[0])}
    finally:
        engine.dispose()


def test_deleted_and_created_in_one_run_both_handled(
    server: RedmineServer, portfolio: dict[str, Any], sqlite_url: str
) -> None:
    """Same count in Redmine as before, but the new issue is first seen in this run: the
    store then holds one more than Redmine and the census runs."""
    key, pid, issues = portfolio["key"], portfolio["pid"], portfolio["issues"]
    engine = open_store(sqlite_url)
    try:
        sync(engine, server, key)
        before = live(engine, key)
        server.delete(f"/issues/{issues[1]}.json")
        new = create_issue(server, pid, "replacement")
        result, calls = sync(engine, server, key)
        assert result.mode == "incremental" and listed(calls)
        assert result.inserted >= 1 and result.deleted == 1
        assert live(engine, key) == (before - {str(issues[1])}) | {str(new)}
        # and the next run, with nothing changed, counts again instead of listing
        again, calls = sync(engine, server, key)
        assert again.deleted == 0 and not listed(calls)
    finally:
        engine.dispose()


def test_moves_within_and_out_of_scope(
    server: RedmineServer, portfolio: dict[str, Any], sqlite_url: str
) -> None:
    """Into the subproject (in scope): the counts still match, nothing is deleted and the
    item follows its project. Out of scope: Redmine counts one fewer, the census runs and
    the issue leaves the store."""
    key, issues = portfolio["key"], portfolio["issues"]
    engine = open_store(sqlite_url)
    try:
        sync(engine, server, key)
        before = live(engine, key)
        server.put(f"/issues/{issues[0]}.json", {"issue": {"project_id": portfolio["sub"]}})
        result, calls = sync(engine, server, key)
        assert result.deleted == 0 and not listed(calls)
        assert live(engine, key) == before
        t, p = work_items_t, projects_t
        with engine.connect() as db:
            project = db.execute(
                select(p.c.key)
                .join(t, t.c.project_id == p.c.id)
                .where(t.c.source == f"rm_{key}", t.c.external_id == str(issues[0]))
            ).scalar_one()
        assert project == f"{key}-sub"
        server.put(f"/issues/{issues[1]}.json", {"issue": {"project_id": portfolio["other"]}})
        result, calls = sync(engine, server, key)
        assert listed(calls) and result.deleted == 1
        assert live(engine, key) == before - {str(issues[1])}
    finally:
        engine.dispose()
