"""The one RAG decision (docs/metrics.md 2.1): dimension colours from a project's metrics, the
overall colour from the dimensions, and where the thresholds come from.

``pmohub status`` (:mod:`pmohub.aggregator.status.rollup`), the report (which shows the
status's colours) and RPT-003 ("reported RAG contradicts computed RAG") all colour a
project here, so a PMO that tunes the thresholds gets one computed colour everywhere.

Thresholds are the policy's settings of :data:`RAG_RULE` (RPT-003), with its precedence
project > programme > portfolio > ``rules:`` > built-in defaults::

    rules:
      RPT-003: {green: 1.0, amber: 0.9, risk_score: 12}

* ``green`` / ``amber``: SPI(t) and CPI at or above ``green`` are green, at or above
  ``amber`` amber, below it red;
* ``risk_score``: an open risk scored (probability x impact) at or above it is *high*.

The quality dimension's reopen-rate bands are QUA-001's settings (:data:`REOPEN_RULE`), with
the same precedence: a reopen rate above ``amber`` is amber, above ``red`` red, so the RAG
reason and QUA-001's finding never disagree on a project's rate::

    rules:
      QUA-001: {amber: 0.15, red: 0.30}

The other bands (P85 forecast slip, scope growth, SLA breaches) are fixed.
Colours are ``G``/``A``/``R`` and ``NE`` (not evaluable: grey, never shown as green).
Pure: numpy and pandas only, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from pmohub.rules.engine import RuleMeta
from pmohub.rules.policy import Policy

#: The rule whose policy settings hold the thresholds.
RAG_RULE = "RPT-003"
#: Built-in thresholds (RPT-003's ``defaults`` are these).
DEFAULT_THRESHOLDS: dict[str, float] = {"green": 0.95, "amber": 0.85, "risk_score": 15}
DIMENSIONS = ("schedule", "cost", "scope", "risk", "quality", "resource")
#: Schedule stays amber (not red) while the P85 forecast is at most this late.
FORECAST_AMBER_WD = 10
SCOPE_BANDS = (0.05, 0.15)  # growth since the baseline: green up to, amber up to
#: The rule whose policy settings hold the reopen-rate bands of the quality dimension.
REOPEN_RULE = "QUA-001"
#: QUA-001's defaults (its ``defaults`` are these): green up to ``amber``, amber up to ``red``.
REOPEN_DEFAULTS: dict[str, float] = {"amber": 0.10, "red": 0.20}
#: :func:`thresholds_frame` columns of the reopen bands -> QUA-001's setting names
REOPEN_COLUMNS = {"reopen_amber": "amber", "reopen_red": "red"}
LEVEL = {"G": 0, "A": 1, "R": 2}
#: docs/metrics.md 2.2: a parent's RAG score is the weighted mean of its children's colours
#: (G = 0, A = 1, R = 2); below the first band green, at or above the second red.
RAG_SCORE: dict[str, int] = LEVEL
SCORE_BANDS = (0.5, 1.2)
#: the report's spelling of the colours (green/amber/red/ne) -> the code's G/A/R/NE
WORDS = {"green": "G", "amber": "A", "red": "R", "ne": "NE"}


def risk_scores(probability: pd.Series, impact: pd.Series) -> pd.Series:
    """A risk's score, probability x impact (1-5 each); NaN where either is missing or not
    a number. RISK-* rules, the risk RAG dimension and the report's risk register all score
    a risk here."""
    return pd.to_numeric(probability, errors="coerce") * pd.to_numeric(impact, errors="coerce")


def rag_overall(dims: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Overall colour per row from dimension colours ``G/A/R/NE`` (docs/metrics.md 2.1): Red if any
    Red or >= 3 Amber, Amber if any Amber, Green if a dimension is Green, else N/E (grey:
    nothing was evaluable, never shown as green). Returns (colour, number of ambers)."""
    v = dims.to_numpy(dtype=object)
    red = (v == "R").sum(axis=1)
    amber = (v == "A").sum(axis=1)
    green = (v == "G").sum(axis=1)
    out = np.where(
        (red > 0) | (amber >= 3), "R", np.where(amber > 0, "A", np.where(green > 0, "G", "NE"))
    )
    return out.astype(object), amber


