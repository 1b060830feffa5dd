"""A seeded PingCode enterprise: members, projects (scrum, kanban, waterfall) with their
project states, work item types (the nine system types plus a custom one), Chinese state
names with English state types, sprints, versions, and work items with long transition
histories, relations and workloads. Plain dicts, times as Unix seconds (what PingCode
sends), so tests can read the truth."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from pmohub.emulators.base import DEFAULT_TODAY, history_window
from pmohub.emulators.jira.people import PEOPLE

#: (id, Chinese name, English type): one state scheme shared by every type here.
STATES: tuple[tuple[str, str, str], ...] = (
    ("st-open", "打开", "pending"),
    ("st-todo", "待处理", "pending"),
    ("st-doing", "进行中", "in_progress"),
    ("st-test", "测试中", "in_progress"),
    ("st-done", "已完成", "completed"),
    ("st-closed", "已关闭", "completed"),
    ("st-rejected", "已拒绝", "completed"),
)
#: System types (id = English name) and a custom one with an opaque id, as PingCode has.
SYSTEM_TYPES: tuple[tuple[str, str], ...] = (
    ("epic", "史诗"),
    ("feature", "特性"),
    ("story", "用户故事"),
    ("requirement", "需求"),
    ("task", "任务"),
    ("bug", "缺陷"),
    ("issue", "事务"),
    ("phase", "阶段"),
    ("milestone", "里程碑"),
)
CUSTOM_TYPE = ("6401f0c8a9e3b25d7c1e0a11", "风险")
PROJECT_STATES: tuple[tuple[str, str, str], ...] = (
    ("ps-pending", "未开始", "pending"),
    ("ps-normal", "正常", "in_progress"),
    ("ps-warning", "预警", "in_progress"),
    ("ps-delayed", "延期", "in_progress"),
    ("ps-done", "结束", "completed"),
)
PRIORITIES: tuple[tuple[str, str], ...] = (
    ("pr-highest", "最高"),
    ("pr-high", "较高"),
    ("pr-medium", "普通"),
    ("pr-low", "较低"),
)
TAGS = ("前端", "后端", "性能", "安全", "客户反馈", "技术债")
PROJECTS: tuple[tuple[str, str, str], ...] = (
    ("SCR", "会员中心改版", "scrum"),
    ("KAN", "运维工单", "kanban"),
    ("WF", "数据平台建设", "waterfall"),
    ("HYB", "移动端重构", "hybrid"),
)
RELATION_TYPES = (("rt-relates", "关联"), ("rt-blocks", "阻塞"), ("rt-duplicates", "重复"))
DAY = 86_400


def epoch(at: dt.datetime) -> int:
    return int(at.timestamp())


def local_midnight(day: dt.date) -> int:
    """PingCode stores a date as the Unix second of its midnight in China (UTC+8)."""
    return epoch(dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=8))))


@dataclass
class PingCodeSite:
    users: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    sprints: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    items: list[dict[str, Any]]
    today: dt.date
    counter: list[int] = field(default_factory=lambda: [0])

    def new_id(self, kind: str) -> str:
        self.counter[0] += 1
        return f"{kind[:2]}{0xA000000 + self.counter[0]:022x}"

    def project(self, ref: str) -> dict[str, Any] | None:
        return next((p for p in self.projects if ref in (p["id"], p["identifier"])), None)

    def item(self, ref: str) -> dict[str, Any] | None:
        return next((i for i in self.items if ref in (i["id"], i["identifier"])), None)

    def user(self, uid: str | None) -> dict[str, Any] | None:
        return next((u for u in self.users if u["id"] == uid), None)


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def generate_site(
    seed: int = 7,
    *,
    projects: int = 3,
    items: int = 40,
    today: dt.date | None = None,
    people: int = 10,
    history_days: int = 400,
    max_transitions: int = 14,
) -> PingCodeSite:
    """``items`` work items per project over ``history_days`` ending on ``today``; each has
    up to ``max_transitions`` state changes (reopens included), so histories run long."""
    rng = random.Random(seed)
    today = today or DEFAULT_TODAY
    start, end = history_window(today, history_days)
    t0, t_end = epoch(start), epoch(end)
    users = [
        {
            "id": _hex(rng),
            "name": login,
            "display_name": display,
            # the Jira emulator's addresses: one person across trackers, merged by e-mail
            "email": f"{login}@example.cn",
            "mobile": f"1380000{n:04d}",
            "department": {"id": "dep-rd", "name": "研发中心"},
            "job": {"id": "job-eng", "name": "工程师"},
            "status": "disabled" if n == people - 1 else "enabled",
            "employee_number": f"E{1000 + n}",
        }
        for n, (display, login, _tz) in enumerate(PEOPLE[:people])
    ]
    site = PingCodeSite(users, [], [], [], [], today)
    ids = {"item": 0}
    for p in range(projects):
        ident, name, kind = PROJECTS[p % len(PROJECTS)]
        if p >= len(PROJECTS):
            ident, name = f"{ident}{p}", f"{name} {p}"
        members = rng.sample(users, min(len(users), rng.randint(5, 8)))
        state = PROJECT_STATES[rng.choice((1, 1, 2, 3))]
        proj = {
            "id": _hex(rng),
            "identifier": ident,
            "name": name,
            "type": kind,
            "assignee": members[0]["id"],
            "state": state[0],
            "start_at": local_midnight(start.date()),
            "end_at": local_midnight(today + dt.timedelta(days=rng.randint(30, 180))),
            "members": [u["id"] for u in members],
            "created_at": t0 - DAY,
            "created_by": members[0]["id"],
            "updated_at": t0 - DAY,
            "is_archived": 0,
            "is_deleted": 0,
        }
        site.projects.append(proj)
        sprints = _sprints(site, proj, rng, today) if kind in ("scrum", "hybrid") else []
        versions = _versions(site, proj, rng, today)
        parents: dict[str, list[dict[str, Any]]] = {"epic": [], "feature": [], "story": []}
        for n in range(1, items + 1):
            ids["item"] += 1
            kind_id = _pick_type(rng, n)
            created = rng.randint(t0, t_end - DAY)
            member_ids = proj["members"]
            item = {
                "id": f"{0x64000000 + ids['item']:024x}",
                "project_id": proj["id"],
                "identifier": f"{ident}-{n}",
                "short_id": f"{ids['item']:06d}",
                "title": f"{name} 工作项 {n}",
                "type": kind_id,
                "priority": rng.choice(PRIORITIES)[0],
                "assignee": rng.choice([*member_ids, None]),
                "participants": rng.sample(member_ids, min(2, len(member_ids))),
                "created_at": created,
                "created_by": rng.choice(member_ids),
                "parent_id": None,
                "sprint_id": None,
                "version_id": None,
                "phase": None,
                "tags": rng.sample(TAGS, rng.choice((0, 0, 1, 2))),
                "story_points": rng.choice((None, 1, 2, 3, 5, 8, 13))
                if kind_id in ("story", "requirement")
                else None,
                "estimated_workload": rng.choice((None, 4, 8, 16, 24.5)),
                "remaining_workload": None,
                "properties": {"risk_level": rng.choice(("高", "中", "低"))}
                if kind_id == CUSTOM_TYPE[0]
                else {},
                "is_deleted": 0,
                "is_archived": 0,
                "transitions": [],
                "relations": [],
                "workloads": [],
            }
            parent_kind = {"feature": "epic", "story": "feature", "task": "story", "bug": "story"}
            pool = parents.get(parent_kind.get(kind_id, ""), [])
            if pool and rng.random() < 0.7:
                item["parent_id"] = rng.choice(pool)["id"]
            if kind_id in parents:
                parents[kind_id].append(item)
            _history(item, rng, t_end, member_ids, max_transitions)
            _schedule(item, rng, sprints, versions, kind)
            _workloads(site, item, rng, t_end)
            site.items.append(item)
        _relations(site.items[-items:], rng)
    return site


def _pick_type(rng: random.Random, n: int) -> str:
    if n <= 2:
        return ("epic", "milestone")[n - 1]
    return rng.choices(
        [t for t, _ in SYSTEM_TYPES] + [CUSTOM_TYPE[0]],
        weights=(2, 4, 20, 6, 30, 20, 4, 2, 2, 3),
    )[0]


def _sprints(
    site: PingCodeSite, proj: dict[str, Any], rng: random.Random, today: dt.date
) -> list[dict[str, Any]]:
    monday = today - dt.timedelta(days=today.weekday())
    out = []
    for k in range(6):
        s = monday + dt.timedelta(weeks=2 * (k - 4))
        e = s + dt.timedelta(days=13)
        status = "completed" if e < today else ("in_progress" if s <= today else "pending")
        sprint = {
            "id": site.new_id("sprint"),
            "project_id": proj["id"],
            "name": f"{proj['identifier']} 迭代 {k + 1}",
            "status": status,
            "start_at": local_midnight(s),
            "end_at": local_midnight(e) + DAY - 1,
            "started_at": local_midnight(s) + 3600 if status != "pending" else None,
            "completed_at": local_midnight(e) + 20 * 3600 if status == "completed" else None,
            "assignee": proj["assignee"],
            "description": f"第 {k + 1} 个迭代目标",
            "updated_at": local_midnight(s),
        }
        out.append(sprint)
    site.sprints.extend(out)
    return out


def _versions(
    site: PingCodeSite, proj: dict[str, Any], rng: random.Random, today: dt.date
) -> list[dict[str, Any]]:
    out = []
    for k in range(3):
        s = today + dt.timedelta(days=-120 + 60 * k)
        e = s + dt.timedelta(days=55)
        stage = (
            ("released", "已发布", "completed") if e < today else ("doing", "进行中", "in_progress")
        )
        out.append(
            {
                "id": site.new_id("version"),
                "project_id": proj["id"],
                "name": f"v{k + 1}.0",
                "start_at": local_midnight(s),
                "end_at": local_midnight(e),
                "stage": stage,
                "released_at": local_midnight(e) + 10 * 3600 if stage[2] == "completed" else None,
                "description": f"{proj['name']} 第 {k + 1} 版",
            }
        )
    site.versions.extend(out)
    return out


def _history(
    item: dict[str, Any], rng: random.Random, t_end: int, members: list[str], longest: int
) -> None:
    """A random walk over the states: forward mostly, sometimes back (reopen), rarely
    rejected; the item's state and update time follow from the walk."""
    state = "st-open"
    at = item["created_at"]
    steps = rng.randint(0, rng.choice((2, 5, max(2, longest))))
    order = ["st-open", "st-todo", "st-doing", "st-test", "st-done", "st-closed"]
    for _ in range(steps):
        at += rng.randint(600, 6 * DAY)
        if at >= t_end:
            break
        if state in ("st-closed", "st-rejected"):
            new = rng.choice(("st-doing", "st-todo"))
        elif rng.random() < 0.05:
            new = "st-rejected"
        elif rng.random() < 0.2 and state != "st-open":
            new = order[max(0, order.index(state) - 1)]
        else:
            new = order[min(len(order) - 1, order.index(state) + 1)]
        if new == state:
            continue
        item["transitions"].append(
            {"id": f"tr{len(item['transitions'])}-{item['id'][-8:]}", "from": state,
             "to": new, "at": at, "by": rng.choice(members)}
        )  # fmt: skip
        state = new
    item["state"] = state
    item["updated_at"] = max(item["created_at"], at if item["transitions"] else item["created_at"])
    item["completed_at"] = (
        item["transitions"][-1]["at"]
        if state in ("st-done", "st-closed", "st-rejected") and item["transitions"]
        else None
    )
    item["updated_by"] = (
        item["transitions"][-1]["by"] if item["transitions"] else item["created_by"]
    )


