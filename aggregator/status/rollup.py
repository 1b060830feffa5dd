"""Status roll-up: project -> programme -> portfolio (RULES.md 2.1, 2.2, 2.4).

Two readers fill the same :class:`Inputs` (small per-project aggregates, never the whole
item table in Python):

* :func:`read_inputs_sql` pushes the heavy work into the database (``GROUP BY`` over the
  work items, the latest baseline, worklogs; one pass over the items that finished in the
  last 90 days or are in progress for flow). It answers "now".
* :func:`read_inputs_history` reconstructs the store *as of a past date* from the status
  history (status at t = ``to_value`` of the last change before t, else ``from_value`` of
  the first change after t, else the current status; items created after t are left out),
  item by item but vectorised. It also serves as the reference the SQL reader is tested
  against.

:func:`compute_status` turns inputs into per-project metrics with an explained RAG and
rolls them up. Ratios are always ratios of sums; story points are converted to hours per
project (``hpp`` = 90-day median of logged hours per point, else the policy default) before
anything is added across projects.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    Engine,
    Integer,
    Text,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)

from pmohub.aggregator.config.settings import (
    config_calendar,
    config_policy,
    hierarchy_frame,
    project_calendars,
)
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.reads import (
    day_number,
    epoch_seconds,
    from_day_number,
    from_epoch,
    project_ids,
    query_frame,
    spelled_in,
)
from pmohub.rules.calendar import WorkCalendar, local_dates, uncovered_warnings
from pmohub.rules.clock import DEFAULT_TZ
from pmohub.rules.frames import (
    kind_map,
    lookup,
    map_categories,
    report_sections,
    status_categories,
)
from pmohub.rules.metrics import (
    RAG_SCORE,
    SEVERITY_WEIGHT,
    calendar_codes,
    compliance_score,
    earned_value,
    group_quantiles,
    hours_per_point,
    outcome_weights,
    rag_from_score,
    rag_overall,
    safe_ratio,
)

log = logging.getLogger("pmohub.rollup")

LEAF_KINDS = ("work", "bug")
FLOW_DAYS = 90
#: Reads that select only numbers/text (no JSON, dates or datetimes) fetch plain tuples.
RAW_JOBS = frozenset({"groups", "subtasks", "baseline", "ac", "flow", "meta"})
READ_THREADS = {"postgresql": 4, "sqlite": 2}
MIN_HPP_SAMPLES = 3
#: Metrics that do not change within a day (90-day flow windows of whole days, the hours
#: per point median, closed sprints): the status reads them from today's nightly snapshot
#: when it has all of them for every project, and computes them otherwise.
SNAPSHOT_FLOW = (
    "throughput_90d", "cycle_p50_wd", "cycle_p85_wd", "lead_p50_wd", "lead_p85_wd", "wip",
    "wip_age_p85_wd", "wip_age_max_wd", "reopen_rate", "hpp", "sprints_closed", "velocity",
    "say_do", "cycle_wd_values",
)  # fmt: skip
#: Velocity: mean done points of the last 3-6 closed sprints (RULES.md 2.1).
VELOCITY_SPRINTS = (3, 6)
it_t = m.Iteration.__table__
DEFAULT_HPP = 6.0
HIGH_RISK_SCORE = 15
DIMENSIONS = ("schedule", "cost", "scope", "risk", "quality", "resource")
OPEN_FINDING_STATES = ("new", "persisting")

wi_t = m.WorkItem.__table__
sc_t = m.StatusChange.__table__
wl_t = m.Worklog.__table__
bl_t = m.Baseline.__table__
pr_t = m.Project.__table__
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
    flow: pd.DataFrame  # pk, done_at, first_ip_at, created_at, story_points, time_spent_h, reopened
    wip: pd.DataFrame  # pk, first_ip_at
    risks: pd.DataFrame  # pk, key, title, probability, impact, response
    milestones: pd.DataFrame  # pk, name, due_on, released, released_on, baseline_due
    findings: pd.DataFrame  # pk, rule_id, severity, state
    forecasts: pd.DataFrame  # pk -> p85 (date), forecast_on
    sprints: pd.DataFrame = field(default_factory=lambda: _empty_sprints())  # see sprint_frame
    reports: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REPORT_COLUMNS))
    #: Historical metrics (90-day flow, hpp, closed sprints) from today's nightly snapshot,
    #: per project (index pk, :data:`SNAPSHOT_FLOW` columns); None = computed here.
    flow_snapshot: pd.DataFrame | None = None
    flow_as_of: dt.datetime | None = None  # when that snapshot was taken (UTC)


@dataclass
class StatusReport:
    as_of: dt.date
    projects: pd.DataFrame
    programmes: pd.DataFrame
    portfolios: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: When a stored result (``aggregator.status.cache``) was computed; None = just now.
    computed_at: dt.datetime | None = None

    def level(self, name: str) -> pd.DataFrame:
        return {"project": self.projects, "programme": self.programmes}.get(name, self.portfolios)


# -- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    calendar: WorkCalendar
    timezone: str
    hpp: float
    kinds: Mapping[str, str]
    status_map: Mapping[str, str]
    #: Project key -> its calendar where that is not ``calendar``: the project's own, else
    #: its portfolio's (RULES.md 2.4, as the rules use them).
    project_calendars: Mapping[str, WorkCalendar] = field(default_factory=dict)

    def calendar_for(self, project_key: str) -> WorkCalendar:
        return self.project_calendars.get(project_key, self.calendar)

    def by_calendar(self, idx: pd.Index) -> list[tuple[Settings, pd.Index]]:
        """``idx`` split by calendar, each part with settings on its calendar: the
        working-day metrics (SPI(t), cycle and lead times, slippage, forecasts) of a
        portfolio on another calendar count its own working days."""
        if not len(idx):
            return [(self, idx)]
        codes, cals = calendar_codes(idx, self.project_calendars, self.calendar)
        return [
            (self if c == 0 else replace(self, calendar=cal), idx[codes == c])
            for c, cal in enumerate(cals)
            if (codes == c).any()
        ]

    def types_of(self, *kinds: str) -> list[str]:
        return sorted(t for t, k in self.kinds.items() if k in kinds)

    @property
    def non_leaf_types(self) -> list[str]:
        return sorted(t for t, k in self.kinds.items() if k not in LEAF_KINDS)

    def day_end(self, day: dt.date) -> dt.datetime:
        """The instant a local day ends (the nightly cut-off after it), in UTC."""
        local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0))
        return local.replace(tzinfo=ZoneInfo(self.timezone)).astimezone(dt.UTC)


def settings_for(config: Any) -> Settings:
    calendar, _ = config_calendar(config)
    sources = getattr(config, "sources", {}) or {}
    kinds = kind_map({n: dict(getattr(s, "issue_types", {}) or {}) for n, s in sources.items()})
    smap: dict[str, str] = {}
    for s in sources.values():
        smap.update(dict(getattr(s, "status_map", {}) or {}))
    defaults = getattr(config, "defaults", {}) or {}
    return Settings(
        calendar=calendar,
        timezone=getattr(config, "timezone", None) or DEFAULT_TZ,
        hpp=float(defaults.get("hpp", DEFAULT_HPP) or DEFAULT_HPP),
        kinds=kinds,
        status_map=smap,
        project_calendars=project_calendars(config),
    )


def hierarchy(engine: Engine, config: Any) -> pd.DataFrame:
    """The config hierarchy, or (none configured) every tracker project as its own project."""
    hier = hierarchy_frame(config)
    if len(hier):
        return hier
    with engine.connect() as conn:
        rows = conn.execute(
            select(pr_t.c.source, pr_t.c.key, pr_t.c.name).where(pr_t.c.deleted_at.is_(None))
        ).fetchall()
    projects = pd.DataFrame(rows, columns=["source", "key", "name"]).drop_duplicates("key")
    return pd.DataFrame(
        {
            "project_key": projects["key"],
            "name": projects["name"],
            "portfolio": None,
            "programme": None,
            "source": projects["source"],
            "tracker_keys": [[k] for k in projects["key"]],
        }
    ).reindex(columns=hier.columns)










# -- readers: shared small tables ------------------------------------------------------------


def _read_milestones(
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
    rel = pd.to_datetime(ms["released_on"])
    late_release = rel.notna() & (rel.dt.date > (as_of_end - dt.timedelta(seconds=1)).date())
    ms.loc[late_release, "released"] = False
    ms.loc[late_release, "released_on"] = None
    return ms.dropna(subset=["pk"])[
        ["pk", "name", "due_on", "released", "released_on", "baseline_due"]
    ].reset_index(drop=True)


def _read_findings(engine: Engine, pid: pd.Series) -> pd.DataFrame:
    f = query_frame(
        engine,
        select(
            fd_t.c.rule_id,
            fd_t.c.severity,
            fd_t.c.state,
            fd_t.c.subject,
            fd_t.c.project_id,
            fd_t.c.evidence,
        ).where(fd_t.c.state != "resolved"),
        ["rule_id", "severity", "state", "subject", "project_id", "evidence"],
    )
    from_subject = f["subject"].str.extract(r"^project:(.+)$")[0]
    from_evidence = f["evidence"].map(
        lambda e: e.get("project_key") if isinstance(e, dict) else None
    )
    f["pk"] = from_subject.fillna(from_evidence).fillna(f["project_id"].map(pid))
    return f.dropna(subset=["pk"])[["pk", "rule_id", "severity", "state"]]


def _read_forecasts(engine: Engine, as_of: dt.date) -> pd.DataFrame:
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


def _risk_frame(rows: pd.DataFrame) -> pd.DataFrame:
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


# -- PM RAG override -------------------------------------------------------------------------

REPORT_COLUMNS = ["pk", "key", "created_at", "rag", "reason", "expires_on"]
#: A PM's colour as trackers and reports write it -> G/A/R.
PM_RAG = {
    "green": "G", "g": "G", "绿": "G", "绿色": "G",
    "amber": "A", "a": "A", "yellow": "A", "黄": "A", "黄色": "A",
    "red": "R", "r": "R", "红": "R", "红色": "R",
}  # fmt: skip


def _report_frame(rows: pd.DataFrame) -> pd.DataFrame:
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
    r["expires_on"] = pd.to_datetime(col("rag_expires_on"), errors="coerce").dt.date
    return r.dropna(subset=["rag"])[REPORT_COLUMNS].reset_index(drop=True)


def _pm_override(p: pd.DataFrame, inp: Inputs, config: Any, as_of: dt.date) -> pd.DataFrame:
    """The PM's colour beside the computed one (never replacing it in the roll-up): the
    policy file's ``rag_override`` first, else the newest status report's ``rag``. It is
    ``active`` only with a reason and an expiry on or after ``as_of``; otherwise ``expired``
    or ``incomplete`` (shown, not honoured)."""
    out = pd.DataFrame(
        index=p.index,
        columns=["rag_pm", "rag_pm_reason", "rag_pm_expires_on", "rag_pm_source", "rag_pm_state"],
        dtype=object,
    )
    rep = inp.reports.drop_duplicates("pk", keep="last").set_index("pk")
    for pk in rep.index.intersection(p.index):
        r = rep.loc[pk]
        out.loc[pk, ["rag_pm", "rag_pm_source"]] = [r["rag"], f"status report {r['key']}"]
        out.loc[pk, "rag_pm_reason"] = r["reason"] if isinstance(r["reason"], str) else None
        out.loc[pk, "rag_pm_expires_on"] = r["expires_on"] if pd.notna(r["expires_on"]) else None
    for node in config.projects() if hasattr(config, "projects") else ():
        ov = getattr(node, "rag_override", None)
        if ov and node.key in out.index:
            out.loc[node.key, "rag_pm"] = PM_RAG[ov["rag"]]
            out.loc[node.key, "rag_pm_reason"] = ov["reason"]
            out.loc[node.key, "rag_pm_expires_on"] = ov["expires_on"]
            out.loc[node.key, "rag_pm_source"] = "policy file"
    has = out["rag_pm"].notna()
    complete = has & out["rag_pm_reason"].notna() & out["rag_pm_expires_on"].notna()
    expired = complete & out["rag_pm_expires_on"].map(
        lambda d: isinstance(d, dt.date) and d < as_of
    )
    out["rag_pm_state"] = [
        None if not h else "incomplete" if not c else "expired" if e else "active"
        for h, c, e in zip(has, complete, expired, strict=True)
    ]
    return out


# -- sprints (velocity, say/do) ---------------------------------------------------------------

SPRINT_COLUMNS = ["pk", "sid", "end_at", "committed_pts", "done_pts", "committed_n", "done_n"]


def _empty_sprints() -> pd.DataFrame:
    return pd.DataFrame(columns=SPRINT_COLUMNS)


def _id_list(value: Any) -> list[str]:
    """iteration_ids as stored (JSON text on SQLite, a list on PostgreSQL) or a Sprint
    field history value (comma-separated ids) -> list of ids."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if not isinstance(value, str) or not value.strip():
        return []
    if value.lstrip().startswith("["):
        return [str(v) for v in json.loads(value)]
    return [v.strip() for v in value.split(",") if v.strip()]


