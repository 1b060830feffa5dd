"""A seeded GitLab group: projects, members, milestones, iterations, epics and issues with
their state/label events and timelogs. Plain dicts so tests can read the truth."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from pmohub.emulators.base import DEFAULT_TODAY, history_window
from pmohub.emulators.jira.people import PEOPLE

WORKFLOW = ("workflow::todo", "workflow::doing", "workflow::review")
TYPES = ("type::bug", "type::feature", "type::chore")
PROJECT_NAMES = ("billing-service", "customer-portal", "ops-tooling")


@dataclass
class GitLabSite:
    group: dict[str, Any]
    projects: list[dict[str, Any]]
    users: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    iterations: list[dict[str, Any]]
    epics: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    counters: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str, base: int) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return base + 100_000 + self.counters[kind]

    def project(self, ref: str) -> dict[str, Any] | None:
        for p in self.projects:
            if ref in (str(p["id"]), f"{self.group['full_path']}/{p['path']}"):
                return p
        return None

    def issue(self, project_id: int, iid: int) -> dict[str, Any] | None:
        return next(
            (i for i in self.issues if i["project_id"] == project_id and i["iid"] == iid), None
        )


def _t(base: dt.datetime, rng: random.Random, lo_h: float, hi_h: float) -> dt.datetime:
    return base + dt.timedelta(milliseconds=int(rng.uniform(lo_h, hi_h) * 3_600_000))


class _Ids:
    """Per-kind sequence numbers of one generation: ``nid(kind, base)`` is base + n."""

    def __init__(self) -> None:
        self.ids = {"issue": 0, "note": 0, "ms": 0, "timelog": 0}

    def __call__(self, kind: str, base: int) -> int:
        self.ids[kind] += 1
        return base + self.ids[kind]


def generate_site(
    seed: int = 7,
    *,
    projects: int = 2,
    issues: int = 40,
    today: dt.date | None = None,
    people: int = 8,
    group_path: str = "acme-eng",
) -> GitLabSite:
    # The steps draw from one generator in a fixed order: reordering them changes the site.
    rng = random.Random(seed)
    today = today or DEFAULT_TODAY
    start, end = history_window(today, 90)
    users = _users(people)
    group = {"id": 10, "name": "ACME Engineering", "path": group_path, "full_path": group_path}
    site = GitLabSite(group, [], users, [], [], [], [])
    nid = _Ids()
    _iterations(site, today)
    _group_milestone_and_epics(site, nid, today, start)
    for p in range(projects):
        proj, pms = _project(site, nid, p, today, start)
        for iid in range(1, issues + 1):
            site.issues.append(_issue(site, rng, nid, proj, pms, iid, today, start, end))
    site.counters = {}
    return site


def _users(people: int) -> list[dict[str, Any]]:
    return [
        {
            "id": 200 + n,
            "username": login.replace(".", "_"),
            "name": display,
            # Public e-mails match the Jira site's so one person is one person everywhere.
            "public_email": f"{login}@example.cn" if n % 3 != 2 else "",
        }
        for n, (display, login, _tz) in enumerate(PEOPLE[:people])
    ]


def _iterations(site: GitLabSite, today: dt.date) -> None:
    """Five two-week iterations around today (group cadence); every other one untitled."""
    first = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=6)
    for k in range(5):
        s = first + dt.timedelta(weeks=2 * k)
        e = s + dt.timedelta(days=13)
        state = 3 if e < today else (2 if s <= today else 1)
        site.iterations.append(
            {
                "id": 900 + k,
                "iid": k + 1,
                "sequence": k + 1,
                "title": None if k % 2 else f"Sprint {k + 1}",
                "state": state,
                "start_date": s,
                "due_date": e,
            }
        )


def _group_milestone_and_epics(
    site: GitLabSite, nid: _Ids, today: dt.date, start: dt.datetime
) -> None:
    """The group milestone (``site.milestones[0]``) and three group epics, the first closed."""
    site.milestones.append(
        {
            "id": nid("ms", 300),
            "iid": 1,
            "project_id": None,
            "group_id": site.group["id"],
            "title": "Q1 release",
            "state": "active",
            "start_date": today - dt.timedelta(days=60),
            "due_date": today + dt.timedelta(days=30),
        }
    )
    for k in range(3):
        site.epics.append(
            {
                "id": 700 + k,
                "iid": k + 1,
                "title": f"Epic {k + 1}",
                "state": "opened" if k else "closed",
                "author": site.users[0]["id"],
                "created_at": start,
                "updated_at": start + dt.timedelta(days=k + 1),
                "closed_at": start + dt.timedelta(days=1) if not k else None,
                "labels": [],
            }
        )


def _project(
    site: GitLabSite, nid: _Ids, p: int, today: dt.date, start: dt.datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Project number ``p`` and its two milestones (the first closed)."""
    path = PROJECT_NAMES[p % len(PROJECT_NAMES)] + ("" if p < len(PROJECT_NAMES) else f"-{p}")
    proj = {
        "id": 40 + p,
        "path": path,
        "name": path.replace("-", " ").title(),
        "created_at": start - dt.timedelta(days=100),
    }
    site.projects.append(proj)
    pms = []
    for k in range(2):
        ms = {
            "id": nid("ms", 300),
            "iid": k + 1,
            "project_id": proj["id"],
            "group_id": None,
            "title": f"{path} M{k + 1}",
            "state": "closed" if k == 0 else "active",
            "start_date": today - dt.timedelta(days=60 - 30 * k),
            "due_date": today - dt.timedelta(days=20 - 40 * k),
        }
        pms.append(ms)
    site.milestones.extend(pms)
    return proj, pms