def _schedule(
    item: dict[str, Any],
    rng: random.Random,
    sprints: list[dict[str, Any]],
    versions: list[dict[str, Any]],
    kind: str,
) -> None:
    created_day = dt.datetime.fromtimestamp(item["created_at"], dt.UTC).date()
    if item["type"] != "milestone" and rng.random() < 0.7:
        item["start_at"] = local_midnight(created_day + dt.timedelta(days=rng.randint(0, 5)))
    else:
        item["start_at"] = None  # milestone items have no start_at
    item["end_at"] = (
        local_midnight(created_day + dt.timedelta(days=rng.randint(6, 60)))
        if rng.random() < 0.7
        else None
    )
    if sprints and item["type"] in ("story", "task", "bug") and rng.random() < 0.6:
        item["sprint_id"] = rng.choice(sprints)["id"]
    if versions and rng.random() < 0.4:
        item["version_id"] = rng.choice(versions)["id"]
    if kind == "waterfall":
        item["phase"] = rng.choice(("需求分析", "设计", "开发", "测试", "上线"))
    if item["estimated_workload"] is not None and item["state"] not in ("st-done", "st-closed"):
        item["remaining_workload"] = round(item["estimated_workload"] * rng.random(), 1)
    elif item["estimated_workload"] is not None:
        item["remaining_workload"] = 0


