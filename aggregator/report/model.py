"""The report model: a plain, JSON-serialisable description of the weekly (or monthly) PMO
report, built from the store. Renderers (HTML, Markdown, Excel, CSV/JSON) only lay it out.

Shape: :class:`Report` -> :class:`Section` (RULES.md section 4, English and Chinese
headings) -> :class:`Table` (typed :class:`Column` + rows of plain values) and
:class:`Chart` (data series; pictures are drawn by the HTML renderer). Words are stored as
catalogue keys (``{"key": ..., "params": ...}``, see :mod:`aggregator.report.i18n`) so one
model renders in either language; tracker text (titles, names) is stored as is and escaped
by the renderers.

Traceability: ``Report.trace`` lists the as-of date, the sync run of every source (id,
status, times), the rules evaluated with their versions and the snapshots used.

Parts that need a feature which is not installed (roll-up, load, forecast, snapshots), or
data the store does not hold yet, degrade to ``available=False`` plus a data-quality note;
building a report never fails because one section cannot be filled.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from pmohub.aggregator.store import models as m
from pmohub.rules.clock import DEFAULT_TZ, as_of_at

log = logging.getLogger("pmohub.report")

SEVERITY_WEIGHT = {"high": 3, "medium": 2, "low": 1}
RAG_SCORE = {"green": 0, "amber": 1, "red": 2}
RAGS = ("green", "amber", "red", "ne")

SECTION_KEYS: tuple[str, ...] = (
    "summary",
    "dashboard",
    "schedule",
    "cost",
    "scope",
    "risks",
    "resources",
    "quality",
    "compliance",
    "actions",
    "closure",
    "data_quality",
)


# --------------------------------------------------------------------------- structure


@dataclass
class Column:
    key: str
    label: str  # catalogue key
    kind: str = "text"  # text|int|float|percent|hours|date|datetime|rag|bool|state|severity


@dataclass
class Table:
    id: str
    title: str  # catalogue key
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Chart:
    id: str  # rag_trend | burnup | load_heatmap | compliance_trend
    title: str  # catalogue key
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Section:
    id: str
    number: int
    title: dict[str, str]  # {"en": ..., "zh": ...}
    available: bool = True
    messages: list[Any] = field(default_factory=list)  # text items
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass
class Report:
    kind: str  # weekly | monthly
    as_of: dt.date
    generated_at: dt.datetime
    portfolio: str | None
    portfolio_name: str | None
    title: dict[str, str]
    overall_rag: str
    trace: dict[str, Any]
    sections: list[Section]
    notes: list[Any] = field(default_factory=list)  # data-quality notes (text items)
    data_label: str | None = None  # report.data_label, e.g. "demo data"

    def as_of_text(self) -> str:
        """``2026-11-21``, or ``2026-11-21 (demo data)`` with a data label."""
        day = self.as_of.isoformat()
        return f"{day} ({self.data_label})" if self.data_label else day

    def section(self, sid: str) -> Section:
        return next(s for s in self.sections if s.id == sid)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


def to_jsonable(value: Any) -> Any:
    """Dates as ``YYYY-MM-DD``, datetimes as ISO 8601 UTC, NaN as null."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        # whole seconds: Excel keeps milliseconds at best, and no report needs more
        value = value.astimezone(dt.UTC).replace(microsecond=0)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if np.isnan(f) else f
    if value is pd.NaT:
        return None
    return value


def msg(key: str, /, **params: Any) -> dict[str, Any]:
    return {"key": key, "params": params}


def _title(key: str) -> dict[str, str]:
    from pmohub.aggregator.report.i18n import both

    return both(key)


