"""The status inputs *as of a past date*, reconstructed from the status history.

Status at t = ``to_value`` of the last change before t, else ``from_value`` of the first
change after t, else the current status; items created after t are left out. Item by item
but vectorised; it also serves as the reference the SQL reader
(:func:`~pmohub.aggregator.status.inputs.read_inputs_sql`) is tested against.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import (
    Engine,
    select,
)

from pmohub.aggregator.status.inputs import (
    Inputs,
    bl_t,
    read_findings,
    read_forecasts,
    read_milestones,
    report_frame,
    risk_frame,
    sc_t,
    wi_t,
    wl_t,
)
from pmohub.aggregator.status.settings import (
    FLOW_DAYS,
    LEAF_KINDS,
    Settings,
    kinds_of,
    project_ids,
)
from pmohub.aggregator.status.sprints import (
    empty_sprints,
    id_list,
    read_iterations,
    read_sprint_moves,
    sprint_frame,
)
from pmohub.aggregator.store.reads import query_frame
from pmohub.rules.frames import (
    lookup,
    map_categories,
    status_categories,
)


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
    items, cats, before = _items_as_of(engine, pid, s, t_end)
    groups, est_hist, leaf = _history_groups(items)

    meta, baseline = _history_baseline(engine, items, t_end)

    wl = query_frame(
        engine,
        select(wl_t.c.work_item_id, wl_t.c.seconds).where(
            wl_t.c.deleted_at.is_(None), wl_t.c.started_at < t_end
        ),
        ["work_item_id", "seconds"],
    )
    wl["pk"] = wl["work_item_id"].map(items.set_index("id")["pk"])
    ac_h = wl.groupby("pk")["seconds"].sum().astype(float) / 3600.0

    flow, wip, last_done = _history_flow(leaf, before, cats, t_end)
    risk_items = items[
        (items["kind"] == "risk") & items["status_category"].isin(("todo", "in_progress"))
    ].dropna(subset=["pk"])
    sprints = _history_sprints(engine, items, last_done, t_end)
    return Inputs(
        groups=groups,
        est_hist=est_hist,
        baseline=baseline,
        baseline_meta=meta,
        ac=ac_h,
        flow=flow,
        wip=wip,
        risks=risk_frame(risk_items),
        milestones=read_milestones(engine, pid, t_end, meta),
        findings=read_findings(engine, pid, known_at=t_end),
        forecasts=read_forecasts(engine, as_of),
        sprints=sprints,
        reports=report_frame(
            items[items["kind"] == "status_report"][["pk", "key", "created_at", "extra"]]
        ),
    )


def _items_as_of(
    engine: Engine, pid: pd.Series, s: Settings, t_end: dt.datetime
) -> tuple[pd.DataFrame, dict[str, str], pd.DataFrame]:
    """The live items created before ``t_end`` with their status and category at
    ``t_end``, the status -> category map and the status changes before ``t_end``."""
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
    items = query_frame(
        engine, select(*[wi_t.c[c] for c in cols]).where(wi_t.c.deleted_at.is_(None)), cols
    )
    items["pk"] = items["project_id"].map(pid)
    items["created_at"] = pd.to_datetime(items["created_at"], utc=True)
    items = items[items["created_at"].isna() | (items["created_at"] < t_end)].copy()
    items["kind"] = kinds_of(items["type"], s)
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
    return items, cats, before


def _history_groups(items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Item groups per project (sub-task estimates applied), the estimate histograms and
    the leaf items."""
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
    return groups, est_hist, leaf


def _history_baseline(
    engine: Engine, items: pd.DataFrame, t_end: dt.datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest baseline per project before ``t_end``: headers and grouped leaf items."""
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
    return meta, baseline


def _history_flow(
    leaf: pd.DataFrame, before: pd.DataFrame, cats: dict[str, str], t_end: dt.datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Flow rows (done leaf items), WIP rows and each item's last move to done."""
    done_names = {k for k, v in cats.items() if v == "done"}
    ip_names = {k for k, v in cats.items() if v == "in_progress"}
    b_leaf = before[before["work_item_id"].isin(leaf["id"])]
    first_ip = b_leaf[b_leaf["to_value"].isin(ip_names)].groupby("work_item_id")["changed_at"].min()
    last_done = (
        b_leaf[b_leaf["to_value"].isin(done_names)].groupby("work_item_id")["changed_at"].max()
    )
    lf = leaf[leaf["status_category"].isin(("done", "in_progress"))].copy()
    # lookup() keeps the datetime dtype when a mapping is empty (no history at all).
    lf["first_ip_at"] = pd.to_datetime(lookup(lf["id"], first_ip).astype(object), utc=True)
    resolved = pd.to_datetime(lf["resolved_at"].astype(object), utc=True)
    last = pd.to_datetime(lookup(lf["id"], last_done).astype(object), utc=True)
    lf["done_at"] = last.combine_first(resolved.where(resolved < t_end))
    wip = lf[lf["status_category"] == "in_progress"][["pk", "first_ip_at"]]
    flow = lf[lf["status_category"] == "done"][
        ["pk", "done_at", "first_ip_at", "created_at", "story_points", "time_spent_h"]
    ]
    return flow, wip, last_done


def _history_sprints(
    engine: Engine, items: pd.DataFrame, last_done: pd.Series, t_end: dt.datetime
) -> pd.DataFrame:
    """Sprint rows (:func:`~.sprints.sprint_frame`) of the items as they were at ``t_end``."""
    sprint_moves = read_sprint_moves(engine, t_end)
    in_sprint = items[
        items["kind"].isin(LEAF_KINDS)
        & (items["status_category"] != "cancelled")
        & items["pk"].notna()
        & (
            items["iteration_ids"].map(lambda v: bool(id_list(v)))
            | items["id"].isin(sprint_moves["work_item_id"])
        )
    ]
    sprints = empty_sprints()
    if len(in_sprint):
        done_t = pd.to_datetime(lookup(in_sprint["id"], last_done).astype(object), utc=True)
        res_t = pd.to_datetime(in_sprint["resolved_at"].astype(object), utc=True)
        members = in_sprint[["pk", "id", "iteration_ids", "story_points"]].assign(
            done=(in_sprint["status_category"] == "done").to_numpy(),
            done_at=done_t.combine_first(res_t.where(res_t < t_end)).to_numpy(),
        )
        sprints = sprint_frame(members, read_iterations(engine), sprint_moves, t_end)
    return sprints
