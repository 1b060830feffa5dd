"""Replay of ``../shared/real-payloads/spreadsheet`` (a real Jira Data Center CSV export)
through the spreadsheet connector."""

from __future__ import annotations

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.spreadsheet import SpreadsheetConnector
from realpayloads import Replay, real_folder
from realpayloads._connector import tally


def replay() -> Replay:
    out = Replay("spreadsheet")
    for path in sorted(real_folder("spreadsheet").glob("*.csv")):
        out.files += 1
        conf = SourceConfig(name="real-sheet", type="spreadsheet", options={"path": str(path)})
        with SpreadsheetConnector(conf) as conn:
            tally(out, conn.fetch_projects())
            tally(out, conn.fetch_people())
            tally(out, conn.fetch_milestones())
            tally(out, conn.fetch_work_items(None))
    return out
