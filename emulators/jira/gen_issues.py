"""Issues of the delivery projects of a generated Jira site: the issue factory (ids,
keys, changelog entries, workflow walks) and, per issue, planning fields, a status walk,
later edits, worklogs and comments, then links inside the project.

Every draw comes from the site's one ``random.Random`` in a fixed order, so a seed gives
the same site byte for byte: keep the order of the steps when changing anything here.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from pmohub.emulators.jira.customfields import SELECT_OPTIONS
from pmohub.emulators.jira.gen_projects import DAY_MS, HOUR_MS, Builder, day_of

TITLES_EN = [
    "Implement {} API",
    "Fix {} validation",
    "Refactor {} module",
    "Add {} report",
    "Migrate {} to new cluster",
    "Improve {} performance",
    "Document {} workflow",
    "Review {} security",
]
TITLES_ZH = [
    "实现{}接口",
    "修复{}校验问题",
    "优化{}性能",
    "编写{}文档",
    "{}数据迁移",
    "{}权限改造",
]
NOUNS_EN = ["customer", "invoice", "payment", "login", "search", "export", "billing", "audit"]
NOUNS_ZH = ["客户", "订单", "支付", "登录", "报表", "审批", "结算", "合同"]
NASTY_TITLES = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "Quote \"double\" and 'single' & ampersand",
    "Emoji 🚀 and zero\u200bwidth",
]

# Issue types of a delivery project's issues after its first three (epics), by weight.
TYPE_WEIGHTS = (
    ["Story"] * 45 + ["Task"] * 20 + ["Bug"] * 15 + ["Sub-task"] * 12 + ["Risk"] * 3 + ["Epic"] * 5
)


class IssueFactory:
    """Creates the site's issues (consecutive ids from 10001, per-project keys) and their
    changelog entries; shared by the delivery projects and the PMO registry."""

    def __init__(self, b: Builder, people: list[dict[str, Any]]) -> None:
        self.b = b
        self.rng = b.rng
        self.people = people
        self.issues: list[dict[str, Any]] = []
        self.last_id = 10_000

    def new_issue(
        self, proj: dict[str, Any], itype: str, summary: str, created: int
    ) -> dict[str, Any]:
        """A new issue in ``proj`` (next id, next key of the project), To Do, unresolved."""
        self.last_id += 1
        proj["_n"] = proj.get("_n", 0) + 1
        assignee = self.rng.choice(self.people)["account_id"] if self.rng.random() < 0.9 else None
        issue = {
            "id": self.last_id,
            "key": f"{proj['key']}-{proj['_n']}",
            "project": proj["key"],
            "type": itype,
            "summary": summary,
            "description": f"{summary}\n\n背景 / Background: generated for seed {self.b.seed}.",
            "status": "To Do",
            "resolution": None,
            "priority": self.rng.choices(
                ["Highest", "High", "Medium", "Low", "Lowest"], [1, 3, 8, 3, 1]
            )[0],
            "assignee": assignee,
            "reporter": self.rng.choice(self.people)["account_id"],
            "created": created,
            "updated": created,
            "resolved": None,
            "due_on": None,
            "start_on": None,
            "labels": [],
            "components": [],
            "fix_versions": [],
            "original_s": None,
            "remaining_s": None,
            "spent_s": None,
            "story_points": None,
            "parent": None,
            "sprints": [],
            "links": [],
            "custom": {},
            "histories": [],
            "worklogs": [],
            "comments": [],
            "remote_links": [],
        }
        self.issues.append(issue)
        return issue

    def add_history(self, issue: dict[str, Any], at: int, author: str, items: list[dict]) -> None:
        """Append a changelog entry at ``at``; ``updated`` follows the newest entry."""
        issue["histories"].append(
            {"id": self.b.nid("history"), "author": author, "created": at, "items": items}
        )
        issue["updated"] = max(issue["updated"], at)

    def walk(self, issue: dict[str, Any], path: list[str], horizon: int) -> None:
        """Move ``issue`` along the status ``path``, a few hours to days a step, stopping at
        ``horizon``; entering Done/Closed resolves it, leaving them clears the resolution."""
        t = issue["created"]
        author = issue["assignee"] or issue["reporter"]
        for frm, to in zip(path, path[1:], strict=False):
            t += self.rng.randrange(2 * HOUR_MS, 6 * DAY_MS)
            if t >= horizon:
                return
            items = [status_item(frm, to)]
            if to in ("Done", "Closed"):
                items.append(
                    {
                        "field": "resolution",
                        "fieldtype": "jira",
                        "fieldId": "resolution",
                        "from": None,
                        "to": "Done",
                    }
                )
                issue["resolution"] = "Done"
                issue["resolved"] = t
            elif frm in ("Done", "Closed"):
                items.append(
                    {
                        "field": "resolution",
                        "fieldtype": "jira",
                        "fieldId": "resolution",
                        "from": "Done",
                        "to": None,
                    }
                )
                issue["resolution"] = None
                issue["resolved"] = None
            self.add_history(issue, t, author, items)
            issue["status"] = to


def status_item(frm: str, to: str) -> dict[str, Any]:
    return {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": frm, "to": to}


def delivery_issues(
    f: IssueFactory,
    proj: dict[str, Any],
    per_project: int,
    nasty_left: list[str],
    versions: list[dict[str, Any]],
    sprints: list[dict[str, Any]],
    field_ids: dict[str, str],
    risks: dict[str, list[int]],
) -> None:
    """The ``per_project`` issues of one delivery project, created over the site's window
    (denser towards the end): epics first, then stories/tasks/bugs under them, sub-tasks
    under those. ``nasty_left`` (hostile titles still to place) is consumed across
    projects; ``risks`` collects each project's Risk ids for the PMO registry."""
    rng, b = f.rng, f.b
    key = proj["key"]
    epics: list[dict] = []
    parents: list[dict] = []
    n_target = per_project
    for n in range(n_target):
        created = b.start_ms + int((b.end_ms - b.start_ms - DAY_MS) * (n / n_target) ** 1.3)
        created += rng.randrange(0, HOUR_MS)
        itype = "Epic" if n < 3 or not epics else rng.choice(TYPE_WEIGHTS)
        if itype == "Sub-task" and not parents:
            itype = "Task"
        if nasty_left and n % 37 == 5:
            summary = nasty_left.pop(0)
        elif rng.random() < 0.4:
            summary = rng.choice(TITLES_ZH).format(rng.choice(NOUNS_ZH))
        else:
            summary = rng.choice(TITLES_EN).format(rng.choice(NOUNS_EN))
        if itype == "Epic":
            summary = f"Epic: {summary}"
        issue = f.new_issue(proj, itype, summary, created)
        if itype == "Epic":
            epics.append(issue)
            issue["custom"]["epic_name"] = summary
        elif itype == "Sub-task":
            issue["parent"] = rng.choice(parents[-30:])["id"]
        else:
            issue["parent"] = rng.choice(epics[-6:])["id"] if rng.random() < 0.8 else None
            parents.append(issue)
        _plan(rng, issue, itype, created, versions, sprints, risks)
        _workflow(f, issue)
        _edits(f, issue, field_ids)
        issue["histories"].sort(key=lambda h: (h["created"], h["id"]))
        _worklogs(f, issue, itype)
        _comment(f, issue)
    _links(f, key)