# --------------------------------------------------------------------------- context


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
    rollup: Any = None  # aggregator.status.rollup.StatusReport when that feature is installed

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


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    """A public function of a feature module, or None when that feature is not there yet."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(mod, name, None)


def _read_table(engine: Engine, table: Any, where: Any = None) -> pd.DataFrame:
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
    from pmohub.aggregator.compliance.frames import load_frames
    from pmohub.aggregator.compliance.run import run_checks
    from pmohub.aggregator.config.settings import hierarchy_frame
    from pmohub.rules.engine import load_rules

    hier = hierarchy_frame(config)
    if portfolio is not None:
        known = sorted(set(hier["portfolio"].dropna()))
        if portfolio not in known:
            from pmohub.connectors.errors import PmohubError

            raise PmohubError(
                f"no portfolio {portfolio!r} in the config hierarchy "
                f"(known: {', '.join(known) or 'none'})"
            )
        hier = hier[hier["portfolio"] == portfolio]
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
    wi = frames.get("work_items")
    if wi is not None and len(wi):
        extra_cols = [
            c
            for c in (
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
            if c not in wi.columns
        ]
        if extra_cols:
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
    if check is None:
        try:
            check = run_checks(engine, config, as_of=as_of, projects=None, write=False)
        except Exception as exc:  # the report still goes out, saying checks did not run
            log.exception("checks failed while building the report")
            notes.append(msg("note.unavailable", what="checks", why=str(exc)))
            check = None
    ft = m.Finding.__table__
    findings = _read_table(engine, ft)
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
    if findings.empty and check is not None and (check.outcomes["outcome"] == "finding").any():
        # The lifecycle (new/persisting/resolved) lives in the findings table, which only
        # `pmohub check` / nightly write; a read-only report must not pretend all is well.
        notes.append(msg("note.no_findings_recorded"))
    snaps = pd.DataFrame()
    try:
        st = m.Snapshot.__table__
        lookback = as_of - dt.timedelta(days=100)
        snaps = _read_table(engine, st, (st.c.taken_on >= lookback) & (st.c.taken_on <= as_of))
        snaps = snaps[snaps["project_key"].isin(projects)] if len(snaps) else snaps
    except Exception as exc:  # pragma: no cover - table always exists after migration
        notes.append(msg("note.unavailable", what="snapshots", why=str(exc)))
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
    return ctx


# --------------------------------------------------------------------------- metrics


def compliance_score(outcomes: pd.DataFrame | None, projects: list[str] | None) -> float | None:
    """RULES.md 2.2: 100 * (1 - sum_fail sw / sum_evaluated sw); waived checks excluded."""
    if outcomes is None or outcomes.empty:
        return None
    o = outcomes
    if projects is not None:
        o = o[o["project_key"].isin(projects) | o["project_key"].isna()]
    waived = o["waived"].astype(bool) if "waived" in o.columns else False
    evaluated = o[o["outcome"].isin(["finding", "pass"]) & ~waived]
    if evaluated.empty:
        return None
    from pmohub.rules.metrics import outcome_weights

    w = outcome_weights(evaluated)  # the rule's severity, for passes and failures alike
    fail = (evaluated["outcome"] == "finding").to_numpy()
    total = float(w.sum())
    return round(100.0 * (1.0 - float(w[fail].sum()) / total), 1) if total else None


def scope_compliance(ctx: ReportContext, projects: list[str] | None = None) -> float | None:
    """Compliance of a set of projects: from the roll-up's per-project weights when present
    (sums, never an average of scores), else from the rule outcomes."""
    keys = ctx.projects if projects is None else projects
    rows = [ctx.status.get(k, {}) for k in keys]
    if any(r.get("compliance_eval_w") is not None for r in rows):
        ev = sum(float(r.get("compliance_eval_w") or 0.0) for r in rows)
        fail = sum(float(r.get("compliance_fail_w") or 0.0) for r in rows)
        return round(100.0 * (1.0 - fail / ev), 1) if ev else None
    return compliance_score(ctx.check.outcomes if ctx.check else None, keys)


def _status_fallback(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Counts straight from the store (used when the roll-up feature is absent)."""
    items = ctx.items()
    out: dict[str, dict[str, Any]] = {}
    outcomes = ctx.check.outcomes if ctx.check is not None else None
    for _, p in ctx.hier.iterrows():
        key = p["project_key"]
        s = items[(items["project_key"] == key)]
        if "is_leaf" in s.columns:
            s = s[s["is_leaf"].astype(bool)]
        s = s[s["status_category"] != "cancelled"]
        done = int((s["status_category"] == "done").sum())
        total = int(len(s))
        out[key] = {
            "rag": "ne",
            "reasons": [],
            "progress_count": done / total if total else None,
            "progress_estimate": None,
            "items_total": total,
            "items_done": done,
            "spi_t": None,
            "cpi": None,
            "compliance": compliance_score(outcomes, [key]),
        }
    return out


ROLLUP_RAG = {"G": "green", "A": "amber", "R": "red", "NE": "ne"}


def outcomes_for_rollup(outcomes: pd.DataFrame | None) -> pd.DataFrame | None:
    """Check outcomes as the roll-up wants them: passes (which carry no severity of their
    own) weigh as their rule's default severity (RULES.md 2.2 sw = 3/2/1)."""
    if outcomes is None or "waived" not in outcomes.columns:
        return None
    from pmohub.rules.engine import load_rules

    rule_sev = {k: r.meta.severity for k, r in load_rules().items()}
    return outcomes.assign(
        severity=outcomes["severity"].where(
            outcomes["severity"].notna(), outcomes["rule_id"].map(rule_sev)
        )
    )


