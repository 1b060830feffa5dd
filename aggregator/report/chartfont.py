"""Which font the report's charts draw Chinese with, and a data-quality note when there is none.

Order: an installed CJK font (Noto Sans CJK from Debian ``fonts-noto-cjk``, and the other
families of :data:`CJK_FAMILIES`), then the subset pmohub ships
(``aggregator/report/fonts/``, made by ``tools/make_cjk_subset.py``: GB2312's 6,763 hanzi,
CJK punctuation, full-width forms and every label of the report), then DejaVu Sans.
matplotlib (3.6+) falls back along that list glyph by glyph, so a character the installed
font lacks comes from the subset, and one the subset lacks from DejaVu Sans; a character no
font has is drawn as a box (:func:`aggregator.report.charts.chart_uri` logs which).

Neither a CJK font nor the shipped subset (package data stripped, file unreadable): every
Chinese label is a box. That is a WARNING in the run's log and a data-quality note in the
report (:func:`font_notes`, added by :func:`aggregator.report.build.build_report`), not a
line at INFO nobody reads.

matplotlib is imported inside the functions: building a report without charts (Markdown,
Excel) does not pay for it unless the font check runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pmohub.aggregator.report.model import msg

log = logging.getLogger("pmohub.report")

# matplotlib's font cache may predate the font's installation: these are added explicitly
CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
)
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei")
SHIPPED_FONT = Path(__file__).with_name("fonts") / "PmohubCJKSansSC-Regular.otf"
SHIPPED_FAMILY = "Pmohub CJK Sans SC"  # tools/make_cjk_subset.py FAMILY
LATIN_FAMILY = "DejaVu Sans"  # bundled with matplotlib: always there


@dataclass(frozen=True)
class ChartFont:
    installed: str | None  # the installed CJK family, None: none found
    shipped: str | None  # SHIPPED_FAMILY when the shipped subset loaded
    problem: str | None = None  # why the shipped subset could not be used (English, for logs)

    @property
    def families(self) -> list[str]:
        """``font.sans-serif``: the fallback order, first font that has a glyph wins."""
        return [f for f in (self.installed, self.shipped) if f] + [LATIN_FAMILY]

    @property
    def source(self) -> str:
        return "installed" if self.installed else "shipped" if self.shipped else "missing"


def installed_family(font_manager: Any) -> str | None:
    for path in CJK_FONT_FILES:
        if Path(path).is_file():
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError) as exc:  # a broken font file: keep going
                log.warning("cannot load font %s: %s", path, exc)
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FAMILIES if f in names), None)


def shipped_family(font_manager: Any, path: Path) -> tuple[str | None, str | None]:
    """(family, None) when the shipped subset is registered, (None, why) when it is not."""
    if not path.is_file():
        return None, f"the font shipped with pmohub is missing ({path})"
    try:
        font_manager.fontManager.addfont(str(path))
    except (OSError, RuntimeError, ValueError) as exc:
        return None, f"the font shipped with pmohub cannot be read ({path}: {exc})"
    if not any(f.fname == str(path) for f in font_manager.fontManager.ttflist):
        return None, f"matplotlib did not register the font shipped with pmohub ({path})"
    return SHIPPED_FAMILY, None


@cache
def chart_font() -> ChartFont:
    """The fonts the charts use, found once per process."""
    from matplotlib import font_manager

    installed = installed_family(font_manager)
    # registered even when a font is installed: it fills the installed font's gaps
    shipped, problem = shipped_family(font_manager, SHIPPED_FONT)
    font = ChartFont(installed, shipped, problem)
    if font.source == "missing":
        log.warning(
            "no CJK font for the report's charts: none installed (fonts-noto-cjk) and %s; "
            "Chinese labels in the charts will show as boxes",
            problem,
        )
    elif problem:
        # the installed font draws the charts: a packaging slip, not a visible problem
        log.info("charts: %s; using the installed %s only", problem, installed)
    else:
        log.debug("charts draw Chinese with %s", font.families[0])
    return font


def setup_fonts() -> ChartFont:
    """Point matplotlib's sans-serif list at :func:`chart_font`'s fonts."""
    import matplotlib

    font = chart_font()
    matplotlib.rcParams["font.sans-serif"] = font.families
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False
    return font


def font_notes() -> list[dict[str, Any]]:
    """The report's data-quality note when the charts have no CJK font (else none)."""
    font = chart_font()
    if font.source != "missing":
        return []
    return [msg("note.chart_font_missing", path=str(SHIPPED_FONT))]
