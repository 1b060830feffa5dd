"""Change control (docs/metrics.md 1.6)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pmohub.rules.calendar import to_days
from pmohub.rules.engine import Outcomes, RuleContext, rule
from pmohub.rules.frames import by_project, count_by_project, is_blank, keys_by_project, lookup

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
    overdue = undecided & (waiting > ctx.param_of("decide_wd", crs["project_key"])).to_numpy(
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


def _latest(ctx: RuleContext) -> pd.DataFrame:
    from pmohub.rules.formulas import latest_baseline

    return latest_baseline(ctx.frame("baselines"))


@rule(
    "CHG-001",
    title_en="Date moved without approved CR",
    title_zh="未经批准变更而推迟日期",
    severity="high",
    scope="project",
    basis="004 §2.4 “有重大影响的变更…提交正式的变更申请” (major changes need a formal CR)",
    basis_seed="004",
    check="after the baseline, an epic or milestone date moved > 5 wd later with no CR "
    "approved between the baseline and the move (+2 wd grace)",
    fix_en="Submit a CR for the moved dates.",
    fix_zh="为推迟的日期提交变更申请。",
    defaults={"moved_wd": 5, "grace_wd": 2},
    needs={
        "baselines": (
            "project_key",
            "taken_at",
            "subject_kind",
            "work_item_id",
            "milestone_id",
            "due_on",
        ),
        "work_items": (
            "id",
            "project_key",
            "key",
            "is_epic",
            "due_on",
            "kind",
            "ccb_decision",
            "resolved_at",
            "updated_at",
        ),
        "milestones": ("id", "name", "due_on"),
        "status_changes": ("work_item_id", "field", "changed_at"),
    },
)
def chg_001(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    latest = _latest(ctx)
    sc = ctx.frame("status_changes")
    by_id = items.set_index("id")
    epics = latest[
        (latest["subject_kind"] == "work_item")
        & latest["work_item_id"].map(by_id["is_epic"]).eq(True)
    ]
    e = pd.DataFrame(
        {
            "project_key": epics["project_key"].to_numpy(),
            "what": epics["work_item_id"].map(by_id["key"]).astype(str).to_numpy(),
            "base": to_days(epics["due_on"]),
            "now": to_days(lookup(epics["work_item_id"], by_id["due_on"])),
            "taken_at": epics["taken_at"].to_numpy(),
            "item_id": epics["work_item_id"].to_numpy(),
        }
    )
    moves = sc[sc["field"] == "duedate"].groupby("work_item_id")["changed_at"].max()
    e["moved_at"] = pd.to_datetime(lookup(e["item_id"], moves), utc=True)
    ms_rows = latest[latest["subject_kind"] == "milestone"]
    ms = ctx.frame("milestones").set_index("id")
    m = pd.DataFrame(
        {
            "project_key": ms_rows["project_key"].to_numpy(),
            "what": ms_rows["milestone_id"].map(ms["name"]).astype(str).to_numpy(),
            "base": to_days(ms_rows["due_on"]),
            # lookup, not .map: with no milestone both sides are empty and pandas 3 cannot
            # cast an empty float key column through a datetime mapper.
            "now": to_days(lookup(ms_rows["milestone_id"], ms["due_on"])),
            "taken_at": ms_rows["taken_at"].to_numpy(),
            "item_id": None,
            "moved_at": pd.NaT,
        }
    )
    dates = pd.concat([e, m], ignore_index=True)
    dates["moved_wd"] = ctx.calendar.wd_diff(dates["base"].to_numpy(), dates["now"].to_numpy())
    moved = dates[
        dates["moved_wd"] > ctx.param_of("moved_wd", dates["project_key"]).astype(float)
    ].copy()
    # A version date has no history: the move happened some time up to today.
    as_of_at = pd.Timestamp(ctx.as_of_at)
    moved["moved_at"] = pd.to_datetime(moved["moved_at"], utc=True).fillna(as_of_at)
    crs = approved_crs(items)
    taken = pd.to_datetime(moved["taken_at"], utc=True)
    grace = ctx.param_of("grace_wd", moved["project_key"]).astype(int).to_numpy()
    limit_day = ctx.calendar.add_wd(ctx.local_day(moved["moved_at"]), grace)
    covered = np.zeros(len(moved), dtype=bool)
    if len(crs) and len(moved):
        cr_by_project = crs.groupby("project_key")["decided_at"].agg(list)
        for i, (pk, t0, lim) in enumerate(zip(moved["project_key"], taken, limit_day, strict=True)):
            decided = cr_by_project.get(pk, [])
            covered[i] = any(t0 <= d and ctx.local_day(pd.Series([d]))[0] <= lim for d in decided)
    bad = moved[~covered].sort_values("moved_wd", ascending=False)
    bad = bad.assign(label=bad["what"] + " +" + bad["moved_wd"].astype(int).astype(str) + " wd")
    res = pd.DataFrame(index=ctx.projects)
    res["n"] = count_by_project(bad, ctx.projects)
    res["failed"] = res["n"] > 0
    res["value"] = bad.groupby("project_key")["moved_wd"].max().reindex(ctx.projects)
    res["threshold"] = ctx.param("moved_wd")
    has_bl = count_by_project(latest, ctx.projects) > 0
    res["ne"] = np.where(~has_bl, "no baseline", None)
    labels = keys_by_project(bad, "label", 10).reindex(ctx.projects)
    res["evidence"] = [{"moved": v} if isinstance(v, list) else {} for v in labels]
    res["message"] = [
        ("Submit a CR: " + ", ".join(v)) if isinstance(v, list) else "" for v in labels
    ]
    res["message_zh"] = [
        ("请提交变更申请:" + ", ".join(v)) if isinstance(v, list) else "" for v in labels
    ]
    return ctx.project_outcomes(res)


@rule(
    "CHG-002",
    title_en="Scope change without approved CR",
    title_zh="未经批准变更而扩大范围",
    severity="high",
    scope="project",
    basis="004 §2.4 “有重大影响的变更…提交正式的变更申请”",
    basis_seed="004",
    check="net additions (items or estimate) since the baseline > 10 % of BAC with no CR "
    "approved since the baseline (high); sprint variant (medium): > 20 % of the points "
    "committed at a current sprint's start added to it after the start (Sprint field "
    "history)",
    fix_en="Submit a CR for the added scope (additions listed).",
    fix_zh="为新增范围提交变更申请(列出新增事项)。",
    defaults={"share": 0.10, "sprint_share": 0.20, "sprint_recent_days": 14},
    needs={
        "baselines": (
            "project_key",
            "taken_at",
            "subject_kind",
            "work_item_id",
            "story_points",
            "original_estimate_h",
        ),
        "work_items": (
            "id",
            "project_key",
            "key",
            "is_leaf",
            "status_category",
            "created_at",
            "story_points",
            "original_estimate_h",
            "kind",
            "ccb_decision",
            "resolved_at",
            "updated_at",
        ),
    },
    optional={
        "work_items": ("iteration_ids",),
        "iterations": (
            "external_id",
            "source",
            "project_key",
            "name",
            "state",
            "start_at",
            "end_at",
        ),
        "status_changes": ("work_item_id", "field", "from_value", "to_value", "changed_at"),
    },
)
def chg_002(ctx: RuleContext) -> Outcomes:
    items = ctx.frame("work_items")
    latest = _latest(ctx)
    rows = latest[latest["subject_kind"] == "work_item"]
    taken = latest.groupby("project_key")["taken_at"].max()
    cov = rows["original_estimate_h"].notna().groupby(rows["project_key"]).mean()
    hours = cov >= 0.8
    base_est = np.where(
        by_project(rows["project_key"], hours).eq(True),
        rows["original_estimate_h"],
        rows["story_points"],
    ).astype(float)
    has_est = pd.Series(~np.isnan(base_est), index=rows.index).groupby(rows["project_key"]).any()
    bac = pd.Series(np.nan_to_num(base_est), index=rows.index).groupby(rows["project_key"]).sum()
    count = rows.groupby("project_key").size()
    leaf = items[items["is_leaf"].astype(bool) & (items["status_category"] != "cancelled")]
    added = leaf[
        ~leaf["id"].isin(rows["work_item_id"])
        & (
            pd.to_datetime(leaf["created_at"], utc=True)
            > pd.to_datetime(by_project(leaf["project_key"], taken), utc=True)
        )
    ]
    add_est = np.where(
        by_project(added["project_key"], hours).eq(True),
        added["original_estimate_h"],
        added["story_points"],
    ).astype(float)
    by_est = (
        pd.Series(np.nan_to_num(add_est), index=added.index).groupby(added["project_key"]).sum()
    )
    by_count = added.groupby("project_key").size()
    use_est = has_est.reindex(ctx.projects).eq(True)
    share = pd.Series(
        np.where(
            use_est,
            by_est.reindex(ctx.projects).fillna(0)
            / bac.reindex(ctx.projects).where(bac.reindex(ctx.projects) > 0),
            by_count.reindex(ctx.projects).fillna(0) / count.reindex(ctx.projects),
        ),
        index=ctx.projects,
    )
    crs = approved_crs(items)
    cr_after = (
        crs[crs["decided_at"] > pd.to_datetime(by_project(crs["project_key"], taken), utc=True)]
        .groupby("project_key")
        .size()
    )
    res = pd.DataFrame(index=ctx.projects)
    res["value"] = share
    res["threshold"] = ctx.param("share")
    scope_fail = (share > res["threshold"]) & (cr_after.reindex(ctx.projects).fillna(0) == 0)
    creep = sprint_creep(ctx)
    worst = creep.sort_values("share").groupby("project_key").tail(1).set_index("project_key")
    worst = worst.reindex(ctx.projects)
    sprint_fail = worst["share"].notna()
    no_baseline = count.reindex(ctx.projects).isna()
    res["failed"] = scope_fail | sprint_fail
    # A finding in the sprint variant stands without a baseline; a pass needs both.
    res["ne"] = np.where(no_baseline & ~sprint_fail, "no baseline", None)
    res["severity"] = np.where(scope_fail, "high", "medium")
    res["value"] = res["value"].where(scope_fail | ~sprint_fail, worst["share"])
    res["threshold"] = res["threshold"].where(scope_fail | ~sprint_fail, ctx.param("sprint_share"))
    res["keys"] = keys_by_project(added).reindex(ctx.projects)
    res["keys"] = res["keys"].where(scope_fail | ~sprint_fail, worst["keys"])
    res["evidence"] = [
        {"sprint": n, "sprint_added_share": round(float(v), 3)} if isinstance(n, str) else {}
        for n, v in zip(worst["name"], worst["share"], strict=True)
    ]
    sprint_en = [
        f"{v:.0%} of sprint {n}'s committed points added after its start"
        if isinstance(n, str)
        else ""
        for n, v in zip(worst["name"], worst["share"].fillna(0), strict=True)
    ]
    sprint_zh = [
        f"冲刺 {n} 开始后新增承诺点数的 {v:.0%}" if isinstance(n, str) else ""
        for n, v in zip(worst["name"], worst["share"].fillna(0), strict=True)
    ]
    res["message"] = [
        "; ".join(
            p
            for p in (
                f"{v:.0%} scope added since the baseline without an approved CR" if f else "",
                sp,
            )
            if p
        )
        for v, f, sp in zip(share.fillna(0), scope_fail, sprint_en, strict=True)
    ]
    res["message_zh"] = [
        ";".join(p for p in (f"基准后新增范围 {v:.0%},无批准的变更申请" if f else "", sp) if p)
        for v, f, sp in zip(share.fillna(0), scope_fail, sprint_zh, strict=True)
    ]
    return ctx.project_outcomes(res)


def _where(frame: pd.DataFrame, flags: Iterable[bool]) -> pd.DataFrame:
    """The rows of ``frame`` where ``flags`` is true. A bool array, never a list: ``frame[[]]``
    selects no *columns*, so an empty frame lost its columns (KeyError) when, say, nothing
    ever left a sprint in the window."""
    return frame[np.fromiter(flags, dtype=bool, count=len(frame))]


def sprint_creep(ctx: RuleContext) -> pd.DataFrame:
    """Sprints (current, or ended within ``sprint_recent_days``) whose points added after
    the start exceed ``sprint_share`` of the points committed at the start. Committed =
    items in the sprint now that were not added after the start, plus items removed after
    the start. One row per failing sprint: ``project_key, name, share, keys``."""
    empty = pd.DataFrame(columns=["project_key", "name", "share", "keys"])
    items, its = ctx.frames.get("work_items"), ctx.frames.get("iterations")
    sc = ctx.frames.get("status_changes")
    if (
        its is None
        or sc is None
        or items is None
        or "iteration_ids" not in items.columns
        or "from_value" not in sc.columns
        or len(its) == 0
    ):
        return empty
    g = ctx.global_params
    # The end of the local as-of day, as in every other rule (was UTC midnight: a sprint
    # starting early next morning in Shanghai counted as started).
    as_of_at = pd.Timestamp(ctx.as_of_at)
    recent = as_of_at - pd.Timedelta(days=float(g.get("sprint_recent_days", 14)))
    start = pd.to_datetime(its["start_at"], utc=True)
    end = pd.to_datetime(its["end_at"], utc=True)
    keep = (
        (start <= as_of_at)
        & ((its["state"].astype(str) == "active") | (end >= recent))
        & its["project_key"].notna()
    )
    # start[keep], not start: assigning a longer Series to an empty frame re-indexes it into
    # all-NaN rows (pandas), which crashed the rule when no sprint was in the window.
    its = its[keep].assign(start_at=start[keep])
    if its.empty:
        return empty
    sprint_ids = set(its["external_id"].astype(str))
    # Sprint field history: comma-separated sprint ids before and after each change.
    ch = sc[sc["field"].astype(str).str.lower() == "sprint"]
    if ch.empty:  # no Sprint field history (a tracker without it, or none yet)
        return empty

    def ids(col: pd.Series) -> pd.Series:
        return col.astype(object).fillna("").astype(str).str.split(r"\s*,\s*")

    moves = []
    for col_in, col_out, kind in (
        ("to_value", "from_value", "added"),
        ("from_value", "to_value", "removed"),
    ):
        x = ch.assign(sid=ids(ch[col_in]), other=ids(ch[col_out])).explode("sid")
        x = x[x["sid"].isin(sprint_ids)]
        x = _where(x, (s not in o for s, o in zip(x["sid"], x["other"], strict=True)))
        moves.append(x[["work_item_id", "sid", "changed_at"]].assign(kind=kind))
    mv = pd.concat(moves, ignore_index=True)
    mv = mv.merge(
        its[["external_id", "start_at"]].astype({"external_id": str}),
        left_on="sid",
        right_on="external_id",
    )
    mv = mv[pd.to_datetime(mv["changed_at"], utc=True) > mv["start_at"]]
    pts = items.set_index("id")["story_points"].astype(float)
    keys = items.set_index("id")["key"]
    member = items[["id", "iteration_ids"]].explode("iteration_ids").dropna()
    member = member[member["iteration_ids"].astype(str).isin(sprint_ids)]
    member = member.assign(sid=member["iteration_ids"].astype(str))
    added = mv[mv["kind"] == "added"].drop_duplicates(["work_item_id", "sid"])
    removed = mv[mv["kind"] == "removed"].drop_duplicates(["work_item_id", "sid"])
    # Added then removed again: neither committed nor (any longer) added.
    added_pairs = set(zip(added["work_item_id"], added["sid"], strict=True))
    removed = _where(
        removed,
        (
            (i, s) not in added_pairs
            for i, s in zip(removed["work_item_id"], removed["sid"], strict=True)
        ),
    )
    now_pairs = set(zip(member["id"], member["sid"], strict=True))
    added = _where(
        added,
        ((i, s) in now_pairs for i, s in zip(added["work_item_id"], added["sid"], strict=True)),
    )
    committed_rows = pd.concat(
        [
            _where(
                member,
                (
                    (i, s) not in added_pairs
                    for i, s in zip(member["id"], member["sid"], strict=True)
                ),
            )[["id", "sid"]],
            removed.rename(columns={"work_item_id": "id"})[["id", "sid"]],
        ]
    )
    committed = (
        committed_rows.assign(p=lookup(committed_rows["id"], pts).fillna(0.0))
        .groupby("sid")["p"]
        .sum()
    )
    add = added.assign(p=lookup(added["work_item_id"], pts).fillna(0.0))
    add_pts = add.groupby("sid")["p"].sum()
    meta = its.astype({"external_id": str}).set_index("external_id")
    out = pd.DataFrame({"committed": committed, "added": add_pts}).fillna(0.0)
    out = out[out["committed"] > 0]
    out["share"] = out["added"] / out["committed"]
    limit = ctx.param_of("sprint_share", pd.Series(meta["project_key"].reindex(out.index)))
    out = out[out["share"].to_numpy() > limit.astype(float).to_numpy()]
    if out.empty:
        return empty
    add_keys = (
        add.assign(k=lookup(add["work_item_id"], keys))
        .groupby("sid")["k"]
        .agg(lambda v: [str(k) for k in v])
    )
    return pd.DataFrame(
        {
            "project_key": meta["project_key"].reindex(out.index).to_numpy(),
            "name": meta["name"].reindex(out.index).astype(str).to_numpy(),
            "share": out["share"].to_numpy(),
            "keys": add_keys.reindex(out.index).to_numpy(),
        }
    )