def sprint_frame(
    members: pd.DataFrame, iterations: pd.DataFrame, moves: pd.DataFrame, t_end: dt.datetime
) -> pd.DataFrame:
    """Per project and sprint closed before ``t_end``: points committed at the sprint's
    start and points done by its end (RULES.md 2.1 velocity and say/do).

    ``members``: pk, id, iteration_ids, story_points, done (bool at t), done_at (UTC);
    ``iterations``: sid, state, start_at, end_at, complete_at (UTC);
    ``moves``: work_item_id, from_value, to_value, changed_at (the Sprint field history).
    Committed at the start = items in the sprint now that were not added after its start,
    plus items removed after its start (as CHG-002 reads the Sprint field); without any
    Sprint field history every current member counts as committed. Done = members done
    at t whose done time is not after the sprint closed. A sprint is attributed to its
    items' projects (a board sprint may span projects).
    """
    if members.empty or iterations.empty:
        return _empty_sprints()
    its = iterations.copy()
    its["closed_at"] = its["complete_at"].combine_first(its["end_at"])
    its = its[(its["state"].astype(str).str.lower() == "closed") & (its["closed_at"] < t_end)]
    its = its.dropna(subset=["closed_at"]).drop_duplicates("sid").set_index("sid")
    if its.empty:
        return _empty_sprints()
    # Parse each distinct iteration_ids value once (a sprint's items share it) and keep
    # only the closed sprints: a million-item store has few distinct values.
    raw = members["iteration_ids"].map(
        lambda v: v if isinstance(v, str) else json.dumps(list(v or []))
    )
    codes, uniq = pd.factorize(raw)
    closed = set(its.index)
    closed_of = [[x for x in _id_list(u) if x in closed] for u in uniq]
    sids = pd.Series([closed_of[c] if c >= 0 else [] for c in codes], index=members.index)
    mem = members.assign(sid=sids)
    mem = mem[sids.map(len) > 0].explode("sid")
    pairs = mem[["id", "sid"]]
    added = pd.DataFrame(columns=["id", "sid"])
    removed = pd.DataFrame(columns=["id", "sid"])
    if len(moves):
        mv = moves.assign(
            to_ids=[set(_id_list(v)) for v in moves["to_value"]],
            from_ids=[set(_id_list(v)) for v in moves["from_value"]],
        )
        rows_a, rows_r = [], []
        for wid, fr, to, at in zip(
            mv["work_item_id"], mv["from_ids"], mv["to_ids"], mv["changed_at"], strict=True
        ):
            for sid in to - fr:
                if sid in its.index and at > its.at[sid, "start_at"]:
                    rows_a.append((wid, sid))
            for sid in fr - to:
                if sid in its.index and at > its.at[sid, "start_at"]:
                    rows_r.append((wid, sid))
        added = pd.DataFrame(rows_a, columns=["id", "sid"]).drop_duplicates()
        removed = pd.DataFrame(rows_r, columns=["id", "sid"]).drop_duplicates()
    added_set = set(zip(added["id"], added["sid"], strict=True))
    # Added then removed again after the start: neither committed nor done in it.
    # Boolean arrays, not lists: an empty list would select no *columns*.
    removed = removed[
        np.array(
            [k not in added_set for k in zip(removed["id"], removed["sid"], strict=True)],
            dtype=bool,
        )
    ]
    stayed = np.array(
        [k not in added_set for k in zip(pairs["id"], pairs["sid"], strict=True)], dtype=bool
    )
    by_id = members.drop_duplicates("id").set_index("id")
    committed = pd.concat([pairs[stayed], removed], ignore_index=True).drop_duplicates()
    committed["pk"] = committed["id"].map(by_id["pk"])
    committed["pts"] = pd.to_numeric(committed["id"].map(by_id["story_points"]), errors="coerce")
    done = mem[mem["done"].astype(bool)].copy()
    done = done[done["done_at"].isna() | (done["done_at"] <= done["sid"].map(its["closed_at"]))]
    done["pts"] = pd.to_numeric(done["story_points"], errors="coerce")
    c = committed.groupby(["pk", "sid"])["pts"].agg(committed_pts="sum", committed_n="size")
    d = done.groupby(["pk", "sid"])["pts"].agg(done_pts="sum", done_n="size")
    out = c.join(d, how="outer").fillna(0.0).reset_index()
    out["end_at"] = out["sid"].map(its["closed_at"])
    return out[SPRINT_COLUMNS]


