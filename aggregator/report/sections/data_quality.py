"""Section 12, data-quality notes: what the report could not see or judge (rules not
evaluable and why, unmapped items, estimate coverage, failed syncs), every note the other
sections left, and the trace (as-of, config, database, version, rules, snapshots)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import (
    Column,
    Report,
    Section,
    Table,
    msg,
    new_section,
    to_jsonable,
)
from pmohub.aggregator.report.shared import as_text, findings_rows


def section_data_quality(ctx: ReportContext, report: Report) -> Section:
    """Rules not evaluable, unmapped items, estimate coverage, sync runs and the trace; its
    messages are every data-quality note of the report, so it is built after all others."""
    sec = new_section("data_quality")
    ne_rows = []
    if ctx.check is not None and len(ctx.check.outcomes):
        o = ctx.check.outcomes
        o = o[
            (o["outcome"] == "ne") & (o["project_key"].isin(ctx.projects) | o["project_key"].isna())
        ]
        for (rid, reason), g in o.groupby(["rule_id", "reason"], dropna=False):
            ne_rows.append({"rule": rid, "reason": as_text(reason), "subjects": int(len(g))})
        for e in ctx.check.errors:
            # the rule and that it failed, in words; the exception text is in the log
            ctx.notes.append(msg("note.rule_failed", rule=e.split(":", 1)[0]))
        for w in ctx.check.warnings:
            ctx.notes.append(msg("note.check_warning", text=w))
    sec.tables.append(
        Table(
            "not_evaluable",
            "tbl.not_evaluable",
            [
                Column("rule", "col.rule"),
                Column("reason", "col.reason"),
                Column("subjects", "col.subjects", "int"),
            ],
            ne_rows,
        )
    )
    unmapped = findings_rows(ctx, ("DATA-001",))
    sec.tables.append(
        Table(
            "unmapped",
            "tbl.unmapped",
            [Column("subject", "col.subject"), Column("message", "col.message")],
            [{"subject": r["subject"], "message": r["message"]} for r in unmapped],
        )
    )
    cov_rows = []
    items = ctx.items()
    for key in ctx.projects:
        s = items[items["project_key"] == key]
        if "is_leaf" in s.columns:
            s = s[s["is_leaf"].astype(bool)]
        s = s[s["status_category"] != "cancelled"]
        est = pd.Series(False, index=s.index)
        for c in ("story_points", "original_estimate_h"):
            if c in s.columns:
                est |= pd.to_numeric(s[c], errors="coerce").notna()
        n = int(len(s))
        cov = round(int(est.sum()) / n, 4) if n else None
        cov_rows.append({"project": key, "items": n, "estimated": int(est.sum()), "coverage": cov})
        if cov is not None and cov < 0.5:
            ctx.notes.append(msg("note.estimate_low", project=key, coverage=f"{cov:.0%}"))
    sec.tables.append(
        Table(
            "coverage",
            "tbl.coverage",
            [
                Column("project", "col.project"),
                Column("items", "col.items", "int"),
                Column("estimated", "col.estimated", "int"),
                Column("coverage", "col.coverage", "percent"),
            ],
            cov_rows,
        )
    )
    sec.tables.append(
        Table(
            "sources",
            "tbl.sources",
            [
                Column("source", "col.source"),
                Column("run_id", "col.run_id", "int"),
                Column("status", "col.status"),
                Column("started_at", "col.started_at", "datetime"),
                Column("finished_at", "col.finished_at", "datetime"),
                Column("error", "col.error"),
            ],
            [
                {
                    k: r[k]
                    for k in ("source", "run_id", "status", "started_at", "finished_at", "error")
                }
                for r in ctx.sync_runs
            ],
        )
    )
    sec.messages = ctx.unique_notes()
    sec.tables.append(_trace_table(report))
    return sec


def _snapshot_span(snaps: dict[str, Any]) -> Any:
    """ "12 (2026-09-01 .. 2026-11-21)", or words when there is none (never "None .. None")."""
    if not snaps.get("count") or snaps.get("first") is None:
        return msg("trace.no_snapshots")
    return f"{snaps['count']} ({to_jsonable(snaps['first'])} .. {to_jsonable(snaps['last'])})"


def _trace_table(report: Report) -> Table:
    """``Report.trace`` as rows a reader can follow (the JSON keeps the full trace)."""
    trace = report.trace
    rows = [
        {"what": msg("trace.as_of"), "detail": report.as_of.isoformat()},
        {"what": msg("trace.generated_at"), "detail": to_jsonable(report.generated_at)},
        {"what": msg("trace.config"), "detail": trace["config"]},
        {"what": msg("trace.database"), "detail": trace["database"]},
        {"what": msg("trace.version"), "detail": trace["pmohub_version"]},
        {"what": msg("trace.check_as_of"), "detail": to_jsonable(trace["check_as_of"])},
        {
            "what": msg("trace.rules"),
            "detail": ", ".join(f"{r['id']}@{r['version']}" for r in trace["rules"]),
        },
        {"what": msg("trace.snapshots"), "detail": _snapshot_span(trace["snapshots"])},
    ]
    if trace["job_run_id"]:
        rows.append({"what": msg("trace.job_run"), "detail": trace["job_run_id"]})
    return Table(
        "trace",
        "tbl.trace",
        [Column("what", "col.what"), Column("detail", "col.detail")],
        rows,
    )
