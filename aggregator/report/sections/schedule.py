"""Section 3, schedule and milestones: milestones overdue, due within 30 days or released
this period (with the working days each slipped against the baseline, VAR-002's number), SPI(t) and the Monte Carlo finish dates
(:mod:`aggregator.status.forecast`) per project, and the burn-up with the forecast cone."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from pmohub.aggregator.config.settings import config_calendar, project_calendars
from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Chart, Column, Report, Section, Table, msg, new_section
from pmohub.aggregator.report.shared import as_date, num, pct
from pmohub.aggregator.status.forecast import forecast_projects
from pmohub.rules.formulas import milestone_slippage

log = logging.getLogger("pmohub.report")


def section_schedule(ctx: ReportContext, report: Report) -> Section:
    sec = new_section("schedule")
    ms = ctx.frames.get("milestones")
    rows = []
    overdue = 0
    if ms is not None and len(ms):
        mm = ms[ms["project_key"].isin(ctx.projects)]
        slips = _slips(ctx)
        horizon = pd.Timestamp(ctx.as_of + dt.timedelta(days=30))
        today = pd.Timestamp(ctx.as_of)
        for r in mm.sort_values(["due_on", "name"], na_position="last").itertuples(index=False):
            due = r.due_on
            if pd.isna(due):
                continue
            released = bool(r.released)
            if released:
                rel = r.released_on
                if pd.isna(rel) or rel < today - pd.Timedelta(days=ctx.period_days):
                    continue
                state = "released"
            elif due < today:
                state = "overdue"
                overdue += 1
            elif due <= horizon:
                state = "due_soon"
            else:
                continue
            rows.append(
                {
                    "project": r.project_key,
                    "milestone": str(r.name),
                    "due_on": as_date(due),
                    "state": state,
                    "released": released,
                    "slip_wd": slips.get(r.id),
                }
            )
    if overdue:
        sec.messages.append(msg("msg.milestones_overdue", n=overdue))
    sec.tables.append(
        Table(
            "milestones",
            "tbl.milestones",
            [
                Column("project", "col.project"),
                Column("milestone", "col.milestone"),
                Column("due_on", "col.due_on", "date"),
                Column("state", "col.state", "ms"),
                Column("released", "col.released", "bool"),
                Column("slip_wd", "col.slip_wd", "int"),
            ],
            rows,
        )
    )
    perf = []
    forecast = _forecasts(ctx)
    for key in ctx.projects:
        s = ctx.status.get(key, {})
        f = forecast.get(key, {})
        perf.append(
            {
                "project": key,
                "spi_t": num(s.get("spi_t")),
                **{p: _finish(f, p) for p in ("p50", "p85", "p95")},
                # the P columns are dates, or words for the whole row when there is no
                # throughput yet (a typed date column in Excel stays dates only)
                "kind": "text" if f.get("basis") == "no_history" else "date",
                "baseline_end": as_date(f.get("baseline_end") or s.get("baseline_end")),
                "p_on_time": pct(f.get("p_on_time")),
                "confidence": _confidence(f),
            }
        )
    sec.tables.append(
        Table(
            "schedule",
            "tbl.schedule",
            [
                Column("project", "col.project"),
                Column("spi_t", "col.spi_t", "float"),
                Column("p50", "col.p50", "mixed"),
                Column("p85", "col.p85", "mixed"),
                Column("p95", "col.p95", "mixed"),
                Column("baseline_end", "col.baseline_end", "date"),
                Column("p_on_time", "col.p_on_time", "percent"),
                Column("confidence", "col.confidence"),
            ],
            perf,
        )
    )
    sec.charts.append(Chart("burnup", "chart.burnup", _burnup(ctx, forecast)))
    return sec


def _finish(forecast: dict[str, Any], quantile: str) -> Any:
    """A forecast date, or words saying why there is none: "no history yet" when nothing
    has finished (no throughput to project), never a "> 2 years" that looks like a result."""
    day = as_date(forecast.get(quantile))
    if day is None and forecast.get("basis") == "no_history":
        return msg("fc.no_history")
    return day  # None beyond the two-year cap: the confidence column says so


def _confidence(forecast: dict[str, Any]) -> Any:
    if not forecast:
        return None
    basis = forecast.get("basis")
    if basis in ("no_history", "nothing_open"):
        return msg(f"conf.{basis}")
    if forecast.get("p95") is None or forecast.get("p95") != forecast.get("p95"):
        return msg("conf.beyond")
    return msg("conf.low" if bool(forecast.get("low_confidence")) else "conf.ok")


def _slips(ctx: ReportContext) -> dict[Any, int]:
    """Milestone id -> working days it slipped against the project's latest baseline, VAR-002's
    computation (:func:`pmohub.rules.formulas.milestone_slippage`: the release day, else the
    current due date or today when that has passed) in the project's calendar, as the rule
    counts it. Milestones not in a baseline have no slip."""
    f = ctx.frames
    bl, ms, wi = f.get("baselines"), f.get("milestones"), f.get("work_items")
    if bl is None or ms is None or wi is None or bl.empty or ms.empty:
        return {}
    default, _ = config_calendar(ctx.config)
    own = project_calendars(ctx.config)
    out: dict[Any, int] = {}
    for cal in {id(c): c for c in [default, *own.values()]}.values():
        keys = [k for k in ctx.projects if own.get(k, default) is cal]
        part = bl[bl["project_key"].isin(keys)]
        if part.empty:
            continue
        slip = milestone_slippage(part, ms, wi, cal, ctx.as_of)
        slip = slip[slip["milestone_id"].notna() & slip["slip_wd"].notna()]
        out.update(zip(slip["milestone_id"], slip["slip_wd"].astype(int), strict=True))
    return out


def _forecasts(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Monte Carlo finish dates per project; none (and a note) when the forecast raises."""
    try:
        res = forecast_projects(ctx.engine, ctx.config, as_of=ctx.as_of, projects=ctx.projects)
    except Exception as exc:
        log.exception("forecast failed")
        ctx.failed("Monte Carlo P50/P85/P95", exc)
        return {}
    out: dict[str, dict[str, Any]] = {}
    for r in _iter_nodes(res):
        key = r.get("project_key") or r.get("key") or r.get("project")
        if key:
            out[key] = r
    return out


