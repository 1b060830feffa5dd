"""Chinese in the report's charts on a machine with no CJK font installed.

pmohub ships a CJK subset (aggregator/report/fonts/, tools/make_cjk_subset.py). With the
system's fonts hidden from matplotlib (tests/nocjk.py, in a fresh process with an empty
font cache), every chart is drawn with missing-glyph warnings turned into errors, so a
single box fails the test; with the shipped font hidden too (package data stripped), the run
logs a WARNING and the report's data-quality notes say the charts may show boxes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from nocjk import ROOT, run_without_cjk

from pmohub.aggregator.report import chartfont
from pmohub.aggregator.report.i18n import CATALOGUE

FONT = chartfont.SHIPPED_FONT

#: what the charts draw (titles, legends, axis labels, the no-data text): chart.* and rag.*
CHART_KEYS = sorted(k for k in CATALOGUE if k.startswith(("chart.", "rag.")))
#: tracker names with GB2312 level-2 hanzi (昊, 琦, 婧, 睿), as a load heatmap shows them
PEOPLE = ["张伟", "李娜", "王昊", "陈琦", "欧阳婧睿", "Zoë Müller"]


def charmap(path: Path) -> set[int]:
    from matplotlib.ft2font import FT2Font

    return set(FT2Font(str(path)).get_charmap())


def gb2312_hanzi() -> set[str]:
    out = set()
    for row in range(16, 88):
        for cell in range(1, 95):
            try:
                out.add(bytes([0xA0 + row, 0xA0 + cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return out


def test_the_shipped_font_is_there_small_and_licensed() -> None:
    assert FONT.is_file(), f"{FONT} missing: run tools/make_cjk_subset.py"
    assert FONT.stat().st_size < 3_000_000
    from matplotlib.ft2font import FT2Font

    face = FT2Font(str(FONT))
    assert face.family_name == chartfont.SHIPPED_FAMILY
    # a modified font does not pass for the original (and "Noto" is Google's trademark)
    assert not any(w in face.family_name for w in ("Noto", "Source"))
    licence = (FONT.parent / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence
    assert "Adobe" in licence  # the source font's copyright notice travels with it


def test_the_shipped_font_has_every_chart_label_and_gb2312() -> None:
    have = charmap(FONT)
    labels = {c for k in CHART_KEYS for text in CATALOGUE[k] for c in text}
    lacking = sorted(c for c in labels if ord(c) not in have and not c.isspace())
    assert lacking == [], f"chart labels the font lacks: run tools/make_cjk_subset.py: {lacking}"
    hanzi = gb2312_hanzi()
    assert len(hanzi) == 6763
    assert sorted(c for c in hanzi if ord(c) not in have) == []
    punctuation = "，。、；：！？（）《》「」『』【】“”‘’…—·％０９ＡＺ"
    assert [c for c in punctuation if ord(c) not in have] == []


def test_an_installed_font_comes_first_and_the_subset_fills_its_gaps() -> None:
    font = chartfont.chart_font()
    assert font.shipped == chartfont.SHIPPED_FAMILY
    assert font.families[-1] == chartfont.LATIN_FAMILY
    if font.installed:  # this machine has a CJK font: it draws, the subset only fills gaps
        assert font.families[:2] == [font.installed, chartfont.SHIPPED_FAMILY]
    assert chartfont.font_notes() == []


DRAW_ALL = f"""
import json, logging, warnings
import matplotlib
from matplotlib.ft2font import FT2Font
from pmohub.aggregator.report import charts, chartfont

records = []
handler = logging.Handler()
handler.emit = lambda r: records.append((r.levelname, r.getMessage()))
logging.getLogger("pmohub").addHandler(handler)