def _workloads(site: PingCodeSite, item: dict[str, Any], rng: random.Random, t_end: int) -> None:
    if item["type"] not in ("task", "bug", "story") or rng.random() < 0.4:
        return
    for _ in range(rng.randint(1, 4)):
        day_at = item["created_at"] + rng.randint(0, 30) * DAY
        if day_at >= t_end:
            continue
        day = dt.datetime.fromtimestamp(day_at, dt.UTC).date()
        item["workloads"].append(
            {
                "id": site.new_id("workload"),
                "duration": rng.choice((0.5, 1, 2, 3.5, 4, 8)),
                "report_at": local_midnight(day),
                "report_by": item["assignee"] or item["created_by"],
                "type": rng.choice(("wt-dev", "wt-test", "wt-meeting")),
                "review_state": rng.choice(
                    ("no_review", "no_review", "approved", "pending", "rejected")
                ),
                "description": "工时登记",
                "created_at": min(day_at + 3600, t_end - 1),
            }
        )


def _relations(items: list[dict[str, Any]], rng: random.Random) -> None:
    for item in items:
        if rng.random() < 0.15 and len(items) > 1:
            other = rng.choice([i for i in items if i is not item])
            item["relations"].append(
                {"id": f"rel-{item['id'][-6:]}-{other['id'][-6:]}",
                 "type": rng.choice(RELATION_TYPES)[0], "target": other["id"]}
            )  # fmt: skip
