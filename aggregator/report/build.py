"""Assemble a report: build the context once, run every section of the ordered list
(:data:`aggregator.report.sections.SECTIONS`) through one error guard, and record the trace.

Building a report never fails because one section cannot be filled: a section that raises
becomes an empty section marked unavailable plus a data-quality note
(:func:`guarded_section`). Only an unknown portfolio (PmohubError) and a missing module
(ImportError, at import time) stop it.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from pmohub.aggregator.config.sections import report_settings
from pmohub.aggregator.report.chartfont import font_notes
from pmohub.aggregator.report.context import ReportContext, build_context, node_name
from pmohub.aggregator.report.model import Report, Section, new_section, section_title
from pmohub.aggregator.report.sections import READS_NOTES, SECTIONS, SectionSpec
from pmohub.rules.engine import load_rules

log = logging.getLogger("pmohub.report")


def build_report(
    engine: Engine,
    config: Any,
    *,
    as_of: dt.date,
    portfolio: str | None = None,
    monthly: bool = False,
    check: Any = None,
    job_run_id: str | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Build the weekly (``monthly=True``: monthly with trends) report for one portfolio
    (``None``: everything). ``check`` reuses a :class:`aggregator.compliance.run.CheckResult` of
    the same as-of date (the nightly run has one); otherwise checks run read-only."""
    kind = "monthly" if monthly else "weekly"
    ctx = build_context(
        engine,
        config,
        as_of=as_of,
        portfolio=portfolio,
        kind=kind,
        check=check,
        job_run_id=job_run_id,
    )
    # before the sections: the data-quality section shows the notes as they stand when built
    ctx.notes.extend(font_notes())
    report = Report(
        kind=kind,
        as_of=as_of,
        generated_at=now or dt.datetime.now(dt.UTC),
        portfolio=portfolio,
        portfolio_name=node_name(config, portfolio) if portfolio else None,
        title=section_title(f"title.{kind}"),
        overall_rag="ne",  # the dashboard section sets it
        trace={},
        sections=[],
        data_label=report_settings(config).data_label,
    )
    report.trace = _trace(ctx, report)
    specs = [(n, s) for n, s in enumerate(SECTIONS, start=1) if monthly or not s.monthly_only]
    # report order is list order; sections that read others are built after them
    for number, spec in sorted(specs, key=lambda ns: ns[1].stage):
        report.sections.append(guarded_section(spec, number, ctx, report))
    report.sections.sort(key=lambda s: s.number)
    report.notes = ctx.unique_notes()
    scrub_missing(report)
    return report


def missing(value: Any) -> bool:
    """NaN, NaT, pd.NA: what pandas means by "no value" (rendered as an empty cell)."""
    if value is None or isinstance(value, str | bool | dict | list | tuple):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return None if missing(value) else value


def scrub_missing(report: Report) -> None:
    """Every table cell and message parameter with pandas' missing value becomes None, which
    each format renders as an empty cell: a director never reads ``nan`` or ``NaT``. The
    sections convert their values already; this is the one net under all of them."""
    for sec in report.sections:
        sec.messages = _scrub(list(sec.messages))
        for table in sec.tables:
            table.rows = [_scrub(dict(r)) for r in table.rows]
    report.notes = _scrub(list(report.notes))


def guarded_section(spec: SectionSpec, number: int, ctx: ReportContext, report: Report) -> Section:
    """The one error guard every section goes through: the section as built, or (when its
    builder raises) an empty section marked unavailable and a note saying why."""
    try:
        sec = spec.build(ctx, report)
    except Exception as exc:  # one broken section never sinks the report
        log.exception("report section %s failed", spec.id)
        sec = new_section(spec.id, available=False)
        ctx.failed(spec.id, exc)
        if spec.stage == READS_NOTES:
            # the section that shows every note failed: it still shows them, its own failure
            # included, or the reader would never learn what the report could not see
            sec.messages = ctx.unique_notes()
    sec.number = number
    return sec


def _version() -> str:
    try:
        return importlib.metadata.version("pmohub")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "dev"


def _trace(ctx: ReportContext, report: Report) -> dict[str, Any]:
    """What the report was built from: as-of, config, database, version, the rules that ran
    (with their versions), the sync runs and the snapshots."""
    config = ctx.config
    rules = load_rules()
    ran = sorted({r.rule.id for r in ctx.check.runs}) if ctx.check is not None else []
    snaps = ctx.snapshots
    return {
        "as_of": report.as_of,
        "generated_at": report.generated_at,
        "timezone": getattr(config, "timezone", None),
        "config": str(getattr(config, "path", "") or ""),
        "database": getattr(config, "database_display", None),
        "pmohub_version": _version(),
        "job_run_id": ctx.job_run_id,
        "check_as_of": ctx.check.as_of if ctx.check is not None else None,
        "rules": [{"id": rid, "version": rules[rid].meta.version} for rid in ran if rid in rules],
        "sync_runs": ctx.sync_runs,
        "snapshots": {
            "count": int(len(snaps)) if snaps is not None else 0,
            "first": min(snaps["taken_on"]) if snaps is not None and len(snaps) else None,
            "last": max(snaps["taken_on"]) if snaps is not None and len(snaps) else None,
        },
        "projects": list(ctx.projects),
    }