font = charts.setup_fonts()
data = {{
    "rag_trend": {{"dates": ["2026-11-01", "2026-11-08", "2026-11-15"],
                   "series": {{"green": [3, 2, 2], "amber": [1, 2, 1], "red": [0, 0, 1],
                              "ne": [1, 1, 1]}}}},
    "burnup": {{"dates": ["2026-11-01", "2026-11-08", "2026-11-15"], "scope": [40, 44, 45],
                "done": [10, 18, 25],
                "cone": {{"p50": "2026-12-20", "p85": "2027-01-10", "p95": "2027-01-20"}}}},
    "load_heatmap": {{"people": {PEOPLE!r}, "weeks": ["2026-W46", "2026-W47"],
                      "load": [[0.5, 1.2]] * {len(PEOPLE)}}},
    "compliance_trend": {{"weeks": ["2026-11-02", "2026-11-09"], "open": [5, 3],
                          "dates": ["2026-11-02", "2026-11-09"], "score": [70, 82]}},
}}
shipped = set(FT2Font(str(chartfont.SHIPPED_FONT)).get_charmap())
drawn = set()
for lang in ("zh", "en"):
    for cid, draw in charts.DRAWERS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "Glyph ... missing from font(s)" fails the test
            draw(data[cid], lang)
            draw({{}}, lang)  # the no-data text
        assert charts.chart_uri(cid, data[cid], lang)
        drawn |= {{c for k in {CHART_KEYS!r} for c in charts.t(k, lang)}}
drawn |= {{c for name in {PEOPLE!r} for c in name}}
print(json.dumps({{
    "source": font.source,
    "families": font.families,
    "sans_serif": list(matplotlib.rcParams["font.sans-serif"]),
    "visible": sorted(__import__("nocjk").visible_font_files()),
    "not_in_shipped": sorted(c for c in drawn if ord(c) not in shipped and not c.isspace()),
    "records": records,
}}))
"""


def test_charts_draw_chinese_with_the_shipped_font_when_no_cjk_font_is_installed(
    tmp_path: Path,
) -> None:
    proc = run_without_cjk(DRAW_ALL, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    import matplotlib

    bundled = str(Path(matplotlib.get_data_path()).resolve())
    # the machine has no CJK font: matplotlib sees its own fonts and the subset, nothing else
    assert [f for f in out["visible"] if not f.startswith(bundled)] == [str(FONT)]
    assert out["source"] == "shipped"
    # the subset is first in the fallback list and has every character drawn: every glyph
    # (Chinese and Latin) came from it, DejaVu Sans drew nothing
    assert out["sans_serif"][0] == chartfont.SHIPPED_FAMILY == out["families"][0]
    assert out["not_in_shipped"] == []
    assert [r for r in out["records"] if r[0] in ("WARNING", "ERROR")] == []


BUILD_REPORT = """
import json, logging, warnings
from pathlib import Path
from reportkit import AS_OF, synced_project
from pmohub.aggregator.report import charts
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.render import render_html, render_markdown

records = []
handler = logging.Handler()
handler.emit = lambda r: records.append((r.levelname, r.name, r.getMessage()))
logging.getLogger("pmohub").addHandler(handler)
logging.getLogger("pmohub").setLevel(logging.INFO)

config, engine = synced_project(Path("project"))
report = build_report(engine, config, as_of=AS_OF, portfolio="PF")
html = render_html(report, "zh")
glyph_error = ""
try:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        charts.rag_trend({}, "zh")
except UserWarning as exc:
    glyph_error = str(exc)
print(json.dumps({
    "records": records,
    "dq": report.section("data_quality").messages,
    "md_zh": render_markdown(report, "zh"),
    "md_en": render_markdown(report, "en"),
    "charts_in_html": html.count("data:image/png;base64,"),
    "glyph_error": glyph_error,
}, default=str))
"""


@pytest.mark.slow
def test_no_cjk_font_at_all_is_a_warning_and_a_data_quality_note(tmp_path: Path) -> None:
    proc = run_without_cjk(BUILD_REPORT, tmp_path, hide_shipped=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    warned = [m for level, _, m in out["records"] if level == "WARNING"]
    assert any("no CJK font for the report's charts" in m for m in warned), out["records"]
    # the charts still render (boxes), and say which characters became boxes
    assert out["charts_in_html"] >= 1
    assert any("drawn as boxes" in m for m in warned)
    # the negative control: with the fonts hidden a box really is a warning, so the
    # warnings-as-errors test above would fail without the shipped subset
    assert "missing from font" in out["glyph_error"]
    keys = [n.get("key") for n in out["dq"] if isinstance(n, dict)]
    assert "note.chart_font_missing" in keys
    assert "图表中的中文可能显示为方框" in out["md_zh"]
    assert "Charts may show Chinese labels as boxes" in out["md_en"]


@pytest.mark.slow
def test_the_wheel_ships_the_font_and_its_licence(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = tmp_path.glob("pmohub-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        shipped = z.read(f"pmohub/aggregator/report/fonts/{FONT.name}")
    assert "pmohub/aggregator/report/fonts/OFL.txt" in names
    assert shipped == FONT.read_bytes()
