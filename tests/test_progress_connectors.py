"""WorkItem.progress from each tracker that states it: the pure mappers, the spreadsheet's
headers and values (a bad value skips the cell, not the row), the MSPDI sample (and the mpp
path through MPXJ), Trello checklists on the emulator, and a REAL Redmine synced into real
SQLite and PostgreSQL stores. Expected values come from what the test wrote."""

from __future__ import annotations

import csv
import datetime as dt
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from redmine_server import TOKEN_ENV, RedmineServer, create_issue, create_project, redmine_server
from sqlalchemy import select

from pmohub.aggregator.demo.samples import make_mspdi
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import work_items_t
from pmohub.connectors.base import Problem, Skipped, SourceConfig
from pmohub.connectors.errors import RecordError
from pmohub.connectors.msproject import MSProjectConnector
from pmohub.connectors.msproject import mapping as msp
from pmohub.connectors.records import WorkItem
from pmohub.connectors.redmine import RedmineConnector
from pmohub.connectors.redmine import mapping as rm
from pmohub.connectors.spreadsheet import SpreadsheetConnector
from pmohub.connectors.spreadsheet import mapping as sheet
from pmohub.connectors.spreadsheet.mapping import CellError
from pmohub.connectors.trello import TrelloConnector
from pmohub.connectors.trello import mapping as trello
from pmohub.emulators.trello import DEFAULT_KEY, DEFAULT_TOKEN, TrelloEmulator, generate_site

# --- pure mappers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("done_ratio", "want"), [(None, None), (0, 0.0), (45, 0.45), ("70", 0.7), (100, 1.0)]
)
def test_redmine_done_ratio_is_a_fraction(done_ratio: Any, want: float | None) -> None:
    assert rm.to_progress(done_ratio) == want


def test_redmine_bad_done_ratio_is_a_record_error_naming_issue_and_field() -> None:
    ctx = rm.MappingContext(
        source="rm",
        statuses={"2": {"id": 2, "name": "In Progress", "is_closed": False}},
        project_keys={"1": "portal"},
    )
    issue = {"id": 9, "status": {"id": 2}, "project": {"id": 1}, "done_ratio": 150}
    with pytest.raises(RecordError) as err:
        rm.to_work_item(issue, ctx)
    assert err.value.where == "issue #9" and err.value.field == "done_ratio"
    assert rm.to_work_item({**issue, "done_ratio": 30}, ctx).progress == 0.3


@pytest.mark.parametrize(("pct", "want"), [(None, None), ("", None), ("0", 0.0), ("45", 0.45)])
def test_msproject_percent_complete_is_a_fraction(pct: Any, want: float | None) -> None:
    assert msp.to_progress(pct) == want


def test_msproject_bad_percent_complete_is_refused() -> None:
    with pytest.raises(ValueError, match="PercentComplete"):
        msp.to_progress("120")


def test_trello_progress_is_check_items_done_over_all() -> None:
    assert trello.to_progress(3, 4) == 0.75
    assert trello.to_progress(0, 2) == 0.0
    assert trello.to_progress(0, 0) is None


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("45%", 0.45),
        (" 45 % ", 0.45),
        ("４５％", 0.45),  # full-width digits and percent sign (Chinese IME)
        ("1%", 0.01),
        ("0.45", 0.45),  # bare number up to 1: a fraction
        (0.45, 0.45),  # what a percentage-formatted Excel cell holds
        ("45", 0.45),  # bare number above 1: a percentage
        (45, 0.45),
        (1, 1.0),  # a bare 1 is 100 %
        ("0", 0.0),
        ("100", 1.0),
        (None, None),
    ],
)
def test_spreadsheet_progress_values(value: Any, want: float | None) -> None:
    got = sheet.to_progress("percent_complete", value)
    assert got == pytest.approx(want) if want is not None else got is None


@pytest.mark.parametrize("value", ["abc", "120", "-5%", "101%", "nan", True])
def test_spreadsheet_bad_progress_is_a_cell_error(value: Any) -> None:
    with pytest.raises(CellError) as err:
        sheet.to_progress("percent_complete", value)
    assert err.value.field == "percent_complete"


@pytest.mark.parametrize(
    "header", ["% complete", "Progress", "完成率", "完成百分比", "进度(%)", "进度（%）", "% Done"]
)
def test_spreadsheet_progress_header_synonyms(header: str) -> None:
    found, missing = sheet.resolve_columns(["编号", "任务名称", header, "完成日期"], {})
    assert found["percent_complete"] == header and not missing
    assert found["due_on"] == "完成日期"  # 完成 in a header is not taken for progress


# --- spreadsheet connector ------------------------------------------------------------


