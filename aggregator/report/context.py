"""The report context: what every section reads, built once per report.

:func:`build_context` reads the scope (one portfolio or all), the rules' frames, the check
outcomes (run read-only unless the nightly pass hands its own), the findings lifecycle, the
snapshots of the last 100 days, the newest sync run of every source and the per-node status
of :mod:`aggregator.status.rollup`. The helpers every section shares for status and
compliance figures (:func:`scope_compliance`, :func:`aggregate_rag`, :func:`rag_code`) live
here too, so sections never recompute them differently.

Status and compliance are plain imports: a renamed module is an ImportError at import
time. A computation that raises (the roll-up, the checks) leaves a data-quality note instead,
so one failing part never sinks the report.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from pmohub.aggregator.compliance.frames import load_frames
from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.settings import hierarchy_frame
from pmohub.aggregator.report.asof_notes import as_of_notes
from pmohub.aggregator.report.model import msg
from pmohub.aggregator.status.snapshots import status_of_day
from pmohub.aggregator.store import models as m
from pmohub.connectors.errors import PmohubError
from pmohub.rules.clock import DEFAULT_TZ, as_of_at
from pmohub.rules.engine import load_rules
from pmohub.rules.metrics import compliance_score
from pmohub.rules.rag import WORDS, aggregate_colour

log = logging.getLogger("pmohub.report")


RAGS = ("green", "amber", "red", "ne")


@dataclass
class ReportContext:
    engine: Engine
    config: Any
    as_of: dt.date
    kind: str
    portfolio: str | None
    projects: list[str]  # hierarchy project keys in scope
    hier: pd.DataFrame
    frames: dict[str, pd.DataFrame]
    check: Any  # aggregator.compliance.run.CheckResult | None
    findings: pd.DataFrame  # findings table rows in scope
    sync_runs: list[dict[str, Any]]
    snapshots: pd.DataFrame
    notes: list[Any] = field(default_factory=list)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)  # project/node -> metrics
    job_run_id: str | None = None
    rollup: Any = None  # aggregator.status.rollup.StatusReport, None when it failed

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(getattr(self.config, "timezone", None) or DEFAULT_TZ)

    @property
    def period_days(self) -> int:
        return 30 if self.kind == "monthly" else 7

    @property
    def as_of_at(self) -> dt.datetime:
        """The as-of instant: 00:00 local of the day after ``as_of`` (data of the whole day)."""
        return as_of_at(self.as_of + dt.timedelta(days=1), self.tz)

    def items(self) -> pd.DataFrame:
        wi = self.frames.get("work_items")
        if wi is None or wi.empty:
            return pd.DataFrame(
                columns=["id", "key", "title", "project_key", "kind", "status_category"]
            )
        return wi[wi["project_key"].isin(self.projects)]

    def note(self, key: str, /, **params: Any) -> None:
        self.notes.append(msg(key, **params))

    def failed(self, what: str, exc: BaseException) -> None:
        """``what`` could not be computed: a note in words for the reader, the exception
        (with its traceback, logged by the caller) for the log only."""
        log.warning("report: %s not available: %s: %s", what, type(exc).__name__, exc)
        self.note("note.unavailable", what=what, why=internal_error())

    def unique_notes(self) -> list[Any]:
        """The notes in order, each once (two sections may miss the same thing); keys
        starting with ``_`` (internal bookkeeping) dropped."""
        seen: set[str] = set()
        out = []
        for it in self.notes:
            k = repr(it)
            if k in seen:
                continue
            seen.add(k)
            out.append(
                {k2: v for k2, v in it.items() if not k2.startswith("_")}
                if isinstance(it, dict)
                else it
            )
        return out


def internal_error() -> dict[str, Any]:
    """The reason a director reads when a computation raised: words, not exception text
    (that goes to the log, which the note points to)."""
    return msg("note.internal_error")


def read_table(engine: Engine, table: Any, where: Any = None) -> pd.DataFrame:
    stmt = select(table)
    if where is not None:
        stmt = stmt.where(where)
    with engine.connect() as conn:
        res = conn.execute(stmt)
        return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def latest_sync_runs(engine: Engine, sources: Iterable[str]) -> list[dict[str, Any]]:
    """The newest sync run of every configured source (None fields when never synced)."""
    t = m.SyncRun.__table__
    out = []
    with engine.connect() as conn:
        for name in sources:
            row = conn.execute(
                select(t).where(t.c.source == name).order_by(t.c.started_at.desc(), t.c.id.desc())
            ).first()
            if row is None:
                out.append(
                    {
                        "source": name,
                        "run_id": None,
                        "status": "never",
                        "job_id": None,
                        "started_at": None,
                        "finished_at": None,
                        "fetched": None,
                        "error": None,
                    }
                )
                continue
            out.append(
                {
                    "source": name,
                    "run_id": row.id,
                    "status": row.status,
                    "job_id": row.job_id,
                    "started_at": row.started_at,
                    "finished_at": row.finished_at,
                    "fetched": row.fetched,
                    "error": (row.error or "")[:300] or None,
                }
            )
    return out


# work item columns the sections read beyond what the rules' frames carry
ITEM_DETAILS = (
    "title",
    "assignee_id",
    "priority",
    "remaining_estimate_h",
    "original_estimate_h",
    "time_spent_h",
    "story_points",
    "due_on",
    "resolved_at",
    "created_at",
    "url",
)


def build_context(
    engine: Engine,
    config: Any,
    *,
    as_of: dt.date,
    portfolio: str | None = None,
    kind: str = "weekly",
    check: Any = None,
    job_run_id: str | None = None,
) -> ReportContext:
    """Everything the sections read, read once: scope, frames, checks, findings, snapshots,
    sync runs and the per-node status (roll-up). Raises PmohubError for an unknown portfolio."""
    hier = _scope_hierarchy(config, portfolio)
    notes: list[Any] = []
    rules = list(load_rules().values())
    frames = load_frames(engine, config, rules)
    frames.pop("_registry_projects", None)
    if hier.empty:
        # No hierarchy: every tracker project as its own project (as `pmohub check` does).
        reg = frames.get("registry")
        hier = (
            reg[["project_key", "name", "portfolio", "programme"]].copy()
            if reg is not None
            else hier
        )
    projects = [str(k) for k in hier["project_key"]]
    _add_item_details(engine, frames)
    if check is None:
        try:
            check = run_checks(engine, config, as_of=as_of, projects=None, write=False)
        except Exception:  # the report still goes out, saying checks did not run
            log.exception("checks failed while building the report")
            notes.append(msg("note.unavailable", what="checks", why=internal_error()))
            check = None
    findings = _findings_in_scope(engine, projects, portfolio)
    if findings.empty and check is not None and (check.outcomes["outcome"] == "finding").any():
        # The lifecycle (new/persisting/resolved) lives in the findings table, which only
        # `pmohub check` / nightly write; a read-only report must not pretend all is well.
        notes.append(msg("note.no_findings_recorded"))
    snaps = pd.DataFrame()
    try:
        st = m.Snapshot.__table__
        lookback = as_of - dt.timedelta(days=100)
        snaps = read_table(engine, st, (st.c.taken_on >= lookback) & (st.c.taken_on <= as_of))
        snaps = snaps[snaps["project_key"].isin(projects)] if len(snaps) else snaps
    except Exception:  # pragma: no cover - table always exists after migration
        notes.append(msg("note.unavailable", what="snapshots", why=internal_error()))
    notes.extend(as_of_notes(engine, config, as_of))  # a past day: what its status used
    runs = latest_sync_runs(engine, list((getattr(config, "sources", {}) or {}).keys()))
    ctx = ReportContext(
        engine=engine,
        config=config,
        as_of=as_of,
        kind=kind,
        portfolio=portfolio,
        projects=projects,
        hier=hier.reset_index(drop=True),
        frames=frames,
        check=check,
        findings=findings,
        sync_runs=runs,
        snapshots=snaps,
        notes=notes,
        job_run_id=job_run_id,
    )
    ctx.status = rollup_status(ctx)
    if ctx.snapshots is None or ctx.snapshots.empty:
        ctx.note("note.unavailable", what="RAG trend", why=msg("note.no_snapshots"))
    return ctx


def _scope_hierarchy(config: Any, portfolio: str | None) -> pd.DataFrame:
    """The hierarchy rows of the report's scope (one portfolio, or all)."""
    hier = hierarchy_frame(config)
    if portfolio is not None:
        known = sorted(set(hier["portfolio"].dropna()))
        if portfolio not in known:
            raise PmohubError(
                f"no portfolio {portfolio!r} in the config hierarchy "
                f"(known: {', '.join(known) or 'none'})"
            )
        hier = hier[hier["portfolio"] == portfolio]
    return hier


