"""Section 1, the executive summary: red and amber projects, new findings, the compliance
score, failed sources, the key figures and the decisions asked for (pending change requests,
escalations). It reads the dashboard, scope and risks sections, so it is built after them."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pmohub.aggregator.report.context import ReportContext, scope_compliance
from pmohub.aggregator.report.model import Column, Report, Section, Table, msg, new_section
from pmohub.aggregator.report.shared import as_datetime


def section_summary(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("summary")
    dash = report.section("dashboard").tables[0].rows
    projects = [r for r in dash if r["level"] == "project"]
    reds = [r["key"] for r in projects if r["rag"] == "red"]
    ambers = [r["key"] for r in projects if r["rag"] == "amber"]
    if reds:
        sec.messages.append(msg("msg.red_projects", n=len(reds), keys=", ".join(reds)))
    if ambers:
        sec.messages.append(msg("msg.amber_projects", n=len(ambers), keys=", ".join(ambers)))
    if not reds and not ambers and any(r["rag"] == "green" for r in projects):
        sec.messages.append(msg("msg.all_green"))
    if all(r["rag"] == "ne" for r in projects):
        sec.messages.append(msg("msg.no_rollup"))
    f = ctx.findings
    open_f = (
        f[f["state"].isin(["new", "persisting"])] if f is not None and len(f) else pd.DataFrame()
    )
    new_f = f[f["state"] == "new"] if f is not None and len(f) else pd.DataFrame()
    if f is not None and len(f):
        # "new this run": first seen at this as-of's check instant or within the period
        since = ctx.as_of_at - dt.timedelta(days=ctx.period_days)
        new_f = f[
            (f["state"] == "new")
            & f["first_seen_at"].map(lambda t: bool(as_datetime(t) and as_datetime(t) >= since))
        ]
    high_new = int((new_f["severity"] == "high").sum()) if len(new_f) else 0
    sec.messages.append(msg("msg.new_findings", n=int(len(new_f)), high=high_new))
    score = scope_compliance(ctx)
    if score is not None:
        sec.messages.append(msg("msg.compliance", score=f"{score:.1f}"))
    failed = [r["source"] for r in ctx.sync_runs if r["status"] not in ("ok",)]
    if failed:
        sec.messages.append(msg("msg.sources_failed", names=", ".join(failed)))
    ne_rules = 0
    if ctx.check is not None and len(ctx.check.outcomes):
        o = ctx.check.outcomes
        ne_rules = int(o.loc[o["outcome"] == "ne", "rule_id"].nunique())
    figures = [
        {"metric": msg("m.overall_rag"), "value": report.overall_rag, "kind": "rag"},
        {"metric": msg("m.projects"), "value": len(projects), "kind": "int"},
        {"metric": msg("m.compliance"), "value": score, "kind": "float"},
        {"metric": msg("m.findings_open"), "value": int(len(open_f)), "kind": "int"},
        {"metric": msg("m.findings_new"), "value": int(len(new_f)), "kind": "int"},
        {
            "metric": msg("m.findings_high"),
            "value": int((open_f["severity"] == "high").sum()) if len(open_f) else 0,
            "kind": "int",
        },
        {"metric": msg("m.sources_failed"), "value": len(failed), "kind": "int"},
        {"metric": msg("m.rules_ne"), "value": ne_rules, "kind": "int"},
    ]
    sec.tables.append(
        Table(
            "key_figures",
            "tbl.key_figures",
            [Column("metric", "col.metric", "text"), Column("value", "col.value", "mixed")],
            figures,
        )
    )
    decisions = []
    crs = report.section("scope").tables[0].rows
    for r in crs:
        if not r.get("ccb_decision") and r.get("status") not in ("Done", "Closed", "已关闭"):
            decisions.append(
                {"message": msg("dec.cr_pending", key=r["key"], title=r["title"] or "")}
            )
    for r in report.section("risks").tables[1].rows:
        decisions.append({"message": msg("dec.escalate", key=r["subject"], title=r["message"])})
    sec.tables.append(
        Table("decisions", "tbl.decisions", [Column("message", "col.message")], decisions[:20])
    )
    return sec
