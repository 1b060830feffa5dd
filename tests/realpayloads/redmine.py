"""Replay of ``../shared/real-payloads/redmine`` (Redmine's own test fixtures, a whole site)
through the Redmine connector over a REAL Redmine (Debian's packages) loaded with them:
every stream the sync engine reads."""

from __future__ import annotations

import os

import pytest
from redmine_server import TOKEN_ENV, redmine_missing, start_fixture_redmine

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.redmine import RedmineConnector
from realpayloads import Replay, real_folder
from realpayloads._connector import tally


def replay() -> Replay:
    folder = real_folder("redmine") / "test-fixtures-5.0.4"
    missing = redmine_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    out = Replay("redmine")
    out.files = len(list(folder.glob("*.yml")))
    server = start_fixture_redmine(fixtures=folder)
    try:
        conf = SourceConfig(
            name="real-redmine", type="redmine", url=server.url, token_env=TOKEN_ENV
        )
        with RedmineConnector(conf, env=server.env) as conn:
            tally(out, conn.fetch_projects())
            tally(out, conn.fetch_people())
            tally(out, conn.fetch_milestones())
            tally(out, conn.fetch_work_items(None))
    finally:
        server.stop()
    return out
