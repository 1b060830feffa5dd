"""docs/real-payloads.md equals what tests/realpayloads/table.py generates (issue 12)."""

from __future__ import annotations

import os

import pytest
from realpayloads import REAL
from realpayloads.table import DOC, generate


def test_real_payloads_table_is_current() -> None:
    if not REAL.is_dir() and os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip(f"real payloads not present: {REAL}")
    assert DOC.is_file(), "run: .venv/bin/python tests/realpayloads/table.py"
    assert DOC.read_text() == generate(), (
        "docs/real-payloads.md is stale: run .venv/bin/python tests/realpayloads/table.py"
    )