def _rollup_status(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Per node metrics from ``aggregator.status.rollup.project_status`` (explained RAG, SPI(t),
    CPI, progress by estimate, compliance) when that feature is installed; the store counts
    otherwise. Keys: project, programme and portfolio keys of the hierarchy."""
    fn = _optional("pmohub.aggregator.status.rollup", "project_status")
    base = _status_fallback(ctx)
    if fn is None:
        ctx.note(
            "note.unavailable",
            what="RAG / SPI(t) / CPI",
            why=msg("note.module_missing", module="pmohub.aggregator.status.rollup"),
        )
        return base
    try:
        outcomes = ctx.check.outcomes if ctx.check is not None else None
        outcomes = outcomes_for_rollup(outcomes)
        res = fn(ctx.engine, ctx.config, ctx.as_of, outcomes=outcomes)
    except Exception as exc:
        log.exception("roll-up failed")
        ctx.note("note.unavailable", what="RAG / SPI(t) / CPI", why=str(exc))
        return base
    for w in getattr(res, "warnings", []) or []:
        ctx.note("note.check_warning", text=w)

    def take(row: dict[str, Any], key: str, progress_estimate: str) -> None:
        entry = base.setdefault(key, {})
        entry["rag"] = ROLLUP_RAG.get(str(row.get("rag")), "ne")
        entry["reasons"] = list(row.get("rag_reasons") or [])
        for k in (
            "items_total",
            "items_done",
            "progress_count",
            "spi_t",
            "cpi",
            "compliance",
            "estimate_coverage",
            "baseline_end",
        ):
            v = row.get(k)
            if v is not None and not (isinstance(v, float) and np.isnan(v)):
                entry[k] = v
        pe = row.get(progress_estimate)
        entry["progress_estimate"] = None if pe is None or pe != pe else pe
        if str(row.get("evm_unit")) == "h" and row.get("eac") == row.get("eac"):
            entry["eac_h"] = row.get("eac")
        if k_spi := row.get("spi"):
            entry.setdefault("spi_t", None)
            entry["spi"] = k_spi
        entry["compliance_fail_w"] = row.get("compliance_fail_w")
        entry["compliance_eval_w"] = row.get("compliance_eval_w")

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


def aggregate_rag(rows: list[dict[str, Any]], weights: list[float], critical: list[bool]) -> str:
    """RULES.md 2.2 RAG score: sum w*s / sum w (G=0, A=1, R=2): < 0.5 green, >= 1.2 red;
    a red critical project makes the parent red. N/E children are left out."""
    pairs = [
        (RAG_SCORE[r["rag"]], w, c)
        for r, w, c in zip(rows, weights, critical, strict=True)
        if r.get("rag") in RAG_SCORE
    ]
    if not pairs:
        return "ne"
    if any(s == 2 and c for s, _, c in pairs):
        return "red"
    total_w = sum(w for _, w, _ in pairs) or 1.0
    score = sum(s * w for s, w, _ in pairs) / total_w
    return "green" if score < 0.5 else ("red" if score >= 1.2 else "amber")


# --------------------------------------------------------------------------- sections


def _pct(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 4)


def _num(v: Any, nd: int = 2) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else round(f, nd)


def _date(v: Any) -> dt.date | None:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.date()
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return None


def _dt(v: Any) -> dt.datetime | None:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v
    return None


def _str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    return str(v)


def section_dashboard(ctx: ReportContext) -> Section:
    sec = Section("dashboard", 2, _title("sec.dashboard"))
    status = ctx.status
    prev = _previous_rag(ctx)
    rows: list[dict[str, Any]] = []
    hier = ctx.hier
    for pf_key in list(dict.fromkeys(hier["portfolio"].dropna())) or [None]:
        pf_rows = hier[hier["portfolio"] == pf_key] if pf_key is not None else hier
        child_rows = []
        for pg_key in list(dict.fromkeys(pf_rows["programme"].fillna(""))):
            pg = pf_rows[pf_rows["programme"].fillna("") == pg_key]
            proj_rows = []
            for _, p in pg.iterrows():
                s = status.get(p["project_key"], {})
                proj_rows.append(
                    {
                        "level": "project",
                        "key": p["project_key"],
                        "name": _str(p.get("name")),
                        "portfolio": _str(pf_key),
                        "programme": pg_key or None,
                        "rag": s.get("rag", "ne"),
                        "rag_prev": prev.get(p["project_key"]),
                        "reasons": "; ".join(map(str, s.get("reasons") or [])) or None,
                        "progress_count": _pct(s.get("progress_count")),
                        "progress_estimate": _pct(s.get("progress_estimate")),
                        "spi_t": _num(s.get("spi_t")),
                        "cpi": _num(s.get("cpi")),
                        "compliance": _num(s.get("compliance"), 1),
                        "_w": float(p.get("weight") or 1.0) if "weight" in p else 1.0,
                        "_c": bool(p.get("critical")) if "critical" in p else False,
                    }
                )
            if pg_key:
                pgs = status.get(pg_key, {})
                child_rows.append(
                    {
                        "level": "programme",
                        "key": pg_key,
                        "name": _node_name(ctx.config, pg_key),
                        "portfolio": _str(pf_key),
                        "programme": pg_key,
                        "rag": pgs.get("rag")
                        or aggregate_rag(
                            proj_rows, [r["_w"] for r in proj_rows], [r["_c"] for r in proj_rows]
                        ),
                        "rag_prev": None,
                        "reasons": "; ".join(map(str, pgs.get("reasons") or [])) or None,
                        "progress_count": _sum_ratio(proj_rows, status),
                        "progress_estimate": _pct(pgs.get("progress_estimate")),
                        "spi_t": _num(pgs.get("spi_t")),
                        "cpi": _num(pgs.get("cpi")),
                        "compliance": scope_compliance(ctx, [r["key"] for r in proj_rows]),
                        "_w": sum(r["_w"] for r in proj_rows),
                        "_c": any(r["_c"] and r["rag"] == "red" for r in proj_rows),
                    }
                )
            child_rows.extend(proj_rows)
        if pf_key is not None:
            leaves = [r for r in child_rows if r["level"] == "project"]
            pfs = status.get(pf_key, {})
            rows.append(
                {
                    "level": "portfolio",
                    "key": pf_key,
                    "name": _node_name(ctx.config, pf_key),
                    "portfolio": pf_key,
                    "programme": None,
                    "rag": pfs.get("rag")
                    or aggregate_rag(leaves, [r["_w"] for r in leaves], [r["_c"] for r in leaves]),
                    "rag_prev": None,
                    "reasons": "; ".join(map(str, pfs.get("reasons") or [])) or None,
                    "progress_count": _sum_ratio(leaves, status),
                    "progress_estimate": _pct(pfs.get("progress_estimate")),
                    "spi_t": _num(pfs.get("spi_t")),
                    "cpi": _num(pfs.get("cpi")),
                    "compliance": scope_compliance(ctx, [r["key"] for r in leaves]),
                }
            )
        rows.extend(child_rows)
    for r in rows:
        r.pop("_w", None)
        r.pop("_c", None)
    sec.tables.append(
        Table(
            "status",
            "tbl.status",
            [
                Column("level", "col.level", "level"),
                Column("key", "col.key"),
                Column("name", "col.name"),
                Column("rag", "col.rag", "rag"),
                Column("rag_prev", "col.rag_prev", "rag"),
                Column("reasons", "col.reasons"),
                Column("progress_count", "col.progress_count", "percent"),
                Column("progress_estimate", "col.progress_estimate", "percent"),
                Column("spi_t", "col.spi_t", "float"),
                Column("cpi", "col.cpi", "float"),
                Column("compliance", "col.compliance", "float"),
                Column("portfolio", "col.portfolio"),
                Column("programme", "col.programme"),
            ],
            rows,
        )
    )
    sec.charts.append(Chart("rag_trend", "chart.rag_trend", _rag_trend(ctx)))
    return sec


def _sum_ratio(
    project_rows: list[dict[str, Any]], status: dict[str, dict[str, Any]]
) -> float | None:
    done = sum(status.get(r["key"], {}).get("items_done") or 0 for r in project_rows)
    total = sum(status.get(r["key"], {}).get("items_total") or 0 for r in project_rows)
    return round(done / total, 4) if total else None


def _node_name(config: Any, key: str) -> str | None:
    for pf in getattr(config, "hierarchy", ()) or ():
        if pf.key == key:
            return pf.name
        for g in pf.programmes:
            if g.key == key:
                return g.name
    return None


def rag_code(value: Any) -> str:
    """green/amber/red/ne from any spelling the store holds (roll-up G/A/R/NE, words)."""
    v = str(value or "").strip().lower()
    return {"g": "green", "a": "amber", "r": "red"}.get(v, v if v in RAGS else "ne")


def _previous_rag(ctx: ReportContext) -> dict[str, str]:
    s = ctx.snapshots
    if s is None or s.empty:
        return {}
    target = ctx.as_of - dt.timedelta(days=7)
    old = s[s["taken_on"] <= target].sort_values("taken_on")
    if old.empty:
        return {}
    last = old.groupby("project_key").tail(1)
    return {k: rag_code(r) for k, r in zip(last["project_key"], last["rag"], strict=True)}


def _rag_trend(ctx: ReportContext) -> dict[str, Any]:
    s = ctx.snapshots
    if s is None or s.empty:
        return {"dates": [], "series": {}}
    s = s.assign(rag=s["rag"].map(rag_code))
    tab = s.pivot_table(index="taken_on", columns="rag", values="project_key", aggfunc="count")
    tab = tab.reindex(columns=list(RAGS), fill_value=0).fillna(0).sort_index()
    return {
        "dates": [d for d in tab.index],
        "series": {c: [int(v) for v in tab[c]] for c in RAGS},
    }


def section_schedule(ctx: ReportContext) -> Section:
    sec = Section("schedule", 3, _title("sec.schedule"))
    ms = ctx.frames.get("milestones")
    rows = []
    overdue = 0
    if ms is not None and len(ms):
        mm = ms[ms["project_key"].isin(ctx.projects)]
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
                    "due_on": _date(due),
                    "state": state,
                    "released": released,
                    "slip_wd": _slip(ctx, r),
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
                "spi_t": _num(s.get("spi_t")),
                "p50": _date(f.get("p50")),
                "p85": _date(f.get("p85")),
                "p95": _date(f.get("p95")),
                "baseline_end": _date(f.get("baseline_end") or s.get("baseline_end")),
                "p_on_time": _pct(f.get("p_on_time")),
                "confidence": None
                if not f
                else msg("conf.low" if bool(f.get("low_confidence")) else "conf.ok"),
            }
        )
    sec.tables.append(
        Table(
            "schedule",
            "tbl.schedule",
            [
                Column("project", "col.project"),
                Column("spi_t", "col.spi_t", "float"),
                Column("p50", "col.p50", "date"),
                Column("p85", "col.p85", "date"),
                Column("p95", "col.p95", "date"),
                Column("baseline_end", "col.baseline_end", "date"),
                Column("p_on_time", "col.p_on_time", "percent"),
                Column("confidence", "col.confidence"),
            ],
            perf,
        )
    )
    sec.charts.append(Chart("burnup", "chart.burnup", _burnup(ctx, forecast)))
    return sec


def _slip(ctx: ReportContext, milestone: Any) -> int | None:
    """Working days late so far (released: late at release), from the policy calendar."""
    try:
        from pmohub.aggregator.config.settings import config_calendar

        cal, _ = config_calendar(ctx.config)
    except Exception:
        return None
    due = _date(milestone.due_on)
    end = _date(milestone.released_on) if bool(milestone.released) else ctx.as_of
    if due is None or end is None or end <= due:
        return 0 if due is not None else None
    try:
        days = cal.working_days_between(due, end)  # type: ignore[attr-defined]
    except AttributeError:
        days = int(np.busday_count(due, end))
    return int(days)


def _forecasts(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    fn = _optional("pmohub.aggregator.status.forecast", "forecast_projects")
    if fn is None:
        ctx.note(
            "note.unavailable",
            what="Monte Carlo P50/P85/P95",
            why=msg("note.module_missing", module="pmohub.aggregator.status.forecast"),
        )
        return {}
    try:
        res = fn(ctx.engine, ctx.config, as_of=ctx.as_of, projects=ctx.projects)
    except Exception as exc:
        log.exception("forecast failed")
        ctx.note("note.unavailable", what="Monte Carlo P50/P85/P95", why=str(exc))
        return {}
    out: dict[str, dict[str, Any]] = {}
    for r in _iter_nodes(res):
        key = r.get("project_key") or r.get("key") or r.get("project")
        if key:
            out[key] = r
    return out


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
            vals = [_date(pd.Timestamp(f[q])) for f in dates if f.get(q)]
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


def section_cost(ctx: ReportContext) -> Section:
    sec = Section("cost", 4, _title("sec.cost"))
    items = ctx.items()
    wl = ctx.frames.get("worklogs")
    rows = []
    for key in ctx.projects:
        s = items[items["project_key"] == key]
        if "is_leaf" in s.columns:
            s = s[s["is_leaf"].astype(bool)]
        planned = (
            float(pd.to_numeric(s.get("original_estimate_h"), errors="coerce").sum())
            if "original_estimate_h" in s.columns
            else 0.0
        )
        remaining = (
            float(pd.to_numeric(s.get("remaining_estimate_h"), errors="coerce").sum())
            if "remaining_estimate_h" in s.columns
            else 0.0
        )
        if wl is not None and len(wl):
            actual = float(wl.loc[wl["project_key"] == key, "seconds"].sum()) / 3600.0
        elif "time_spent_h" in s.columns:
            actual = float(pd.to_numeric(s["time_spent_h"], errors="coerce").sum())
        else:
            actual = 0.0
        st = ctx.status.get(key, {})
        cpi = _num(st.get("cpi"))
        eac = (
            _num(st.get("eac_h"))
            if st.get("eac_h") is not None
            else (round(planned / cpi, 1) if cpi else None)
        )
        rows.append(
            {
                "project": key,
                "planned_h": round(planned, 1),
                "actual_h": round(actual, 1),
                "remaining_h": round(remaining, 1),
                "cpi": cpi,
                "eac_h": eac,
            }
        )
    sec.tables.append(
        Table(
            "effort",
            "tbl.effort",
            [
                Column("project", "col.project"),
                Column("planned_h", "col.planned_h", "hours"),
                Column("actual_h", "col.actual_h", "hours"),
                Column("remaining_h", "col.remaining_h", "hours"),
                Column("cpi", "col.cpi", "float"),
                Column("eac_h", "col.eac_h", "hours"),
            ],
            rows,
        )
    )
    return sec


def _kind_items(ctx: ReportContext, kind: str) -> pd.DataFrame:
    items = ctx.items()
    if "kind" not in items.columns:
        return items.iloc[0:0]
    return items[items["kind"] == kind]


def _findings_rows(ctx: ReportContext, prefixes: tuple[str, ...], *, open_only: bool = True):
    f = ctx.findings
    if f is None or f.empty:
        return []
    sel = f[f["rule_id"].str.startswith(prefixes)]
    if open_only:
        sel = sel[sel["state"].isin(["new", "persisting"])]
    return [
        {
            "rule": r.rule_id,
            "severity": r.severity,
            "state": r.state,
            "project": r.project_key,
            "subject": r.subject,
            "message": r.message,
            "first_seen": _dt(r.first_seen_at),
        }
        for r in sel.sort_values(["rule_id", "subject"]).itertuples(index=False)
    ]


FINDING_COLUMNS = [
    Column("rule", "col.rule"),
    Column("severity", "col.severity", "severity"),
    Column("state", "col.state", "state"),
    Column("project", "col.project"),
    Column("subject", "col.subject"),
    Column("message", "col.message"),
    Column("first_seen", "col.first_seen", "datetime"),
]


def _person_names(ctx: ReportContext) -> dict[int, str]:
    people = ctx.frames.get("people")
    if people is None or people.empty:
        return {}
    return {int(i): str(n) for i, n in zip(people["id"], people["display_name"], strict=True)}


def section_scope(ctx: ReportContext) -> Section:
    sec = Section("scope", 5, _title("sec.scope"))
    crs = _kind_items(ctx, "change_request")
    rows = []
    for r in crs.sort_values("key").itertuples(index=False):
        decision = getattr(r, "ccb_decision", None)
        rows.append(
            {
                "key": r.key,
                "title": _str(getattr(r, "title", None)),
                "project": r.project_key,
                "status": r.status,
                "ccb_decision": _str(decision),
                "created_at": _dt(getattr(r, "created_at", None)),
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
            "scope_findings", "tbl.scope_findings", FINDING_COLUMNS, _findings_rows(ctx, ("CHG-",))
        )
    )
    return sec


def _risk_score(r: Any) -> float | None:
    try:
        return float(r.risk_probability) * float(r.risk_impact)
    except (TypeError, ValueError, AttributeError):
        return None


def section_risks(ctx: ReportContext) -> Section:
    sec = Section("risks", 6, _title("sec.risks"))
    risks = _kind_items(ctx, "risk")
    risks = risks[~risks["status_category"].isin(["done", "cancelled"])]
    names = _person_names(ctx)
    rows = []
    for r in risks.itertuples(index=False):
        score = _risk_score(r)
        rows.append(
            {
                "key": r.key,
                "title": _str(getattr(r, "title", None)),
                "project": r.project_key,
                "probability": _num(getattr(r, "risk_probability", None), 0),
                "impact": _num(getattr(r, "risk_impact", None), 0),
                "score": _num(score, 0),
                "response": _str(getattr(r, "risk_response", None)),
                "owner": names.get(int(r.assignee_id))
                if _num(getattr(r, "assignee_id", None)) is not None
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
    coord = _findings_rows(ctx, ("RISK-003", "RISK-004", "RES-002", "VAR-005"))
    sec.tables.append(Table("coordination", "tbl.coordination", FINDING_COLUMNS, coord))
    return sec


def section_resources(ctx: ReportContext) -> Section:
    sec = Section("resources", 7, _title("sec.resources"))
    fn = _optional("pmohub.aggregator.status.load", "load_frame")
    heat: dict[str, Any] = {"people": [], "weeks": [], "load": []}
    rows: list[dict[str, Any]] = []
    if fn is None:
        ctx.note(
            "note.unavailable",
            what="resource load",
            why=msg("note.module_missing", module="pmohub.aggregator.status.load"),
        )
        sec.available = False
    else:
        try:
            frame = fn(ctx.engine, ctx.config, as_of=ctx.as_of, weeks=8)
            frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
            if len(frame):
                name_col = next(
                    c for c in ("person", "name", "display_name", "person_id") if c in frame.columns
                )
                week_col = next(c for c in ("week", "week_start", "iso_week") if c in frame.columns)
                for r in frame.itertuples(index=False):
                    rows.append(
                        {
                            "person": str(getattr(r, name_col)),
                            "week": str(getattr(r, week_col)),
                            "capacity_h": _num(getattr(r, "capacity_h", None), 1),
                            "demand_h": _num(getattr(r, "demand_h", None), 1),
                            "load": _pct(getattr(r, "load", None)),
                        }
                    )
                pv = frame.pivot_table(
                    index=name_col, columns=week_col, values="load", aggfunc="sum"
                )
                heat = {
                    "people": [str(i) for i in pv.index],
                    "weeks": [str(c) for c in pv.columns],
                    "load": [[_pct(v) for v in row] for row in pv.to_numpy()],
                }
        except Exception as exc:
            log.exception("load failed")
            ctx.note("note.unavailable", what="resource load", why=str(exc))
            sec.available = False
    sec.tables.append(
        Table(
            "load",
            "tbl.load",
            [
                Column("person", "col.person"),
                Column("week", "col.week"),
                Column("capacity_h", "col.capacity_h", "hours"),
                Column("demand_h", "col.demand_h", "hours"),
                Column("load", "col.load", "percent"),
            ],
            rows,
        )
    )
    sec.charts.append(Chart("load_heatmap", "chart.load_heatmap", heat))
    sec.tables.append(
        Table("conflicts", "tbl.conflicts", FINDING_COLUMNS, _findings_rows(ctx, ("RES-",)))
    )
    return sec


def section_quality(ctx: ReportContext) -> Section:
    sec = Section("quality", 8, _title("sec.quality"))
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
            _findings_rows(ctx, ("QUA-",)),
        )
    )
    return sec


def section_compliance(ctx: ReportContext) -> Section:
    from pmohub.rules.engine import load_rules

    sec = Section("compliance", 9, _title("sec.compliance"))
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
                sum(1 for t in res["resolved_at"] if _dt(t) and _dt(t) >= since)
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
                & f["resolved_at"].map(lambda t: bool(_dt(t) and _dt(t) >= since))
            )
        ]
        order = {"high": 0, "medium": 1, "low": 2}
        recent = recent.assign(_o=recent["severity"].map(order).fillna(3))
        for r in recent.sort_values(["_o", "rule_id", "subject"]).itertuples(index=False):
            rows.append(
                {
                    "rule": r.rule_id,
                    "severity": r.severity,
                    "state": r.state,
                    "project": r.project_key,
                    "subject": r.subject,
                    "message": r.message,
                    "first_seen": _dt(r.first_seen_at),
                    "resolved_at": _dt(r.resolved_at),
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
    sec.charts.append(Chart("compliance_trend", "chart.compliance_trend", _compliance_trend(ctx)))
    return sec


def _compliance_trend(ctx: ReportContext) -> dict[str, Any]:
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
        first = f["first_seen_at"].map(_dt)
        res = f["resolved_at"].map(_dt)
        n = sum(
            1
            for a, b, st in zip(first, res, f["state"], strict=True)
            if a is not None and a < at and (b is None or b >= at) and st != "waived"
        )
        open_counts.append(int(n))
    return {"dates": score_dates, "score": scores, "weeks": weeks, "open": open_counts}


def section_actions(ctx: ReportContext) -> Section:
    sec = Section("actions", 10, _title("sec.actions"))
    acts = _kind_items(ctx, "corrective_action")
    names = _person_names(ctx)
    rows = []
    today = pd.Timestamp(ctx.as_of)
    for r in acts.sort_values("key").itertuples(index=False):
        due = getattr(r, "due_on", None)
        open_ = r.status_category not in ("done", "cancelled")
        aid = _num(getattr(r, "assignee_id", None))
        rows.append(
            {
                "key": r.key,
                "title": _str(getattr(r, "title", None)),
                "project": r.project_key,
                "owner": names.get(int(aid)) if aid is not None else None,
                "due_on": _date(due),
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


def section_closure(ctx: ReportContext) -> Section:
    sec = Section("closure", 11, _title("sec.closure"))
    reg = ctx.frames.get("registry")
    rows = []
    if reg is not None and len(reg):
        closing = reg[
            reg["project_key"].isin(ctx.projects) & reg["phase"].isin(["closing", "closed"])
        ]
        for r in closing.itertuples(index=False):
            rows.append({"project": r.project_key, "name": _str(r.name), "phase": r.phase})
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
    lessons = _kind_items(ctx, "lessons_learned")
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
                    "title": _str(getattr(r, "title", None)),
                    "project": r.project_key,
                    "created_at": _dt(getattr(r, "created_at", None)),
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
            _findings_rows(ctx, ("CLO-",)),
        )
    )
    return sec


def section_data_quality(ctx: ReportContext, report_notes: list[Any]) -> Section:
    sec = Section("data_quality", 12, _title("sec.data_quality"))
    ne_rows = []
    if ctx.check is not None and len(ctx.check.outcomes):
        o = ctx.check.outcomes
        o = o[
            (o["outcome"] == "ne") & (o["project_key"].isin(ctx.projects) | o["project_key"].isna())
        ]
        for (rid, reason), g in o.groupby(["rule_id", "reason"], dropna=False):
            ne_rows.append({"rule": rid, "reason": _str(reason), "subjects": int(len(g))})
        for e in ctx.check.errors:
            report_notes.append(
                msg("note.rule_error", rule=e.split(":", 1)[0], error=e.split(":", 1)[-1].strip())
            )
        for w in ctx.check.warnings:
            report_notes.append(msg("note.check_warning", text=w))
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
    unmapped = _findings_rows(ctx, ("DATA-001",))
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
            report_notes.append(msg("note.estimate_low", project=key, coverage=f"{cov:.0%}"))
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
    return sec


def section_summary(ctx: ReportContext, report: Report) -> Section:
    sec = Section("summary", 1, _title("sec.summary"))
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
            & f["first_seen_at"].map(lambda t: bool(_dt(t) and _dt(t) >= since))
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


def section_trends(ctx: ReportContext) -> Section:
    """Monthly only: 13 weeks of weekly figures (throughput and scope from the items,
    open findings from the findings history, RAG counts and compliance from snapshots)."""
    sec = Section("trends", 13, _title("sec.trends"))
    items = ctx.items()
    if "is_leaf" in items.columns:
        items = items[items["is_leaf"].astype(bool)]
    trend = _compliance_trend(ctx)
    s = ctx.snapshots
    rows = []
    for i, day in enumerate(trend["weeks"]):
        start = day - dt.timedelta(days=6)
        done_n = 0
        if "resolved_at" in items.columns:
            rd = (
                pd.to_datetime(
                    items.loc[items["status_category"] == "done", "resolved_at"], utc=True
                )
                .dt.tz_convert(ctx.tz)
                .dt.date
            )
            done_n = int(sum(1 for d in rd if d == d and d is not None and start <= d <= day))
        row: dict[str, Any] = {"week": day, "throughput": done_n, "open_findings": trend["open"][i]}
        for rag in ("green", "amber", "red"):
            row[rag] = None
        row["compliance"] = None
        if s is not None and len(s):
            snap = s[(s["taken_on"] >= start) & (s["taken_on"] <= day)]
            if len(snap):
                last = snap.sort_values("taken_on").groupby("project_key").tail(1)
                for rag in ("green", "amber", "red"):
                    row[rag] = int((last["rag"].map(rag_code) == rag).sum())
                if "compliance" in last.columns and last["compliance"].notna().any():
                    row["compliance"] = round(float(last["compliance"].mean()), 1)
        rows.append(row)
    if s is None or s.empty:
        ctx.note("note.unavailable", what="RAG / compliance trend", why=msg("note.no_snapshots"))
    sec.tables.append(
        Table(
            "trend_weeks",
            "tbl.trend_weeks",
            [
                Column("week", "col.week", "date"),
                Column("throughput", "col.throughput", "int"),
                Column("open_findings", "col.open_findings", "int"),
                Column("green", "rag.green", "int"),
                Column("amber", "rag.amber", "int"),
                Column("red", "rag.red", "int"),
                Column("compliance", "col.compliance", "float"),
            ],
            rows,
        )
    )
    return sec


# --------------------------------------------------------------------------- entry point


def _data_label(config: Any) -> str | None:
    from pmohub.aggregator.config.sections import report_settings

    return report_settings(config).data_label


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
    import importlib.metadata

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
    ctx.status = _rollup_status(ctx)
    if ctx.snapshots is None or ctx.snapshots.empty:
        ctx.note("note.unavailable", what="RAG trend", why=msg("note.no_snapshots"))
    sections: list[Section] = []
    report = Report(
        kind=kind,
        as_of=as_of,
        generated_at=now or dt.datetime.now(dt.UTC),
        portfolio=portfolio,
        portfolio_name=_node_name(config, portfolio) if portfolio else None,
        title=_title(f"title.{kind}"),
        overall_rag="ne",
        trace={},
        sections=sections,
        data_label=_data_label(config),
    )
    builders: list[Callable[[ReportContext], Section]] = [
        section_dashboard,
        section_schedule,
        section_cost,
        section_scope,
        section_risks,
        section_resources,
        section_quality,
        section_compliance,
        section_actions,
        section_closure,
    ]
    for build in builders:
        try:
            sections.append(build(ctx))
        except Exception as exc:  # one broken section never sinks the report
            log.exception("report section %s failed", build.__name__)
            sid = build.__name__.removeprefix("section_")
            number = SECTION_KEYS.index(sid) + 1
            sections.append(Section(sid, number, _title(f"sec.{sid}"), available=False))
            ctx.note("note.unavailable", what=sid, why=str(exc))
    dash = report.section("dashboard").tables[0].rows if sections else []
    top = [r for r in dash if r["level"] == "portfolio"]
    if portfolio is not None and top:
        report.overall_rag = top[0]["rag"]
    elif top:
        report.overall_rag = aggregate_rag(top, [1.0] * len(top), [False] * len(top))
    else:
        leaves = [r for r in dash if r["level"] == "project"]
        report.overall_rag = aggregate_rag(leaves, [1.0] * len(leaves), [False] * len(leaves))
    sections.insert(0, section_summary(ctx, report))
    if monthly:
        sections.append(section_trends(ctx))
    dq_notes: list[Any] = []
    dq = section_data_quality(ctx, dq_notes)
    report.notes = _dedupe([*ctx.notes, *dq_notes])
    dq.messages = list(report.notes)
    sections.insert(SECTION_KEYS.index("data_quality"), dq)
    sections.sort(key=lambda s: s.number)

    try:
        version = importlib.metadata.version("pmohub")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        version = "dev"
    from pmohub.rules.engine import load_rules

    rules = load_rules()
    ran = sorted({r.rule.id for r in ctx.check.runs}) if ctx.check is not None else []
    snaps = ctx.snapshots
    report.trace = {
        "as_of": as_of,
        "generated_at": report.generated_at,
        "timezone": getattr(config, "timezone", None),
        "config": str(getattr(config, "path", "") or ""),
        "database": getattr(config, "database_display", None),
        "pmohub_version": version,
        "job_run_id": job_run_id,
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
    trace_rows = [
        {"what": msg("trace.as_of"), "detail": as_of.isoformat()},
        {"what": msg("trace.generated_at"), "detail": to_jsonable(report.generated_at)},
        {"what": msg("trace.config"), "detail": report.trace["config"]},
        {"what": msg("trace.database"), "detail": report.trace["database"]},
        {"what": msg("trace.version"), "detail": version},
        {"what": msg("trace.check_as_of"), "detail": to_jsonable(report.trace["check_as_of"])},
        {
            "what": msg("trace.rules"),
            "detail": ", ".join(f"{r['id']}@{r['version']}" for r in report.trace["rules"]),
        },
        {
            "what": msg("trace.snapshots"),
            "detail": f"{report.trace['snapshots']['count']} "
            f"({to_jsonable(report.trace['snapshots']['first'])} .. "
            f"{to_jsonable(report.trace['snapshots']['last'])})",
        },
    ]
    if job_run_id:
        trace_rows.append({"what": msg("trace.job_run"), "detail": job_run_id})
    dq.tables.append(
        Table(
            "trace",
            "tbl.trace",
            [Column("what", "col.what"), Column("detail", "col.detail")],
            trace_rows,
        )
    )
    return report


def _dedupe(items: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for it in items:
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
