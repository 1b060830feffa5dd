"""Utilisation = logged h ÷ capacity (docs/metrics.md 2.3), per person and team, on SQLite and
PostgreSQL, hand-computed.

As of Thu 2026-10-08 with 2 weeks: Sep 21-27 has 4 working days (Sep 25 中秋) and
Sep 28-Oct 4 has 3 (Oct 1-7 国庆).
  张伟 (6 h/day, jira u-zhang + gitlab zhangwei merged): cap 24 h, 18 h
       logged Sep 22 6 h, Sep 23 6 h (GitLab account), Sun Sep 27 23:30 local 1 h
       (15:30 UTC: still that week), Mon Sep 28 00:30 local 3 h (Sep 27 UTC: next week),
       Sep 29 9 h -> 13/24, 12/18
  李娜 (8 h/day x 0.5): cap 16 h, 12 h; logged Sep 24 8 h -> 8/16, 0/12
  王芳 (allocation 0): cap 0; logged Sep 29 2 h -> N/E (no ratio)
  team: 21/40, 14/30
"""

from __future__ import annotations

import datetime as dt

import pytest
from rollup_data import SRC, local
from test_load import AS_OF, CFG, build

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.load import person_load
from pmohub.aggregator.store import writes as w
from pmohub.aggregator.store.engine import open_store
from pmohub.connectors import records as rec


def log(n: int, item: str, author: str, at: dt.datetime, hours: float, source: str = SRC):
    return rec.Worklog(
        source=source,
        external_id=f"wl-{n}",
        work_item_id=item,
        author=author,
        started_at=at,
        seconds=int(hours * 3600),
    )


@pytest.fixture
def util_env(store_url):
    engine = open_store(store_url)
    build(engine)
    with engine.begin() as conn:
        w.upsert_worklogs(
            conn,
            SRC,
            [
                log(1, "id-CRMA-20", "u-zhang", local(2026, 9, 22), 6),
                log(2, "id-CRMA-20", "u-zhang", local(2026, 9, 27, 23, 30), 1),
                log(3, "id-PAY-20", "u-zhang", local(2026, 9, 28, 0, 30), 3),
                log(4, "id-PAY-20", "u-zhang", local(2026, 9, 29), 9),
                log(5, "id-CRMA-21", "u-li", local(2026, 9, 24), 8),
                log(6, "id-CRMA-23", "u-wang", local(2026, 9, 29), 2),
                log(7, "id-CRMA-23", "u-wang", local(2026, 10, 5), 5),  # this week: not shown
            ],
        )
        w.upsert_worklogs(
            conn, "gitlab", [log(8, "g-1", "zhangwei", local(2026, 9, 23), 6, "gitlab")]
        )
    return engine, parse_config(CFG)


def test_utilisation_per_person_and_team(util_env):
    engine, config = util_env
    rep = person_load(engine, config, AS_OF, weeks=2, util_weeks=2)
    u = rep.utilisation.assign(week=lambda f: f["week_start"].astype(str))
    u = u.set_index(["name", "week"])
    w1, w2 = "2026-09-21", "2026-09-28"
    assert u.loc[("张伟", w1), ["logged_h", "cap_h"]].tolist() == pytest.approx([13, 24])
    assert u.loc[("张伟", w1), "utilisation"] == pytest.approx(13 / 24)
    assert u.loc[("张伟", w2), "utilisation"] == pytest.approx(12 / 18)
    assert u.loc[("李娜", w1), "utilisation"] == pytest.approx(8 / 16)
    assert u.loc[("李娜", w2), ["logged_h", "cap_h", "utilisation"]].tolist() == pytest.approx(
        [0, 12, 0]
    )
    assert u.loc[("王芳", w2), "logged_h"] == pytest.approx(2)
    assert u.loc[("王芳", w2), "cap_h"] == 0
    assert u.loc[("王芳", w2), "utilisation"] != u.loc[("王芳", w2), "utilisation"]  # N/E
    assert len(u) == 6  # three people (the GitLab account is 张伟) x two weeks
    team = rep.team_utilisation.assign(week=lambda f: f["week_start"].astype(str))
    team = team.set_index("week")
    assert team.loc[w1, ["logged_h", "cap_h"]].tolist() == pytest.approx([21, 40])
    assert team.loc[w1, "utilisation"] == pytest.approx(21 / 40)
    assert team.loc[w2, "utilisation"] == pytest.approx(14 / 30)


def test_load_cli_shows_utilisation(util_env, store_url, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from pmohub.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JIRA_TOKEN", "x")
    (tmp_path / "pmohub.yaml").write_text(
        CFG.replace("version: 1", f"version: 1\ndatabase: {store_url}"), encoding="utf-8"
    )
    args = ["load", "--as-of", "2026-10-08", "--weeks", "2"]
    res = CliRunner().invoke(main, [*args, "--format", "json"], catch_exceptions=False)
    doc = json.loads(res.stdout)
    team = {r["week_start"]: r for r in doc["team_utilisation"]}
    assert team["2026-09-21"]["utilisation"] == pytest.approx(21 / 40)
    assert team["2026-09-07"]["logged_h"] == 0  # 4 complete weeks by default
    zhang = [r for r in doc["utilisation"] if r["name"] == "张伟"]
    assert [r["logged_h"] for r in zhang] == pytest.approx([0, 0, 13, 12])
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert "Utilisation (logged / capacity, team): " in res.stdout
    assert "2026-W39 52% (21/40 h)" in res.stdout
