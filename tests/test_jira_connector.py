"""The Jira connector against the Jira emulator (a real HTTP server on 127.0.0.1), in both
Cloud and Data Center mode, alone and through the sync engine into a real store. Every test
compares what arrived with the emulator's own site data: nothing lost, nothing doubled."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from pmohub.aggregator.ingest.sync import sync_config, sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import links_t, status_changes_t, work_items_t, worklogs_t
from pmohub.aggregator.store.models import SyncState
from pmohub.connectors.base import Checkpoint, ChildrenComplete, Skipped, SourceConfig
from pmohub.connectors.errors import ConfigError, TransientError
from pmohub.connectors.jira import JiraConnector
from pmohub.connectors.records import Link, StatusChange, WorkItem, Worklog
from pmohub.emulators.jira.generator import generate_site
from pmohub.emulators.jira.server import (
    DEFAULT_EMAIL,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    JiraEmulator,
)
from pmohub.emulators.jira.site import JiraSite

ENV = {"JIRA_TOKEN": DEFAULT_TOKEN}
# Keyed by everything that shapes the site: keyed by seed alone, whichever size was asked
# for first (test_sync_gc wants 30 issues) was handed to every later caller, so the 400-issue
# tests here failed whenever a smaller site had been generated earlier in the same process.
_BASE: dict[tuple[int, int], dict[str, Any]] = {}


def fresh_site(seed: int = 7, issues: int = 400) -> JiraSite:
    """A private copy (tests mutate their site) of a generated site, generated once."""
    key = (seed, issues)
    if key not in _BASE:
        _BASE[key] = generate_site(seed=seed, projects=4, issues=issues).to_json()
    return JiraSite.from_json(json.loads(json.dumps(_BASE[key])))


@pytest.fixture(params=["cloud", "datacenter"])
def deployment(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def emu(deployment: str) -> Iterator[JiraEmulator]:
    with JiraEmulator(fresh_site(), deployment=deployment) as e:
        yield e


def config(emu: JiraEmulator, name: str = "jira_main", **kw: Any) -> SourceConfig:
    auth: dict[str, Any] = {"email": DEFAULT_EMAIL} if emu.cloud else {}
    base: dict[str, Any] = {
        "name": name,
        "type": "jira",
        "url": emu.url,
        "token_env": "JIRA_TOKEN",
        "projects": tuple(p["key"] for p in emu.site.projects),
        "page_size": 50,
        **auth,
    }
    base.update(kw)
    return SourceConfig(**base)


def connector(emu: JiraEmulator, *, sleeps: list[float] | None = None, **kw: Any) -> JiraConnector:
    c = JiraConnector(config(emu, **kw), env=ENV)
    if sleeps is not None:
        # Record the waits the retry layer decides on; sleep only a token amount so storms
        # stay fast (the decision, not the wall clock, is what is under test).
        import time

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            time.sleep(min(seconds, 0.01))

        c.client.session.sleep = sleep
    return c


def expected(site: JiraSite, projects: set[str] | None = None) -> dict[str, Any]:
    issues = [i for i in site.issues if projects is None or i["project"] in projects]
    return {
        "items": {
            str(i["id"]): (i["key"], i["project"], str(i["parent"]) if i["parent"] else None)
            for i in issues
        },
        "changes": {
            f"{h['id']}:{n}" for i in issues for h in i["histories"] for n in range(len(h["items"]))
        },
        "worklogs": {str(w["id"]) for i in issues for w in i["worklogs"]},
        "links": {
            str(lk["id"]) for i in issues for lk in i["links"] if lk["direction"] == "outward"
        },
    }


def drain(c: JiraConnector, since: dt.datetime | None = None) -> dict[str, Any]:
    """The stream, checked for doubles within one run."""
    got: dict[str, Any] = {"items": {}, "changes": set(), "worklogs": set(), "links": set()}
    counts: Counter[str] = Counter()
    markers: list[Any] = []
    for obj in c.fetch_work_items(since):
        if isinstance(obj, WorkItem):
            counts[obj.external_id] += 1
            got["items"][obj.external_id] = (obj.key, obj.project_key, obj.parent_id)
        elif isinstance(obj, StatusChange):
            assert obj.external_id not in got["changes"], f"doubled change {obj.external_id}"
            got["changes"].add(obj.external_id)
        elif isinstance(obj, Worklog):
            assert obj.external_id not in got["worklogs"]
            got["worklogs"].add(obj.external_id)
        elif isinstance(obj, Link):
            assert obj.external_id not in got["links"]
            got["links"].add(obj.external_id)
        elif isinstance(obj, Skipped):
            raise AssertionError(f"unexpected skip: {obj.error}")
        else:
            markers.append(obj)
    assert not [k for k, n in counts.items() if n > 1], "an issue was yielded twice"
    got["markers"] = markers
    return got


def stored(engine: Engine, source: str = "jira_main") -> dict[str, Any]:
    with engine.connect() as conn:

        def live(table: Any) -> set[str]:
            # Children of a soft-deleted item stay as they were (history is never dropped);
            # compare only those of live items.
            item = work_items_t.c.id if table is not links_t else work_items_t.c.external_id
            parent = table.c.work_item_id if table is not links_t else table.c.from_external_id
            return set(
                conn.execute(
                    select(table.c.external_id)
                    .join(work_items_t, (item == parent) & (work_items_t.c.source == source))
                    .where(
                        table.c.source == source,
                        table.c.deleted_at.is_(None),
                        work_items_t.c.deleted_at.is_(None),
                    )
                ).scalars()
            )

        rows = conn.execute(
            select(
                work_items_t.c.external_id,
                work_items_t.c.key,
                work_items_t.c.project_key,
                work_items_t.c.parent_external_id,
            ).where(work_items_t.c.source == source, work_items_t.c.deleted_at.is_(None))
        ).all()
        return {
            "items": {r.external_id: (r.key, r.project_key, r.parent_external_id) for r in rows},
            "changes": live(status_changes_t),
            "worklogs": live(worklogs_t),
            "links": live(links_t),
        }


def same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for part in ("items", "changes", "worklogs", "links"):
        missing = set(want[part]) - set(got[part])
        extra = set(got[part]) - set(want[part])
        assert not missing and not extra, (
            f"{part}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
        )
    assert got["items"] == want["items"]


def search_paths(emu: JiraEmulator) -> Counter[str]:
    return Counter(p for _m, p, _q in emu.requests if "/search" in p)


# --- the whole site -------------------------------------------------------------------


def test_full_stream_matches_site_and_never_uses_removed_search(emu: JiraEmulator) -> None:
    c = connector(emu)
    got = drain(c)
    same(got, expected(emu.site))
    assert isinstance(got["markers"][-1], Checkpoint)
    assert sum(isinstance(m, ChildrenComplete) for m in got["markers"]) == len(emu.site.issues)
    paths = search_paths(emu)
    if emu.cloud:
        assert set(paths) == {"/rest/api/3/search/jql"}, paths
    else:
        assert set(paths) == {"/rest/api/2/search"}, paths


def test_full_sync_into_store_then_idempotent(emu: JiraEmulator, sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    with connector(emu) as c:
        first = sync_source(engine, c, full=True)
    assert first.ok, first.error
    assert first.skipped == 0, first.problems
    same(stored(engine), expected(emu.site))
    with connector(emu) as c:
        again = sync_source(engine, c)
    assert again.ok and again.mode == "incremental"
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    # sprints (kanban boards answer 400 on /sprint: not an error) and versions
    from pmohub.aggregator.store.bulk import iterations_t, milestones_t

    with engine.connect() as conn:
        sprints = set(conn.execute(select(iterations_t.c.external_id)).scalars())
        versions = set(conn.execute(select(milestones_t.c.external_id)).scalars())
    assert sprints == {str(s["id"]) for s in emu.site.sprints}
    assert versions == {str(v["id"]) for v in emu.site.versions}


def test_full_sync_postgres(store_url: str) -> None:
    with JiraEmulator(fresh_site(), deployment="datacenter") as emu:
        engine = open_store(store_url)
        with connector(emu) as c:
            result = sync_source(engine, c, full=True)
        assert result.ok, result.error
        same(stored(engine), expected(emu.site))


def test_fresh_site_is_the_size_asked_for_whatever_came_first() -> None:
    """The shared site helper must not hand a small site to a caller asking for a big one:
    test_sync_gc (30 issues) running before this module left CRMA with 8 issues here."""
    small, big = fresh_site(issues=30), fresh_site()
    assert len(small.issues) == len(generate_site(seed=7, projects=4, issues=30).issues)
    assert len(big.issues) == len(generate_site(seed=7, projects=4, issues=400).issues)
    assert len(small.issues) < len(big.issues)


# --- pagination -----------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 49, 50, 51, 100])
def test_page_boundaries(emu: JiraEmulator, count: int) -> None:
    """Exactly 0, one item, one page minus/plus one, one and two whole pages (size 50)."""
    ids = sorted(i["id"] for i in emu.site.issues if i["project"] == "CRMA")
    assert len(ids) > 100
    upper = ids[count - 1] if count else ids[0] - 1
    c = connector(emu, options={"jql": f"project = CRMA AND id <= {upper}"})
    got = drain(c)
    want = {str(i) for i in ids[:count]}
    assert set(got["items"]) == want
    searches = sum(search_paths(emu).values())
    assert searches <= count // 50 + 1 + (1 if emu.cloud is False and count % 50 == 0 else 0)


def test_empty_project_and_census(emu: JiraEmulator) -> None:
    pmo = [i["key"] for i in emu.site.issues if i["project"] == "PMO"]
    for key in pmo:
        emu.delete_issue(key)
    c = connector(emu, projects=("PMO",))
    assert drain(c)["items"] == {}
    assert list(c.census("PMO")) == []
    crma = {str(i["id"]) for i in emu.site.issues if i["project"] == "CRMA"}
    census = list(c.census("CRMA"))
    assert len(census) == len(set(census)) and set(census) == crma


# --- history --------------------------------------------------------------------------


def test_truncated_changelog_is_completed(emu: JiraEmulator) -> None:
    emu.faults.truncate_changelogs = True
    emu.faults.embedded_changelog_limit = 1
    assert any(len(i["histories"]) > 1 for i in emu.site.issues)
    got = drain(connector(emu))
    same(got, expected(emu.site))
    if emu.cloud:
        assert any(p == "/rest/api/3/changelog/bulkfetch" for _m, p, _q in emu.requests)


def test_custom_field_ids_differ_per_site(deployment: str, sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    seen = []
    for n, seed in enumerate((7, 8)):
        site = fresh_site(seed)
        with JiraEmulator(site, deployment=deployment) as emu:
            c = connector(emu, name=f"j{n}")
            info = c.check()
            sp = info["custom_fields"]["story_points"]
            wanted = site.field_ids["story_point_estimate" if emu.cloud else "story_points"]
            assert sp == wanted
            seen.append(sp)
            assert sync_source(engine, c, full=True).ok
            with engine.connect() as conn:
                points = dict(
                    conn.execute(
                        select(work_items_t.c.external_id, work_items_t.c.story_points).where(
                            work_items_t.c.source == f"j{n}"
                        )
                    ).all()
                )
            assert points == {
                str(i["id"]): (None if i["story_points"] is None else float(i["story_points"]))
                for i in site.issues
            }
    assert seen[0] != seen[1]


def test_two_sites_on_one_host_port_synced_in_turn_in_one_process(
    deployment: str, sqlite_url: str
) -> None:
    """What a long-running ``pmohub worker`` does with two sites behind one host:port (two
    Jira instances under one reverse proxy): sync one, then the other, in one process. Each
    source must get its own site's issues and its own custom-field ids, so no cache in the
    connector or the HTTP layer may outlive a run keyed by scheme/host/port alone."""
    engine = open_store(sqlite_url)
    port = 0
    for n, seed in enumerate((7, 8)):
        site = fresh_site(seed, issues=30)
        with JiraEmulator(site, deployment=deployment, port=port) as emu:
            port = emu.port  # the second site is served on the first one's port
            assert sync_config(engine, config(emu, name=f"j{n}"), env=ENV, full=True).ok
        same(stored(engine, f"j{n}"), expected(site))
        with engine.connect() as conn:
            points = dict(
                conn.execute(
                    select(work_items_t.c.external_id, work_items_t.c.story_points).where(
                        work_items_t.c.source == f"j{n}"
                    )
                ).all()
            )
        assert points == {
            str(i["id"]): (None if i["story_points"] is None else float(i["story_points"]))
            for i in site.issues
        }


def test_config_fields_override_and_extra(emu: JiraEmulator) -> None:
    fid = emu.site.field_ids["risk_probability"]
    c = connector(emu, fields={"risk_probability": "Risk Probability"})
    assert c.check()["custom_fields"]["risk_probability"] == fid
    items = {o.external_id: o for o in c.fetch_work_items(None) if isinstance(o, WorkItem)}
    risks = [i for i in emu.site.issues if i["custom"].get("risk_probability") is not None]
    assert risks
    for r in risks:
        assert items[str(r["id"])].extra["risk_probability"] == r["custom"]["risk_probability"]


# --- moves, deletions, edits ----------------------------------------------------------


def test_moved_and_deleted_issues(emu: JiraEmulator, sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    with connector(emu) as c:
        assert sync_source(engine, c, full=True).ok
    crma = [i for i in emu.site.issues if i["project"] == "CRMA" and i["type"] != "Epic"]
    gone, moving = crma[3], crma[4]
    with engine.connect() as conn:
        row_before = conn.execute(
            select(work_items_t.c.id).where(work_items_t.c.external_id == str(moving["id"]))
        ).scalar_one()
    emu.delete_issue(gone["key"])
    moved = emu.move_issue(moving["key"], "OPS")
    with connector(emu) as c:
        result = sync_source(engine, c)
    assert result.ok, result.error
    assert result.deleted >= 1
    with engine.connect() as conn:
        row = conn.execute(
            select(
                work_items_t.c.id,
                work_items_t.c.key,
                work_items_t.c.project_key,
                work_items_t.c.deleted_at,
            ).where(work_items_t.c.external_id == str(moving["id"]))
        ).one()
        deleted_at = conn.execute(
            select(work_items_t.c.deleted_at).where(work_items_t.c.external_id == str(gone["id"]))
        ).scalar_one()
    assert row.id == row_before and row.key == moved["key"] and row.project_key == "OPS"
    assert row.deleted_at is None and deleted_at is not None
    want = expected(emu.site)
    got = stored(engine)
    # Links of other issues pointing at the deleted one are gone upstream, but the other
    # issue was not updated, so it is not re-read: those links may stay (pointing at a
    # soft-deleted item). Everything else must match exactly.
    got["links"] = {x for x in got["links"] if x in want["links"]}
    same(got, want)


def test_edit_landing_mid_sync_is_not_lost(emu: JiraEmulator, sqlite_url: str) -> None:
    """Edits hit issues behind and ahead of the paging position during a full sync; the
    follow-up incremental run picks up what the full run could not see."""
    engine = open_store(sqlite_url)
    issues = sorted(emu.site.issues, key=lambda i: i["id"])
    behind, ahead = issues[5], issues[-5]
    calls = {"n": 0}
    prefix = "/rest/api/3/search/jql" if emu.cloud else "/rest/api/2/search"

    def on_search(method: str, path: str, query: dict[str, str]) -> None:
        if "changelog" not in query.get("expand", ""):
            return
        calls["n"] += 1
        if calls["n"] == 3:
            emu.edit_issue(behind["key"], status="Blocked", summary="edited behind")
            emu.edit_issue(ahead["key"], status="Blocked", summary="edited ahead")
            emu.move_issue(issues[-3]["key"], "PMO")
            emu.delete_issue(issues[-2]["key"])

    emu.faults.on_request(prefix, on_search)
    with connector(emu) as c:
        first = sync_source(engine, c, full=True)
    assert first.ok, first.error
    assert calls["n"] > 3
    emu.faults.clear()
    with connector(emu) as c:
        second = sync_source(engine, c)
    assert second.ok and second.mode == "incremental"
    want = expected(emu.site)
    got = stored(engine)
    got["links"] = {x for x in got["links"] if x in want["links"]}
    same(got, want)
    with engine.connect() as conn:
        titles = dict(
            conn.execute(
                select(work_items_t.c.external_id, work_items_t.c.title).where(
                    work_items_t.c.external_id.in_([str(behind["id"]), str(ahead["id"])])
                )
            ).all()
        )
    assert titles == {str(behind["id"]): "edited behind", str(ahead["id"]): "edited ahead"}


# --- rate limits and outages ----------------------------------------------------------


def test_429_storm_all_data_arrives_waits_honoured(emu: JiraEmulator) -> None:
    sleeps: list[float] = []
    c = connector(emu, sleeps=sleeps)
    c.check()
    emu.faults.rate_limit(times=5, retry_after="2")
    got = drain(c)
    same(got, expected(emu.site))
    assert sleeps == [2.0] * 5
    assert c.client.session.retries_done == 5


def test_429_storm_is_bounded(emu: JiraEmulator, sqlite_url: str) -> None:
    sleeps: list[float] = []
    c = connector(emu, sleeps=sleeps, options={"max_retries": 3})
    c.check()
    emu.faults.rate_limit(times=50, retry_after="1")
    with pytest.raises(TransientError) as err:
        drain(c)
    assert "[jira_main]" in str(err.value) and "429" in str(err.value)
    assert len(sleeps) == 3
    emu.faults.clear()
    engine = open_store(sqlite_url)
    emu.faults.rate_limit(times=50, retry_after="1")
    result = sync_source(engine, connector(emu, sleeps=[], options={"max_retries": 2}))
    assert result.status == "failed" and "429" in (result.error or "")
    with engine.connect() as conn:
        assert conn.execute(select(SyncState.cursor)).scalar_one_or_none() is None


@pytest.mark.parametrize("retry_after", ["3", None, "date"])
def test_503_with_and_without_retry_after(emu: JiraEmulator, retry_after: str | None) -> None:
    sleeps: list[float] = []
    c = connector(emu, sleeps=sleeps)
    c.check()
    header = retry_after
    if retry_after == "date":
        from email.utils import format_datetime

        header = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    emu.faults.unavailable(times=2, retry_after=header)
    emu.faults.drop_connection(times=1)
    same(drain(c), expected(emu.site))
    assert len(sleeps) == 3
    if retry_after == "3":
        assert sleeps[:2] == [3.0, 3.0]
    elif retry_after == "date":
        assert all(25 <= s <= 31 for s in sleeps[:2])
    else:
        assert all(0 <= s <= c.client.session.max_wait_s for s in sleeps)


# --- time zones and the cursor --------------------------------------------------------


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "America/Los_Angeles"])
def test_user_time_zone_far_from_utc(deployment: str, zone: str, sqlite_url: str) -> None:
    """An issue updated minutes before the cursor is picked up through the lookback, with
    JQL dates written in the user's zone (UTC literals would be read 8 or 13 hours off)."""
    engine = open_store(sqlite_url)
    with JiraEmulator(fresh_site(), deployment=deployment, user_time_zone=zone) as emu:
        with connector(emu) as c:
            assert sync_source(engine, c, full=True).ok
        target = sorted(emu.site.issues, key=lambda i: i["id"])[20]
        emu.edit_issue(target["key"], summary="late edit")
        updated = dt.datetime.fromtimestamp(target["updated"] / 1000, dt.UTC)
        # Pretend the cursor was saved 2 minutes after the edit (the edit reached the
        # search index late); a 5-minute lookback must still catch it.
        with engine.begin() as conn:
            conn.execute(
                update(SyncState).values(cursor=(updated + dt.timedelta(minutes=2)).isoformat())
            )
        with connector(emu) as c:
            result = sync_source(engine, c, lookback=dt.timedelta(minutes=5))
        assert result.ok and result.mode == "incremental"
        with engine.connect() as conn:
            title = conn.execute(
                select(work_items_t.c.title).where(work_items_t.c.external_id == str(target["id"]))
            ).scalar_one()
        assert title == "late edit"
        assert 1 <= result.fetched < len(emu.site.issues) / 2
        same(stored(engine), expected(emu.site))