def _sprint_metrics(sprints: pd.DataFrame, idx: pd.Index) -> pd.DataFrame:
    """velocity = mean done points of the last 3-6 closed sprints (N/E under 3); say/do =
    Σdone ÷ Σcommitted points over the same sprints (a ratio of sums)."""
    lo, hi = VELOCITY_SPRINTS
    out = pd.DataFrame(index=idx)
    sp = sprints.sort_values(["pk", "end_at"]).groupby("pk").tail(hi)
    g = sp.groupby("pk")
    n = _per(idx, g.size(), 0).astype(int)
    out["sprints_closed"] = n
    enough = n >= lo
    out["velocity"] = _per(idx, g["done_pts"].mean(), None).where(enough)
    ratio = safe_ratio(
        _per(idx, g["done_pts"].sum(), 0.0), _per(idx, g["committed_pts"].sum(), 0.0)
    )
    out["say_do"] = pd.Series(ratio, index=idx).where(enough)
    return out


# -- reader 1: SQL (now) ---------------------------------------------------------------------










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
    # The stored (category, type, status) spellings, from the covering index: the type
    # tests below compare exact spellings and the flow reads the status names.
    spelled = query_frame(
        engine,
        select(wi_t.c.status_category, wi_t.c.type, wi_t.c.status).where(live).distinct(),
        ["status_category", "type", "status"],
    )
    types = sorted(set(spelled["type"].dropna().astype(str)))

    def type_in(column: Any, values: Iterable[str]) -> Any:
        return spelled_in(column, values, types)

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

    def flow_job() -> pd.DataFrame:
        """Flow rows: items done in the window or in progress, with their history."""
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
                func.max(
                    case(
                        (
                            and_(
                                is_status,
                                sc_t.c.from_value.in_(done_names),
                                sc_t.c.to_value.not_in(done_names),
                            ),
                            1,
                        ),
                        else_=0,
                    )
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

    snap, snap_at = _read_flow_snapshot(engine, hier, as_of) if use_snapshot else (None, None)
    if snap is None:
        jobs["flow"] = flow_job
        jobs["sprints"] = lambda: _read_sprints(engine, pid, t_end, s, types)
    r = _run_all(engine, jobs)
    if snap is not None:
        r["flow"] = pd.DataFrame(columns=FLOW_COLUMNS)
        r["sprints"] = _empty_sprints()

    g = r["groups"]
    g["pk"] = g["project_id"].map(pid)
    g["kind"] = _kinds(g["type"], s)
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
        risks=_risk_frame(risks.dropna(subset=["pk"])),
        milestones=_read_milestones(engine, pid, t_end, meta),
        findings=_read_findings(engine, pid),
        forecasts=_read_forecasts(engine, as_of),
        sprints=r["sprints"],
        reports=_report_frame(reports),
        flow_snapshot=snap,
        flow_as_of=snap_at,
    )


FLOW_COLUMNS = ["project_id", "status_category", "created_at", "resolved_at", "story_points",
                "time_spent_h", "first_ip_at", "done_at", "reopened"]  # fmt: skip


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


def _read_iterations(engine: Engine) -> pd.DataFrame:
    d = engine.dialect.name
    its = query_frame(
        engine,
        select(
            it_t.c.external_id,
            it_t.c.state,
            epoch_seconds(it_t.c.start_at, d),
            epoch_seconds(it_t.c.end_at, d),
            epoch_seconds(it_t.c.complete_at, d),
        ).where(it_t.c.deleted_at.is_(None)),
        ["sid", "state", "start_at", "end_at", "complete_at"],
        raw=True,
    )
    its["sid"] = its["sid"].astype(str)
    for c in ("start_at", "end_at", "complete_at"):
        its[c] = from_epoch(its[c])
    return its


def _read_sprint_moves(engine: Engine, t_end: dt.datetime) -> pd.DataFrame:
    mv = query_frame(
        engine,
        select(
            sc_t.c.work_item_id,
            sc_t.c.from_value,
            sc_t.c.to_value,
            epoch_seconds(sc_t.c.changed_at, engine.dialect.name),
        ).where(
            # A plain comparison first rejects the status changes (most rows) before SQLite
            # computes lower() in its scan (0.20 -> 0.08 s for 1.4M changes).
            sc_t.c.field != "status",
            func.lower(sc_t.c.field) == "sprint",
            sc_t.c.deleted_at.is_(None),
            sc_t.c.changed_at < t_end,
        ),
        ["work_item_id", "from_value", "to_value", "changed_at"],
        raw=True,
    )
    mv["changed_at"] = from_epoch(mv["changed_at"])
    return mv


def _read_sprints(
    engine: Engine, pid: pd.Series, t_end: dt.datetime, s: Settings, types: list[str]
) -> pd.DataFrame:
    """Sprint rows (:func:`sprint_frame`) for the SQL reader: nothing more is read when no
    sprint had closed by ``t_end``. ``types``: the stored type spellings."""
    its = _read_iterations(engine)
    closed_at = its["complete_at"].combine_first(its["end_at"])
    is_closed = (its["state"].astype(str).str.lower() == "closed") & (closed_at < t_end)
    if not is_closed.any():
        return _empty_sprints()
    # Items whose only sprint is still open cannot count for a closed one: skip them in
    # SQL (the stored JSON text of a one-element list; the current sprint's items).
    only_open = sorted(json.dumps([sid]) for sid in its.loc[~is_closed, "sid"])
    d = engine.dialect.name
    columns = [
        wi_t.c.id,
        wi_t.c.project_id,
        wi_t.c.iteration_ids,
        wi_t.c.story_points,
        wi_t.c.status_category,
        epoch_seconds(wi_t.c.resolved_at, d),
    ]
    names = ["id", "project_id", "iteration_ids", "story_points", "status_category", "done_at"]
    leaf = and_(
        wi_t.c.deleted_at.is_(None),
        wi_t.c.status_category != "cancelled",
        ~spelled_in(wi_t.c.type, s.non_leaf_types, types),
    )
    ids_text = cast(wi_t.c.iteration_ids, Text)
    members = query_frame(
        engine,
        # Cheapest test first (SQLite keeps the written order in a scan): most items are in
        # no sprint or the open one, and then lower(type) is never computed (0.62 -> 0.30 s).
        select(*columns[:2], ids_text, *columns[3:]).where(
            ids_text.not_in(["[]", "null", *only_open]), leaf
        ),
        names,
        raw=True,
    )
    moves = _read_sprint_moves(engine, t_end)
    # Items moved out of a sprint after its start (committed all the same) that are in no
    # sprint now: few, fetched by id.
    missing = sorted(set(moves["work_item_id"].dropna().astype(int)) - set(members["id"]))
    extra = [
        query_frame(engine, select(*columns).where(leaf, wi_t.c.id.in_(missing[k : k + 5000])), names)
        for k in range(0, len(missing), 5000)
    ]
    if extra:
        members = pd.concat([members, *extra], ignore_index=True)
    mem = members.assign(
        pk=members["project_id"].map(pid),
        done=members["status_category"] == "done",
        done_at=from_epoch(members["done_at"]),
    ).dropna(subset=["pk"])
    return sprint_frame(mem, its, moves, t_end)


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


def _kinds(types: pd.Series, s: Settings) -> pd.Series:
    return types.astype(str).str.lower().map(dict(s.kinds)).fillna("work").astype(object)


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


