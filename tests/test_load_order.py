"""``pmohub load`` lists people in one order whatever order the sources were synced in.

``people.id`` follows the order accounts reach the store, which a parallel sync varies;
the load lists people by name, then by their anchor account (the smallest
(source, external id), aggregator/store/anchors.py), so two stores synced in different
orders print the same rows in the same order. Only ``person_id`` (the store's id) may
differ, so the JSON is compared without it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.ingest.sync import sync_config
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store.bulk import people_t
from pmohub.cli.main import main

# Two different people called Chen Jie (one per source, different addresses), Zhou Min in
# both (merged by e-mail), undated work (unscheduled) for three people.
CSV = {
    "alpha": (
        "编号,任务名称,负责人,负责人邮箱,截止日期,状态\n"
        "A-1,接口,Chen Jie,chen.a@x.cn,2026-12-09,进行中\n"
        "A-2,评审,Zhou Min,zhou@x.cn,2026-12-10,未开始\n"
        "A-3,文档,Chen Jie,chen.a@x.cn,,未开始\n"
        "A-4,测试,Zhou Min,zhou@x.cn,,未开始\n"
    ),
    "beta": (
        "编号,任务名称,负责人,负责人邮箱,截止日期,状态\n"
        "B-1,部署,Chen Jie,chen.b@x.cn,2026-12-08,进行中\n"
        "B-2,迁移,Zhou Min,ZHOU@x.cn,2026-12-15,未开始\n"
        "B-3,培训,An Li,an@x.cn,,未开始\n"
        "B-4,备份,Chen Jie,chen.b@x.cn,,未开始\n"
    ),
}
ARGS = ["--quiet", "load", "--as-of", "2026-12-07", "--weeks", "2"]


def synced(d: Path, order: tuple[str, ...]) -> Path:
    d.mkdir()
    for name, text in CSV.items():
        (d / f"{name}.csv").write_text(text, encoding="utf-8")
    sources = "".join(
        f"  {n}: {{type: spreadsheet, path: {n}.csv, project_key: {n[0].upper()}}}\n" for n in CSV
    )
    path = d / "pmohub.yaml"
    path.write_text(
        textwrap.dedent(f"version: 1\ndatabase: sqlite:///{d / 'store.db'}\nsources:\n") + sources,
        encoding="utf-8",
    )
    config = load_config_file(path)
    engine = open_store(config.database)
    try:
        for name in order:
            assert sync_config(engine, config.sources[name], full=True).ok
    finally:
        engine.dispose()
    return path


def load_output(config: Path, *fmt: str) -> str:
    res = CliRunner().invoke(main, ["--config", str(config), *ARGS, *fmt], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def without_ids(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: without_ids(v) for k, v in doc.items() if k != "person_id"}
    if isinstance(doc, list):
        return [without_ids(v) for v in doc]
    return doc


def test_load_output_does_not_depend_on_the_sync_order(tmp_path: Path) -> None:
    one = synced(tmp_path / "ab", ("alpha", "beta"))
    two = synced(tmp_path / "ba", ("beta", "alpha"))
    ids = []
    for config in (one, two):
        engine = open_store(load_config_file(config).database)
        with engine.connect() as conn:
            ids.append(dict(conn.execute(select(people_t.c.email, people_t.c.id)).all()))
        engine.dispose()
    assert ids[0] != ids[1]  # the store ids really differ: the order is not theirs

    docs = [json.loads(load_output(c, "--format", "json")) for c in (one, two)]
    assert without_ids(docs[0]) == without_ids(docs[1])
    assert load_output(one) == load_output(two)
    assert load_output(one, "--format", "csv").count("\n") > 1

    # by name, then by anchor account: alpha's Chen Jie before beta's
    weeks = docs[0]["weeks"]
    people = list(dict.fromkeys((r["name"], r["person_id"]) for r in weeks))
    assert [n for n, _ in people] == ["An Li", "Chen Jie", "Chen Jie", "Zhou Min"]
    first_chen = people[1][1]
    assert {r["key"] for r in docs[0]["unscheduled"] if r["person_id"] == first_chen} == {"A-3"}
    assert [r["key"] for r in docs[0]["unscheduled"]] == ["B-3", "A-3", "B-4", "A-4"]
