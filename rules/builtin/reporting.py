"""Status reporting cadence (docs/metrics.md 1.3)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import BASELINE_EVM_COLUMNS, PHASES, is_blank, report_sections
from pmohub.rules.rag import (
    DEFAULT_THRESHOLDS,
    LEVEL,
    has_response,
    index_colour,
    is_high_risk,
    overall_colour,
    risk_colour,
    schedule_colour,
    thresholds_frame,
)

APPROVED = PHASES.index("approved")
CLOSING = PHASES.index("closing")


@rule(
    "RPT-001",
    title_en="Status report on cadence",
    title_zh="按周期提交项目状态报告",
    severity="high",
    scope="project",
    basis="004 §2.3 “定期(如每周或每月)提交项目状态报告” (periodic status reports)",
    basis_seed="004",
    check="the newest linked Status Report is older than cadence + grace (weekly: 5 + 2 "
    "wd; biweekly: 10 + 2 wd; monthly: by the 5th wd of the month)",
    fix_en="Submit the missing status report.",
    fix_zh="提交缺失的项目状态报告。",
    defaults={"cadence": "weekly", "grace_wd": 2, "monthly_by_wd": 5},
    needs={
        "work_items": ("project_key", "kind", "created_at"),
        "registry": ("project_key", "phase_rank", "cadence"),
    },
    optional={"registry": ("implicit",)},
)
def rpt_001(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    reg = ctx.frame("registry").set_index("project_key").reindex(ctx.projects)
    reports = items[items["kind"] == "status_report"]
    newest = pd.to_datetime(reports.groupby("project_key")["created_at"].max(), utc=True).reindex(
        ctx.projects
    )
    age = pd.Series(ctx.wd_until_today(ctx.local_day(newest)), index=ctx.projects)
    cadence = reg["cadence"].where(reg["cadence"].notna(), ctx.param("cadence")).astype(str)
    grace = ctx.param("grace_wd").astype(float)
    limit = np.where(cadence == "biweekly", 10 + grace, 5 + grace)
    month_start = np.datetime64(ctx.as_of.replace(day=1), "D")
    month_wd = ctx.calendar.wd_diff(month_start - np.timedelta64(1, "D"), ctx.as_of_day)[0]
    newest_day = pd.Series(ctx.local_day(newest), index=ctx.projects)
    monthly_late = (month_wd > ctx.param("monthly_by_wd")) & ~(newest_day >= month_start)
    weekly_late = age.isna() | (age > limit)
    late = np.where(cadence == "monthly", monthly_late, weekly_late)
    active = reg["phase_rank"].between(APPROVED + 1, CLOSING) | reg["phase_rank"].isna()
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = active & late
    if "implicit" in reg.columns:
        res["ne"] = np.where(
            reg["implicit"].eq(True),
            "not in the hierarchy, so no registry issue to link reports to",
            None,
        )
    res["value"] = age
    res["threshold"] = np.where(cadence == "monthly", np.nan, limit)
    week = ctx.as_of.isocalendar().week
    prev = (ctx.as_of - dt.timedelta(days=7)).isocalendar().week
    res["message"] = np.where(
        newest.isna(),
        "No status report yet",
        [f"W{prev} report missing (newest {a:.0f} wd old)" for a in age.fillna(0)],
    )
    res["message_zh"] = np.where(
        newest.isna(), "尚无项目状态报告", f"第{prev}周(当前第{week}周)周报缺失"
    )
    return ctx.project_outcomes(res)


SECTIONS = ("report_schedule", "report_cost", "report_quality", "report_risk", "report_issues")


@rule(
    "RPT-002",
    title_en="Report complete",
    title_zh="状态报告内容完整",
    severity="medium",
    scope="project",
    basis="004 “内容包括进度、成本、质量、风险、问题” (schedule, cost, quality, risk, issues)",
    basis_seed="004",
    check="the newest status report has no RAG, or a section (schedule, cost, quality, "
    "risk, issues) under 20 characters; sections are the report fields, else the markdown "
    "(## 进度) or Jira wiki (h2. Risks) headings of its description",
    fix_en="Complete the named sections of the report.",
    fix_zh="补全报告中所列的部分。",
    defaults={"min_chars": 20},
    needs={"work_items": ("project_key", "key", "kind", "created_at", "rag", *SECTIONS)},
    optional={"work_items": ("description",)},
)
def rpt_002(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    reports = items[items["kind"] == "status_report"].sort_values("created_at")
    newest = reports.groupby("project_key").tail(1).set_index("project_key").reindex(ctx.projects)
    if "description" in newest.columns:
        # Gen: a report whose fields are empty may carry its sections as headings.
        parsed = pd.DataFrame(
            [report_sections(d) for d in newest["description"]], index=newest.index
        )
        for col in (*SECTIONS, "rag"):
            if col in parsed.columns:
                blank = pd.Series(is_blank(newest[col]), index=newest.index)
                newest[col] = newest[col].astype(object).where(~blank, parsed[col])
    min_chars = ctx.param("min_chars").astype(float)
    short = pd.DataFrame(
        {
            s.removeprefix("report_"): newest[s]
            .astype(object)
            .fillna("")
            .astype(str)
            .str.strip()
            .str.len()
            < min_chars
            for s in SECTIONS
        },
        index=ctx.projects,
    )
    short["RAG"] = newest["rag"].astype(object).fillna("").astype(str).str.strip() == ""
    res = pd.DataFrame(index=ctx.projects)
    res["failed"] = short.any(axis=1)
    res["ne"] = np.where(newest["key"].isna(), "no status report", None)
    res["value"] = short.sum(axis=1).astype(float)
    names = short.apply(lambda r: ", ".join(k for k, v in r.items() if v), axis=1)
    res["message"] = newest["key"].astype(str) + " incomplete: " + names
    res["message_zh"] = newest["key"].astype(str) + " 不完整:" + names
    res["keys"] = [[k] if isinstance(k, str) else None for k in newest["key"]]
    return ctx.project_outcomes(res)


RAG_LEVEL = {
    "green": 0,
    "g": 0,
    "绿": 0,
    "绿色": 0,
    "amber": 1,
    "a": 1,
    "yellow": 1,
    "黄": 1,
    "黄色": 1,
    "red": 2,
    "r": 2,
    "红": 2,
    "红色": 2,
}
RAG_NAME = {0: "Green", 1: "Amber", 2: "Red"}


@rule(
    "RPT-003",
    title_en="Reported RAG contradicts computed RAG",
    title_zh="上报的RAG与计算的RAG不符",
    severity="medium",
    scope="project",
    basis="004 “识别偏差与趋势” (find deviations and trends); PRINCE2 highlight report",
    basis_seed="004",
    check="the PM's RAG is ≥ 1 level better than the computed RAG (schedule SPI_t, cost "
    "CPI, risk dimensions of docs/metrics.md 2.1): a “watermelon”",
    fix_en="Correct or justify the RAG.",
    fix_zh="更正或说明RAG。",
    defaults=dict(DEFAULT_THRESHOLDS),  # the RAG thresholds of rules/rag.py
    needs={
        "work_items": (
            "id",
            "project_key",
            "key",
            "kind",
            "created_at",
            "rag",
            "status_category",
            "risk_probability",
            "risk_impact",
            "risk_response",
        ),
        "baselines": BASELINE_EVM_COLUMNS,
    },
)
def rpt_003(ctx: RuleContext) -> Outcomes:
    from pmohub.rules.builtin.variance import shared_evm

    items = ctx.frame("work_items")
    reports = items[(items["kind"] == "status_report") & items["rag"].notna()].sort_values(
        "created_at"
    )
    newest = reports.groupby("project_key").tail(1).set_index("project_key").reindex(ctx.projects)
    reported = (
        newest["rag"].astype(object).fillna("").astype(str).str.strip().str.lower().map(RAG_LEVEL)
    )
    evm = shared_evm(ctx, ctx.as_of)
    # The one RAG decision (rules/rag.py), thresholds per project from the policy, as
    # `pmohub status` colours the same dimensions (no stored forecast here: SPI(t) only).
    th = thresholds_frame(ctx.params, ctx.projects)
    green, amber = th["green"].to_numpy(), th["amber"].to_numpy()
    risks = items[
        (items["kind"] == "risk") & items["status_category"].isin(("todo", "in_progress"))
    ]
    big = is_high_risk(
        risks["risk_probability"],
        risks["risk_impact"],
        risks["project_key"].map(th["risk_score"]).astype(float),
    )
    counts = (
        pd.DataFrame({"high": big, "open": big & ~has_response(risks["risk_response"])})
        .groupby(risks["project_key"])
        .sum()
    )
    has_risks = ctx.projects.isin(risks["project_key"])
    counts = counts.reindex(ctx.projects).fillna(0)
    risk = np.where(has_risks, risk_colour(counts["high"], counts["open"]), "NE")
    no_forecast = np.full(len(ctx.projects), np.nan)
    colours = pd.DataFrame(
        {
            "schedule": schedule_colour(evm["spi_t"], no_forecast, green, amber),
            "cost": index_colour(evm["cpi"], green, amber),
            "risk": risk,
        },
        index=ctx.projects,
    )
    dims = colours.apply(lambda c: c.map(LEVEL)).astype(float)
    computed = pd.Series(overall_colour(colours)[0], index=ctx.projects).map(LEVEL).astype(float)
    res = pd.DataFrame(index=ctx.projects)
    res["value"] = computed - reported
    res["failed"] = res["value"] >= 1
    res["ne"] = np.where(
        reported.isna(),
        "no status report with a RAG",
        np.where(computed.isna(), "no dimension computable (no baseline, no risks)", None),
    )
    res["evidence"] = [
        {
            "reported": RAG_NAME.get(r),
            "computed": RAG_NAME.get(c),
            **{k: RAG_NAME.get(v) for k, v in d.items() if v == v},
        }
        for r, c, d in zip(reported, computed, dims.to_dict("records"), strict=True)
    ]
    res["message"] = [
        f"Reported {RAG_NAME.get(r)} but computed {RAG_NAME.get(c)}: correct or justify the RAG"
        for r, c in zip(reported, computed, strict=True)
    ]
    res["message_zh"] = [
        f"上报 {RAG_NAME.get(r)},计算为 {RAG_NAME.get(c)}:请更正或说明"
        for r, c in zip(reported, computed, strict=True)
    ]
    res["keys"] = [[k] if isinstance(k, str) else None for k in newest["key"]]
    return ctx.project_outcomes(res)
