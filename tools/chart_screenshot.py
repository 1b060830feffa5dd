"""docs/charts-no-cjk-font.png: the report's four charts, in Chinese, as drawn on a machine
with no CJK font installed (only the subset pmohub ships).

Runs the real chart code (aggregator/report/charts.py ``chart_uri``) in a fresh process
whose matplotlib sees no system font (tests/nocjk.py, as the chart tests do), with sample
data whose people's names include GB2312 level-2 hanzi::

    .venv/bin/python tools/chart_screenshot.py [--out docs/charts-no-cjk-font.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from nocjk import run_without_cjk  # noqa: E402

DRAW = """
import base64, io, json, sys
from PIL import Image
from pmohub.aggregator.report import charts, chartfont

font = charts.setup_fonts()
assert font.source == "shipped", font  # no installed CJK font may sneak into the picture
data = {
    "rag_trend": {"dates": ["2026-10-24", "2026-10-31", "2026-11-07", "2026-11-14",
                            "2026-11-21"],
                  "series": {"green": [4, 4, 3, 3, 2], "amber": [1, 1, 2, 1, 2],
                             "red": [0, 0, 0, 1, 1], "ne": [1, 1, 1, 1, 1]}},
    "burnup": {"dates": ["2026-10-24", "2026-10-31", "2026-11-07", "2026-11-14",
                         "2026-11-21"],
               "scope": [40, 42, 44, 45, 46], "done": [8, 14, 19, 25, 30],
               "cone": {"p50": "2026-12-19", "p85": "2027-01-09", "p95": "2027-01-23"}},
    "load_heatmap": {"people": ["张伟", "李娜", "王昊", "陈琦", "欧阳婧睿"],
                     "weeks": ["2026-W45", "2026-W46", "2026-W47", "2026-W48"],
                     "load": [[0.6, 0.9, 1.3, 1.1], [0.8, 0.7, 0.9, None],
                              [1.0, 1.2, 1.5, 1.4], [0.3, 0.5, 0.4, 0.6],
                              [0.9, 1.0, 0.8, 0.7]]},
    "compliance_trend": {"weeks": ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"],
                         "open": [9, 7, 6, 4],
                         "dates": ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"],
                         "score": [62, 70, 74, 81]},
}
images = []
for cid in ("rag_trend", "burnup", "load_heatmap", "compliance_trend"):
    uri = charts.chart_uri(cid, data[cid], "zh")
    png = base64.b64decode(uri.split(",", 1)[1])
    images.append(Image.open(io.BytesIO(png)).convert("RGB"))
cell_w = max(i.width for i in images)
rows = [images[0:2], images[2:4]]
heights = [max(i.height for i in row) for row in rows]
sheet = Image.new("RGB", (2 * cell_w + 30, sum(heights) + 30), "white")
y = 10
for row, h in zip(rows, heights):
    for n, img in enumerate(row):
        sheet.paste(img, (10 + n * (cell_w + 10), y))
    y += h + 10
sheet.save(sys.argv[1], optimize=True)
print(json.dumps({"size": sheet.size, "families": font.families}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "charts-no-cjk-font.png")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        code = "import sys\nsys.argv[1:] = [" + repr(str(out)) + "]\n" + DRAW
        proc = run_without_cjk(code, Path(tmp))
    sys.stderr.write(proc.stderr)
    if proc.returncode:
        return proc.returncode
    print(f"{out}: {proc.stdout.strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
