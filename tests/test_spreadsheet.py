"""Spreadsheet connector: real CSV/XLSX files written in tmp_path, read back through the
connector, and synced into real SQLite/PostgreSQL stores by the real sync engine."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils.datetime import from_excel, to_excel
from sqlalchemy import select

from pmohub.connectors import registry
from pmohub.connectors.base import ChildrenComplete, Problem, Skipped, SourceConfig
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.records import Link, Record, WorkItem
from pmohub.connectors.spreadsheet import SpreadsheetConnector

SAMPLES = Path(str(resources.files("pmohub.aggregator.demo.samples")))

ZH_HEADERS = ["编号", "任务名称", "负责人", "开始日期", "截止日期", "状态", "上级编号", "预计工时"]


def write_csv(
    path: Path, headers: Sequence[str], rows: Iterable[Sequence[Any]], encoding: str = "utf-8"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(headers)
        w.writerows(rows)
    return path


def write_xlsx(
    path: Path,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    above: Sequence[Sequence[Any]] = (),
    sheet: str = "Sheet1",
) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for r in above:
        ws.append(list(r))
    ws.append(list(headers))
    for r in rows:
        ws.append(list(r))
    wb.save(path)
    return path


def connector(path: Path, **options: Any) -> SpreadsheetConnector:
    status_map = options.pop("status_map", {})
    options.setdefault("project_key", "P")
    return SpreadsheetConnector(
        SourceConfig(
            name="sheet",
            type="spreadsheet",
            status_map=status_map,
            options={"path": str(path), **options},
        )
    )


def stream(c: SpreadsheetConnector) -> list[Any]:
    return [r for r in c.fetch_work_items(None) if not isinstance(r, ChildrenComplete)]


def items(c: SpreadsheetConnector) -> dict[str, WorkItem]:
    return {r.external_id: r for r in stream(c) if isinstance(r, WorkItem)}


def skipped(c: SpreadsheetConnector) -> list[Any]:
    """Every reported problem: skipped rows' errors and cleared cells' ``Problem``s (both
    have ``where``, ``field`` and a message)."""
    return [
        r.error if isinstance(r, Skipped) else r
        for r in stream(c)
        if isinstance(r, Skipped | Problem) and not getattr(r, "incomplete", False)
    ]


def assert_utc(records: Iterable[Record]) -> None:
    """Records keep their own invariants: re-validating each one passes, datetimes are UTC."""
    for r in records:
        type(r).__post_init__(r)  # type: ignore[misc]
        for name in r.__slots__:  # type: ignore[attr-defined]
            v = getattr(r, name, None)
            if isinstance(v, dt.datetime):
                assert v.utcoffset() == dt.timedelta(0), (r, name)


# --- reading: formats, encodings, headers ---------------------------------------------


def test_registered_as_builtin() -> None:
    assert registry.get("spreadsheet") is SpreadsheetConnector
    assert SpreadsheetConnector.incremental is False


def test_xlsx_with_chinese_headers_title_block_and_native_dates(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "plan.xlsx",
        [
            "编号",
            "任务名称",
            "类型",
            "负责人",
            "负责人邮箱",
            "开始日期",
            "截止日期",
            "实际完成",
            "状态",
            "预计工时",
            "已用工时",
            "标签",
            "备注",
        ],
        [
            [
                "T-1",
                "需求调研",
                "任务",
                "张伟",
                "ZhangWei@Example.cn",
                dt.datetime(2026, 5, 1),
                dt.datetime(2026, 5, 8),
                dt.datetime(2026, 5, 7, 18, 30),
                "已完成",
                16,
                15.5,
                "规划，调研",
                "note",
            ],
            [
                "T-2",
                "方案设计",
                "任务",
                "张伟",
                None,
                dt.date(2026, 5, 9),
                dt.date(2026, 5, 20),
                None,
                "进行中",
                "2d",
                None,
                None,
                None,
            ],
            [17, "数字编号", None, "李娜", None, None, None, None, None, None, None, None, None],
        ],
        above=[["运维迁移项目计划"], ["更新于 2026-11-20"], []],
        sheet="计划",
    )
    c = connector(path, sheet="计划", project_name="运维迁移")
    got = items(c)
    assert set(got) == {"T-1", "T-2", "17"}  # Excel's 17.0 is id "17"
    t1, t2, t17 = got["T-1"], got["T-2"], got["17"]
    assert (t1.title, t1.type, t1.status, t1.status_category) == (
        "需求调研",
        "任务",
        "已完成",
        "done",
    )
    assert (t1.start_on, t1.due_on) == (dt.date(2026, 5, 1), dt.date(2026, 5, 8))
    # a naive 18:30 in Asia/Shanghai is 10:30 UTC
    assert t1.resolved_at == dt.datetime(2026, 5, 7, 10, 30, tzinfo=dt.UTC)
    assert (t1.original_estimate_h, t1.time_spent_h) == (16.0, 15.5)
    assert t1.labels == ("规划", "调研")
    # the e-mail from one row identifies 张伟 on every row
    assert t1.assignee == t2.assignee == "zhangwei@example.cn"
    assert t2.original_estimate_h == 16.0  # 2d x 8 h
    assert (t17.status, t17.status_category, t17.type, t17.assignee) == (
        "todo",
        "todo",
        "Task",
        "李娜",
    )
    assert_utc(got.values())
    facts = c.check()
    assert facts["header_row"] == 4 and facts["sheet"] == "计划" and facts["rows"] == 3
    assert facts["unmapped_headers"] == ["备注"] and facts["bad_rows"] == 0
    people = {p.external_id: p for p in c.fetch_people()}
    assert set(people) == {"zhangwei@example.cn", "李娜"}
    assert people["zhangwei@example.cn"].display_name == "张伟"
    [project] = c.fetch_projects()
    assert (project.key, project.name) == ("P", "运维迁移")


def test_time_zone_option_applies_to_naive_datetimes(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv", ["ID", "Title", "Resolved"], [["A", "a", "2026-05-01 09:00"]]
    )
    assert items(connector(path))["A"].resolved_at == dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)
    got = items(connector(path, time_zone="Europe/Berlin"))["A"].resolved_at
    assert got == dt.datetime(2026, 5, 1, 7, 0, tzinfo=dt.UTC)
    with pytest.raises(ConfigError, match="time_zone"):
        connector(path, time_zone="Mars/Olympus")


def test_gbk_csv_reads_like_utf8(tmp_path: Path) -> None:
    rows = [["T1", "数据库迁移", "王芳", "2026/11/2", "2026年11月20日", "进行中", "", "8"],
            ["T2", "割接演练", "刘洋", "2026-12-14", "2026-12-18", "未开始", "T1", "16"]]  # fmt: skip
    gbk = write_csv(tmp_path / "gbk.csv", ZH_HEADERS, rows, encoding="gbk")
    utf = write_csv(tmp_path / "utf.csv", ZH_HEADERS, rows, encoding="utf-8-sig")
    gbk_bytes = gbk.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        gbk_bytes.decode("utf-8")  # the fixture really is GBK, not accidentally UTF-8
    a, b = items(connector(gbk)), items(connector(utf))
    assert a == b and a["T1"].title == "数据库迁移" and a["T2"].parent_id == "T1"
    assert connector(gbk).check()["encoding"] == "gb18030"


def test_semicolon_csv_and_english_headers(tmp_path: Path) -> None:
    path = tmp_path / "en.csv"
    path.write_text(
        "Key;Summary;Assignee;Due Date;Status;Story Points\n"
        "W-1;Write copy;Bob Li;2026-12-01;In Progress;3\n",
        encoding="utf-8",
    )
    w1 = items(connector(path))["W-1"]
    assert (w1.title, w1.assignee, w1.story_points, w1.status_category) == (
        "Write copy", "Bob Li", 3.0, "in_progress"
    )  # fmt: skip


SERIAL_0501 = int(to_excel(dt.datetime(2026, 5, 1)))


@pytest.mark.parametrize(
    "cell",
    ["2026-05-01", "2026-5-1", "2026/5/1", "2026/05/01", "2026.05.01", "2026.5.1", "2026年5月1日",
     "2026 年 5 月 1 日", "20260501", str(SERIAL_0501), "2026-05-01 17:45", "2026/5/1 8:05",
     "２０２６－０５－０１"],
)  # fmt: skip
def test_date_formats_in_text_cells(tmp_path: Path, cell: str) -> None:
    path = write_csv(tmp_path / "d.csv", ["编号", "任务名称", "截止日期"], [["D1", "x", cell]])
    assert items(connector(path))["D1"].due_on == dt.date(2026, 5, 1)


@pytest.mark.parametrize(
    "cell",
    [dt.datetime(2026, 5, 1), dt.datetime(2026, 5, 1, 23, 59), dt.date(2026, 5, 1), SERIAL_0501,
     float(SERIAL_0501) + 0.75],
)  # fmt: skip
def test_date_formats_in_xlsx_cells(tmp_path: Path, cell: Any) -> None:
    path = write_xlsx(tmp_path / "d.xlsx", ["编号", "任务名称", "截止日期"], [["D1", "x", cell]])
    assert items(connector(path))["D1"].due_on == dt.date(2026, 5, 1)


def test_excel_serial_numbers_agree_with_openpyxl() -> None:
    from pmohub.connectors.spreadsheet.mapping import to_date

    for serial in (61, 1000, 25569, 45000, SERIAL_0501, 60000):
        assert to_date("due_on", serial) == from_excel(serial).date()


def test_month_first_dates_only_when_configured(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "us.csv", ["ID", "Title", "Due Date"], [["U1", "x", "5/1/2026"]])
    [err] = skipped(connector(path))
    assert err.field == "Due Date" and "5/1/2026" in str(err) and "date_formats" in str(err)
    got = items(connector(path, date_formats=["%m/%d/%Y"]))["U1"]
    assert got.due_on == dt.date(2026, 5, 1)


# --- status mapping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "category"),
    [("未开始", "todo"), ("待办", "todo"), ("进行中", "in_progress"), ("处理中", "in_progress"),
     ("已完成", "done"), ("完成", "done"), ("已关闭", "done"), ("已取消", "cancelled"),
     ("取消", "cancelled"), ("To Do", "todo"), ("in progress", "in_progress"), ("DONE", "done"),
     ("Cancelled", "cancelled"), ("阻塞", "in_progress"), ("", "todo")],
)  # fmt: skip
def test_builtin_status_words(tmp_path: Path, status: str, category: str) -> None:
    path = write_csv(tmp_path / "s.csv", ["编号", "任务名称", "状态"], [["S1", "x", status]])
    assert items(connector(path))["S1"].status_category == category


def test_status_map_overrides_and_unknown_status_is_reported(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        ["编号", "任务名称", "状态"],
        [["S1", "a", "待验收"], ["S2", "b", "完成"], ["S3", "c", "搁置"], ["S4", "d", "进行中"]],
    )
    c = connector(path, status_map={"待验收": "review", "完成": "cancelled"})
    got = items(c)
    assert got["S1"].status_category == "in_progress" and got["S1"].status == "待验收"
    assert got["S2"].status_category == "cancelled"  # the config beats the built-in word
    assert got["S4"].status_category == "in_progress"
    [err] = skipped(c)
    assert err.where == "s.csv row 4" and err.field == "状态"
    assert "搁置" in str(err) and "status_map" in str(err)
    assert "S3" in set(c.census("P"))  # reported, not deleted
    with pytest.raises(ConfigError, match="status_map"):
        connector(path, status_map={"搁置": "parked"})


# --- hierarchy ------------------------------------------------------------------------


def test_parent_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        ["编号", "任务名称", "上级编号", "类型"],
        [["E1", "epic", "", "史诗"], ["T1", "task", "E1", ""], ["S1", "sub", "T1", ""],
         ["M1", "gate", "", "里程碑"], ["T2", "under milestone", "M1", ""],
         ["T3", "dangling", "E9", ""], ["C1", "loop a", "C2", ""], ["C2", "loop b", "C1", ""]],
    )  # fmt: skip
    c = connector(path)
    got = items(c)
    assert got["E1"].parent_id is None
    assert got["T1"].parent_id == "E1" and got["S1"].parent_id == "T1"
    assert got["T2"].parent_id is None and got["T2"].milestone_ids == ("M1",)
    errors = {e.where: e for e in skipped(c)}
    assert set(errors) == {"p.csv row 7", "p.csv row 8", "p.csv row 9"}
    assert errors["p.csv row 7"].field == "上级编号" and "E9" in str(errors["p.csv row 7"])
    assert "loops" in str(errors["p.csv row 8"])
    assert [m.external_id for m in c.fetch_milestones()] == ["M1"]


def test_wbs_codes(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "w.xlsx",
        ["WBS", "编号", "任务名称", "类型"],
        [["1", "A", "epic", "史诗"], ["1.1", "B", "task", None], ["1.1.1", "C", "sub", None],
         ["1.2", "D", "task 2", None], ["1.3", "MS", "gate", "里程碑"],
         ["1.3.1", "E", "under gate", None], ["2.4.1", "F", "no 2 / 2.4", None],
         ["1.5.2", "G", "1.5 missing", None], [2, "H", "numeric wbs", None],
         ["2.1", "I", "under numeric", None]],
    )  # fmt: skip
    got = items(connector(path))
    parents = {k: v.parent_id for k, v in got.items()}
    assert parents == {
        "A": None, "B": "A", "C": "B", "D": "A",
        "E": "A",  # a milestone is not a parent: the next ancestor is
        "F": "H", "G": "A", "H": None, "I": "H",
    }  # fmt: skip


def test_parent_column_wins_over_wbs(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pw.csv",
        ["WBS", "编号", "任务名称", "上级编号"],
        [["1", "A", "a", ""], ["2", "B", "b", ""], ["1.1", "C", "c", "B"], ["1.2", "D", "d", ""]],
    )
    got = items(connector(path))
    assert got["C"].parent_id == "B" and got["D"].parent_id == "A"


# --- bad rows and bad config ----------------------------------------------------------


def test_bad_rows_reported_with_file_row_column_and_rest_loads() -> None:
    c = connector(SAMPLES / "bad_rows.csv", project_key="BAD")
    got = items(c)
    # a bad cell clears that field and keeps the row (issue 12); a row without id or
    # title, or repeating an id, is not a task and is skipped
    assert set(got) == {"B-1", "B-2", "B-3", "B-4", "B-5", "B-6", "B-8"}
    assert got["B-2"].due_on is None and got["B-2"].start_on == dt.date(2026, 11, 2)
    assert (got["B-4"].status, got["B-4"].status_category) == ("搁置", "in_progress")
    assert got["B-5"].original_estimate_h is None and got["B-5"].assignee == "陈静"
    assert got["B-6"].parent_id is None
    assert got["B-3"].title == "正常任务二" and got["B-3"].parent_id == "B-1"
    assert got["B-8"].due_on == from_excel(46353).date()
    errors = {(e.where, e.field): str(e) for e in skipped(c)}
    assert set(errors) == {
        ("bad_rows.csv row 3", "截止日期"),
        ("bad_rows.csv row 5", "状态"),
        ("bad_rows.csv row 6", "编号"),
        ("bad_rows.csv row 7", "编号"),
        ("bad_rows.csv row 8", "预计工时"),
        ("bad_rows.csv row 9", "上级编号"),
        ("bad_rows.csv row 10", "任务名称"),
    }
    assert "cannot read date '2026-13-01'" in errors[("bad_rows.csv row 3", "截止日期")]
    assert "duplicate id 'B-3'" in errors[("bad_rows.csv row 6", "编号")]
    assert "row 4" in errors[("bad_rows.csv row 6", "编号")]  # where the first one is
    assert all(e.source == "sheet" for e in skipped(c) if isinstance(e, RecordError))
    # cleared cells are warnings naming the raw value, not skipped rows
    problems = {p.where: p for p in stream(c) if isinstance(p, Problem)}
    assert set(problems) == {f"bad_rows.csv row {n}" for n in (3, 5, 8, 9)}
    assert problems["bad_rows.csv row 8"].value == "四小时"
    assert "B-5" in str(problems["bad_rows.csv row 8"])
    # ids that are in the file stay in the census even when their row is bad
    assert sorted(c.census("BAD")) == sorted(f"B-{i}" for i in range(1, 9))


def test_sheet_name_in_where_when_configured(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "plan.xlsx", ["编号", "任务名称", "截止日期"], [["A", "a", "2026-02-30"]],
        sheet="计划",
    )  # fmt: skip
    [err] = skipped(connector(path, sheet="计划"))
    assert err.where == "plan.xlsx sheet '计划' row 2" and err.field == "截止日期"


def test_plan_without_id_column_loads_with_title_ids(tmp_path: Path) -> None:
    """Issue 15: the smallest plan (title and owner, no 编号) loads; ids are the title
    within its parent, repeats numbered, and check() says how ids were made and what
    renames do."""
    path = write_csv(
        tmp_path / "noid.csv",
        ["任务名称", "上级任务", "负责人", "截止日期"],
        [
            ["上线准备", "", "张伟", "2026-12-01"],
            ["数据迁移", "上线准备", "李娜", "2026-11-20"],
            ["测试", "上线准备", "李娜", "2026-11-25"],
            ["测试", "上线准备", "陈静", "2026-11-26"],
            ["测试", "", "张伟", "2026-11-30"],
        ],
    )
    c = connector(path)
    got = items(c)
    assert set(got) == {
        "上线准备",
        "上线准备 / 数据迁移",
        "上线准备 / 测试",
        "上线准备 / 测试 #2",
        "测试",
    }
    assert got["上线准备 / 数据迁移"].parent_id == "上线准备"
    assert got["上线准备 / 测试 #2"].assignee and got["测试"].parent_id is None
    assert skipped(c) == []
    assert sorted(c.census("P")) == sorted(got)
    facts = c.check()
    assert "title within its parent" in facts["ids"] and "renaming" in facts["ids"]
    # the same file read again gives the same ids (they are keys, not row numbers)
    assert set(items(connector(path))) == set(got)


def test_plan_without_id_column_uses_wbs_codes(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "w.csv",
        ["WBS", "任务名称", "负责人"],
        [["1", "a", "张伟"], ["1.1", "b", "李娜"], ["", "no code", "李娜"]],
    )
    c = connector(path)
    got = items(c)
    assert set(got) == {"1", "1.1"} and got["1.1"].parent_id == "1"
    [err] = skipped(c)
    assert err.field == "WBS" and "no WBS code" in str(err) and "last values" in str(err)
    assert "WBS codes (column 'WBS')" in c.check()["ids"]
    # a configured key column wins over the WBS codes
    named = write_csv(tmp_path / "k.csv", ["WBS", "任务编码", "任务名称"], [["1", "K-1", "a"]])
    assert set(items(connector(named, id_column="任务编码"))) == {"K-1"}
    assert "from the id column '任务编码'" in connector(named, id_column="任务编码").check()["ids"]


def test_plan_without_id_synced_twice_updates_in_place(tmp_path: Path, sqlite_url: str) -> None:
    """Ids derived from titles are stable: a second sync after editing a date updates
    the item instead of deleting and re-inserting it; a rename is a delete plus insert,
    as documented."""
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store.engine import open_store

    rows = [["需求评审", "张伟", "2026-11-20"], ["方案设计", "李娜", "2026-12-01"]]
    rows += [[f"任务{i}", "陈静", "2026-12-10"] for i in range(10)]
    path = write_csv(tmp_path / "p.csv", ["任务名称", "负责人", "截止日期"], rows)
    engine = open_store(sqlite_url)
    first = sync_source(engine, connector(path))
    assert first.status == "ok" and len(_live(engine, "sheet")) == 12, first.error
    rows[1][2] = "2026-12-05"
    write_csv(path, ["任务名称", "负责人", "截止日期"], rows)
    second = sync_source(engine, connector(path))
    assert (second.status, second.inserted, second.updated, second.deleted) == ("ok", 0, 1, 0)
    assert _live(engine, "sheet")["方案设计"]["due_on"] == dt.date(2026, 12, 5)
    rows[0][0] = "需求评审会"
    write_csv(path, ["任务名称", "负责人", "截止日期"], rows)
    third = sync_source(engine, connector(path))
    assert (third.status, third.inserted, third.deleted) == ("ok", 1, 1)
    engine.dispose()


def test_bad_value_on_resync_clears_the_stored_field(tmp_path: Path, sqlite_url: str) -> None:
    """Issue 15: a CSV row whose date became unreadable keeps its item, reports the field,
    and the store does not silently keep the old date."""
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store.engine import open_store

    headers = ["编号", "任务名称", "截止日期", "预计工时"]
    path = write_csv(tmp_path / "p.csv", headers, [["A-1", "需求评审", "2026-11-20", "8"]])
    engine = open_store(sqlite_url)
    assert sync_source(engine, connector(path)).status == "ok"
    write_csv(path, headers, [["A-1", "需求评审（改）", "2026-11-31", "8"]])
    again = sync_source(engine, connector(path))
    assert (again.status, again.updated, again.skipped, again.deleted) == ("ok", 1, 0, 0)
    [warning] = again.warnings
    assert "截止日期" in warning and "2026-11-31" in warning and "row 2" in warning
    stored = _live(engine, "sheet")["A-1"]
    assert stored["title"] == "需求评审（改）" and stored["due_on"] is None
    assert stored["original_estimate_h"] == 8
    engine.dispose()


def test_sheet_without_title_column_says_what_to_add(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "nt.csv", ["编号", "负责人"], [["A", "张伟"]])
    with pytest.raises(ConfigError) as exc:
        connector(path).check()
    msg = str(exc.value)
    assert "nt.csv" in msg and "任务名称" in msg and "编号, 负责人" in msg
    assert "id column (编号/ID) is optional" in msg


def test_missing_title_file_sheet_and_bad_columns_are_config_errors(tmp_path: Path) -> None:
    no_title = write_csv(tmp_path / "nt.csv", ["编号", "负责人"], [["A", "x"]])
    with pytest.raises(ConfigError, match=r"nt\.csv.*title column"):
        connector(no_title).check()
    with pytest.raises(ConfigError, match="not found"):
        connector(tmp_path / "gone.csv").check()
    ok = write_xlsx(tmp_path / "ok.xlsx", ["编号", "任务名称"], [["A", "a"]])
    with pytest.raises(ConfigError, match="no sheet '计划'; sheets are: Sheet1"):
        connector(ok, sheet="计划").check()
    with pytest.raises(ConfigError, match="columns.due_on = '计划完成时间'"):
        connector(ok, columns={"due_on": "计划完成时间"}).check()
    with pytest.raises(ConfigError, match="xlsx"):
        connector(tmp_path / "old.xls")
    with pytest.raises(ConfigError, match="project_key"):
        SpreadsheetConnector(
            SourceConfig(name="s", type="spreadsheet", options={"path": str(ok)})
        ).check()


def test_columns_override_and_extra_fields(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "o.csv",
        ["序号", "任务编码", "工作内容", "计划完成时间", "灯", "进度"],
        [["1", "X-9", "整理台账", "2026-11-30", "红", "40%"]],
    )
    c = connector(
        path,
        columns={"key": "任务编码", "title": "工作内容", "due_on": "计划完成时间", "rag": "灯"},
    )
    x9 = items(c)["X-9"]  # not 序号: the override names the stable id column
    assert (x9.title, x9.due_on) == ("整理台账", dt.date(2026, 11, 30))
    assert x9.extra == {"rag": "红", "percent_complete": 40.0}


def test_project_column_gives_one_project_per_key(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "pj.csv",
        ["项目", "项目名称", "编号", "任务名称"],
        [["CRM", "新版CRM", "C1", "a"], ["OPS", "", "O1", "b"], ["", "", "D1", "c"]],
    )
    c = connector(path, project_key="MISC")
    assert {p.key: p.name for p in c.fetch_projects()} == {
        "MISC": "MISC", "CRM": "新版CRM", "OPS": "OPS"
    }  # fmt: skip
    got = items(c)
    assert {k: v.project_key for k, v in got.items()} == {"C1": "CRM", "O1": "OPS", "D1": "MISC"}
    assert list(c.census("CRM")) == ["C1"] and list(c.census("MISC")) == ["D1"]


def test_predecessors_become_blocks_links(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "l.csv",
        ["编号", "任务名称", "前置任务"],
        [["A", "a", ""], ["B", "b", "A"], ["C", "c", "A，BFS+2d"]],
    )
    out = list(connector(path).fetch_work_items(None))
    links = {(x.from_id, x.to_id, x.kind) for x in out if isinstance(x, Link)}
    assert links == {("A", "B", "blocks"), ("A", "C", "blocks"), ("B", "C", "blocks")}
    complete = [x.work_item_id for x in out if isinstance(x, ChildrenComplete)]
    assert complete == ["A", "B", "C"]


# --- samples --------------------------------------------------------------------------


def test_samples_are_reproducible(tmp_path: Path) -> None:
    from pmohub.aggregator.demo.samples import make_samples

    for made in make_samples.main(tmp_path):
        assert made.read_bytes() == (SAMPLES / made.name).read_bytes(), made.name


def test_sample_sources_load_cleanly() -> None:
    from pmohub.aggregator.config.loader import load_config_file

    config = load_config_file(SAMPLES / "sources.yaml")
    sources = (
        {s.name: s for s in config.sources}
        if isinstance(config.sources, list | tuple)
        else config.sources
    )
    assert {"ops_plan", "marketing"} <= set(sources)  # plus data_plan (MS Project)
    ops = SpreadsheetConnector(sources["ops_plan"])
    facts = ops.check()
    assert facts["bad_rows"] == 0 and facts["header_row"] == 4 and facts["work_items"] >= 30
    got = items(ops)
    assert_utc(got.values())
    assert got["OPS-017"].parent_id == "OPS-016" and got["OPS-016"].parent_id == "OPS-012"
    assert got["OPS-017"].milestone_ids == ("OPS-025",)
    assert got["OPS-040"].original_estimate_h == 8.0  # "1d"
    # 刘洋's e-mail is blank on OPS-030; other rows name it
    assert got["OPS-030"].assignee == "liuyang@example.cn"
    today = dt.date(2026, 11, 21)
    overdue = [i for i in got.values() if i.status_category in ("todo", "in_progress")
               and i.due_on and i.due_on < today]  # fmt: skip
    assert overdue and any(i.assignee is None for i in got.values())
    assert any(i.original_estimate_h is None for i in got.values())
    milestones = list(ops.fetch_milestones())
    assert len(milestones) == 4 and sum(m.released for m in milestones) == 1
    mkt = SpreadsheetConnector(sources["marketing"])
    assert mkt.check()["bad_rows"] == 0
    assert len(items(mkt)) >= 20
    shared = {p.external_id for p in ops.fetch_people()} & {
        p.external_id for p in mkt.fetch_people()
    }
    assert shared == {"lina@example.cn"}


# --- through the real sync engine -----------------------------------------------------


def _live(engine: Any, source: str) -> dict[str, dict[str, Any]]:
    from pmohub.aggregator.store.models import WorkItem as WI

    with engine.connect() as conn:
        rows = conn.execute(select(WI.__table__).where(WI.source == source)).mappings().all()
    return {r["external_id"]: dict(r) for r in rows}


def test_sync_then_row_removed_is_soft_deleted(tmp_path: Path, store_url: str) -> None:
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store.engine import open_store

    path = tmp_path / "ops_migration_plan.xlsx"
    shutil.copyfile(SAMPLES / "ops_migration_plan.xlsx", path)
    engine = open_store(store_url)
    c = connector(path, sheet="计划", project_key="OPS-MIG", project_name="运维迁移")
    expected = set(items(c))

    first = sync_source(engine, c)
    assert first.status == "ok", first.error
    assert first.skipped == 0 and first.deleted == 0
    stored = _live(engine, "sheet")
    assert set(stored) == expected and all(r["deleted_at"] is None for r in stored.values())
    by_id = {k: r["id"] for k, r in stored.items()}
    assert stored["OPS-017"]["parent_id"] == by_id["OPS-016"]  # hierarchy resolved in the store
    assert stored["OPS-017"]["due_on"] == dt.date(2026, 11, 15)

    again = sync_source(engine, c)
    assert (again.status, again.inserted, again.updated, again.deleted) == ("ok", 0, 0, 0)

    # Delete the row of OPS-019 (an unassigned task) from the workbook and break another.
    wb = openpyxl.load_workbook(path)
    ws = wb["计划"]
    row_of = {ws.cell(r, 2).value: r for r in range(1, ws.max_row + 1)}
    ws.delete_rows(row_of["OPS-019"])
    ws.cell(row_of["OPS-023"] - 1, 8).value = "2026-12-32"  # shifted up by one row
    wb.save(path)

    third = sync_source(engine, connector(path, sheet="计划", project_key="OPS-MIG"))
    assert third.status == "ok", third.error
    assert third.deleted == 1 and third.skipped == 0 and len(third.warnings) == 1
    assert any("row" in p and "截止日期" in p and "2026-12-32" in p for p in third.warnings)
    after = _live(engine, "sheet")
    assert after["OPS-019"]["deleted_at"] is not None
    live = {k for k, r in after.items() if r["deleted_at"] is None}
    # the row with a bad cell is kept (not deleted), only that field is cleared (issue 12)
    assert live == expected - {"OPS-019"}
    assert after["OPS-023"]["due_on"] is None
    engine.dispose()


def test_sync_reports_bad_rows_and_loads_the_rest(tmp_path: Path, sqlite_url: str) -> None:
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store.engine import open_store
    from pmohub.aggregator.store.models import SyncRun

    engine = open_store(sqlite_url)
    result = sync_source(engine, connector(SAMPLES / "bad_rows.csv", project_key="BAD"))
    assert result.status == "ok" and result.skipped == 3 and len(result.warnings) == 4
    assert set(_live(engine, "sheet")) == {"B-1", "B-2", "B-3", "B-4", "B-5", "B-6", "B-8"}
    with engine.connect() as conn:
        problems = conn.execute(select(SyncRun.problems)).scalar_one()
    assert any("bad_rows.csv row 3" in p and "截止日期" in p for p in problems)
    engine.dispose()


def test_utf16_tab_separated_export(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("编号\t任务名称\t负责人\nU1\t导出测试\t陈静\n".encode("utf-16"))
    c = connector(path)
    assert items(c)["U1"].assignee == "陈静" and c.check()["encoding"] == "utf-16"


def test_headers_with_units_notes_and_line_breaks(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "u.xlsx",
        ["编号*", "任务\n名称", "预计工时（小时）", "截止日期(计划)", "已用工时(h)"],
        [["A", "a", 6, "2026-12-01", "1.5d"]],
    )
    a = items(connector(path))["A"]
    assert (a.title, a.original_estimate_h, a.due_on, a.time_spent_h) == (
        "a", 6.0, dt.date(2026, 12, 1), 12.0
    )  # fmt: skip