def _plan(
    rng: random.Random,
    issue: dict[str, Any],
    itype: str,
    created: int,
    versions: list[dict[str, Any]],
    sprints: list[dict[str, Any]],
    risks: dict[str, list[int]],
) -> None:
    """Estimates, dates, fix version, sprint, labels, components and the risk/acceptance
    custom fields of a new issue."""
    # Estimates, dates, versions, sprints.
    if itype in ("Story", "Task", "Bug") and rng.random() < 0.85:
        issue["story_points"] = rng.choice([1, 2, 3, 5, 8, 13])
    if itype != "Epic" and rng.random() < 0.75:
        est = rng.choice([2, 4, 8, 16, 24]) * 3600
        issue["original_s"] = est
        issue["remaining_s"] = est
    if rng.random() < 0.7 or itype == "Epic":
        issue["due_on"] = day_of(created + rng.randrange(7, 60) * DAY_MS)
    if rng.random() < 0.5:
        issue["start_on"] = day_of(created + rng.randrange(0, 5) * DAY_MS)
    pv = [v for v in versions if v["release_on"] >= day_of(created)]
    if pv and rng.random() < 0.7:
        issue["fix_versions"] = [pv[0]["id"]]
    if itype not in ("Epic", "Sub-task", "Risk"):
        ps = [s for s in sprints if s["state"] == "future" or (s["end_at"] or 0) >= created]
        if ps:
            chosen = ps[0] if rng.random() < 0.7 else ps[min(1, len(ps) - 1)]
            issue["sprints"] = [chosen["id"]]
    if rng.random() < 0.3:
        issue["labels"] = rng.sample(
            ["backend", "frontend", "cross-dept", "tech-debt", "客户需求", "pre-approval"],
            rng.randrange(1, 3),
        )
    if rng.random() < 0.4:
        issue["components"] = rng.sample(["API", "UI", "Database", "运维"], 1)
    if itype == "Risk":
        p, i = rng.randrange(1, 6), rng.randrange(1, 6)
        if rng.random() < 0.9:
            issue["custom"]["risk_probability"] = float(p)
            issue["custom"]["risk_impact"] = float(i)
        if rng.random() < 0.8:
            issue["custom"]["risk_response"] = rng.choice(SELECT_OPTIONS["risk_response"])
        issue["custom"]["risk_review_on"] = day_of(created + 14 * DAY_MS)
        if p * i >= 15 and rng.random() < 0.5:
            issue["custom"]["escalated_to_pmo"] = "Yes"
        risks.setdefault(issue["project"], []).append(issue["id"])
    if itype in ("Story", "Task") and rng.random() < 0.6:
        issue["custom"]["acceptance_criteria"] = "Given/When/Then 验收标准"


