"""History: one ``snapshots`` row per project per day, written by the nightly run, so trends
and week-over-week differences are cheap, and ``--as-of`` can answer from history.

* :func:`take_snapshots` computes the status (and the Monte Carlo forecasts, whose P85 the
  next status run's schedule RAG reads) and writes one row per (project_key, taken_on).
  A snapshot of the current store (the nightly's) upserts: re-running a day overwrites
  that day, nothing else. A snapshot reconstructed from the history (``history=True``,
  the demo's back-fill) only fills days a project has no row for: a past day, once
  written, is immutable (see :func:`take_snapshots`).
* :func:`status_as_of` answers for a past date from that day's snapshots when every
  project has one, else reconstructs the store at that date from the status history;
  either way under today's hierarchy, and :func:`status_as_of_basis` says what it used
  (:mod:`aggregator.status.basis`: the snapshot keeps that day's policy).
* :func:`trend` reads the last snapshot of each ISO week (policy time zone dates) per
  project and the week-over-week differences.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from pmohub.aggregator.status.basis import (
    RECOMPUTED,
    SNAPSHOT,
    AsOfBasis,
    hierarchy_changes,
    policy_digest,
)
from pmohub.aggregator.status.cache import (
    current_status,
    status_fingerprint,
    upsert_status_cache,
)
from pmohub.aggregator.status.forecast import project_forecasts
from pmohub.aggregator.status.inputs import forecast_frame
from pmohub.aggregator.status.rollup import StatusReport, project_status, rollup_frame
from pmohub.aggregator.status.settings import hierarchy
from pmohub.aggregator.store import models as m
from pmohub.rules.clock import local_today

sn_t = m.Snapshot.__table__

#: Project columns kept in ``snapshots.metrics`` (enough to re-roll programmes/portfolios).
METRIC_COLUMNS = (
    "name", "portfolio", "programme", "critical", "weight", "w", "items_total", "items_done",
    "progress_count", "progress_estimate", "estimate_coverage", "estimate_unit", "hpp",
    "evm_unit", "bac", "ev", "pv", "spi", "spi_t", "cpi", "eac", "tcpi", "ac_h", "bac_h",
    "ev_h", "pv_h", "scope_growth", "throughput_90d", "cycle_p50_wd", "cycle_p85_wd", "wip",
    "wip_age_p85_wd", "reopen_rate", "milestones_due", "milestones_met", "milestones_slipped",
    "milestones_next30", "milestone_hit_rate", "milestone_slip_max_wd", "sprints_closed",
    "velocity", "say_do", "open_risks",
    "high_risks", "risk_exposure", "compliance", "compliance_fail_w", "compliance_eval_w",
    "rag_schedule", "rag_cost", "rag_scope", "rag_risk", "rag_quality", "rag_resource", "rag",
    "rag_score", "rag_reasons", "rag_pm", "rag_pm_state", "rag_pm_reason", "rag_pm_expires_on",
    "rag_pm_source", "lead_p50_wd", "lead_p85_wd", "wip_age_max_wd", "cycle_wd_values",
)  # fmt: skip


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NaT or v is None:
        return None
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list | tuple | np.ndarray):
        return [_plain(x) for x in v]
    return v


def take_snapshots(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    *,
    history: bool = False,
    outcomes: pd.DataFrame | None = None,
    forecasts: bool = True,
    now: dt.datetime | None = None,
    keep_existing: bool = False,
) -> int:
    """Write the day's row per project; returns the number of rows written.

    A snapshot of the current store (not ``history``) upserts, and also stores the status
    it computed as the day's ``status_cache`` row, which ``pmohub status`` serves until
    the store, the config or the code changes (:mod:`aggregator.status.cache`).

    A ``history`` snapshot never replaces a row: it writes only the projects without one
    on ``as_of``. A reconstruction can only be as exact as the store's history (items
    deleted since are gone, estimates, hierarchy and policy are today's), so computing
    the same past day again later could give other numbers; the row already there is
    what the trend and the reports have shown for that day (or the nightly's own, taken
    from the store as it was). Re-running the back-fill (a second ``pmohub demo``) thus
    leaves the past as it was.

    ``keep_existing`` (the nightly run for a past day): computed from the current store,
    but like a ``history`` snapshot it writes only the projects without a row on
    ``as_of``; a day already stored keeps what it showed then.

    Every row records the :func:`~aggregator.status.basis.policy_digest` it was computed
    under, so a later ``status --as-of`` can say whether that day's policy is today's."""
    keep = history or keep_existing
    # Read before the data: a change committed meanwhile leaves the stored result stale.
    fingerprint = None if history else status_fingerprint(engine, config, as_of)
    keys = list(hierarchy(engine, config)["project_key"])
    if keep:
        written = set(snapshot_frame(engine, as_of, as_of)["project_key"])
        if written >= set(keys):
            return 0
        if written:  # the day's status is partly the stored rows': not one result to cache
            fingerprint = None
    else:
        written = set()
    digest = policy_digest(config)
    fc = (
        project_forecasts(engine, config, as_of, history=history).set_index("project_key")
        if forecasts and keys
        else pd.DataFrame()
    )
    stored_fc: dict[str, dict[str, Any]] = {}
    for key in keys:
        if key in fc.index:
            f = fc.loc[key]
            stored_fc[key] = {
                f"forecast_{c}": _plain(f[c])
                for c in ("p50", "p85", "p95", "p_on_time", "low_confidence", "method")
            }
    # The schedule RAG reads the latest stored forecast at or before the date, which from
    # this write on is the one just computed (or none): use exactly that, so the stored
    # status is the one a live computation after this write gives.
    report = project_status(
        engine,
        config,
        as_of,
        history=history,
        outcomes=outcomes,
        forecasts=forecast_frame(
            pd.DataFrame(
                {
                    "pk": keys,
                    "forecast_on": [as_of] * len(keys),
                    "metrics": [stored_fc.get(k, {}) for k in keys],
                }
            )
        ),
    )
    p = report.projects.set_index("project_key")
    taken_at = now or dt.datetime.now(dt.UTC)
    rows = []
    for key, r in p.iterrows():  # one row per project (thousands at most)
        if key in written:
            continue
        metrics = {c: _plain(r.get(c)) for c in METRIC_COLUMNS if c in p.columns}
        metrics.update(stored_fc.get(key, {}))
        metrics["policy_digest"] = digest
        rows.append(
            {
                "project_key": key,
                "taken_on": as_of,
                "taken_at": taken_at,
                "rag": r["rag"],
                "progress_count": _plain(r["progress_count"]),
                "progress_estimate": _plain(r["progress_estimate"]),
                "items_total": int(r["items_total"]),
                "items_done": int(r["items_done"]),
                "compliance": _plain(r["compliance"]),
                "metrics": metrics,
            }
        )
    if not rows:
        return 0
    with engine.begin() as conn:
        _insert_rows(conn, rows, keep)
        if fingerprint is not None:
            upsert_status_cache(conn, report, fingerprint, at=taken_at)
    return len(rows)


UPDATED = ("taken_at", "rag", "progress_count", "progress_estimate", "items_total",
           "items_done", "compliance", "metrics")  # fmt: skip


def _insert_rows(conn: Connection, rows: list[dict[str, Any]], keep: bool) -> None:
    """Insert the day's rows: ``keep``, a row already there stays (take_snapshots);
    else the day is replaced in place."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(sn_t)
    if keep:
        conn.execute(stmt.on_conflict_do_nothing(), rows)
        return
    stmt = stmt.on_conflict_do_update(
        index_elements=[sn_t.c.project_key, sn_t.c.taken_on],
        set_={c: stmt.excluded[c] for c in UPDATED},
    )
    conn.execute(stmt, rows)


