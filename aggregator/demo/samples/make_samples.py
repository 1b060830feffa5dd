"""Write the bundled sample spreadsheets for ``pmohub demo`` (deterministic: the same bytes
on every run, so the committed files can be checked against this script).

    python -m aggregator.demo.samples.make_samples [OUT_DIR]

A small PMO portfolio around "today" = 2026-11-21:

- ``ops_migration_plan.xlsx``: 运维迁移 (OPS-MIG), Chinese headers, a title block above
  the header, WBS hierarchy, epics/tasks/milestones, e-mails in a column, some rows
  overdue, done, unassigned, or without an estimate, dates in several spellings.
- ``marketing_launch.csv``: product launch (MKT-LAUNCH), English headers, a Parent
  column, milestone rows plus a Milestone column naming them; 李娜 works on both
  projects (same e-mail), which the people merge picks up.
- ``bad_rows.csv``: a few good rows and one of each kind of bad row, for demos and tests
  of bad-row reporting.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXED_TIME = dt.datetime(2026, 11, 20, 18, 0, 0)
ZIP_TIME = (2026, 11, 20, 18, 0, 0)

PEOPLE = {
    "张伟": "zhangwei@example.cn",
    "李娜": "lina@example.cn",
    "王芳": "wangfang@example.cn",
    "刘洋": "liuyang@example.cn",
    "陈静": "chenjing@example.cn",
}

D = dt.date

# WBS, 编号, 任务名称, 类型, 负责人, 开始, 截止, 实际完成, 状态, 优先级, 预计工时, 已用工时,
# 剩余工时, 前置任务, 里程碑, 标签. Dates: native date cells mostly; some typed as text the
# way people type them (2026/10/8, 2026年12月1日) because real sheets look like that.
# fmt: off
OPS_ROWS: list[tuple[object, ...]] = [
    ("1", "OPS-001", "调研与规划", "史诗", "张伟", D(2026, 9, 1), D(2026, 9, 30), D(2026, 9, 29), "已完成", "高", 80, 76, 0, "", "", "规划"),
    ("1.1", "OPS-002", "现状盘点（服务器、应用、依赖）", "任务", "王芳", D(2026, 9, 1), D(2026, 9, 11), D(2026, 9, 10), "已完成", "中", 24, 26, 0, "", "", "规划"),
    ("1.2", "OPS-003", "迁移方案设计", "任务", "张伟", D(2026, 9, 10), D(2026, 9, 22), D(2026, 9, 24), "已完成", "高", 32, 36, 0, "OPS-002", "", "规划,架构"),
    ("1.3", "OPS-004", "方案评审", "任务", "张伟", D(2026, 9, 24), D(2026, 9, 29), D(2026, 9, 29), "已完成", "高", 8, 6, 0, "OPS-003", "", "规划"),
    ("1.4", "OPS-005", "方案评审通过", "里程碑", "张伟", None, D(2026, 9, 30), D(2026, 9, 29), "已完成", "高", None, None, None, "OPS-004", "", ""),
    ("2", "OPS-006", "环境准备", "史诗", "李娜", D(2026, 10, 8), D(2026, 11, 28), None, "进行中", "高", 120, 90, 30, "OPS-005", "", "环境"),
    ("2.1", "OPS-007", "新机房网络开通", "任务", "刘洋", "2026/10/8", "2026/10/16", "2026/10/15", "已完成", "高", 16, 18, 0, "", "", "环境,网络"),
    ("2.2", "OPS-008", "Kubernetes 集群搭建", "任务", "李娜", D(2026, 10, 12), D(2026, 10, 30), D(2026, 10, 30), "已完成", "高", 40, 44, 0, "OPS-007", "", "环境"),
    ("2.3", "OPS-009", "监控告警接入", "任务", "王芳", D(2026, 10, 26), D(2026, 11, 10), None, "进行中", "中", 24, 20, 8, "OPS-008", "", "环境,监控"),
    ("2.4", "OPS-010", "CI/CD 流水线迁移", "任务", "李娜", D(2026, 10, 20), D(2026, 11, 6), D(2026, 11, 5), "已完成", "中", 24, 22, 0, "OPS-008", "", "环境"),
    ("2.5", "OPS-011", "安全基线加固", "任务", "刘洋", D(2026, 11, 9), D(2026, 11, 28), None, "进行中", "高", 16, 6, 10, "", "", "安全"),
    ("3", "OPS-012", "应用迁移", "史诗", "张伟", D(2026, 11, 2), D(2026, 12, 15), None, "进行中", "高", 200, 70, 130, "", "", "迁移"),
    ("3.1", "OPS-013", "批次一：内部工具", "任务", "陈静", D(2026, 11, 2), D(2026, 11, 13), D(2026, 11, 13), "已完成", "中", 16, 15, 0, "OPS-008", "", "迁移"),
    ("3.1.1", "OPS-014", "Wiki 迁移", "子任务", "陈静", D(2026, 11, 2), D(2026, 11, 6), D(2026, 11, 6), "已完成", "低", 8, 7, 0, "", "", "迁移"),
    ("3.1.2", "OPS-015", "Jenkins 迁移", "子任务", "陈静", D(2026, 11, 6), D(2026, 11, 13), D(2026, 11, 13), "已完成", "低", 8, 8, 0, "OPS-010", "", "迁移"),
    ("3.2", "OPS-016", "批次二：业务系统", "任务", "张伟", D(2026, 11, 9), D(2026, 12, 10), None, "进行中", "高", 96, 30, 66, "OPS-013", "业务系统切换完成", "迁移"),
    ("3.2.1", "OPS-017", "订单服务迁移", "子任务", "李娜", D(2026, 11, 9), D(2026, 11, 15), None, "进行中", "高", 24, 28, 8, "", "业务系统切换完成", "迁移,核心"),
    ("3.2.2", "OPS-018", "支付网关迁移", "子任务", "王芳", D(2026, 11, 23), "2026年12月5日", None, "未开始", "高", 32, None, 32, "OPS-017", "业务系统切换完成", "迁移,核心"),
    ("3.2.3", "OPS-019", "用户中心迁移", "子任务", None, D(2026, 11, 30), "2026年12月10日", None, "未开始", "高", 24, None, None, "", "业务系统切换完成", "迁移"),
    ("3.2.4", "OPS-020", "报表服务迁移", "子任务", "陈静", D(2026, 12, 1), D(2026, 12, 10), None, "未开始", "低", None, None, None, "", "业务系统切换完成", "迁移"),
    ("3.3", "OPS-021", "数据库迁移", "任务", "刘洋", D(2026, 11, 12), D(2026, 12, 12), None, "进行中", "高", 64, 20, 44, "", "业务系统切换完成", "数据库"),
    ("3.3.1", "OPS-022", "MySQL 主从切换演练", "子任务", "刘洋", D(2026, 11, 12), D(2026, 11, 20), None, "进行中", "高", 16, 14, 4, "", "", "数据库"),
    ("3.3.2", "OPS-023", "Redis 集群迁移", "子任务", "刘洋", D(2026, 11, 25), D(2026, 12, 4), None, "未开始", "中", 16, None, 16, "OPS-022", "", "数据库"),
    ("3.3.3", "OPS-024", "数据一致性校验", "子任务", None, D(2026, 12, 4), D(2026, 12, 12), None, "未开始", "高", None, None, None, "OPS-023", "", "数据库"),
    ("3.4", "OPS-025", "业务系统切换完成", "里程碑", "张伟", None, D(2026, 12, 15), None, "未开始", "高", None, None, None, "OPS-016,OPS-021", "", ""),
    ("4", "OPS-026", "切换与验证", "史诗", "张伟", D(2026, 12, 14), D(2026, 12, 31), None, "未开始", "高", 80, None, 80, "OPS-025", "", "割接"),
    ("4.1", "OPS-027", "割接演练", "任务", "李娜", D(2026, 12, 14), D(2026, 12, 18), None, "未开始", "高", 16, None, 16, "", "", "割接"),
    ("4.2", "OPS-028", "正式割接", "任务", "张伟", D(2026, 12, 21), D(2026, 12, 22), None, "未开始", "高", 16, None, 16, "OPS-027", "", "割接"),
    ("4.3", "OPS-029", "性能压测", "任务", "王芳", D(2026, 12, 15), D(2026, 12, 18), None, "未开始", "中", 24, None, 24, "", "", "割接,性能"),
    ("4.4", "OPS-030", "回滚预案", "任务", "刘洋", D(2026, 11, 16), D(2026, 12, 11), None, "阻塞", "高", 16, 4, 12, "", "", "割接,风险"),
    ("4.5", "OPS-031", "正式割接完成", "里程碑", "张伟", None, D(2026, 12, 22), None, "未开始", "高", None, None, None, "OPS-028", "", ""),
    ("5", "OPS-032", "收尾", "史诗", "张伟", D(2027, 1, 4), D(2027, 1, 29), None, "未开始", "中", 56, None, 56, "OPS-031", "", "收尾"),
    ("5.1", "OPS-033", "旧机房下线", "任务", "刘洋", D(2027, 1, 4), D(2027, 1, 15), None, "未开始", "中", 24, None, 24, "", "", "收尾"),
    ("5.2", "OPS-034", "运维文档移交", "任务", None, D(2027, 1, 11), D(2027, 1, 22), None, "未开始", "中", None, None, None, "", "", "收尾,文档"),
    ("5.3", "OPS-035", "项目验收", "任务", "张伟", D(2027, 1, 25), D(2027, 1, 28), None, "未开始", "高", 8, None, 8, "OPS-033", "", "收尾"),
    ("5.4", "OPS-036", "经验教训总结", "任务", "王芳", D(2027, 1, 26), D(2027, 1, 29), None, "未开始", "低", 8, None, 8, "", "", "收尾"),
    ("5.5", "OPS-037", "项目验收通过", "里程碑", "张伟", None, D(2027, 1, 29), None, "未开始", "高", None, None, None, "OPS-035", "", ""),
    ("5.6", "OPS-038", "旧监控系统保留评估", "任务", "王芳", D(2026, 11, 2), D(2026, 11, 6), None, "已取消", "低", 4, 1, 0, "", "", "收尾"),
    ("2.6", "OPS-039", "堡垒机账号开通", "任务", "陈静", D(2026, 10, 12), D(2026, 10, 14), D(2026, 10, 16), "完成", "低", "2h", 3, 0, "", "", "环境,安全"),
    ("3.5", "OPS-040", "域名与证书切换", "任务", "李娜", D(2026, 12, 16), D(2026, 12, 21), None, "待办", "中", "1d", None, 8, "OPS-025", "", "割接"),
]
# fmt: on

OPS_HEADERS = [
    "WBS", "编号", "任务名称", "类型", "负责人", "负责人邮箱", "开始日期", "截止日期",
    "实际完成", "状态", "优先级", "预计工时", "已用工时", "剩余工时", "前置任务", "里程碑",
    "标签", "备注",
]  # fmt: skip

# ID, Title, Type, Assignee, Email, Start Date, Due Date, Resolved, Status, Priority,
# Estimate (h), Time Spent, Story Points, Parent, Milestone, Labels
# fmt: off
MKT_ROWS: list[tuple[object, ...]] = [
    ("MKT-1", "Launch strategy", "Epic", "Alice Chen", "2026-09-14", "2026-10-09", "2026-10-09", "Done", "High", 40, 38, 13, "", "", "strategy"),
    ("MKT-2", "Market research summary", "Task", "Alice Chen", "2026-09-14", "2026-09-25", "2026-09-24", "Done", "Medium", 16, 18, 5, "MKT-1", "", "strategy"),
    ("MKT-3", "Positioning and messaging", "Task", "Bob Li", "2026-09-21", "2026-10-02", "2026-10-05", "Done", "High", 16, 20, 5, "MKT-1", "", "strategy,copy"),
    ("MKT-4", "Budget approval", "Task", "Alice Chen", "2026-10-05", "2026-10-09", "2026-10-09", "Done", "High", 4, 3, 2, "MKT-1", "Plan approved", "budget"),
    ("MKT-5", "Plan approved", "Milestone", "Alice Chen", "", "2026-10-09", "2026-10-09", "Done", "High", "", "", "", "", "", ""),
    ("MKT-6", "Content production", "Epic", "李娜", "2026-10-12", "2026-11-27", "", "In Progress", "High", 120, 64, 34, "", "", "content"),
    ("MKT-7", "Landing page copy", "Story", "Bob Li", "2026-10-12", "2026-10-23", "2026-10-22", "Done", "High", 16, 14, 5, "MKT-6", "Launch day", "content,web"),
    ("MKT-8", "Landing page build", "Story", "李娜", "2026-10-26", "2026-11-13", "", "In Review", "High", 32, 30, 8, "MKT-6", "Launch day", "content,web"),
    ("MKT-9", "Product demo video", "Story", "Carol Wang", "2026-10-19", "2026-11-18", "", "In Progress", "High", 40, 20, 8, "MKT-6", "Launch day", "content,video"),
    ("MKT-10", "Customer case studies (3)", "Story", "Bob Li", "2026-11-02", "2026-11-20", "", "Blocked", "Medium", 24, 6, 5, "MKT-6", "Launch day", "content"),
    ("MKT-11", "Press release draft", "Task", "", "2026-11-23", "2026-12-04", "", "To Do", "Medium", 8, "", 3, "MKT-6", "Launch day", "pr"),
    ("MKT-12", "Blog post series", "Task", "Carol Wang", "2026-11-16", "2026-12-11", "", "To Do", "Low", "", "", "", "MKT-6", "", "content"),
    ("MKT-13", "Channels and events", "Epic", "Dave Zhou", "2026-11-02", "2026-12-18", "", "In Progress", "High", 80, 12, 21, "", "", "channels"),
    ("MKT-14", "Partner webinar", "Story", "Dave Zhou", "2026-11-09", "2026-12-03", "", "In Progress", "Medium", 24, 8, 5, "MKT-13", "Launch day", "events"),
    ("MKT-15", "Paid search campaign setup", "Task", "", "2026-11-30", "2026-12-08", "", "To Do", "High", 16, "", 5, "MKT-13", "Launch day", "ads"),
    ("MKT-16", "Social media calendar", "Task", "Carol Wang", "2026-11-16", "2026-11-19", "", "In Progress", "Medium", 8, 4, 2, "MKT-13", "", "social"),
    ("MKT-17", "Launch event venue booking", "Task", "Dave Zhou", "2026-10-19", "2026-10-30", "", "Cancelled", "Low", 8, 2, 2, "MKT-13", "", "events"),
    ("MKT-18", "Sales enablement", "Epic", "Bob Li", "2026-11-23", "2026-12-18", "", "To Do", "Medium", 40, "", 13, "", "", "sales"),
    ("MKT-19", "Sales deck", "Story", "Bob Li", "2026-11-23", "2026-12-04", "", "To Do", "High", 16, "", 5, "MKT-18", "Launch day", "sales"),
    ("MKT-20", "FAQ for support team", "Task", "李娜", "2026-12-01", "2026-12-11", "", "To Do", "Medium", "", "", 3, "MKT-18", "", "sales,support"),
    ("MKT-21", "Pricing page update", "Task", "", "2026-12-07", "2026-12-14", "", "To Do", "High", 8, "", 2, "MKT-18", "Launch day", "web"),
    ("MKT-22", "Launch day", "Milestone", "Alice Chen", "", "2026-12-15", "", "To Do", "High", "", "", "", "", "", ""),
    ("MKT-23", "Post-launch review", "Task", "Alice Chen", "2027-01-04", "2027-01-15", "", "To Do", "Medium", 8, "", 2, "", "", "review"),
    ("MKT-24", "Launch metrics dashboard", "Task", "Dave Zhou", "2026-11-16", "2026-12-11", "", "In Progress", "Medium", 16, 4, 5, "MKT-13", "", "analytics"),
    ("MKT-25", "Translate landing page (zh-CN)", "Task", "李娜", "2026-11-30", "2026-12-10", "", "To Do", "Medium", 12, "", 3, "MKT-6", "Launch day", "content,i18n"),
]
# fmt: on

MKT_EMAILS = {
    "Alice Chen": "alice.chen@example.com",
    "Bob Li": "bob.li@example.com",
    "Carol Wang": "carol.wang@example.com",
    "Dave Zhou": "dave.zhou@example.com",
    "李娜": "lina@example.cn",
}

MKT_HEADERS = [
    "ID", "Title", "Type", "Assignee", "Email", "Start Date", "Due Date", "Resolved",
    "Status", "Priority", "Estimate (h)", "Time Spent", "Story Points", "Parent",
    "Milestone", "Labels",
]  # fmt: skip

BAD_HEADERS = ["编号", "任务名称", "负责人", "开始日期", "截止日期", "状态", "上级编号", "预计工时"]
# fmt: off
BAD_ROWS: list[list[str]] = [
    ["B-1", "正常任务一", "张伟", "2026-11-02", "2026-11-20", "进行中", "", "8"],
    ["B-2", "日期写错", "李娜", "2026-11-02", "2026-13-01", "未开始", "", "8"],
    ["B-3", "正常任务二", "王芳", "2026/11/9", "2026年11月27日", "未开始", "B-1", "4"],
    ["B-4", "状态不认识", "王芳", "2026-11-09", "2026-11-27", "搁置", "", "4"],
    ["B-3", "编号重复", "刘洋", "2026-11-09", "2026-11-27", "未开始", "", "4"],
    ["", "忘了编号", "刘洋", "2026-11-09", "2026-11-27", "未开始", "", "4"],
    ["B-5", "工时写错", "陈静", "2026-11-09", "2026-11-27", "未开始", "", "四小时"],
    ["B-6", "上级不存在", "陈静", "2026-11-09", "2026-11-27", "未开始", "B-99", "4"],
    ["B-7", "", "陈静", "2026-11-09", "2026-11-27", "未开始", "", "4"],
    ["B-8", "正常任务三", "", "46346", "46353", "已完成", "B-1", "2"],
]
# fmt: on


def _cell_text(value: object) -> str:
    return "" if value is None else str(value)


def write_csv(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(headers)
    w.writerows(rows)
    # UTF-8 with BOM: what Excel writes for "CSV UTF-8" and needs to show Chinese correctly
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))


def _deterministic_zip(data: bytes) -> bytes:
    """openpyxl stamps the zip entries and core.xml with the wall clock; pin both."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl sets "modified" to now
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-11-20T18:00:00Z", content
                )
            dst.writestr(fixed, content)
    return out.getvalue()


