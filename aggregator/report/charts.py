"""The report's charts as PNG data URIs (matplotlib, Agg backend: no display needed).

Chinese labels need a CJK font: :mod:`aggregator.report.chartfont` picks an installed one
(Noto Sans CJK, Debian ``fonts-noto-cjk``) or the subset pmohub ships, so Chinese renders on
a machine with no CJK font installed. A character no font has is drawn as a box and logged
(a WARNING naming the characters), never an error.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
import re
import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from pmohub.aggregator.report.chartfont import setup_fonts
from pmohub.aggregator.report.i18n import t

log = logging.getLogger("pmohub.report")

RAG_COLOURS = {"green": "#2e9d4f", "amber": "#f0a500", "red": "#d64541", "ne": "#9e9e9e"}
# matplotlib's wording: "Glyph 27979 (\N{CJK UNIFIED IDEOGRAPH-6D4B}) missing from font(s) ..."
MISSING_GLYPH = re.compile(r"Glyph (\d+) .*missing from font")


def missing_glyphs(caught: list[warnings.WarningMessage]) -> list[str]:
    """The characters matplotlib warned it has no glyph for, each once, in order."""
    chars: dict[str, None] = {}
    for w in caught:
        m = MISSING_GLYPH.search(str(w.message))
        if m:
            chars[chr(int(m.group(1)))] = None
    return list(chars)


def _to_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _empty(ax: Any, lang: str) -> None:
    ax.text(
        0.5,
        0.5,
        t("chart.no_data", lang),
        ha="center",
        va="center",
        color="#777",
        transform=ax.transAxes,
        fontsize=12,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _dates(values: list[Any]) -> list[dt.date]:
    return [dt.date.fromisoformat(v) if isinstance(v, str) else v for v in values]


def rag_trend(data: dict[str, Any], lang: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.8))
    dates = _dates(data.get("dates") or [])
    series = data.get("series") or {}
    if not dates:
        _empty(ax, lang)
    else:
        bottom = [0] * len(dates)
        gaps = [(b - a).days for a, b in zip(dates, dates[1:], strict=False)]
        width = 0.7 * min(gaps) if gaps else 0.8
        for rag in ("green", "amber", "red", "ne"):
            vals = series.get(rag) or [0] * len(dates)
            ax.bar(
                dates,
                vals,
                bottom=bottom,
                color=RAG_COLOURS[rag],
                width=width,
                label=t(f"rag.{rag}", lang),
            )
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=8, ncol=4, frameon=False)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
        ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(t("chart.rag_trend", lang), fontsize=11, pad=18)
    return _to_uri(fig)


def burnup(data: dict[str, Any], lang: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    dates = _dates(data.get("dates") or [])
    if not dates:
        _empty(ax, lang)
    else:
        ax.plot(dates, data["scope"], color="#555", lw=1.5, label=t("chart.scope", lang))
        ax.plot(dates, data["done"], color="#1f77b4", lw=2, label=t("chart.done", lang))
        cone = data.get("cone")
        if cone and cone.get("p50"):
            last_d, last_v, scope = (
                dates[-1],
                data["done"][-1],
                cone.get("scope") or data["scope"][-1],
            )
            p = {q: _dates([cone[q]])[0] for q in ("p50", "p85", "p95") if cone.get(q)}
            if "p95" in p:
                ax.fill(
                    [last_d, p["p50"], p["p95"]],
                    [last_v, scope, scope],
                    color="#1f77b4",
                    alpha=0.15,
                    lw=0,
                )
            labels: dict[dt.date, list[str]] = {}
            for q, style in (("p50", "--"), ("p85", ":"), ("p95", ":")):
                if q in p:
                    ax.plot([last_d, p[q]], [last_v, scope], style, color="#1f77b4", lw=1)
                    labels.setdefault(p[q], []).append(q.upper())
            for day, names in labels.items():  # equal dates share one label
                ax.annotate(
                    "/".join(names),
                    (day, scope),
                    fontsize=7,
                    color="#1f77b4",
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="right" if day == max(labels) else "center",
                )
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.set_title(t("chart.burnup", lang), fontsize=11)
    return _to_uri(fig)


def load_heatmap(data: dict[str, Any], lang: str) -> str:
    people = data.get("people") or []
    weeks = data.get("weeks") or []
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.32 * len(people) + 1.2)))
    if not people or not weeks:
        _empty(ax, lang)
    else:
        import numpy as np
        from matplotlib.colors import LinearSegmentedColormap

        grid = np.array([[np.nan if v is None else v * 100 for v in row] for row in data["load"]])
        cmap = LinearSegmentedColormap.from_list(
            "load", ["#dfeef7", "#2e9d4f", "#f0a500", "#d64541"], N=256
        )
        im = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=0, vmax=150)
        ax.set_yticks(range(len(people)), labels=people, fontsize=8)
        ax.set_xticks(range(len(weeks)), labels=weeks, fontsize=7, rotation=45, ha="right")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=6)
        fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title(t("chart.load_heatmap", lang), fontsize=11)
    return _to_uri(fig)


def compliance_trend(data: dict[str, Any], lang: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.8))
    weeks = _dates(data.get("weeks") or [])
    if not weeks:
        _empty(ax, lang)
    else:
        ax.bar(
            weeks,
            data.get("open") or [0] * len(weeks),
            width=4,
            color="#d64541",
            alpha=0.7,
            label=t("chart.open_findings", lang),
        )
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(t("chart.open_findings", lang), fontsize=8)
        if data.get("dates"):
            ax2 = ax.twinx()
            ax2.plot(
                _dates(data["dates"]),
                data["score"],
                color="#2e9d4f",
                marker="o",
                ms=3,
                label=t("chart.score", lang),
            )
            ax2.set_ylim(0, 100)
            ax2.set_ylabel(t("chart.score", lang), fontsize=8)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.set_title(t("chart.compliance_trend", lang), fontsize=11)
    return _to_uri(fig)


DRAWERS = {
    "rag_trend": rag_trend,
    "burnup": burnup,
    "load_heatmap": load_heatmap,
    "compliance_trend": compliance_trend,
}


def chart_uri(chart_id: str, data: dict[str, Any], lang: str) -> str | None:
    setup_fonts()
    draw = DRAWERS.get(chart_id)
    if draw is None:
        return None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            uri = draw(data, lang)
    except Exception:  # a chart that cannot be drawn leaves a note, not a broken report
        log.exception("chart %s failed", chart_id)
        plt.close("all")
        return None
    missing = missing_glyphs(caught)
    if missing:
        # a tracker name with a character outside the fonts: boxes in one chart, not a failure
        log.warning(
            "chart %s: no font has %s; drawn as boxes",
            chart_id,
            " ".join(f"{c} (U+{ord(c):04X})" for c in missing[:20]),
        )
    return uri
