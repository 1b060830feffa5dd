"""Replays of the recorded real payloads (``../shared/real-payloads/<tracker>/``) through the
connectors' mappings.

One module per tracker (``tests/realpayloads/<tracker>.py``) exposes ``replay() -> Replay``;
``tests/realpayloads/table.py`` runs every module and writes ``docs/real-payloads.md``, and a
test fails when that table is stale. The data stays in ``../shared``: nothing is copied here.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real-payloads"


def real_folder(tracker: str) -> Path:
    """The tracker's payload folder; under CI=true a missing folder fails instead of skipping."""
    folder = REAL / tracker
    if not folder.is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"real payloads missing: {folder}")
        pytest.skip(f"real payloads not present: {folder}")
    return folder


@dataclass
class Replay:
    """What one tracker's real payloads gave: counts for the docs table and the tests."""

    tracker: str
    files: int = 0
    mapped: Counter[str] = field(default_factory=Counter)  # record kind -> count
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    dropped: Counter[str] = field(default_factory=Counter)  # field -> values cleared