def _csv(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def _sheet(path: Path, **options: Any) -> SpreadsheetConnector:
    options = {"path": str(path), "project_key": "P", **options}
    return SpreadsheetConnector(SourceConfig(name="sheet", type="spreadsheet", options=options))


def test_spreadsheet_bad_progress_skips_the_cell_not_the_row(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "plan.csv",
        ["编号", "任务名称", "状态", "进度(%)"],
        [
            ["T1", "需求", "进行中", "45%"],
            ["T2", "设计", "进行中", "0.3"],
            ["T3", "开发", "进行中", "大约一半"],
            ["T4", "测试", "未开始", ""],
            ["T5", "上线", "已完成", "100"],
        ],
    )
    with _sheet(path) as conn:
        out = list(conn.fetch_work_items(None))
        facts = conn.check()
    items = {o.external_id: o for o in out if isinstance(o, WorkItem)}
    assert set(items) == {"T1", "T2", "T3", "T4", "T5"}  # T3 still loads
    got = {k: i.progress for k, i in items.items()}
    assert got == pytest.approx({"T1": 0.45, "T2": 0.3, "T3": None, "T4": None, "T5": 1.0})
    assert items["T1"].extra["percent_complete"] == 45
    assert "percent_complete" not in items["T3"].extra
    # a bad cell is a located Problem (the row is kept), not a skipped record
    assert not [o for o in out if isinstance(o, Skipped)]
    errors = [o for o in out if isinstance(o, Problem)]
    assert len(errors) == 1
    assert errors[0].where == "plan.csv row 4" and errors[0].field == "进度(%)"
    assert errors[0].value == "大约一半" and "row is loaded" in errors[0].message
    assert facts["bad_rows"] == 0 and len(facts["problems"]) == 1


def test_spreadsheet_xlsx_percent_cells_and_progress_override(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ID", "Title", "Status", "Done so far"])
    ws.append(["A", "percent-formatted", "in progress", 0.45])
    ws.append(["B", "typed whole percent", "in progress", 60])
    ws["D2"].number_format = "0%"
    path = tmp_path / "plan.xlsx"
    wb.save(path)
    with _sheet(path, columns={"progress": "Done so far"}) as conn:
        items = {o.external_id: o for o in conn.fetch_work_items(None) if isinstance(o, WorkItem)}
    assert items["A"].progress == pytest.approx(0.45)
    assert items["B"].progress == pytest.approx(0.6)
    assert "progress" not in items["A"].extra  # taken as the column, not an extra field


# --- MS Project -----------------------------------------------------------------------

SAMPLE = Path(make_mspdi.__file__).with_name(make_mspdi.FILE_NAME)
TASKS = {row[0]: row for row in make_mspdi.TASKS}  # uid -> generator row; row[9] = % complete


def _plan(path: Path) -> MSProjectConnector:
    return MSProjectConnector(
        SourceConfig(
            name="plan", type="msproject", options={"path": str(path), "project_key": "DATA-PLAT"}
        )
    )


def test_mspdi_sample_progress_into_the_store(store_url: str) -> None:
    with _plan(SAMPLE) as conn:
        items = {o.external_id: o for o in conn.fetch_work_items(None) if isinstance(o, WorkItem)}
    want = {str(uid): row[9] / 100 for uid, row in TASKS.items() if not row[5]}
    assert {k: i.progress for k, i in items.items()} == want
    assert 0 < len({v for v in want.values() if 0 < v < 1})  # the sample has partial tasks
    engine = open_store(store_url)
    try:
        with _plan(SAMPLE) as conn:
            assert sync_source(engine, conn, full=True).ok
        t = work_items_t
        with engine.connect() as db:
            stored = dict(db.execute(select(t.c.external_id, t.c.progress)).all())  # type: ignore[arg-type]
    finally:
        engine.dispose()
    assert stored == want


# --- Trello ---------------------------------------------------------------------------


def test_trello_cards_progress_from_their_checklists() -> None:
    with TrelloEmulator(generate_site(seed=3, boards=2, cards=25)) as emu:
        config = SourceConfig(
            name="tr",
            type="trello",
            url=emu.url + "/1",
            token_env="TRELLO_TOKEN",
            projects=tuple(b["shortLink"] for b in emu.site.boards),
        )
        env = {"TRELLO_TOKEN": DEFAULT_TOKEN, "TRELLO_API_KEY": DEFAULT_KEY}
        with TrelloConnector(config, env=env) as conn:
            got = {o.external_id: o.progress for o in conn.fetch_work_items(None) if isinstance(o, WorkItem)}  # fmt: skip
        cards = {c["id"]: c for b in emu.site.boards for c in b["cards"]}
    want: dict[str, float | None] = {}
    for cid, card in cards.items():
        checks = [i for cl in card["checklists"] for i in cl["checkItems"]]
        done = sum(1 for i in checks if i["state"] == "complete")
        want[cid] = done / len(checks) if checks else None
    assert got == want
    assert any(v is None for v in want.values()) and any(v for v in want.values())


# --- Redmine (real server) ------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> RedmineServer:
    return redmine_server()


def test_redmine_done_ratio_synced_into_the_store(server: RedmineServer, store_url: str) -> None:
    key = f"prog{secrets.token_hex(3)}"
    pid = create_project(server, key, "Progress")
    typed = create_issue(server, pid, "typed on create", done_ratio=30)
    edited = create_issue(server, pid, "edited later", estimated_hours=8)
    untouched = create_issue(server, pid, "never touched")
    server.put(f"/issues/{edited}.json", {"issue": {"done_ratio": 60}})
    config = SourceConfig(
        name="rm", type="redmine", url=server.url, token_env=TOKEN_ENV, projects=(key,)
    )
    engine = open_store(store_url)
    t = work_items_t

    def stored() -> dict[str, float | None]:
        with engine.connect() as db:
            rows = db.execute(select(t.c.external_id, t.c.progress).where(t.c.source == "rm"))
            return {ext: p for ext, p in rows}

    try:
        with RedmineConnector(config, env=server.env) as conn:
            first = sync_source(engine, conn, full=True)
        assert first.ok, first
        # Redmine sends 0 for an issue nobody set: it does state "0 % done"
        assert stored() == {str(typed): 0.3, str(edited): 0.6, str(untouched): 0.0}

        # Redmine's updated_on has whole seconds: step past the second of the first sync
        at = dt.datetime.now(dt.UTC)
        while dt.datetime.now(dt.UTC) - at < dt.timedelta(seconds=1.1):
            pass
        server.put(f"/issues/{edited}.json", {"issue": {"done_ratio": 90}})
        with RedmineConnector(config, env=server.env) as conn:
            second = sync_source(engine, conn, full=False)
        assert second.ok, second
        assert stored() == {str(typed): 0.3, str(edited): 0.9, str(untouched): 0.0}
    finally:
        engine.dispose()
