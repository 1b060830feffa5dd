"""A real Connector fed from a small JSON spec, for sync tests (in-process and in a
subprocess: ``python tests/fakesource.py STORE_URL SPEC.json`` runs one sync).

The spec describes a synthetic tracker deterministically, so a test can compute the
expected store content from the same spec:

- ``n``: items 0..n-1, external id ``10000+i``, project ALPHA/BETA by parity, updated at
  ``base + i minutes`` (the stream is ordered by update time, like a JQL ``ORDER BY
  updated``), 3 status changes each, a worklog on even items, a link on every 7th;
  items i % 10 != 0 have the parent ``i // 10 * 10``;
- ``edited`` (title changes), ``deleted`` (gone from stream and census), ``moved`` (to
  project GAMMA with a new key), ``malformed`` (yielded as ``Skipped``), ``dropped_changes``
  (an item whose status change #1 vanished upstream);
- ``checkpoint_every``: yield ``Checkpoint`` after every k items (0: none);
  ``future_checkpoint``: the last checkpoint lies a day in the future;
- ``pause_after`` / ``marker`` / ``sleep``: after that many items, write the pid to ``marker``
  and sleep (the test SIGKILLs the process meanwhile); ``pause_once``: not again once the
  marker exists (the run that takes over goes through); ``fail_after``: raise
  TransientError there;
- ``log``: a file where each ``fetch_work_items`` call appends its ``since``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pmohub.connectors.base import Checkpoint, ChildrenComplete, Connector, Skipped, SourceConfig
from pmohub.connectors.errors import RecordError, TransientError
from pmohub.connectors.records import Link, Person, Project, StatusChange, WorkItem, Worklog

BASE = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
STATUSES = [("To Do", "todo"), ("In Progress", "in_progress"), ("Done", "done")]


def item_external_id(i: int) -> str:
    return str(10000 + i)


def _project(spec: dict[str, Any], i: int) -> str:
    if i in spec.get("moved", []):
        return "GAMMA"
    return "ALPHA" if i % 2 == 0 else "BETA"


def item_record(spec: dict[str, Any], i: int, source: str) -> WorkItem:
    base = dt.datetime.fromisoformat(spec["base"]) if spec.get("base") else BASE
    status, category = STATUSES[i % 3]
    project = _project(spec, i)
    title = f"Item {i}" + (" (edited)" if i in spec.get("edited", []) else "")
    return WorkItem(
        source=source,
        external_id=item_external_id(i),
        key=f"{project}-{i}",
        project_key=project,
        title=title,
        type="Task" if i % 10 else "Epic",
        status=status,
        status_category=category,  # type: ignore[arg-type]
        priority="High" if i % 4 == 0 else None,
        assignee=f"u{i % 5}" if i % 3 else None,
        reporter="u0",
        parent_id=item_external_id(i // 10 * 10) if i % 10 else None,
        created_at=base - dt.timedelta(days=1),
        updated_at=base + dt.timedelta(minutes=i),
        due_on=(base + dt.timedelta(days=i % 30)).date(),
        story_points=float(i % 8) or None,
        labels=("pmo",) if i % 2 else (),
        extra={"rag": "green"} if i % 5 == 0 else {},
    )


def children(spec: dict[str, Any], i: int, source: str) -> list[StatusChange | Worklog | Link]:
    base = dt.datetime.fromisoformat(spec["base"]) if spec.get("base") else BASE
    eid = item_external_id(i)
    out: list[StatusChange | Worklog | Link] = []
    for k in range(3):
        if k == 1 and i in spec.get("dropped_changes", []):
            continue
        out.append(
            StatusChange(
                source=source,
                external_id=f"{eid}-c{k}",
                work_item_id=eid,
                field="status",
                from_value=STATUSES[k - 1][0] if k else None,
                to_value=STATUSES[k][0],
                changed_at=base + dt.timedelta(minutes=i, seconds=k),
                author=f"u{k}",
            )
        )
    if i % 2 == 0:
        out.append(
            Worklog(
                source=source,
                external_id=f"{eid}-w",
                work_item_id=eid,
                author=f"u{i % 5}",
                started_at=base + dt.timedelta(minutes=i),
                seconds=3600,
            )
        )
    if i % 7 == 0:
        out.append(
            Link(
                source=source,
                external_id=f"{eid}-l",
                from_id=eid,
                to_id=item_external_id(i + 1),
                kind="blocks",
            )
        )
    return out


def live_indices(spec: dict[str, Any]) -> list[int]:
    """Items that exist upstream (a malformed one exists; it just cannot be read)."""
    gone = set(spec.get("deleted", []))
    return [i for i in range(spec["n"]) if i not in gone]


def stored_indices(spec: dict[str, Any]) -> list[int]:
    malformed = set(spec.get("malformed", []))
    return [i for i in live_indices(spec) if i not in malformed]


class FakeConnector(Connector):
    type = "fake"
    #: so a config file can name the spec (`spec: /path/spec.json`) for CLI and worker tests
    option_keys: ClassVar[Mapping[str, type]] = {"spec": str}

    def __init__(self, config: SourceConfig, *, env: Any = None):
        super().__init__(config, env=env)
        self.spec: dict[str, Any] = json.loads(Path(config.options["spec"]).read_text())

    def check(self) -> dict[str, Any]:
        return {"items": self.spec["n"]}

    def fetch_projects(self) -> Iterator[Project]:
        for key in ("ALPHA", "BETA"):
            yield Project(source=self.name, external_id=f"p-{key}", key=key, name=key.title())

    def fetch_people(self) -> Iterator[Person | Skipped]:
        for k in range(4):  # u4 is never listed: it must get a placeholder alias
            yield Person(
                source=self.name,
                external_id=f"u{k}",
                display_name=f"User {k}",
                email=f"user{k}@example.com",
            )

    def fetch_work_items(self, since: dt.datetime | None) -> Iterator[Any]:
        spec = self.spec
        if spec.get("log"):
            with open(spec["log"], "a") as fh:
                fh.write(json.dumps(since.isoformat() if since else None) + "\n")
        every = spec.get("checkpoint_every", 0)
        yielded = 0
        for i in range(spec["n"]):
            if i in spec.get("deleted", []):
                continue
            item = item_record(spec, i, self.name)
            if since is not None and item.updated_at is not None and item.updated_at < since:
                continue
            if i in spec.get("malformed", []):
                yield Skipped(RecordError("due date '31/02/2026' is not a date", where=f"item {i}"))
                continue
            yield item
            yield from children(spec, i, self.name)
            yield ChildrenComplete(item.external_id)
            yielded += 1
            if every and yielded % every == 0:
                assert item.updated_at is not None
                yield Checkpoint(item.updated_at)
            if yielded == spec.get("fail_after"):
                raise TransientError("server said 503 after retries", source=self.name)
            if yielded == spec.get("pause_after"):
                marker = Path(spec["marker"])
                if not (spec.get("pause_once") and marker.exists()):
                    marker.write_text(str(os.getpid()))  # who to SIGKILL
                    time.sleep(spec.get("sleep", 60))
        if spec.get("future_checkpoint"):
            yield Checkpoint(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))

    def census(self, project_key: str) -> Iterator[str]:
        for i in live_indices(self.spec):
            if _project(self.spec, i) == project_key:
                yield item_external_id(i)


def source_config(spec_path: Path | str, name: str = "fake1", **kw: Any) -> SourceConfig:
    return SourceConfig(name=name, type="fake", options={"spec": str(spec_path)}, **kw)


def write_spec(path: Path, **spec: Any) -> Path:
    path.write_text(json.dumps(spec))
    return path


if __name__ == "__main__":
    from pmohub.aggregator.ingest.sync import sync_source
    from pmohub.aggregator.store import open_store

    url, spec_file = sys.argv[1], sys.argv[2]
    page_size = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    result = sync_source(
        open_store(url), FakeConnector(source_config(spec_file)), page_size=page_size
    )
    print(json.dumps({"status": result.status, "error": result.error}))