def snapshot_frame(engine: Engine, since: dt.date, until: dt.date) -> pd.DataFrame:
    cols = ["project_key", "taken_on", "rag", "progress_count", "progress_estimate",
            "items_total", "items_done", "compliance", "metrics"]  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(
            select(*[sn_t.c[c] for c in cols]).where(
                sn_t.c.taken_on >= since, sn_t.c.taken_on <= until
            )
        ).fetchall()
    return pd.DataFrame(rows, columns=cols)


def status_as_of(engine: Engine, config: Any, as_of: dt.date) -> tuple[StatusReport, str]:
    """(report, how): from that day's snapshots when complete, else from the history."""
    report, basis = status_as_of_basis(engine, config, as_of)
    return report, basis.how


def as_of_basis(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    today: dt.date | None = None,
    *,
    hier: pd.DataFrame | None = None,
    snaps: pd.DataFrame | None = None,
) -> AsOfBasis:
    """What a status of the past day ``as_of`` is computed from, without computing it
    (the report says it beside the status it shows): that day's snapshots when every
    project of today's hierarchy has one, else recomputed from the history; the projects
    placed differently that day; the policy the snapshot rows were computed under.
    ``today``: the day whose hierarchy this is (default: today in the config's zone)."""
    hier = hierarchy(engine, config) if hier is None else hier
    snaps = snapshot_frame(engine, as_of, as_of) if snaps is None else snaps
    today = local_today(getattr(config, "timezone", None)) if today is None else today
    metrics = [r or {} for r in snaps["metrics"]]
    then = pd.DataFrame(
        {
            "project_key": snaps["project_key"],
            "portfolio": [r.get("portfolio") for r in metrics],
            "programme": [r.get("programme") for r in metrics],
        }
    )
    basis = AsOfBasis(
        as_of,
        RECOMPUTED,
        today,
        hierarchy_known=len(then) > 0,
        changes=hierarchy_changes(then, hier) if len(then) else [],
    )
    if not (len(hier) and set(hier["project_key"]) <= set(snaps["project_key"])):
        return basis
    keys = set(hier["project_key"])
    # One digest when the whole day was taken under one policy (rows written before the
    # digest was recorded have none: not recorded).
    taken = [
        r.get("policy_digest")
        for k, r in zip(snaps["project_key"], metrics, strict=True)
        if k in keys
    ]
    stored = set(taken)
    return replace(
        basis,
        source=SNAPSHOT,
        policy_then=taken[0] if len(stored) == 1 and taken[0] else None,
        policy_now=policy_digest(config),
    )