def write_ops_xlsx(path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "计划"
    ws.append(["运维平台迁移项目计划（OPS-MIG）"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["项目经理：张伟    更新于 2026-11-20    工时单位：小时"])
    ws.append([])
    ws.append(OPS_HEADERS)
    for c in ws[4]:
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="DDEBF7")
    notes = {"OPS-017": "数据库连接池问题导致延期", "OPS-030": "等待 DBA 确认回滚窗口"}
    for row in OPS_ROWS:
        (
            wbs,
            rid,
            title,
            kind,
            who,
            start,
            due,
            done,
            status,
            prio,
            est,
            spent,
            rem,
            pred,
            ms,
            tags,
        ) = row
        ws.append(
            [wbs, rid, title, kind, who, PEOPLE.get(who or "") if who and rid != "OPS-030" else None,
             start, due, done, status, prio, est, spent, rem, pred or None, ms or None,
             tags or None, notes.get(str(rid))]
        )  # fmt: skip
        r = ws.max_row
        depth = str(wbs).count(".")
        ws.cell(r, 3).alignment = Alignment(indent=depth * 2)
        if kind == "史诗":
            for c in ws[r]:
                c.font = Font(bold=True)
        for col in (7, 8, 9):
            if isinstance(ws.cell(r, col).value, dt.date):
                ws.cell(r, col).number_format = "yyyy-mm-dd"
        ws.cell(r, 1).number_format = "@"  # WBS as text: 1.10 must not become 1.1
    for col, width in zip(
        "ABCDEFGHIJKLMNOPQR",
        (7, 9, 30, 7, 8, 22, 11, 11, 11, 8, 7, 9, 9, 9, 16, 16, 12, 24),
        strict=True,
    ):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "C5"
    info = wb.create_sheet("说明")
    info.append(["状态取值：未开始 / 进行中 / 阻塞 / 已完成 / 已取消"])
    info.append(["工时单位：小时（可写 1d 表示 8 小时）"])
    wb.properties.creator = "pmohub samples"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.lastModifiedBy = "pmohub samples"
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_deterministic_zip(buf.getvalue()))


def write_marketing_csv(path: Path) -> None:
    rows = []
    for (
        rid,
        title,
        kind,
        who,
        start,
        due,
        done,
        status,
        prio,
        est,
        spent,
        sp,
        parent,
        ms,
        tags,
    ) in MKT_ROWS:
        rows.append(
            [rid, title, kind, who, MKT_EMAILS.get(str(who), ""), start, due, done, status, prio,
             _cell_text(est), _cell_text(spent), _cell_text(sp), parent, ms, tags]
        )  # fmt: skip
    write_csv(path, MKT_HEADERS, rows)


def main(out_dir: Path = HERE) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    ops = out_dir / "ops_migration_plan.xlsx"
    mkt = out_dir / "marketing_launch.csv"
    bad = out_dir / "bad_rows.csv"
    write_ops_xlsx(ops)
    write_marketing_csv(mkt)
    write_csv(bad, BAD_HEADERS, BAD_ROWS)
    return [ops, mkt, bad]


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
