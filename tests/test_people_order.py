"""People merged by e-mail do not depend on the order sources are synced in.

``pmohub sync`` runs sources in parallel, so the people pages of different sources reach
``upsert_people`` in any order, interleaved page by page. Whatever the order, the store
must end up the same: which account anchors a merged person (``linked_by="sync"``) and
which are ``email``, the ``people`` row's attributes (its anchor's) and the person's key,
which findings name people by (``person:<key>``). Only ``people.id`` may differ, so every
comparison here goes through the key. Real SQLite and PostgreSQL stores, real writers and
real syncs; the expectations are computed from the records, not written down.
"""

from __future__ import annotations

import itertools
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.demo.samples import make_mspdi
from pmohub.aggregator.ingest.parallel import sync_sources
from pmohub.aggregator.ingest.sync import sync_config
from pmohub.aggregator.people import apply_config_people, person_keys
from pmohub.aggregator.store import open_store
from pmohub.aggregator.store import writes as w
from pmohub.aggregator.store.anchors import account_order
from pmohub.aggregator.store.bulk import aliases_t, people_t, work_items_t
from pmohub.connectors.records import Person, WorkItem
from pmohub.rules.builtin.resources import person_subjects

SOURCES = ("alpha", "beta", "gamma")


def person(source: str, ext: str, name: str, email: str | None, tz: str | None = None) -> Any:
    return Person(source=source, external_id=ext, display_name=name, email=email, time_zone=tz)


# Two pages per source. Li Wei has an account in every source, with the address in three
# spellings; Wang Fang in two (beta's sorts first); Zed's gamma account is met as a bare
# assignee id first (a placeholder) and merges with beta's by e-mail once listed; two
# accounts of one source share an address (alpha a0 sorts before a1: it anchors); a3 and
# g5 are nobody else.
PAGES: dict[tuple[str, int], list[Any]] = {
    ("alpha", 0): [
        person("alpha", "a1", "Li Wei", "li.wei@x.cn", "Asia/Shanghai"),
        person("alpha", "a3", "Solo", "solo@x.cn"),
    ],
    ("alpha", 1): [
        person("alpha", "a0", "Li W. (admin)", "LI.WEI@x.cn", "UTC"),
        person("alpha", "a2", "Wang Fang", "wang@x.cn", "Asia/Shanghai"),
    ],
    ("beta", 0): [
        person("beta", "b7", "李伟", "Li.Wei@X.CN"),
        person("beta", "b1", "Fang W.", " WANG@x.cn ", "Europe/Berlin"),
    ],
    ("beta", 1): [person("beta", "b0", "Zed", "zed@x.cn", "America/New_York")],
    ("gamma", 0): [
        person("gamma", "g1", "Wei Li", "li.wei@x.cn", "Europe/Berlin"),
        person("gamma", "g5", "Nobody", None),
    ],
    ("gamma", 1): [person("gamma", "g9", "Z.", "ZED@x.cn", "UTC")],
}
#: gamma's work item assigned to g9 before gamma's people list names g9
ITEMS = ("gamma", "items")
EVENTS: tuple[tuple[str, Any], ...] = (*PAGES, ITEMS)


def expected_anchors() -> dict[str, tuple[str, str]]:
    """e-mail -> the smallest (source, external id) of the accounts that carry it."""
    by_email: dict[str, list[tuple[str, str]]] = {}
    for page in PAGES.values():
        for p in page:
            key = w.normalise_email(p.email)
            if key:
                by_email.setdefault(key, []).append(account_order(p.source, p.external_id))
    return {e: min(accounts) for e, accounts in by_email.items()}


def apply_event(engine: Engine, event: tuple[str, Any]) -> None:
    with engine.begin() as conn:
        if event == ITEMS:
            w.upsert_work_items(
                conn,
                "gamma",
                [
                    WorkItem(
                        source="gamma",
                        external_id="i1",
                        key="G-1",
                        project_key="G",
                        title="item",
                        type="Task",
                        status="Open",
                        status_category="todo",
                        assignee="g9",
                    )  # fmt: skip
                ],
            )
        else:
            w.upsert_people(conn, event[0], PAGES[event])


