"""The status roll-up's inputs: :class:`Inputs` (small per-project aggregates, never the
whole item table in Python) and the SQL reader that fills them "now".

:func:`read_inputs_sql` pushes the heavy work into the database (``GROUP BY`` over the
work items, the latest baseline, worklogs; one pass over the items that finished in the
last 90 days or are in progress for flow), its independent reads run concurrently. The
small shared tables (milestones, findings, stored forecasts, risks, status reports) have
readers here that the history reader (:mod:`.history`) uses too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Engine,
    Integer,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)

from pmohub.aggregator.status.settings import (
    FLOW_DAYS,
    LEAF_KINDS,
    Settings,
    kinds_of,
    project_ids,
)
from pmohub.aggregator.status.sprints import (
    empty_sprints,
    read_sprints,
)
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.reads import (
    day_number,
    epoch_seconds,
    from_day_number,
    from_epoch,
    query_frame,
    spelled_in,
)
from pmohub.rules.calendar import calendar_dates
from pmohub.rules.frames import (
    report_sections,
    status_categories,
)

log = logging.getLogger("pmohub.rollup")


#: Reads that select only numbers/text (no JSON, dates or datetimes) fetch plain tuples.
RAW_JOBS = frozenset({"groups", "subtasks", "baseline", "ac", "flow", "meta"})


READ_THREADS = {"postgresql": 4, "sqlite": 2}


#: Metrics that do not change within a day (90-day flow windows of whole days, the hours
#: per point median, closed sprints): the status reads them from today's nightly snapshot
#: when it has all of them for every project, and computes them otherwise.
SNAPSHOT_FLOW = (
    "throughput_90d", "cycle_p50_wd", "cycle_p85_wd", "lead_p50_wd", "lead_p85_wd", "wip",
    "wip_age_p85_wd", "wip_age_max_wd", "reopen_rate", "hpp", "sprints_closed", "velocity",
    "say_do", "cycle_wd_values",
)  # fmt: skip


wi_t = m.WorkItem.__table__


sc_t = m.StatusChange.__table__


wl_t = m.Worklog.__table__


bl_t = m.Baseline.__table__


ms_t = m.Milestone.__table__


fd_t = m.Finding.__table__


sn_t = m.Snapshot.__table__


@dataclass
class Inputs:
    """Per-project aggregates every metric is computed from (``pk`` = hierarchy key)."""

    groups: pd.DataFrame  # pk, type, kind, status_category, n, n_pts, sum_pts, n_h, sum_h
    est_hist: pd.DataFrame  # pk, type, unit (pts|h), value, n: leaf estimates, for medians
    baseline: pd.DataFrame  # pk, start_on, due_on, done, n, n_pts, sum_pts, n_h, sum_h
    baseline_meta: pd.DataFrame  # pk, taken_at, label, reconstructed, start_on, due_on
    ac: pd.Series  # pk -> logged hours up to t
    flow: pd.DataFrame  # pk, done_at, first_ip_at, created_at, story_points, time_spent_h
    wip: pd.DataFrame  # pk, first_ip_at
    risks: pd.DataFrame  # pk, key, title, probability, impact, response
    milestones: pd.DataFrame  # pk, name, due_on, released, released_on, baseline_due
    findings: pd.DataFrame  # pk, rule_id, severity, state
    forecasts: pd.DataFrame  # pk -> p85 (date), forecast_on
    sprints: pd.DataFrame = field(default_factory=lambda: empty_sprints())  # see sprint_frame
    reports: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPORT_COLUMNS))
    #: Historical metrics (90-day flow, hpp, closed sprints) from today's nightly snapshot,
    #: per project (index pk, :data:`SNAPSHOT_FLOW` columns); None = computed here.
    flow_snapshot: pd.DataFrame | None = None
    flow_as_of: dt.datetime | None = None  # when that snapshot was taken (UTC)


def read_milestones(
    engine: Engine, pid: pd.Series, as_of_end: dt.datetime, baseline_meta: pd.DataFrame
) -> pd.DataFrame:
    ms = query_frame(
        engine,
        select(
            ms_t.c.id,
            ms_t.c.project_id,
            ms_t.c.name,
            ms_t.c.due_on,
            ms_t.c.released,
            ms_t.c.released_on,
        ).where(ms_t.c.deleted_at.is_(None), ms_t.c.archived.is_(False)),
        ["id", "project_id", "name", "due_on", "released", "released_on"],
    )
    ms["pk"] = ms["project_id"].map(pid)
    bl = query_frame(
        engine,
        select(bl_t.c.project_key, bl_t.c.taken_at, bl_t.c.milestone_id, bl_t.c.due_on).where(
            bl_t.c.subject_kind == "milestone", bl_t.c.taken_at < as_of_end
        ),
        ["pk", "taken_at", "milestone_id", "due_on"],
    )
    if len(bl) and len(baseline_meta):
        latest = baseline_meta.set_index("pk")["taken_at"]
        bl = bl[bl["taken_at"] == bl["pk"].map(latest)]
        ms["baseline_due"] = ms["id"].map(
            bl.drop_duplicates("milestone_id").set_index("milestone_id")["due_on"]
        )
    else:
        ms["baseline_due"] = None
    # A release recorded after t had not happened at t.
    last_day = (as_of_end - dt.timedelta(seconds=1)).date()
    late_release = calendar_dates(ms["released_on"]).map(lambda d: d is not None and d > last_day)
    ms.loc[late_release, "released"] = False
    ms.loc[late_release, "released_on"] = None
    return ms.dropna(subset=["pk"])[
        ["pk", "name", "due_on", "released", "released_on", "baseline_due"]
    ].reset_index(drop=True)


def read_findings(
    engine: Engine, pid: pd.Series, known_at: dt.datetime | None = None
) -> pd.DataFrame:
    """The open findings; with ``known_at``, the ones open at that instant instead: first
    seen before it and not resolved by then. A past day's status must not count findings
    a later check run found (a back-filled snapshot would change once checks ran)."""
    cols = [fd_t.c.rule_id, fd_t.c.severity, fd_t.c.state, fd_t.c.subject, fd_t.c.project_id]
    if known_at is None:
        stmt = select(*cols, fd_t.c.evidence).where(fd_t.c.state != "resolved")
    else:
        # Resolved since: open at known_at. The waived state is the current one (a waiver's
        # history is not kept per finding).
        state = case((fd_t.c.state == "resolved", "persisting"), else_=fd_t.c.state)
        stmt = select(*cols[:2], state, *cols[3:], fd_t.c.evidence).where(
            fd_t.c.first_seen_at < known_at,
            or_(fd_t.c.resolved_at.is_(None), fd_t.c.resolved_at >= known_at),
        )
    f = query_frame(
        engine, stmt, ["rule_id", "severity", "state", "subject", "project_id", "evidence"]
    )
    from_subject = f["subject"].str.extract(r"^project:(.+)$")[0]
    from_evidence = f["evidence"].map(
        lambda e: e.get("project_key") if isinstance(e, dict) else None
    )
    f["pk"] = from_subject.fillna(from_evidence).fillna(f["project_id"].map(pid))
    return f.dropna(subset=["pk"])[["pk", "rule_id", "severity", "state"]]


def read_forecasts(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """The latest stored Monte Carlo P85 per project (nightly snapshot), at or before as_of."""
    latest = (
        select(sn_t.c.project_key, func.max(sn_t.c.taken_on).label("on"))
        .where(sn_t.c.taken_on <= as_of)
        .group_by(sn_t.c.project_key)
        .subquery()
    )
    rows = query_frame(
        engine,
        select(sn_t.c.project_key, sn_t.c.taken_on, sn_t.c.metrics).join(
            latest,
            and_(latest.c.project_key == sn_t.c.project_key, latest.c.on == sn_t.c.taken_on),
        ),
        ["pk", "forecast_on", "metrics"],
    )
    return forecast_frame(rows)


def forecast_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``pk, p85, forecast_on`` from snapshot rows (``pk, forecast_on, metrics``)."""
    rows = rows.copy()
    rows["p85"] = rows["metrics"].map(
        lambda mt: (mt or {}).get("forecast_p85") if isinstance(mt, dict) else None
    )
    rows = rows.dropna(subset=["p85"])
    rows["p85"] = pd.to_datetime(rows["p85"])
    return rows[["pk", "p85", "forecast_on"]]


