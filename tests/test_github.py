"""GitHub Issues: the emulator's answers against GitHub's OpenAPI description (Octokit's
build of it, see ../shared/specs/SOURCES.md), and the connector against the emulator on
127.0.0.1, alone and through the sync engine into real SQLite and PostgreSQL stores."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30ReadValidator
from sqlalchemy import func, select
from trackerkit import live_item_ids, load_spec, record_sleeps, source_config

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import status_changes_t, work_items_t
from pmohub.connectors import registry
from pmohub.connectors.base import ChildrenComplete, SourceConfig
from pmohub.connectors.errors import ConfigError, TransientError
from pmohub.connectors.github import GitHubConnector
from pmohub.connectors.records import StatusChange, WorkItem
from pmohub.emulators.github import DEFAULT_TOKEN, GitHubEmulator, generate_site

SPEC = "github-api.github.com.octokit-23.0.2.json"
ENV = {"GH_TOKEN": DEFAULT_TOKEN}
HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec(SPEC)


@pytest.fixture
def emu() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(generate_site(seed=11, repos=2, issues=40)) as e:
        yield e


def validate(spec: dict[str, Any], path: str, payload: Any, status: str = "200") -> None:
    op = spec["paths"][path]["get"]
    response = op["responses"][status]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = dict(response["content"]["application/json"]["schema"])
    schema["components"] = spec["components"]
    # OpenAPI 3.0 quirk: a `nullable: true` property with an `enum` lacking null (issue
    # `state_reason`) rejects the null GitHub really sends; those errors are not ours.
    errors = [
        e
        for e in OAS30ReadValidator(schema).iter_errors(payload)
        if not (e.validator == "enum" and e.instance is None)
    ]
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])


def config(emu: GitHubEmulator, **kw: Any) -> SourceConfig:
    base: dict[str, Any] = {
        "name": "gh",
        "type": "github",
        "url": emu.url,
        "token_env": "GH_TOKEN",
        "projects": tuple(f"acme/{r['name']}" for r in emu.site.repos),
        "page_size": 10,
    }
    return source_config(base, **kw)


def connector(emu: GitHubEmulator, sleeps: list[float] | None = None, **kw: Any) -> GitHubConnector:
    c = GitHubConnector(config(emu, **kw), env=ENV)
    return c if sleeps is None else record_sleeps(c, sleeps)


def expected_ids(emu: GitHubEmulator, since: dt.datetime | None = None) -> set[str]:
    return {
        str(i["id"])
        for i in emu.site.issues
        if not i["pull_request"] and (since is None or i["updated_at"] >= since)
    }


def items(stream: Any) -> list[WorkItem]:
    return [r for r in stream if isinstance(r, WorkItem)]


# --------------------------------------------------------------------------- emulator


def test_emulator_answers_match_the_openapi_description(emu: GitHubEmulator, spec: dict) -> None:
    get = lambda p, **q: requests.get(emu.url + p, params=q, headers=HEADERS, timeout=5)  # noqa: E731
    validate(spec, "/user", get("/user").json())
    validate(spec, "/users/{username}", get("/users/zhang-wei").json())
    validate(spec, "/repos/{owner}/{repo}", get("/repos/acme/web-portal").json())
    validate(
        spec, "/repos/{owner}/{repo}/assignees", get("/repos/acme/web-portal/assignees").json()
    )
    validate(
        spec,
        "/repos/{owner}/{repo}/milestones",
        get("/repos/acme/web-portal/milestones", state="all").json(),
    )
    issues = get("/repos/acme/web-portal/issues", state="all", per_page=100).json()
    assert any("pull_request" in i for i in issues) and any(
        i.get("parent_issue_url") for i in issues
    )
    assert any(i.get("type") for i in issues)  # organisation issue types, validated too
    validate(spec, "/repos/{owner}/{repo}/issues", issues)
    validate(
        spec,
        "/repos/{owner}/{repo}/issues/{issue_number}",
        get("/repos/acme/web-portal/issues/3").json(),
    )
    for n in (1, 2, 3, 4, 5):
        timeline = get(f"/repos/acme/web-portal/issues/{n}/timeline").json()
        validate(spec, "/repos/{owner}/{repo}/issues/{issue_number}/timeline", timeline)
    err = requests.get(emu.url + "/user", timeout=5)
    assert err.status_code == 401 and err.json()["message"] == "Bad credentials"
    validate(spec, "/repos/{owner}/{repo}", get("/repos/acme/nope").json(), "404")


def test_emulator_pages_with_link_and_filters_since(emu: GitHubEmulator) -> None:
    r = requests.get(
        emu.url + "/repos/acme/web-portal/issues",
        params={"state": "all", "per_page": 7, "sort": "updated", "direction": "asc"},
        headers=HEADERS,
        timeout=5,
    )
    assert len(r.json()) == 7 and 'rel="next"' in r.headers["Link"]
    assert r.headers["x-ratelimit-remaining"]
    cut = sorted(i["updated_at"] for i in emu.site.issues if i["repo"] == "web-portal")[20]
    r = requests.get(
        emu.url + "/repos/acme/web-portal/issues",
        params={"state": "all", "per_page": 100, "since": cut.strftime("%Y-%m-%dT%H:%M:%SZ")},
        headers=HEADERS,
        timeout=5,
    )
    assert len(r.json()) == sum(
        1 for i in emu.site.issues if i["repo"] == "web-portal" and i["updated_at"] >= cut
    )


# --------------------------------------------------------------------------- connector


def test_full_fetch_excludes_pull_requests_and_maps_labels(emu: GitHubEmulator) -> None:
    with connector(emu) as c:
        stream = list(c.fetch_work_items(None))
    got = items(stream)
    assert {w.external_id for w in got} == expected_ids(emu)
    assert len(got) == len({w.external_id for w in got})
    assert any(i["pull_request"] for i in emu.site.issues)
    by_id = {str(i["id"]): i for i in emu.site.issues}
    for w in got:
        issue = by_id[w.external_id]
        status_labels = [lab for lab in issue["labels"] if lab.startswith("status:")]
        if issue["state"] == "closed":
            expected = "not planned" if issue["state_reason"] == "not_planned" else "closed"
        else:
            expected = status_labels[-1].split(":", 1)[1] if status_labels else "open"
        assert w.status == expected
        assert w.status_category == {
            "closed": "done",
            "not planned": "cancelled",
            "todo": "todo",
            "open": "todo",
        }.get(expected, "in_progress")
        type_label = next(lab for lab in issue["labels"] if lab.startswith("type:"))
        # the organisation's issue type wins over a type: label
        assert w.type == (issue["issue_type"] or type_label.split(":", 1)[1])
        if issue["parent"] is not None:
            parent = emu.site.issue(issue["repo"], issue["parent"])
            assert w.parent_id == str(parent["id"])
        if issue["milestone"] is not None:
            assert len(w.milestone_ids) == 1
    # history: replaying the status changes ends at the item's current status
    changes = [r for r in stream if isinstance(r, StatusChange) and r.field == "status"]
    last: dict[str, StatusChange] = {}
    for ch in changes:
        last[ch.work_item_id] = ch
    for w in got:
        if w.external_id in last:
            assert last[w.external_id].to_value == w.status
    assert all(ch.from_value != ch.to_value for ch in changes)
    assert len({ch.external_id for ch in changes}) == len(changes)
    # every item's children are declared complete
    complete = {r.work_item_id for r in stream if isinstance(r, ChildrenComplete)}
    assert complete == expected_ids(emu)


def test_status_map_overrides_label_categories(emu: GitHubEmulator) -> None:
    with connector(emu, status_map={"status:blocked": "todo", "review": "done"}) as c:
        got = items(c.fetch_work_items(None))
    cats = {w.status: w.status_category for w in got}
    assert cats.get("blocked", "todo") == "todo" and cats.get("review", "done") == "done"


def test_incremental_since_and_key_set_paging(emu: GitHubEmulator) -> None:
    cut = sorted(i["updated_at"] for i in emu.site.issues)[len(emu.site.issues) // 2]
    with connector(emu, page_size=5) as c:
        got = items(c.fetch_work_items(cut))
    assert {w.external_id for w in got} == expected_ids(emu, cut)
    sinces = [q.get("since", [None])[0] for m, p, q in emu.requests if p.endswith("/issues")]
    assert len(set(sinces)) > 3, "each page asks from the last updated_at read"
    issue = next(i for i in emu.site.issues if not i["pull_request"] and i["state"] == "open")
    emu.set_status(issue["repo"], issue["number"], "closed")
    with connector(emu) as c:
        stream = list(c.fetch_work_items(issue["updated_at"]))
    got = items(stream)
    assert [w.external_id for w in got] == [str(issue["id"])]
    assert got[0].status == "closed" and got[0].status_category == "done"
    last = [r for r in stream if isinstance(r, StatusChange) and r.field == "status"][-1]
    assert last.to_value == "closed" and last.changed_at == issue["updated_at"]


@pytest.mark.parametrize("inclusive", [True, False])
def test_issues_crowding_one_second_are_all_read(emu: GitHubEmulator, inclusive: bool) -> None:
    """More issues than a page in one second, and ``since`` read as inclusive or strict."""
    emu.since_inclusive = inclusive
    instant = max(i["updated_at"] for i in emu.site.issues) + dt.timedelta(seconds=5)
    for i in [i for i in emu.site.issues if i["repo"] == "web-portal"][:13]:
        i["updated_at"] = instant
    with connector(emu, page_size=4, history=False) as c:
        got = items(c.fetch_work_items(None))
    assert {w.external_id for w in got} == expected_ids(emu)
    assert len(got) == len(expected_ids(emu))


def test_edits_during_the_run_lose_nothing(emu: GitHubEmulator) -> None:
    """An issue edited after the first page jumps to the end of the offset listing, which
    would shift an unread issue back onto the page already read; key-set paging does not."""
    calls = {"n": 0}
    first_page = sorted(
        (i for i in emu.site.issues if i["repo"] == "web-portal"),
        key=lambda i: (i["updated_at"], i["id"]),
    )[:3]

    def edit(method: str, path: str, query: dict[str, str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            for i in first_page:
                emu.edit_title("web-portal", i["number"], i["title"] + " (edited)")

    emu.faults.on_request("/repos/acme/web-portal/issues", edit)
    with connector(emu, page_size=10, history=False) as c:
        got = items(c.fetch_work_items(None))
    assert calls["n"] > 2, "the edit happened mid-run"
    assert {w.external_id for w in got} == expected_ids(emu)


@pytest.mark.parametrize("style", ["primary", "secondary", "429"])
def test_rate_limits_are_waited_out(emu: GitHubEmulator, style: str) -> None:
    emu.rate_limit_style = style
    emu.faults.rate_limit(times=2, retry_after="3", path_prefix="/repos/acme/web-portal/issues")
    sleeps: list[float] = []
    with connector(emu, sleeps=sleeps, history=False) as c:
        got = items(c.fetch_work_items(None))
    assert {w.external_id for w in got} == expected_ids(emu)
    assert len(sleeps) == 2
    if style == "primary":
        assert all(0 < s <= 3 for s in sleeps)  # until x-ratelimit-reset (1 s ahead) + 1 s
    else:
        assert sleeps == [3.0, 3.0]


def test_rate_limit_that_never_ends_is_a_transient_error(emu: GitHubEmulator) -> None:
    emu.faults.rate_limit(times=50, path_prefix="/repos")
    with connector(emu, sleeps=[], max_retries=2) as c, pytest.raises(TransientError, match="gh"):
        list(c.fetch_projects())


def test_auth_errors_name_the_source_and_token_env(emu: GitHubEmulator) -> None:
    c = GitHubConnector(config(emu), env={"GH_TOKEN": "wrong-token"})
    with pytest.raises(ConfigError) as err:
        c.check()
    assert "[gh]" in str(err.value) and "GH_TOKEN" in str(err.value)
    assert "wrong-token" not in str(err.value)
    with pytest.raises(ConfigError, match="GH_TOKEN"):
        GitHubConnector(config(emu), env={}).check()
    with pytest.raises(ConfigError, match="owner/repo"):
        GitHubConnector(config(emu, projects=("justrepo",)), env=ENV)
    with (
        connector(emu, projects=("acme/nope",)) as c2,
        pytest.raises(ConfigError, match="acme/nope"),
    ):
        list(c2.fetch_projects())


def test_people_milestones_check_and_census(emu: GitHubEmulator) -> None:
    with connector(emu) as c:
        people = list(c.fetch_people())
        assert {p.username for p in people} == {u["login"] for u in emu.site.users}
        by_login = {u["login"]: u for u in emu.site.users}
        assert all(p.email == by_login[p.username]["email"] for p in people)
        ms = list(c.fetch_milestones())
        assert {m.external_id for m in ms} == {str(m["id"]) for m in emu.site.milestones}
        assert any(m.released for m in ms) and any(not m.released for m in ms)
        facts = c.check()
        assert facts["projects_missing"] == [] and facts["user"] == "pmo-bot"
        assert facts["rate_limit_remaining"] == "4999"
        census = set(c.census("acme/web-portal"))
    assert census == {
        str(i["id"]) for i in emu.site.issues if i["repo"] == "web-portal" and not i["pull_request"]
    }


def test_registered_as_builtin() -> None:
    assert registry.get("github") is GitHubConnector


def test_sync_into_the_store_nothing_lost_or_doubled(emu: GitHubEmulator, store_url: str) -> None:
    engine = open_store(store_url)
    try:
        first = sync_source(engine, connector(emu))
        assert first.status == "ok", first.error
        stored = live_item_ids(engine, "gh")
        with engine.connect() as conn:
            changes = conn.execute(
                select(func.count())
                .select_from(status_changes_t)
                .where(status_changes_t.c.source == "gh")
            ).scalar_one()
        assert stored == expected_ids(emu)
        assert changes > len(stored)
        again = sync_source(engine, connector(emu))
        assert again.status == "ok" and again.inserted == 0 and again.updated == 0
        issue = next(i for i in emu.site.issues if not i["pull_request"])
        gone = next(i for i in emu.site.issues if not i["pull_request"] and i is not issue)
        emu.set_status(issue["repo"], issue["number"], "status:review")
        emu.delete_issue(gone["repo"], gone["number"])
        third = sync_source(engine, connector(emu))
        assert third.status == "ok" and third.mode == "incremental" and third.deleted == 1
        with engine.connect() as conn:
            row = conn.execute(
                select(work_items_t.c.status, work_items_t.c.deleted_at).where(
                    work_items_t.c.source == "gh", work_items_t.c.external_id == str(issue["id"])
                )
            ).one()
            deleted = conn.execute(
                select(work_items_t.c.deleted_at).where(
                    work_items_t.c.source == "gh", work_items_t.c.external_id == str(gone["id"])
                )
            ).scalar_one()
        assert row.status == "review" and row.deleted_at is None and deleted is not None
    finally:
        engine.dispose()
