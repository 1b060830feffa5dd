"""The PMO registry project of a generated Jira site: one Project issue per delivery
project (charter custom fields, phase walk, sub-plan remote links), its weekly status
reports, a change request and a lessons-learned record, all linked to it, and links to
two of the project's risks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pmohub.emulators.jira.customfields import SELECT_OPTIONS
from pmohub.emulators.jira.gen_issues import IssueFactory
from pmohub.emulators.jira.gen_projects import DAY_MS, HOUR_MS


def registry_issues(
    f: IssueFactory, project_rows: list[dict[str, Any]], risks: dict[str, list[int]]
) -> None:
    """The registry records of every delivery project, in the last project (PMO)."""
    rng, b, people = f.rng, f.b, f.people
    start_on, today = b.start_on, b.today
    pmo = project_rows[-1]
    phases = ["Proposed", "Approved", "Planning", "PlanApproved", "Execution"]
    for rank, proj in enumerate(project_rows[:-1], start=1):
        created = b.start_ms - 20 * DAY_MS + rank * HOUR_MS
        reg = f.new_issue(pmo, "Project", f"{proj['name']} 项目立项", created)
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
        f.walk(
            reg, phases if rank != len(project_rows) - 1 else phases[:3], b.start_ms + DAY_MS * 7
        )
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
            rep = f.new_issue(pmo, "Status Report", f"{proj['key']} 周报 W{n_reports + 1}", week)
            rep["custom"]["rag"] = rng.choice(["Green", "Green", "Amber", "Red"])
            rep["description"] = "进度: 正常\n成本: 可控\n质量: 良好\n风险: 见风险登记册\n问题: 无"
            linked.append(rep)
            n_reports += 1
        cr = f.new_issue(
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
        ll = f.new_issue(pmo, "Lessons Learned", f"{proj['key']} 经验教训", b.end_ms - 10 * DAY_MS)
        linked.append(ll)
        for target in linked:
            lid = 10_000 + b.nid("link")
            reg["links"].append(
                {"id": lid, "type": "Relates", "direction": "outward", "other": target["id"]}
            )
            target["links"].append(
                {"id": lid, "type": "Relates", "direction": "inward", "other": reg["id"]}
            )
        for rid in risks.get(proj["key"], [])[:2]:
            lid = 10_000 + b.nid("link")
            risk = next(i for i in f.issues if i["id"] == rid)
            reg["links"].append(
                {"id": lid, "type": "Relates", "direction": "outward", "other": rid}
            )
            risk["links"].append(
                {"id": lid, "type": "Relates", "direction": "inward", "other": reg["id"]}
            )
        proj["_registry"] = reg["key"]