def _parse_extra(extra: pd.Series) -> pd.DataFrame:
    def load(e: Any) -> dict[str, Any]:
        if isinstance(e, dict):
            return e
        if isinstance(e, str) and e:
            return json.loads(e)
        return {}

    return pd.DataFrame.from_records([load(e) for e in extra], index=extra.index)


def risk_frame(rows: pd.DataFrame) -> pd.DataFrame:
    extra = _parse_extra(rows["extra"]) if len(rows) else pd.DataFrame(index=rows.index)
    out = pd.DataFrame({"pk": rows["pk"], "key": rows["key"], "title": rows["title"]})
    for col, src in (
        ("probability", "risk_probability"),
        ("impact", "risk_impact"),
        ("response", "risk_response"),
    ):
        out[col] = extra[src] if src in extra.columns else None
    out["probability"] = pd.to_numeric(out["probability"], errors="coerce")
    out["impact"] = pd.to_numeric(out["impact"], errors="coerce")
    return out.reset_index(drop=True)


REPORT_COLUMNS = ["pk", "key", "created_at", "rag", "reason", "expires_on"]


#: A PM's colour as trackers and reports write it -> G/A/R.
PM_RAG = {
    "green": "G", "g": "G", "绿": "G", "绿色": "G",
    "amber": "A", "a": "A", "yellow": "A", "黄": "A", "黄色": "A",
    "red": "R", "r": "R", "红": "R", "红色": "R",
}  # fmt: skip


