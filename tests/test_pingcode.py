"""PingCode connector against the PingCode emulator (no mocks): the emulator's fidelity to
the documented API, every mapped field, incremental sync, deletions, moves, the rate limit,
token expiry mid-sync and bad answers. Rate-limit tests run on a virtual clock shared by
the emulator and the client, so minutes of pacing take milliseconds."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select
from trackerkit import live_item_ids, sync_twice

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.writes import status_changes_t, work_items_t, worklogs_t
from pmohub.connectors.base import ChildrenComplete, SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.pingcode import PingCodeConnector
from pmohub.connectors.pingcode.client import expires_at
from pmohub.connectors.records import Link, StatusChange, WorkItem, Worklog
from pmohub.emulators.pingcode import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PingCodeEmulator,
    generate_site,
)
from pmohub.emulators.pingcode.site import CUSTOM_TYPE, STATES

CN = ZoneInfo("Asia/Shanghai")
ENV = {"PC_SECRET": DEFAULT_CLIENT_SECRET}


class VirtualClock:
    """Time that moves only when someone sleeps (shared by emulator and client)."""

    def __init__(self) -> None:
        self.t = dt.datetime.now(dt.UTC).timestamp()
        self.slept = 0.0
        self.lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.t += max(0.0, seconds)
            self.slept += max(0.0, seconds)


@pytest.fixture
def emu() -> Iterator[PingCodeEmulator]:
    """75 items; a sync needs a few hundred requests, paced on the virtual clock."""
    clock = VirtualClock()
    with PingCodeEmulator(generate_site(seed=5, projects=3, items=25), clock=clock.now) as e:
        e.test_clock = clock  # type: ignore[attr-defined]
        yield e


def connector(
    emu: PingCodeEmulator, clock: VirtualClock | None = None, **kw: Any
) -> PingCodeConnector:
    options = {"client_id": DEFAULT_CLIENT_ID, **kw.pop("options", {})}
    config = SourceConfig(
        name="pc",
        type="pingcode",
        url=emu.root,
        token_env="PC_SECRET",
        projects=kw.pop("projects", tuple(p["identifier"] for p in emu.site.projects)),
        options=options,
        **kw,
    )
    c = PingCodeConnector(config, env=ENV)
    clock = clock or getattr(emu, "test_clock", None)
    if clock is not None:
        c.clock, c.sleep = clock.now, clock.sleep
    return c


def token(emu: PingCodeEmulator) -> dict[str, str]:
    body = requests.get(
        emu.root + "/v1/auth/token",
        params={"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET},
        timeout=5,
    ).json()  # fmt: skip
    return {"authorization": f"Bearer {body['access_token']}"}


def get(
    emu: PingCodeEmulator, path: str, headers: dict[str, str], **params: Any
) -> requests.Response:
    return requests.get(emu.root + path, headers=headers, params=params, timeout=5)


# --------------------------------------------------------------------------- the emulator


def test_emulator_answers_as_documented(emu: PingCodeEmulator) -> None:
    r = requests.get(emu.url + "/v1/auth/token", params={"grant_type": "client_credentials",
                     "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}, timeout=5)  # fmt: skip
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 1_000_000_000  # an epoch
    assert 29 * 86400 < body["expires_in"] - dt.datetime.now().timestamp() <= 30 * 86400
    h = {"authorization": f"Bearer {body['access_token']}"}
    assert get(emu, "/v1/project/work_items", {}).status_code == 401
    page = get(emu, "/v1/project/work_items", h, page_size=500, page_index=0).json()
    assert (page["page_index"], page["page_size"], page["total"]) == (0, 100, 75)
    assert len(page["values"]) == 75
    second = get(emu, "/v1/project/work_items", h, page_size=30, page_index=2).json()
    assert len(second["values"]) == 15 and second["values"][0]["id"] == page["values"][60]["id"]
    one = get(emu, f"/v1/project/work_items/{page['values'][0]['id']}", h)
    assert one.status_code == 201 and one.json()["id"] == page["values"][0]["id"]
    too_many = get(
        emu, "/v1/project/work_items", h, project_ids=",".join(f"p{n}" for n in range(21))
    )
    assert too_many.status_code == 400 and too_many.json()["code"] == "100010"
    # comma ranges in seconds, all three forms
    times = sorted(i["updated_at"] for i in emu.site.items)
    mid = times[40]
    for spec, want in ((f"{mid}", [t for t in times if t >= mid]), (f",{mid}", [t for t in times if t <= mid]),
                       (f"{mid},{times[50]}", [t for t in times if mid <= t <= times[50]])):  # fmt: skip
        assert get(emu, "/v1/project/work_items", h, updated_between=spec).json()["total"] == len(
            want
        )
    # Chinese names, English types
    state = page["values"][0]["state"]
    assert (state["id"], state["name"], state["type"]) in STATES
    # tombstones only with include_deleted
    gone = emu.delete(emu.site.items[0]["id"])
    assert get(emu, "/v1/project/work_items", h).json()["total"] == 74
    listed = get(emu, "/v1/project/work_items", h, include_deleted="true", page_size=100).json()
    assert [w["is_deleted"] for w in listed["values"] if w["id"] == gone["id"]] == [1]
    # workloads: start_at and end_at together, 3 months at most per project
    pid = emu.site.projects[0]["id"]
    start = int(dt.datetime(2025, 11, 30, tzinfo=CN).timestamp())
    ok = int(dt.datetime(2026, 2, 28, tzinfo=CN).timestamp())
    assert (
        get(
            emu, "/v1/workloads", h, principal_type="work_item", pilot_id=pid, start_at=start
        ).status_code
        == 400
    )
    assert get(emu, "/v1/workloads", h, principal_type="work_item", pilot_id=pid,
               start_at=start, end_at=ok).status_code == 200  # fmt: skip
    assert get(emu, "/v1/workloads", h, principal_type="work_item", pilot_id=pid,
               start_at=start, end_at=ok + 86400 * 2).status_code == 400  # fmt: skip


def test_private_root_and_user_token_grants() -> None:
    with PingCodeEmulator(generate_site(seed=1, projects=1, items=3), deployment="private") as emu:
        assert emu.root.endswith("/open")
        assert requests.get(emu.url + "/v1/auth/token", timeout=5).status_code == 404
        code = emu.issue_code()
        got = requests.get(emu.root + "/v1/auth/token", params={"grant_type": "authorization_code",
                           "client_id": DEFAULT_CLIENT_ID, "code": code}, timeout=5).json()  # fmt: skip
        assert got["refresh_token"]
        again = requests.get(emu.root + "/v1/auth/token", params={"grant_type": "refresh_token",
                             "refresh_token": got["refresh_token"]}, timeout=5)  # fmt: skip
        assert again.status_code == 201 and again.json()["access_token"] != got["access_token"]
        reused = requests.get(emu.root + "/v1/auth/token", params={"grant_type": "authorization_code",
                              "client_id": DEFAULT_CLIENT_ID, "code": code}, timeout=5)  # fmt: skip
        assert reused.status_code == 401


def test_emulator_rate_limit_is_a_token_bucket() -> None:
    clock = VirtualClock()
    with PingCodeEmulator(generate_site(seed=1, projects=1, items=3), clock=clock.now) as emu:
        h = token(emu)
        codes = [get(emu, "/v1/directory/users", h).status_code for _ in range(200)]
        assert codes == [200] * 200
        refused = get(emu, "/v1/directory/users", h)
        assert refused.status_code == 429 and refused.json() == {
            "code": "100038",
            "message": "请求频率过高",
        }
        # per caller identity: a second token of the same app shares the budget
        assert get(emu, "/v1/directory/users", token(emu)).status_code == 429
        wait = float(refused.headers["x-pc-retry-after"])
        assert 0 < wait <= 1
        clock.sleep(wait / 4)  # retrying early fails the same way
        assert get(emu, "/v1/directory/users", h).status_code == 429
        clock.sleep(wait)
        assert get(emu, "/v1/directory/users", h).status_code == 200


# --------------------------------------------------------------------------- mapping


def test_every_mapped_field(emu: PingCodeEmulator) -> None:
    site = emu.site
    emu.site.items[3]["type"] = CUSTOM_TYPE[0]
    with connector(emu) as c:
        projects = {p.key: p for p in c.fetch_projects()}
        people = {p.external_id: p for p in c.fetch_people()}
        iterations = {i.external_id: i for i in c.fetch_iterations()}
        milestones = {m.external_id: m for m in c.fetch_milestones()}
        stream = list(c.fetch_work_items(None))
    for p in site.projects:
        got = projects[p["identifier"]]
        assert (got.external_id, got.name, got.lead, got.category) == (
            p["id"],
            p["name"],
            p["assignee"],
            p["type"],
        )
    members = {m for p in site.projects for m in p["members"]}
    assert set(people) == members
    for uid in members:
        u = site.user(uid)
        assert u is not None
        got = people[uid]
        assert (got.display_name, got.email, got.username) == (
            u["display_name"],
            u["email"],
            u["name"],
        )
        assert got.active == (u["status"] == "enabled")
    items = {o.external_id: o for o in stream if isinstance(o, WorkItem)}
    assert set(items) == {i["id"] for i in site.items}
    names = {s[0]: s for s in STATES}
    for i in site.items:
        w = items[i["id"]]
        proj = site.project(i["project_id"])
        assert proj is not None
        state = names[i["state"]]
        assert (w.key, w.project_key, w.title, w.status) == (
            i["identifier"],
            proj["identifier"],
            i["title"],
            state[1],
        )
        want_cat = {"pending": "todo", "in_progress": "in_progress", "completed": "done"}[state[2]]
        assert w.status_category == ("cancelled" if i["state"] == "st-rejected" else want_cat)
        assert w.type == ("风险" if i["type"] == CUSTOM_TYPE[0] else i["type"].capitalize())
        assert (w.assignee, w.reporter, w.parent_id) == (
            i["assignee"],
            i["created_by"],
            i["parent_id"],
        )
        assert w.created_at == dt.datetime.fromtimestamp(i["created_at"], dt.UTC)
        assert w.updated_at == dt.datetime.fromtimestamp(i["updated_at"], dt.UTC)
        done = w.status_category in ("done", "cancelled")
        assert w.resolved_at == (
            dt.datetime.fromtimestamp(i["completed_at"], dt.UTC)
            if done and i["completed_at"]
            else None
        )
        for field, key in (("start_on", "start_at"), ("due_on", "end_at")):
            want = dt.datetime.fromtimestamp(i[key], CN).date() if i[key] else None
            assert getattr(w, field) == want  # the local day, not the UTC one
        assert (w.story_points, w.original_estimate_h, w.remaining_estimate_h) == (
            i["story_points"], i["estimated_workload"], i["remaining_workload"])  # fmt: skip
        assert w.labels == tuple(i["tags"])
        assert w.components == ((i["phase"],) if i["phase"] else ())
        assert w.iteration_ids == ((i["sprint_id"],) if i["sprint_id"] else ())
        assert w.milestone_ids == ((i["version_id"],) if i["version_id"] else ())
        assert w.priority and w.url and w.url.endswith(i["short_id"])
    assert any(i["type"] == "milestone" and items[i["id"]].start_on is None for i in site.items)
    changes = [o for o in stream if isinstance(o, StatusChange)]
    assert len(changes) == sum(len(i["transitions"]) for i in site.items) > 100
    truth = {f"{i['id']}:{t['id']}": t for i in site.items for t in i["transitions"]}
    for ch in changes:
        t = truth[ch.external_id]
        assert (ch.from_value, ch.to_value, ch.author) == (
            names[t["from"]][1],
            names[t["to"]][1],
            t["by"],
        )
        assert ch.changed_at == dt.datetime.fromtimestamp(t["at"], dt.UTC)
    logs = {o.external_id: o for o in stream if isinstance(o, Worklog)}
    counted = {
        w["id"]: (w, i)
        for i in site.items
        for w in i["workloads"]
        if w["review_state"] not in ("rejected", "terminated")
    }
    assert set(logs) == set(counted) and any(
        w["review_state"] == "rejected" for i in site.items for w in i["workloads"]
    )
    for wid, (w, i) in counted.items():
        got = logs[wid]
        assert (got.work_item_id, got.seconds, got.author) == (
            i["id"],
            round(w["duration"] * 3600),
            w["report_by"],
        )
        assert got.started_at == dt.datetime.fromtimestamp(w["report_at"], dt.UTC)
    links = [o for o in stream if isinstance(o, Link)]
    assert len(links) == sum(len(i["relations"]) for i in site.items) > 0
    assert {lk.kind for lk in links} <= {"relates", "blocks", "duplicates"}
    for s in site.sprints:
        it = iterations[s["id"]]
        assert (
            it.state
            == {"pending": "future", "in_progress": "active", "completed": "closed"}[s["status"]]
        )
        assert it.end_at == dt.datetime.fromtimestamp(s["end_at"], dt.UTC)
    assert {i.project_key for i in iterations.values()} <= {"SCR", "HYB"}  # no kanban sprints
    for v in site.versions:
        m = milestones[v["id"]]
        assert m.released == (v["stage"][2] == "completed")
        assert m.due_on == dt.datetime.fromtimestamp(v["end_at"], CN).date()


def test_expires_in_read_both_ways() -> None:
    assert expires_at(1577808000, now=1.0) == 1577808000
    assert expires_at(1577808000123, now=1.0) == pytest.approx(1577808000.123)
    assert expires_at(2_592_000, now=100.0) == 2_592_100


# --------------------------------------------------------------------------- the store


def test_sync_incremental_deletions_and_moves(emu: PingCodeEmulator, sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    try:
        sync_twice(engine, lambda: connector(emu))
        items = emu.site.items
        moved, gone, changed = items[5], items[6], items[7]
        emu.move(
            moved["id"], "KAN" if moved["project_id"] != emu.site.project("KAN")["id"] else "SCR"
        )  # type: ignore[index]
        emu.delete(gone["id"])
        emu.transition(changed["id"], "st-test")
        # hours booked for yesterday (inside the incremental workload window)
        yesterday = dt.datetime.fromtimestamp(emu.clock(), CN).date() - dt.timedelta(days=1)
        w = emu.log_work(items[8]["id"], 2.5, yesterday)
        before = len(emu.requests)
        third = sync_source(engine, connector(emu))
        assert third.status == "ok" and third.mode == "incremental", third.error
        assert third.deleted == 1
        # only the changed items were read again (plus the census listings)
        assert len(emu.requests) - before < 40
        live = live_item_ids(engine, "pc")
        assert live == {i["id"] for i in items if not i["is_deleted"]}
        with engine.connect() as conn:
            row = conn.execute(select(work_items_t.c.project_key, work_items_t.c.key)
                               .where(work_items_t.c.external_id == moved["id"])).one()  # fmt: skip
            assert tuple(row) == (
                emu.site.project(moved["project_id"])["identifier"],
                moved["identifier"],
            )  # type: ignore[index]
            statuses = conn.execute(select(status_changes_t.c.to_value).where(
                status_changes_t.c.external_id == f"{changed['id']}:{changed['transitions'][-1]['id']}")).scalars().all()  # fmt: skip
            assert statuses == ["测试中"]
            logged = (
                conn.execute(
                    select(worklogs_t.c.seconds).where(worklogs_t.c.external_id == w["id"])
                )
                .scalars()
                .all()
            )
            assert logged == [9000]
        again = sync_source(engine, connector(emu))
        assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    finally:
        engine.dispose()


def test_a_sync_over_the_rate_limit_is_paced(sqlite_url: str) -> None:
    """A site needing far more than 200 requests syncs without one refusal; with the
    budget already half spent by another caller of the same app, refusals happen but no
    request is refused twice, and the sync takes about requests / 200 minutes."""
    clock = VirtualClock()
    with PingCodeEmulator(generate_site(seed=9, projects=3, items=80), clock=clock.now) as emu:
        h = token(emu)
        for _ in range(150):  # another job of the same app spends most of the minute's budget
            assert get(emu, "/v1/directory/users", h).status_code == 200
        engine = open_store(sqlite_url)
        try:
            result = sync_source(engine, connector(emu, clock))
        finally:
            engine.dispose()
        assert result.status == "ok", result.error
        made = len(emu.requests) - 151
        assert made > 400
        statuses: dict[str, list[int]] = {}
        twice = 0
        for key, status in emu.answers:
            seq = statuses.setdefault(key, [])
            if status == 429 and seq and seq[-1] == 429:
                twice += 1
            seq.append(status)
        assert twice == 0
        assert 1 <= len(emu.refused) <= 3
        # 200 at once, then 200/min: the virtual time the pacing took matches the limit
        expected = (made + 150 - 200) / 200 * 60
        assert expected * 0.9 <= clock.slept <= expected * 1.1 + 2


def test_injected_429_waits_as_told(emu: PingCodeEmulator) -> None:
    clock = emu.test_clock  # type: ignore[attr-defined]
    emu.faults.rate_limit(times=1, retry_after="7", path_prefix="/v1/project/work_items")
    with connector(emu, clock) as c:
        assert len([o for o in c.fetch_work_items(None) if isinstance(o, WorkItem)]) == 75
        assert c.client.session.refusals == 1
    assert clock.slept >= 7


def test_token_expiry_mid_sync(emu: PingCodeEmulator, sqlite_url: str) -> None:
    calls = {"n": 0}

    def expire(method: str, path: str, query: dict[str, str]) -> None:
        calls["n"] += 1
        if calls["n"] == 30:
            emu.expire_tokens()

    emu.faults.on_request("/v1/project/work_items/", expire)
    engine = open_store(sqlite_url)
    try:
        result = sync_source(engine, connector(emu))
        assert result.status == "ok", result.error
        assert len(emu.issued) == 2 and len(live_item_ids(engine, "pc")) == 75
    finally:
        engine.dispose()


def test_token_renewed_before_it_expires() -> None:
    clock = VirtualClock()
    site = generate_site(seed=3, projects=2, items=100)
    with PingCodeEmulator(site, clock=clock.now, expires_in_style="seconds") as emu:
        emu.token_lifetime_s = 90  # the sync's pacing outlasts it
        with connector(emu, clock) as c:
            stream = list(c.fetch_work_items(None))
        assert len([o for o in stream if isinstance(o, WorkItem)]) == 200
        assert len(emu.issued) >= 2
        assert not any(s == 401 for _, s in emu.answers)


def test_bad_answers_and_bad_values(emu: PingCodeEmulator, sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    try:
        assert sync_source(engine, connector(emu)).status == "ok"
        target = next(i for i in emu.site.items if len(i["transitions"]) > 2)
        emu.edit(target["id"], story_points="很多", start_at="tomorrow")
        emu.bad_answer("html", "/v1/project/work_items")  # a proxy page once: retried
        for _ in range(3):  # the history of the edited item is broken every time
            emu.bad_answer("truncated", f"/v1/project/work_items/{target['id']}/transition")
        with connector(emu) as c:
            stream = list(
                c.fetch_work_items(dt.datetime.fromtimestamp(target["updated_at"] - 1, dt.UTC))
            )
        got = next(o for o in stream if isinstance(o, WorkItem) and o.external_id == target["id"])
        assert got.story_points is None and got.start_on is None and got.title == target["title"]
        problems = [str(o.error) for o in stream if hasattr(o, "error")]
        assert any("story_points" in p for p in problems) and any("start_at" in p for p in problems)
        assert any("transition histories lost" in p for p in problems)
        done = next(
            o for o in stream if isinstance(o, ChildrenComplete) and o.work_item_id == target["id"]
        )
        assert "status_changes" not in done.kinds  # the stored history is kept
        for _ in range(3):
            emu.bad_answer("truncated", f"/v1/project/work_items/{target['id']}/transition")
        result = sync_source(engine, connector(emu))
        assert result.status == "ok" and result.skipped >= 2
        with engine.connect() as conn:
            kept = conn.execute(select(status_changes_t.c.id).where(
                status_changes_t.c.external_id.like(f"{target['id']}:%"),
                status_changes_t.c.deleted_at.is_(None))).all()  # fmt: skip
        assert len(kept) == len(target["transitions"])
        for _ in range(10):  # a listing that keeps answering the wrong shape fails the source
            emu.bad_answer("shape", "/v1/project/work_items")
        failed = sync_source(engine, connector(emu))
        assert failed.status == "failed" and "values" in str(failed.error) and failed.deleted == 0
    finally:
        engine.dispose()


def test_configuration_errors(emu: PingCodeEmulator) -> None:
    with pytest.raises(ConfigError, match="client_id"):
        PingCodeConnector(SourceConfig(name="pc", type="pingcode", token_env="PC_SECRET"), env=ENV)
    bad = connector(emu)
    bad.env = {"PC_SECRET": "wrong-secret"}
    with pytest.raises(ConfigError, match="client credentials") as exc, bad:
        bad.check()
    assert "wrong-secret" not in str(exc.value)
    with pytest.raises(ConfigError, match="NOPE"), connector(emu, projects=("SCR", "NOPE")) as c:
        list(c.fetch_projects())
    with connector(emu) as c:
        facts = c.check()
    assert facts["projects_visible"] == ["SCR", "KAN", "WF"] and facts["work_items"] == 75
