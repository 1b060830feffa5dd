"""Section 8, quality: reopen rate over 30 days, open and high-priority bugs per project,
and the open QUA-* findings."""

from __future__ import annotations

import pandas as pd

from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Column, Report, Section, Table, new_section
from pmohub.aggregator.report.shared import FINDING_COLUMNS, findings_rows


def section_quality(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("quality")
    items = ctx.items()
    sc = ctx.frames.get("status_changes")
    since = pd.Timestamp(ctx.as_of_at) - pd.Timedelta(days=30)
    rows = []
    for key in ctx.projects:
        s = items[items["project_key"] == key]
        bugs = s[(s.get("kind") == "bug")] if "kind" in s.columns else s.iloc[0:0]
        open_bugs = bugs[~bugs["status_category"].isin(["done", "cancelled"])]
        high = (
            open_bugs[
                open_bugs.get("priority", pd.Series(dtype=object)).isin(
                    ["Highest", "High", "最高", "高"]
                )
            ]
            if "priority" in open_bugs.columns
            else open_bugs.iloc[0:0]
        )
        rate = None
        if sc is not None and len(sc) and "to_category" in sc.columns:
            p = sc[
                (sc["project_key"] == key)
                & (sc["field"] == "status")
                & (sc["changed_at"] >= since)
                & (sc["changed_at"] < pd.Timestamp(ctx.as_of_at))
            ]
            reopens = int(((p["from_category"] == "done") & (p["to_category"] != "done")).sum())
            dones = int((p["to_category"] == "done").sum())
            rate = round(reopens / dones, 4) if dones else None
        rows.append(
            {
                "project": key,
                "reopen_rate": rate,
                "open_bugs": int(len(open_bugs)),
                "open_high_bugs": int(len(high)),
            }
        )
    sec.tables.append(
        Table(
            "quality",
            "tbl.quality",
            [
                Column("project", "col.project"),
                Column("reopen_rate", "col.reopen_rate", "percent"),
                Column("open_bugs", "col.open_bugs", "int"),
                Column("open_high_bugs", "col.open_high_bugs", "int"),
            ],
            rows,
        )
    )
    sec.tables.append(
        Table(
            "quality_findings",
            "tbl.quality_findings",
            FINDING_COLUMNS,
            findings_rows(ctx, ("QUA-",)),
        )
    )
    return sec