def report_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The newest status report per project (``rows``: pk, key, created_at, extra) with its
    ``rag`` (report field, else a ``RAG: ...`` line of the description), ``rag_reason``
    and ``rag_expires_on`` (custom fields mapped into ``extra``)."""
    if rows.empty:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    r = rows.dropna(subset=["pk"]).sort_values("created_at").groupby("pk").tail(1).copy()
    extra = _parse_extra(r["extra"])

    def col(name: str) -> pd.Series:
        return extra[name] if name in extra.columns else pd.Series(None, index=r.index)

    rag = col("rag").astype(object)
    if "description" in extra.columns:
        from_text = extra["description"].map(lambda t: report_sections(t).get("rag"))
        rag = rag.where(rag.notna(), from_text)
    r["rag"] = rag.map(lambda v: PM_RAG.get(str(v).strip().lower()) if pd.notna(v) else None)
    r["reason"] = col("rag_reason")
    r["expires_on"] = calendar_dates(col("rag_expires_on"))
    return r.dropna(subset=["rag"])[REPORT_COLUMNS].reset_index(drop=True)


def _run_all(engine: Engine, jobs: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Run independent read queries concurrently, each on its own connection (the drivers
    release the GIL while the database works; PostgreSQL runs them in parallel)."""
    # PostgreSQL works in its own processes (client threads mostly wait); SQLite works
    # inside this process, so more threads than cores only contend.
    threads = READ_THREADS.get(engine.dialect.name, 2)
    with ThreadPoolExecutor(max_workers=min(threads, len(jobs))) as pool:
        # Chained jobs (callables) are the longest: start them first.
        order = sorted(jobs, key=lambda k: not callable(jobs[k]))
        futures = {
            k: pool.submit(jobs[k])
            if callable(jobs[k])
            else pool.submit(query_frame, engine, jobs[k][0], jobs[k][1], raw=k in RAW_JOBS)
            for k in order
        }
        return {k: f.result() for k, f in futures.items()}