def status_as_of_basis(
    engine: Engine, config: Any, as_of: dt.date, today: dt.date | None = None
) -> tuple[StatusReport, AsOfBasis]:
    """The status of a past day under today's hierarchy, and :func:`as_of_basis`.

    From that day's snapshots: the stored project rows (figures and RAG of that day,
    under that day's policy) placed where today's hierarchy puts them, programmes and
    portfolios rolled up again from them by :func:`rollup_frame`, as a live status does.
    Else recomputed from the status history (today's hierarchy and policy)."""
    hier = hierarchy(engine, config)
    snaps = snapshot_frame(engine, as_of, as_of)
    basis = as_of_basis(engine, config, as_of, today, hier=hier, snaps=snaps)
    if basis.source != SNAPSHOT:
        return project_status(engine, config, as_of, history=True), basis
    snaps = snaps.set_index("project_key").loc[list(hier["project_key"])]
    p = pd.DataFrame.from_records(list(snaps["metrics"]), index=snaps.index)
    p.index.name = "project_key"
    # Today's hierarchy: where each project is now, under its name of today.
    h = hier.set_index("project_key")
    for c in ("name", "portfolio", "programme"):
        p[c] = h[c].reindex(p.index).astype(object)
    for c in ("critical",):
        p[c] = p[c].fillna(False).astype(bool) if c in p else False
    for c in ("pv_h", "ev_h", "bac_h", "ac_h", "cpi", "spi_t", "w", "rag_score"):
        if c in p:
            p[c] = pd.to_numeric(p[c], errors="coerce")
    cycles = pd.DataFrame(columns=["pk", "cycle_wd", "programme", "portfolio"])
    rep = StatusReport(
        as_of,
        p.drop(columns=["policy_digest"], errors="ignore").reset_index(),
        rollup_frame(p, cycles, ["portfolio", "programme"]),
        rollup_frame(p, cycles, ["portfolio"]),
    )
    return rep, basis


def status_of_day(
    engine: Engine,
    config: Any,
    as_of: dt.date,
    today: dt.date | None = None,
    *,
    store: bool = True,
) -> tuple[StatusReport, AsOfBasis | None]:
    """The status ``pmohub status --as-of <as_of>`` shows, and the basis of a past one: a
    past day by :func:`status_as_of_basis` (snapshots under today's hierarchy, else the
    history), today or later the nightly's stored result while nothing changed, else
    computed now (kept for the next call with ``store``). The one home of this choice:
    the CLI and the report both ask here, so they cannot show two statuses of one day."""
    today = local_today(getattr(config, "timezone", None)) if today is None else today
    if as_of < today:
        return status_as_of_basis(engine, config, as_of, today)
    return current_status(engine, config, as_of, store=store), None


def trend(engine: Engine, as_of: dt.date, weeks: int = 12) -> pd.DataFrame:
    """Per project and ISO week: the week's last snapshot and the change from the week
    before (progress in percentage points, compliance in points, RAG from -> to)."""
    since = as_of - dt.timedelta(days=7 * weeks + 7)
    s = snapshot_frame(engine, since, as_of)
    cols = ["project_key", "week", "taken_on", "rag", "rag_before", "progress_count",
            "progress_delta", "items_done", "done_delta", "compliance", "compliance_delta"]  # fmt: skip
    if s.empty:
        return pd.DataFrame(columns=cols)
    on = pd.to_datetime(s["taken_on"])
    iso = on.dt.isocalendar()
    s["week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    s = s.sort_values(["project_key", "taken_on"]).groupby(["project_key", "week"]).tail(1)
    g = s.groupby("project_key")
    s["rag_before"] = g["rag"].shift(1)
    s["progress_delta"] = s["progress_count"] - g["progress_count"].shift(1)
    s["done_delta"] = s["items_done"] - g["items_done"].shift(1)
    s["compliance_delta"] = s["compliance"] - g["compliance"].shift(1)
    keep = sorted(set(s["week"]))[-weeks:]
    return s[s["week"].isin(keep)][cols].reset_index(drop=True)
