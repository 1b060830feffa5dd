"""The sections that list tracker registers: 5 scope and change control (change requests,
CHG-* findings), 6 risks and issues (top ten by score, coordination findings), 10 corrective
and preventive actions, 11 closure and lessons learned."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Column, Report, Section, Table, new_section
from pmohub.aggregator.report.shared import (
    FINDING_COLUMNS,
    as_date,
    as_datetime,
    as_text,
    findings_rows,
    kind_items,
    num,
    person_names,
)
from pmohub.rules.rag import risk_scores


def section_scope(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("scope")
    crs = kind_items(ctx, "change_request")
    rows = []
    for r in crs.sort_values("key").itertuples(index=False):
        decision = getattr(r, "ccb_decision", None)
        rows.append(
            {
                "key": r.key,
                "title": as_text(getattr(r, "title", None)),
                "project": r.project_key,
                "status": r.status,
                "ccb_decision": as_text(decision),
                "created_at": as_datetime(getattr(r, "created_at", None)),
            }
        )
    sec.tables.append(
        Table(
            "crs",
            "tbl.crs",
            [
                Column("key", "col.key"),
                Column("title", "col.title"),
                Column("project", "col.project"),
                Column("status", "col.status"),
                Column("ccb_decision", "col.ccb_decision"),
                Column("created_at", "col.created_at", "datetime"),
            ],
            rows,
        )
    )
    sec.tables.append(
        Table(
            "scope_findings", "tbl.scope_findings", FINDING_COLUMNS, findings_rows(ctx, ("CHG-",))
        )
    )
    return sec


def _risk_score(r: Any) -> float | None:
    """The score rules/rag.py gives the risk (the one scoring RISK-* and the RAG use)."""
    score = risk_scores(
        pd.Series([getattr(r, "risk_probability", None)], dtype=object),
        pd.Series([getattr(r, "risk_impact", None)], dtype=object),
    ).iloc[0]
    return None if pd.isna(score) else float(score)


def section_risks(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("risks")
    risks = kind_items(ctx, "risk")
    risks = risks[~risks["status_category"].isin(["done", "cancelled"])]
    names = person_names(ctx)
    rows = []
    for r in risks.itertuples(index=False):
        score = _risk_score(r)
        rows.append(
            {
                "key": r.key,
                "title": as_text(getattr(r, "title", None)),
                "project": r.project_key,
                "probability": num(getattr(r, "risk_probability", None), 0),
                "impact": num(getattr(r, "risk_impact", None), 0),
                "score": num(score, 0),
                "response": as_text(getattr(r, "risk_response", None)),
                "owner": names.get(int(r.assignee_id))
                if num(getattr(r, "assignee_id", None)) is not None
                else None,
                "status": r.status,
            }
        )
    rows.sort(key=lambda x: (-(x["score"] or -1), x["key"]))
    sec.tables.append(
        Table(
            "top_risks",
            "tbl.top_risks",
            [
                Column("key", "col.key"),
                Column("title", "col.title"),
                Column("project", "col.project"),
                Column("probability", "col.probability", "int"),
                Column("impact", "col.impact", "int"),
                Column("score", "col.score", "int"),
                Column("response", "col.response"),
                Column("owner", "col.owner"),
                Column("status", "col.status"),
            ],
            rows[:10],
        )
    )
    coord = findings_rows(ctx, ("RISK-003", "RISK-004", "RES-002", "VAR-005"))
    sec.tables.append(Table("coordination", "tbl.coordination", FINDING_COLUMNS, coord))
    return sec


def section_actions(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("actions")
    acts = kind_items(ctx, "corrective_action")
    names = person_names(ctx)
    rows = []
    today = pd.Timestamp(ctx.as_of)
    for r in acts.sort_values("key").itertuples(index=False):
        due = getattr(r, "due_on", None)
        open_ = r.status_category not in ("done", "cancelled")
        aid = num(getattr(r, "assignee_id", None))
        rows.append(
            {
                "key": r.key,
                "title": as_text(getattr(r, "title", None)),
                "project": r.project_key,
                "owner": names.get(int(aid)) if aid is not None else None,
                "due_on": as_date(due),
                "status": r.status,
                "overdue": bool(open_ and due is not None and not pd.isna(due) and due < today),
            }
        )
    sec.tables.append(
        Table(
            "actions",
            "tbl.actions",
            [
                Column("key", "col.key"),
                Column("title", "col.title"),
                Column("project", "col.project"),
                Column("owner", "col.owner"),
                Column("due_on", "col.due_on", "date"),
                Column("status", "col.status"),
                Column("overdue", "col.overdue", "bool"),
            ],
            rows,
        )
    )
    return sec


def section_closure(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("closure")
    reg = ctx.frames.get("registry")
    rows = []
    if reg is not None and len(reg):
        closing = reg[
            reg["project_key"].isin(ctx.projects) & reg["phase"].isin(["closing", "closed"])
        ]
        for r in closing.itertuples(index=False):
            rows.append({"project": r.project_key, "name": as_text(r.name), "phase": r.phase})
    sec.tables.append(
        Table(
            "closure",
            "tbl.closure",
            [
                Column("project", "col.project"),
                Column("name", "col.name"),
                Column("phase", "col.phase"),
            ],
            rows,
        )
    )
    lessons = kind_items(ctx, "lessons_learned")
    sec.tables.append(
        Table(
            "lessons",
            "tbl.lessons",
            [
                Column("key", "col.key"),
                Column("title", "col.title"),
                Column("project", "col.project"),
                Column("created_at", "col.created_at", "datetime"),
            ],
            [
                {
                    "key": r.key,
                    "title": as_text(getattr(r, "title", None)),
                    "project": r.project_key,
                    "created_at": as_datetime(getattr(r, "created_at", None)),
                }
                for r in lessons.sort_values("key").itertuples(index=False)
            ],
        )
    )
    sec.tables.append(
        Table(
            "closure_findings",
            "tbl.closure_findings",
            FINDING_COLUMNS,
            findings_rows(ctx, ("CLO-",)),
        )
    )
    return sec
