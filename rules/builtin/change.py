"""Change control (RULES.md 1.6)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.engine import Outcomes, RuleContext, rule
from rules.frames import is_blank, lookup

OPEN = ("todo", "in_progress")
APPROVED = ("approved", "批准", "已批准", "通过")
CR_FIELDS = ("cr_reason", "cr_impact", "cr_alternatives")


def approved_crs(items: pd.DataFrame) -> pd.DataFrame:
    """Approved change requests with their decision time (resolved, else last update)."""
    crs = items[
        (items["kind"] == "change_request")
        & items["ccb_decision"]
        .astype(object)
        .fillna("")
        .astype(str)
        .str.strip()
        .str.lower()
        .isin(APPROVED)
    ]
    decided = pd.to_datetime(crs["resolved_at"], utc=True).fillna(
        pd.to_datetime(crs["updated_at"], utc=True)
    )
    return crs.assign(decided_at=decided)


@rule(
    "CHG-003",
    title_en="CR complete and decided on time",
    title_zh="变更申请完整且按时决策",
    severity="medium",
    scope="issue",
    basis="004 “说明变更理由、影响分析及替代方案” (reason, impact analysis, alternatives); "
    "CCB “批准、否决或修改后重提”",
    basis_seed="004",
    check="a CR past Draft misses reason, impact or alternatives, or sits undecided > 10 wd",
    fix_en="Complete the missing fields, or the CCB is overdue.",
    fix_zh="补全缺失字段,或CCB决策已超期。",
    defaults={"decide_wd": 10, "draft_statuses": ["Draft", "草稿", "New", "新建"]},
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
            "ccb_decision",
            "url",
            *CR_FIELDS,
        ),
        "status_changes": ("work_item_id", "field", "changed_at"),
    },
)
def chg_003(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    sc = ctx.frame("status_changes")
    drafts = set(ctx.global_params.get("draft_statuses") or [])
    crs = items[(items["kind"] == "change_request") & ~items["status"].isin(drafts)]
    missing = pd.DataFrame(
        {f.removeprefix("cr_"): is_blank(crs[f]) for f in CR_FIELDS}, index=crs.index
    )
    undecided = is_blank(crs["ccb_decision"]) & crs["status_category"].isin(OPEN).to_numpy(
        dtype=bool
    )
    entered = sc[sc["field"] == "status"].groupby("work_item_id")["changed_at"].max()
    since = pd.to_datetime(lookup(crs["id"], entered), utc=True).fillna(
        pd.to_datetime(crs["created_at"], utc=True)
    )
    waiting = pd.Series(ctx.wd_until_today(ctx.local_day(since)), index=crs.index)
    overdue = undecided & (waiting > crs["project_key"].map(ctx.param("decide_wd"))).to_numpy(
        dtype=bool
    )
    bad_mask = missing.any(axis=1).to_numpy(dtype=bool) | overdue
    bad = crs[bad_mask].copy()
    names = (
        missing[bad_mask].apply(lambda r: ", ".join(k for k, v in r.items() if v), axis=1)
        if bad_mask.any()
        else pd.Series(dtype=str)
    )
    ccb = np.where(overdue[bad_mask], "CCB overdue", "")
    bad["subject"] = "issue:" + bad["source"].astype(str) + ":" + bad["external_id"].astype(str)
    bad["value"] = waiting[bad_mask]
    bad["keys"] = [[k] for k in bad["key"]]
    bad["urls"] = [[u] for u in bad["url"]]
    text = [
        "; ".join(p for p in (f"missing {n}" if n else "", c) if p)
        for n, c in zip(names.reindex(bad.index).fillna(""), ccb, strict=True)
    ]
    bad["message"] = bad["key"].astype(str) + ": " + pd.Series(text, index=bad.index, dtype=object)
    bad["message_zh"] = bad["key"].astype(str) + ":变更申请不完整或CCB超期"
    return ctx.item_outcomes(bad)
