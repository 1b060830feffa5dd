"""One identity per person: e-mail merges (case-insensitive, across sources), config
`people:` aliases, `pmohub people link` (kept across re-syncs), and `pmohub people` output.
Real syncs of real files into real stores; the expectations come from the files' contents."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.demo.samples import make_mspdi
from pmohub.aggregator.ingest.sync import sync_all, sync_source
from pmohub.aggregator.people import PeopleError, apply_config_people, link_accounts, people_rows
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import aliases_t, people_t, work_items_t, worklogs_t
from pmohub.cli.main import main
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.gitlab import GitLabConnector
from pmohub.emulators.gitlab import DEFAULT_TOKEN, GitLabEmulator, generate_site

PLAN = Path(make_mspdi.__file__).with_name(make_mspdi.FILE_NAME)
# Two spreadsheet sources: lina@example.cn and WangFang's address in another case also
# appear as MS Project resources; 周杰 has no e-mail anywhere.
CSV_OPS = (
    "编号,任务名称,负责人,负责人邮箱,截止日期,状态\n"
    "O-1,机房盘点,李娜,lina@example.cn,2026-11-20,进行中\n"
    "O-2,网络开通,王芳,wangfang@example.cn,2026-12-01,未开始\n"
    "O-3,安全加固,周杰,,2026-12-05,未开始\n"
)
CSV_MKT = (
    "ID,Title,Assignee,Email,Due Date,Status\n"
    "M-1,Campaign plan,Alice Chen,ALICE.CHEN@example.com,2026-12-01,In Progress\n"
    "M-2,Press kit,Jay Zhou,,2026-12-03,To Do\n"
)


def write_sources(d: Path) -> str:
    (d / "ops.csv").write_text(CSV_OPS, encoding="utf-8")
    (d / "mkt.csv").write_text(CSV_MKT, encoding="utf-8")
    shutil.copyfile(PLAN, d / "plan.xml")
    return textwrap.dedent(
        """\
        sources:
          ops: {type: spreadsheet, path: ops.csv, project_key: OPS}
          mkt: {type: spreadsheet, path: mkt.csv, project_key: MKT}
          plan: {type: msproject, path: plan.xml, project_key: DATA}
        """
    )


def sync(engine: Any, config: Any) -> None:
    results = sync_all(engine, list(config.sources.values()), full=True)
    assert all(r.ok for r in results), [r.error for r in results]
    apply_config_people(engine, config.people)


def person_of(engine: Any, source: str, ext: str) -> int:
    with engine.connect() as db:
        return db.execute(
            select(aliases_t.c.person_id).where(
                aliases_t.c.source == source, aliases_t.c.external_id == ext
            )
        ).scalar_one()


def n_people(engine: Any) -> int:
    with engine.connect() as db:
        return db.execute(select(func.count()).select_from(people_t)).scalar_one()


def test_email_config_and_manual_links_survive_resync(store_url: str, tmp_path: Path) -> None:
    people_yaml = """\
people:
  - {id: "ops:周杰", name: Zhou Jie, aliases: ["mkt:Jay Zhou"]}
  - {id: "plan:4", email: zhaolei@example.cn, aliases: ["gitlab:zhaolei"]}
