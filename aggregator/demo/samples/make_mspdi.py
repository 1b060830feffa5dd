"""Write the bundled MS Project sample plan (MSPDI XML), deterministically.

    python -m aggregator.demo.samples.make_mspdi         # rewrites aggregator/demo/samples/*.xml

The plan is what MS Project 2016+ writes with File > Save As > XML, trimmed to the elements
pmohub reads plus a few it must ignore (calendars, extended attributes): a project summary
task (UID 0), summary tasks, leaf tasks with baselines, a multi-resource task, milestones,
predecessor links, and resources whose e-mail addresses match people in the spreadsheet
samples (the demo counts them once).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILE_NAME = "data_platform_plan.xml"
NS = "http://schemas.microsoft.com/project"

# UID, name, e-mail (shared with ops_migration_plan.xlsx / marketing_launch.csv on purpose)
RESOURCES = [
    (1, "李娜", "lina@example.cn"),
    (2, "Wang Fang", "WangFang@example.cn"),  # same person as 王芳 in the ops plan
    (3, "Alice Chen", "alice.chen@example.com"),
    (4, "赵磊", "zhaolei@example.cn"),
]

# UID, WBS, name, level, summary, milestone, start, finish, work h, % complete,
# baseline (start, finish, work h) or None, predecessors, assignments [(resource, work h,
# actual h)], actual start, actual finish, priority
TASKS: list[tuple] = [
    (
        1,
        "1",
        "需求与设计",
        1,
        True,
        False,
        "2026-09-01",
        "2026-09-25",
        96,
        100,
        ("2026-09-01", "2026-09-18", 80),
        [],
        [],
        "2026-09-01",
        "2026-09-25",
        700,
    ),
    (
        2,
        "1.1",
        "数据源调研",
        2,
        False,
        False,
        "2026-09-01",
        "2026-09-11",
        40,
        100,
        ("2026-09-01", "2026-09-09", 32),
        [],
        [(1, 24, 26), (4, 16, 16)],
        "2026-09-01",
        "2026-09-11",
        500,
    ),
    (
        3,
        "1.2",
        "数据模型设计",
        2,
        False,
        False,
        "2026-09-14",
        "2026-09-25",
        56,
        100,
        ("2026-09-10", "2026-09-18", 48),
        [2],
        [(2, 56, 60)],
        "2026-09-14",
        "2026-09-25",
        700,
    ),
    (
        4,
        "1.3",
        "设计评审通过",
        2,
        False,
        True,
        "2026-09-25",
        "2026-09-25",
        0,
        100,
        ("2026-09-18", "2026-09-18", 0),
        [3],
        [],
        "2026-09-25",
        "2026-09-25",
        500,
    ),
    (
        5,
        "2",
        "平台建设",
        1,
        True,
        False,
        "2026-09-28",
        "2026-12-11",
        320,
        45,
        ("2026-09-21", "2026-11-27", 300),
        [4],
        [],
        "2026-09-28",
        None,
        700,
    ),
    (
        6,
        "2.1",
        "数据接入管道",
        2,
        False,
        False,
        "2026-09-28",
        "2026-10-30",
        120,
        100,
        ("2026-09-21", "2026-10-23", 120),
        [],
        [(1, 80, 84), (2, 40, 40)],
        "2026-09-28",
        "2026-10-30",
        700,
    ),
    (
        7,
        "2.2",
        "数据仓库分层",
        2,
        False,
        False,
        "2026-10-19",
        "2026-11-27",
        120,
        40,
        ("2026-10-12", "2026-11-13", 100),
        [6],
        [(4, 120, 48)],
        "2026-10-19",
        None,
        600,
    ),
    (
        8,
        "2.3",
        "报表与看板",
        2,
        False,
        False,
        "2026-11-16",
        "2026-12-11",
        80,
        0,
        ("2026-11-02", "2026-11-27", 80),
        [7],
        [(3, 80, 0)],
        None,
        None,
        500,
    ),
    (
        9,
        "2.4",
        "平台上线",
        2,
        False,
        True,
        "2026-12-11",
        "2026-12-11",
        0,
        0,
        ("2026-11-27", "2026-11-27", 0),
        [8],
        [],
        None,
        None,
        900,
    ),
    (
        10,
        "3",
        "运营与推广",
        1,
        True,
        False,
        "2026-12-14",
        "2027-01-15",
        64,
        0,
        None,
        [9],
        [],
        None,
        None,
        500,
    ),
    (
        11,
        "3.1",
        "用户培训",
        2,
        False,
        False,
        "2026-12-14",
        "2026-12-25",
        32,
        0,
        None,
        [],
        [(3, 16, 0), (1, 16, 0)],
        None,
        None,
        500,
    ),
    (
        12,
        "3.2",
        "推广活动",
        2,
        False,
        False,
        "2026-12-28",
        "2027-01-15",
        32,
        0,
        None,
        [11],
        [(3, 32, 0)],
        None,
        None,
        300,
    ),
]


RISK_FIELD_ID = "188743731"  # MS Project's id of the Text1 task field
RISKS = {7: "高", 8: "中", 11: "低"}  # task UID -> 风险等级 (Text1)


def _hours(h: float) -> str:
    whole = int(h)
    minutes = round((h - whole) * 60)
    return f"PT{whole}H{minutes}M0S"


def _sub(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _add_resources(root: ET.Element, sub: Callable[..., ET.Element]) -> None:
    """The plan's resources: a work resource per person, an unassigned one, a material."""
    resources = sub(root, "Resources")
    unassigned = sub(resources, "Resource")
    sub(unassigned, "UID", 0)
    sub(unassigned, "ID", 0)
    sub(unassigned, "Type", 1)
    sub(unassigned, "IsNull", 0)
    for uid, name, email in RESOURCES:
        r = sub(resources, "Resource")
        sub(r, "UID", uid)
        sub(r, "ID", uid)
        sub(r, "Name", name)
        sub(r, "Type", 1)
        sub(r, "IsNull", 0)
        sub(r, "EmailAddress", email)
        sub(r, "MaxUnits", "1.00")
    material = sub(resources, "Resource")
    sub(material, "UID", 9)
    sub(material, "ID", 9)
    sub(material, "Name", "云服务器")
    sub(material, "Type", 0)


