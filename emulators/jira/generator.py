"""Seeded generator of a realistic Jira portfolio (deterministic for a seed).

The steps, in the order they draw from the site's one random generator (changing the order
changes every site): custom field ids (``customfields``), users (``people``), projects and
their release plan (``gen_projects``), the delivery projects' issues (``gen_issues``), then
the PMO registry (``gen_registry``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pmohub.emulators.jira.customfields import field_ids as make_field_ids
from pmohub.emulators.jira.gen_issues import NASTY_TITLES, IssueFactory, delivery_issues
from pmohub.emulators.jira.gen_projects import Builder, project_rows, releases
from pmohub.emulators.jira.gen_registry import registry_issues
from pmohub.emulators.jira.people import site_users
from pmohub.emulators.jira.site import JiraSite


def generate_site(
    seed: int = 7,
    projects: int = 4,
    issues: int = 400,
    start_on: date = date(2026, 6, 1),
    today: date = date(2026, 11, 21),
) -> JiraSite:
    """A deterministic portfolio: `projects` projects (the last is the PMO registry) and about
    `issues` issues in total, with histories, worklogs, sprints and versions."""
    if projects < 2:
        raise ValueError("projects must be >= 2 (delivery projects + the PMO registry)")
    b = Builder(seed, start_on, today)
    rng = b.rng
    field_ids = make_field_ids(rng)
    users = site_users(rng)
    people = [u for u in users if u["name"] != "pmo-bot"]
    bot = users[-1]
    rows = project_rows(rng, people, projects)
    versions, boards, sprints = releases(b, rows)

    total_pmo = (projects - 1) * 4
    per_project = max(8, (issues - total_pmo) // (projects - 1))
    nasty_left = list(NASTY_TITLES)
    version_by_project: dict[str, list[dict]] = {}
    for v in versions:
        version_by_project.setdefault(v["project_key"], []).append(v)
    sprints_by_project: dict[str, list[dict]] = {}
    board_project = {bd["id"]: bd["project_key"] for bd in boards}
    for sp in sprints:
        sprints_by_project.setdefault(board_project[sp["board_id"]], []).append(sp)
    risks_for_registry: dict[str, list[int]] = {}
    f = IssueFactory(b, people)
    for proj in rows[:-1]:
        key = proj["key"]
        delivery_issues(
            f,
            proj,
            per_project,
            nasty_left,
            version_by_project[key],
            sprints_by_project.get(key, []),
            field_ids,
            risks_for_registry,
        )
    registry_issues(f, rows, risks_for_registry)
    for proj in rows:
        proj.pop("_n", None)
        proj.pop("_registry", None)

    site_issues: list[dict[str, Any]] = f.issues
    site_issues.sort(key=lambda i: i["id"])
    counters = dict(b.counters)
    counters["issue"] = f.last_id
    counters["version"] = 10_100 + len(versions)
    return JiraSite(
        seed=seed,
        start_on=start_on.isoformat(),
        today=today.isoformat(),
        field_ids=field_ids,
        users=users,
        projects=rows,
        versions=versions,
        boards=boards,
        sprints=sprints,
        issues=site_issues,
        bot_account_id=bot["account_id"],
        counters=counters,
    )