# -- reader 2: history (as of a past date) -----------------------------------------------------


def read_inputs_history(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    hier: pd.DataFrame,
    s: Settings,
    flow_days: int = FLOW_DAYS,
) -> Inputs:
    t_end = s.day_end(as_of)
    pid = project_ids(engine, hier)
    cols = [
        "id",
        "project_id",
        "key",
        "title",
        "type",
        "status",
        "status_category",
        "parent_id",
        "created_at",
        "updated_at",
        "resolved_at",
        "story_points",
        "original_estimate_h",
        "time_spent_h",
        "extra",
        "iteration_ids",
    ]
    items = query_frame(engine, select(*[wi_t.c[c] for c in cols]).where(wi_t.c.deleted_at.is_(None)), cols)
    items["pk"] = items["project_id"].map(pid)
    items["created_at"] = pd.to_datetime(items["created_at"], utc=True)
    items = items[items["created_at"].isna() | (items["created_at"] < t_end)].copy()
    items["kind"] = _kinds(items["type"], s)
    cats = status_categories(items, s.status_map)
    ch = query_frame(
        engine,
        select(sc_t.c.work_item_id, sc_t.c.from_value, sc_t.c.to_value, sc_t.c.changed_at).where(
            sc_t.c.field == "status", sc_t.c.deleted_at.is_(None)
        ),
        ["work_item_id", "from_value", "to_value", "changed_at"],
    )
    ch["changed_at"] = pd.to_datetime(ch["changed_at"], utc=True)
    ch = ch.sort_values(["work_item_id", "changed_at"], kind="stable")
    before = ch[ch["changed_at"] < t_end]
    after = ch[ch["changed_at"] >= t_end]
    last_before = before.groupby("work_item_id")["to_value"].last()
    first_after = after.groupby("work_item_id")["from_value"].first()
    status_t = items["id"].map(last_before).astype(object)
    status_t = status_t.fillna(items["id"].map(first_after).astype(object))
    changed = status_t.notna()
    current_status = items["status"].copy()
    items["status"] = status_t.where(changed, items["status"])
    mapped = map_categories(items["status"], cats)
    # A status name never seen on a current item: keep the current category (best known).
    # Cancelled comes from the resolution, not the status name: an item cancelled now and
    # already in its current status at t was cancelled then too.
    keep = (
        ~changed
        | mapped.isna()
        | ((items["status_category"] == "cancelled") & (items["status"] == current_status))
    )
    items["status_category"] = items["status_category"].where(keep, mapped)
    groups_cols = ["pk", "type", "kind", "status_category"]
    items["has_pts"] = items["story_points"].notna().astype(int)
    items["has_h"] = items["original_estimate_h"].notna().astype(int)
    # Sub-tasks (one level): parents take their sub-tasks' estimates when those have any.
    subs = items[(items["kind"] == "subtask") & (items["status_category"] != "cancelled")]
    sub_agg = subs.groupby("parent_id").agg(
        sub_pts=("story_points", "sum"),
        sub_n_pts=("has_pts", "sum"),
        sub_h=("original_estimate_h", "sum"),
        sub_n_h=("has_h", "sum"),
    )
    pts = items["story_points"].astype(float)
    hrs = items["original_estimate_h"].astype(float)
    n_sp = items["id"].map(sub_agg["sub_n_pts"]).fillna(0)
    n_sh = items["id"].map(sub_agg["sub_n_h"]).fillna(0)
    items["pts"] = pts.where(n_sp == 0, items["id"].map(sub_agg["sub_pts"]))
    items["hrs"] = hrs.where(n_sh == 0, items["id"].map(sub_agg["sub_h"]))
    g = items.dropna(subset=["pk"]).groupby(groups_cols, dropna=False)
    groups = g.agg(
        n=("id", "size"),
        n_pts=("pts", "count"),
        sum_pts=("pts", "sum"),
        n_h=("hrs", "count"),
        sum_h=("hrs", "sum"),
        first_created=("created_at", "min"),
    ).reset_index()
    leaf = items[items["kind"].isin(LEAF_KINDS)].dropna(subset=["pk"])
    hist = []
    for unit, col in (("pts", "story_points"), ("h", "original_estimate_h")):
        h = leaf.dropna(subset=[col]).groupby(["pk", "type", col]).size().reset_index(name="n")
        hist.append(h.rename(columns={col: "value"}).assign(unit=unit))
    est_hist = pd.concat(hist, ignore_index=True)

    bl = query_frame(
        engine,
        select(
            bl_t.c.project_key,
            bl_t.c.taken_at,
            bl_t.c.label,
            bl_t.c.reconstructed,
            bl_t.c.subject_kind,
            bl_t.c.work_item_id,
            bl_t.c.start_on,
            bl_t.c.due_on,
            bl_t.c.story_points,
            bl_t.c.original_estimate_h,
        ).where(bl_t.c.taken_at < t_end, bl_t.c.subject_kind.in_(("work_item", "project"))),
        [
            "pk",
            "taken_at",
            "label",
            "reconstructed",
            "subject_kind",
            "work_item_id",
            "start_on",
            "due_on",
            "story_points",
            "original_estimate_h",
        ],
    )
    if len(bl):
        latest = bl.groupby("pk")["taken_at"].transform("max")
        bl = bl[bl["taken_at"] == latest]
    meta = bl[bl["subject_kind"] == "project"][
        ["pk", "taken_at", "label", "reconstructed", "start_on", "due_on"]
    ].drop_duplicates("pk")
    bi = bl[bl["subject_kind"] == "work_item"].copy()
    by_id = items.set_index("id")
    bi = bi[bi["work_item_id"].isin(by_id.index)]
    bi["kind"] = bi["work_item_id"].map(by_id["kind"])
    bi["cat"] = bi["work_item_id"].map(by_id["status_category"])
    bi = bi[bi["kind"].isin(LEAF_KINDS) & (bi["cat"] != "cancelled")]
    bi["done"] = (bi["cat"] == "done").astype(int)
    baseline = (
        bi.groupby(["pk", "start_on", "due_on", "done"], dropna=False)
        .agg(
            n=("work_item_id", "size"),
            n_pts=("story_points", "count"),
            sum_pts=("story_points", "sum"),
            n_h=("original_estimate_h", "count"),
            sum_h=("original_estimate_h", "sum"),
        )
        .reset_index()
    )

    wl = query_frame(
        engine,
        select(wl_t.c.work_item_id, wl_t.c.seconds).where(
            wl_t.c.deleted_at.is_(None), wl_t.c.started_at < t_end
        ),
        ["work_item_id", "seconds"],
    )
    wl["pk"] = wl["work_item_id"].map(items.set_index("id")["pk"])
    ac_h = wl.groupby("pk")["seconds"].sum().astype(float) / 3600.0

    done_names = {k for k, v in cats.items() if v == "done"}
    ip_names = {k for k, v in cats.items() if v == "in_progress"}
    b_leaf = before[before["work_item_id"].isin(leaf["id"])]
    first_ip = b_leaf[b_leaf["to_value"].isin(ip_names)].groupby("work_item_id")["changed_at"].min()
    last_done = (
        b_leaf[b_leaf["to_value"].isin(done_names)].groupby("work_item_id")["changed_at"].max()
    )
    reopen = b_leaf[b_leaf["from_value"].isin(done_names) & ~b_leaf["to_value"].isin(done_names)]
    lf = leaf[leaf["status_category"].isin(("done", "in_progress"))].copy()
    # lookup() keeps the datetime dtype when a mapping is empty (no history at all).
    lf["first_ip_at"] = pd.to_datetime(lookup(lf["id"], first_ip).astype(object), utc=True)
    resolved = pd.to_datetime(lf["resolved_at"].astype(object), utc=True)
    last = pd.to_datetime(lookup(lf["id"], last_done).astype(object), utc=True)
    lf["done_at"] = last.combine_first(resolved.where(resolved < t_end))
    lf["reopened"] = lf["id"].isin(reopen["work_item_id"]).astype(int)
    wip = lf[lf["status_category"] == "in_progress"][["pk", "first_ip_at"]]
    flow = lf[lf["status_category"] == "done"][
        ["pk", "done_at", "first_ip_at", "created_at", "story_points", "time_spent_h", "reopened"]
    ]
    risk_items = items[
        (items["kind"] == "risk") & items["status_category"].isin(("todo", "in_progress"))
    ].dropna(subset=["pk"])
    sprint_moves = _read_sprint_moves(engine, t_end)
    in_sprint = items[
        items["kind"].isin(LEAF_KINDS)
        & (items["status_category"] != "cancelled")
        & items["pk"].notna()
        & (
            items["iteration_ids"].map(lambda v: bool(_id_list(v)))
            | items["id"].isin(sprint_moves["work_item_id"])
        )
    ]
    sprints = _empty_sprints()
    if len(in_sprint):
        done_t = pd.to_datetime(lookup(in_sprint["id"], last_done).astype(object), utc=True)
        res_t = pd.to_datetime(in_sprint["resolved_at"].astype(object), utc=True)
        members = in_sprint[["pk", "id", "iteration_ids", "story_points"]].assign(
            done=(in_sprint["status_category"] == "done").to_numpy(),
            done_at=done_t.combine_first(res_t.where(res_t < t_end)).to_numpy(),
        )
        sprints = sprint_frame(members, _read_iterations(engine), sprint_moves, t_end)
    return Inputs(
        groups=groups,
        est_hist=est_hist,
        baseline=baseline,
        baseline_meta=meta,
        ac=ac_h,
        flow=flow,
        wip=wip,
        risks=_risk_frame(risk_items),
        milestones=_read_milestones(engine, pid, t_end, meta),
        findings=_read_findings(engine, pid),
        forecasts=_read_forecasts(engine, as_of),
        sprints=sprints,
        reports=_report_frame(
            items[items["kind"] == "status_report"][["pk", "key", "created_at", "extra"]]
        ),
    )