def _issue(
    site: GitLabSite,
    rng: random.Random,
    nid: _Ids,
    proj: dict[str, Any],
    pms: list[dict[str, Any]],
    iid: int,
    today: dt.date,
    start: dt.datetime,
    end: dt.datetime,
) -> dict[str, Any]:
    """Issue ``iid`` of ``proj``: its workflow events, timelogs and planning fields."""
    created = _t(start, rng, 0, 24 * 60)
    author = rng.choice(site.users)["id"]
    assignees = rng.sample([u["id"] for u in site.users], rng.choice((0, 1, 1, 2)))
    labels = [rng.choice(TYPES)]
    label_events, state_events, state, closed_at = _workflow(
        rng, nid, labels, created, end, author, assignees
    )
    estimate = rng.choice((0, 4, 8, 16)) * 3600
    timelogs = _timelogs(rng, nid, assignees, created, end)
    it = rng.choice(site.iterations + [None]) if state == "opened" else None
    events_at = [e["at"] for e in label_events + state_events] + [t["spent_at"] for t in timelogs]
    return {
        "id": nid("issue", 90_000),
        "iid": iid,
        "project_id": proj["id"],
        "title": f"{proj['path']} issue {iid}",
        "state": state,
        "labels": labels,
        "milestone_id": (rng.choice([*pms, site.milestones[0], None]) or {}).get("id"),
        "iteration_id": it["id"] if it else None,
        "epic_id": rng.choice(site.epics)["id"] if rng.random() < 0.5 else None,
        "assignees": assignees,
        "author": author,
        "weight": rng.choice((None, 1, 2, 3, 5, 8)),
        "time_estimate": estimate,
        "timelogs": timelogs,
        "due_date": today + dt.timedelta(days=rng.randrange(-20, 40))
        if rng.random() < 0.5
        else None,
        "created_at": created,
        "updated_at": max([created, *events_at]),
        "closed_at": closed_at,
        "issue_type": "incident" if rng.random() < 0.05 else "issue",
        "label_events": label_events,
        "state_events": state_events,
    }


def _workflow(
    rng: random.Random,
    nid: _Ids,
    labels: list[str],
    created: dt.datetime,
    end: dt.datetime,
    author: int,
    assignees: list[int],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, dt.datetime | None]:
    """(label events, state events, state, closed_at) of one issue walking a workflow path;
    the final workflow label is appended to ``labels``."""
    label_events: list[dict[str, Any]] = []
    state_events: list[dict[str, Any]] = []
    t = created
    for lab in labels:
        label_events.append(
            {
                "id": nid("note", 50_000),
                "at": t,
                "label": lab,
                "action": "add",
                "user": author,
            }
        )
    path_steps = rng.choice(
        [
            ["workflow::todo"],
            ["workflow::todo", "workflow::doing"],
            ["workflow::todo", "workflow::doing", "workflow::review"],
            ["workflow::todo", "workflow::doing", "close"],
            ["workflow::todo", "close", "reopen"],
            ["close"],
        ]
    )
    current: str | None = None
    state, closed_at = "opened", None
    actor = assignees[0] if assignees else author
    for step in path_steps:
        t = _t(t, rng, 1, 24 * 5)
        if t >= end:
            t = end - dt.timedelta(minutes=rng.randrange(1, 500))
        if step.startswith("workflow::"):
            # GitLab scoped labels: adding one removes the other of the same scope,
            # recorded as a remove + add at the same instant.
            if current:
                label_events.append(
                    {
                        "id": nid("note", 50_000),
                        "at": t,
                        "label": current,
                        "action": "remove",
                        "user": actor,
                    }
                )
            label_events.append(
                {
                    "id": nid("note", 50_000),
                    "at": t,
                    "label": step,
                    "action": "add",
                    "user": actor,
                }
            )
            current = step
        elif step == "close":
            state, closed_at = "closed", t
            state_events.append(
                {"id": nid("note", 80_000), "at": t, "state": "closed", "user": actor}
            )
        else:
            state, closed_at = "opened", None
            state_events.append(
                {"id": nid("note", 80_000), "at": t, "state": "reopened", "user": actor}
            )
    if current:
        labels.append(current)
    return label_events, state_events, state, closed_at


def _timelogs(
    rng: random.Random,
    nid: _Ids,
    assignees: list[int],
    created: dt.datetime,
    end: dt.datetime,
) -> list[dict[str, Any]]:
    """One to three timelogs by the assignees on 60% of the assigned issues."""
    timelogs = []
    if assignees and rng.random() < 0.6:
        for _ in range(rng.randrange(1, 4)):
            spent = _t(created, rng, 1, 24 * 20)
            if spent >= end:
                spent = end - dt.timedelta(hours=1)
            timelogs.append(
                {
                    "id": nid("timelog", 1000),
                    "spent_at": spent,
                    "seconds": rng.choice((1800, 3600, 7200, 14400)),
                    "user": rng.choice(assignees),
                }
            )
    return timelogs
