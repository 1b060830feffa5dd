"""The stored status (aggregator.status.cache) on SQLite and PostgreSQL: served only while
nothing it was computed from changed, and then equal to a live computation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fakesource import FakeConnector, source_config, write_spec
from sqlalchemy import Engine, select

from pmohub.aggregator.compliance.baselines import take_baseline
from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import load_config_file, parse_config
from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.status import cache as statuscache
from pmohub.aggregator.status.cache import (
    _from_text,
    _to_text,
    current_status,
    status_fingerprint,
)
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.status.snapshots import take_snapshots
from pmohub.aggregator.store.engine import open_store
from pmohub.aggregator.store.models import StatusCache
from pmohub.aggregator.store.revisions import bump_revision, read_revisions
from pmohub.cli.main import main

AS_OF = dt.date(2026, 1, 20)
CONFIG = """version: 1
timezone: Asia/Shanghai
hierarchy:
  - portfolio: 数字化
    programmes:
      - programme: 核心
        projects:
          - {key: ALPHA, critical: true}
          - {key: BETA}
"""


def sync(engine: Engine, spec: Path, **kw):
    result = sync_source(engine, FakeConnector(source_config(spec)), **kw)
    assert result.status == "ok", result.error
    return result


@pytest.fixture
def synced(store_url: str, tmp_path: Path):
    engine = open_store(store_url)
    spec = write_spec(tmp_path / "spec.json", n=60)
    sync(engine, spec)
    return engine, parse_config(CONFIG), spec


def assert_same_report(a, b) -> None:
    for level in ("projects", "programmes", "portfolios"):
        pd.testing.assert_frame_equal(getattr(a, level), getattr(b, level))


def test_nightly_result_is_served_and_equals_live(synced) -> None:
    engine, config, _ = synced
    assert current_status(engine, config, AS_OF).computed_at is None  # nothing stored yet
    take_snapshots(engine, config, AS_OF, forecasts=False)
    served = current_status(engine, config, AS_OF)
    assert served.computed_at is not None
    assert any("has not changed since" in n for n in served.notes)
    assert len(served.projects) == 2 and served.projects["items_total"].sum() > 0
    assert_same_report(served, project_status(engine, config, AS_OF))
    # Another date is another row: not served for it.
    assert current_status(engine, config, AS_OF + dt.timedelta(days=1)).computed_at is None


def test_unchanged_resync_keeps_it_a_changing_one_does_not(synced) -> None:
    engine, config, spec = synced
    take_snapshots(engine, config, AS_OF, forecasts=False)
    before = read_revisions(engine.connect())
    again = sync(engine, spec, full=True)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert read_revisions(engine.connect()) == before  # a no-op page bumps nothing
    assert current_status(engine, config, AS_OF).computed_at is not None

    write_spec(spec, n=60, deleted=[4, 6])  # two ALPHA items gone upstream
    assert sync(engine, spec, full=True).deleted >= 2
    live = current_status(engine, config, AS_OF)
    assert live.computed_at is None
    alpha = live.projects.set_index("project_key").loc["ALPHA", "items_total"]
    take_snapshots(engine, config, AS_OF, forecasts=False)
    served = current_status(engine, config, AS_OF)
    assert served.computed_at is not None
    assert served.projects.set_index("project_key").loc["ALPHA", "items_total"] == alpha
    assert_same_report(served, project_status(engine, config, AS_OF))


def test_check_baseline_config_and_code_changes_invalidate(synced, monkeypatch) -> None:
    engine, config, _ = synced
    take_snapshots(engine, config, AS_OF, forecasts=False)
    first = status_fingerprint(engine, config, AS_OF)
    assert current_status(engine, config, AS_OF).computed_at is not None

    other = parse_config(CONFIG + "defaults: {hpp: 7}\n")
    assert status_fingerprint(engine, other, AS_OF) != first
    assert current_status(engine, other, AS_OF, store=False).computed_at is None

    monkeypatch.setattr(statuscache, "code_digest", lambda: "another build")
    assert current_status(engine, config, AS_OF, store=False).computed_at is None
    monkeypatch.undo()
    assert current_status(engine, config, AS_OF, store=False).computed_at is not None

    run_checks(engine, config, as_of=AS_OF, rule_ids=["DATA-002"])
    after_check = status_fingerprint(engine, config, AS_OF)
    assert after_check != first
    assert current_status(engine, config, AS_OF, store=False).computed_at is None

    take_baseline(engine, config, "ALPHA", "plan-approved")
    assert status_fingerprint(engine, config, AS_OF) not in (first, after_check)


def test_a_computed_status_is_kept_for_the_next_call(synced) -> None:
    engine, config, spec = synced
    first = current_status(engine, config, AS_OF)
    assert first.computed_at is None
    second = current_status(engine, config, AS_OF)
    assert second.computed_at is not None
    assert_same_report(first, second)
    write_spec(spec, n=62)  # an epic and a task under it, new upstream
    assert sync(engine, spec, full=True).inserted >= 1
    third = current_status(engine, config, AS_OF)
    assert third.computed_at is None
    assert third.projects["items_total"].sum() == first.projects["items_total"].sum() + 1


def test_a_read_only_store_still_answers(sqlite_url: str, tmp_path: Path, caplog) -> None:
    engine = open_store(sqlite_url)
    sync(engine, write_spec(tmp_path / "spec.json", n=20))
    engine.dispose()
    path = sqlite_url.removeprefix("sqlite:///")
    read_only = open_store(f"sqlite:///file:{path}?mode=ro&uri=true")
    config = parse_config(CONFIG)
    with caplog.at_level("INFO", logger="pmohub.aggregator.status.cache"):
        report = current_status(read_only, config, AS_OF)
    assert report.computed_at is None and report.projects["items_total"].sum() > 0
    assert "not kept for reuse" in caplog.text
    assert current_status(read_only, config, AS_OF).computed_at is None


def test_old_dates_are_not_kept(synced) -> None:
    engine, config, _ = synced
    for days in (30, 3, 0):  # a catch-up far back, then recent days
        current_status(engine, config, AS_OF - dt.timedelta(days=days))
    with engine.connect() as conn:
        kept = sorted(conn.execute(select(StatusCache.as_of)).scalars())
    assert kept == [AS_OF - dt.timedelta(days=3), AS_OF]


def test_rolled_back_write_bumps_nothing(store_url: str) -> None:
    engine = open_store(store_url)
    with engine.begin() as conn:
        bump_revision(conn, "source:a")
        bump_revision(conn, "source:a")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        bump_revision(conn, "source:a")
        bump_revision(conn, "findings")
        raise RuntimeError("crash before commit")
    with engine.connect() as conn:
        assert read_revisions(conn) == {"source:a": 2}


def test_config_digest_is_stable_across_processes() -> None:
    import subprocess
    import sys

    text = CONFIG + (
        "rules: {RISK-001: {threshold: 3}}\n"
        "sources: {j: {type: jira, url: 'https://x.atlassian.net', token_env: T,"
        " projects: [A, B], status_map: {QA: review, 待验收: review}}}\n"
    )
    # Built in code (no text to hash): the fields are walked; sets must not make the
    # digest depend on the interpreter's hash seed.
    code = (
        "import pmohub.cli.main, dataclasses;from pmohub.aggregator.config.loader import parse_config;"
        f"c = dataclasses.replace(parse_config({text!r}), text_sha256='');"
        "assert c.env_names is not None; print(c.digest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1 and len(digests.pop()) == 64


def test_frame_codec_round_trips_every_kind() -> None:
    frame = pd.DataFrame(
        {
            "key": pd.Series(["甲", "b", None], dtype="str"),
            "n": np.array([1, 2, 3], dtype="int64"),
            "ratio": [0.42105263157894735, np.nan, 1 / 3],
            "flag": [True, False, True],
            "at": pd.to_datetime(
                ["2026-05-23 17:32:42.048996925", None, "2026-01-01"], utc=True, format="ISO8601"
            ),
            "on": pd.Series(pd.to_datetime(["2026-05-23", None, "2027-01-01"])).astype(
                "datetime64[us]"
            ),
            "reasons": [["late <script>", "说明"], [], ["x"]],
            "mixed": [None, np.nan, dt.date(2026, 11, 21)],
            "stamp": [pd.Timestamp("2026-01-02T03:04:05Z"), None, None],
        }
    )
    back = _from_text(_to_text(frame))
    pd.testing.assert_frame_equal(back, frame)
    assert back["mixed"][0] is None and back["mixed"][1] != back["mixed"][1]


def test_cli_status_output_is_the_same_served_or_computed(
    synced, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, config, _ = synced
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "pmohub.yaml"
    path.write_text(CONFIG + f"database: {store_url}\n", encoding="utf-8")
    from pmohub.cli.status_cmd import _today

    config = load_config_file(path)  # the digest is the file's: the CLI reads the same
    today = _today(config)
    runner = CliRunner()
    cold = runner.invoke(main, ["status", "--format", "json"], catch_exceptions=False)
    assert cold.exit_code == 0 and "has not changed since" not in cold.stderr
    take_snapshots(engine, config, today, forecasts=False)
    with engine.connect() as conn:
        assert conn.execute(select(StatusCache.as_of)).scalars().all() == [today]
    warm = runner.invoke(main, ["status", "--format", "json"], catch_exceptions=False)
    assert warm.exit_code == 0
    assert "has not changed since" in warm.stderr
    assert json.loads(warm.stdout) == json.loads(cold.stdout)
    for level in ("programme", "portfolio"):
        a = runner.invoke(main, ["status", "--level", level, "--format", "json"])
        assert a.exit_code == 0 and "has not changed since" in a.stderr


def test_code_digest_covers_whole_packages() -> None:
    """Every module of the packages that compute the numbers is fingerprinted, found on
    disk rather than listed by hand (a listed module that had been split went unseen)."""
    from pathlib import Path

    from pmohub.aggregator.status.cache import CODE_PACKAGES, package_files

    root = Path(__file__).resolve().parents[1]
    files = {f.resolve() for p in CODE_PACKAGES for f in package_files(p)}
    for folder in ("aggregator/status", "aggregator/compliance", "aggregator/config", "rules"):
        assert {f.resolve() for f in (root / folder).rglob("*.py")} <= files