# -- metrics ------------------------------------------------------------------------------------


def _per(index: pd.Index, series: pd.Series, fill: Any = np.nan) -> pd.Series:
    return series.reindex(index).fillna(fill) if fill is not None else series.reindex(index)


def _progress(inp: Inputs, idx: pd.Index) -> pd.DataFrame:
    g = inp.groups
    s = g[g["kind"].isin(LEAF_KINDS) & (g["status_category"] != "cancelled")].copy()
    s["done"] = s["status_category"] == "done"
    tot = s.groupby("pk")[["n", "n_pts", "sum_pts", "n_h", "sum_h"]].sum()
    out = pd.DataFrame(index=idx)
    out["items_total"] = _per(idx, tot["n"], 0).astype(int)
    out["items_done"] = _per(idx, s[s["done"]].groupby("pk")["n"].sum(), 0).astype(int)
    out["items_open"] = out["items_total"] - out["items_done"]
    out["progress_count"] = safe_ratio(out["items_done"], out["items_total"])
    unit = np.where(
        _per(idx, tot["n_pts"], 0) > 0, "pts", np.where(_per(idx, tot["n_h"], 0) > 0, "h", "")
    )
    out["estimate_unit"] = unit
    # Unestimated items take their type's median (this project, else all projects).
    h = inp.est_hist
    s["unit"] = s["pk"].map(out["estimate_unit"])
    med_p = _weighted_median(h, ["pk", "unit", "type"])
    med_all = _weighted_median(h, ["unit", "type"])
    key_p = pd.MultiIndex.from_frame(s[["pk", "unit", "type"]])
    key_all = pd.MultiIndex.from_frame(s[["unit", "type"]])
    med = pd.Series(med_p.reindex(key_p).to_numpy(), index=s.index)
    med = med.fillna(pd.Series(med_all.reindex(key_all).to_numpy(), index=s.index)).fillna(0.0)
    pts = s["unit"] == "pts"
    n_est = np.where(pts, s["n_pts"], s["n_h"])
    s["n_est"] = np.where(s["unit"] == "", 0, n_est)
    s["est"] = np.where(pts, s["sum_pts"], s["sum_h"]) + (s["n"] - s["n_est"]) * med
    s["est"] = np.where(s["unit"] == "", 0.0, s["est"])
    est_tot = s.groupby("pk")["est"].sum()
    est_done = s[s["done"]].groupby("pk")["est"].sum()
    out["estimate_coverage"] = safe_ratio(
        _per(idx, s.groupby("pk")["n_est"].sum(), 0), out["items_total"]
    )
    pe = safe_ratio(_per(idx, est_done, 0), _per(idx, est_tot, 0))
    out["progress_estimate"] = np.where(out["estimate_coverage"] >= 0.5, pe, np.nan)
    # Current scope in each unit, without imputation (for scope growth against the baseline).
    out["scope_pts"] = _per(idx, tot["sum_pts"], 0)
    out["scope_h"] = _per(idx, tot["sum_h"], 0)
    return out