def _workflow(f: IssueFactory, issue: dict[str, Any]) -> None:
    """The status walk: a quarter never started, some blocked or reopened, some through
    acceptance (待验收); a few Done ones resolved as Won't Do."""
    rng, b = f.rng, f.b
    # History: the workflow walk, sometimes reopened, plus due-date/assignee/points edits.
    progress = rng.random()
    if progress < 0.25:
        path = ["To Do"]
    elif progress < 0.45:
        path = ["To Do", "In Progress"]
    elif progress < 0.55:
        path = ["To Do", "In Progress", "In Review"]
    elif progress < 0.6:
        path = ["To Do", "In Progress", "Blocked", "In Progress", "In Review"]
    elif progress < 0.67:
        path = [
            "To Do",
            "In Progress",
            "In Review",
            "Done",
            "In Progress",
            "In Review",
            "Done",
        ]
    elif progress < 0.7:
        path = ["To Do", "In Progress", "In Review", "待验收", "Done"]
    else:
        path = ["To Do", "In Progress", "In Review", "Done"]
    f.walk(issue, path, b.end_ms)
    if issue["status"] == "Done" and rng.random() < 0.05:
        issue["resolution"] = "Won't Do"
        issue["histories"][-1]["items"][1]["to"] = "Won't Do"


