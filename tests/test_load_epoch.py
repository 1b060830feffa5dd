"""A time read back through ``epoch_seconds`` lands on the right local day.

SQLite's julianday() returns a float day number: 16:00:00 UTC came back as
15:59:59.999987, which in Asia/Shanghai (UTC+8) is 23:59:59.999987 of the day before
instead of midnight of the next day. ``aggregator.store.reads.epoch_seconds`` rounds it to
the millisecond SQLite keeps; PostgreSQL's ``extract(epoch ...)`` is exact. Tested
through a reader that takes the local day of a stored time: utilisation buckets worklogs
by their local Monday, so a worklog at exactly Monday 00:00 Shanghai (Sunday 16:00 UTC)
belongs to the new week.
"""

from __future__ import annotations

import datetime as dt

import pytest
from rollup_data import SRC, local
from sqlalchemy import select
from test_load import AS_OF, CFG, build
from test_load_utilisation import log

from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.load import person_load, wl_t
from pmohub.aggregator.store import writes as w
from pmohub.aggregator.store.engine import open_store
from pmohub.aggregator.store.reads import epoch_seconds, query_frame

MIDNIGHT = local(2026, 9, 28, 0, 0)  # Mon Sep 28 00:00 Shanghai = Sun Sep 27 16:00 UTC


def test_midnight_shanghai_is_16_utc() -> None:
    assert MIDNIGHT == dt.datetime(2026, 9, 27, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def midnight_store(store_url: str):
    engine = open_store(store_url)
    build(engine)
    with engine.begin() as conn:
        w.upsert_worklogs(conn, SRC, [log(1, "id-CRMA-20", "u-zhang", MIDNIGHT, 2)])
    yield engine
    engine.dispose()


def test_epoch_seconds_is_exact(midnight_store) -> None:
    d = midnight_store.dialect.name
    got = query_frame(
        midnight_store, select(epoch_seconds(wl_t.c.started_at, d)), ["at"], raw=True
    )["at"].tolist()
    assert got == [MIDNIGHT.timestamp()]


def test_worklog_at_local_midnight_counts_in_the_new_week(midnight_store) -> None:
    rep = person_load(midnight_store, parse_config(CFG), AS_OF, weeks=2, util_weeks=2)
    u = rep.utilisation.assign(week=lambda f: f["week_start"].astype(str))
    logged = u.set_index(["name", "week"])["logged_h"]
    assert logged[("张伟", "2026-09-28")] == pytest.approx(2)
    assert logged[("张伟", "2026-09-21")] == 0