def _add_assignments(
    root: ET.Element,
    sub: Callable[..., ET.Element],
    assignments: list[tuple[int, int, float, float, str | None, str]],
) -> None:
    """One Assignment per (task, resource) with its planned and actual work."""
    block = sub(root, "Assignments")
    for a_uid, (task, resource, a_work, a_actual, a_start, start) in enumerate(assignments, 1):
        a = sub(block, "Assignment")
        sub(a, "UID", a_uid)
        sub(a, "TaskUID", task)
        sub(a, "ResourceUID", resource)
        sub(a, "Units", 1)
        sub(a, "Work", _hours(a_work))
        sub(a, "ActualWork", _hours(a_actual))
        sub(a, "RemainingWork", _hours(max(a_work - a_actual, 0)))
        sub(a, "Start", f"{start}T09:00:00")
        if a_start:
            sub(a, "ActualStart", f"{a_start}T09:00:00")


def build() -> ET.ElementTree:
    ET.register_namespace("", NS)
    q = lambda tag: f"{{{NS}}}{tag}"  # noqa: E731 - local shorthand for namespaced tags
    root = ET.Element(q("Project"))

    def sub(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
        return _sub(parent, q(tag), text)

    for tag, value in (
        ("SaveVersion", 14),
        ("Name", "data_platform_plan.xml"),
        ("Title", "数据中台建设"),
        ("Manager", "李娜"),
        ("CreationDate", "2026-08-20T09:00:00"),
        ("LastSaved", "2026-11-20T18:00:00"),
        ("ScheduleFromStart", 1),
        ("StartDate", "2026-09-01T09:00:00"),
        ("FinishDate", "2027-01-15T18:00:00"),
        ("MinutesPerDay", 480),
        ("MinutesPerWeek", 2400),
        ("CurrencyCode", "CNY"),
    ):
        sub(root, tag, value)
    # Custom field definitions: Text1 is used as 风险等级 (risk level) in this plan.
    definitions = sub(root, "ExtendedAttributes")
    definition = sub(definitions, "ExtendedAttribute")
    sub(definition, "FieldID", RISK_FIELD_ID)
    sub(definition, "FieldName", "Text1")
    sub(definition, "Alias", "风险等级")
    calendars = sub(root, "Calendars")
    cal = sub(calendars, "Calendar")
    sub(cal, "UID", 1)
    sub(cal, "Name", "标准")
    sub(cal, "IsBaseCalendar", 1)

    tasks = sub(root, "Tasks")
    summary = sub(tasks, "Task")
    for tag, value in (
        ("UID", 0), ("ID", 0), ("Name", "数据中台建设"), ("Type", 1), ("IsNull", 0),
        ("OutlineNumber", 0), ("OutlineLevel", 0), ("Summary", 1),
        ("Start", "2026-09-01T09:00:00"), ("Finish", "2027-01-15T18:00:00"),
    ):  # fmt: skip
        sub(summary, tag, value)

    assignments: list[tuple[int, int, float, float, str | None, str]] = []
    for row_id, (
        uid, wbs, name, level, is_summary, is_milestone, start, finish, work, pct,
        baseline, preds, assigned, actual_start, actual_finish, priority,
    ) in enumerate(TASKS, start=1):  # fmt: skip
        t = sub(tasks, "Task")
        sub(t, "UID", uid)
        sub(t, "ID", row_id)
        sub(t, "Name", name)
        sub(t, "Type", 0)
        sub(t, "IsNull", 0)
        sub(t, "CreateDate", "2026-08-20T09:00:00")
        sub(t, "WBS", wbs)
        sub(t, "OutlineNumber", wbs)
        sub(t, "OutlineLevel", level)
        sub(t, "Priority", priority)
        sub(t, "Start", f"{start}T09:00:00")
        sub(t, "Finish", f"{finish}T18:00:00")
        sub(t, "Work", _hours(work))
        sub(t, "Milestone", int(is_milestone))
        sub(t, "Summary", int(is_summary))
        sub(t, "Active", 1)
        sub(t, "PercentComplete", pct)
        actual = sum(a[2] for a in assigned) if assigned else work * pct / 100
        sub(t, "ActualWork", _hours(actual))
        sub(t, "RemainingWork", _hours(max(work - actual, 0) if pct < 100 else 0))
        if actual_start:
            sub(t, "ActualStart", f"{actual_start}T09:00:00")
        if actual_finish:
            sub(t, "ActualFinish", f"{actual_finish}T18:00:00")
        for pred in preds:
            link = sub(t, "PredecessorLink")
            sub(link, "PredecessorUID", pred)
            sub(link, "Type", 1)  # finish-to-start
            sub(link, "CrossProject", 0)
            sub(link, "LinkLag", 0)
            sub(link, "LagFormat", 7)
        if baseline:
            b = sub(t, "Baseline")
            sub(b, "Number", 0)
            sub(b, "Start", f"{baseline[0]}T09:00:00")
            sub(b, "Finish", f"{baseline[1]}T18:00:00")
            sub(b, "Work", _hours(baseline[2]))
        if uid in RISKS:
            ext = sub(t, "ExtendedAttribute")
            sub(ext, "FieldID", RISK_FIELD_ID)
            sub(ext, "Value", RISKS[uid])
        for resource, a_work, a_actual in assigned:
            assignments.append(
                (uid, resource, a_work, a_actual, actual_start if a_actual else None, start)
            )

    _add_resources(root, sub)
    _add_assignments(root, sub, assignments)
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def main(out_dir: Path = HERE) -> Path:
    path = out_dir / FILE_NAME
    build().write(path, encoding="UTF-8", xml_declaration=True)
    return path


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