def read_spellings(engine: Engine) -> pd.DataFrame:
    """The stored ``status_category, type, status`` spellings of live items (distinct, from
    the covering index): what exact-spelling type tests and status-name categories need."""
    return query_frame(
        engine,
        select(wi_t.c.status_category, wi_t.c.type, wi_t.c.status)
        .where(wi_t.c.deleted_at.is_(None))
        .distinct(),
        ["status_category", "type", "status"],
    )


def read_inputs_sql(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    hier: pd.DataFrame,
    s: Settings,
    flow_days: int = FLOW_DAYS,
    *,
    use_snapshot: bool = False,
) -> Inputs:
    t_end = s.day_end(as_of)
    pid = project_ids(engine, hier)
    d = engine.dialect.name
    live = wi_t.c.deleted_at.is_(None)
    # The type tests below compare exact spellings and the flow reads the status names.
    spelled = read_spellings(engine)
    types = sorted(set(spelled["type"].dropna().astype(str)))

    def type_in(column: Any, values: Iterable[str]) -> Any:
        return spelled_in(column, values, types)

    jobs = _item_jobs(s, live, type_in)
    jobs.update(_baseline_jobs(t_end, d, s, live, type_in))
    jobs.update(_ac_risk_jobs(t_end, d, s, live, type_in))

    snap, snap_at = _read_flow_snapshot(engine, hier, as_of) if use_snapshot else (None, None)
    if snap is None:
        jobs["flow"] = lambda: _flow_rows(engine, spelled, s, t_end, flow_days, live, type_in)
        jobs["sprints"] = lambda: read_sprints(engine, pid, t_end, s, types)
    r = _run_all(engine, jobs)
    if snap is not None:
        r["flow"] = pd.DataFrame(columns=FLOW_COLUMNS)
        r["sprints"] = empty_sprints()

    groups, est_hist = _groups_frames(engine, r, pid, s, live, type_in)

    meta, baseline = _baseline_frames(r)

    ac = r["ac"]
    ac["pk"] = ac["project_id"].map(pid)
    ac_h = pd.to_numeric(ac["seconds"]).groupby(ac["pk"]).sum().astype(float) / 3600.0

    flow = r["flow"]
    flow["pk"] = flow["project_id"].map(pid)
    for c in ("created_at", "resolved_at", "first_ip_at", "done_at"):
        flow[c] = from_epoch(flow[c])
    wip = flow[flow["status_category"] == "in_progress"][["pk", "first_ip_at"]]
    flow = flow[flow["status_category"] == "done"].copy()
    flow["done_at"] = flow["done_at"].combine_first(flow["resolved_at"])
    risks = r["risks"]
    risks["pk"] = risks["project_id"].map(pid)
    reports = risks[risks["is_risk"].astype(int) == 0]
    risks = risks[risks["is_risk"].astype(int) == 1]
    return Inputs(
        groups=groups.dropna(subset=["pk"]),
        est_hist=est_hist.dropna(subset=["pk"]),
        baseline=baseline,
        baseline_meta=meta,
        ac=ac_h,
        flow=flow.dropna(subset=["pk"]),
        wip=wip.dropna(subset=["pk"]),
        risks=risk_frame(risks.dropna(subset=["pk"])),
        milestones=read_milestones(engine, pid, t_end, meta),
        findings=read_findings(engine, pid),
        forecasts=read_forecasts(engine, as_of),
        sprints=r["sprints"],
        reports=report_frame(reports),
        flow_snapshot=snap,
        flow_as_of=snap_at,
    )