def _edits(f: IssueFactory, issue: dict[str, Any], fid: dict[str, str]) -> None:
    """4-8 later edits (due date, assignee, story points, priority) in the changelog; the
    caller sorts the histories afterwards."""
    rng, b, people = f.rng, f.b, f.people
    extra = rng.randrange(4, 9)
    for _ in range(extra):
        t = issue["created"] + rng.randrange(HOUR_MS, 40 * DAY_MS)
        if t >= b.end_ms:
            continue
        author = rng.choice(people)["account_id"]
        kind = rng.random()
        if kind < 0.35 and issue["due_on"]:
            old = issue["due_on"]
            new = (date.fromisoformat(old) + timedelta(days=rng.randrange(3, 15))).isoformat()
            items = [
                {
                    "field": "duedate",
                    "fieldtype": "jira",
                    "fieldId": "duedate",
                    "from": old,
                    "to": new,
                }
            ]
            issue["due_on"] = new
        elif kind < 0.6:
            new_assignee = rng.choice(people)["account_id"]
            items = [
                {
                    "field": "assignee",
                    "fieldtype": "jira",
                    "fieldId": "assignee",
                    "from": issue["assignee"],
                    "to": new_assignee,
                }
            ]
            issue["assignee"] = new_assignee
        elif kind < 0.8 and issue["story_points"] is not None:
            old_sp = issue["story_points"]
            new_sp = rng.choice([1, 2, 3, 5, 8, 13])
            items = [
                {
                    "field": "Story Points",
                    "fieldtype": "custom",
                    "fieldId": fid["story_points"],
                    "from": None,
                    "to": None,
                    "fromString": str(old_sp),
                    "toString": str(new_sp),
                }
            ]
            issue["story_points"] = new_sp
        else:
            old_p = issue["priority"]
            new_p = rng.choice(["High", "Medium", "Low"])
            items = [
                {
                    "field": "priority",
                    "fieldtype": "jira",
                    "fieldId": "priority",
                    "from": old_p,
                    "to": new_p,
                }
            ]
            issue["priority"] = new_p
        f.add_history(issue, t, author, items)


def _worklogs(f: IssueFactory, issue: dict[str, Any], itype: str) -> None:
    """About two worklogs per started non-epic issue; spent and remaining follow them."""
    rng, b, people = f.rng, f.b, f.people
    # Worklogs (about two per issue that has started).
    if issue["status"] != "To Do" and itype != "Epic":
        spent = 0
        for _ in range(rng.choice([1, 2, 3, 3, 4, 4])):
            started = issue["created"] + rng.randrange(HOUR_MS, 20 * DAY_MS)
            if started >= b.end_ms:
                continue
            seconds = rng.choice([1, 2, 3, 4, 6, 8]) * 1800
            upd = min(started + rng.randrange(0, 3 * HOUR_MS), b.end_ms)
            issue["worklogs"].append(
                {
                    "id": 10_000 + b.nid("worklog"),
                    "author": issue["assignee"] or rng.choice(people)["account_id"],
                    "started": started,
                    "seconds": seconds,
                    "created": upd,
                    "updated": upd,
                    "comment": rng.choice(["开发", "code review", "联调测试", ""]),
                }
            )
            spent += seconds
            issue["updated"] = max(issue["updated"], upd)
        if spent:
            issue["spent_s"] = spent
            if issue["original_s"]:
                issue["remaining_s"] = max(0, issue["original_s"] - spent)


def _comment(f: IssueFactory, issue: dict[str, Any]) -> None:
    """A comment on about a third of the issues."""
    rng, b, people = f.rng, f.b, f.people
    if rng.random() < 0.3:
        at = min(issue["created"] + rng.randrange(HOUR_MS, 10 * DAY_MS), b.end_ms)
        issue["comments"].append(
            {
                "id": 10_000 + b.nid("comment"),
                "author": rng.choice(people)["account_id"],
                "body": rng.choice(["LGTM", "请补充测试用例", "Blocked by infra"]),
                "created": at,
                "updated": at,
            }
        )
        issue["updated"] = max(issue["updated"], at)


def _links(f: IssueFactory, key: str) -> None:
    """Blocks/Relates/Duplicate links between the non-epic issues of project ``key``."""
    rng, b = f.rng, f.b
    # Links inside the project.
    plain = [i for i in f.issues if i["project"] == key and i["type"] != "Epic"]
    for _ in range(max(1, len(plain) // 12)):
        a, c = rng.sample(plain, 2)
        kind = rng.choice(["Blocks", "Blocks", "Relates", "Duplicate"])
        lid = 10_000 + b.nid("link")
        a["links"].append({"id": lid, "type": kind, "direction": "outward", "other": c["id"]})
        c["links"].append({"id": lid, "type": kind, "direction": "inward", "other": a["id"]})
