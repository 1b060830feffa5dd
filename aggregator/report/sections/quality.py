"""Section 8, quality: the reopen rate (rules/formulas.py :func:`reopen_rate`, over
:data:`REOPEN_WINDOW_DAYS`: the status's and QUA-001's number), open and high-priority bugs
per project (QUA-002's reader and priorities: :func:`pmohub.rules.builtin.quality.high_priority_bugs`),
and the open QUA-* findings."""

from __future__ import annotations

import pandas as pd

from pmohub.aggregator.config.settings import config_policy
from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Column, Report, Section, Table, new_section
from pmohub.aggregator.report.shared import FINDING_COLUMNS, findings_rows, pct
from pmohub.rules.builtin.quality import OPEN, high_priority_bugs
from pmohub.rules.engine import load_rules
from pmohub.rules.formulas import reopen_rate


def section_quality(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("quality")
    items = ctx.items()
    rates = _reopen_rates(ctx, items)
    high = _high_priority_counts(ctx, items)
    rows = []
    for key in ctx.projects:
        s = items[items["project_key"] == key]
        bugs = s[(s.get("kind") == "bug")] if "kind" in s.columns else s.iloc[0:0]
        open_bugs = bugs[bugs["status_category"].isin(OPEN)]
        rows.append(
            {
                "project": key,
                "reopen_rate": pct(rates.get(key)),
                "open_bugs": int(len(open_bugs)),
                "open_high_bugs": int(high.get(key, 0)),
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


def _high_priority_counts(ctx: ReportContext, items: pd.DataFrame) -> pd.Series:
    """Project -> open high-priority bugs, by QUA-002's reader and the policy's QUA-002
    priorities (the bugs its findings list are those of them past their SLA)."""
    if not {"kind", "priority", "status_category"} <= set(items.columns):
        return pd.Series(dtype=int)
    rules = load_rules()
    params = config_policy(ctx.config, rules).params(rules["QUA-002"].meta, None)
    return high_priority_bugs(items, params).groupby("project_key").size()


def _reopen_rates(ctx: ReportContext, items: pd.DataFrame) -> pd.Series:
    """Project -> reopen rate (NaN: N/E) from the rules' status changes, leaf items only."""
    sc = ctx.frames.get("status_changes")
    if sc is None or not len(sc) or "to_category" not in sc.columns:
        return pd.Series(dtype=float)
    leaf = items.loc[items["is_leaf"].astype(bool), "id"] if "is_leaf" in items.columns else None
    tz = str(ctx.tz.key)
    return reopen_rate(sc, tz, ctx.as_of, leaf_ids=leaf)["reopen_rate"]
