"""A machine without CJK fonts, for the chart tests and the docs screenshot.

:func:`hide_system_fonts` leaves matplotlib seeing only the fonts it bundles (DejaVu, STIX,
Computer Modern: none has a CJK glyph) and stops pmohub's chart fonts from adding the
installed Noto CJK files; ``hide_shipped=True`` hides the subset pmohub ships too (package
data stripped). Call it in a fresh process (:func:`run_without_cjk`) before any chart is
drawn: matplotlib's font lookups are cached per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def hide_system_fonts(*, hide_shipped: bool = False) -> None:
    import matplotlib
    from matplotlib import font_manager

    from pmohub.aggregator.report import chartfont

    bundled = Path(matplotlib.get_data_path()).resolve()
    fm = font_manager.fontManager
    fm.ttflist = [f for f in fm.ttflist if Path(f.fname).resolve().is_relative_to(bundled)]
    fm.afmlist = [f for f in fm.afmlist if Path(f.fname).resolve().is_relative_to(bundled)]
    chartfont.CJK_FONT_FILES = ()
    if hide_shipped:
        chartfont.SHIPPED_FONT = chartfont.SHIPPED_FONT.with_name("stripped-by-the-test.otf")
    chartfont.chart_font.cache_clear()


def visible_font_files() -> set[str]:
    """Every font file matplotlib can pick from."""
    from matplotlib import font_manager

    return {f.fname for f in font_manager.fontManager.ttflist}


def run_without_cjk(
    code: str, tmp: Path, *, hide_shipped: bool = False, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python with an empty matplotlib config/cache directory and
    the fonts hidden; ``code`` runs after :func:`hide_system_fonts`."""
    mplconfig = tmp / "mplconfig"
    mplconfig.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "MPLCONFIGDIR": str(mplconfig), "PYTHONPATH": path}
    prologue = f"import nocjk\nnocjk.hide_system_fonts(hide_shipped={hide_shipped!r})\n"
    return subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
