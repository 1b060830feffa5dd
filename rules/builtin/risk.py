"""Risk and issue management (docs/metrics.md 1.5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import PHASES, count_by_project, keys_by_project, list_contains, lookup
from pmohub.rules.rag import risk_scores

OPEN = ("todo", "in_progress")
RESPONSES = {"avoid", "reduce", "mitigate", "transfer", "accept", "规避", "减轻", "转移", "接受"}


def _score(risks: pd.DataFrame) -> pd.Series:
    # the one risk scoring (rules/rag.py), shared with the risk RAG dimension and the report
    return risk_scores(risks["risk_probability"], risks["risk_impact"])


@rule(
    "RISK-001",
    title_en="Risk register present and current",
    title_zh="风险登记册存在且及时更新",
    severity="medium",
    scope="project",
    basis="004 “风险识别、评估与应对规划” (identify, assess and plan responses to risks)",
    basis_seed="004",
    check="an active project has no open risk, or a risk is unchanged for > 14 wd "
    "(score ≥ 12) or > 30 wd (others)",
    fix_en="Review stale risks.",
    fix_zh="复查过期的风险。",
    defaults={"high_score": 12, "high_stale_wd": 14, "stale_wd": 30},
    needs={
        "work_items": (
            "project_key",
            "key",
            "kind",
            "status_category",
            "updated_at",
            "risk_probability",
            "risk_impact",
        ),
        "registry": ("project_key", "phase_rank"),
    },
)
def risk_001(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    reg = ctx.frame("registry").set_index("project_key")
    risks = items[(items["kind"] == "risk") & items["status_category"].isin(OPEN)]
    score = _score(risks)
    idle = ctx.wd_until_today(ctx.local_day(risks["updated_at"]))
    limit = np.where(
        score.to_numpy() >= ctx.param_of("high_score", risks["project_key"]).to_numpy(dtype=float),
        ctx.param_of("high_stale_wd", risks["project_key"]),
        ctx.param_of("stale_wd", risks["project_key"]),
    ).astype(float)
    stale = risks[idle > limit]
    res = pd.DataFrame(index=ctx.projects)
    res["risks"] = count_by_project(risks, res.index)
    res["stale"] = count_by_project(stale, res.index)
    rank = reg["phase_rank"].reindex(res.index)
    open_items = (
        items[items["status_category"].isin(OPEN)]
        .groupby("project_key")
        .size()
        .reindex(res.index)
        .fillna(0)
    )
    active = rank.between(PHASES.index("approved"), PHASES.index("closing")) | (
        rank.isna() & (open_items > 0)
    )
    res["failed"] = active & ((res["risks"] == 0) | (res["stale"] > 0))
    res["value"] = res["stale"]
    res["keys"] = keys_by_project(stale).reindex(res.index)
    res["message"] = np.where(
        res["risks"] == 0,
        "Active project with no open risk: identify and record risks",
        [f"{int(n)} stale risks: review them" for n in res["stale"]],
    )
    res["message_zh"] = np.where(
        res["risks"] == 0,
        "在建项目没有登记任何风险",
        [f"{int(n)} 个风险长期未更新" for n in res["stale"]],
    )
    return ctx.project_outcomes(res)


@rule(
    "RISK-002",
    title_en="Risk assessed, owned and planned",
    title_zh="风险已评估、有负责人并有应对计划",
    severity="medium",
    scope="issue",
    basis="003 “确定其可能性和影响程度” (probability and impact); “应急预案” (contingency plan)",
    basis_seed="003",
    check="an open risk lacks P or I (1–5), assignee, response (avoid/reduce/transfer/"
    "accept) or review date; high if score ≥ 12",
    fix_en="Complete the missing risk fields.",
    fix_zh="补全风险的缺失字段。",
    defaults={"high_score": 12},
    needs={
        "work_items": (
            "source",
            "external_id",
            "project_key",
            "key",
            "kind",
            "status_category",
            "assignee",
            "due_on",
            "risk_probability",
            "risk_impact",
            "risk_response",
            "url",
        )
    },
    optional={"work_items": ("review_on",)},
)
def risk_002(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    risks = items[(items["kind"] == "risk") & items["status_category"].isin(OPEN)].copy()
    p = pd.to_numeric(risks["risk_probability"], errors="coerce")
    i = pd.to_numeric(risks["risk_impact"], errors="coerce")
    resp = (
        risks["risk_response"]
        .astype(object)
        .where(risks["risk_response"].notna(), "")
        .astype(str)
        .str.strip()
        .str.lower()
    )
    review = (
        risks["review_on"] if "review_on" in risks.columns else pd.Series(None, index=risks.index)
    )
    missing = {
        "probability": ~p.between(1, 5),
        "impact": ~i.between(1, 5),
        "assignee": risks["assignee"].isna(),
        "response": ~resp.isin(RESPONSES),
        "review date": review.isna() & risks["due_on"].isna(),
    }
    miss = pd.DataFrame(missing)
    bad_mask = miss.any(axis=1)
    bad = risks[bad_mask].copy()
    if len(bad):
        names = miss[bad_mask].apply(lambda r: ", ".join(k for k, v in r.items() if v), axis=1)
        score = (p * i)[bad_mask]
        bad["subject"] = "issue:" + bad["source"].astype(str) + ":" + bad["external_id"].astype(str)
        bad["severity"] = np.where(
            score >= ctx.param_of("high_score", bad["project_key"]), "high", "medium"
        )
        bad["value"] = score
        bad["keys"] = [[k] for k in bad["key"]]
        bad["urls"] = [[u] for u in bad["url"]]
        bad["message"] = bad["key"].astype(str) + ": missing " + names
        bad["message_zh"] = bad["key"].astype(str) + ":缺少 " + names
    else:
        bad = bad.assign(subject=[], message=[], message_zh=[])
    return ctx.item_outcomes(bad)


@rule(
    "RISK-004",
    title_en="Blockers and issues ageing",
    title_zh="阻塞与问题长期未解决",
    severity="medium",
    scope="issue",
    basis="004 “推动问题解决” (drive issues to resolution)",
    basis_seed="004",
    check="an open Issue > 10 wd old without a due date, or an item Flagged or Blocked for "
    "> 5 wd; high after 10 wd",
    fix_en="Resolve or escalate.",
    fix_zh="解决或升级。",
    defaults={
        "issue_wd": 10,
        "blocked_wd": 5,
        "high_wd": 10,
        "blocked_statuses": ["Blocked", "阻塞", "On Hold"],
    },
    needs={
        "work_items": (
            "id",
            "source",
            "external_id",
            "project_key",
            "key",
            "kind",
            "status",
            "status_category",
            "created_at",
            "due_on",
            "url",
        ),
        "status_changes": ("work_item_id", "field", "to_value", "changed_at"),
    },
    optional={"work_items": ("flagged", "updated_at")},
)
def risk_004(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    sc = ctx.frame("status_changes")
    open_ = items[items["status_category"].isin(OPEN)]
    age = pd.Series(ctx.wd_until_today(ctx.local_day(open_["created_at"])), index=open_.index)
    issue_old = (
        (open_["kind"] == "issue")
        & open_["due_on"].isna()
        & (age > ctx.param_of("issue_wd", open_["project_key"]))
    )
    blocked_names = set(ctx.global_params.get("blocked_statuses") or []) | set(
        ctx.settings.get("blocked_statuses", ())
    )
    is_blocked = open_["status"].isin(blocked_names)
    if "flagged" in open_.columns:
        # Jira's Flagged holds ["Impediment"] or similar; any non-empty, non-false value.
        is_blocked = is_blocked | open_["flagged"].map(_flag_set, na_action="ignore").eq(True)
    since = (
        sc[(sc["field"] == "status") & sc["to_value"].isin(blocked_names)]
        .groupby("work_item_id")["changed_at"]
        .max()
    )
    since_at = pd.to_datetime(lookup(open_["id"], since), utc=True)
    # No history: the item has been blocked at least since its last update (a lower bound).
    if "updated_at" in open_.columns:
        since_at = since_at.fillna(pd.to_datetime(open_["updated_at"], utc=True))
    blocked_wd = pd.Series(ctx.wd_until_today(ctx.local_day(since_at)), index=open_.index)
    blocked_old = is_blocked & (blocked_wd > ctx.param_of("blocked_wd", open_["project_key"]))
    bad_mask = issue_old | blocked_old
    bad = open_[bad_mask].copy()
    wd = np.where(blocked_old[bad_mask], blocked_wd[bad_mask], age[bad_mask])
    bad["value"] = wd
    bad["subject"] = "issue:" + bad["source"].astype(str) + ":" + bad["external_id"].astype(str)
    bad["severity"] = np.where(
        wd > ctx.param_of("high_wd", bad["project_key"]).to_numpy(dtype=float), "high", "medium"
    )
    bad["keys"] = [[k] for k in bad["key"]]
    bad["urls"] = [[u] for u in bad["url"]]
    what = np.where(blocked_old[bad_mask], "blocked", "open issue without due date")
    bad["message"] = (
        bad["key"].astype(str)
        + ": "
        + what
        + " for "
        + pd.Series(wd, index=bad.index).astype(int).astype(str)
        + " wd; resolve or escalate"
    )
    bad["message_zh"] = (
        bad["key"].astype(str)
        + ":已 "
        + pd.Series(wd, index=bad.index).astype(int).astype(str)
        + " 个工作日未解决,请解决或升级"
    )
    return ctx.item_outcomes(bad)


@rule(
    "RISK-003",
    title_en="Major or cross-department issue escalated",
    title_zh="重大或跨部门问题已升级",
    severity="high",
    scope="issue",
    basis="004 “重大风险或跨部门问题,PMO应发挥协调作用” (PMO coordinates major/cross-department issues)",
    basis_seed="004",
    check="a risk with score ≥ 15, or an issue labelled cross-dept or with components in ≥ 2 "
    "departments, is neither flagged escalated_to_pmo nor linked to a PMO item within 2 wd",
    fix_en="Escalate to the PMO meeting.",
    fix_zh="提交PMO例会协调。",
    defaults={
        "score": 15,
        "within_wd": 2,
        "cross_label": "cross-dept",
        "escalated_label": "escalated",
        "component_departments": {},
    },
    needs={
        "work_items": (
            "source",
            "external_id",
            "tracker_project_key",
            "project_key",
            "key",
            "kind",
            "status_category",
            "created_at",
            "labels",
            "components",
            "risk_probability",
            "risk_impact",
            "escalated_to_pmo",
            "url",
        ),
        "links": ("source", "from_external_id", "to_external_id"),
    },
)
def risk_003(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    links = ctx.frame("links")
    open_ = items[items["status_category"].isin(OPEN) & items["kind"].isin(["risk", "issue"])]
    score = _score(open_)
    major = (open_["kind"] == "risk") & (score >= ctx.param_of("score", open_["project_key"]))
    cross = pd.Series(
        list_contains(open_["labels"], str(ctx.global_params.get("cross_label"))), index=open_.index
    )
    departments = dict(ctx.global_params.get("component_departments") or {})
    if departments and len(open_):
        ex = open_["components"].explode().map(departments)
        n_dept = ex.groupby(level=0).nunique().reindex(open_.index).fillna(0)
        cross = cross | (n_dept >= 2)
    needs = open_[(major | ((open_["kind"] == "issue") & cross)).to_numpy(dtype=bool)]
    flagged = needs["escalated_to_pmo"].astype(object).map(_truthy, na_action="ignore").eq(True)
    flagged = flagged | pd.Series(
        list_contains(needs["labels"], str(ctx.global_params.get("escalated_label"))),
        index=needs.index,
    )
    pmo = set(ctx.settings.get("registry_projects", ()))
    # PMO items belong to no checked project, so they are only in the unscoped frame.
    everything = (ctx.all_frames or ctx.frames)["work_items"]
    pmo_ids = everything.loc[everything["tracker_project_key"].isin(pmo), ["source", "external_id"]]
    pmo_keys = set(pmo_ids["source"].astype(str) + "\x1f" + pmo_ids["external_id"].astype(str))
    src = links["source"].astype(str)
    a = src + "\x1f" + links["from_external_id"].astype(str)
    b = src + "\x1f" + links["to_external_id"].astype(str)
    linked = set(b[a.isin(pmo_keys)]) | set(a[b.isin(pmo_keys)])
    key = needs["source"].astype(str) + "\x1f" + needs["external_id"].astype(str)
    escalated = flagged | key.isin(linked)
    age = pd.Series(ctx.wd_until_today(ctx.local_day(needs["created_at"])), index=needs.index)
    bad = needs[
        (~escalated & (age > ctx.param_of("within_wd", needs["project_key"]))).to_numpy(dtype=bool)
    ].copy()
    bad["subject"] = "issue:" + bad["source"].astype(str) + ":" + bad["external_id"].astype(str)
    bad["value"] = _score(bad)
    bad["keys"] = [[k] for k in bad["key"]]
    bad["urls"] = [[u] for u in bad["url"]]
    bad["message"] = bad["key"].astype(str) + ": escalate to the PMO meeting"
    bad["message_zh"] = bad["key"].astype(str) + ":请提交PMO例会协调"
    return ctx.item_outcomes(bad)


def _truthy(v: object) -> bool:
    return str(v).strip().lower() in ("true", "yes", "y", "1", "是", "已升级")


def _flag_set(v: object) -> bool:
    return bool(v) and str(v).strip().lower() not in ("false", "0", "no", "none", "[]")