def _iter_nodes(nodes: Any) -> Iterable[dict[str, Any]]:
    if isinstance(nodes, pd.DataFrame):
        yield from nodes.to_dict("records")
        return
    for n in nodes or ():
        d = (
            n
            if isinstance(n, dict)
            else (asdict(n) if hasattr(n, "__dataclass_fields__") else vars(n))
        )
        yield d
        yield from _iter_nodes(d.get("children") or ())


def _burnup(ctx: ReportContext, forecast: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cumulative done vs scope per day over the last 12 weeks (leaf items, cancelled out),
    from the items' created/resolved times; the cone from the forecast when there is one."""
    items = ctx.items()
    if items.empty or "created_at" not in items.columns:
        return {"dates": [], "done": [], "scope": [], "cone": None}
    if "is_leaf" in items.columns:
        items = items[items["is_leaf"].astype(bool)]
    items = items[items["status_category"] != "cancelled"]
    start = ctx.as_of - dt.timedelta(weeks=12)
    days = pd.date_range(start, ctx.as_of, freq="D")
    created = pd.to_datetime(items["created_at"], utc=True).dt.tz_convert(ctx.tz).dt.date
    done_mask = items["status_category"] == "done"
    resolved = pd.to_datetime(items.loc[done_mask, "resolved_at"], utc=True)
    resolved_d = resolved.dt.tz_convert(ctx.tz).dt.date
    # Items without a creation time (plan spreadsheets) were in scope from the start.
    c_days = np.array(
        [d if d is not None and d == d else start for d in created], dtype="datetime64[D]"
    )
    r_days = np.array([d for d in resolved_d if d is not None and d == d], dtype="datetime64[D]")
    grid = days.to_numpy().astype("datetime64[D]")
    scope = np.searchsorted(np.sort(c_days), grid, side="right")
    done = np.searchsorted(np.sort(r_days), grid, side="right")
    cone = None
    dates = [
        f for f in (forecast.get(k, {}) for k in ctx.projects) if f.get("p50") and f.get("p95")
    ]
    if dates:

        def latest(q: str) -> dt.date | None:
            vals = [as_date(pd.Timestamp(f[q])) for f in dates if f.get(q)]
            vals = [v for v in vals if v]
            return max(vals) if vals else None

        cone = {
            "p50": latest("p50"),
            "p85": latest("p85"),
            "p95": latest("p95"),
            "scope": int(scope[-1]) if len(scope) else 0,
        }
    return {
        "dates": [d.date() for d in days],
        "done": [int(x) for x in done],
        "scope": [int(x) for x in scope],
        "cone": cone,
    }
