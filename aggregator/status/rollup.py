"""Status roll-up: project -> programme -> portfolio (docs/metrics.md 2.1, 2.2, 2.4).

:func:`project_status` reads the inputs (:mod:`.inputs` for now, :mod:`.history` for a
past date), :func:`compute_status` turns them into per-project metrics (:mod:`.metrics`)
with an explained RAG (the decision is :mod:`pmohub.rules.rag`, thresholds from the
policy) and rolls them up with :func:`rollup_frame`. Ratios are always ratios of sums;
story points are converted to hours per project (``hpp`` = 90-day median of logged hours
per point, else the policy default) before anything is added across projects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    Engine,
)

from pmohub.aggregator.status.history import read_inputs_history
from pmohub.aggregator.status.inputs import (
    SNAPSHOT_FLOW,
    Inputs,
    read_inputs_sql,
)
from pmohub.aggregator.status.metrics import (
    OPEN_FINDING_STATES,
    build_rules_policy,
    compliance_frame,
    evm_metrics,
    flow_metrics,
    hours_per_point_metric,
    milestone_metrics,
    per_project,
    pm_override,
    progress_metrics,
    risk_metrics,
    sprint_metrics,
    store_outcomes,
)
from pmohub.aggregator.status.reopens import read_reopen_changes
from pmohub.aggregator.status.settings import (
    Settings,
    calendar_warnings,
    hierarchy,
    settings_for,
)
from pmohub.rules.calendar import WorkCalendar
from pmohub.rules.metrics import SEVERITY_WEIGHT, compliance_score, safe_ratio
from pmohub.rules.rag import (
    RAG_RULE,
    RAG_SCORE,
    REOPEN_RULE,
    policy_thresholds,
    project_rag,
    rag_from_score,
)

DIMENSIONS = ("schedule", "cost", "scope", "risk", "quality", "resource")


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


# -- RAG ----------------------------------------------------------------------------------------


def _rag(p: pd.DataFrame, inp: Inputs, cal: WorkCalendar, th: pd.DataFrame) -> pd.DataFrame:
    """Dimension colours (G/A/R/NE) with their reasons and the overall colour: the one
    decision (:func:`pmohub.rules.rag.project_rag`), the stored Monte Carlo P85 counted
    in working days of the project's calendar against the baseline end."""
    fc = inp.forecasts.drop_duplicates("pk").set_index("pk")
    p85 = (
        pd.to_datetime(per_project(p.index, fc["p85"], None))
        if len(fc)
        else pd.Series(pd.NaT, index=p.index)
    )
    p85_late = cal.wd_diff(pd.to_datetime(p["baseline_end"]), p85)  # NaN when either is missing
    return project_rag(p, p85_late, th)


def rag_thresholds(
    config: Any, idx: pd.Index, rules_policy: tuple[Mapping[str, Any], Any] | None
) -> pd.DataFrame:
    """The RAG thresholds of each project from the config's policy (:mod:`pmohub.rules.rag`:
    RPT-003's settings, and QUA-001's reopen-rate bands, as the rules read them)."""
    rules, policy = rules_policy or build_rules_policy(config)
    rule, reopen = rules.get(RAG_RULE), rules.get(REOPEN_RULE)
    return policy_thresholds(
        policy,
        rule.meta if rule is not None else None,
        idx,
        reopen.meta if reopen is not None else None,
    )


# -- roll-up ------------------------------------------------------------------------------------


