"""The fault suite (issue 13), bounded for CI: real ``pmohub`` processes SIGKILLed at
random points of ``sync``, ``check``, ``nightly`` and a first ``db upgrade``, on SQLite and
PostgreSQL; after the ordinary recovery commands the store must equal the spreadsheet's
truth, with no run left ``running`` (tests/faultkit.py). The long run of the same rounds is
``python tests/chaos/chaos.py`` (docs/data-safety.md has its figures)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from faultkit import KINDS, World, chaos, job_statuses

KILLS = {"sqlite": 4, "postgresql": 4}  # one round of each kind per database
ROWS = 200


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_sigkill_anywhere_then_recover(backend: str, tmp_path: Path, request) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"

        def make_url(n: int) -> str:
            return f"sqlite:///{tmp_path / f'fresh-{n}.db'}"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database()
        counter = itertools.count()

        def make_url(n: int) -> str:
            del n
            next(counter)
            return cluster.create_database()

    world = World(tmp_path, url, rows=ROWS, seed=13)
    figures = chaos(world, KINDS, KILLS[backend], make_url=make_url)
    assert figures.mismatches == [], figures.mismatches
    assert figures.kills == KILLS[backend] and figures.recovered == figures.kills
    assert figures.killed_mid_run >= 1  # the kills did land inside commands
    # a killed nightly's job row was closed as abandoned by the next pass, never left running
    assert job_statuses(world.store_url)["running"] == 0
