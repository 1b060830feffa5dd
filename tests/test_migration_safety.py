"""Migrations that cannot brick the store (issue 13): SIGKILL at random points of a first
creation and of each upgrade step, then ``pmohub db upgrade`` must succeed and leave the
schema of a clean store; half-applied states from older versions are repaired; backups
are private and named with the revision; new store files are 0600."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from pmohub.aggregator.store.engine import (
    create_store_engine,
    current_revision,
    head_revision,
    upgrade,
)

CHILD = """
import sys
from pmohub.aggregator.store.engine import create_store_engine, upgrade
engine = create_store_engine(sys.argv[1])
print("go", flush=True)
upgrade(engine, sys.argv[2])
print("done", flush=True)
"""


def revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    from pmohub.aggregator.store.engine import alembic_config

    script = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def schema(url: str) -> dict[str, object]:
    """Tables with their columns (name, type, nullable, default, pk), indexes and keys."""
    engine = create_store_engine(url)
    try:
        insp = inspect(engine)
        out: dict[str, object] = {}
        for name in sorted(insp.get_table_names()):
            cols = sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in insp.get_columns(name)
            )
            idx = sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(name)
            )
            fks = sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in insp.get_foreign_keys(name)
            )
            out[name] = (cols, idx, fks, insp.get_pk_constraint(name)["constrained_columns"])
        return out
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def clean_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    url = f"sqlite:///{tmp_path_factory.mktemp('clean') / 'clean.db'}"
    upgrade(create_store_engine(url))
    return schema(url)


def kill_during_upgrade(url: str, target: str, rng: random.Random, window_s: float) -> bool:
    """Run an upgrade in a subprocess and SIGKILL it a random time after it starts; True
    when it finished before the kill landed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, target],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "go"
    time.sleep(rng.uniform(0, window_s))
    os.kill(proc.pid, signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait(10)
    return "done" in rest


def db_upgrade(config: Path) -> str:
    from pmohub.cli.main import main

    result = CliRunner().invoke(main, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    return result.output


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "pmohub.yaml"
    config.write_text(f"version: 1\ndatabase: {url}\nsources: {{}}\n")
    return config


@pytest.mark.parametrize("seed", range(6))
def test_kill_during_first_creation(tmp_path: Path, clean_schema: dict, seed: int) -> None:
    rng = random.Random(seed)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    finished = kill_during_upgrade(url, "head", rng, window_s=0.6)
    engine = create_store_engine(url)
    rev = current_revision(engine)
    # the kill left either nothing or a complete revision: never tables without a version
    assert rev in (None, *revisions()), rev
    if finished:
        assert rev == head_revision()
    db_upgrade(write_config(tmp_path, url))
    assert current_revision(engine) == head_revision()
    assert schema(url) == clean_schema


@pytest.mark.parametrize("seed", range(2))
def test_kill_during_each_upgrade_step(tmp_path: Path, clean_schema: dict, seed: int) -> None:
    rng = random.Random(100 + seed)
    for start in revisions()[:-1]:
        url = f"sqlite:///{tmp_path / f'store-{start}.db'}"
        engine = create_store_engine(url)
        upgrade(engine, start)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO sources (name, type, created_at) VALUES ('keep', 'jira', '2026-01-01')"
            )
        kill_during_upgrade(url, "head", rng, window_s=0.5)
        db_upgrade(write_config(tmp_path, url))
        assert current_revision(engine) == head_revision()
        assert schema(url) == clean_schema
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM sources").scalars().all() == ["keep"]
        engine.dispose()


def test_half_applied_states_of_older_versions_are_repaired(
    tmp_path: Path, clean_schema: dict
) -> None:
    # what a kill did to a store before transactional DDL: tables without a version row
    url = f"sqlite:///{tmp_path / 'bricked.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version")
        for name in ("snapshots", "baselines"):
            conn.exec_driver_sql(f"DROP TABLE {name}")
    out = db_upgrade(write_config(tmp_path, url))
    assert "dropped table job_runs" in out
    assert schema(url) == clean_schema
    # a column added by a step whose version bump never committed
    revs = revisions()
    if len(revs) >= 2:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revs[-2]}'")
        # the newest step's objects are there, its version row is not: repaired and re-run
        out = db_upgrade(write_config(tmp_path, url))
        if revs[-1] == "0003":
            assert "dropped column work_items.progress" in out
        if revs[-1] == "0004":
            assert "dropped view bi_v1_fact_work_items" in out
    assert schema(url) == clean_schema
    assert current_revision(engine) == head_revision()


def test_a_leftover_table_with_rows_is_never_dropped(tmp_path: Path) -> None:
    from pmohub.aggregator.store.migrate import MigrationError

    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sources (name, type, created_at) VALUES ('x', 'jira', '2026-01-01')"
        )
        conn.exec_driver_sql("DELETE FROM alembic_version")
    with pytest.raises(MigrationError, match="sources exists with 1 rows"):
        upgrade(engine)


def test_backup_before_upgrade_is_private_and_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_store_engine(url)
    first = revisions()[0]
    upgrade(engine, first)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sources (name, type, created_at) VALUES ('b', 'jira', '2026-01-01')"
        )
    notes = upgrade(engine)
    backups = sorted(tmp_path.glob(f"store.db.backup-{first}-*"))
    assert len(backups) == 1 and str(backups[0]) in " ".join(notes)
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    with sqlite3.connect(backups[0]) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (first,)
        assert copy.execute("SELECT name FROM sources").fetchall() == [("b",)]
    assert upgrade(engine) == []  # at head: no backup, nothing to repair


def test_new_store_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "umask", os.umask)  # restored by monkeypatch either way
    old = os.umask(0o022)
    try:
        path = tmp_path / "new.db"
        upgrade(create_store_engine(f"sqlite:///{path}"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for extra in tmp_path.glob("new.db-*"):  # WAL / shm take the main file's mode
            assert stat.S_IMODE(extra.stat().st_mode) == 0o600, extra
        monkeypatch.setenv("PMOHUB_FILE_MODE", "640")
        other = tmp_path / "group.db"
        create_store_engine(f"sqlite:///{other}")
        assert stat.S_IMODE(other.stat().st_mode) == 0o640
    finally:
        os.umask(old)


@pytest.mark.postgres
def test_kill_during_first_creation_on_postgresql(pg_cluster, tmp_path: Path) -> None:
    clean = pg_cluster.create_database()
    upgrade(create_store_engine(clean))
    expected = schema(clean)
    rng = random.Random(7)
    for _ in range(3):
        url = pg_cluster.create_database()
        kill_during_upgrade(url, "head", rng, window_s=0.8)
        assert current_revision(create_store_engine(url)) in (None, *revisions())
        db_upgrade(write_config(tmp_path, url))
        assert schema(url) == expected
