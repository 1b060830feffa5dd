"""MS Project connector: the bundled MSPDI sample (written by aggregator/demo/samples/make_mspdi.py),
hand-edited copies of it, real stores, and .mpp-family files through MPXJ when installed.
Expected values are read from the sample's own generator table, not from the connector."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pmohub.aggregator.compliance.baselines import import_plan_baselines
from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.demo.samples import make_mspdi
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import links_t, work_items_t, worklogs_t
from pmohub.connectors.base import ChildrenComplete, Skipped, SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.msproject import MSProjectConnector
from pmohub.connectors.msproject.mapping import duration_hours
from pmohub.connectors.records import Link, Milestone, Person, Project, WorkItem, Worklog

SAMPLE = Path(make_mspdi.__file__).with_name(make_mspdi.FILE_NAME)
NS = {"p": make_mspdi.NS}
TASKS = {row[0]: row for row in make_mspdi.TASKS}  # uid -> generator row


def make(path: Path, **options: Any) -> MSProjectConnector:
    return MSProjectConnector(
        SourceConfig(
            name="plan",
            type="msproject",
            options={"path": str(path), "project_key": "DATA-PLAT", **options},
        )
    )


def stream(conn: MSProjectConnector) -> list[Any]:
    return list(conn.fetch_work_items(None))


def test_sample_is_generated_deterministically(tmp_path: Path) -> None:
    fresh = make_mspdi.main(tmp_path)
    assert fresh.read_bytes() == SAMPLE.read_bytes()


def test_tasks_hierarchy_status_and_work() -> None:
    with make(SAMPLE) as conn:
        out = stream(conn)
    items = {o.external_id: o for o in out if isinstance(o, WorkItem)}
    milestones = {uid for uid, row in TASKS.items() if row[5]}
    assert set(items) == {str(uid) for uid in TASKS if uid not in milestones}
    assert not [o for o in out if isinstance(o, Skipped)]
    for uid, item in items.items():
        row = TASKS[int(uid)]
        wbs, level, summary, pct = row[1], row[3], row[4], row[9]
        assert item.key == f"DATA-PLAT-{wbs}"
        assert item.type == ("Epic" if summary else "Task")
        expected = "done" if pct == 100 else "todo" if pct == 0 else "in_progress"
        assert item.status_category == expected, item
        assert item.original_estimate_h == row[8]
        assert item.start_on == dt.date.fromisoformat(row[6])
        assert item.due_on == dt.date.fromisoformat(row[7])
        if level == 1:
            assert item.parent_id is None
        else:
            parent_wbs = wbs.rsplit(".", 1)[0]
            parent_uid = next(u for u, r in TASKS.items() if r[1] == parent_wbs)
            assert item.parent_id == str(parent_uid)
        if row[10]:
            assert item.extra["baseline_due_on"] == row[10][1]
            assert item.extra["baseline_work_h"] == row[10][2]
        else:
            assert "baseline_due_on" not in item.extra
    # Plan-local 18:00 in Asia/Shanghai is 10:00 UTC.
    assert items["2"].resolved_at == dt.datetime(2026, 9, 11, 10, 0, tzinfo=dt.UTC)
    assert items["7"].remaining_estimate_h == 72.0 and items["7"].time_spent_h == 48.0
    # task 3 precedes milestone 4 (设计评审通过)
    assert items["3"].milestone_ids == ("m4",)


def test_main_resource_worklogs_and_links() -> None:
    with make(SAMPLE) as conn:
        out = stream(conn)
        people = {p.external_id: p for p in conn.fetch_people() if isinstance(p, Person)}
        projects = [p for p in conn.fetch_projects() if isinstance(p, Project)]
        milestones = {
            ms.external_id: ms for ms in conn.fetch_milestones() if isinstance(ms, Milestone)
        }
        census = list(conn.census("DATA-PLAT"))
        assert list(conn.census("OTHER")) == []
    items = {o.external_id: o for o in out if isinstance(o, WorkItem)}
    # the work resources only (not the material one, not UID 0)
    assert set(people) == {str(uid) for uid, _n, _e in make_mspdi.RESOURCES}
    assert people["2"].email == "WangFang@example.cn"
    assert projects[0].name == "数据中台建设" and projects[0].lead == "1"  # Manager 李娜
    for uid, row in TASKS.items():
        assigned = row[12]
        if str(uid) not in items:
            continue
        if not assigned:
            assert items[str(uid)].assignee is None
            continue
        most = max(w for _r, w, _a in assigned)
        main = min(r for r, w, _a in assigned if w == most)
        assert items[str(uid)].assignee == str(main)
        assert {a["resource"] for a in items[str(uid)].extra["assignments"]} == {
            str(r) for r, _w, _a in assigned
        }
    worklogs = [o for o in out if isinstance(o, Worklog)]
    expected_seconds = sum(a * 3600 for row in TASKS.values() for _r, _w, a in row[12] if a)
    assert sum(w.seconds for w in worklogs) == expected_seconds
    assert all(w.author in people for w in worklogs)
    links = {(lk.from_id, lk.to_id) for lk in out if isinstance(lk, Link)}
    expected_links = {
        (str(p), str(uid))
        for uid, row in TASKS.items()
        for p in row[11]
        if not TASKS[p][5] and not row[5]
    }
    assert links == expected_links
    # a link is yielded right after its "from" item, before that item's ChildrenComplete
    order = [
        (type(o).__name__, getattr(o, "external_id", None) or getattr(o, "work_item_id", None))
        for o in out
    ]
    for lk in (o for o in out if isinstance(o, Link)):
        pos = out.index(lk)
        owner = max(i for i in range(pos) if isinstance(out[i], WorkItem))
        assert out[owner].external_id == lk.from_id, order
    assert set(milestones) == {"m4", "m9"}
    assert milestones["m4"].released and milestones["m4"].released_on == dt.date(2026, 9, 25)
    assert not milestones["m9"].released and milestones["m9"].due_on == dt.date(2026, 12, 11)
    assert sorted(census, key=int) == sorted(items, key=int)
    assert sum(isinstance(o, ChildrenComplete) for o in out) == len(items)


def test_durations() -> None:
    assert duration_hours("PT40H0M0S") == 40.0
    assert duration_hours("PT7H30M0S") == 7.5
    assert duration_hours("P1DT2H") == 26.0
    assert duration_hours("PT-2H0M0S") == -2.0  # MPXJ's overrun remaining work
    assert duration_hours(None) is None
    with pytest.raises(ValueError):
        duration_hours("40h")


def _edit(tmp_path: Path, change: Any, name: str = "plan.xml") -> Path:
    ET.register_namespace("", make_mspdi.NS)
    tree = ET.parse(SAMPLE)
    change(tree.getroot())
    path = tmp_path / name
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    return path


def _task(root: ET.Element, uid: int) -> ET.Element:
    for t in root.iterfind("p:Tasks/p:Task", NS):
        if t.findtext("p:UID", namespaces=NS) == str(uid):
            return t
    raise AssertionError(uid)


def test_bad_task_is_reported_and_kept_in_census(tmp_path: Path) -> None:
    def break_work(root: ET.Element) -> None:
        _task(root, 7).find("p:Work", NS).text = "forty hours"  # type: ignore[union-attr]

    with make(_edit(tmp_path, break_work)) as conn:
        out = stream(conn)
        census = set(conn.census("DATA-PLAT"))
    skipped = [o.error for o in out if isinstance(o, Skipped)]
    assert len(skipped) == 1
    msg = str(skipped[0])
    assert "plan.xml" in msg and "UID 7" in msg and "数据仓库分层" in msg and "'Work'" in msg
    assert "7" not in {o.external_id for o in out if isinstance(o, WorkItem)}
    assert "7" in census


def test_broken_files_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text(SAMPLE.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.xml: line \d+, column \d+"):
        make(broken).check()
    other = tmp_path / "other.xml"
    other.write_text("<?xml version='1.0'?><html><body/></html>", encoding="utf-8")
    with pytest.raises(ConfigError, match="root element is <html>"):
        make(other).check()
    with pytest.raises(ConfigError, match="not found"):
        make(tmp_path / "missing.xml").check()
    with pytest.raises(ConfigError, match="path"):
        MSProjectConnector(SourceConfig(name="plan", type="msproject"))
    with pytest.raises(ConfigError, match="unknown msproject option"):
        make(SAMPLE, sheet="x")


def test_file_without_namespace_reads_the_same(tmp_path: Path) -> None:
    plain = tmp_path / "plain.xml"
    plain.write_text(
        SAMPLE.read_text(encoding="utf-8").replace(f' xmlns="{make_mspdi.NS}"', ""),
        encoding="utf-8",
    )
    with make(SAMPLE) as a, make(plain) as b:
        assert stream(a) == stream(b)


def test_sync_resync_delete_and_plan_baseline(store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "plan.xml"
    shutil.copyfile(SAMPLE, path)
    engine = open_store(store_url)
    try:
        with make(path) as conn:
            first = sync_source(engine, conn, full=True)
        assert first.ok and first.skipped == 0, first.problems
        with make(path) as conn:
            again = sync_source(engine, conn, full=True)
        assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)

        config = parse_config(
            "version: 1\n"
            "sources:\n  plan: {type: msproject, path: plan.xml, project_key: DATA-PLAT}\n"
            "hierarchy:\n  - portfolio: DIGI\n    projects:\n"
            "      - {key: DATA-PLAT, source: {name: plan, project: DATA-PLAT}}\n"
        )
        rows = import_plan_baselines(
            engine, config, "DATA-PLAT", taken_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
        )
        b = m.Baseline.__table__
        with engine.connect() as db:
            got = db.execute(
                select(work_items_t.c.external_id, b.c.due_on, b.c.original_estimate_h)
                .join(work_items_t, work_items_t.c.id == b.c.work_item_id)
                .where(b.c.subject_kind == "work_item")
            ).all()
        with_baseline = {uid for uid, row in TASKS.items() if row[10] and not row[5]}
        assert {g[0] for g in got} == {str(u) for u in with_baseline}
        for uid, due, work in got:
            assert due == dt.date.fromisoformat(TASKS[int(uid)][10][1])
            assert work == TASKS[int(uid)][10][2]
        assert rows >= len(with_baseline) + 1

        # Remove task 12 and its incoming link from the plan: soft-deleted on the next sync.
        def drop(root: ET.Element) -> None:
            tasks = root.find("p:Tasks", NS)
            tasks.remove(_task(root, 12))  # type: ignore[union-attr]

        _edit(tmp_path, drop)
        with make(path) as conn:
            third = sync_source(engine, conn, full=True)
        assert third.ok
        with engine.connect() as db:
            gone = db.execute(
                select(work_items_t.c.deleted_at).where(
                    work_items_t.c.source == "plan", work_items_t.c.external_id == "12"
                )
            ).scalar_one()
            link = db.execute(
                select(links_t.c.deleted_at).where(links_t.c.external_id == "11>12")
            ).scalar_one()
            hours = (
                db.execute(select(worklogs_t.c.seconds).where(worklogs_t.c.source == "plan"))
                .scalars()
                .all()
            )
        assert gone is not None and link is not None
        assert sum(hours) == sum(a * 3600 for row in TASKS.values() for _r, _w, a in row[12] if a)
    finally:
        engine.dispose()


@pytest.mark.skipif(
    importlib.util.find_spec("mpxj") is None or importlib.util.find_spec("jpype") is None,
    reason="the optional mpp extra (mpxj, JPype1) is not installed",
)
def test_mpp_family_through_mpxj(tmp_path: Path) -> None:
    """MPXJ cannot write .mpp, so the sample goes to MPX (another binary-era format MPXJ
    reads) and back through the same conversion path an .mpp takes."""
    if shutil.which("java") is None:
        pytest.skip("no Java runtime")
    import jpype
    import mpxj  # noqa: F401

    if not jpype.isJVMStarted():
        jpype.startJVM()
    reader = jpype.JClass("org.mpxj.reader.UniversalProjectReader")()
    writer = jpype.JClass("org.mpxj.mpx.MPXWriter")()
    mpx = tmp_path / "plan.mpx"
    writer.write(reader.read(str(SAMPLE)), str(mpx))
    with make(mpx) as via_mpxj, make(SAMPLE) as direct:
        got = {o.external_id: o for o in stream(via_mpxj) if isinstance(o, WorkItem)}
        want = {o.external_id: o for o in stream(direct) if isinstance(o, WorkItem)}
        assert via_mpxj.check()["milestones"] == 2
    assert set(got) == set(want)
    for uid, item in want.items():
        assert got[uid].original_estimate_h == item.original_estimate_h
        assert got[uid].parent_id == item.parent_id
        assert got[uid].status_category == item.status_category
        assert got[uid].assignee == item.assignee
        assert got[uid].progress == item.progress  # PercentComplete through the same mapper


def test_cli_baseline_from_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from pmohub.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    shutil.copyfile(SAMPLE, tmp_path / "plan.xml")
    (tmp_path / "pmohub.yaml").write_text(
        "version: 1\ndatabase: sqlite:///store.db\n"
        "sources:\n  plan: {type: msproject, path: plan.xml, project_key: DATA-PLAT}\n"
        "hierarchy:\n  - portfolio: DIGI\n    projects:\n"
        "      - {key: DATA-PLAT, source: {name: plan, project: DATA-PLAT}}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    assert runner.invoke(main, ["--quiet", "sync"]).exit_code == 0
    result = runner.invoke(
        main, ["baseline", "take", "DATA-PLAT", "--from-plan", "--label", "plan"]
    )
    assert result.exit_code == 0, result.output
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        b = m.Baseline.__table__
        with engine.connect() as db:
            labels = db.execute(select(b.c.label, b.c.subject_kind)).all()
    finally:
        engine.dispose()
    with_baseline = [row for row in TASKS.values() if row[10] and not row[5]]
    assert sum(1 for lbl, kind in labels if lbl == "plan" and kind == "work_item") == len(
        with_baseline
    )


def test_config_validates_msproject_and_redmine_options(tmp_path: Path) -> None:
    from pmohub.aggregator.config.loader import ConfigFileError

    text = (
        "version: 1\nsources:\n"
        "  plan: {type: msproject, path: plan.xml, project_key: DATA-PLAT, time_zone: UTC}\n"
        "  rm: {type: redmine, url: 'https://redmine.example.cn', token_env: RM_KEY,\n"
        "       projects: [portal], include_subprojects: false, worklog_window_days: 14}\n"
    )
    config = parse_config(text, path=tmp_path / "pmohub.yaml")
    assert config.sources["plan"].options["path"] == str(tmp_path / "plan.xml")
    assert config.sources["rm"].options == {"include_subprojects": False, "worklog_window_days": 14}
    with pytest.raises(ConfigFileError, match=r"pmohub.yaml:3.*projct_key"):
        parse_config(text.replace("project_key", "projct_key"), path=tmp_path / "pmohub.yaml")


@pytest.mark.parametrize("ref", ["风险等级", "Text1", make_mspdi.RISK_FIELD_ID])
def test_custom_fields_by_alias_name_or_id(ref: str) -> None:
    config = SourceConfig(
        name="plan",
        type="msproject",
        fields={"risk_probability": ref},
        options={"path": str(SAMPLE), "project_key": "DATA-PLAT"},
    )
    with MSProjectConnector(config) as conn:
        items = {o.external_id: o for o in stream(conn) if isinstance(o, WorkItem)}
    got = {
        uid: i.extra["risk_probability"]
        for uid, i in items.items()
        if "risk_probability" in i.extra
    }
    assert got == {str(uid): value for uid, value in make_mspdi.RISKS.items()}


def test_no_resource_written_as_minus_one_assigns_nobody(tmp_path: Path) -> None:
    """Plans from other writers mark "no resource" as -1, not Project's -65535 (issue 12)."""
    changed: set[str] = set()

    def minus_one(root: ET.Element) -> None:
        for a in root.iterfind("p:Assignments/p:Assignment", NS):
            rid = a.find("p:ResourceUID", NS)
            if rid is not None and len(changed) < 5:
                changed.add(a.findtext("p:TaskUID", namespaces=NS) or "")
                rid.text = "-1"

    with make(_edit(tmp_path, minus_one)) as conn:
        out = stream(conn)
        people = list(conn.fetch_people())
    assert len(changed) == 5
    items = {o.external_id: o for o in out if isinstance(o, WorkItem)}
    assert "-1" not in {w.assignee for w in items.values()}
    assert "-1" not in {w.author for w in out if isinstance(w, Worklog)}
    assert "-1" not in {p.external_id for p in people if isinstance(p, Person)}
    for uid in changed:
        resources = [a["resource"] for a in items[uid].extra.get("assignments", [])]
        assert "-1" not in resources
