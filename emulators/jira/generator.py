"""Seeded generator of a realistic Jira portfolio (deterministic for a seed)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pmohub.emulators.jira.site import JiraSite

# logical name -> (display name, schema.custom, schema.type, schema.items or None, deployments)
# "both" fields exist on Cloud and DC; epic_link only on DC (Cloud uses `parent`).
CUSTOM_FIELDS: dict[str, tuple[str, str, str, str | None, str]] = {
    "story_points": (
        "Story Points",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "dc",
    ),
    "story_point_estimate": (
        "Story point estimate",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "cloud",
    ),
    "sprint": ("Sprint", "com.pyxis.greenhopper.jira:gh-sprint", "array", "json", "both"),
    "epic_link": ("Epic Link", "com.pyxis.greenhopper.jira:gh-epic-link", "any", None, "dc"),
    "epic_name": ("Epic Name", "com.pyxis.greenhopper.jira:gh-epic-label", "string", None, "dc"),
    "rank": ("Rank", "com.pyxis.greenhopper.jira:gh-lexo-rank", "any", None, "both"),
    "start_date": (
        "Start date",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "flagged": (
        "Flagged",
        "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes",
        "array",
        "option",
        "both",
    ),
    "risk_probability": (
        "Risk Probability",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "both",
    ),
    "risk_impact": (
        "Risk Impact",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "both",
    ),
    "risk_response": (
        "Risk Response",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "risk_review_on": (
        "Risk Review Date",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "escalated_to_pmo": (
        "Escalated to PMO",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "cr_reason": (
        "CR Reason",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "cr_impact": (
        "CR Impact Analysis",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "cr_alternatives": (
        "CR Alternatives",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "ccb_decision": (
        "CCB Decision",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "rag": (
        "RAG",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "subplans": (
        "Sub-plans",
        "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes",
        "array",
        "option",
        "both",
    ),
    "acceptance_criteria": (
        "Acceptance Criteria",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "objective": (
        "Objective",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "scope": (
        "Scope",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "deliverables": (
        "Deliverables",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "assumptions": (
        "Assumptions and Constraints",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "strategic_fit": (
        "Strategic Fit",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "sponsor": (
        "Sponsor",
        "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
        "user",
        None,
        "both",
    ),
    "pm": (
        "Project Manager",
        "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
        "user",
        None,
        "both",
    ),
    "planned_start_on": (
        "Planned Start",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "planned_end_on": (
        "Planned End",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "priority_rank": (
        "Priority Rank",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "both",
    ),
}
SELECT_OPTIONS: dict[str, list[str]] = {
    "risk_response": ["avoid", "reduce", "transfer", "accept"],
    "escalated_to_pmo": ["Yes", "No"],
    "ccb_decision": ["Pending", "Approved", "Rejected", "Revise"],
    "rag": ["Green", "Amber", "Red"],
    "subplans": [
        "范围管理",
        "进度管理",
        "成本管理",
        "质量管理",
        "资源管理",
        "沟通管理",
        "风险管理",
        "采购管理",
    ],
    "flagged": ["Impediment"],
}

PROJECT_NAMES: list[tuple[str, str]] = [
    ("CRMA", "新版CRM"),
    ("PAY", "Payments Platform"),
    ("OPS", "运维迁移"),
    ("DATA", "Data Lake"),
    ("MOB", "Mobile App"),
    ("HRX", "人力资源系统"),
    ("WEB", "Web Portal"),
    ("SEC", "Security Hardening"),
]
PEOPLE: list[tuple[str, str, str]] = [
    # (display name, login, time zone)
    ("张伟", "zhang.wei", "Asia/Shanghai"),
    ("李娜", "li.na", "Asia/Shanghai"),
    ("王芳", "wang.fang", "Asia/Shanghai"),
    ("刘洋", "liu.yang", "Asia/Shanghai"),
    ("陈静", "chen.jing", "Asia/Shanghai"),
    ("Alice Johnson", "alice.johnson", "America/Los_Angeles"),
    ("Bob Miller", "bob.miller", "America/Los_Angeles"),
    ("Carla Schmidt", "carla.schmidt", "Europe/Berlin"),
    ("Dieter Wagner", "dieter.wagner", "Europe/Berlin"),
    ("赵磊", "zhao.lei", "Asia/Shanghai"),
    ("Emma Brown", "emma.brown", "Europe/London"),
    ("孙丽", "sun.li", "Asia/Shanghai"),
    ("Frank O'Neil", "frank.oneil", "America/New_York"),
    ("周杰", "zhou.jie", "Asia/Shanghai"),
]
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
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _ms(day: date, hour: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)


def _on(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


class _Builder:
    def __init__(self, seed: int, start_on: date, today: date) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.start_ms = _ms(start_on, 1)
        # All generated activity ends before the start of `today` (UTC), so "now" is later.
        self.end_ms = _ms(today) - HOUR_MS
        self.start_on = start_on
        self.today = today
        self.counters: dict[str, int] = {"history": 0, "worklog": 0, "comment": 0, "link": 0}

    def nid(self, kind: str) -> int:
        self.counters[kind] += 1
        return self.counters[kind]


def _field_ids(rng: random.Random) -> dict[str, str]:
    # Per-site ids so a connector must discover them from /field (never hard-code 10016).
    base = 10_000 + rng.randrange(10, 400) * 10
    numbers = rng.sample(range(base, base + 300), len(CUSTOM_FIELDS))
    return {name: f"customfield_{n}" for name, n in zip(CUSTOM_FIELDS, numbers, strict=True)}


def _people(rng: random.Random) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    hidden = set(rng.sample(range(len(PEOPLE)), 3))
    inactive = rng.randrange(len(PEOPLE))
    for n, (display, login, tz) in enumerate(PEOPLE):
        users.append(
            {
                "account_id": f"5b10a2844c20165700ede{rng.getrandbits(40):010x}"[:24],
                "key": f"JIRAUSER{10100 + n}",
                "name": login,
                "display_name": display,
                "email": f"{login}@example.cn",
                "email_visible": n not in hidden,
                "time_zone": tz,
                "active": n != inactive,
            }
        )
    users.append(
        {
            "account_id": "712020:" + f"{rng.getrandbits(64):016x}-pmo-bot",
            "key": "JIRAUSER10000",
            "name": "pmo-bot",
            "display_name": "PMO Bot",
            "email": "pmo-bot@example.cn",
            "email_visible": True,
            "time_zone": "Asia/Shanghai",
            "active": True,
        }
    )
    return users


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
    b = _Builder(seed, start_on, today)
    rng = b.rng
    field_ids = _field_ids(rng)
    users = _people(rng)
    people = [u for u in users if u["name"] != "pmo-bot"]
    bot = users[-1]

    delivery_keys = [
        PROJECT_NAMES[i] if i < len(PROJECT_NAMES) else (f"P{i}", f"Project {i}")
        for i in range(projects - 1)
    ]
    project_rows: list[dict[str, Any]] = []
    for n, (key, name) in enumerate([*delivery_keys, ("PMO", "PMO 项目台账")]):
        project_rows.append(
            {
                "id": 10_000 + n,
                "key": key,
                "name": name,
                "lead": rng.choice(people)["account_id"],
                "description": f"{name} ({key})",
            }
        )

    versions: list[dict[str, Any]] = []
    boards: list[dict[str, Any]] = []
    sprints: list[dict[str, Any]] = []
    span_days = (today - start_on).days
    for n, proj in enumerate(project_rows[:-1]):
        for v in range(4):
            rel = start_on + timedelta(days=int(span_days * (v + 1) / 3.2))
            released = rel < today and v < 2
            versions.append(
                {
                    "id": 10_100 + len(versions),
                    "project_key": proj["key"],
                    "name": f"R{v + 1}.0",
                    "description": f"Release {v + 1}",
                    "start_on": (rel - timedelta(days=40)).isoformat(),
                    "release_on": rel.isoformat(),
                    "released": released,
                    "archived": False,
                }
            )
        kanban = n == len(project_rows) - 2 and n > 0
        board_id = 1 + n
        boards.append(
            {
                "id": board_id,
                "name": f"{proj['key']} board",
                "type": "kanban" if kanban else "scrum",
                "project_key": proj["key"],
            }
        )
        if kanban:
            continue
        sprint_start = _ms(start_on, 2)
        s = 1
        while sprint_start < b.end_ms + 28 * DAY_MS:
            end = sprint_start + 14 * DAY_MS
            if end <= b.end_ms:
                state, complete = "closed", end + 3 * HOUR_MS
            elif sprint_start <= b.end_ms:
                state, complete = "active", None
            else:
                state, complete = "future", None
            sprints.append(
                {
                    "id": 100 * board_id + s,
                    "board_id": board_id,
                    "name": f"{proj['key']} Sprint {s}",
                    "state": state,
                    "start_at": sprint_start if state != "future" else None,
                    "end_at": end if state != "future" else None,
                    "complete_at": complete,
                    "goal": rng.choice(["", "交付核心功能", "Stabilise release", "性能优化"]),
                }
            )
            sprint_start = end
            s += 1
    # One overdue version: unreleased, release date in the past.
    for v in versions:
        if not v["released"] and v["release_on"] < today.isoformat():
            break
    else:
        versions[1]["released"] = False

    site_issues: list[dict[str, Any]] = []
    next_issue_id = [10_000]

    def new_issue(proj: dict[str, Any], itype: str, summary: str, created: int) -> dict[str, Any]:
        next_issue_id[0] += 1
        proj["_n"] = proj.get("_n", 0) + 1
        assignee = rng.choice(people)["account_id"] if rng.random() < 0.9 else None
        issue = {
            "id": next_issue_id[0],
            "key": f"{proj['key']}-{proj['_n']}",
            "project": proj["key"],
            "type": itype,
            "summary": summary,
            "description": f"{summary}\n\n背景 / Background: generated for seed {seed}.",
            "status": "To Do",
            "resolution": None,
            "priority": rng.choices(
                ["Highest", "High", "Medium", "Low", "Lowest"], [1, 3, 8, 3, 1]
            )[0],
            "assignee": assignee,
            "reporter": rng.choice(people)["account_id"],
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
        site_issues.append(issue)
        return issue

    def add_history(issue: dict[str, Any], at: int, author: str, items: list[dict]) -> None:
        issue["histories"].append(
            {"id": b.nid("history"), "author": author, "created": at, "items": items}
        )
        issue["updated"] = max(issue["updated"], at)

    def status_item(frm: str, to: str) -> dict[str, Any]:
        return {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": frm, "to": to}

    def walk(issue: dict[str, Any], path: list[str], horizon: int) -> None:
        t = issue["created"]
        author = issue["assignee"] or issue["reporter"]
        for frm, to in zip(path, path[1:], strict=False):
            t += rng.randrange(2 * HOUR_MS, 6 * DAY_MS)
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
            add_history(issue, t, author, items)
            issue["status"] = to

    total_pmo = (projects - 1) * 4
    per_project = max(8, (issues - total_pmo) // (projects - 1))
    type_weights = (
        ["Story"] * 45
        + ["Task"] * 20
        + ["Bug"] * 15
        + ["Sub-task"] * 12
        + ["Risk"] * 3
        + ["Epic"] * 5
    )
    nasty_left = list(NASTY_TITLES)
    version_by_project: dict[str, list[dict]] = {}
    for v in versions:
        version_by_project.setdefault(v["project_key"], []).append(v)
    sprints_by_project: dict[str, list[dict]] = {}
    board_project = {bd["id"]: bd["project_key"] for bd in boards}
    for sp in sprints:
        sprints_by_project.setdefault(board_project[sp["board_id"]], []).append(sp)
    fid = field_ids
    risks_for_registry: dict[str, list[int]] = {}

    for proj in project_rows[:-1]:
        key = proj["key"]
        epics: list[dict] = []
        parents: list[dict] = []
        n_target = per_project
        for n in range(n_target):
            created = b.start_ms + int((b.end_ms - b.start_ms - DAY_MS) * (n / n_target) ** 1.3)
            created += rng.randrange(0, HOUR_MS)
            itype = "Epic" if n < 3 or not epics else rng.choice(type_weights)
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
            issue = new_issue(proj, itype, summary, created)
            if itype == "Epic":
                epics.append(issue)
                issue["custom"]["epic_name"] = summary
            elif itype == "Sub-task":
                issue["parent"] = rng.choice(parents[-30:])["id"]
            else:
                issue["parent"] = rng.choice(epics[-6:])["id"] if rng.random() < 0.8 else None
                parents.append(issue)
            # Estimates, dates, versions, sprints.
            if itype in ("Story", "Task", "Bug") and rng.random() < 0.85:
                issue["story_points"] = rng.choice([1, 2, 3, 5, 8, 13])
            if itype != "Epic" and rng.random() < 0.75:
                est = rng.choice([2, 4, 8, 16, 24]) * 3600
                issue["original_s"] = est
                issue["remaining_s"] = est
            if rng.random() < 0.7 or itype == "Epic":
                issue["due_on"] = _on(created + rng.randrange(7, 60) * DAY_MS)
            if rng.random() < 0.5:
                issue["start_on"] = _on(created + rng.randrange(0, 5) * DAY_MS)
            pv = [v for v in version_by_project[key] if v["release_on"] >= _on(created)]
            if pv and rng.random() < 0.7:
                issue["fix_versions"] = [pv[0]["id"]]
            if itype not in ("Epic", "Sub-task", "Risk"):
                ps = [
                    s
                    for s in sprints_by_project.get(key, [])
                    if s["state"] == "future" or (s["end_at"] or 0) >= created
                ]
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
                issue["custom"]["risk_review_on"] = _on(created + 14 * DAY_MS)
                if p * i >= 15 and rng.random() < 0.5:
                    issue["custom"]["escalated_to_pmo"] = "Yes"
                risks_for_registry.setdefault(key, []).append(issue["id"])
            if itype in ("Story", "Task") and rng.random() < 0.6:
                issue["custom"]["acceptance_criteria"] = "Given/When/Then 验收标准"
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
            walk(issue, path, b.end_ms)
            if issue["status"] == "Done" and rng.random() < 0.05:
                issue["resolution"] = "Won't Do"
                issue["histories"][-1]["items"][1]["to"] = "Won't Do"
            extra = rng.randrange(4, 9)
            for _ in range(extra):
                t = issue["created"] + rng.randrange(HOUR_MS, 40 * DAY_MS)
                if t >= b.end_ms:
                    continue
                author = rng.choice(people)["account_id"]
                kind = rng.random()
                if kind < 0.35 and issue["due_on"]:
                    old = issue["due_on"]
                    new = (
                        date.fromisoformat(old) + timedelta(days=rng.randrange(3, 15))
                    ).isoformat()
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
                add_history(issue, t, author, items)
            issue["histories"].sort(key=lambda h: (h["created"], h["id"]))
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
        # Links inside the project.
        plain = [i for i in site_issues if i["project"] == key and i["type"] != "Epic"]
        for _ in range(max(1, len(plain) // 12)):
            a, c = rng.sample(plain, 2)
            kind = rng.choice(["Blocks", "Blocks", "Relates", "Duplicate"])
            lid = 10_000 + b.nid("link")
            a["links"].append({"id": lid, "type": kind, "direction": "outward", "other": c["id"]})
            c["links"].append({"id": lid, "type": kind, "direction": "inward", "other": a["id"]})

    # The PMO registry project: one Project issue per delivery project + linked records.
    pmo = project_rows[-1]
    phases = ["Proposed", "Approved", "Planning", "PlanApproved", "Execution"]
    for rank, proj in enumerate(project_rows[:-1], start=1):
        created = b.start_ms - 20 * DAY_MS + rank * HOUR_MS
        reg = new_issue(pmo, "Project", f"{proj['name']} 项目立项", created)
        reg["assignee"] = proj["lead"]
        pm = rng.choice(people)
        reg["custom"].update(
            {
                "objective": f"{proj['name']}: 提升客户满意度 / improve customer satisfaction",
                "scope": "范围: 核心模块 + 数据迁移",
                "deliverables": "系统上线, 用户手册, 培训",
                "assumptions": "预算已批准; 供应商按期交付",
                "strategic_fit": "数字化转型战略",
                "sponsor": rng.choice(people)["account_id"],
                "pm": pm["account_id"],
                "planned_start_on": start_on.isoformat(),
                "planned_end_on": (today + timedelta(days=60 + 30 * rank)).isoformat(),
                "priority_rank": float(rank),
                "subplans": rng.sample(SELECT_OPTIONS["subplans"], rng.randrange(5, 9)),
            }
        )
        if rank == 2:
            reg["custom"].pop("assumptions")
        walk(reg, phases if rank != len(project_rows) - 1 else phases[:3], b.start_ms + DAY_MS * 7)
        reg["remote_links"] = [
            {
                "id": 10_000 + b.nid("link"),
                "title": f"{name}计划.docx",
                "url": f"https://wiki.example.cn/{proj['key']}/{n}",
                "relationship": "sub-plan",
            }
            for n, name in enumerate(["风险管理", "沟通管理"])
        ]
        linked: list[dict] = []
        week = b.start_ms + 7 * DAY_MS
        n_reports = 0
        while week < b.end_ms and n_reports < 3 + rank:
            week = b.end_ms - (3 + rank - n_reports) * 7 * DAY_MS
            rep = new_issue(pmo, "Status Report", f"{proj['key']} 周报 W{n_reports + 1}", week)
            rep["custom"]["rag"] = rng.choice(["Green", "Green", "Amber", "Red"])
            rep["description"] = "进度: 正常\n成本: 可控\n质量: 良好\n风险: 见风险登记册\n问题: 无"
            linked.append(rep)
            n_reports += 1
        cr = new_issue(
            pmo, "Change Request", f"{proj['key']} 变更申请: 延期两周", b.end_ms - 30 * DAY_MS
        )
        cr["custom"].update(
            {
                "cr_reason": "供应商延期",
                "cr_impact": "里程碑推迟10个工作日",
                "cr_alternatives": "增加人力 / 缩减范围",
                "ccb_decision": rng.choice(SELECT_OPTIONS["ccb_decision"]),
            }
        )
        linked.append(cr)
        ll = new_issue(pmo, "Lessons Learned", f"{proj['key']} 经验教训", b.end_ms - 10 * DAY_MS)
        linked.append(ll)
        for target in linked:
            lid = 10_000 + b.nid("link")
            reg["links"].append(
                {"id": lid, "type": "Relates", "direction": "outward", "other": target["id"]}
            )
            target["links"].append(
                {"id": lid, "type": "Relates", "direction": "inward", "other": reg["id"]}
            )
        for rid in risks_for_registry.get(proj["key"], [])[:2]:
            lid = 10_000 + b.nid("link")
            risk = next(i for i in site_issues if i["id"] == rid)
            reg["links"].append(
                {"id": lid, "type": "Relates", "direction": "outward", "other": rid}
            )
            risk["links"].append(
                {"id": lid, "type": "Relates", "direction": "inward", "other": reg["id"]}
            )
        proj["_registry"] = reg["key"]
    for proj in project_rows:
        proj.pop("_n", None)
        proj.pop("_registry", None)

    site_issues.sort(key=lambda i: i["id"])
    counters = dict(b.counters)
    counters["issue"] = next_issue_id[0]
    counters["version"] = 10_100 + len(versions)
    return JiraSite(
        seed=seed,
        start_on=start_on.isoformat(),
        today=today.isoformat(),
        field_ids=field_ids,
        users=users,
        projects=project_rows,
        versions=versions,
        boards=boards,
        sprints=sprints,
        issues=site_issues,
        bot_account_id=bot["account_id"],
        counters=counters,
    )
