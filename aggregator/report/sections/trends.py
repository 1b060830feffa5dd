"""Section 13 (monthly report only), trends: 13 weeks of throughput, open findings, RAG
counts and compliance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from pmohub.aggregator.report.context import ReportContext, rag_code
from pmohub.aggregator.report.model import Column, Report, Section, Table, msg, new_section
from pmohub.aggregator.report.sections.compliance import compliance_trend


def section_trends(ctx: ReportContext, report: Report) -> Section:
    """Monthly only: 13 weeks of weekly figures (throughput and scope from the items,
    open findings from the findings history, RAG counts and compliance from snapshots)."""
    sec = new_section("trends")
    items = ctx.items()
    if "is_leaf" in items.columns:
        items = items[items["is_leaf"].astype(bool)]
    trend = compliance_trend(ctx)
    s = ctx.snapshots
    rows = []
    for i, day in enumerate(trend["weeks"]):
        start = day - dt.timedelta(days=6)
        done_n = 0
        if "resolved_at" in items.columns:
            rd = (
                pd.to_datetime(
                    items.loc[items["status_category"] == "done", "resolved_at"], utc=True
                )
                .dt.tz_convert(ctx.tz)
                .dt.date
            )
            done_n = int(sum(1 for d in rd if d == d and d is not None and start <= d <= day))
        row: dict[str, Any] = {"week": day, "throughput": done_n, "open_findings": trend["open"][i]}
        for rag in ("green", "amber", "red"):
            row[rag] = None
        row["compliance"] = None
        if s is not None and len(s):
            snap = s[(s["taken_on"] >= start) & (s["taken_on"] <= day)]
            if len(snap):
                last = snap.sort_values("taken_on").groupby("project_key").tail(1)
                for rag in ("green", "amber", "red"):
                    row[rag] = int((last["rag"].map(rag_code) == rag).sum())
                if "compliance" in last.columns and last["compliance"].notna().any():
                    row["compliance"] = round(float(last["compliance"].mean()), 1)
        rows.append(row)
    if s is None or s.empty:
        ctx.note("note.unavailable", what="RAG / compliance trend", why=msg("note.no_snapshots"))
    sec.tables.append(
        Table(
            "trend_weeks",
            "tbl.trend_weeks",
            [
                Column("week", "col.week", "date"),
                Column("throughput", "col.throughput", "int"),
                Column("open_findings", "col.open_findings", "int"),
                Column("green", "rag.green", "int"),
                Column("amber", "rag.amber", "int"),
                Column("red", "rag.red", "int"),
                Column("compliance", "col.compliance", "float"),
            ],
            rows,
        )
    )
    return sec