def _item_jobs(
    s: Settings, live: Any, type_in: Callable[[Any, Iterable[str]], Any]
) -> dict[str, Any]:
    """The item counts/sums and sub-task reads of :func:`read_inputs_sql`."""
    jobs: dict[str, Any] = {}
    # Items by project/category/type/status and story points, read from the covering
    # index ix_work_items_rollup in its own order (no sort): gives the counts and sums
    # and, per points value, the histogram for type medians. ``status`` is in the GROUP
    # BY only because it sits between type and points in the index: grouping in index
    # order streams; skipping it costs a temporary B-tree (0.36 s -> 0.77 s at 1M items).
    jobs["groups"] = (
        select(
            wi_t.c.project_id,
            wi_t.c.status_category,
            wi_t.c.type,
            wi_t.c.story_points,
            func.count(),
            func.count(wi_t.c.original_estimate_h),
            func.sum(wi_t.c.original_estimate_h),
        )
        .where(live)
        .group_by(
            wi_t.c.project_id,
            wi_t.c.status_category,
            wi_t.c.type,
            wi_t.c.status,
            wi_t.c.story_points,
        ),
        ["project_id", "status_category", "type", "value", "n", "n_h", "sum_h"],
    )
    sub = wi_t.alias("sub")
    par = wi_t.alias("par")
    jobs["subtasks"] = (
        select(
            par.c.project_id,
            par.c.type,
            par.c.status_category,
            par.c.story_points,
            par.c.original_estimate_h,
            func.count(sub.c.story_points),
            func.sum(sub.c.story_points),
            func.count(sub.c.original_estimate_h),
            func.sum(sub.c.original_estimate_h),
        )
        .select_from(sub.join(par, par.c.id == sub.c.parent_id))
        .where(
            type_in(sub.c.type, s.types_of("subtask")),
            sub.c.deleted_at.is_(None),
            par.c.deleted_at.is_(None),
            sub.c.status_category != "cancelled",
        )
        .group_by(par.c.id),
        ["project_id", "type", "status_category", "own_pts", "own_h",
         "sub_n_pts", "sub_pts", "sub_n_h", "sub_h"],
    )  # fmt: skip
    return jobs


def _baseline_jobs(
    t_end: dt.datetime, d: str, s: Settings, live: Any, type_in: Callable[[Any, Iterable[str]], Any]
) -> dict[str, Any]:
    """The latest baseline per project before ``t_end``: its header and its leaf items."""
    jobs: dict[str, Any] = {}
    latest = (
        select(bl_t.c.project_key, func.max(bl_t.c.taken_at).label("taken_at"))
        .where(bl_t.c.taken_at < t_end)
        .group_by(bl_t.c.project_key)
        .subquery()
    )
    on_latest = and_(
        latest.c.project_key == bl_t.c.project_key, latest.c.taken_at == bl_t.c.taken_at
    )
    jobs["meta"] = (
        select(
            bl_t.c.project_key,
            epoch_seconds(bl_t.c.taken_at, d),
            bl_t.c.label,
            bl_t.c.reconstructed,
            day_number(bl_t.c.start_on, d),
            day_number(bl_t.c.due_on, d),
        )
        .join(latest, on_latest)
        .where(bl_t.c.subject_kind == "project"),
        ["pk", "taken_at", "label", "reconstructed", "start_on", "due_on"],
    )
    done = case((wi_t.c.status_category == "done", 1), else_=0)
    # One row per baselined leaf item, as numbers (day numbers, hours, points, done):
    # grouping a million rows by dates in SQL costs a sort; pandas groups them faster.
    jobs["baseline"] = (
        select(
            bl_t.c.project_key,
            day_number(bl_t.c.start_on, d),
            day_number(bl_t.c.due_on, d),
            done,
            bl_t.c.story_points,
            bl_t.c.original_estimate_h,
        )
        .select_from(bl_t.join(latest, on_latest).join(wi_t, wi_t.c.id == bl_t.c.work_item_id))
        .where(
            bl_t.c.subject_kind == "work_item",
            wi_t.c.deleted_at.is_(None),
            wi_t.c.status_category != "cancelled",
            ~type_in(wi_t.c.type, s.non_leaf_types),
        ),
        ["pk", "start_on", "due_on", "done", "pts", "h"],
    )
    return jobs


