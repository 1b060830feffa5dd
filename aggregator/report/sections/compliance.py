"""Section 9, compliance findings: per rule the new, persisting, resolved (this period) and
waived findings, the findings themselves (severity first), the score and its trend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from pmohub.aggregator.report.context import ReportContext, scope_compliance
from pmohub.aggregator.report.model import Chart, Column, Report, Section, Table, msg, new_section
from pmohub.aggregator.report.shared import (
    FINDING_COLUMNS,
    as_datetime,
    as_text,
    subject_namer,
)
from pmohub.rules.clock import as_of_at


def section_compliance(ctx: ReportContext, report: Report) -> Section:
    from pmohub.rules.engine import load_rules

    sec = new_section("compliance")
    rules = load_rules()
    f = ctx.findings
    since = ctx.as_of_at - dt.timedelta(days=ctx.period_days)
    per_rule = []
    for rid, rule in rules.items():
        sel = f[f["rule_id"] == rid] if f is not None and len(f) else pd.DataFrame()
        counts = {s: 0 for s in ("new", "persisting", "waived", "resolved")}
        if len(sel):
            for state, n in sel["state"].value_counts().items():
                if state == "resolved":
                    continue
                counts[str(state)] = int(n)
            res = sel[(sel["state"] == "resolved") & sel["resolved_at"].notna()]
            counts["resolved"] = int(
                sum(1 for t in res["resolved_at"] if as_datetime(t) and as_datetime(t) >= since)
            )
        per_rule.append(
            {
                "rule": rid,
                "rule_title": {"en": rule.meta.title_en, "zh": rule.meta.title_zh},
                "version": rule.meta.version,
                "severity": rule.meta.severity,
                **counts,
            }
        )
    sec.tables.append(
        Table(
            "rules",
            "tbl.rules",
            [
                Column("rule", "col.rule"),
                Column("rule_title", "col.rule_title"),
                Column("version", "col.version"),
                Column("severity", "col.severity", "severity"),
                Column("new", "col.new", "int"),
                Column("persisting", "col.persisting", "int"),
                Column("resolved", "col.resolved", "int"),
                Column("waived", "col.waived", "int"),
            ],
            per_rule,
        )
    )
    rows = []
    if f is not None and len(f):
        recent = f[
            f["state"].isin(["new", "persisting", "waived"])
            | (
                (f["state"] == "resolved")
                & f["resolved_at"].map(lambda t: bool(as_datetime(t) and as_datetime(t) >= since))
            )
        ]
        order = {"high": 0, "medium": 1, "low": 2}
        recent = recent.assign(_o=recent["severity"].map(order).fillna(3))
        subject = subject_namer(ctx)
        for r in recent.sort_values(["_o", "rule_id", "subject"]).itertuples(index=False):
            rows.append(
                {
                    "rule": r.rule_id,
                    "severity": r.severity,
                    "state": r.state,
                    "project": as_text(r.project_key),
                    "subject": subject(r.subject, r.project_key),
                    "message": r.message,
                    "first_seen": as_datetime(r.first_seen_at),
                    "resolved_at": as_datetime(r.resolved_at),
                }
            )
    sec.tables.append(
        Table(
            "findings",
            "tbl.findings",
            [*FINDING_COLUMNS, Column("resolved_at", "col.resolved_at", "datetime")],
            rows,
        )
    )
    score = scope_compliance(ctx)
    if score is not None:
        sec.messages.append(msg("msg.compliance", score=f"{score:.1f}"))
    sec.charts.append(Chart("compliance_trend", "chart.compliance_trend", compliance_trend(ctx)))
    return sec


def compliance_trend(ctx: ReportContext) -> dict[str, Any]:
    """Score per snapshot day when snapshots hold it; open findings per week from the
    findings' first-seen/resolved times always (that history is in the store)."""
    s = ctx.snapshots
    score_dates: list[dt.date] = []
    scores: list[float | None] = []
    if s is not None and len(s) and "compliance" in s.columns and s["compliance"].notna().any():
        g = s.dropna(subset=["compliance"]).groupby("taken_on")["compliance"].mean().sort_index()
        score_dates = list(g.index)
        scores = [round(float(v), 1) for v in g]
    weeks = [ctx.as_of - dt.timedelta(weeks=k) for k in range(12, -1, -1)]
    f = ctx.findings
    open_counts = []
    for day in weeks:
        at = as_of_at(day + dt.timedelta(days=1), ctx.tz)
        if f is None or f.empty:
            open_counts.append(0)
            continue
        first = f["first_seen_at"].map(as_datetime)
        res = f["resolved_at"].map(as_datetime)
        n = sum(
            1
            for a, b, st in zip(first, res, f["state"], strict=True)
            if a is not None and a < at and (b is None or b >= at) and st != "waived"
        )
        open_counts.append(int(n))
    return {"dates": score_dates, "score": scores, "weeks": weeks, "open": open_counts}