# --- configuration errors -------------------------------------------------------------


def test_401_names_source_url_and_token_env(emu: JiraEmulator, sqlite_url: str) -> None:
    c = JiraConnector(config(emu), env={"JIRA_TOKEN": "wrong-token"})
    with pytest.raises(ConfigError) as err:
        c.check()
    text = str(err.value)
    assert "[jira_main]" in text and "JIRA_TOKEN" in text and emu.url in text
    assert "wrong-token" not in text
    if emu.cloud:
        assert DEFAULT_EMAIL in text
    result = sync_source(
        open_store(sqlite_url), JiraConnector(config(emu), env={"JIRA_TOKEN": "x"})
    )
    assert result.status == "failed" and "JIRA_TOKEN" in (result.error or "")


def test_missing_token_variable(emu: JiraEmulator) -> None:
    with pytest.raises(ConfigError, match="JIRA_TOKEN"):
        JiraConnector(config(emu), env={}).check()


def test_dc_basic_auth_with_username() -> None:
    with JiraEmulator(fresh_site(), deployment="datacenter") as emu:
        c = JiraConnector(config(emu, username=DEFAULT_USERNAME), env=ENV)
        assert c.check()["auth"] == "basic"


def test_bad_jql_is_config_error_with_jiras_message(emu: JiraEmulator) -> None:
    c = connector(emu, options={"jql": "project = = CRMA"})
    with pytest.raises(ConfigError) as err:
        drain(c)
    assert "bad JQL" in str(err.value) and "[jira_main]" in str(err.value)


