"""Hypothesis strategies for stores of every awkward shape, written through the real store
writers (``aggregator.store.writes``) the way a sync writes them, into SQLite.

A *shape* is plain data (dicts and lists) so a failing example prints readably and can be
pasted back as an ``@example``: sources (several trackers), projects per source, a
hierarchy (one or several portfolios and programmes), the configured time zone, people (or
none), items (or none, or one; estimates present, absent or all null; dates in the past,
the future or missing; every status category), milestones (or none; with or without dates,
released or not), status history (or none) and worklogs.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import Engine

from pmohub.aggregator.config.loader import Config, load_config_file
from pmohub.aggregator.store import writes as w
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec

AS_OF = dt.date(2026, 11, 21)
#: the instant the generated sync "ran": the evening of the as-of day, UTC
SYNCED_AT = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
ZONES = ("Asia/Shanghai", "UTC", "America/Los_Angeles")
TYPES = ("Story", "Task", "Bug", "Epic", "Sub-task", "Risk", "Change Request")
CATEGORIES = ("todo", "in_progress", "done", "cancelled")
STATUS_OF = {"todo": "To Do", "in_progress": "In Progress", "done": "Done", "cancelled": "Won't Do"}

day_offsets = st.one_of(st.none(), st.integers(min_value=-120, max_value=90))
hours = st.one_of(st.none(), st.floats(min_value=0, max_value=80, allow_nan=False).map(round))

item_shape = st.fixed_dictionaries(
    {
        "type": st.sampled_from(TYPES),
        "cat": st.sampled_from(CATEGORIES),
        "created": st.one_of(st.none(), st.integers(min_value=-200, max_value=5)),
        "start": day_offsets,
        "due": day_offsets,
        "points": st.one_of(st.none(), st.sampled_from([0.0, 1.0, 3.0, 8.0])),
        "orig_h": hours,
        "rem_h": hours,
        "spent_h": hours,
        "assignee": st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
        "parent": st.one_of(st.none(), st.integers(min_value=0, max_value=11)),
        "milestone": st.one_of(st.none(), st.integers(min_value=0, max_value=1)),
        "history": st.booleans(),
        "reopened": st.booleans(),
        "worklog_h": hours,
        "fields": st.one_of(
            st.just({}),
            st.fixed_dictionaries(
                {
                    "risk_probability": st.sampled_from([None, 1, 3, 5]),
                    "risk_impact": st.sampled_from([None, 1, 3, 5]),
                    "risk_response": st.sampled_from([None, "", "mitigate"]),
                }
            ),
        ),
    }
)

milestone_shape = st.fixed_dictionaries(
    {"due": day_offsets, "released": st.booleans(), "released_on": day_offsets}
)

project_shape = st.fixed_dictionaries(
    {
        "items": st.lists(item_shape, min_size=0, max_size=12),
        "milestones": st.lists(milestone_shape, min_size=0, max_size=2),
        "critical": st.booleans(),
        "weight": st.one_of(st.none(), st.sampled_from([1.0, 5.0])),
    }
)

store_shape = st.fixed_dictionaries(
    {
        "zone": st.sampled_from(ZONES),
        "people": st.integers(min_value=0, max_value=4),
        "people_zones": st.booleans(),
        # sources -> projects; several trackers, each with one or more projects
        "sources": st.lists(
            st.lists(project_shape, min_size=1, max_size=2), min_size=1, max_size=3
        ),
        "portfolios": st.integers(min_value=1, max_value=2),
        "programmes": st.booleans(),
        "unsynced_project": st.booleans(),
    }
)


def _day(offset: int | None) -> dt.date | None:
    return None if offset is None else AS_OF + dt.timedelta(days=offset)


def _at(offset: int | None, hour: int = 3) -> dt.datetime | None:
    if offset is None:
        return None
    return dt.datetime.combine(_day(offset), dt.time(hour), tzinfo=dt.UTC)


def project_keys(shape: dict[str, Any]) -> list[tuple[str, str]]:
    """(source name, project key) of every generated project, in order."""
    return [
        (f"trk{s}", f"P{s}{p}")
        for s, projects in enumerate(shape["sources"])
        for p in range(len(projects))
    ]


def config_text(shape: dict[str, Any], database: str) -> str:
    sources = "".join(
        f"  trk{s}: {{type: jira, url: https://t{s}.example.net, token_env: T{s}_TOKEN}}\n"
        for s in range(len(shape["sources"]))
    )
    keys = project_keys(shape)
    flat = [p for projects in shape["sources"] for p in projects]
    portfolios: list[list[str]] = [[] for _ in range(shape["portfolios"])]
    for n, ((src, key), proj) in enumerate(zip(keys, flat, strict=True)):
        extra = ", critical: true" if proj["critical"] else ""
        if proj["weight"] is not None:
            extra += f", weight: {proj['weight']}"
        portfolios[n % len(portfolios)].append(
            f"{{key: {key}, name: 项目 {key}, source: {{name: {src}, project: {key}}}, "
            f"priority_rank: {n + 1}{extra}}}"
        )
    if shape["unsynced_project"]:
        portfolios[-1].append("{key: NOSYNC, name: Nothing synced yet}")
    hier = ""
    for i, projects in enumerate(portfolios):
        hier += f"  - portfolio: PF{i}\n    name: 组合 {i}\n"
        if not projects:
            continue
        if shape["programmes"]:
            half = max(1, len(projects) // 2)
            hier += "    programmes:\n"
            hier += f"      - programme: PG{i}\n        name: 项目群 {i}\n        projects:\n"
            hier += "".join(f"          - {p}\n" for p in projects[:half])
            rest = projects[half:]
        else:
            rest = projects
        if rest:
            hier += "    projects:\n" + "".join(f"      - {p}\n" for p in rest)
    return (
        f"version: 1\ndatabase: {database}\ntimezone: {shape['zone']}\nlanguage: zh-CN\n"
        f"sources:\n{sources}hierarchy:\n{hier}"
    )


_TEMPLATE: dict[str, Path] = {}


def _empty_store(directory: Path) -> Path:
    """A migrated empty SQLite file, migrated once per session and copied per example (the
    migrations take most of a second; an example should not)."""
    if "db" not in _TEMPLATE:
        template = Path(directory.parent) / "storegen-template.db"
        open_store(f"sqlite:///{template}").dispose()
        _TEMPLATE["db"] = template
    target = directory / "pmohub.db"
    shutil.copyfile(_TEMPLATE["db"], target)
    return target


def build_store(directory: Path, shape: dict[str, Any]) -> tuple[Config, Engine]:
    """Config and engine of a store holding ``shape`` (written through the store writers)."""
    directory.mkdir(parents=True, exist_ok=True)
    db = _empty_store(directory)
    path = directory / "pmohub.yaml"
    path.write_text(config_text(shape, f"sqlite:///{db}"), encoding="utf-8")
    config = load_config_file(path)
    engine = open_store(config.database)
    keys = project_keys(shape)
    by_source: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    flat = [p for projects in shape["sources"] for p in projects]
    for (src, key), proj in zip(keys, flat, strict=True):
        by_source.setdefault(src, []).append((key, proj))
    for src, projects in by_source.items():
        _write_source(engine, shape, src, projects)
    return config, engine


def _people(shape: dict[str, Any], src: str) -> list[rec.Person]:
    zones = ("Asia/Shanghai", "Europe/Berlin", None, "America/New_York")
    return [
        rec.Person(
            source=src,
            # an opaque tracker id, as Jira Cloud has: the report must show the name
            external_id=f"{src}-5b10ac8d82e05b22cc7d4e{n:02d}",
            display_name=f"成员{n} Person {n}",
            email=f"p{n}@example.cn" if n % 2 == 0 else None,
            time_zone=zones[n] if shape["people_zones"] else None,
        )
        for n in range(shape["people"])
    ]


def _write_source(
    engine: Engine, shape: dict[str, Any], src: str, projects: list[tuple[str, dict[str, Any]]]
) -> None:
    people = _people(shape, src)
    items: list[rec.WorkItem] = []
    changes: list[rec.StatusChange] = []
    worklogs: list[rec.Worklog] = []
    milestones: list[rec.Milestone] = []
    for key, proj in projects:
        for n, m in enumerate(proj["milestones"]):
            milestones.append(
                rec.Milestone(
                    source=src,
                    external_id=f"{key}-m{n}",
                    name=f"{key} v{n}",
                    project_key=key,
                    due_on=_day(m["due"]),
                    released=m["released"],
                    released_on=_day(m["released_on"]) if m["released"] else None,
                )
            )
        for n, it in enumerate(proj["items"]):
            items.append(_item(src, key, n, it, proj, people))
            changes.extend(_history(src, key, n, it))
            if it["worklog_h"] and people and it["assignee"] is not None:
                worklogs.append(
                    rec.Worklog(
                        source=src,
                        external_id=f"{key}-{n}-wl",
                        work_item_id=f"{key}-{n}",
                        author=people[it["assignee"] % len(people)].external_id,
                        started_at=_at(-10),
                        seconds=int(it["worklog_h"] * 3600),
                    )
                )
    with engine.begin() as conn:
        w.upsert_source(conn, src, "jira", at=SYNCED_AT)
        w.upsert_projects(
            conn,
            src,
            [rec.Project(source=src, external_id=f"p-{k}", key=k, name=k) for k, _ in projects],
            at=SYNCED_AT,
        )
        if people:
            w.upsert_people(conn, src, people, at=SYNCED_AT)
        if milestones:
            w.upsert_milestones(conn, src, milestones, at=SYNCED_AT)
        _, ids = w.upsert_work_items(conn, src, items, at=SYNCED_AT)
        if changes:
            w.upsert_status_changes(conn, src, changes, item_ids=ids, at=SYNCED_AT)
        if worklogs:
            w.upsert_worklogs(conn, src, worklogs, item_ids=ids, at=SYNCED_AT)


def _item(
    src: str,
    key: str,
    n: int,
    it: dict[str, Any],
    proj: dict[str, Any],
    people: list[rec.Person],
) -> rec.WorkItem:
    parent = it["parent"]
    parent_ok = parent is not None and parent < n and proj["items"][parent]["type"] == "Epic"
    created = _at(it["created"], 2)
    done = it["cat"] == "done"
    return rec.WorkItem(
        source=src,
        external_id=f"{key}-{n}",
        key=f"{key}-{n}",
        project_key=key,
        title=f"{it['type']} {n}",
        type=it["type"],
        status=STATUS_OF[it["cat"]],
        status_category=it["cat"],
        priority="High" if n % 2 else None,
        assignee=people[it["assignee"] % len(people)].external_id
        if people and it["assignee"] is not None
        else None,
        parent_id=f"{key}-{parent}" if parent_ok else None,
        created_at=created,
        updated_at=SYNCED_AT,
        resolved_at=_at(-3) if done else None,
        start_on=_day(it["start"]),
        due_on=_day(it["due"]),
        story_points=it["points"],
        original_estimate_h=it["orig_h"],
        remaining_estimate_h=it["rem_h"],
        time_spent_h=it["spent_h"],
        milestone_ids=(f"{key}-m{it['milestone']}",)
        if it["milestone"] is not None and it["milestone"] < len(proj["milestones"])
        else (),
        extra={k: v for k, v in it["fields"].items() if v is not None},
    )


def _history(src: str, key: str, n: int, it: dict[str, Any]) -> list[rec.StatusChange]:
    if not it["history"] or it["cat"] == "todo":
        return []
    steps = [("To Do", "In Progress", _at(-30))]
    if it["cat"] == "done":
        if it["reopened"]:
            steps += [("In Progress", "Done", _at(-20)), ("Done", "In Progress", _at(-15))]
        steps.append(("In Progress", "Done", _at(-3)))
    return [
        rec.StatusChange(
            source=src,
            external_id=f"{key}-{n}-sc{i}",
            work_item_id=f"{key}-{n}",
            field="status",
            from_value=a,
            to_value=b,
            changed_at=at,
        )
        for i, (a, b, at) in enumerate(steps)
    ]
