"""The Jira emulator answers like Jira: every response is checked against Atlassian's OpenAPI
response schemas (../shared/specs), plus JQL, paging, faults, mutations and determinism.

Known, deliberate differences when Data Center (v2) payloads are validated against the Cloud v3
schemas (there is no DC spec): DC users carry `key`/`name` instead of `accountId` (both are in
the schema); rich text is a plain string in v2 (schema leaves it untyped); DC `serverInfo` has
`serverTimeZone` (in the schema). Timestamps use Jira's `+0800` offsets, which are not RFC 3339,
so `format` is not asserted (Jira's own responses would fail it too). The platform spec types
GET /issue/{key}/remotelink as one RemoteIssueLink, but Jira returns a list of them: each
element is validated. Agile sprint endpoints have only examples in the spec: their keys and
value types are checked against the example.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import date
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30ReadValidator

from pmohub.emulators.jira import (
    DEFAULT_EMAIL,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    JiraEmulator,
    generate_site,
    load_site,
)

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"
AUTH = (DEFAULT_EMAIL, DEFAULT_TOKEN)


def _load(name: str) -> dict[str, Any]:
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"OpenAPI spec {path} not found (expected ../shared/specs beside the repo)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def platform() -> dict[str, Any]:
    return _load("jira-platform-swagger-v3.v3.json")


@pytest.fixture(scope="module")
def software() -> dict[str, Any]:
    return _load("jira-software-swagger.v3.json")


def response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    op = spec["paths"][path][method]
    schema = op["responses"][status]["content"]["application/json"]["schema"]
    return schema


def validate(spec: dict[str, Any], schema: dict[str, Any], payload: Any) -> None:
    # "#/components/..." refs resolve against the root: carry the components along.
    root = dict(schema)
    root["components"] = spec["components"]
    errors = sorted(OAS30ReadValidator(root).iter_errors(payload), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])


def component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def validate_op(spec: dict[str, Any], path: str, method: str, payload: Any) -> None:
    validate(spec, response_schema(spec, path, method, "200"), payload)


def validate_issue_fields(spec: dict[str, Any], issue: dict[str, Any]) -> None:
    """IssueBean.fields is free-form in the spec; check the standard fields one by one."""
    f = issue["fields"]
    checks = {
        "status": "StatusDetails",
        "issuetype": "IssueTypeDetails",
        "priority": "Priority",
        "timetracking": "TimeTrackingDetails",
    }
    for name, schema in checks.items():
        if f.get(name) is not None:
            validate(spec, component(spec, schema), f[name])
    for name in ("assignee", "reporter", "creator"):
        if f.get(name) is not None:
            validate(spec, component(spec, "UserDetails"), f[name])
    if f.get("resolution"):
        validate(spec, component(spec, "Resolution"), f["resolution"])
    for v in f.get("fixVersions", []):
        validate(spec, component(spec, "Version"), v)
    # An embedded link names one side only; the IssueLink schema (of GET /issueLink/{id})
    # requires both, so its `required` list is dropped here.
    link_schema = {
        k: v for k, v in spec["components"]["schemas"]["IssueLink"].items() if k != "required"
    }
    for link in f.get("issuelinks", []):
        validate(spec, link_schema, link)
    if "parent" in f:
        validate(spec, component(spec, "LinkedIssue"), f["parent"])
    if "worklog" in f:
        validate(spec, component(spec, "PageOfWorklogs"), f["worklog"])
    if "comment" in f:
        validate(spec, component(spec, "PageOfComments"), f["comment"])


@pytest.fixture(scope="module")
def site_json() -> str:
    site = generate_site(seed=7, projects=4, issues=400)
    return json.dumps(site.to_json())


def fresh_site(site_json: str):
    from pmohub.emulators.jira.site import JiraSite

    return JiraSite.from_json(json.loads(site_json))


@pytest.fixture()
def cloud(site_json: str):
    with JiraEmulator(
        fresh_site(site_json), deployment="cloud", user_time_zone="Asia/Shanghai"
    ) as e:
        yield e


@pytest.fixture()
def dc(site_json: str):
    with JiraEmulator(fresh_site(site_json), deployment="datacenter") as e:
        yield e


def get(emu: JiraEmulator, path: str, **params: Any) -> requests.Response:
    return requests.get(emu.url + path, params=params, auth=AUTH, timeout=10)


def post(emu: JiraEmulator, path: str, body: Any) -> requests.Response:
    return requests.post(emu.url + path, json=body, auth=AUTH, timeout=10)


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response.json()


# ---------------------------------------------------------------------------------------------
# Schema conformance, every endpoint, both deployments


def test_platform_endpoints_match_spec_cloud_and_dc(cloud, dc, platform) -> None:
    for emu, v in ((cloud, "3"), (dc, "2")):
        spec_path = "/rest/api/3"
        base = f"/rest/api/{v}"
        validate_op(platform, f"{spec_path}/serverInfo", "get", ok(get(emu, f"{base}/serverInfo")))
        me = ok(get(emu, f"{base}/myself"))
        validate_op(platform, f"{spec_path}/myself", "get", me)
        assert me["timeZone"] == "Asia/Shanghai"
        validate_op(platform, f"{spec_path}/field", "get", ok(get(emu, f"{base}/field")))
        validate_op(platform, f"{spec_path}/project", "get", ok(get(emu, f"{base}/project")))
        validate_op(platform, f"{spec_path}/status", "get", ok(get(emu, f"{base}/status")))
        versions = ok(get(emu, f"{base}/project/CRMA/versions"))
        assert versions
        validate_op(platform, f"{spec_path}/project/{{projectIdOrKey}}/versions", "get", versions)
        validate_op(
            platform,
            f"{spec_path}/user/search",
            "get",
            ok(get(emu, f"{base}/user/search", query="a", username="a")),
        )
        busy = max(emu.site.issues, key=lambda i: (len(i["worklogs"]), len(i["comments"])))
        issue = ok(get(emu, f"{base}/issue/{busy['key']}", expand="changelog,renderedFields"))
        validate_op(platform, f"{spec_path}/issue/{{issueIdOrKey}}", "get", issue)
        validate_issue_fields(platform, issue)
        wl = ok(get(emu, f"{base}/issue/{busy['key']}/worklog"))
        assert wl["total"] == len(busy["worklogs"]) > 0
        validate_op(platform, f"{spec_path}/issue/{{issueIdOrKey}}/worklog", "get", wl)
        commented = next(i for i in emu.site.issues if i["comments"])
        comments = ok(get(emu, f"{base}/issue/{commented['key']}/comment", startAt=0))
        assert comments["total"] == len(commented["comments"])
        validate_op(platform, f"{spec_path}/issue/{{issueIdOrKey}}/comment", "get", comments)
        registry = next(i for i in emu.site.issues if i["remote_links"])
        links = ok(get(emu, f"{base}/issue/{registry['key']}/remotelink"))
        assert len(links) == len(registry["remote_links"])
        for link in links:
            validate_op(platform, f"{spec_path}/issue/{{issueIdOrKey}}/remotelink", "get", link)
        # Worklog feeds exist on both (DC since 7.x).
        updated = ok(get(emu, f"{base}/worklog/updated", since=0))
        validate_op(platform, f"{spec_path}/worklog/updated", "get", updated)
        ids = [v["worklogId"] for v in updated["values"][:50]]
        listed = ok(post(emu, f"{base}/worklog/list", {"ids": ids}))
        assert [int(w["id"]) for w in listed] == ids
        validate_op(platform, f"{spec_path}/worklog/list", "post", listed)
        validate_op(
            platform,
            f"{spec_path}/worklog/deleted",
            "get",
            ok(get(emu, f"{base}/worklog/deleted", since=0)),
        )


def test_cloud_only_endpoints_match_spec(cloud, platform) -> None:
    page = ok(get(cloud, "/rest/api/3/project/search", maxResults=2))
    validate_op(platform, "/rest/api/3/project/search", "get", page)
    assert page["total"] == 4 and page["isLast"] is False and "nextPage" in page
    validate_op(
        platform, "/rest/api/3/users/search", "get", ok(get(cloud, "/rest/api/3/users/search"))
    )
    for method in ("get", "post"):
        params = {
            "jql": "project = CRMA ORDER BY updated ASC, id ASC",
            "fields": "*all",
            "expand": "changelog",
            "maxResults": 5,
        }
        r = (
            get(cloud, "/rest/api/3/search/jql", **params)
            if method == "get"
            else post(cloud, "/rest/api/3/search/jql", {**params, "fields": ["*all"]})
        )
        body = ok(r)
        validate_op(platform, "/rest/api/3/search/jql", method, body)
        assert "total" not in body and body["isLast"] is False and body["nextPageToken"]
        for issue in body["issues"]:
            validate_issue_fields(platform, issue)
    key = cloud.site.issues[5]["key"]
    validate_op(
        platform,
        "/rest/api/3/issue/{issueIdOrKey}/changelog",
        "get",
        ok(get(cloud, f"/rest/api/3/issue/{key}/changelog")),
    )
    bulk = ok(
        post(
            cloud,
            "/rest/api/3/changelog/bulkfetch",
            {"issueIdsOrKeys": [i["key"] for i in cloud.site.issues[:20]]},
        )
    )
    validate_op(platform, "/rest/api/3/changelog/bulkfetch", "post", bulk)


def test_dc_search_matches_spec(dc, platform) -> None:
    body = ok(
        get(
            dc,
            "/rest/api/2/search",
            jql="project = PAY ORDER BY updated ASC",
            expand="changelog",
            maxResults=10,
        )
    )
    validate_op(platform, "/rest/api/3/search", "get", body)
    assert body["total"] == sum(1 for i in dc.site.issues if i["project"] == "PAY")
    for issue in body["issues"]:
        validate_issue_fields(platform, issue)
        # DC embeds the whole history, untruncated.
        full = dc.site.issue(issue["id"])["histories"]
        assert issue["changelog"]["total"] == len(issue["changelog"]["histories"]) == len(full)


def _check_example(example: dict[str, Any], payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        assert key in example, f"{key} not in Atlassian's example"
        if example[key] is not None and value is not None:
            assert type(value) is type(example[key]) or (
                isinstance(value, int) and isinstance(example[key], int)
            ), key


def test_agile_endpoints_match_spec(cloud, dc, software) -> None:
    for emu in (cloud, dc):
        boards = ok(get(emu, "/rest/agile/1.0/board"))
        validate_op(software, "/rest/agile/1.0/board", "get", boards)
        kinds = {b["type"] for b in boards["values"]}
        assert kinds == {"scrum", "kanban"}
        scrum = next(b for b in boards["values"] if b["type"] == "scrum")
        kanban = next(b for b in boards["values"] if b["type"] == "kanban")
        resp = get(emu, f"/rest/agile/1.0/board/{kanban['id']}/sprint")
        assert resp.status_code == 400
        assert resp.json()["errorMessages"] == ["The board does not support sprints"]
        op = software["paths"]["/rest/agile/1.0/board/{boardId}/sprint"]["get"]
        example = json.loads(op["responses"]["200"]["content"]["application/json"]["example"])
        sprints = ok(get(emu, f"/rest/agile/1.0/board/{scrum['id']}/sprint"))
        _check_example(example, sprints)
        states = [s["state"] for s in sprints["values"]]
        assert {"closed", "active", "future"} <= set(states)
        assert states == sorted(states, key=["closed", "active", "future"].index)
        for sprint in sprints["values"]:
            _check_example(example["values"][0], sprint)
        one = ok(get(emu, f"/rest/agile/1.0/sprint/{sprints['values'][0]['id']}"))
        _check_example(example["values"][0], one)
        op = software["paths"]["/rest/agile/1.0/board/{boardId}/version"]["get"]
        example = json.loads(op["responses"]["200"]["content"]["application/json"]["example"])
        versions = ok(get(emu, f"/rest/agile/1.0/board/{scrum['id']}/version"))
        assert versions["values"]
        for v in versions["values"]:
            _check_example(example["values"][0], v)


# ---------------------------------------------------------------------------------------------
# Deployment differences and payload details


def test_cloud_removed_search_410_and_dc_endpoints_absent_on_dc(cloud, dc) -> None:
    for path in ("/rest/api/2/search", "/rest/api/3/search"):
        for r in (
            get(cloud, path, jql="project = CRMA"),
            post(cloud, path, {"jql": "project = CRMA"}),
        ):
            assert r.status_code == 410
            assert r.json() == {
                "errorMessages": [
                    "The requested API has been removed. Please migrate to the "
                    "/rest/api/3/search/jql API. A full migration guideline is available at "
                    "https://developer.atlassian.com/changelog/#CHANGE-2046"
                ],
                "errors": {},
            }
    assert get(dc, "/rest/api/2/search/jql", jql="project = CRMA").status_code == 404
    assert get(dc, "/rest/api/3/myself").status_code == 404
    info = {e.deployment: ok(get(e, "/rest/api/2/serverInfo")) for e in (cloud, dc)}
    assert info["cloud"]["deploymentType"] == "Cloud"
    assert info["datacenter"]["deploymentType"] == "Server"


def test_payload_shapes_differ_like_real_sites(cloud, dc) -> None:
    story = next(
        i
        for i in cloud.site.issues
        if i["type"] == "Story" and i["parent"] and i["sprints"] and i["story_points"] is not None
    )
    c = ok(get(cloud, f"/rest/api/3/issue/{story['key']}"))
    d = ok(get(dc, f"/rest/api/2/issue/{story['key']}"))
    ids = cloud.site.field_ids
    # Cloud: parent for epic children; DC: Epic Link custom field instead.
    assert c["fields"]["parent"]["id"] == str(story["parent"])
    assert "parent" not in d["fields"]
    assert d["fields"][ids["epic_link"]] == cloud.site.by_id[story["parent"]]["key"]
    assert ids["epic_link"] not in c["fields"]
    # Story points: Cloud "Story point estimate", DC "Story Points".
    assert c["fields"][ids["story_point_estimate"]] == story["story_points"]
    assert d["fields"][ids["story_points"]] == story["story_points"]
    # Sprint: objects on Cloud, Sprint@...[...] strings on DC.
    assert isinstance(c["fields"][ids["sprint"]][0]["id"], int)
    assert d["fields"][ids["sprint"]][0].startswith(
        "com.atlassian.greenhopper.service.sprint.Sprint@"
    )
    assert f"id={story['sprints'][0]}," in d["fields"][ids["sprint"]][0]
    # Rich text: ADF on v3, string on v2.
    assert c["fields"]["description"]["type"] == "doc"
    assert isinstance(d["fields"]["description"], str)
    # Users: accountId on Cloud (email may be hidden), key/name on DC.
    hidden = next(u for u in cloud.site.users if not u["email_visible"])
    c_user = ok(get(cloud, "/rest/api/3/user/search", accountId=hidden["account_id"]))[0]
    assert "emailAddress" not in c_user and c_user["accountId"] == hidden["account_id"]
    d_user = ok(get(dc, "/rest/api/2/user/search", username=hidden["name"]))[0]
    assert d_user["emailAddress"] == hidden["email"] and d_user["key"] == hidden["key"]
    assert any(not u["active"] for u in cloud.site.users)
    # Timestamps: Jira format, user's zone, offset without colon.
    assert c["fields"]["created"].endswith("+0800")
    assert len(c["fields"]["created"]) == len("2026-11-20T10:05:03.123+0800")


def test_custom_field_ids_differ_per_site_and_are_discoverable() -> None:
    a = generate_site(seed=1, projects=3, issues=60)
    b = generate_site(seed=2, projects=3, issues=60)
    assert a.field_ids["story_points"] != b.field_ids["story_points"]
    with JiraEmulator(a, deployment="cloud") as emu:
        fields = ok(get(emu, "/rest/api/3/field"))
    by_custom = {f["schema"].get("custom"): f["id"] for f in fields if f["custom"]}
    assert by_custom["com.pyxis.greenhopper.jira:gh-sprint"] == a.field_ids["sprint"]
    names = {f["name"]: f for f in fields}
    for name in (
        "Risk Probability",
        "Risk Impact",
        "Risk Response",
        "Escalated to PMO",
        "CR Reason",
        "CR Impact Analysis",
        "CR Alternatives",
        "CCB Decision",
        "RAG",
        "Sub-plans",
        "Acceptance Criteria",
        "Start date",
        "Story point estimate",
    ):
        assert names[name]["custom"] is True


def test_generated_portfolio_is_realistic() -> None:
    site = generate_site(seed=7, projects=4, issues=400)
    types = {i["type"] for i in site.issues}
    assert {
        "Epic",
        "Story",
        "Task",
        "Sub-task",
        "Bug",
        "Risk",
        "Project",
        "Status Report",
        "Change Request",
        "Lessons Learned",
    } <= types
    assert [p["key"] for p in site.projects] == ["CRMA", "PAY", "OPS", "PMO"]
    registry = [i for i in site.issues if i["type"] == "Project"]
    assert len(registry) == 3 and all(i["project"] == "PMO" for i in registry)
    assert all(i["links"] for i in registry)
    summaries = {i["summary"] for i in site.issues}
    assert "<script>alert(1)</script>" in summaries
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in s) for s in summaries)
    zones = {u["time_zone"] for u in site.users}
    assert {"Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin"} <= zones
    assert {s["state"] for s in site.sprints} == {"closed", "active", "future"}
    overdue = [v for v in site.versions if not v["released"] and v["release_on"] < site.today]
    assert overdue
    reopened = [
        i
        for i in site.issues
        if sum(
            1
            for h in i["histories"]
            for it in h["items"]
            if it["field"] == "status" and it["from"] == "Done"
        )
    ]
    assert reopened
    assert any(
        it["field"] == "duedate" for i in site.issues for h in i["histories"] for it in h["items"]
    )


def test_generator_is_deterministic_and_dump_load_roundtrips(tmp_path) -> None:
    a = generate_site(
        seed=11, projects=5, issues=300, start_on=date(2026, 6, 1), today=date(2026, 11, 21)
    )
    b = generate_site(
        seed=11, projects=5, issues=300, start_on=date(2026, 6, 1), today=date(2026, 11, 21)
    )
    c = generate_site(seed=12, projects=5, issues=300)
    dumped = json.dumps(a.to_json(), sort_keys=True)
    assert dumped == json.dumps(b.to_json(), sort_keys=True)
    assert dumped != json.dumps(c.to_json(), sort_keys=True)
    path = a.dump(tmp_path / "site")
    assert json.dumps(load_site(path).to_json(), sort_keys=True) == dumped
    (tmp_path / "bad.json").write_text('{\n  "seed": 1,\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.json: line 3"):
        load_site(tmp_path / "bad.json")


# ---------------------------------------------------------------------------------------------
# JQL


def keys_of(emu: JiraEmulator, jql: str, **extra: Any) -> list[str]:
    out: list[str] = []
    token = None
    while True:
        params = {"jql": jql, "fields": "key", "maxResults": 50, **extra}
        if token:
            params["nextPageToken"] = token
        body = ok(get(emu, "/rest/api/3/search/jql", **params))
        out += [i["key"] for i in body["issues"]]
        token = body.get("nextPageToken")
        if not token:
            assert body["isLast"] is True
            return out


def test_jql_subset(cloud) -> None:
    site = cloud.site
    assert set(keys_of(cloud, "project in (CRMA, PAY)")) == {
        i["key"] for i in site.issues if i["project"] in ("CRMA", "PAY")
    }
    assert set(keys_of(cloud, 'project = "OPS" AND issuetype = Bug')) == {
        i["key"] for i in site.issues if i["project"] == "OPS" and i["type"] == "Bug"
    }
    picked = [i["key"] for i in site.issues[10:13]]
    assert sorted(keys_of(cloud, f"key in ({', '.join(picked)})")) == sorted(picked)
    ids = [str(i["id"]) for i in site.issues[20:23]]
    assert sorted(keys_of(cloud, f"id in ({','.join(ids)})")) == sorted(
        i["key"] for i in site.issues[20:23]
    )
    ordered = keys_of(cloud, "project = CRMA ORDER BY updated ASC, id ASC")
    expect = [
        i["key"]
        for i in sorted(
            (i for i in site.issues if i["project"] == "CRMA"),
            key=lambda i: (i["updated"], i["id"]),
        )
    ]
    assert ordered == expect
    by_id_desc = keys_of(cloud, "project = PAY order by id desc")
    assert by_id_desc == [
        i["key"]
        for i in sorted((i for i in site.issues if i["project"] == "PAY"), key=lambda i: -i["id"])
    ]
    assert set(keys_of(cloud, 'project = CRMA AND (status = Done OR status = "In Review")')) == {
        i["key"]
        for i in site.issues
        if i["project"] == "CRMA" and i["status"] in ("Done", "In Review")
    }


def test_jql_updated_is_minute_precision_in_user_time_zone(site_json) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    site = fresh_site(site_json)
    target = sorted(site.issues, key=lambda i: i["updated"])[len(site.issues) // 2]
    for zone in ("Asia/Shanghai", "America/Los_Angeles"):
        with JiraEmulator(fresh_site(site_json), deployment="cloud", user_time_zone=zone) as emu:
            local = datetime.fromtimestamp(target["updated"] / 1000, ZoneInfo(zone))
            minute = local.strftime("%Y-%m-%d %H:%M")
            got = set(keys_of(emu, f'project in (CRMA, PAY, OPS, PMO) AND updated >= "{minute}"'))
            floor_ms = int(local.replace(second=0, microsecond=0).timestamp() * 1000)
            assert got == {i["key"] for i in site.issues if i["updated"] >= floor_ms}
            assert target["key"] in got
            # The payload is rendered in the same zone.
            body = ok(get(emu, f"/rest/api/3/issue/{target['key']}", fields="updated"))
            assert body["fields"]["updated"][:16] == local.strftime("%Y-%m-%dT%H:%M")
    # perceval's form: epoch milliseconds.
    with JiraEmulator(fresh_site(site_json), deployment="datacenter") as emu:
        body = ok(
            get(
                emu,
                "/rest/api/2/search",
                jql=f"project = CRMA AND updated > {target['updated'] - 1} order by updated asc",
                maxResults=0,
            )
        )
        assert body["total"] == sum(
            1
            for i in site.issues
            if i["project"] == "CRMA" and i["updated"] > target["updated"] - 1
        )


@pytest.mark.parametrize(
    "jql, message",
    [
        ("project = CRMA AND", "Expecting a field name but got 'EOF'"),
        ("projekt = CRMA", "Field 'projekt' does not exist"),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("project = CRMA AND issue in linkedIssues(PMO-1)", "Unable to find JQL function"),
        ('updated >= "yesterday"', "Date value 'yesterday' for field 'updated' is invalid"),
        ("project = CRMA ORDER BY summary", "Not able to sort using field 'summary'"),
        ("project = CRMA %", "reserved JQL character"),
        ("ORDER BY key DESC", "Unbounded JQL queries are not allowed"),
    ],
)
def test_jql_errors_are_400_with_jira_body(cloud, jql: str, message: str) -> None:
    r = get(cloud, "/rest/api/3/search/jql", jql=jql)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"errorMessages", "errors"}
    assert message in body["errorMessages"][0]


# ---------------------------------------------------------------------------------------------
# Paging


def test_search_jql_paging_complete_while_issues_change(cloud) -> None:
    jql = "project in (CRMA, PAY, OPS) ORDER BY updated ASC, id ASC"
    before = {i["key"] for i in cloud.site.issues if i["project"] != "PMO"}
    early = sorted(
        (i for i in cloud.site.issues if i["project"] != "PMO"),
        key=lambda i: (i["updated"], i["id"]),
    )[:5]
    calls = {"n": 0}

    def edit_after_page_two(method: str, path: str, query: dict[str, str]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # before serving page 3: edit issues already served
            for issue in early:
                cloud.edit_issue(issue["key"], summary=issue["summary"] + " (edited)")

    cloud.faults.on_request("/rest/api/3/search/jql", edit_after_page_two)
    served = keys_of(cloud, jql, maxResults=40)
    assert set(served) == before  # no gap
    counts = {k: served.count(k) for k in set(served)}
    edited = {i["key"] for i in early}
    assert all(n == 1 for k, n in counts.items() if k not in edited)  # no duplicates
    assert all(counts[k] == 2 for k in edited)  # edited ones are served again, at the end
    assert served[-len(edited) :] == [i["key"] for i in early]


def test_search_jql_page_size_caps_and_bad_token(cloud) -> None:
    heavy = ok(
        get(cloud, "/rest/api/3/search/jql", jql="project = CRMA", fields="*all", maxResults=1000)
    )
    assert len(heavy["issues"]) == cloud.page_size_cap
    light = ok(
        get(
            cloud,
            "/rest/api/3/search/jql",
            jql="project in (CRMA, PAY, OPS)",
            fields="id",
            maxResults=1000,
        )
    )
    assert len(light["issues"]) == sum(1 for i in cloud.site.issues if i["project"] != "PMO")
    assert set(light["issues"][0]) == {"id"}
    bad = get(cloud, "/rest/api/3/search/jql", jql="project = CRMA", nextPageToken="garbage")
    assert bad.status_code == 400


def test_id_bound_queries_match_a_plain_filter(dc) -> None:
    """``... AND id > N`` is answered from the cached result of the query without the
    bound (bisect when ordered by id, a filter otherwise): same answer as filtering."""
    site = dc.site
    pay = [i for i in site.issues if i["project"] == "PAY"]
    mid = sorted(i["id"] for i in pay)[len(pay) // 2]

    def keys(jql: str) -> list[str]:
        body = ok(get(dc, "/rest/api/2/search", jql=jql, maxResults=1000, fields="summary"))
        return [i["key"] for i in body["issues"]]

    for op, keep in ((">", lambda i: i["id"] > mid), (">=", lambda i: i["id"] >= mid)):
        by_id = sorted((i for i in pay if keep(i)), key=lambda i: i["id"])
        assert keys(f"project = PAY AND id {op} {mid} ORDER BY id ASC") == [i["key"] for i in by_id]
        assert keys(f"id {op} {mid} AND project = PAY ORDER BY id ASC") == [i["key"] for i in by_id]
        by_updated = sorted(by_id, key=lambda i: (i["updated"], i["id"]))
        assert keys(f"project = PAY AND id {op} {mid} ORDER BY updated ASC") == [
            i["key"] for i in by_updated
        ]
    # an edit lands between pages: the next page sees it (caches follow mutations)
    later = max(pay, key=lambda i: i["id"])
    dc.edit_issue(later["key"], summary="moved on")
    body = ok(get(dc, "/rest/api/2/search", jql=f"project = PAY AND id > {mid}", fields="summary"))
    assert any(i["fields"]["summary"] == "moved on" for i in body["issues"])


def test_dc_offset_paging_total_and_cap(dc) -> None:
    crma = sum(1 for i in dc.site.issues if i["project"] == "CRMA")
    seen: list[str] = []
    start = 0
    while True:
        body = ok(
            get(
                dc,
                "/rest/api/2/search",
                jql="project = CRMA ORDER BY key ASC",
                startAt=start,
                maxResults=1000,
                fields="summary",
            )
        )
        assert body["total"] == crma and body["maxResults"] == dc.page_size_cap
        seen += [i["key"] for i in body["issues"]]
        start += body["maxResults"]
        if start >= body["total"]:
            break
    assert len(seen) == len(set(seen)) == crma


# ---------------------------------------------------------------------------------------------
# Changelogs and worklogs


def test_changelog_truncated_in_cloud_search_and_complete_elsewhere(cloud) -> None:
    cloud.faults.truncate_changelogs = True
    limit = cloud.faults.embedded_changelog_limit
    body = ok(
        get(
            cloud,
            "/rest/api/3/search/jql",
            jql="project = CRMA ORDER BY id ASC",
            fields="summary",
            expand="changelog",
            maxResults=50,
        )
    )
    long = [i for i in body["issues"] if i["changelog"]["total"] > limit]
    assert long
    for issue in long:
        cl = issue["changelog"]
        assert cl["maxResults"] == len(cl["histories"]) == limit < cl["total"]
        full = cloud.site.issue(issue["id"])["histories"]
        assert [h["id"] for h in cl["histories"]] == [str(h["id"]) for h in full[-limit:]]
    target = long[0]
    paged: list[str] = []
    start = 0
    while True:
        page = ok(
            get(cloud, f"/rest/api/3/issue/{target['key']}/changelog", startAt=start, maxResults=2)
        )
        paged += [h["id"] for h in page["values"]]
        if page["isLast"]:
            break
        start += page["maxResults"]
    assert len(paged) == target["changelog"]["total"]
    keys = [i["key"] for i in body["issues"]]
    histories: dict[str, list[str]] = {}
    token = None
    while True:
        req: dict[str, Any] = {"issueIdsOrKeys": keys, "maxResults": 37}
        if token:
            req["nextPageToken"] = token
        page = ok(post(cloud, "/rest/api/3/changelog/bulkfetch", req))
        for log in page["issueChangeLogs"]:
            histories.setdefault(log["issueId"], []).extend(h["id"] for h in log["changeHistories"])
        token = page.get("nextPageToken")
        if not token:
            break
    for issue in body["issues"]:
        assert len(histories.get(issue["id"], [])) == issue["changelog"]["total"]
    assert histories[target["id"]] == paged


def test_worklog_feeds_updated_list_deleted(cloud) -> None:
    all_ids = set(cloud.site.worklogs_by_id)
    seen: list[int] = []
    url = cloud.url + "/rest/api/3/worklog/updated?since=0"
    import pmohub.emulators.jira.api_worklogs as worklogs_mod

    old_page = worklogs_mod.WORKLOG_PAGE
    worklogs_mod.WORKLOG_PAGE = 100  # several pages from a small site
    try:
        while True:
            body = requests.get(url, auth=AUTH, timeout=10).json()
            seen += [v["worklogId"] for v in body["values"]]
            if body["lastPage"]:
                break
            url = body["nextPage"]
    finally:
        worklogs_mod.WORKLOG_PAGE = old_page
    assert set(seen) == all_ids and len(seen) == len(all_ids)
    issue = next(i for i in cloud.site.issues if len(i["worklogs"]) >= 2)
    doomed = [w["id"] for w in issue["worklogs"]]
    before = cloud.now_ms()
    cloud.delete_issue(issue["key"])
    cloud.worklog_quiet_seconds = 0
    deleted = ok(get(cloud, "/rest/api/3/worklog/deleted", since=before))
    assert sorted(v["worklogId"] for v in deleted["values"]) == sorted(doomed)
    fresh = cloud.add_worklog(cloud.site.issues[0]["key"], 3600)
    cloud.worklog_quiet_seconds = 60
    recent = ok(get(cloud, "/rest/api/3/worklog/updated", since=before))
    assert fresh["id"] not in [v["worklogId"] for v in recent["values"]]  # quiet minute
    cloud.worklog_quiet_seconds = 0
    recent = ok(get(cloud, "/rest/api/3/worklog/updated", since=before))
    assert [v["worklogId"] for v in recent["values"]] == [fresh["id"]]


# ---------------------------------------------------------------------------------------------
# Mutations


def test_edit_delete_move(cloud, dc) -> None:
    for emu, v in ((cloud, "3"), (dc, "2")):
        issue = next(
            i for i in emu.site.issues if i["project"] == "CRMA" and i["status"] == "To Do"
        )
        old_updated = issue["updated"]
        emu.edit_issue(issue["key"], summary="新标题", status="In Progress")
        body = ok(get(emu, f"/rest/api/{v}/issue/{issue['key']}", expand="changelog"))
        assert body["fields"]["summary"] == "新标题"
        assert body["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
        assert issue["updated"] > old_updated
        last = body["changelog"]["histories"][-1]["items"]
        assert {"summary", "status"} <= {it["field"] for it in last}
        victim = emu.site.issues[3]["key"]
        emu.delete_issue(victim)
        assert get(emu, f"/rest/api/{v}/issue/{victim}").status_code == 404
        mover = next(i for i in emu.site.issues if i["project"] == "CRMA" and i["key"] != victim)
        old_key, same_id = mover["key"], mover["id"]
        emu.move_issue(old_key, "OPS")
        moved = ok(get(emu, f"/rest/api/{v}/issue/{old_key}"))
        assert moved["id"] == str(same_id) and moved["key"].startswith("OPS-")
        assert moved["fields"]["project"]["key"] == "OPS"
        if emu.cloud:
            found = keys_of(emu, "project = OPS")
            assert moved["key"] in found and old_key not in keys_of(emu, "project = CRMA")
            assert victim not in keys_of(emu, "project = CRMA")


# ---------------------------------------------------------------------------------------------
# Auth and visibility


def test_auth_and_hidden_projects(site_json) -> None:
    with JiraEmulator(fresh_site(site_json), deployment="cloud", hidden_projects=["PAY"]) as emu:
        r = requests.get(emu.url + "/rest/api/3/myself", auth=(DEFAULT_EMAIL, "wrong"), timeout=5)
        assert r.status_code == 401
        assert r.text == "Client must be authenticated to access this resource."
        assert requests.get(emu.url + "/rest/api/3/myself", timeout=5).status_code == 401
        assert (
            requests.get(
                emu.url + "/rest/api/3/myself",
                timeout=5,
                headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
            ).status_code
            == 401
        )
        keys = [p["key"] for p in ok(get(emu, "/rest/api/3/project"))]
        assert "PAY" not in keys and "CRMA" in keys
        assert get(emu, "/rest/api/3/project/PAY/versions").json() == {
            "errorMessages": ["No project could be found with key 'PAY'."],
            "errors": {},
        }
        pay_issue = next(i for i in emu.site.issues if i["project"] == "PAY")
        assert get(emu, f"/rest/api/3/issue/{pay_issue['key']}").status_code == 404
        r = get(emu, "/rest/api/3/search/jql", jql="project = PAY")
        assert r.status_code == 400
    with JiraEmulator(
        fresh_site(site_json), deployment="datacenter", auth={"token": "pat-123", "username": "svc"}
    ) as emu:
        me = emu.url + "/rest/api/2/myself"
        assert requests.get(me, headers={"Authorization": "Bearer pat-123"}, timeout=5).ok
        assert requests.get(me, auth=("svc", "pat-123"), timeout=5).ok
        bad = requests.get(me, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert bad.status_code == 401 and bad.json()["errorMessages"]
    assert DEFAULT_USERNAME


# ---------------------------------------------------------------------------------------------
# Faults


def test_faults_429_503_slow_drop(cloud) -> None:
    when = format_datetime(time_from_now(3), usegmt=True)
    cloud.faults.rate_limit(times=2, retry_after="1")
    cloud.faults.rate_limit(times=1, retry_after=when)
    cloud.faults.unavailable(times=1, retry_after=None)
    cloud.faults.unavailable(times=1, retry_after="2")
    seen = [get(cloud, "/rest/api/3/myself") for _ in range(6)]
    assert [r.status_code for r in seen] == [429, 429, 429, 503, 503, 200]
    assert seen[0].headers["Retry-After"] == "1"
    assert seen[2].headers["Retry-After"] == when
    assert "Retry-After" not in seen[3].headers
    assert seen[4].headers["Retry-After"] == "2"
    cloud.faults.slow(seconds=0.6, times=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(cloud.url + "/rest/api/3/myself", auth=AUTH, timeout=0.2)
    cloud.faults.drop_connection(times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(cloud.url + "/rest/api/3/myself", auth=AUTH, timeout=5)
    assert get(cloud, "/rest/api/3/myself").status_code == 200
    # path-scoped faults leave other endpoints alone
    cloud.faults.rate_limit(times=1, path_prefix="/rest/api/3/search/jql")
    assert get(cloud, "/rest/api/3/myself").status_code == 200
    assert get(cloud, "/rest/api/3/search/jql", jql="project = CRMA").status_code == 429
    methods = [m for m, p, q in cloud.requests if p == "/rest/api/3/myself"]
    assert len(methods) >= 9


def time_from_now(seconds: int):
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_keep_alive_and_concurrency(cloud) -> None:
    session = requests.Session()
    session.auth = AUTH
    for _ in range(5):
        assert session.get(cloud.url + "/rest/api/3/serverInfo", timeout=5).ok
    results: list[int] = []

    def worker() -> None:
        results.append(get(cloud, "/rest/api/3/myself").status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    # the socket stays usable for raw HTTP/1.1 clients too
    with socket.create_connection(("127.0.0.1", cloud.port), timeout=5) as sock:
        sock.sendall(b"GET /rest/api/3/serverInfo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(12).startswith(b"HTTP/1.1 401")
    time.sleep(0)
