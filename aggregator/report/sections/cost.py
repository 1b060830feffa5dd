"""Section 4, cost and effort: planned, actual and remaining hours per project, CPI and the
estimate at completion (the roll-up's in hours, else planned / CPI). Actual hours, CPI and
EAC are the status's (``ctx.status``: AC is the hours logged up to the end of the as-of day)."""

from __future__ import annotations

import pandas as pd

from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Column, Report, Section, Table, new_section
from pmohub.aggregator.report.shared import num


def section_cost(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("cost")
    items = ctx.items()
    rows = []
    for key in ctx.projects:
        s = items[items["project_key"] == key]
        if "is_leaf" in s.columns:
            s = s[s["is_leaf"].astype(bool)]
        planned = (
            float(pd.to_numeric(s.get("original_estimate_h"), errors="coerce").sum())
            if "original_estimate_h" in s.columns
            else 0.0
        )
        remaining = (
            float(pd.to_numeric(s.get("remaining_estimate_h"), errors="coerce").sum())
            if "remaining_estimate_h" in s.columns
            else 0.0
        )
        st = ctx.status.get(key, {})
        # the status's AC: hours logged up to the end of the as-of day in the configured zone
        # (a worklog of a later day is not "actual" yet), never a sum of the report's own
        actual = num(st.get("ac_h"), 1)
        cpi = num(st.get("cpi"))
        eac = (
            num(st.get("eac_h"))
            if st.get("eac_h") is not None
            else (round(planned / cpi, 1) if cpi else None)
        )
        rows.append(
            {
                "project": key,
                "planned_h": round(planned, 1),
                "actual_h": actual,
                "remaining_h": round(remaining, 1),
                "cpi": cpi,
                "eac_h": eac,
            }
        )
    sec.tables.append(
        Table(
            "effort",
            "tbl.effort",
            [
                Column("project", "col.project"),
                Column("planned_h", "col.planned_h", "hours"),
                Column("actual_h", "col.actual_h", "hours"),
                Column("remaining_h", "col.remaining_h", "hours"),
                Column("cpi", "col.cpi", "float"),
                Column("eac_h", "col.eac_h", "hours"),
            ],
            rows,
        )
    )
    return sec
