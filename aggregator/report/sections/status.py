"""Section 2, the portfolio dashboard: RAG (with its reasons and last week's colour),
progress, SPI(t), CPI and compliance per portfolio, programme and project, and the RAG
trend from snapshots. Every figure of every level is the status's (``ctx.status``: what
``pmohub status --level <level> --format json`` shows), read, never recomputed here. A node's
colour is the roll-up's; a programme or portfolio the roll-up did not colour is aggregated
from its projects (:func:`aggregator.report.context.aggregate_rag`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pmohub.aggregator.report.context import (
    RAGS,
    ReportContext,
    aggregate_rag,
    node_name,
    rag_code,
)
from pmohub.aggregator.report.model import Chart, Column, Report, Section, Table, new_section
from pmohub.aggregator.report.shared import as_text, num, pct


def section_dashboard(ctx: ReportContext, report: Report) -> Section:
    """The status table (portfolio, programme and project rows) and the RAG trend; sets the
    report's overall RAG from its top rows."""
    sec = new_section("dashboard")
    rows = _status_rows(ctx)
    sec.tables.append(
        Table(
            "status",
            "tbl.status",
            [
                Column("level", "col.level", "level"),
                Column("key", "col.key"),
                Column("name", "col.name"),
                Column("rag", "col.rag", "rag"),
                Column("rag_prev", "col.rag_prev", "rag"),
                Column("reasons", "col.reasons"),
                Column("progress_count", "col.progress_count", "percent"),
                Column("progress_estimate", "col.progress_estimate", "percent"),
                Column("spi_t", "col.spi_t", "float"),
                Column("cpi", "col.cpi", "float"),
                Column("compliance", "col.compliance", "float"),
                Column("portfolio", "col.portfolio"),
                Column("programme", "col.programme"),
            ],
            rows,
        )
    )
    sec.charts.append(Chart("rag_trend", "chart.rag_trend", _rag_trend(ctx)))
    report.overall_rag = _overall_rag(rows, ctx.portfolio)
    return sec


def _overall_rag(rows: list[dict[str, Any]], portfolio: str | None) -> str:
    """One portfolio's own colour; several portfolios (or only projects) aggregated equally."""
    top = [r for r in rows if r["level"] == "portfolio"]
    if portfolio is not None and top:
        return top[0]["rag"]
    if top:
        return aggregate_rag(top, [1.0] * len(top), [False] * len(top))
    leaves = [r for r in rows if r["level"] == "project"]
    return aggregate_rag(leaves, [1.0] * len(leaves), [False] * len(leaves))


def _status_rows(ctx: ReportContext) -> list[dict[str, Any]]:
    """Portfolio, then its programmes and projects, in hierarchy order."""
    status = ctx.status
    prev = _previous_rag(ctx)
    rows: list[dict[str, Any]] = []
    hier = ctx.hier
    for pf_key in list(dict.fromkeys(hier["portfolio"].dropna())) or [None]:
        pf_rows = hier[hier["portfolio"] == pf_key] if pf_key is not None else hier
        child_rows = []
        for pg_key in list(dict.fromkeys(pf_rows["programme"].fillna(""))):
            pg = pf_rows[pf_rows["programme"].fillna("") == pg_key]
            proj_rows = []
            for _, p in pg.iterrows():
                s = status.get(p["project_key"], {})
                proj_rows.append(
                    {
                        "level": "project",
                        "key": p["project_key"],
                        "name": as_text(p.get("name")),
                        "portfolio": as_text(pf_key),
                        "programme": pg_key or None,
                        "rag": s.get("rag", "ne"),
                        "rag_prev": prev.get(p["project_key"]),
                        "reasons": "; ".join(map(str, s.get("reasons") or [])) or None,
                        "progress_count": pct(s.get("progress_count")),
                        "progress_estimate": pct(s.get("progress_estimate")),
                        "spi_t": num(s.get("spi_t")),
                        "cpi": num(s.get("cpi")),
                        "compliance": num(s.get("compliance"), 1),
                        "_w": float(p.get("weight") or 1.0) if "weight" in p else 1.0,
                        "_c": bool(p.get("critical")) if "critical" in p else False,
                    }
                )
            if pg_key:
                pgs = status.get(pg_key, {})
                child_rows.append(
                    {
                        "level": "programme",
                        "key": pg_key,
                        "name": node_name(ctx.config, pg_key),
                        "portfolio": as_text(pf_key),
                        "programme": pg_key,
                        "rag": pgs.get("rag")
                        or aggregate_rag(
                            proj_rows, [r["_w"] for r in proj_rows], [r["_c"] for r in proj_rows]
                        ),
                        "rag_prev": None,
                        "reasons": "; ".join(map(str, pgs.get("reasons") or [])) or None,
                        "progress_count": pct(pgs.get("progress_count")),
                        "progress_estimate": pct(pgs.get("progress_estimate")),
                        "spi_t": num(pgs.get("spi_t")),
                        "cpi": num(pgs.get("cpi")),
                        "compliance": num(pgs.get("compliance"), 1),
                        "_w": sum(r["_w"] for r in proj_rows),
                        "_c": any(r["_c"] and r["rag"] == "red" for r in proj_rows),
                    }
                )
            child_rows.extend(proj_rows)
        if pf_key is not None:
            leaves = [r for r in child_rows if r["level"] == "project"]
            pfs = status.get(pf_key, {})
            rows.append(
                {
                    "level": "portfolio",
                    "key": pf_key,
                    "name": node_name(ctx.config, pf_key),
                    "portfolio": pf_key,
                    "programme": None,
                    "rag": pfs.get("rag")
                    or aggregate_rag(leaves, [r["_w"] for r in leaves], [r["_c"] for r in leaves]),
                    "rag_prev": None,
                    "reasons": "; ".join(map(str, pfs.get("reasons") or [])) or None,
                    "progress_count": pct(pfs.get("progress_count")),
                    "progress_estimate": pct(pfs.get("progress_estimate")),
                    "spi_t": num(pfs.get("spi_t")),
                    "cpi": num(pfs.get("cpi")),
                    "compliance": num(pfs.get("compliance"), 1),
                }
            )
        rows.extend(child_rows)
    for r in rows:
        r.pop("_w", None)
        r.pop("_c", None)
    return rows


def _previous_rag(ctx: ReportContext) -> dict[str, str]:
    s = ctx.snapshots
    if s is None or s.empty:
        return {}
    target = ctx.as_of - dt.timedelta(days=7)
    old = s[s["taken_on"] <= target].sort_values("taken_on")
    if old.empty:
        return {}
    last = old.groupby("project_key").tail(1)
    return {k: rag_code(r) for k, r in zip(last["project_key"], last["rag"], strict=True)}


def _rag_trend(ctx: ReportContext) -> dict[str, Any]:
    s = ctx.snapshots
    if s is None or s.empty:
        return {"dates": [], "series": {}}
    s = s.assign(rag=s["rag"].map(rag_code))
    tab = s.pivot_table(index="taken_on", columns="rag", values="project_key", aggfunc="count")
    tab = tab.reindex(columns=list(RAGS), fill_value=0).fillna(0).sort_index()
    return {
        "dates": [d for d in tab.index],
        "series": {c: [int(v) for v in tab[c]] for c in RAGS},
    }
