"""Helpers shared by the hosted-tracker connector tests (GitHub, GitLab, Trello, Azure
Boards): a source config from keyword overrides, the retry layer's waits recorded, a vendor
API description loaded, a first sync and its idempotent repeat, live work item ids read back
from the store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, select

from pmohub.aggregator.ingest.sync import sync_source
from pmohub.aggregator.store.bulk import work_items_t
from pmohub.connectors.base import ClientConnector, Connector, SourceConfig

#: The vendors' own API descriptions (OpenAPI / Swagger), next to the work tree.
SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"

C = TypeVar("C", bound=ClientConnector[Any])


def source_config(base: Mapping[str, Any], **kw: Any) -> SourceConfig:
    """``base`` with ``kw`` applied: ``SourceConfig`` fields replace, other keys become
    type-specific ``options``."""
    fields = set(SourceConfig.__dataclass_fields__)
    values = {**base, **{k: v for k, v in kw.items() if k in fields}}
    values["options"] = {k: v for k, v in kw.items() if k not in fields}
    return SourceConfig(**values)


def record_sleeps(connector: C, sleeps: list[float]) -> C:
    """Record the waits the retry layer decides on; sleep only a token amount so storms
    stay fast (the decision, not the wall clock, is what is under test)."""

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.01))

    connector.client.session.sleep = sleep  # type: ignore[attr-defined]
    return connector


def load_spec(name: str, *, encoding: str = "utf-8") -> dict[str, Any]:
    """A vendor description from ``SPECS``; the test is skipped where it is not there."""
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"{path} not found")
    return json.loads(path.read_text(encoding=encoding))


def sync_twice(engine: Engine, make: Callable[[], Connector]) -> None:
    """A full sync into the store succeeds, and a second one right after changes nothing."""
    first = sync_source(engine, make())
    assert first.status == "ok", first.error
    again = sync_source(engine, make())
    assert again.status == "ok" and again.inserted == 0 and again.updated == 0


def live_item_ids(engine: Engine, source: str) -> set[str]:
    """External ids of the source's work items the store holds as not deleted."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(work_items_t.c.external_id).where(
                    work_items_t.c.source == source, work_items_t.c.deleted_at.is_(None)
                )
            ).scalars()
        )