def rag_from_score(score: np.ndarray) -> np.ndarray:
    """Programme/portfolio colour from the weighted RAG score (G=0, A=1, R=2)."""
    score = np.asarray(score, dtype=float)
    return np.where(
        np.isnan(score),
        "NE",
        np.where(score < SCORE_BANDS[0], "G", np.where(score >= SCORE_BANDS[1], "R", "A")),
    ).astype(object)


def aggregate_colour(
    colours: Iterable[str], weights: Iterable[float], critical: Iterable[bool]
) -> str:
    """One parent's colour from its children's (``G/A/R/NE``) for a list of children: the
    scalar twin of the roll-up's grouped :func:`rag_from_score` (N/E children left out; a
    red critical child makes the parent red)."""
    pairs = [
        (RAG_SCORE[c], float(w), bool(k))
        for c, w, k in zip(colours, weights, critical, strict=True)
        if c in RAG_SCORE
    ]
    if not pairs:
        return "NE"
    if any(s == 2 and k for s, _, k in pairs):
        return "R"
    total = sum(w for _, w, _ in pairs) or 1.0
    return str(rag_from_score(np.array([sum(s * w for s, w, _ in pairs) / total]))[0])


def _numbers(params: pd.DataFrame | None, key: str, index: pd.Index, default: float) -> pd.Series:
    col = (
        params[key].reindex(index)
        if params is not None and key in params.columns
        else pd.Series(np.nan, index=index)
    )
    return pd.to_numeric(col, errors="coerce").fillna(default).astype(float)


