"""Data hygiene (docs/metrics.md 1.10). Issue-level checks are reported per project with the
offending keys in the evidence, so a messy tracker gives one finding, not thousands."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmohub.rules.calendar import to_days
from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import by_project, count_by_project, keys_by_project, lookup, to_phase

OPEN = ("todo", "in_progress")


@rule(
    "DATA-002",
    title_en="Structural inconsistency",
    title_zh="结构不一致",
    severity="low",
    scope="project",
    basis="003 “确保文档的内容准确、完整” (accurate and complete)",
    basis_seed="003",
    check="any of: done without resolution (or the reverse, where the source uses "
    "resolutions); due < start; child due after its parent; > 10 % of open leaf items "
    "with no parent and no version",
    fix_en="Fix the listed items (resolution, dates, parent or version).",
    fix_zh="修正所列事项(解决结果、日期、父项或版本)。",
    defaults={"orphan_share": 0.10},
    needs={
        "work_items": (
            "id",
            "source",
            "project_key",
            "key",
            "status_category",
            "resolution",
            "start_on",
            "due_on",
            "parent_id",
            "milestone_ids",
            "is_leaf",
        )
    },
)
def data_002(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    cat = items["status_category"]
    uses_resolution = items.groupby("source")["resolution"].transform("count") > 0
    done_no_res = uses_resolution & (cat == "done") & items["resolution"].isna()
    res_not_done = uses_resolution & cat.isin(OPEN) & items["resolution"].notna()
    start, due = to_days(items["start_on"]), to_days(items["due_on"])
    due_before_start = pd.Series(due < start, index=items.index)
    parent_due = lookup(items["parent_id"], items.set_index("id")["due_on"])
    child_after_parent = pd.Series(due > to_days(parent_due), index=items.index)
    problem = done_no_res | res_not_done | due_before_start | child_after_parent
    open_leaf = items["is_leaf"].astype(bool) & cat.isin(OPEN)
    no_ms = items["milestone_ids"].map(len, na_action="ignore").fillna(0) == 0
    orphan = open_leaf & items["parent_id"].isna() & no_ms
    g = pd.DataFrame(
        {
            "project_key": items["project_key"],
            "orphan": orphan,
            "open_leaf": open_leaf,
            "problem": problem,
        }
    )
    per = g.groupby("project_key")[["orphan", "open_leaf", "problem"]].sum()
    res = per.reindex(ctx.projects)
    share = res["orphan"] / res["open_leaf"].where(res["open_leaf"] > 0)
    res["value"] = share.fillna(0.0)
    res["threshold"] = ctx.param("orphan_share")
    res["failed"] = (res["problem"] > 0) | (res["value"] > res["threshold"])
    res["ne"] = np.where(res["problem"].isna(), "no work items", None)
    bad = items[
        problem
        | (orphan & by_project(items["project_key"], share > ctx.param("orphan_share")).eq(True))
    ]
    res["keys"] = keys_by_project(bad).reindex(res.index)
    kinds = {
        "done without resolution": done_no_res,
        "resolution but not done": res_not_done,
        "due before start": due_before_start,
        "due after parent": child_after_parent,
    }
    counts = (
        pd.DataFrame({k: v.groupby(items["project_key"]).sum() for k, v in kinds.items()})
        .reindex(res.index)
        .fillna(0)
    )
    msgs = []
    for (pk, row), orph, ol in zip(
        counts.iterrows(), res["orphan"].fillna(0), res["open_leaf"].fillna(0), strict=True
    ):
        parts = [f"{int(n)} {k}" for k, n in row.items() if n]
        if ol and orph / ol > float(ctx.param("orphan_share").get(pk, 0.1)):
            parts.append(f"{int(orph)} of {int(ol)} open items without parent or version")
        msgs.append("; ".join(parts))
    res["message"] = msgs
    res["message_zh"] = ["结构问题:" + m for m in msgs]
    return ctx.project_outcomes(res)


@rule(
    "DATA-003",
    title_en="Stale in-progress items",
    title_zh="停滞的进行中事项",
    severity="medium",
    scope="project",
    basis="002 “数据追踪,确保信息透明” (track data for transparency)",
    basis_seed="002",
    check="an in-progress item with no change, comment or worklog for 10 wd, or (with "
    "status history) WIP age > the project's P85 cycle time over 90 days",
    fix_en="Update the items or move them back.",
    fix_zh="更新这些事项或退回待办。",
    defaults={"stale_wd": 10, "window_days": 90, "min_done": 5},
    needs={
        "work_items": ("id", "project_key", "key", "status_category", "updated_at"),
        "worklogs": ("work_item_id", "started_at"),
    },
    optional={
        "status_changes": ("work_item_id", "project_key", "field", "to_category", "changed_at")
    },
)
def data_003(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    wip = items[items["status_category"] == "in_progress"]
    logs = ctx.frame("worklogs")
    last_log = logs.groupby("work_item_id")["started_at"].max()
    last = pd.concat(
        [
            pd.to_datetime(wip["updated_at"], utc=True),
            pd.to_datetime(lookup(wip["id"], last_log), utc=True),
        ],
        axis=1,
    ).max(axis=1)
    idle = ctx.wd_until_today(ctx.local_day(last))
    wip = wip.assign(idle_wd=idle)
    too_old = np.zeros(len(wip), dtype=bool)
    sc = ctx.frames.get("status_changes")
    if sc is not None and {"field", "to_category", "changed_at"} <= set(sc.columns):
        from pmohub.rules.formulas import flow_times

        g = ctx.global_params
        flow = flow_times(sc, ctx.calendar, ctx.timezone)
        lo = ctx.as_of_day - np.timedelta64(int(g.get("window_days", 90)), "D")
        recent = flow[(flow["final_done_on"] > lo) & flow["cycle_wd"].notna()]
        counts = recent.groupby("project_key").size()
        p85 = recent.groupby("project_key")["cycle_wd"].quantile(0.85)
        p85 = p85[counts.reindex(p85.index) >= int(g.get("min_done", 5))]
        age = ctx.wd_until_today(lookup(wip["id"], flow["first_start_on"]).to_numpy())
        too_old = age > by_project(wip["project_key"], p85).astype(float).to_numpy()
    wip = wip.assign(too_old=too_old)
    stale_mask = (wip["idle_wd"] > ctx.param_of("stale_wd", wip["project_key"])) | wip["too_old"]
    stale = wip[stale_mask.to_numpy(dtype=bool)].sort_values("idle_wd", ascending=False)
    res = pd.DataFrame(index=ctx.projects)
    res["n"] = count_by_project(stale, res.index)
    res["failed"] = res["n"] > 0
    res["value"] = stale.groupby("project_key")["idle_wd"].max().reindex(res.index)
    res["threshold"] = ctx.param("stale_wd")
    res["keys"] = keys_by_project(stale).reindex(res.index)
    n_items = count_by_project(items, res.index)
    res["ne"] = np.where(n_items == 0, "no work items", None)
    res["old"] = stale.groupby("project_key")["too_old"].sum().reindex(res.index).fillna(0)
    res["message"] = [
        f"{int(n)} in-progress items idle > {t} wd or older than the P85 cycle time "
        f"({int(o)} by age): update or move back"
        for n, t, o in zip(res["n"], res["threshold"], res["old"], strict=True)
    ]
    res["message_zh"] = [
        f"{int(n)} 个进行中事项超过 {t} 个工作日无更新"
        for n, t in zip(res["n"], res["threshold"], strict=True)
    ]
    return ctx.project_outcomes(res)


@rule(
    "DATA-001",
    title_en="Unmapped status or field",
    title_zh="状态或字段未映射",
    severity="medium",
    scope="portfolio",
    basis="000 “确保项目信息的准确性和可用性” (accurate, usable information)",
    basis_seed="000",
    check="a status used in the history has no known category (not on any current item "
    "and not in status_map), so history rules would misread it; registry issues' phase "
    "statuses (Approved, 立项...) are read as phases, not flagged. The catalogue's second "
    "half, “a mapped field id is missing”, is not evaluated: the sync does not record which "
    "custom fields a site has (the Jira connector checks them at connect time, "
    "`pmohub sources check`, and an unknown configured field id fails the sync there)",
    fix_en="Map the status in status_map.",
    fix_zh="在 status_map 中映射该状态。",
    needs={"status_changes": ("source", "field", "to_value", "to_category", "work_item_id")},
    optional={"work_items": ("id", "kind")},
)
def data_001(ctx: RuleContext) -> Outcomes:
    sc = ctx.frame("status_changes")
    sc = sc[(sc["field"] == "status") & sc["to_value"].notna() & sc["to_category"].isna()]
    items = ctx.frames.get("work_items")
    if items is not None and "kind" in items.columns and len(sc):
        registry_ids = items.loc[items["kind"] == "registry", "id"]
        phase_status = to_phase(sc["to_value"].astype(object)).notna()
        sc = sc[~(sc["work_item_id"].isin(registry_ids) & phase_status)]
    per = sc.groupby(["source", "to_value"]).size().reset_index(name="n")
    if per.empty:
        return ctx.subject_outcomes(
            pd.DataFrame({"subject": ["portfolio:*"], "project_key": [None], "failed": [False]})
        )
    by_source = per.groupby("source").agg(statuses=("to_value", list), n=("n", "sum")).reset_index()
    res = pd.DataFrame(
        {
            "subject": "source:" + by_source["source"].astype(str),
            "project_key": None,
            "failed": True,
            "value": by_source["n"].astype(float),
            "evidence": [{"statuses": s} for s in by_source["statuses"]],
            "message": [
                "Map status " + ", ".join(f"‘{x}’" for x in s) for s in by_source["statuses"]
            ],
            "message_zh": [
                "请映射状态 " + ", ".join(f"‘{x}’" for x in s) for s in by_source["statuses"]
            ],
        }
    )
    return ctx.subject_outcomes(res)
