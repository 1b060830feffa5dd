"""A seeded Azure DevOps organisation (Agile process): projects, teams, area and iteration
paths, identities, and work items (Epic > Feature > User Story > Task, plus Bugs) with their
full update history. Plain dicts so tests can read the truth."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from pmohub.emulators.base import DEFAULT_TODAY, history_window
from pmohub.emulators.jira.people import PEOPLE

STATE_CATEGORY = {
    "New": "Proposed",
    "Active": "InProgress",
    "Resolved": "Resolved",
    "Closed": "Completed",
    "Removed": "Removed",
}
STATES = {
    "Epic": ("New", "Active", "Resolved", "Closed", "Removed"),
    "Feature": ("New", "Active", "Resolved", "Closed", "Removed"),
    "User Story": ("New", "Active", "Resolved", "Closed", "Removed"),
    "Task": ("New", "Active", "Closed", "Removed"),
    "Bug": ("New", "Active", "Resolved", "Closed"),
}
PROJECT_NAMES = ("Fabrikam Fiber", "Contoso ERP", "Northwind")


@dataclass
class AzureSite:
    organization: str
    projects: list[dict[str, Any]]
    people: list[dict[str, Any]]
    items: list[dict[str, Any]]
    next_id: list[int] = field(default_factory=lambda: [0])

    def project(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.projects if name in (p["name"], p["id"])), None)

    def item(self, wid: int) -> dict[str, Any] | None:
        return next((i for i in self.items if i["id"] == wid), None)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_site(
    seed: int = 7,
    *,
    projects: int = 1,
    stories: int = 20,
    today: dt.date | None = None,
    people: int = 8,
    organization: str = "contoso",
) -> AzureSite:
    # The steps draw from one generator in a fixed order: reordering them changes the site.
    rng = random.Random(seed)
    today = today or DEFAULT_TODAY
    start, end = history_window(today, 80)
    staff = [
        {"id": _guid(rng), "displayName": display, "uniqueName": f"{login}@example.cn"}
        for display, login, _tz in PEOPLE[:people]
    ]
    site = AzureSite(organization=organization, projects=[], people=staff, items=[])
    g = _Builder(rng, end, site)
    for p in range(projects):
        proj = _project(rng, p, today, staff)
        site.projects.append(proj)
        bugs = _work_items(g, proj, stories, start)
        _target_dates(g, proj["name"], today)
        _links(g, proj["name"], bugs)
    site.next_id[0] = g.wid
    return site


def _project(
    rng: random.Random, p: int, today: dt.date, staff: list[dict[str, Any]]
) -> dict[str, Any]:
    """Project number ``p``: its team, three area paths and five two-week iterations
    (three past, the current one, one future)."""
    name = PROJECT_NAMES[p % len(PROJECT_NAMES)] + ("" if p < len(PROJECT_NAMES) else f" {p}")
    monday = today - dt.timedelta(days=today.weekday())
    iterations = []
    for k in range(5):
        s = monday + dt.timedelta(weeks=2 * (k - 3))
        f = s + dt.timedelta(days=11)
        frame = "past" if f < today else ("current" if s <= today else "future")
        iterations.append(
            {
                "id": _guid(rng),
                "name": f"Sprint {k + 1}",
                "path": f"{name}\\Sprint {k + 1}",
                "start": s,
                "finish": f,
                "timeFrame": frame,
            }
        )
    return {
        "id": _guid(rng),
        "name": name,
        "description": f"{name} delivery",
        "team": {"id": _guid(rng), "name": f"{name} Team"},
        "areas": [name, f"{name}\\Web", f"{name}\\API"],
        "iterations": iterations,
        "members": [s["id"] for s in staff],
    }


class _Builder:
    """What the work-item steps share: the random generator, the end of the history
    window, the site and the last work item id."""

    def __init__(self, rng: random.Random, end: dt.datetime, site: AzureSite) -> None:
        self.rng = rng
        self.end = end
        self.site = site
        self.wid = 100

    def at(self, lo_h: float, hi_h: float, base: dt.datetime) -> dt.datetime:
        """``lo_h``-``hi_h`` hours after ``base``, but before the end of the history."""
        rng, end = self.rng, self.end
        t = base + dt.timedelta(milliseconds=int(rng.uniform(lo_h, hi_h) * 3_600_000))
        return min(t, end - dt.timedelta(minutes=rng.randrange(1, 600)))

    def make(
        self, kind: str, parent: int | None, created: dt.datetime, proj: dict[str, Any]
    ) -> dict[str, Any]:
        """A work item of ``kind`` under ``parent``, with its creation revision and one
        revision per state it moved through."""
        rng, staff = self.rng, self.site.people
        name, iterations = proj["name"], proj["iterations"]
        self.wid += 1
        states = STATES[kind]
        path_len = rng.choice((1, 2, 2, 3, 4))
        path = list(states[: min(path_len, len(states) - (1 if "Removed" in states else 0))])
        if "Removed" in states and rng.random() < 0.05:
            path = ["New", "Removed"]
        creator = rng.choice(staff)["id"]
        assignee = rng.choice([None, *[s["id"] for s in staff]])
        it = rng.choice(iterations) if kind in ("User Story", "Task", "Bug") else None
        estimate = float(rng.choice((2, 4, 6, 8))) if kind == "Task" else None
        item: dict[str, Any] = {
            "id": self.wid,
            "project": name,
            "type": kind,
            "title": f"{kind} {self.wid} of {name}",
            "area": rng.choice(proj["areas"]),
            "iteration": it["path"] if it else name,
            "state": path[0],
            "assigned": assignee,
            "created": created,
            "created_by": creator,
            "priority": rng.choice((1, 2, 2, 3)),
            "tags": rng.sample(["pmo", "customer", "tech-debt"], rng.randrange(0, 2)),
            "story_points": float(rng.choice((1, 2, 3, 5, 8))) if kind == "User Story" else None,
            "original": estimate,
            "remaining": estimate,
            "completed": 0.0 if estimate else None,
            "parent": parent,
            "related": [],
            "updates": [],
            "target": None,
        }
        fields0 = {
            "System.State": (None, path[0]),
            "System.Title": (None, item["title"]),
            "System.WorkItemType": (None, kind),
            "System.CreatedDate": (None, created),
            "System.AreaPath": (None, item["area"]),
            "System.IterationPath": (None, item["iteration"]),
        }
        if assignee:
            fields0["System.AssignedTo"] = (None, assignee)
        item["updates"].append({"at": created, "by": creator, "fields": fields0, "relations": None})
        self._walk(item, path, estimate, assignee or creator)
        item["changed"] = item["updates"][-1]["at"]
        item["changed_by"] = item["updates"][-1]["by"]
        self.site.items.append(item)
        return item

    def _walk(self, item: dict[str, Any], path: list[str], estimate: float | None, by: str) -> None:
        """One revision per later state; a task's completed/remaining work moves with it."""
        rng = self.rng
        t = item["created"]
        for state in path[1:]:
            t = self.at(2, 24 * 6, t)
            prev = item["state"]
            changes: dict[str, Any] = {"System.State": (prev, state)}
            if estimate and state in ("Active", "Closed"):
                done = estimate if state == "Closed" else round(estimate * rng.uniform(0.2, 0.7), 1)
                changes["Microsoft.VSTS.Scheduling.CompletedWork"] = (item["completed"], done)
                changes["Microsoft.VSTS.Scheduling.RemainingWork"] = (
                    item["remaining"],
                    round(estimate - done, 1),
                )
                item["completed"], item["remaining"] = done, round(estimate - done, 1)
            item["updates"].append({"at": t, "by": by, "fields": changes, "relations": None})
            item["state"] = state