"""
    text = "version: 1\n" + write_sources(tmp_path) + people_yaml
    (tmp_path / "pmohub.yaml").write_text(text, encoding="utf-8")
    config = parse_config(text, path=tmp_path / "pmohub.yaml")
    engine = open_store(store_url)
    try:
        sync(engine, config)
        # e-mail: same address, any case, any source -> one person
        lina = person_of(engine, "ops", "lina@example.cn")
        assert person_of(engine, "plan", "1") == lina  # MS Project resource 李娜
        assert person_of(engine, "plan", "2") == person_of(engine, "ops", "wangfang@example.cn")
        assert person_of(engine, "plan", "3") == person_of(engine, "mkt", "alice.chen@example.com")
        # config alias: no e-mail in common, the config says they are one
        jie = person_of(engine, "ops", "周杰")
        assert person_of(engine, "mkt", "Jay Zhou") == jie
        with engine.connect() as db:
            name = db.execute(
                select(people_t.c.display_name).where(people_t.c.id == jie)
            ).scalar_one()
        assert name == "Zhou Jie"
        # the work of people in several sources lands on one person id
        with engine.connect() as db:
            assignees = set(
                db.execute(
                    select(work_items_t.c.assignee_id).where(
                        work_items_t.c.source.in_(["ops", "plan"]),
                        work_items_t.c.assignee_id == lina,
                    )
                ).scalars()
            )
            lina_hours = db.execute(
                select(func.sum(worklogs_t.c.seconds)).where(worklogs_t.c.person_id == lina)
            ).scalar_one()
        assert assignees == {lina}
        assert lina_hours == sum(
            a * 3600 for row in make_mspdi.TASKS for r, _w, a in row[12] if r == 1
        )

        # manual link: 赵磊 (plan:4) and Wang Fang are declared one person (contrived, but
        # nothing else would join them)
        before = n_people(engine)
        result = link_accounts(engine, ["plan:4", "ops:wangfang@example.cn"])
        assert n_people(engine) == before - 1
        assert person_of(engine, "plan", "4") == result.person_id == person_of(engine, "plan", "2")
        # re-syncing everything (full) keeps every link
        sync(engine, config)
        sync(engine, config)
        assert n_people(engine) == before - 1
        assert person_of(engine, "plan", "4") == person_of(engine, "ops", "wangfang@example.cn")
        assert person_of(engine, "mkt", "Jay Zhou") == person_of(engine, "ops", "周杰")
        with engine.connect() as db:
            how = dict(
                db.execute(
                    select(aliases_t.c.external_id, aliases_t.c.linked_by).where(
                        aliases_t.c.source == "plan"
                    )
                ).all()
            )
        assert how["4"] == "manual" and how["1"] == "email"

        rows = people_rows(engine)
        multi = [r for r in rows if r["sources"] > 1]
        # lina, wang fang(+zhao lei), alice, zhou jie
        assert len(multi) == 4
        assert len(rows) == n_people(engine)
    finally:
        engine.dispose()


def test_bad_references_are_clear_errors(sqlite_url: str, tmp_path: Path) -> None:
    text = "version: 1\n" + write_sources(tmp_path)
    config = parse_config(text, path=tmp_path / "pmohub.yaml")
    engine = open_store(sqlite_url)
    try:
        sync(engine, config)
        with pytest.raises(PeopleError, match="not SOURCE:ID"):
            link_accounts(engine, ["ops", "plan:1"])
        with pytest.raises(PeopleError, match=r"unknown source 'jira'.*known: mkt, ops, plan"):
            link_accounts(engine, ["jira:abc", "plan:1"])
        with pytest.raises(PeopleError, match="several spreadsheet sources"):
            link_accounts(engine, ["spreadsheet:周杰", "plan:1"])
        with pytest.raises(PeopleError, match="no account plan:99"):
            link_accounts(engine, ["plan:99", "plan:1"])
        # a type with a single source stands for it
        r = link_accounts(engine, ["msproject:4", "ops:周杰"])
        assert person_of(engine, "plan", "4") == r.person_id
        # config entries for sources not synced yet are pending, not errors
        bad = parse_config(
            text + 'people:\n  - {id: "gitlab:lina", aliases: ["ops:lina@example.cn"]}\n',
            path=tmp_path / "pmohub.yaml",
        )
        [res] = apply_config_people(engine, bad.people)
        assert res.pending == ["gitlab:lina"] and res.person_id == person_of(
            engine, "ops", "lina@example.cn"
        )
    finally:
        engine.dispose()


def test_references_by_username(sqlite_url: str, tmp_path: Path) -> None:
    """GitLab keys accounts by numeric id; ``gitlab:<username>`` names them too (docs/metrics.md)."""
    text = "version: 1\n" + write_sources(tmp_path)
    config = parse_config(text, path=tmp_path / "pmohub.yaml")
    engine = open_store(sqlite_url)
    site = generate_site(seed=5, projects=1, issues=6)
    user, other = site.users[0], site.users[1]
    assert user["username"] != str(user["id"])
    try:
        with GitLabEmulator(site) as emu:
            source = SourceConfig(
                name="gl", type="gitlab", url=emu.url, token_env="GL_TOKEN",
                projects=(f"{site.group['full_path']}/{site.projects[0]['path']}",),
            )  # fmt: skip
            result = sync_source(engine, GitLabConnector(source, env={"GL_TOKEN": DEFAULT_TOKEN}))
        assert result.status == "ok", result.error
        sync(engine, config)
        by_id = person_of(engine, "gl", str(user["id"]))
        assert by_id != person_of(engine, "ops", "周杰")

        # manual link by username (any case), through the source type as well as its name
        r = link_accounts(engine, [f"gitlab:{user['username'].upper()}", "ops:周杰"])
        assert r.person_id == person_of(engine, "gl", str(user["id"]))
        assert r.person_id == person_of(engine, "ops", "周杰")
        # config aliases by username; the numeric id still works
        entry = f'{{id: "gl:{other["username"]}", aliases: ["mkt:Jay Zhou"]}}'
        cfg = parse_config(text + f"people:\n  - {entry}\n", path=tmp_path / "pmohub.yaml")
        [res] = apply_config_people(engine, cfg.people)
        assert res.pending == []
        assert res.person_id == person_of(engine, "gl", str(other["id"]))
        assert person_of(engine, "mkt", "Jay Zhou") == res.person_id
        with pytest.raises(PeopleError, match="no account gl:nobody"):
            link_accounts(engine, ["gl:nobody", f"gl:{other['id']}"])
    finally:
        engine.dispose()


def run(args: list[str]) -> Any:
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_cli_people_and_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PMOHUB_CONFIG", raising=False)
    text = "version: 1\ndatabase: sqlite:///store.db\n" + write_sources(tmp_path)
    text += 'people:\n  - {id: "ops:周杰", aliases: ["mkt:Jay Zhou"]}\n'
    (tmp_path / "pmohub.yaml").write_text(text, encoding="utf-8")
    assert run(["--quiet", "sync"]).exit_code == 0

    out = run(["people", "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    by_account = {f"{a['source']}:{a['external_id']}": r for r in rows for a in r["accounts"]}
    assert by_account["plan:1"] is by_account["ops:lina@example.cn"]
    assert by_account["mkt:Jay Zhou"] is by_account["ops:周杰"]
    assert {a["linked_by"] for a in by_account["ops:周杰"]["accounts"]} == {"config"}

    table = run(["people", "--multi"])
    assert table.exit_code == 0
    assert "plan:1 (email)" in table.stdout and "mkt:Jay Zhou (config)" in table.stdout
    assert "赵磊" not in table.stdout  # only in the plan

    linked = run(["people", "link", "plan:4", "mkt:alice.chen@example.com"])
    assert linked.exit_code == 0, linked.output
    assert "linked 2 accounts" in linked.stdout
    again = json.loads(run(["people", "--source", "plan", "--format", "json"]).stdout)
    zhao = next(
        r
        for r in again
        if any(a["external_id"] == "4" and a["source"] == "plan" for a in r["accounts"])
    )
    assert {f"{a['source']}:{a['external_id']}" for a in zhao["accounts"]} >= {
        "plan:4",
        "plan:3",
        "mkt:alice.chen@example.com",
    }

    bad = CliRunner().invoke(main, ["people", "link", "nope:1", "plan:1"])
    assert bad.exit_code == 1
    assert "unknown source 'nope'" in bad.output and "Traceback" not in bad.output