def thresholds_frame(
    params: pd.DataFrame | None,
    projects: Iterable[str],
    reopen_params: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``green, amber, risk_score`` per project (index: project key) from the RAG rule's
    effective settings (``params``: one row per project, e.g. a rule's ``ctx.params``) and
    ``reopen_amber, reopen_red`` from QUA-001's (``reopen_params``: its ``amber``, ``red``);
    missing cells take :data:`DEFAULT_THRESHOLDS` and :data:`REOPEN_DEFAULTS`."""
    index = pd.Index(list(projects), dtype=object, name="project_key")
    out = pd.DataFrame(index=index)
    for key, default in DEFAULT_THRESHOLDS.items():
        out[key] = _numbers(params, key, index, default)
    for col, key in REOPEN_COLUMNS.items():
        out[col] = _numbers(reopen_params, key, index, REOPEN_DEFAULTS[key])
    return out


def policy_thresholds(
    policy: Policy,
    meta: RuleMeta | None,
    projects: Iterable[str],
    reopen_meta: RuleMeta | None = None,
) -> pd.DataFrame:
    """:func:`thresholds_frame` from the policy's settings of the RAG rule (``meta``: its
    :class:`RuleMeta`) and of QUA-001 (``reopen_meta``); None when a rule is not in the
    catalogue: its defaults."""
    projects = list(projects)
    params = policy.params_frame(meta, projects) if meta is not None else None
    reopen = policy.params_frame(reopen_meta, projects) if reopen_meta is not None else None
    return thresholds_frame(params, projects, reopen)


def index_colour(values: np.ndarray, green: np.ndarray, amber: np.ndarray) -> np.ndarray:
    """A performance index (SPI(t), CPI; higher is better): G at or above ``green``, A at
    or above ``amber``, else R; NE when missing."""
    x = np.asarray(values, dtype=float)
    out = np.where(np.isnan(x), "NE", np.where(x >= green, "G", np.where(x >= amber, "A", "R")))
    return out.astype(object)


def schedule_colour(
    spi_t: np.ndarray, p85_late_wd: np.ndarray, green: np.ndarray, amber: np.ndarray
) -> np.ndarray:
    """SPI(t) banded as :func:`index_colour`; a stored P85 forecast (working days late
    against the baseline end, NaN = none) must not be late for green, and keeps the
    schedule amber while it is at most :data:`FORECAST_AMBER_WD` late."""
    spi_t = np.asarray(spi_t, dtype=float)
    late = np.asarray(p85_late_wd, dtype=float)
    has, has_fc = ~np.isnan(spi_t), ~np.isnan(late)
    is_green = has & (spi_t >= green) & (~has_fc | (late <= 0))
    is_amber = has & ~is_green & ((spi_t >= amber) | (has_fc & (late <= FORECAST_AMBER_WD)))
    out = np.where(~has, "NE", np.where(is_green, "G", np.where(is_amber, "A", "R")))
    return out.astype(object)


def scope_colour(growth: np.ndarray) -> np.ndarray:
    g = np.asarray(growth, dtype=float)
    lo, hi = SCOPE_BANDS
    return np.where(np.isnan(g), "NE", np.where(g <= lo, "G", np.where(g <= hi, "A", "R"))).astype(
        object
    )


def is_high_risk(probability: pd.Series, impact: pd.Series, risk_score: pd.Series) -> pd.Series:
    """Open risks scored (probability x impact) at or above the project's ``risk_score``."""
    return risk_scores(probability, impact) >= risk_score


def has_response(response: pd.Series) -> pd.Series:
    """A risk has a response when the field holds any non-blank text."""
    resp = response.astype(object)
    return resp.notna() & (resp.astype(str).str.strip() != "")


def risk_colour(high: np.ndarray, high_no_response: np.ndarray) -> np.ndarray:
    """G without high risks, A when every high risk has a response, else R."""
    high, open_ = np.asarray(high), np.asarray(high_no_response)
    return np.where(high == 0, "G", np.where(open_ == 0, "A", "R")).astype(object)


def quality_colour(
    reopen_rate: np.ndarray, sla_breaches: np.ndarray, amber: Any = None, red: Any = None
) -> np.ndarray:
    """G with a reopen rate up to ``amber`` and no SLA breach, A up to ``red`` or one breach,
    else R (``amber``/``red``: QUA-001's settings per project, default
    :data:`REOPEN_DEFAULTS`); NE without a rate and without breaches."""
    rr = np.asarray(reopen_rate, dtype=float)
    sla = np.asarray(sla_breaches)
    lo = np.asarray(REOPEN_DEFAULTS["amber"] if amber is None else amber, dtype=float)
    hi = np.asarray(REOPEN_DEFAULTS["red"] if red is None else red, dtype=float)
    rr0 = np.nan_to_num(rr)
    out = np.where(
        np.isnan(rr) & (sla <= 0),
        "NE",
        np.where((rr0 <= lo) & (sla == 0), "G", np.where((rr0 <= hi) & (sla <= 1), "A", "R")),
    )
    return out.astype(object)


def resource_colour(severity: np.ndarray) -> np.ndarray:
    """R for a high-severity resource finding (RES-*), A for any other, else G."""
    sev = np.asarray(severity, dtype=object)
    return np.where(sev == "high", "R", np.where(pd.notna(sev), "A", "G")).astype(object)


def overall_colour(
    dims: pd.DataFrame, open_high_findings: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overall colour from the dimension colours (:func:`rag_overall`: R if
    any R or >= 3 A, A if any A, G if any G, else NE), capped at amber while the project
    has open high-severity findings. Returns (colour, number of ambers, capped)."""
    overall, n_amber = rag_overall(dims)
    if open_high_findings is None:
        capped = np.zeros(len(dims), dtype=bool)
    else:
        capped = (overall == "G") & (np.asarray(open_high_findings) > 0)
    return np.where(capped, "A", overall).astype(object), n_amber, capped


def project_rag(p: pd.DataFrame, p85_late_wd: np.ndarray, th: pd.DataFrame) -> pd.DataFrame:
    """Dimension colours ``rag_<dimension>``, the overall ``rag`` and its ``rag_reasons``
    per project row of ``p`` (the status's metric columns: spi_t, baseline, cpi,
    scope_growth, high_risks, high_risks_no_response, reopen_rate, sla_breaches,
    resource_severity, open_high_findings); ``th``: :func:`thresholds_frame` rows of the
    same projects."""
    n = len(p)
    reasons: list[list[str]] = [[] for _ in range(n)]

    def note(mask: np.ndarray, texts: Iterable[str]) -> None:
        for i, t in zip(
            np.flatnonzero(mask), np.asarray(list(texts), dtype=object)[mask], strict=True
        ):
            reasons[i].append(t)

    th = th.reindex(p.index)
    green, amber = th["green"].to_numpy(dtype=float), th["amber"].to_numpy(dtype=float)
    spi_t = p["spi_t"].to_numpy(dtype=float)
    late = np.asarray(p85_late_wd, dtype=float)
    has, has_fc = ~np.isnan(spi_t), ~np.isnan(late)
    note(has, [f"SPI(t) {v:.2f}" for v in spi_t])
    note(has & has_fc, [f"P85 {d:+.0f} wd vs baseline end" if d == d else "" for d in late])
    note(has & ~has_fc, ["no stored forecast: schedule on SPI(t) only"] * n)
    note(
        ~has,
        [
            "schedule N/E: no baseline" if not b else "schedule N/E: no dated baseline items"
            for b in p["baseline"]
        ],
    )
    cpi = p["cpi"].to_numpy(dtype=float)
    note(~np.isnan(cpi), [f"CPI {v:.2f}" for v in cpi])
    note(np.isnan(cpi), ["cost N/E: needs an hour baseline and logged hours"] * n)
    gr = p["scope_growth"].to_numpy(dtype=float)
    note(~np.isnan(gr) & (gr > SCOPE_BANDS[0]), [f"scope +{v:.0%} since baseline" for v in gr])
    hr, nr = p["high_risks"].to_numpy(), p["high_risks_no_response"].to_numpy()
    note(
        hr > 0,
        [
            f"{a} open risk(s) scored >= {s:g} ({b} without response)"
            for a, b, s in zip(hr, nr, th["risk_score"], strict=True)
        ],
    )
    rr = p["reopen_rate"].to_numpy(dtype=float)
    sla = p["sla_breaches"].to_numpy()
    rr_amber = th["reopen_amber"].to_numpy(dtype=float)
    rr_red = th["reopen_red"].to_numpy(dtype=float)
    note(
        ~np.isnan(rr) & (np.nan_to_num(rr) > rr_amber),
        [f"reopen rate {v:.0%}" for v in np.nan_to_num(rr)],
    )
    note(sla > 0, [f"{v} SLA breach finding(s)" for v in sla])
    res_sev = p["resource_severity"].to_numpy(dtype=object)
    note(pd.notna(res_sev), ["resource over-allocation finding (RES-*)"] * n)

    dims = pd.DataFrame(
        {
            "schedule": schedule_colour(spi_t, late, green, amber),
            "cost": index_colour(cpi, green, amber),
            "scope": scope_colour(gr),
            "risk": risk_colour(hr, nr),
            "quality": quality_colour(rr, sla, rr_amber, rr_red),
            "resource": resource_colour(res_sev),
        },
        index=p.index,
    )
    high = p["open_high_findings"].to_numpy()
    overall, n_amber, capped = overall_colour(dims, high)
    note(n_amber >= 3, ["3 or more amber dimensions"] * n)
    note(capped, [f"capped at amber: {v} open high-severity finding(s)" for v in high])
    for d in DIMENSIONS:
        note(dims[d].to_numpy() == "R", [f"{d} red"] * n)
    out = dims.add_prefix("rag_")
    out["rag"] = overall
    out["rag_reasons"] = reasons
    return out
