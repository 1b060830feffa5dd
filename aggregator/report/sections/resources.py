"""Section 7, resources and conflicts: weekly capacity, demand and load per person for the
next 8 weeks (:mod:`aggregator.status.load`, also as a heat map) and the open RES-*
findings. When the load computation raises, the section says so and is marked unavailable."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Chart, Column, Report, Section, Table, new_section
from pmohub.aggregator.report.shared import FINDING_COLUMNS, findings_rows, num, pct
from pmohub.aggregator.status.load import load_frame

log = logging.getLogger("pmohub.report")


def section_resources(ctx: ReportContext, report: Report) -> Section:
    """Load per person and week, its heat map, and the open resource findings."""
    sec = new_section("resources")
    heat: dict[str, Any] = {"people": [], "weeks": [], "load": []}
    rows: list[dict[str, Any]] = []
    try:
        frame = load_frame(ctx.engine, ctx.config, as_of=ctx.as_of, weeks=8)
        frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
        if len(frame):
            name_col = next(
                c for c in ("person", "name", "display_name", "person_id") if c in frame.columns
            )
            week_col = next(c for c in ("week", "week_start", "iso_week") if c in frame.columns)
            # by name, not by the store's person id: that follows the order parallel syncs
            # happened to write people in, and the report must read the same every run
            frame = frame.sort_values([name_col, week_col], kind="stable")
            for r in frame.itertuples(index=False):
                rows.append(
                    {
                        "person": str(getattr(r, name_col)),
                        "week": str(getattr(r, week_col)),
                        "capacity_h": num(getattr(r, "capacity_h", None), 1),
                        "demand_h": num(getattr(r, "demand_h", None), 1),
                        "load": pct(getattr(r, "load", None)),
                    }
                )
            pv = frame.pivot_table(index=name_col, columns=week_col, values="load", aggfunc="sum")
            heat = {
                "people": [str(i) for i in pv.index],
                "weeks": [str(c) for c in pv.columns],
                "load": [[pct(v) for v in row] for row in pv.to_numpy()],
            }
    except Exception as exc:
        log.exception("load failed")
        ctx.failed("resource load", exc)
        sec.available = False
    sec.tables.append(
        Table(
            "load",
            "tbl.load",
            [
                Column("person", "col.person"),
                Column("week", "col.week"),
                Column("capacity_h", "col.capacity_h", "hours"),
                Column("demand_h", "col.demand_h", "hours"),
                Column("load", "col.load", "percent"),
            ],
            rows,
        )
    )
    sec.charts.append(Chart("load_heatmap", "chart.load_heatmap", heat))
    sec.tables.append(
        Table("conflicts", "tbl.conflicts", FINDING_COLUMNS, findings_rows(ctx, ("RES-",)))
    )
    return sec
