"""Replay of ``../shared/real-payloads/msproject`` (MPXJ's MSPDI test files) through the MS
Project connector, file by file (its reader and mappers; no network)."""

from __future__ import annotations

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.msproject import MSProjectConnector
from realpayloads import Replay, real_folder
from realpayloads._connector import reason, tally


def replay() -> Replay:
    out = Replay("msproject")
    for path in sorted(real_folder("msproject").glob("*.xml")):
        out.files += 1
        conf = SourceConfig(
            name="real-msproject",
            type="msproject",
            options={"path": str(path), "project_key": path.stem.upper()[:20]},
        )
        try:
            with MSProjectConnector(conf) as conn:
                tally(out, conn.fetch_projects())
                tally(out, conn.fetch_people())
                tally(out, conn.fetch_milestones())
                tally(out, conn.fetch_work_items(None))
        except ConfigError as exc:
            out.skipped[f"file refused: {reason(str(exc))}"] += 1
    return out
