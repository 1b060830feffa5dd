"""Pure Jira mapping on spec-shaped payloads (Cloud v3 and Data Center v2)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pmohub.connectors.errors import RecordError
from pmohub.connectors.jira import jql_since
from pmohub.connectors.jira.mapping import (
    MappingContext,
    discover_fields,
    parent_ref,
    parse_datetime,
    sprint_ids,
    to_iteration,
    to_links,
    to_milestone,
    to_person,
    to_status_changes,
    to_work_item,
    to_worklog,
)

CLOUD_FIELDS = [
    {
        "id": "summary",
        "name": "Summary",
        "custom": False,
        "schema": {"type": "string", "system": "summary"},
    },
    {
        "id": "fixVersions",
        "name": "Fix versions",
        "custom": False,
        "schema": {"type": "array", "items": "version", "system": "fixVersions"},
    },
    {
        "id": "customfield_10016",
        "name": "Story point estimate",
        "custom": True,
        "schema": {
            "type": "number",
            "custom": "com.pyxis.greenhopper.jira:jsw-story-points",
            "customId": 10016,
        },
    },
    {
        "id": "customfield_10020",
        "name": "Sprint",
        "custom": True,
        "schema": {
            "type": "array",
            "items": "json",
            "custom": "com.pyxis.greenhopper.jira:gh-sprint",
            "customId": 10020,
        },
    },
    {
        "id": "customfield_10015",
        "name": "Start date",
        "custom": True,
        "schema": {
            "type": "date",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
            "customId": 10015,
        },
    },
    {
        "id": "customfield_10021",
        "name": "Flagged",
        "custom": True,
        "schema": {
            "type": "array",
            "items": "option",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes",
            "customId": 10021,
        },
    },
    {
        "id": "customfield_10201",
        "name": "Risk Probability",
        "custom": True,
        "schema": {
            "type": "option",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
            "customId": 10201,
        },
    },
]
DC_FIELDS = [
    {
        "id": "customfield_10002",
        "name": "Story Points",
        "custom": True,
        "schema": {
            "type": "number",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
            "customId": 10002,
        },
    },
    {
        "id": "customfield_10005",
        "name": "Sprint",
        "custom": True,
        "schema": {
            "type": "array",
            "items": "string",
            "custom": "com.pyxis.greenhopper.jira:gh-sprint",
            "customId": 10005,
        },
    },
    {
        "id": "customfield_10006",
        "name": "Epic Link",
        "custom": True,
        "schema": {
            "type": "any",
            "custom": "com.pyxis.greenhopper.jira:gh-epic-link",
            "customId": 10006,
        },
    },
    {
        "id": "customfield_10300",
        "name": "Start Date",
        "custom": True,
        "schema": {
            "type": "date",
            "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
            "customId": 10300,
        },
    },
    {
        "id": "fixVersions",
        "name": "Fix Version/s",
        "custom": False,
        "schema": {"type": "array", "system": "fixVersions"},
    },
]


def cloud_ctx(**kw) -> MappingContext:
    return MappingContext(
        source="jc",
        base_url="https://x.atlassian.net",
        fields=discover_fields(CLOUD_FIELDS, {"risk_probability": "Risk Probability"}),
        field_ids_by_name={f["name"]: f["id"] for f in CLOUD_FIELDS},
        **kw,
    )


def dc_ctx(**kw) -> MappingContext:
    return MappingContext(
        source="jd",
        base_url="https://jira.example.cn",
        fields=discover_fields(DC_FIELDS),
        field_ids_by_name={f["name"]: f["id"] for f in DC_FIELDS},
        **kw,
    )


def cloud_issue(**fields) -> dict:
    base = {
        "summary": "登录页改版",
        "status": {"name": "In Progress", "id": "3", "statusCategory": {"key": "indeterminate"}},
        "issuetype": {"name": "Story", "subtask": False},
        "priority": {"name": "High"},
        "assignee": {
            "accountId": "5b10a2844c20165700ede21g",
            "displayName": "张伟",
            "timeZone": "Asia/Shanghai",
        },
        "reporter": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Li Na"},
        "project": {"id": "10000", "key": "CRMA"},
        "created": "2026-03-01T09:15:00.000+0800",
        "updated": "2026-03-05T01:02:03.456+0800",
        "resolutiondate": None,
        "resolution": None,
        "duedate": "2026-04-30",
        "labels": ["pmo"],
        "components": [{"id": "1", "name": "Web"}],
        "fixVersions": [{"id": "10100", "name": "R1"}],
        "timeoriginalestimate": 28800,
        "timeestimate": 14400,
        "timespent": 7200,
        "parent": {"id": "10042", "key": "CRMA-1", "fields": {"summary": "Epic"}},
        "customfield_10016": 5.0,
        "customfield_10020": [{"id": 7, "name": "Sprint 7", "state": "active", "boardId": 1}],
        "customfield_10015": "2026-03-02",
        "customfield_10021": [{"value": "Impediment", "id": "10019"}],
        "customfield_10201": {"self": "x", "value": "4", "id": "10300"},
        "issuelinks": [],
    }
    base.update(fields)
    return {"id": "10050", "key": "CRMA-7", "fields": base}


def test_cloud_issue_maps_every_field_with_dates_in_utc() -> None:
    item = to_work_item(cloud_issue(), cloud_ctx())
    assert item.external_id == "10050" and item.key == "CRMA-7" and item.project_key == "CRMA"
    assert item.updated_at == dt.datetime(2026, 3, 4, 17, 2, 3, 456000, tzinfo=dt.UTC)
    assert item.created_at == dt.datetime(2026, 3, 1, 1, 15, tzinfo=dt.UTC)
    assert item.status_category == "in_progress"
    assert item.assignee == "5b10a2844c20165700ede21g"
    assert item.parent_id == "10042"
    assert item.story_points == 5.0
    assert item.start_on == dt.date(2026, 3, 2) and item.due_on == dt.date(2026, 4, 30)
    assert (item.original_estimate_h, item.remaining_estimate_h, item.time_spent_h) == (8, 4, 2)
    assert item.milestone_ids == ("10100",) and item.iteration_ids == ("7",)
    assert item.components == ("Web",) and item.labels == ("pmo",)
    assert item.extra == {"flagged": ["Impediment"], "risk_probability": "4"}
    json.dumps(item.extra)  # stored as JSON
    assert item.url == "https://x.atlassian.net/browse/CRMA-7"


def test_status_category_from_jira_key_then_status_map_then_excluded_resolution() -> None:
    done = cloud_issue(
        status={"name": "Done", "statusCategory": {"key": "done"}},
        resolution={"name": "Won't Do"},
        resolutiondate="2026-03-06T10:00:00.000+0000",
    )
    assert to_work_item(done, cloud_ctx()).status_category == "done"
    ctx = cloud_ctx(excluded_resolutions=frozenset({"Won't Do"}))
    assert to_work_item(done, ctx).status_category == "cancelled"
    todo = cloud_issue(status={"name": "待验收", "statusCategory": {"key": "new"}})
    assert to_work_item(todo, cloud_ctx()).status_category == "todo"
    mapped = to_work_item(todo, cloud_ctx(status_map={"待验收": "review"}))
    assert mapped.status_category == "in_progress" and mapped.status == "待验收"


def test_dc_issue_epic_link_key_and_string_sprints() -> None:
    ctx = dc_ctx()
    assert ctx.fields["epic_link"] == "customfield_10006"
    assert ctx.fields["story_points"] == "customfield_10002"
    assert ctx.fields["start_date"] == "customfield_10300"
    issue = {
        "id": "20001",
        "key": "OPS-3",
        "fields": {
            "summary": "迁移",
            "status": {"name": "To Do", "statusCategory": {"key": "new"}},
            "issuetype": {"name": "Task"},
            "assignee": {"key": "JIRAUSER10100", "name": "zhangwei", "displayName": "张伟"},
            "project": {"key": "OPS"},
            "created": "2026-01-05T08:00:00.000-0700",
            "updated": "2026-01-05T08:30:00.000-0700",
            "customfield_10006": "OPS-1",
            "customfield_10002": 3,
            "customfield_10005": [
                "com.atlassian.greenhopper.service.sprint.Sprint@5d1c2f[id=12,rapidViewId=3,state=CLOSED,name=S 12,startDate=2026-01-01T00:00:00.000Z]"
            ],
            "worklog": {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []},
        },
    }
    assert parent_ref(issue, ctx) == (None, "OPS-1")
    item = to_work_item(issue, ctx, parent_id="20000")
    assert item.parent_id == "20000"
    assert item.assignee == "JIRAUSER10100"
    assert item.iteration_ids == ("12",)
    assert item.created_at == dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)
    assert item.story_points == 3.0


def test_person_hidden_email_is_none_and_ids_per_deployment() -> None:
    p = to_person(
        {
            "accountId": "abc",
            "displayName": "张伟",
            "emailAddress": "",
            "active": True,
            "timeZone": "Asia/Shanghai",
        },
        cloud_ctx(),
    )
    assert p.external_id == "abc" and p.email is None and p.time_zone == "Asia/Shanghai"
    p2 = to_person({"accountId": "def", "displayName": "X"}, cloud_ctx())
    assert p2.email is None
    dc = to_person(
        {
            "key": "JIRAUSER10",
            "name": "lina",
            "displayName": "李娜",
            "emailAddress": "lina@example.cn",
            "active": False,
        },
        dc_ctx(),
    )
    assert (dc.external_id, dc.username, dc.email, dc.active) == (
        "JIRAUSER10",
        "lina",
        "lina@example.cn",
        False,
    )


def test_changelog_items_named_consistently_on_both_deployments() -> None:
    cloud_hist = [
        {
            "id": "900",
            "author": {"accountId": "abc"},
            "created": "2026-03-02T10:00:00.000+0800",
            "items": [
                {
                    "field": "status",
                    "fieldId": "status",
                    "from": "10000",
                    "fromString": "To Do",
                    "to": "3",
                    "toString": "In Progress",
                },
                {
                    "field": "assignee",
                    "fieldId": "assignee",
                    "from": None,
                    "fromString": None,
                    "to": "abc",
                    "toString": "张伟",
                },
                {
                    "field": "Story point estimate",
                    "fieldId": "customfield_10016",
                    "from": None,
                    "fromString": "3",
                    "to": None,
                    "toString": "5",
                },
                {
                    "field": "Fix Version",
                    "fieldId": "fixVersions",
                    "from": None,
                    "fromString": None,
                    "to": "10100",
                    "toString": "R1",
                },
                {
                    "field": "IssueParentAssociation",
                    "fieldId": "parent",
                    "from": None,
                    "fromString": None,
                    "to": "10042",
                    "toString": "CRMA-1",
                },
                {
                    "field": "duedate",
                    "fieldId": "duedate",
                    "from": "2026-04-01",
                    "fromString": "2026-04-01 00:00:00.0",
                    "to": "2026-04-30",
                    "toString": "2026-04-30 00:00:00.0",
                },
            ],
        }
    ]
    changes = list(to_status_changes("10050", cloud_hist, cloud_ctx()))
    assert [c.external_id for c in changes] == [f"900:{i}" for i in range(6)]
    assert [c.field for c in changes] == [
        "status",
        "assignee",
        "story_points",
        "fixVersions",
        "parent",
        "duedate",
    ]
    assert (changes[0].from_value, changes[0].to_value) == ("To Do", "In Progress")
    assert changes[1].to_value == "abc" and changes[2].to_value == "5"
    assert changes[3].to_value == "10100" and changes[4].to_value == "10042"
    assert (changes[5].from_value, changes[5].to_value) == ("2026-04-01", "2026-04-30")
    assert changes[0].changed_at == dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
    dc_hist = [
        {
            "id": "77",
            "author": {"key": "JIRAUSER10"},
            "created": "2026-01-05T08:30:00.000-0700",
            "items": [
                {
                    "field": "Story Points",
                    "fieldtype": "custom",
                    "from": None,
                    "fromString": "1",
                    "to": None,
                    "toString": "3",
                },
                {
                    "field": "Fix Version",
                    "fieldtype": "jira",
                    "from": None,
                    "fromString": None,
                    "to": "10200",
                    "toString": "R2",
                },
                {
                    "field": "Epic Link",
                    "fieldtype": "custom",
                    "from": None,
                    "fromString": None,
                    "to": "20000",
                    "toString": "OPS-1",
                },
                {
                    "field": "timeoriginalestimate",
                    "fieldtype": "jira",
                    "from": None,
                    "fromString": None,
                    "to": "28800",
                    "toString": "28800",
                },
            ],
        }
    ]
    dc = list(to_status_changes("20001", dc_hist, dc_ctx()))
    assert [c.field for c in dc] == [
        "story_points",
        "fixVersions",
        "epic_link",
        "timeoriginalestimate",
    ]
    assert dc[2].to_value == "20000" and dc[3].to_value == "28800" and dc[0].author == "JIRAUSER10"


def test_links_outward_only_with_kinds() -> None:
    issue = cloud_issue(
        issuelinks=[
            {
                "id": "501",
                "type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                "outwardIssue": {"id": "10060", "key": "CRMA-9"},
            },
            {
                "id": "502",
                "type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                "inwardIssue": {"id": "10061", "key": "CRMA-10"},
            },
            {
                "id": "503",
                "type": {"name": "Cloners", "inward": "is cloned by", "outward": "clones"},
                "outwardIssue": {"id": "10062"},
            },
            {
                "id": "504",
                "type": {
                    "name": "Duplicate",
                    "inward": "is duplicated by",
                    "outward": "duplicates",
                },
                "outwardIssue": {"id": "10063"},
            },
            {
                "id": "505",
                "type": {"name": "Relates", "inward": "relates to", "outward": "relates to"},
                "outwardIssue": {"id": "10064"},
            },
            {
                "id": "506",
                "type": {"name": "Causes", "inward": "is caused by", "outward": "causes"},
                "outwardIssue": {"id": "10065"},
            },
        ]
    )
    links = list(to_links(issue, cloud_ctx()))
    assert [(lk.external_id, lk.from_id, lk.to_id, lk.kind) for lk in links] == [
        ("501", "10050", "10060", "blocks"),
        ("503", "10050", "10062", "clones"),
        ("504", "10050", "10063", "duplicates"),
        ("505", "10050", "10064", "relates"),
        ("506", "10050", "10065", "other"),
    ]


def test_worklog_sprint_version() -> None:
    wl = to_worklog(
        {
            "id": "3001",
            "issueId": "10050",
            "author": {"accountId": "abc"},
            "started": "2026-03-03T09:00:00.000+0800",
            "timeSpentSeconds": 5400,
            "updated": "2026-03-03T18:00:00.000+0800",
        },
        cloud_ctx(),
    )
    assert (wl.work_item_id, wl.seconds, wl.started_at.hour) == ("10050", 5400, 1)
    sp = to_iteration(
        {
            "id": 7,
            "name": "Sprint 7",
            "state": "active",
            "startDate": "2026-03-01T01:00:00.000Z",
            "endDate": "2026-03-14T01:00:00.000Z",
            "goal": "MVP",
        },
        cloud_ctx(),
        "CRMA",
    )
    assert sp.external_id == "7" and sp.state == "active" and sp.end_at.day == 14
    v = to_milestone(
        {
            "id": "10100",
            "name": "R1",
            "released": True,
            "releaseDate": "2026-03-31",
            "startDate": "2026-01-01",
            "archived": False,
        },
        cloud_ctx(),
        "CRMA",
    )
    assert (v.released, v.released_on, v.due_on, v.start_on) == (
        True,
        dt.date(2026, 3, 31),
        dt.date(2026, 3, 31),
        dt.date(2026, 1, 1),
    )
    assert sprint_ids(None) == ()


def test_bad_payload_is_record_error_naming_issue_and_field() -> None:
    bad = cloud_issue(status=None)
    with pytest.raises(RecordError) as err:
        to_work_item(bad, cloud_ctx())
    assert "CRMA-7" in str(err.value) and "status" in str(err.value) and "[jc]" in str(err.value)
    with pytest.raises(RecordError):
        to_work_item(cloud_issue(updated="not a date"), cloud_ctx())


def test_field_overrides_by_id_or_name_win_over_discovery() -> None:
    found = discover_fields(
        CLOUD_FIELDS, {"story_points": "customfield_99999", "start_date": "Start date"}
    )
    assert found["story_points"] == "customfield_99999"
    assert found["start_date"] == "customfield_10015"
    assert found["sprint"] == "customfield_10020"


def test_jql_since_in_user_zone_floored_to_minute() -> None:
    since = dt.datetime(2026, 3, 4, 23, 59, 59, tzinfo=dt.UTC)
    from zoneinfo import ZoneInfo

    assert (
        jql_since(since, dt.timedelta(minutes=0), ZoneInfo("Pacific/Auckland"))
        == "2026-03-05 12:59"
    )
    assert (
        jql_since(since, dt.timedelta(minutes=60), ZoneInfo("America/Los_Angeles"))
        == "2026-03-04 14:59"
    )
    assert parse_datetime("2026-03-04T23:59:59.000-0800") == dt.datetime(
        2026, 3, 5, 7, 59, 59, tzinfo=dt.UTC
    )