def test_unknown_project_is_config_error(emu: JiraEmulator) -> None:
    c = connector(emu, projects=("NOPE",))
    with pytest.raises(ConfigError) as err:
        list(c.fetch_projects())
    assert "NOPE" in str(err.value) or "projects" in str(err.value)


def test_check_reports_site_facts(emu: JiraEmulator) -> None:
    info = connector(emu).check()
    assert info["deployment"] == ("Cloud" if emu.cloud else "Data Center")
    assert info["time_zone"] == "Asia/Shanghai"
    assert info["projects_visible"] == [p["key"] for p in emu.site.projects]
    assert {"story_points", "sprint", "start_date"} <= set(info["custom_fields"])
    assert ("epic_link" in info["custom_fields"]) is (not emu.cloud)


def test_cloud_worklog_feed_option_delivers_every_worklog() -> None:
    """Opt-in Cloud mode: worklogs from /worklog/updated + /worklog/list; ChildrenComplete
    then leaves worklogs out of its kinds (the feed only has those changed since)."""
    with JiraEmulator(fresh_site(), deployment="cloud") as emu:
        projects = ("CRMA", "PAY")
        got = drain(connector(emu, projects=projects, options={"worklog_feed": True}))
        want = expected(emu.site, set(projects))
        assert got["worklogs"] == want["worklogs"]
        assert got["items"] == want["items"]
        done = [m for m in got["markers"] if isinstance(m, ChildrenComplete)]
        assert done and all("worklogs" not in m.kinds for m in done)
        paths = {p for _m, p, _q in emu.requests}
        assert {"/rest/api/3/worklog/updated", "/rest/api/3/worklog/list"} <= paths