def _weighted_median(h: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Median of ``value`` repeated ``n`` times, per key (exact, from a histogram)."""
    if h.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=keys))
    hh = h.groupby([*keys, "value"], dropna=False)["n"].sum().reset_index()
    hh = hh.sort_values([*keys, "value"])
    cum = hh.groupby(keys, dropna=False)["n"].cumsum()
    tot = hh.groupby(keys, dropna=False)["n"].transform("sum")
    # lower and upper middle values, averaged (even counts)
    lo = hh[cum >= (tot + 1) // 2].groupby(keys, dropna=False)["value"].first()
    hi = hh[cum >= tot // 2 + 1].groupby(keys, dropna=False)["value"].first()
    return (lo + hi) / 2


def _hpp(inp: Inputs, idx: pd.Index, default: float) -> pd.Series:
    # The one formula pmohub load also converts points with (aggregator.status.load.team_hpp).
    f = inp.flow
    hpp = hours_per_point(
        f["pk"], f["story_points"], f["time_spent_h"], min_samples=MIN_HPP_SAMPLES
    )
    return _per(idx, hpp, default)


def _evm(
    inp: Inputs, idx: pd.Index, as_of: dt.date, cal: WorkCalendar, prog: pd.DataFrame
) -> pd.DataFrame:
    out = pd.DataFrame(index=idx)
    b = inp.baseline.copy()
    meta = inp.baseline_meta.drop_duplicates("pk").set_index("pk")
    out["baseline"] = idx.isin(meta.index)
    out["baseline_taken_at"] = _per(idx, meta["taken_at"], None)
    out["baseline_reconstructed"] = _per(idx, meta["reconstructed"], None)
    out["baseline_end"] = pd.to_datetime(_per(idx, meta["due_on"], None))
    # Per-project lookups through integer codes: mapping strings row by row is the slow
    # part with a million baseline rows.
    code = idx.get_indexer(b["pk"])
    b = b[code >= 0]
    code = code[code >= 0]

    ev = earned_value(
        code,
        len(idx),
        n=b["n"].to_numpy(),
        n_h=b["n_h"].to_numpy(),
        n_pts=b["n_pts"].to_numpy(),
        sum_h=b["sum_h"].to_numpy(dtype=float),
        sum_pts=b["sum_pts"].to_numpy(dtype=float),
        done=b["done"].to_numpy(),
        start_rank=cal.rank(b["start_on"].to_numpy()),
        due_rank=cal.rank(b["due_on"].to_numpy()),
        end_rank=cal.rank(out["baseline_end"].to_numpy()),
        project_start_rank=cal.rank(_per(idx, meta["start_on"], None).to_numpy()),
        has_baseline=out["baseline"].to_numpy(),
        t_rank=float(cal.rank([as_of])[0]),
    )
    ok = ev["ok"]
    out["evm_unit"] = ev["unit"]
    out["bac"] = np.where(ok, ev["bac"], np.nan)
    out["ev"] = np.where(ok, ev["ev"], np.nan)
    for c in ("pv", "sv", "spi", "at_wd", "es_wd", "spi_t", "sv_t"):
        out[c] = ev[c]
    ac = _per(idx, inp.ac, 0.0)
    out["ac_h"] = ac
    hours = out["evm_unit"] == "h"
    out["cpi"] = np.where(hours & (ac > 0), safe_ratio(out["ev"], ac), np.nan)
    out["eac"] = safe_ratio(out["bac"], out["cpi"])
    out["tcpi"] = np.where(hours, safe_ratio(out["bac"] - out["ev"], out["bac"] - ac), np.nan)
    scope_now = np.where(hours, prog["scope_h"], prog["scope_pts"])
    growth = safe_ratio(scope_now - out["bac"], out["bac"])
    out["scope_growth"] = np.where(ok, np.fmax(growth, 0.0), np.nan)
    return out


def _flow(
    inp: Inputs, idx: pd.Index, as_of: dt.date, s: Settings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    cal, tz = s.calendar, s.timezone
    f = inp.flow.dropna(subset=["done_at"]).copy()
    f["done_on"] = local_dates(f["done_at"], tz)
    lo = np.datetime64(as_of - dt.timedelta(days=FLOW_DAYS), "D")
    hi = np.datetime64(as_of, "D")
    f = f[(f["done_on"] > lo) & (f["done_on"] <= hi)]
    f["cycle_wd"] = cal.wd_diff(local_dates(f["first_ip_at"], tz), f["done_on"])
    f["lead_wd"] = cal.wd_diff(local_dates(f["created_at"], tz), f["done_on"])
    out = pd.DataFrame(index=idx)
    out["throughput_90d"] = _per(idx, f.groupby("pk").size(), 0).astype(int)
    cyc = group_quantiles(f["pk"], f["cycle_wd"])
    out["cycle_p50_wd"] = _per(idx, cyc.get("p50", pd.Series(dtype=float)), None)
    out["cycle_p85_wd"] = _per(idx, cyc.get("p85", pd.Series(dtype=float)), None)
    lead = group_quantiles(f["pk"], f["lead_wd"])
    out["lead_p50_wd"] = _per(idx, lead.get("p50", pd.Series(dtype=float)), None)
    out["lead_p85_wd"] = _per(idx, lead.get("p85", pd.Series(dtype=float)), None)
    w = inp.wip.copy()
    w["age_wd"] = cal.wd_diff(local_dates(w["first_ip_at"], tz), np.datetime64(as_of, "D"))
    out["wip"] = _per(idx, w.groupby("pk").size(), 0).astype(int)
    wq = group_quantiles(w["pk"], w["age_wd"], (0.85,))
    out["wip_age_p85_wd"] = _per(idx, wq.get("p85", pd.Series(dtype=float)), None)
    out["wip_age_max_wd"] = _per(idx, w.groupby("pk")["age_wd"].max(), None)
    reopened = f.groupby("pk")["reopened"].sum()
    out["reopen_rate"] = safe_ratio(_per(idx, reopened, 0), out["throughput_90d"])
    return out, f[["pk", "cycle_wd"]]


def _milestones(inp: Inputs, idx: pd.Index, as_of: dt.date, cal: WorkCalendar) -> pd.DataFrame:
    ms = inp.milestones.copy()
    today = pd.Timestamp(as_of)
    due = pd.to_datetime(ms["due_on"])
    base = pd.to_datetime(ms["baseline_due"]).fillna(due)
    rel = pd.to_datetime(ms["released_on"])
    released = ms["released"].astype(bool)
    current = due.where(~(due < today), today)  # overdue: at least today
    c = rel.where(released, current)
    ms["slip_wd"] = cal.wd_diff(base, c)
    ms["is_due"] = base <= today
    ms["met"] = released & (rel <= base)
    ms["next30"] = ~released & (due > today) & (due <= today + pd.Timedelta(days=30))
    ms["slipped"] = ms["slip_wd"] > 0
    g = ms.groupby("pk")
    out = pd.DataFrame(index=idx)
    out["milestones_due"] = _per(idx, g["is_due"].sum(), 0).astype(int)
    out["milestones_met"] = _per(idx, (ms["met"] & ms["is_due"]).groupby(ms["pk"]).sum(), 0)
    out["milestone_hit_rate"] = safe_ratio(out["milestones_met"], out["milestones_due"])
    out["milestones_slipped"] = _per(idx, g["slipped"].sum(), 0).astype(int)
    out["milestone_slip_max_wd"] = _per(idx, g["slip_wd"].max(), None)
    out["milestones_next30"] = _per(idx, g["next30"].sum(), 0).astype(int)
    return out


def _risk(inp: Inputs, idx: pd.Index) -> pd.DataFrame:
    r = inp.risks.copy()
    r["score"] = r["probability"] * r["impact"]
    resp = r["response"].astype(object)
    r["has_response"] = resp.notna() & (resp.astype(str).str.strip() != "")
    high = r[r["score"] >= HIGH_RISK_SCORE]
    out = pd.DataFrame(index=idx)
    out["open_risks"] = _per(idx, r.groupby("pk").size(), 0).astype(int)
    out["high_risks"] = _per(idx, high.groupby("pk").size(), 0).astype(int)
    out["high_risks_no_response"] = _per(
        idx, high[~high["has_response"]].groupby("pk").size(), 0
    ).astype(int)
    out["risk_exposure"] = _per(idx, r.groupby("pk")["score"].sum(), 0.0)
    return out


def compliance_frame(outcomes: pd.DataFrame, idx: pd.Index) -> pd.DataFrame:
    """Compliance per project from rule outcomes (``project_key, rule_id, outcome`` in
    pass/finding/ne, ``severity``, ``waived``): 100·(1 − Σ_fail sw/Σ_evaluated sw), one
    weight per (project, rule) at the worst severity; waived checks excluded and listed."""
    o = outcomes[outcomes["outcome"].isin(("pass", "finding"))].copy()
    o["sw"] = outcome_weights(o)  # the rule's severity, for passes too (RULES.md 2.2)
    o["fail"] = (o["outcome"] == "finding") & ~o["waived"].astype(bool)
    waived = o[o["waived"].astype(bool)]
    o = o[~o["waived"].astype(bool)]
    per = o.groupby(["project_key", "rule_id"]).agg(sw=("sw", "max"), fail=("fail", "any"))
    per["fail_sw"] = per["sw"] * per["fail"]
    tot = per.groupby(level=0)[["sw", "fail_sw"]].sum()
    out = pd.DataFrame(index=idx)
    out["compliance_eval_w"] = _per(idx, tot["sw"], 0.0)
    out["compliance_fail_w"] = _per(idx, tot["fail_sw"], 0.0)
    out["compliance"] = compliance_score(out["compliance_fail_w"], out["compliance_eval_w"])
    out["waived_rules"] = _per(
        idx, waived.groupby("project_key")["rule_id"].agg(lambda v: sorted(set(v))), None
    )
    return out


def _rules_policy(config: Any) -> tuple[Mapping[str, Any], Any]:
    """The rule catalogue and the config's policy (pure Python, ~0.4 s for 2,000 projects)."""
    from pmohub.rules.engine import load_rules

    rules = load_rules()
    return rules, config_policy(config, rules)


def _store_outcomes(
    inp: Inputs, config: Any, idx: pd.Index, rules_policy: tuple[Mapping[str, Any], Any] | None
) -> pd.DataFrame:
    """Outcomes as far as the store knows them: an open finding fails its rule, a waived one
    is excluded, every other enabled rule counts as evaluated and passing (the store keeps
    no N/E outcomes; a nightly snapshot with the check run's outcomes is exact)."""
    rules, policy = rules_policy or _rules_policy(config)
    frames = []
    keys = idx.to_numpy(dtype=object)
    overridden = {rid for layer in policy.overrides.values() for rid in layer}
    for rid, r in rules.items():
        if r.meta.scope not in ("project", "issue"):
            continue
        if rid in overridden:  # per-project settings: ask the policy project by project
            on = np.array([policy.enabled(r.meta, pk) for pk in keys], dtype=bool)
        else:
            on = np.full(len(keys), policy.enabled(r.meta, None), dtype=bool)
        frames.append(
            pd.DataFrame({"project_key": keys[on], "rule_id": rid, "severity": r.meta.severity})
        )
    base = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["project_key", "rule_id", "severity"])
    )
    f = inp.findings.rename(columns={"pk": "project_key"})
    f = f[f["project_key"].isin(idx)]
    worst = (
        f.assign(w=f["severity"].map(SEVERITY_WEIGHT))
        .sort_values("w")
        .drop_duplicates(["project_key", "rule_id"], keep="last")
    )
    merged = base.merge(
        worst[["project_key", "rule_id", "severity", "state"]],
        on=["project_key", "rule_id"],
        how="left",
        suffixes=("", "_f"),
    )
    failing = merged["state"].isin(OPEN_FINDING_STATES)
    merged["outcome"] = np.where(failing | (merged["state"] == "waived"), "finding", "pass")
    merged["severity"] = merged["severity_f"].where(failing, merged["severity"])
    merged["waived"] = merged["state"] == "waived"
    return merged[["project_key", "rule_id", "outcome", "severity", "waived"]]


