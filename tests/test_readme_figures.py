"""The README's harness-benchmark figures are the newest result files' (benchmarks/
readme_figures.py makes the table; run it with --write after a benchmark run)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import readme_figures  # noqa: E402


def test_readme_table_equals_the_newest_results() -> None:
    text = readme_figures.README.read_text(encoding="utf-8")
    assert readme_figures.current(text) == readme_figures.table(), (
        "README benchmark figures are stale: run "
        "`.venv/bin/python benchmarks/readme_figures.py --write`"
    )


def test_every_harness_benchmark_has_a_row() -> None:
    table = readme_figures.table()
    for name in readme_figures.NAMES:
        found = readme_figures.harness.newest(name)
        assert found is not None, f"no result file of {name}"
        assert f"`{found[0].stem}`" in table
