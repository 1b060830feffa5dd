"""The Redmine connector and ``pmohub sync`` against a REAL Redmine filled with Redmine's own
test fixtures (``../shared/real-payloads/redmine/test-fixtures-5.0.4``, issue 12): a
project without the Issue tracking module, groups, a locked user and time logged on a
project. Expected values are read from the fixture files themselves."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from realpayloads import real_folder
from redmine_server import (
    TOKEN_ENV,
    RedmineServer,
    redmine_missing,
    start_fixture_redmine,
)
from sqlalchemy import select

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import aliases_t, people_t, work_items_t, worklogs_t
from pmohub.connectors.base import Problem, SourceConfig
from pmohub.connectors.records import Person, WorkItem
from pmohub.connectors.redmine import RedmineConnector


def fixture(name: str) -> dict[str, dict[str, Any]]:
    return yaml.safe_load((real_folder("redmine") / "test-fixtures-5.0.4" / name).read_text())


@pytest.fixture(scope="module")
def server() -> Iterator[RedmineServer]:
    real_folder("redmine")
    missing = redmine_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)

    def assign_to_group(db: Any) -> None:
        # one issue assigned to a group ("A Team"), as Redmine allows with the setting on
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE issues SET assigned_to_id = 10 WHERE id = 2")

    srv = start_fixture_redmine(assign_to_group)
    yield srv
    srv.stop()


def make(server: RedmineServer, **kw: Any) -> RedmineConnector:
    conf = SourceConfig(name="rmfix", type="redmine", url=server.url, token_env=TOKEN_ENV, **kw)
    return RedmineConnector(conf, env=server.env)


def test_project_without_issue_tracking_is_skipped_with_a_warning(server: RedmineServer) -> None:
    modules = fixture("enabled_modules.yml").values()
    tracking = {m["project_id"] for m in modules if m["name"] == "issue_tracking"}
    projects = fixture("projects.yml").values()
    without = {p["identifier"] for p in projects if p["id"] not in tracking}
    assert without == {"subproject2", "project6"}
    with make(server) as conn:
        out = list(conn.fetch_projects())
    keys = {p.key for p in out if not isinstance(p, Problem)}
    assert keys == {p["identifier"] for p in projects} - without
    warned = {str(p) for p in out if isinstance(p, Problem)}
    assert len(warned) == 2 and all("Issue tracking module is off" in w for w in warned)
    assert not any("admin" in w for w in warned)


def test_sync_groups_locked_users_and_project_time(server: RedmineServer, tmp_path: Any) -> None:
    engine = open_store(f"sqlite:///{tmp_path}/fx.db")
    try:
        result = sync_source(engine, make(server))
        assert result.status == "ok", result.error
        assert result.skipped == 0
        assert sum("Issue tracking module" in w for w in result.warnings) == 2
        with engine.connect() as c:
            people = {
                r.external_id: r
                for r in c.execute(
                    select(aliases_t.c.external_id, people_t.c.active)
                    .join(people_t, aliases_t.c.person_id == people_t.c.id)
                    .where(aliases_t.c.source == "rmfix")
                )
            }
            items = {r.external_id: r for r in c.execute(select(work_items_t))}
            logs = list(c.execute(select(worklogs_t)))
    finally:
        engine.dispose()
    users = fixture("users.yml").values()
    groups = {str(u["id"]) for u in users if u.get("type") == "Group"}
    assert groups == {"10", "11"}
    assert not groups & set(people)  # groups are not people
    locked = {str(u["id"]) for u in users if u.get("type") == "User" and u.get("status") == 3}
    assert locked and all(not people[i].active for i in locked if i in people)
    assert locked & set(people)
    # issue 2 is assigned to the group: no assignee, the group's name kept
    assert items["2"].assignee_id is None
    assert items["2"].extra["assigned_group"] == "A Team"
    # time logged on a project (issue_id empty) reaches the store on its pseudo item
    entries = fixture("time_entries.yml").values()
    modules = fixture("enabled_modules.yml").values()
    timed = {m["project_id"] for m in modules if m["name"] == "time_tracking"}
    # Redmine lists time only of projects with the Time tracking module on
    on_project = [e for e in entries if not e.get("issue_id") and e["project_id"] in timed]
    assert on_project
    pseudo = {f"p{e['project_id']}-time" for e in on_project}
    assert pseudo <= set(items)
    pseudo_db_ids = {items[p].id for p in pseudo}
    hours = sum(e["hours"] for e in on_project)
    logged = sum(r.seconds for r in logs if r.work_item_id in pseudo_db_ids)
    assert logged == round(hours * 3600)
    # every fixture issue of a tracked, visible project is there
    modules = fixture("enabled_modules.yml").values()
    tracking = {m["project_id"] for m in modules if m["name"] == "issue_tracking"}
    expected = {str(i["id"]) for i in fixture("issues.yml").values() if i["project_id"] in tracking}
    assert {i for i in items if i.isdigit()} == expected


def test_group_assignee_pure_mapping(server: RedmineServer) -> None:
    with make(server) as conn:
        items = {o.external_id: o for o in conn.fetch_work_items(None) if isinstance(o, WorkItem)}
        people = [p for p in conn.fetch_people() if isinstance(p, Person)]
    assert items["2"].assignee is None
    assert {"10", "11", "12", "13"}.isdisjoint({p.external_id for p in people})