# -- RAG ----------------------------------------------------------------------------------------


def _rag(p: pd.DataFrame, inp: Inputs, cal: WorkCalendar) -> pd.DataFrame:
    """Dimension colours (G/A/R/NE) with their reasons, overall colour, score."""
    n = len(p)
    reasons: list[list[str]] = [[] for _ in range(n)]

    def note(mask: np.ndarray, texts: Iterable[str]) -> None:
        for i, t in zip(
            np.flatnonzero(mask), np.asarray(list(texts), dtype=object)[mask], strict=True
        ):
            reasons[i].append(t)

    # Schedule: SPI_t and the stored Monte Carlo P85 against the baseline end.
    fc = inp.forecasts.drop_duplicates("pk").set_index("pk")
    p85 = (
        pd.to_datetime(_per(p.index, fc["p85"], None))
        if len(fc)
        else pd.Series(pd.NaT, index=p.index)
    )
    end = pd.to_datetime(p["baseline_end"])
    p85_late = cal.wd_diff(end, p85)  # NaN when either is missing
    spi_t = p["spi_t"].to_numpy(dtype=float)
    has = ~np.isnan(spi_t)
    has_fc = ~np.isnan(p85_late)
    green = has & (spi_t >= 0.95) & (~has_fc | (p85_late <= 0))
    amber = has & ~green & ((spi_t >= 0.85) | (has_fc & (p85_late <= 10)))
    sched = np.where(~has, "NE", np.where(green, "G", np.where(amber, "A", "R")))
    spi_txt = [f"SPI(t) {v:.2f}" for v in spi_t]
    note(has, spi_txt)
    note(has & has_fc, [f"P85 {d:+.0f} wd vs baseline end" if d == d else "" for d in p85_late])
    note(has & ~has_fc, ["no stored forecast: schedule on SPI(t) only"] * n)
    note(
        ~has,
        [
            "schedule N/E: no baseline" if not b else "schedule N/E: no dated baseline items"
            for b in p["baseline"]
        ],
    )

    cpi = p["cpi"].to_numpy(dtype=float)
    has_c = ~np.isnan(cpi)
    cost = np.where(~has_c, "NE", np.where(cpi >= 0.95, "G", np.where(cpi >= 0.85, "A", "R")))
    note(has_c, [f"CPI {v:.2f}" for v in cpi])
    note(~has_c, ["cost N/E: needs an hour baseline and logged hours"] * n)

    gr = p["scope_growth"].to_numpy(dtype=float)
    has_s = ~np.isnan(gr)
    scope = np.where(~has_s, "NE", np.where(gr <= 0.05, "G", np.where(gr <= 0.15, "A", "R")))
    note(has_s & (gr > 0.05), [f"scope +{v:.0%} since baseline" for v in gr])

    hr, nr = p["high_risks"].to_numpy(), p["high_risks_no_response"].to_numpy()
    risk = np.where(hr == 0, "G", np.where(nr == 0, "A", "R"))
    note(
        hr > 0,
        [
            f"{a} open risk(s) scored >= {HIGH_RISK_SCORE} ({b} without response)"
            for a, b in zip(hr, nr, strict=True)
        ],
    )

    rr = p["reopen_rate"].to_numpy(dtype=float)
    sla = p["sla_breaches"].to_numpy()
    has_q = ~np.isnan(rr) | (sla > 0)
    rr0 = np.nan_to_num(rr)
    quality = np.where(
        ~has_q,
        "NE",
        np.where((rr0 <= 0.10) & (sla == 0), "G", np.where((rr0 <= 0.20) & (sla <= 1), "A", "R")),
    )
    note(~np.isnan(rr) & (rr0 > 0.10), [f"reopen rate {v:.0%}" for v in rr0])
    note(sla > 0, [f"{v} SLA breach finding(s)" for v in sla])

    res_sev = p["resource_severity"].to_numpy(dtype=object)
    resource = np.where(res_sev == "high", "R", np.where(pd.notna(res_sev), "A", "G"))
    note(pd.notna(res_sev), ["resource over-allocation finding (RES-*)"] * n)

    dims = pd.DataFrame(
        {
            "schedule": sched,
            "cost": cost,
            "scope": scope,
            "risk": risk,
            "quality": quality,
            "resource": resource,
        },
        index=p.index,
    )
    overall, n_amber = rag_overall(dims)
    note(n_amber >= 3, ["3 or more amber dimensions"] * n)
    high = p["open_high_findings"].to_numpy()
    capped = (overall == "G") & (high > 0)
    overall = np.where(capped, "A", overall)
    note(capped, [f"capped at amber: {v} open high-severity finding(s)" for v in high])
    for d in DIMENSIONS:
        note(dims[d].to_numpy() == "R", [f"{d} red"] * n)
    out = dims.add_prefix("rag_")
    out["rag"] = overall
    out["rag_reasons"] = reasons
    return out


# -- roll-up ------------------------------------------------------------------------------------


def compute_status(
    inp: Inputs,
    hier: pd.DataFrame,
    as_of: dt.date,
    s: Settings,
    config: Any,
    outcomes: pd.DataFrame | None = None,
    rules_policy: tuple[Mapping[str, Any], Any] | None = None,
) -> StatusReport:
    """``rules_policy``: :func:`_rules_policy` of ``config`` when already built."""
    idx = pd.Index(hier["project_key"].tolist(), name="project_key")
    h = hier.set_index("project_key")
    p = pd.DataFrame(index=idx)
    p["name"] = h["name"]
    p["portfolio"] = h["portfolio"]
    p["programme"] = h["programme"]
    p["critical"] = h["critical"].eq(True) if "critical" in h else False
    p["weight"] = pd.to_numeric(h["weight"], errors="coerce") if "weight" in h else np.nan
    prog = _progress(inp, idx)
    p = p.join(prog)
    snap = inp.flow_snapshot
    p["hpp"] = _hpp(inp, idx, s.hpp) if snap is None else _per(idx, snap["hpp"], s.hpp)
    parts = s.by_calendar(idx)
    p = p.join(
        _by_calendar(parts, lambda sc, sub: _evm(inp, sub, as_of, sc.calendar, prog.loc[sub]))
    )
    if snap is None:
        flows = [_flow(inp, sub, as_of, sc) for sc, sub in parts]
        flow = pd.concat([f for f, _ in flows]) if len(flows) > 1 else flows[0][0]
        cycles = pd.concat([c for _, c in flows]) if len(flows) > 1 else flows[0][1]
    else:
        flow = snap.reindex(idx)[[c for c in SNAPSHOT_FLOW[:9]]]
        vals = snap["cycle_wd_values"].reindex(idx)
        cycles = pd.DataFrame(
            {
                "pk": np.repeat(
                    idx.to_numpy(), [len(v) if isinstance(v, list) else 0 for v in vals]
                ),
                "cycle_wd": [x for v in vals if isinstance(v, list) for x in v],
            }
        )
        cycles["cycle_wd"] = pd.to_numeric(cycles["cycle_wd"], errors="coerce")
    p = p.join(flow)
    p["cycle_wd_values"] = _per(
        idx, cycles.groupby("pk")["cycle_wd"].agg(lambda v: [int(x) for x in v if x == x]), None
    )
    p = p.join(_by_calendar(parts, lambda sc, sub: _milestones(inp, sub, as_of, sc.calendar)))
    p = p.join(_risk(inp, idx))
    if snap is None:
        p = p.join(_sprint_metrics(inp.sprints, idx))
    else:
        p = p.join(snap.reindex(idx)[["sprints_closed", "velocity", "say_do"]])
    if outcomes is None:
        outcomes = _store_outcomes(inp, config, idx, rules_policy)
    p = p.join(compliance_frame(outcomes, idx))
    f = inp.findings
    open_f = f[f["state"].isin(OPEN_FINDING_STATES)]
    p["open_high_findings"] = _per(
        idx, open_f[open_f["severity"] == "high"].groupby("pk").size(), 0
    ).astype(int)
    p["sla_breaches"] = _per(
        idx, open_f[open_f["rule_id"].str.startswith("QUA-002")].groupby("pk").size(), 0
    ).astype(int)
    res = open_f[open_f["rule_id"].isin(("RES-001", "RES-002"))].assign(
        w=lambda x: x["severity"].map(SEVERITY_WEIGHT)
    )
    p["resource_severity"] = _per(idx, res.sort_values("w").groupby("pk")["severity"].last(), None)
    # Hours for roll-up: points x hpp (per project), never points summed across teams.
    to_h = np.where(p["evm_unit"] == "pts", p["hpp"], 1.0)
    for c in ("bac", "ev", "pv"):
        p[f"{c}_h"] = p[c] * to_h
    p = p.join(_by_calendar(parts, lambda sc, sub: _rag(p.loc[sub], inp, sc.calendar)))
    p = p.join(_pm_override(p, inp, config, as_of))
    p["flow_as_of"] = inp.flow_as_of.isoformat(timespec="minutes") if inp.flow_as_of else None
    p["rag_score"] = p["rag"].map(RAG_SCORE)
    bac_w = p["bac_h"].where(p["bac_h"] > 0)
    p["w"] = np.where(p["weight"] > 0, p["weight"], np.where(bac_w.notna(), bac_w, 1.0))
    cycles = cycles.assign(
        programme=cycles["pk"].map(p["programme"]), portfolio=cycles["pk"].map(p["portfolio"])
    )
    programmes = _rollup(p, cycles, ["portfolio", "programme"])
    portfolios = _rollup(p, cycles, ["portfolio"])
    return StatusReport(as_of, p.reset_index(), programmes, portfolios)