def _add_item_details(engine: Engine, frames: dict[str, pd.DataFrame]) -> None:
    """Join the :data:`ITEM_DETAILS` the rules' work item frame lacks (in place)."""
    wi = frames.get("work_items")
    if wi is None or not len(wi):
        return
    extra_cols = [c for c in ITEM_DETAILS if c not in wi.columns]
    if not extra_cols:
        return
    t = m.WorkItem.__table__
    with engine.connect() as conn:
        res = conn.execute(select(t.c.id, *[t.c[c] for c in extra_cols]))
        more = pd.DataFrame(res.fetchall(), columns=["id", *extra_cols])
    wi = wi.merge(more, on="id", how="left")
    for c in ("created_at", "resolved_at"):
        if c in extra_cols:
            wi[c] = pd.to_datetime(wi[c], utc=True)
    if "due_on" in extra_cols:
        wi["due_on"] = pd.to_datetime(wi["due_on"])
    frames["work_items"] = wi


def _findings_in_scope(engine: Engine, projects: list[str], portfolio: str | None) -> pd.DataFrame:
    """The findings table with a ``project_key`` (from the subject or the evidence); one
    portfolio's projects plus findings of no project when ``portfolio`` is given."""
    findings = read_table(engine, m.Finding.__table__)
    if len(findings):
        findings["project_key"] = [
            s.split(":", 1)[1]
            if isinstance(s, str) and s.startswith("project:")
            else (e or {}).get("project_key")
            if isinstance(e, dict)
            else None
            for s, e in zip(findings["subject"], findings["evidence"], strict=True)
        ]
        if portfolio is not None:
            findings = findings[
                findings["project_key"].isin(projects) | findings["project_key"].isna()
            ]
    return findings


