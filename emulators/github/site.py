"""A seeded GitHub organisation: repositories, people, milestones, issues, pull requests and
the issue events a timeline shows. Plain dicts (JSON-able) so tests can read the truth."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pmohub.emulators.base import DEFAULT_TODAY, history_window
from pmohub.emulators.jira.people import PEOPLE

STATUS_LABELS = ("status:todo", "status:in-progress", "status:review", "status:blocked")
TYPE_LABELS = ("type:bug", "type:feature", "type:task")
OTHER_LABELS = ("frontend", "backend", "docs", "priority:high")
REPO_NAMES = ("web-portal", "mobile-app", "data-pipeline", "infra")
ISSUE_TYPES = ("Bug", "Feature", "Task")


@dataclass
class GitHubSite:
    owner: str
    repos: list[dict[str, Any]]
    users: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    issues: list[dict[str, Any]]  # pull requests too (``pull_request`` True)
    counters: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    def repo(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.repos if r["name"] == name), None)

    def user(self, login: str) -> dict[str, Any] | None:
        return next((u for u in self.users if u["login"] == login), None)

    def issue(self, repo: str, number: int) -> dict[str, Any] | None:
        return next((i for i in self.issues if i["repo"] == repo and i["number"] == number), None)


def _at(base: dt.datetime, rng: random.Random, lo_h: float, hi_h: float) -> dt.datetime:
    return base + dt.timedelta(seconds=int(rng.uniform(lo_h, hi_h) * 3600))


class _Ids:
    """Per-kind sequence numbers of one generation: ``nid(kind, base)`` is base + n; the
    final counts become ``site.counters``."""

    def __init__(self) -> None:
        self.counts = {"issue": 0, "event": 0, "milestone": 0}

    def __call__(self, kind: str, base: int) -> int:
        self.counts[kind] += 1
        return base + self.counts[kind]


def generate_site(
    seed: int = 7,
    *,
    repos: int = 2,
    issues: int = 60,
    owner: str = "acme",
    today: dt.date | None = None,
    people: int = 8,
) -> GitHubSite:
    """``issues`` issues per repository (about a sixth of them pull requests)."""
    # The steps draw from one generator in a fixed order: reordering them changes the site.
    rng = random.Random(seed)
    today = today or DEFAULT_TODAY
    start, end = history_window(today, 90)
    site = GitHubSite(owner=owner, repos=[], users=_users(people), milestones=[], issues=[])
    nid = _Ids()
    for r in range(repos):
        name, ms = _repo(site, nid, r, today, start)
        for n in range(1, issues + 1):
            site.issues.append(_issue(site, rng, nid, name, ms, n, start, end))
    _sub_issues(site, rng)
    site.counters = dict(nid.counts)
    return site


def _users(people: int) -> list[dict[str, Any]]:
    users = []
    for n, (display, login, _tz) in enumerate(PEOPLE[:people]):
        users.append(
            {
                "id": 1000 + n,
                "login": login.replace(".", "-"),
                "name": display,
                # Public e-mails match the Jira site's, so identities merge across tools.
                "email": f"{login}@example.cn" if n % 4 != 3 else None,
            }
        )
    return users


def _repo(
    site: GitHubSite, nid: _Ids, r: int, today: dt.date, start: dt.datetime
) -> tuple[str, list[dict[str, Any]]]:
    """Repository number ``r`` and its three milestones (the first closed); (name, them)."""
    name = REPO_NAMES[r % len(REPO_NAMES)] + ("" if r < len(REPO_NAMES) else f"-{r}")
    site.repos.append(
        {
            "id": 500_000 + r,
            "name": name,
            "description": f"{name} ({site.owner})",
            "created_at": start - dt.timedelta(days=200),
        }
    )
    ms = []
    for k in range(3):
        due = today + dt.timedelta(days=-30 + 30 * k)
        closed = k == 0
        mid = nid("milestone", 7_000_000)
        ms.append(
            {
                "id": mid,
                "number": k + 1,
                "repo": name,
                "title": f"v{k + 1}.0",
                "description": f"Release {k + 1}.0",
                "state": "closed" if closed else "open",
                "due_on": dt.datetime.combine(due, dt.time(7), tzinfo=dt.UTC),
                "created_at": start,
                "updated_at": start + dt.timedelta(days=k),
                "closed_at": dt.datetime.combine(due, dt.time(10), tzinfo=dt.UTC)
                if closed
                else None,
                "creator": site.users[0]["login"],
            }
        )
    site.milestones.extend(ms)
    return name, ms


def _issue(
    site: GitHubSite,
    rng: random.Random,
    nid: _Ids,
    name: str,
    ms: list[dict[str, Any]],
    n: int,
    start: dt.datetime,
    end: dt.datetime,
) -> dict[str, Any]:
    """Issue (or pull request) number ``n`` of repository ``name`` with its timeline."""
    users = site.users
    created = _at(start, rng, 0, 24 * 60)
    is_pr = rng.random() < 0.17
    author = rng.choice(users)["login"]
    assignees = rng.sample([u["login"] for u in users], rng.choice((0, 1, 1, 1, 2)))
    labels = [rng.choice(TYPE_LABELS)] + rng.sample(OTHER_LABELS, rng.randrange(0, 2))
    events: list[dict[str, Any]] = []

    def ev(kind: str, at: dt.datetime, **kw: Any) -> None:
        events.append({"id": nid("event", 9_000_000_000), "event": kind, "at": at, **kw})

    for lab in labels:
        ev("labeled", created, label=lab, actor=author)
    actor = assignees[0] if assignees else author
    state, state_reason, closed_at, status_label = _walk(rng, ev, created, end, actor)
    milestone = None
    if not is_pr and rng.random() < 0.7:
        milestone = rng.choice(ms)["number"]
        ev("milestoned", _at(created, rng, 0, 2), milestone=milestone, actor=author)
        events.sort(key=lambda e: (e["at"], e["id"]))
    for login in assignees:
        ev("assigned", _at(created, rng, 0, 3), assignee=login, actor=author)
    events.sort(key=lambda e: (e["at"], e["id"]))
    if status_label:
        labels.append(status_label)
    updated = max(e["at"] for e in events) if events else created
    return {
        "id": nid("issue", 2_000_000_000),
        "number": n,
        "repo": name,
        "title": f"{'PR' if is_pr else 'Issue'} {n} of {name}",
        "body": "Generated.",
        "user": author,
        "state": state,
        "state_reason": state_reason,
        "labels": labels,
        "assignees": assignees,
        "milestone": milestone,
        "created_at": created,
        "updated_at": max(updated, created),
        "closed_at": closed_at,
        "pull_request": is_pr,
        "parent": None,
        "events": events,
        # Organisation issue types (newer than labels); some issues have one.
        "issue_type": None if is_pr or n % 4 else rng.choice(ISSUE_TYPES),
    }


def _walk(
    rng: random.Random,
    ev: Callable[..., None],
    created: dt.datetime,
    end: dt.datetime,
    actor: str,
) -> tuple[str, str | None, dt.datetime | None, str | None]:
    """Walk a status-label path, recording events through ``ev``; (state, state_reason,
    closed_at, the status label left on the issue)."""
    t = created
    path = rng.choice(
        [
            ["status:todo"],
            ["status:todo", "status:in-progress"],
            ["status:todo", "status:in-progress", "status:review"],
            ["status:todo", "status:in-progress", "closed"],
            ["status:todo", "status:in-progress", "status:review", "closed"],
            ["status:todo", "closed_not_planned"],
            ["status:todo", "status:in-progress", "closed", "reopened"],
            ["status:blocked"],
        ]
    )
    status_label: str | None = None
    state, state_reason, closed_at = "open", None, None
    for step in path:
        t = _at(t, rng, 1, 24 * 6)
        if t >= end:
            t = end - dt.timedelta(minutes=rng.randrange(1, 600))
        if step.startswith("status:"):
            if status_label:
                ev("unlabeled", t, label=status_label, actor=actor)
            ev("labeled", t, label=step, actor=actor)
            status_label = step
        elif step in ("closed", "closed_not_planned"):
            state = "closed"
            state_reason = "completed" if step == "closed" else "not_planned"
            closed_at = t
            if status_label:
                ev("unlabeled", t, label=status_label, actor=actor)
                status_label = None
            ev("closed", t, actor=actor, state_reason=state_reason)
        elif step == "reopened":
            state, state_reason, closed_at = "open", "reopened", None
            ev("reopened", t, actor=actor, state_reason="reopened")
            ev("labeled", t, label="status:in-progress", actor=actor)
            status_label = "status:in-progress"
    return state, state_reason, closed_at, status_label


def _sub_issues(site: GitHubSite, rng: random.Random) -> None:
    """A few issues become children of an earlier issue in the same repo."""
    plain = [i for i in site.issues if not i["pull_request"]]
    for child in plain[5::9]:
        candidates = [
            p for p in plain if p["repo"] == child["repo"] and p["number"] < child["number"]
        ]
        if candidates:
            child["parent"] = rng.choice(candidates)["number"]