def _by_calendar(
    parts: list[tuple[Settings, pd.Index]], fn: Callable[[Settings, pd.Index], pd.DataFrame]
) -> pd.DataFrame:
    """``fn`` per calendar part (:meth:`Settings.by_calendar`), the results in one frame."""
    if len(parts) == 1:
        return fn(*parts[0])
    return pd.concat([fn(sc, sub) for sc, sub in parts])


def _rollup(p: pd.DataFrame, cycles: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    q = p.reset_index()
    q = q.dropna(subset=[keys[-1]]) if keys[-1] == "programme" else q
    for k in keys:
        q[k] = q[k].fillna("")
    evm_ok = q["spi_t"].notna()
    cost_ok = q["cpi"].notna()
    rated = q["rag"].isin(("G", "A", "R"))
    q = q.assign(
        ev_e=q["ev_h"].where(evm_ok, 0.0),
        pv_e=q["pv_h"].where(evm_ok, 0.0),
        bac_e=q["bac_h"].where(evm_ok, 0.0),
        ev_c=q["ev_h"].where(cost_ok, 0.0),
        ac_c=q["ac_h"].where(cost_ok, 0.0),
        ws=(q["w"] * q["rag_score"]).where(rated, 0.0),
        wr=q["w"].where(rated, 0.0),
        crit_red=q["critical"] & (q["rag"] == "R"),
    )
    g = q.groupby(keys, sort=True)
    out = g.agg(
        projects=("project_key", "size"),
        items_total=("items_total", "sum"),
        items_done=("items_done", "sum"),
        ev_h=("ev_e", "sum"),
        pv_h=("pv_e", "sum"),
        bac_h=("bac_e", "sum"),
        ev_c=("ev_c", "sum"),
        ac_c=("ac_c", "sum"),
        ws=("ws", "sum"),
        wr=("wr", "sum"),
        crit_red=("crit_red", "any"),
        compliance_fail_w=("compliance_fail_w", "sum"),
        compliance_eval_w=("compliance_eval_w", "sum"),
        risk_exposure=("risk_exposure", "sum"),
        high_risks=("high_risks", "sum"),
        throughput_90d=("throughput_90d", "sum"),
        wip=("wip", "sum"),
        milestones_due=("milestones_due", "sum"),
        milestones_met=("milestones_met", "sum"),
        milestones_slipped=("milestones_slipped", "sum"),
        milestones_next30=("milestones_next30", "sum"),
        red=("rag", lambda v: int((v == "R").sum())),
        amber=("rag", lambda v: int((v == "A").sum())),
        green=("rag", lambda v: int((v == "G").sum())),
        not_evaluable=("rag", lambda v: int((v == "NE").sum())),
    ).reset_index()
    out["progress_count"] = safe_ratio(out["items_done"], out["items_total"])
    out["progress"] = safe_ratio(out["ev_h"], out["bac_h"])
    out["spi"] = safe_ratio(out["ev_h"], out["pv_h"])
    out["cpi"] = safe_ratio(out["ev_c"], out["ac_c"])
    out["milestone_hit_rate"] = safe_ratio(out["milestones_met"], out["milestones_due"])
    out["compliance"] = compliance_score(out["compliance_fail_w"], out["compliance_eval_w"])
    score = safe_ratio(out["ws"], out["wr"])
    out["rag_score"] = score
    rag = rag_from_score(score)
    rag = np.where(out["crit_red"], "R", rag)
    out["rag"] = rag
    reasons = []
    for r in out.itertuples(index=False):  # one row per programme: small
        why = [
            f"score {r.rag_score:.2f} ({r.red} red, {r.amber} amber, {r.green} green)"
            if r.rag_score == r.rag_score
            else "no project evaluable"
        ]
        if r.crit_red:
            why.append("a critical project is red")
        if r.not_evaluable:
            why.append(f"{r.not_evaluable} project(s) N/E")
        reasons.append(why)
    out["rag_reasons"] = reasons
    if len(cycles):
        c = cycles.copy()
        for k in keys:
            c[k] = c[k].fillna("")
        cq = c.groupby(keys)["cycle_wd"].quantile([0.5, 0.85]).unstack()
        cq.columns = ["cycle_p50_wd", "cycle_p85_wd"]
        out = out.merge(cq.reset_index(), on=keys, how="left")
    else:
        out["cycle_p50_wd"] = np.nan
        out["cycle_p85_wd"] = np.nan
    return out.drop(columns=["ev_c", "ac_c", "ws", "wr"])


def project_status(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    *,
    history: bool = False,
    outcomes: pd.DataFrame | None = None,
    use_snapshot: bool = False,
    forecasts: pd.DataFrame | None = None,
) -> StatusReport:
    """Status of every hierarchy project, programme and portfolio as of ``as_of``.

    ``history=True`` reconstructs the store as of the end of ``as_of`` from the status
    history (use it for past dates); otherwise the current state is aggregated in SQL.
    ``use_snapshot``: take the metrics that do not change within a day
    (:data:`SNAPSHOT_FLOW`) from ``as_of``'s nightly snapshot when it is complete (the
    report's ``notes`` and ``flow_as_of`` say so); everything else is live.
        ``forecasts``: the Monte Carlo P85 per project (:func:`forecast_frame`) to use instead
    of the stored ones (the nightly passes the forecasts it is about to store).
    """
    s = settings_for(config)
    hier = hierarchy(engine, config)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The policy is pure Python: build it while the database works on the reads.
        policy = pool.submit(_rules_policy, config) if outcomes is None else None
        if history:
            inp = read_inputs_history(engine, config, as_of, hier, s)
        else:
            inp = read_inputs_sql(engine, config, as_of, hier, s, use_snapshot=use_snapshot)
        rules_policy = policy.result() if policy is not None else None
    if forecasts is not None:
        inp.forecasts = forecasts
    report = compute_status(inp, hier, as_of, s, config, outcomes, rules_policy)
    if inp.flow_as_of is not None:
        local = inp.flow_as_of.astimezone(ZoneInfo(s.timezone))
        report.notes.append(
            f"flow (throughput, cycle/lead time, WIP, reopen rate), hours per point and "
            f"closed-sprint velocity as of the {local:%H:%M} snapshot ({local:%Y-%m-%d})"
        )
    report.warnings.extend(calendar_warnings(s, as_of))
    return report


def calendar_warnings(s: Settings, as_of: dt.date) -> list[str]:
    """The years around ``as_of`` each calendar in use does not know, said once each."""
    years = {as_of.year - 1, as_of.year, as_of.year + 1}
    return uncovered_warnings([s.calendar, *s.project_calendars.values()], years)


__all__ = [
    "Inputs",
    "Settings",
    "StatusReport",
    "calendar_warnings",
    "compliance_frame",
    "compute_status",
    "forecast_frame",
    "hierarchy",
    "project_status",
    "read_inputs_history",
    "read_inputs_sql",
    "settings_for",
]
