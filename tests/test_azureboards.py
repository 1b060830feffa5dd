"""Azure Boards: the emulator's answers against Microsoft's Swagger 2.0 descriptions
(workItemTracking 7.1 and work 7.1; files start with a UTF-8 BOM), and the connector
against the emulator on 127.0.0.1, alone and through the sync engine.

Spec caveat: list operations are described as bare arrays, but Azure DevOps wraps lists in
``{"count": n, "value": [...]}``; the elements of ``value`` are validated. Field values are
typed ``object`` (.NET's "anything") and are loosened to any JSON value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests
from sqlalchemy import select
from trackerkit import live_item_ids, load_spec, record_sleeps, source_config, sync_twice

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import links_t, work_items_t
from pmohub.connectors import registry
from pmohub.connectors.azureboards import AzureBoardsConnector
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.records import Link, StatusChange, WorkItem
from pmohub.emulators.azure import DEFAULT_PAT, AzureBoardsEmulator, generate_site

ENV = {"AZDO_PAT": DEFAULT_PAT}
PROJECT = "Fabrikam Fiber"
AUTH = ("", DEFAULT_PAT)
V = {"api-version": "7.1"}


def _spec(name: str) -> dict[str, Any]:
    return load_spec(name, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def wit() -> dict[str, Any]:
    return _spec("azuredevops-workItemTracking-7.1.json")


@pytest.fixture(scope="module")
def work() -> dict[str, Any]:
    return _spec("azuredevops-work-7.1.json")


@pytest.fixture
def emu() -> Iterator[AzureBoardsEmulator]:
    with AzureBoardsEmulator(generate_site(seed=9, stories=25)) as e:
        yield e


def validate(spec: dict[str, Any], path: str, method: str, payload: Any) -> None:
    schema = spec["paths"][path][method]["responses"]["200"]["schema"]
    if schema.get("type") == "array":
        assert set(payload) == {"count", "value"} and payload["count"] == len(payload["value"])
        payload = payload["value"]
    root = _any_object({**schema, "definitions": spec["definitions"]})
    errors = list(jsonschema.Draft4Validator(root).iter_errors(payload))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5])


def _any_object(node: Any) -> Any:
    """A bare ``{"type": "object"}`` is .NET ``object`` (any JSON value: work item field
    values, update old/new values), not a JSON object: loosen it to ``{}``."""
    if isinstance(node, dict):
        if (
            node == {"type": "object"}
            or set(node) == {"type", "description"}
            and node["type"] == "object"
        ):
            return {}
        return {k: _any_object(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_object(v) for v in node]
    return node


def config(emu: AzureBoardsEmulator, **kw: Any) -> SourceConfig:
    base: dict[str, Any] = {
        "name": "azb",
        "type": "azureboards",
        "url": f"{emu.url}/contoso",
        "token_env": "AZDO_PAT",
        "projects": (PROJECT,),
    }
    return source_config(base, **kw)


def connector(
    emu: AzureBoardsEmulator, env: dict[str, str] | None = None, **kw: Any
) -> AzureBoardsConnector:
    return AzureBoardsConnector(config(emu, **kw), env=ENV if env is None else env)


def item_ids(emu: AzureBoardsEmulator) -> set[str]:
    return {str(i["id"]) for i in emu.site.items}


def test_emulator_answers_match_the_swagger(
    emu: AzureBoardsEmulator, wit: dict, work: dict
) -> None:
    base = f"{emu.url}/contoso/{PROJECT.replace(' ', '%20')}"
    query = {
        "query": "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project ORDER BY [System.ChangedDate] DESC"
    }
    r = requests.post(f"{base}/_apis/wit/wiql", params=V, json=query, auth=AUTH, timeout=5)
    validate(wit, "/{organization}/{project}/{team}/_apis/wit/wiql", "post", r.json())
    ids = [w["id"] for w in r.json()["workItems"]]
    assert sorted(ids) == sorted(i["id"] for i in emu.site.items)
    r = requests.post(
        f"{base}/_apis/wit/workitemsbatch",
        params=V,
        json={"ids": ids[:50], "$expand": "relations"},
        auth=AUTH,
        timeout=5,
    )
    validate(wit, "/{organization}/{project}/_apis/wit/workitemsbatch", "post", r.json())
    for wid in ids[:10]:
        r = requests.get(
            f"{base}/_apis/wit/workItems/{wid}/updates", params=V, auth=AUTH, timeout=5
        )
        validate(wit, "/{organization}/{project}/_apis/wit/workItems/{id}/updates", "get", r.json())
    r = requests.get(
        f"{base}/_apis/wit/workitemtypes/User%20Story/states", params=V, auth=AUTH, timeout=5
    )
    validate(
        wit, "/{organization}/{project}/_apis/wit/workitemtypes/{type}/states", "get", r.json()
    )
    r = requests.get(
        f"{base}/{PROJECT.replace(' ', '%20')}%20Team/_apis/work/teamsettings/iterations",
        params=V,
        auth=AUTH,
        timeout=5,
    )
    validate(
        work, "/{organization}/{project}/{team}/_apis/work/teamsettings/iterations", "get", r.json()
    )
    # Azure's own refusals
    assert requests.get(f"{emu.url}/contoso/_apis/projects", params=V, timeout=5).status_code == 203
    assert (
        requests.get(
            f"{emu.url}/contoso/_apis/projects", params=V, auth=("", "bad"), timeout=5
        ).status_code
        == 401
    )
    assert (
        requests.get(f"{emu.url}/contoso/_apis/projects", auth=AUTH, timeout=5).status_code == 400
    )
    too_many = requests.post(
        f"{base}/_apis/wit/workitemsbatch",
        params=V,
        json={"ids": list(range(1, 202))},
        auth=AUTH,
        timeout=5,
    )
    assert too_many.status_code == 400 and "200" in too_many.json()["message"]
    both = requests.post(
        f"{base}/_apis/wit/workitemsbatch",
        params=V,
        json={"ids": ids[:2], "fields": ["System.Title"], "$expand": "relations"},
        auth=AUTH,
        timeout=5,
    )
    assert both.status_code == 400
    timed = {
        "query": "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2026-01-01T10:00:00Z'"
    }
    assert (
        requests.post(
            f"{base}/_apis/wit/wiql", params=V, json=timed, auth=AUTH, timeout=5
        ).status_code
        == 400
    )
    precise = requests.post(
        f"{base}/_apis/wit/wiql",
        params={**V, "timePrecision": "true"},
        json=timed,
        auth=AUTH,
        timeout=5,
    )
    assert precise.status_code == 200


def test_full_fetch_states_estimates_links_and_history(emu: AzureBoardsEmulator) -> None:
    with connector(emu, status_map={"Resolved": "done"}) as c:
        stream = list(c.fetch_work_items(None))
        iterations = {i.external_id for i in c.fetch_iterations()}
    got = {w.external_id: w for w in stream if isinstance(w, WorkItem)}
    assert set(got) == item_ids(emu) and sum(isinstance(w, WorkItem) for w in stream) == len(got)
    expected = {
        "New": "todo",
        "Active": "in_progress",
        "Resolved": "done",
        "Closed": "done",
        "Removed": "cancelled",
    }
    for i in emu.site.items:
        w = got[str(i["id"])]
        assert w.status == i["state"] and w.status_category == expected[i["state"]]
        assert w.parent_id == (str(i["parent"]) if i["parent"] else None)
        assert w.story_points == i["story_points"]
        assert (w.original_estimate_h, w.remaining_estimate_h, w.time_spent_h) == (
            i["original"],
            i["remaining"],
            i["completed"],
        )
        assert w.components == (i["area"],)
        assert set(w.iteration_ids) <= iterations and bool(w.iteration_ids) == (
            i["iteration"] != PROJECT
        )
        # ClosedDate exists for Closed/Removed only ("Resolved" mapped to done has none)
        assert (w.resolved_at is not None) == (i["state"] in ("Closed", "Removed"))
    links = [r for r in stream if isinstance(r, Link)]
    truth = {(str(i["id"]), str(t)) for i in emu.site.items for _, t in i["related"]}
    assert {tuple(sorted((lk.from_id, lk.to_id), key=int)) for lk in links} == {
        tuple(sorted(p, key=int)) for p in truth
    }
    assert len(links) == len(truth)
    changes = [r for r in stream if isinstance(r, StatusChange) and r.field == "status"]
    moves = {
        (str(i["id"]), u["fields"]["System.State"][1])
        for i in emu.site.items
        for u in i["updates"][1:]
        if "System.State" in u["fields"]
    }
    assert {(ch.work_item_id, ch.to_value) for ch in changes} == moves
    assert len(changes) == sum(
        1 for i in emu.site.items for u in i["updates"][1:] if "System.State" in u["fields"]
    )
    # target-date slips arrive as Jira-named `duedate` changes (for due-date-move rules)
    slips = {
        (str(i["id"]), u["fields"]["Microsoft.VSTS.Scheduling.TargetDate"][1].date().isoformat())
        for i in emu.site.items
        for u in i["updates"][1:]
        if "Microsoft.VSTS.Scheduling.TargetDate" in u["fields"]
    }
    due = {
        (r.work_item_id, r.to_value)
        for r in stream
        if isinstance(r, StatusChange) and r.field == "duedate"
    }
    assert slips and due == slips
    for i in emu.site.items:
        assert got[str(i["id"])].due_on == (i["target"].date() if i["target"] else None)


def test_wiql_key_set_and_batches_of_200() -> None:
    with (
        AzureBoardsEmulator(generate_site(seed=4, stories=110)) as emu,
        connector(emu, wiql_top=70, history=False) as c,
    ):
        got = [w for w in c.fetch_work_items(None) if isinstance(w, WorkItem)]
        assert {w.external_id for w in got} == item_ids(emu) and len(item_ids(emu)) > 200
        wiqls = [p for m, p, q in emu.requests if p.endswith("/wiql")]
        batches = [p for m, p, q in emu.requests if p.endswith("/workitemsbatch")]
        assert len(wiqls) == len(item_ids(emu)) // 70 + 1 and len(batches) == len(wiqls)
        # a 20,000-item limit is Azure's: a tiny one shows the connector never trips it
        emu.wiql_limit = 80
        assert set(c.census(PROJECT)) == item_ids(emu)


def test_incremental_since_uses_time_precision(emu: AzureBoardsEmulator) -> None:
    target = next(i for i in emu.site.items if i["state"] == "Active" and i["type"] == "Task")
    emu.set_state(target["id"], "Closed", remaining=0.0, completed=target["original"])
    with connector(emu) as c:
        stream = list(c.fetch_work_items(target["changed"]))
    got = [w for w in stream if isinstance(w, WorkItem)]
    assert [w.external_id for w in got] == [str(target["id"])]
    assert got[0].status_category == "done" and got[0].remaining_estimate_h == 0.0
    last = [r for r in stream if isinstance(r, StatusChange) and r.field == "status"][-1]
    assert (last.from_value, last.to_value, last.changed_at) == (
        "Active",
        "Closed",
        target["changed"],
    )
    wiql = next(q for m, p, q in emu.requests if p.endswith("/wiql"))
    assert wiql["timePrecision"] == ["true"]


def test_rate_limit_retry_after(emu: AzureBoardsEmulator) -> None:
    emu.faults.rate_limit(times=2, retry_after="2", path_prefix="/contoso/Fabrikam")
    sleeps: list[float] = []
    with connector(emu, history=False) as c:
        record_sleeps(c, sleeps)
        got = {w.external_id for w in c.fetch_work_items(None) if isinstance(w, WorkItem)}
    assert sleeps == [2.0, 2.0] and got == item_ids(emu)


def test_auth_errors_name_source_and_token_env(emu: AzureBoardsEmulator) -> None:
    with pytest.raises(ConfigError) as err:
        connector(emu, env={"AZDO_PAT": "wrong-pat"}).check()
    assert (
        "[azb]" in str(err.value)
        and "AZDO_PAT" in str(err.value)
        and "wrong-pat" not in str(err.value)
    )
    with pytest.raises(ConfigError, match="AZDO_PAT"):
        connector(emu, env={}).check()
    with pytest.raises(ConfigError, match="authentication"):  # 203 sign-in page
        connector(emu, token_env=None).check()
    with pytest.raises(ConfigError, match="projects"), connector(emu, projects=("Nope",)) as c:
        list(c.fetch_projects())
    assert registry.get("azureboards") is AzureBoardsConnector


def test_people_with_emails(emu: AzureBoardsEmulator) -> None:
    with connector(emu) as c:
        people = list(c.fetch_people())
    assert {p.email for p in people} == {p["uniqueName"] for p in emu.site.people}


def test_sync_into_the_store_nothing_lost_or_doubled(
    emu: AzureBoardsEmulator, store_url: str
) -> None:
    engine = open_store(store_url)
    try:
        sync_twice(engine, lambda: connector(emu))
        gone = next(i for i in emu.site.items if i["type"] == "Bug")
        emu.delete(gone["id"])
        moved = next(i for i in emu.site.items if i["state"] == "New")
        emu.set_state(moved["id"], "Active")
        third = sync_source(engine, connector(emu))
        assert third.status == "ok" and third.deleted == 1 and third.mode == "incremental"
        live = live_item_ids(engine, "azb")
        with engine.connect() as conn:
            state = conn.execute(
                select(work_items_t.c.status).where(
                    work_items_t.c.source == "azb", work_items_t.c.external_id == str(moved["id"])
                )
            ).scalar_one()
            links = conn.execute(
                select(links_t.c.external_id).where(links_t.c.source == "azb")
            ).all()
        assert live == item_ids(emu) and state == "Active" and links
    finally:
        engine.dispose()


def test_area_paths_as_projects(emu: AzureBoardsEmulator, sqlite_url: str) -> None:
    web = f"{PROJECT}\\Web"
    with connector(emu, area_projects={web: "FAB-WEB"}) as c:
        keys = [p.key for p in c.fetch_projects()]
        got = [w for w in c.fetch_work_items(None) if isinstance(w, WorkItem)]
        census = {k: set(c.census(k)) for k in keys}
    assert keys == [PROJECT, "FAB-WEB"]
    by_area = {str(i["id"]): i["area"] for i in emu.site.items}
    for w in got:
        assert w.project_key == ("FAB-WEB" if by_area[w.external_id] == web else PROJECT)
        assert w.components == (by_area[w.external_id],)
    assert census["FAB-WEB"] == {i for i, a in by_area.items() if a == web} != set()
    assert census[PROJECT] == {i for i, a in by_area.items() if a != web}
    engine = open_store(sqlite_url)
    try:
        for _ in range(2):
            result = sync_source(engine, connector(emu, area_projects={web: "FAB-WEB"}))
            assert result.status == "ok" and result.deleted == 0
    finally:
        engine.dispose()