def _ac_risk_jobs(
    t_end: dt.datetime, d: str, s: Settings, live: Any, type_in: Callable[[Any, Iterable[str]], Any]
) -> dict[str, Any]:
    """Logged hours up to ``t_end``, open risks and status reports."""
    jobs: dict[str, Any] = {}
    # The time cut-off is a CASE inside the sum, not a WHERE: with an indexable
    # started_at filter SQLite drives the join from worklogs and looks every item up in
    # the wide work_items table (3 s for 500k worklogs); without it, it scans the narrow
    # (project_id, status_category) index and probes worklogs by work_item_id (0.4 s).
    jobs["ac"] = (
        select(
            wi_t.c.project_id,
            func.sum(case((wl_t.c.started_at < t_end, wl_t.c.seconds), else_=0)),
        )
        .select_from(wl_t.join(wi_t, wi_t.c.id == wl_t.c.work_item_id))
        .where(wl_t.c.deleted_at.is_(None))
        .group_by(wi_t.c.project_id),
        ["project_id", "seconds"],
    )
    # Open risks and status reports (the PM's RAG override) in one read.
    is_risk = type_in(wi_t.c.type, s.types_of("risk"))
    jobs["risks"] = (
        select(
            wi_t.c.project_id,
            wi_t.c.key,
            wi_t.c.title,
            wi_t.c.extra,
            cast(is_risk, Integer),
            epoch_seconds(wi_t.c.created_at, d),
        ).where(
            # Ids from the covering index (type, category, deleted_at are in it), then the
            # few matching rows: not a scan of the wide table for a few thousand rows.
            wi_t.c.id.in_(
                select(wi_t.c.id).where(
                    live,
                    or_(
                        and_(wi_t.c.status_category.in_(("todo", "in_progress")), is_risk),
                        type_in(wi_t.c.type, s.types_of("status_report")),
                    ),
                )
            ),
            or_(is_risk, wi_t.c.created_at < t_end),
        ),
        ["project_id", "key", "title", "extra", "is_risk", "created_at"],
    )

    return jobs


def _flow_rows(
    engine: Engine,
    spelled: pd.DataFrame,
    s: Settings,
    t_end: dt.datetime,
    flow_days: int,
    live: Any,
    type_in: Callable[[Any, Iterable[str]], Any],
) -> pd.DataFrame:
    """Flow rows: items done in the window or in progress, with their history."""
    d = engine.dialect.name
    # Status names per category, for reading the history.
    names = spelled[["status_category", "status"]].drop_duplicates(ignore_index=True)
    cats = status_categories(names, s.status_map)
    done_names = sorted(k for k, v in cats.items() if v == "done") or [""]
    ip_names = sorted(k for k, v in cats.items() if v == "in_progress") or [""]
    window_start = t_end - dt.timedelta(days=flow_days + 1)
    is_status = sc_t.c.field == "status"
    # Aggregate the stored timestamps, convert only the results to epochs.
    changed = sc_t.c.changed_at
    stmt = (
        select(
            wi_t.c.project_id,
            wi_t.c.status_category,
            epoch_seconds(wi_t.c.created_at, d),
            epoch_seconds(wi_t.c.resolved_at, d),
            wi_t.c.story_points,
            wi_t.c.time_spent_h,
            epoch_seconds(
                func.min(case((and_(is_status, sc_t.c.to_value.in_(ip_names)), changed))),
                d,
            ),
            epoch_seconds(
                func.max(case((and_(is_status, sc_t.c.to_value.in_(done_names)), changed))),
                d,
            ),
        )
        .select_from(wi_t.outerjoin(sc_t, sc_t.c.work_item_id == wi_t.c.id))
        .where(
            # SQLite tests the terms of a scan in the order written: the cheap, selective
            # category/date test first spares lower(type) on the ~85 % of rows it
            # rejects (0.83 s -> 0.59 s at 1M items). PostgreSQL orders them itself.
            or_(
                and_(
                    wi_t.c.status_category == "done",
                    or_(wi_t.c.updated_at >= window_start, wi_t.c.updated_at.is_(None)),
                ),
                wi_t.c.status_category == "in_progress",
            ),
            live,
            ~type_in(wi_t.c.type, s.non_leaf_types),
        )
        .group_by(wi_t.c.id),
        FLOW_COLUMNS,
    )
    return query_frame(engine, *stmt, raw=True)