def store_state(engine: Engine) -> dict[str, Any]:
    """Everything but people.id (the order pages arrived in), keyed by the person's key."""
    with engine.connect() as conn:
        keys = person_keys(conn)
        aliases = sorted(
            (src, ext, keys[pid], how)
            for src, ext, pid, how in conn.execute(
                select(
                    aliases_t.c.source,
                    aliases_t.c.external_id,
                    aliases_t.c.person_id,
                    aliases_t.c.linked_by,
                )
            )
        )
        rows = conn.execute(
            select(
                people_t.c.id,
                people_t.c.display_name,
                people_t.c.email,
                people_t.c.active,
                people_t.c.time_zone,
            )
        ).all()
        assignees = sorted(
            (src, ext, keys.get(pid))
            for src, ext, pid in conn.execute(
                select(
                    work_items_t.c.source, work_items_t.c.external_id, work_items_t.c.assignee_id
                )
            )
        )
    frame = pd.DataFrame({"key": [keys[r[0]] for r in rows]}, index=[r[0] for r in rows])
    subjects = person_subjects(pd.Series(frame.index), frame)
    return {
        "aliases": aliases,
        "people": sorted((keys[r[0]], *r[1:]) for r in rows),
        "subjects": sorted(subjects),
        "assignees": assignees,
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite store with the three sources, copied for every order."""
    path = tmp_path_factory.mktemp("people_order") / "template.db"
    engine = open_store(f"sqlite:///{path}")
    with engine.begin() as conn:
        for name in SOURCES:
            w.upsert_source(conn, name, "test")
    engine.dispose()
    return path


def state_after(template: Path, workdir: Path, order: list[tuple[str, Any]]) -> dict[str, Any]:
    path = workdir / f"store-{abs(hash(tuple(order)))}.db"
    shutil.copyfile(template, path)
    engine = open_store(f"sqlite:///{path}")
    try:
        for event in order:
            apply_event(engine, event)
        return store_state(engine)
    finally:
        engine.dispose()
        path.unlink()


def source_order(sources: tuple[str, ...]) -> list[tuple[str, Any]]:
    """Each source synced whole (people pages, then gamma's work items), one after another."""
    out: list[tuple[str, Any]] = []
    for s in sources:
        out += [(s, 0), (s, 1)] + ([ITEMS] if s == "gamma" else [])
    return out


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return state_after(template, tmp_path_factory.mktemp("ref"), source_order(SOURCES))


def test_reference_state_is_the_smallest_account_rule(reference: dict[str, Any]) -> None:
    """The anchor of each e-mail group is its smallest account; the row is the anchor's."""
    anchors = expected_anchors()
    records = {(p.source, p.external_id): p for page in PAGES.values() for p in page}
    how = {(s, e): (k, lb) for s, e, k, lb in reference["aliases"]}
    for email, (src, ext) in anchors.items():
        group = [a for a, p in records.items() if w.normalise_email(p.email) == email]
        assert {how[a][0] for a in group} == {f"{src}:{ext}"}  # one person, keyed by it
        assert {a for a in group if how[a][1] == "sync"} == {(src, ext)}
        assert all(how[a][1] == "email" for a in group if a != (src, ext))
        anchor = records[(src, ext)]
        row = next(r for r in reference["people"] if r[0] == f"{src}:{ext}")
        assert row[1:] == (anchor.display_name, anchor.email, anchor.active, anchor.time_zone)
    # the placeholder person of g9 merged into Zed's: the work item follows
    zed = ":".join(anchors["zed@x.cn"])
    assert reference["assignees"] == [("gamma", "i1", zed)]
    people_by_email = len(anchors) + 1  # + g5, who has no e-mail
    assert len(reference["people"]) == people_by_email
    assert reference["subjects"] == sorted(f"person:{r[0]}" for r in reference["people"])


@pytest.mark.parametrize("sources", list(itertools.permutations(SOURCES)), ids="-".join)
def test_every_source_order_gives_one_state(
    sources: tuple[str, ...], template: Path, tmp_path: Path, reference: dict[str, Any]
) -> None:
    assert state_after(template, tmp_path, source_order(sources)) == reference


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order=st.permutations(EVENTS))
def test_any_interleaving_of_pages_gives_one_state(
    order: list[tuple[str, Any]], template: Path, tmp_path: Path, reference: dict[str, Any]
) -> None:
    """Pages in any order at all, even a source's second page before its first and the
    placeholder after gamma's people list (a later night's work item)."""
    assert state_after(template, tmp_path, list(order)) == reference


# --- real syncs, in every order and in parallel ------------------------------------------

PLAN = Path(make_mspdi.__file__).with_name(make_mspdi.FILE_NAME)
# lina@example.cn, wangfang@example.cn and alice.chen@example.com are also MS Project
# resources of the plan; "mkt" sorts before "ops" and "plan".
CSV_OPS = (
    "编号,任务名称,负责人,负责人邮箱,截止日期,状态\n"
    "O-1,机房盘点,李娜,LINA@example.cn,2026-11-20,进行中\n"
    "O-2,网络开通,王芳,wangfang@example.cn,2026-12-01,未开始\n"
)
CSV_MKT = (
    "ID,Title,Assignee,Email,Due Date,Status\n"
    "M-1,Campaign plan,Alice Chen,ALICE.CHEN@example.com,2026-12-01,In Progress\n"
    "M-2,Launch,Lina,lina@example.cn,2026-12-03,To Do\n"
)


def write_sources(d: Path) -> Any:
    (d / "ops.csv").write_text(CSV_OPS, encoding="utf-8")
    (d / "mkt.csv").write_text(CSV_MKT, encoding="utf-8")
    shutil.copyfile(PLAN, d / "plan.xml")
    text = "version: 1\n" + textwrap.dedent(
        """\
        sources:
          ops: {type: spreadsheet, path: ops.csv, project_key: OPS}
          mkt: {type: spreadsheet, path: mkt.csv, project_key: MKT}
          plan: {type: msproject, path: plan.xml, project_key: DATA}
        """
    )
    return parse_config(text, path=d / "pmohub.yaml")


def synced_state(store_url: str, config: Any, order: tuple[str, ...] | None) -> dict[str, Any]:
    engine = open_store(store_url)
    try:
        sources = list(config.sources.values())
        if order is None:  # all at once
            results = sync_sources(engine, sources, parallel=len(sources), full=True)
        else:
            by_name = {s.name: s for s in sources}
            results = [sync_config(engine, by_name[n], full=True) for n in order]
        assert all(r.ok for r in results), [r.error for r in results]
        apply_config_people(engine, config.people)
        return store_state(engine)
    finally:
        engine.dispose()


def test_real_syncs_in_every_order_and_in_parallel_agree(sqlite_url: str, tmp_path: Path) -> None:
    config = write_sources(tmp_path)
    names = tuple(config.sources)
    states = []
    for i, order in enumerate([*itertools.permutations(names), None, None]):
        url = sqlite_url.replace(".db", f"-{i}.db")
        states.append(synced_state(url, config, order))
    assert all(s == states[0] for s in states[1:])
    how = {(s, e): (k, lb) for s, e, k, lb in states[0]["aliases"]}
    # Lina is in all three: mkt's account is the smallest, so it anchors, whatever ran first
    assert how[("mkt", "lina@example.cn")] == ("mkt:lina@example.cn", "sync")
    assert how[("ops", "lina@example.cn")] == ("mkt:lina@example.cn", "email")
    assert how[("plan", "1")] == ("mkt:lina@example.cn", "email")
    row = next(r for r in states[0]["people"] if r[0] == "mkt:lina@example.cn")
    assert row[1:3] == ("Lina", "lina@example.cn")


def test_parallel_syncs_on_postgresql_agree_with_one_after_another(
    pg_url: str, pg_cluster: Any, tmp_path: Path
) -> None:
    """PostgreSQL writes sources really at once (SQLite serialises its writers)."""
    config = write_sources(tmp_path)
    sequential = synced_state(pg_url, config, tuple(reversed(list(config.sources))))
    for _ in range(3):
        assert synced_state(pg_cluster.create_database(), config, None) == sequential