def compute_status(
    inp: Inputs,
    hier: pd.DataFrame,
    as_of: dt.date,
    s: Settings,
    config: Any,
    outcomes: pd.DataFrame | None = None,
    rules_policy: tuple[Mapping[str, Any], Any] | None = None,
    reopens: pd.DataFrame | None = None,
) -> StatusReport:
    """``rules_policy``: :func:`~pmohub.aggregator.status.metrics.build_rules_policy` of
    ``config`` when already built (the rule catalogue and the policy: compliance and the
    RAG thresholds). ``reopens``: the reopen window's status changes
    (:func:`~pmohub.aggregator.status.reopens.read_reopen_changes`)."""
    idx = pd.Index(hier["project_key"].tolist(), name="project_key")
    if rules_policy is None:
        rules_policy = build_rules_policy(config)
    th = rag_thresholds(config, idx, rules_policy)
    h = hier.set_index("project_key")
    p = pd.DataFrame(index=idx)
    p["name"] = h["name"]
    p["portfolio"] = h["portfolio"]
    p["programme"] = h["programme"]
    p["critical"] = h["critical"].eq(True) if "critical" in h else False
    p["weight"] = pd.to_numeric(h["weight"], errors="coerce") if "weight" in h else np.nan
    prog = progress_metrics(inp, idx)
    p = p.join(prog)
    snap = inp.flow_snapshot
    p["hpp"] = (
        hours_per_point_metric(inp, idx, s.hpp)
        if snap is None
        else per_project(idx, snap["hpp"], s.hpp)
    )
    parts = s.by_calendar(idx)
    p = p.join(
        _by_calendar(
            parts, lambda sc, sub: evm_metrics(inp, sub, as_of, sc.calendar, prog.loc[sub])
        )
    )
    if snap is None:
        flows = [flow_metrics(inp, sub, as_of, sc, reopens) for sc, sub in parts]
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
    p["cycle_wd_values"] = per_project(
        idx, cycles.groupby("pk")["cycle_wd"].agg(lambda v: [int(x) for x in v if x == x]), None
    )
    p = p.join(_by_calendar(parts, lambda sc, sub: milestone_metrics(inp, sub, as_of, sc.calendar)))
    p = p.join(risk_metrics(inp, idx, th["risk_score"]))
    if snap is None:
        p = p.join(sprint_metrics(inp.sprints, idx))
    else:
        p = p.join(snap.reindex(idx)[["sprints_closed", "velocity", "say_do"]])
    if outcomes is None:
        outcomes = store_outcomes(inp, config, idx, rules_policy)
    p = p.join(compliance_frame(outcomes, idx))
    f = inp.findings
    open_f = f[f["state"].isin(OPEN_FINDING_STATES)]
    p["open_high_findings"] = per_project(
        idx, open_f[open_f["severity"] == "high"].groupby("pk").size(), 0
    ).astype(int)
    p["sla_breaches"] = per_project(
        idx, open_f[open_f["rule_id"].str.startswith("QUA-002")].groupby("pk").size(), 0
    ).astype(int)
    res = open_f[open_f["rule_id"].isin(("RES-001", "RES-002"))].assign(
        w=lambda x: x["severity"].map(SEVERITY_WEIGHT)
    )
    p["resource_severity"] = per_project(
        idx, res.sort_values("w").groupby("pk")["severity"].last(), None
    )
    # Hours for roll-up: points x hpp (per project), never points summed across teams.
    to_h = np.where(p["evm_unit"] == "pts", p["hpp"], 1.0)
    for c in ("bac", "ev", "pv"):
        p[f"{c}_h"] = p[c] * to_h
    p = p.join(_by_calendar(parts, lambda sc, sub: _rag(p.loc[sub], inp, sc.calendar, th.loc[sub])))
    p = p.join(pm_override(p, inp, config, as_of))
    p["flow_as_of"] = inp.flow_as_of.isoformat(timespec="minutes") if inp.flow_as_of else None
    p["rag_score"] = p["rag"].map(RAG_SCORE)
    bac_w = p["bac_h"].where(p["bac_h"] > 0)
    p["w"] = np.where(p["weight"] > 0, p["weight"], np.where(bac_w.notna(), bac_w, 1.0))
    cycles = cycles.assign(
        programme=cycles["pk"].map(p["programme"]), portfolio=cycles["pk"].map(p["portfolio"])
    )
    programmes = rollup_frame(p, cycles, ["portfolio", "programme"])
    portfolios = rollup_frame(p, cycles, ["portfolio"])
    return StatusReport(as_of, p.reset_index(), programmes, portfolios)


def _by_calendar(
    parts: list[tuple[Settings, pd.Index]], fn: Callable[[Settings, pd.Index], pd.DataFrame]
) -> pd.DataFrame:
    """``fn`` per calendar part (:meth:`Settings.by_calendar`), the results in one frame."""
    if len(parts) == 1:
        return fn(*parts[0])
    return pd.concat([fn(sc, sub) for sc, sub in parts])


def rollup_frame(p: pd.DataFrame, cycles: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
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
        # The policy is pure Python: build it while the database works on the reads (the
        # compliance of stored outcomes and the RAG thresholds need it).
        policy = pool.submit(build_rules_policy, config)
        if history:
            inp = read_inputs_history(engine, config, as_of, hier, s)
        else:
            inp = read_inputs_sql(engine, config, as_of, hier, s, use_snapshot=use_snapshot)
        rules_policy = policy.result()
    if forecasts is not None:
        inp.forecasts = forecasts
    # The snapshot holds the day's reopen rate with the other flow metrics.
    reopens = read_reopen_changes(engine, hier, s, as_of) if inp.flow_snapshot is None else None
    report = compute_status(inp, hier, as_of, s, config, outcomes, rules_policy, reopens)
    if inp.flow_as_of is not None:
        local = inp.flow_as_of.astimezone(ZoneInfo(s.timezone))
        report.notes.append(
            f"flow (throughput, cycle/lead time, WIP, reopen rate), hours per point and "
            f"closed-sprint velocity as of the {local:%H:%M} snapshot ({local:%Y-%m-%d})"
        )
    report.warnings.extend(calendar_warnings(s, as_of))
    return report


__all__ = [
    "StatusReport",
    "compute_status",
    "project_status",
    "rollup_frame",
]