def _groups_frames(
    engine: Engine,
    r: dict[str, pd.DataFrame],
    pid: pd.Series,
    s: Settings,
    live: Any,
    type_in: Callable[[Any, Iterable[str]], Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item groups per project (sub-task estimates applied) and the estimate histograms."""
    g = r["groups"]
    g["pk"] = g["project_id"].map(pid)
    g["kind"] = kinds_of(g["type"], s)
    g["value"] = pd.to_numeric(g["value"], errors="coerce")
    g["n"] = g["n"].astype(int)
    has_pts = g["value"].notna()
    g["n_pts"] = np.where(has_pts, g["n"], 0)
    g["sum_pts"] = np.where(has_pts, g["value"] * g["n"], 0.0)
    g["sum_h"] = pd.to_numeric(g["sum_h"], errors="coerce").fillna(0.0)
    keys = ["pk", "project_id", "type", "kind", "status_category"]
    groups = (
        g.groupby(keys, dropna=False)[["n", "n_pts", "sum_pts", "n_h", "sum_h"]].sum().reset_index()
    )
    subtasks = r["subtasks"]
    subtasks["pk"] = subtasks["project_id"].map(pid)
    groups = _apply_subtasks(groups, subtasks)
    leaf_pts = g[has_pts & g["kind"].isin(LEAF_KINDS)]
    est_hist = leaf_pts[["pk", "type", "value", "n"]].assign(unit="pts")
    # Hour medians only where a project estimates in hours and has unestimated items.
    tot = groups[groups["kind"].isin(LEAF_KINDS)].groupby("project_id")[["n", "n_pts", "n_h"]].sum()
    need_h = tot[(tot["n_pts"] == 0) & (tot["n_h"] > 0) & (tot["n_h"] < tot["n"])].index
    if len(need_h):
        h = query_frame(
            engine,
            select(wi_t.c.project_id, wi_t.c.type, wi_t.c.original_estimate_h, func.count())
            .where(
                live,
                wi_t.c.project_id.in_([int(x) for x in need_h]),
                wi_t.c.original_estimate_h.is_not(None),
                ~type_in(wi_t.c.type, s.non_leaf_types),
            )
            .group_by(wi_t.c.project_id, wi_t.c.type, wi_t.c.original_estimate_h),
            ["project_id", "type", "value", "n"],
        )
        h["pk"] = h["project_id"].map(pid)
        est_hist = pd.concat([est_hist, h[["pk", "type", "value", "n"]].assign(unit="h")])
    return groups, est_hist


def _baseline_frames(r: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The baseline headers and the baselined items grouped by dates and done."""
    meta = r["meta"]
    meta["taken_at"] = from_epoch(meta["taken_at"])
    meta["start_on"] = from_day_number(meta["start_on"])
    meta["due_on"] = from_day_number(meta["due_on"])
    b = r["baseline"]
    b["pts"] = pd.to_numeric(b["pts"], errors="coerce")
    b["h"] = pd.to_numeric(b["h"], errors="coerce")
    b["start_on"] = pd.to_numeric(b["start_on"], errors="coerce")
    b["due_on"] = pd.to_numeric(b["due_on"], errors="coerce")
    baseline = (
        b.assign(one=1, has_pts=b["pts"].notna().astype(int), has_h=b["h"].notna().astype(int))
        .groupby(["pk", "start_on", "due_on", "done"], dropna=False)
        .agg(
            n=("one", "sum"),
            n_pts=("has_pts", "sum"),
            sum_pts=("pts", "sum"),
            n_h=("has_h", "sum"),
            sum_h=("h", "sum"),
        )
        .reset_index()
    )
    baseline["start_on"] = from_day_number(baseline["start_on"])
    baseline["due_on"] = from_day_number(baseline["due_on"])
    return meta, baseline


FLOW_COLUMNS = ["project_id", "status_category", "created_at", "resolved_at", "story_points",
                "time_spent_h", "first_ip_at", "done_at"]  # fmt: skip


def _read_flow_snapshot(
    engine: Engine, hier: pd.DataFrame, as_of: dt.date
) -> tuple[pd.DataFrame | None, dt.datetime | None]:
    """:data:`SNAPSHOT_FLOW` per project from the snapshots taken on ``as_of`` when every
    hierarchy project has one with all of them (a snapshot written before these metrics
    existed, or a missing project, means: compute)."""
    keys = list(hier["project_key"])
    if not keys:
        return None, None
    rows = query_frame(
        engine,
        select(sn_t.c.project_key, sn_t.c.taken_at, sn_t.c.metrics).where(sn_t.c.taken_on == as_of),
        ["pk", "taken_at", "metrics"],
    )
    rows = rows[rows["pk"].isin(keys)].drop_duplicates("pk")
    if len(rows) < len(set(keys)):
        return None, None
    metrics = [mt if isinstance(mt, dict) else json.loads(mt or "{}") for mt in rows["metrics"]]
    if not all(all(k in mt for k in SNAPSHOT_FLOW) for mt in metrics):
        return None, None
    snap = pd.DataFrame.from_records(
        [{k: mt[k] for k in SNAPSHOT_FLOW} for mt in metrics], index=rows["pk"].to_numpy()
    )
    for c in SNAPSHOT_FLOW:
        if c != "cycle_wd_values":
            snap[c] = pd.to_numeric(snap[c], errors="coerce")
    taken = pd.to_datetime(rows["taken_at"], utc=True).min()
    return snap, taken.to_pydatetime()


def first_created(engine: Engine, hier: pd.DataFrame) -> pd.Series:
    """Hierarchy project -> when its first item was created (the age of its history)."""
    pid = project_ids(engine, hier)
    f = query_frame(
        engine,
        select(wi_t.c.project_id, epoch_seconds(func.min(wi_t.c.created_at), engine.dialect.name))
        .where(wi_t.c.deleted_at.is_(None))
        .group_by(wi_t.c.project_id),
        ["project_id", "first"],
    )
    f["pk"] = f["project_id"].map(pid)
    return from_epoch(f["first"]).groupby(f["pk"]).min()


def _apply_subtasks(groups: pd.DataFrame, subtasks: pd.DataFrame) -> pd.DataFrame:
    """Swap a parent's own estimate for its sub-tasks' sum where they have one (per unit)."""
    if subtasks.empty:
        return groups
    keys = ["pk", "type", "status_category"]
    adj = pd.DataFrame({c: subtasks[c] for c in keys})
    for unit, own, n_sub, sub_sum in (
        ("pts", "own_pts", "sub_n_pts", "sub_pts"),
        ("h", "own_h", "sub_n_h", "sub_h"),
    ):
        use = subtasks[n_sub].fillna(0) > 0
        own_v = pd.to_numeric(subtasks[own], errors="coerce")
        adj[f"sum_{unit}"] = np.where(use, subtasks[sub_sum].fillna(0) - own_v.fillna(0), 0.0)
        adj[f"n_{unit}"] = np.where(use & own_v.isna(), 1, 0)
    delta = adj.groupby(keys, dropna=False).sum().reset_index()
    out = groups.merge(delta, on=keys, how="left", suffixes=("", "_d"))
    for c in ("sum_pts", "n_pts", "sum_h", "n_h"):
        out[c] = out[c].fillna(0).astype(float) + out[f"{c}_d"].fillna(0).astype(float)
    return out.drop(columns=[c for c in out.columns if c.endswith("_d")])