def _work_items(
    g: _Builder, proj: dict[str, Any], stories: int, start: dt.datetime
) -> list[dict[str, Any]]:
    """Epic > Feature > User Story > Task of ``proj``, then its bugs (returned)."""
    rng, at = g.rng, g.at
    epics = [g.make("Epic", None, at(0, 24 * 5, start), proj) for _ in range(2)]
    features = [
        g.make("Feature", rng.choice(epics)["id"], at(24 * 5, 24 * 10, start), proj)
        for _ in range(3)
    ]
    for _ in range(stories):
        story = g.make("User Story", rng.choice(features)["id"], at(24 * 10, 24 * 60, start), proj)
        for _ in range(rng.randrange(0, 3)):
            g.make("Task", story["id"], at(1, 48, story["created"]), proj)
    return [
        g.make("Bug", None, at(24 * 10, 24 * 70, start), proj) for _ in range(max(2, stories // 5))
    ]


def _target_dates(g: _Builder, name: str, today: dt.date) -> None:
    """Target dates: set at creation on some stories, later slipped on some of those."""
    rng, at = g.rng, g.at
    for story in [i for i in g.site.items if i["type"] == "User Story" and i["project"] == name]:
        if rng.random() < 0.5:
            continue
        target = dt.datetime.combine(
            today + dt.timedelta(days=rng.randrange(-30, 40)), dt.time(), tzinfo=dt.UTC
        )
        story["target"] = target
        story["updates"][0]["fields"]["Microsoft.VSTS.Scheduling.TargetDate"] = (None, target)
        if rng.random() < 0.4:
            moved = target + dt.timedelta(days=rng.randrange(7, 22))
            created = story["updates"][0]["at"]
            when = max(at(1, 24 * 10, created), created + dt.timedelta(minutes=1))
            story["updates"].append(
                {
                    "at": when,
                    "by": story["created_by"],
                    "relations": None,
                    "fields": {"Microsoft.VSTS.Scheduling.TargetDate": (target, moved)},
                }
            )
            story["updates"].sort(key=lambda u: u["at"])
            story["target"] = moved
            story["changed"] = story["updates"][-1]["at"]
            story["changed_by"] = story["updates"][-1]["by"]


def _links(g: _Builder, name: str, bugs: list[dict[str, Any]]) -> None:
    """Each bug relates to a story; one story depends on another."""
    rng = g.rng
    stories_ = [i for i in g.site.items if i["type"] == "User Story" and i["project"] == name]
    for bug in bugs:
        bug["related"].append(("System.LinkTypes.Related", rng.choice(stories_)["id"]))
    a, b = rng.sample(stories_, 2)
    a["related"].append(("System.LinkTypes.Dependency-Forward", b["id"]))
