"""GitLab: the connector against the GitLab emulator on 127.0.0.1 (payloads shaped per
GitLab's REST v4 docs; no vendor OpenAPI description is available here, see SOURCES.md),
alone and through the sync engine into real SQLite and PostgreSQL stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from trackerkit import live_item_ids, record_sleeps, source_config, sync_twice

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import worklogs_t
from pmohub.connectors import registry
from pmohub.connectors.base import ChildrenComplete, SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.gitlab import GitLabConnector
from pmohub.connectors.records import StatusChange, WorkItem, Worklog
from pmohub.emulators.gitlab import DEFAULT_TOKEN, GitLabEmulator, generate_site

ENV = {"GL_TOKEN": DEFAULT_TOKEN}
PROJECTS = ("acme-eng/billing-service", "acme-eng/customer-portal")


@pytest.fixture
def emu() -> Iterator[GitLabEmulator]:
    with GitLabEmulator(generate_site(seed=5, projects=2, issues=30)) as e:
        yield e


def config(emu: GitLabEmulator, **kw: Any) -> SourceConfig:
    base: dict[str, Any] = {
        "name": "gl",
        "type": "gitlab",
        "url": emu.url,
        "token_env": "GL_TOKEN",
        "projects": PROJECTS,
        "page_size": 8,
    }
    return source_config(base, **kw)


def connector(emu: GitLabEmulator, sleeps: list[float] | None = None, **kw: Any) -> GitLabConnector:
    c = GitLabConnector(config(emu, **kw), env=ENV)
    return c if sleeps is None else record_sleeps(c, sleeps)


def items(stream: Any) -> list[WorkItem]:
    return [r for r in stream if isinstance(r, WorkItem)]


def issue_ids(emu: GitLabEmulator, since: dt.datetime | None = None) -> set[str]:
    return {str(i["id"]) for i in emu.site.issues if since is None or i["updated_at"] >= since}


def test_emulator_pages_like_gitlab(emu: GitLabEmulator) -> None:
    h = {"PRIVATE-TOKEN": DEFAULT_TOKEN}
    url = emu.url + "/api/v4/projects/acme-eng%2Fbilling-service/issues"
    r = requests.get(url, params={"per_page": 7}, headers=h, timeout=5)
    assert r.status_code == 200 and len(r.json()) == 7
    assert (
        r.headers["X-Next-Page"] == "2"
        and r.headers["X-Total"] == "30"
        and 'rel="next"' in r.headers["Link"]
    )
    r = requests.get(url, params={"per_page": 7, "page": 5}, headers=h, timeout=5)
    assert r.headers["X-Next-Page"] == "" and "next" not in r.links
    issue = r.json()[0]
    for key in (
        "id",
        "iid",
        "project_id",
        "state",
        "labels",
        "time_stats",
        "weight",
        "epic",
        "iteration",
        "web_url",
    ):
        assert key in issue
    assert requests.get(url, timeout=5).json() == {"message": "401 Unauthorized"}
    with GitLabEmulator(emu.site, licensed=False) as free:
        r = requests.get(free.url + "/api/v4/groups/10/epics", headers=h, timeout=5)
        assert r.status_code == 403
        issue = requests.get(free.url + "/api/v4/projects/40/issues", headers=h, timeout=5).json()[
            0
        ]
        assert "weight" not in issue and "epic" not in issue


def test_full_fetch_issues_epics_history_and_worklogs(emu: GitLabEmulator) -> None:
    with connector(emu) as c:
        projects = [p.key for p in c.fetch_projects()]
        stream = list(c.fetch_work_items(None))
        iterations = {i.external_id: i for i in c.fetch_iterations()}
        milestones = {m.external_id for m in c.fetch_milestones()}
    assert projects == [*PROJECTS, "acme-eng"]
    got = items(stream)
    epics = {w.external_id for w in got if w.type == "Epic"}
    assert epics == {f"epic:{e['id']}" for e in emu.site.epics}
    issues = {w.external_id: w for w in got if w.type != "Epic"}
    assert set(issues) == issue_ids(emu) and len(got) == len(issues) + len(epics)
    by_id = {str(i["id"]): i for i in emu.site.issues}
    for iid, w in issues.items():
        src = by_id[iid]
        wf = [x for x in src["labels"] if x.startswith("workflow::")]
        expected = (
            "closed" if src["state"] == "closed" else (wf[-1].split("::")[1] if wf else "open")
        )
        assert w.status == expected
        assert w.parent_id == (f"epic:{src['epic_id']}" if src["epic_id"] else None)
        assert w.story_points == (float(src["weight"]) if src["weight"] is not None else None)
        spent = sum(t["seconds"] for t in src["timelogs"])
        assert w.time_spent_h == (spent / 3600 if spent else None)
        assert set(w.iteration_ids) <= set(iterations)
        assert set(w.milestone_ids) <= milestones
        assert w.type == next(x for x in src["labels"] if x.startswith("type::")).split("::")[1]
    worklogs = [r for r in stream if isinstance(r, Worklog)]
    assert {w.external_id for w in worklogs} == {
        str(t["id"]) for i in emu.site.issues for t in i["timelogs"]
    }
    for iid in issues:
        mine = sum(x.seconds for x in worklogs if x.work_item_id == iid)
        assert mine == sum(t["seconds"] for t in by_id[iid]["timelogs"])
    last: dict[str, str | None] = {}
    for ch in (r for r in stream if isinstance(r, StatusChange)):
        last[ch.work_item_id] = ch.to_value
        assert ch.from_value != ch.to_value
    for iid, status in last.items():
        assert issues[iid].status == status
    assert {r.work_item_id for r in stream if isinstance(r, ChildrenComplete)} == set(issues)
    assert {i.state for i in iterations.values()} == {"closed", "active", "future"}


def test_unlicensed_epics_and_iterations_are_not_errors(emu: GitLabEmulator) -> None:
    emu.licensed = False
    with connector(emu) as c:
        assert c.check()["epics"] is False
        assert [p.key for p in c.fetch_projects()] == list(PROJECTS)
        assert list(c.fetch_iterations()) == []
        got = items(c.fetch_work_items(None))
    assert {w.external_id for w in got} == issue_ids(emu)
    assert all(w.parent_id is None and w.story_points is None and not w.iteration_ids for w in got)


def test_incremental_key_set_paging_and_new_history(emu: GitLabEmulator) -> None:
    cut = sorted(i["updated_at"] for i in emu.site.issues)[25]
    with connector(emu, page_size=4, history=False, worklogs=False, epics=False) as c:
        got = items(c.fetch_work_items(cut))
    assert {w.external_id for w in got} == issue_ids(emu, cut)
    afters = {
        q["updated_after"][0]
        for m, p, q in emu.requests
        if p.endswith("/issues") and "updated_after" in q
    }
    assert len(afters) > 4
    target = next(i for i in emu.site.issues if i["state"] == "opened")
    emu.set_workflow(target["project_id"], target["iid"], "workflow::review")
    moved_at = target["updated_at"]
    log = emu.log_time(target["project_id"], target["iid"], 5400)
    with connector(emu, epics=False) as c:
        stream = list(c.fetch_work_items(target["updated_at"]))
    assert [w.external_id for w in items(stream)] == [str(target["id"])]
    assert items(stream)[0].status == "review"
    change = [r for r in stream if isinstance(r, StatusChange)][-1]
    assert change.to_value == "review" and change.changed_at == moved_at
    assert str(log["id"]) in {w.external_id for w in stream if isinstance(w, Worklog)}


def test_many_issues_at_one_instant_are_all_read(emu: GitLabEmulator) -> None:
    instant = max(i["updated_at"] for i in emu.site.issues) + dt.timedelta(seconds=5)
    crowd = [i for i in emu.site.issues if i["project_id"] == 40][:11]
    for i in crowd:
        i["updated_at"] = instant
    with connector(emu, page_size=3, history=False, worklogs=False, epics=False) as c:
        got = items(c.fetch_work_items(None))
    assert {w.external_id for w in got} == issue_ids(emu)


def test_edits_during_the_run_lose_nothing(emu: GitLabEmulator) -> None:
    calls = {"n": 0}
    first = sorted(
        (i for i in emu.site.issues if i["project_id"] == 40), key=lambda i: i["updated_at"]
    )[:4]

    def edit(method: str, path: str, query: dict[str, str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            for i in first:
                emu.set_workflow(40, i["iid"], "workflow::doing")

    emu.faults.on_request("/api/v4/projects/40/issues", edit)
    with connector(emu, page_size=5, history=False, worklogs=False, epics=False) as c:
        got = items(c.fetch_work_items(None))
    assert calls["n"] > 2, "the edit happened mid-run"
    assert {w.external_id for w in got} == issue_ids(emu)


def test_rate_limit_with_retry_after(emu: GitLabEmulator) -> None:
    emu.faults.rate_limit(times=2, retry_after="2", path_prefix="/api/v4/projects/40/issues")
    sleeps: list[float] = []
    with connector(emu, sleeps=sleeps, history=False, worklogs=False) as c:
        got = items(c.fetch_work_items(None))
    assert sleeps == [2.0, 2.0]
    assert {w.external_id for w in got if w.type != "Epic"} == issue_ids(emu)


def test_auth_and_config_errors(emu: GitLabEmulator) -> None:
    with pytest.raises(ConfigError) as err:
        GitLabConnector(config(emu), env={"GL_TOKEN": "nope-nope"}).check()
    assert (
        "[gl]" in str(err.value)
        and "GL_TOKEN" in str(err.value)
        and "nope-nope" not in str(err.value)
    )
    with pytest.raises(ConfigError, match="GL_TOKEN"):
        GitLabConnector(config(emu), env={}).check()
    with (
        connector(emu, projects=("acme-eng/missing",)) as c,
        pytest.raises(ConfigError, match="projects"),
    ):
        list(c.fetch_projects())
    assert registry.get("gitlab") is GitLabConnector


def test_people_with_public_emails(emu: GitLabEmulator) -> None:
    with connector(emu) as c:
        people = {p.external_id: p for p in c.fetch_people()}
    assert set(people) == {str(u["id"]) for u in emu.site.users}
    for u in emu.site.users:
        assert people[str(u["id"])].email == (u["public_email"] or None)


def test_sync_into_the_store_nothing_lost_or_doubled(emu: GitLabEmulator, store_url: str) -> None:
    engine = open_store(store_url)
    try:
        sync_twice(engine, lambda: connector(emu))
        gone = emu.site.issues[3]
        emu.delete_issue(gone["project_id"], gone["iid"])
        emu.log_time(emu.site.issues[0]["project_id"], emu.site.issues[0]["iid"], 600)
        third = sync_source(engine, connector(emu))
        assert third.status == "ok" and third.deleted == 1
        live = live_item_ids(engine, "gl")
        with engine.connect() as conn:
            seconds = conn.execute(
                select(func.sum(worklogs_t.c.seconds)).where(
                    worklogs_t.c.source == "gl", worklogs_t.c.deleted_at.is_(None)
                )
            ).scalar_one()
        assert live == issue_ids(emu) | {f"epic:{e['id']}" for e in emu.site.epics}
        assert seconds == sum(t["seconds"] for i in emu.site.issues for t in i["timelogs"])
    finally:
        engine.dispose()


@pytest.mark.parametrize("licensed", [True, False])
def test_a_group_as_one_project(emu: GitLabEmulator, licensed: bool, sqlite_url: str) -> None:
    """``groups: [acme-eng]``: one pmohub project holding every issue of the group (and its
    epics when licensed), read through the group's issue listing."""
    emu.licensed = licensed
    epic_ids = {f"epic:{e['id']}" for e in emu.site.epics} if licensed else set()
    with connector(emu, projects=(), groups=["acme-eng"]) as c:
        assert [p.key for p in c.fetch_projects()] == ["acme-eng"]
        got = items(c.fetch_work_items(None))
        census = set(c.census("acme-eng"))
        milestones = {m.external_id for m in c.fetch_milestones()}
    assert {w.external_id for w in got} == issue_ids(emu) | epic_ids
    assert {w.project_key for w in got} == {"acme-eng"} and census == issue_ids(emu) | epic_ids
    assert milestones == {str(m["id"]) for m in emu.site.milestones}
    assert any(p.startswith("/api/v4/groups/10/issues") for _, p, _ in emu.requests)
    engine = open_store(sqlite_url)
    try:
        assert sync_source(engine, connector(emu, projects=(), groups=["acme-eng"])).status == "ok"
        again = sync_source(engine, connector(emu, projects=(), groups=["acme-eng"]))
        assert again.status == "ok" and (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    finally:
        engine.dispose()