def scope_compliance(ctx: ReportContext, projects: list[str] | None = None) -> float | None:
    """Compliance of a set of projects as the status rolls it up (docs/metrics.md 2.2, one
    definition: :func:`aggregator.status.metrics.compliance_frame`): the projects' failed
    and evaluated severity weights summed, never an average of scores and never a score of
    the report's own. None when the status has no compliance (nothing evaluated, or the
    status could not be computed)."""
    keys = ctx.projects if projects is None else projects
    rows = [ctx.status.get(k, {}) for k in keys]
    if all(r.get("compliance_eval_w") is None for r in rows):
        return None
    ev = sum(float(r.get("compliance_eval_w") or 0.0) for r in rows)
    fail = sum(float(r.get("compliance_fail_w") or 0.0) for r in rows)
    score = float(compliance_score(np.array([fail]), np.array([ev]))[0])
    return None if score != score else round(score, 1)


#: what the dashboard shows of a node when the status could not be computed
STATUS_UNAVAILABLE = "status (RAG, progress, SPI(t), CPI, compliance)"


def status_unavailable(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Every node grey and without figures: the report never computes a status figure of
    its own (one definition per metric, issue 14), it says the status is not available."""
    keys = [
        *ctx.hier["project_key"],
        *ctx.hier["programme"].dropna(),
        *ctx.hier["portfolio"].dropna(),
    ]
    return {str(k): {"rag": "ne", "reasons": []} for k in keys}


ROLLUP_RAG = {"G": "green", "A": "amber", "R": "red", "NE": "ne"}


def outcomes_for_rollup(outcomes: pd.DataFrame | None) -> pd.DataFrame | None:
    """Check outcomes as the roll-up wants them: passes (which carry no severity of their
    own) weigh as their rule's default severity (sw = 3/2/1)."""
    if outcomes is None or "waived" not in outcomes.columns:
        return None
    rule_sev = {k: r.meta.severity for k, r in load_rules().items()}
    return outcomes.assign(
        severity=outcomes["severity"].where(
            outcomes["severity"].notna(), outcomes["rule_id"].map(rule_sev)
        )
    )


#: the status columns the report reads, per node
STATUS_FIELDS = (
    "items_total",
    "items_done",
    "progress_count",
    "spi_t",
    "cpi",
    "compliance",
    "compliance_fail_w",
    "compliance_eval_w",
    "estimate_coverage",
    "baseline_end",
    "ac_h",
)


def rollup_status(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Per node metrics exactly as ``pmohub status --as-of <as_of>`` shows them
    (:func:`aggregator.status.snapshots.status_of_day`; computed by :func:`aggregator.status.rollup.project_status` from
    the recorded findings, or the stored result of that computation): explained RAG, progress by count and by estimate, SPI(t), CPI,
    compliance. The report reads these values and never recomputes one (issue 14: the
    nightly's own report reads what its snapshot step stored). When the status raises, every
    node is grey without figures, with a note. Keys: project, programme and portfolio keys."""
    base = status_unavailable(ctx)
    try:
        res, _ = status_of_day(ctx.engine, ctx.config, ctx.as_of, store=False)
    except Exception as exc:
        log.exception("roll-up failed")
        ctx.failed(STATUS_UNAVAILABLE, exc)
        return base
    for w in getattr(res, "warnings", []) or []:
        ctx.note("note.check_warning", text=w)

    def take(row: dict[str, Any], key: str, progress_estimate: str) -> None:
        entry = base.setdefault(key, {})
        entry["rag"] = ROLLUP_RAG.get(str(row.get("rag")), "ne")
        entry["reasons"] = list(row.get("rag_reasons") or [])
        for k in STATUS_FIELDS:
            v = row.get(k)
            entry[k] = None if v is None or (isinstance(v, float) and np.isnan(v)) else v
        pe = row.get(progress_estimate)
        entry["progress_estimate"] = None if pe is None or pe != pe else pe
        if str(row.get("evm_unit")) == "h" and row.get("eac") == row.get("eac"):
            entry["eac_h"] = row.get("eac")
        if k_spi := row.get("spi"):
            entry.setdefault("spi_t", None)
            entry["spi"] = k_spi

    for row in res.projects.to_dict("records"):
        take(row, str(row["project_key"]), "progress_estimate")
    for row in res.programmes.to_dict("records"):
        if row.get("programme"):
            take(row, str(row["programme"]), "progress")
    for row in res.portfolios.to_dict("records"):
        if row.get("portfolio"):
            take(row, str(row["portfolio"]), "progress")
    ctx.rollup = res
    return base


def aggregate_rag(rows: list[dict[str, Any]], weights: list[float], critical: list[bool]) -> str:
    """docs/metrics.md 2.2: a parent's colour from its children's, by the one decision in
    rules/rag.py (:func:`~pmohub.rules.rag.aggregate_colour`; score bands, critical child),
    in the report's spelling (green/amber/red/ne)."""
    colour = aggregate_colour([WORDS.get(str(r.get("rag")), "NE") for r in rows], weights, critical)
    return ROLLUP_RAG[colour]


def rag_code(value: Any) -> str:
    """green/amber/red/ne from any spelling the store holds (roll-up G/A/R/NE, words)."""
    v = str(value or "").strip().lower()
    return {"g": "green", "a": "amber", "r": "red"}.get(v, v if v in RAGS else "ne")


def node_name(config: Any, key: str) -> str | None:
    for pf in getattr(config, "hierarchy", ()) or ():
        if pf.key == key:
            return pf.name
        for g in pf.programmes:
            if g.key == key:
                return g.name
    return None
