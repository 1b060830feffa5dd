"""Baselines: trackers keep none, so pmohub writes ``baselines`` rows (estimate, start,
due per item, each version's date, and the project's end) at plan approval, at each
approved CR and on ``pmohub baseline take``.

When none was taken, :func:`reconstruct_baseline` rebuilds one as of plan approval from the
changelog: an item's value at time t is the ``from_value`` of its first change after t,
else its current value; items created after t are not in it. Version dates have no
history in Jira (docs/metrics.md: they come from nightly snapshot diffs), so milestones use their
current dates and the row is flagged ``reconstructed``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select

from pmohub.aggregator.config.settings import hierarchy_frame, hierarchy_keys
from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.revisions import bump_revision
from pmohub.connectors.errors import PmohubError
from pmohub.rules.frames import kind_map, to_kinds

# Changelog field names (connectors/jira/mapping.py) -> baseline column, with a converter.
HISTORY_FIELDS: dict[str, tuple[str, Any]] = {
    "duedate": ("due_on", lambda v: pd.to_datetime(v, errors="coerce")),
    "start_date": ("start_on", lambda v: pd.to_datetime(v, errors="coerce")),
    "story_points": ("story_points", lambda v: pd.to_numeric(v, errors="coerce")),
    "timeoriginalestimate": (
        "original_estimate_h",
        lambda v: pd.to_numeric(v, errors="coerce") / 3600.0,
    ),
}
ITEM_COLUMNS = ("story_points", "original_estimate_h", "start_on", "due_on")


class BaselineError(PmohubError):
    """The project is unknown, or there is nothing to baseline."""


def _project_items(
    engine: Engine, config: Any, project_key: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    hier = hierarchy_frame(config)
    if project_key not in set(hier["project_key"]):
        known = ", ".join(sorted(hier["project_key"])) or "none"
        raise BaselineError(f"no project {project_key!r} in the hierarchy (known: {known})")
    t = m.WorkItem.__table__
    cols = ["id", "source", "project_key", "type", "created_at", *ITEM_COLUMNS]
    with engine.connect() as conn:
        rows = conn.execute(select(*[t.c[c] for c in cols]).where(t.c.deleted_at.is_(None)))
        items = pd.DataFrame(rows.fetchall(), columns=cols)
    items = items.rename(columns={"project_key": "tracker_project_key"})
    items["project_key"] = hierarchy_keys(items, hier)
    kinds = kind_map(
        {n: dict(getattr(s, "issue_types", {}) or {}) for n, s in (config.sources or {}).items()}
    )
    items["kind"] = to_kinds(items["type"], kinds)
    items = items[
        (items["project_key"] == project_key) & items["kind"].isin(["work", "bug", "epic"])
    ]
    node = hier.set_index("project_key").loc[project_key]
    return items, node.to_frame().T


def _milestones(engine: Engine, items: pd.DataFrame, config: Any, project_key: str) -> pd.DataFrame:
    hier = hierarchy_frame(config)
    tracker_keys = set(hier.set_index("project_key").loc[project_key, "tracker_keys"])
    p, ms = m.Project.__table__, m.Milestone.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(ms.c.id, ms.c.start_on, ms.c.due_on)
            .join(p, p.c.id == ms.c.project_id)
            .where(p.c.key.in_(sorted(tracker_keys)), ms.c.deleted_at.is_(None))
        )
        return pd.DataFrame(rows.fetchall(), columns=["id", "start_on", "due_on"])


def _write(
    engine: Engine,
    project_key: str,
    label: str,
    taken_at: dt.datetime,
    items: pd.DataFrame,
    milestones: pd.DataFrame,
    project_end: Any,
    project_start: Any,
    reconstructed: bool,
) -> int:
    rows: list[dict[str, Any]] = []
    # executemany needs the same keys in every row.
    base = {
        "project_key": project_key,
        "label": label,
        "taken_at": taken_at,
        "reconstructed": reconstructed,
        "work_item_id": None,
        "milestone_id": None,
        "story_points": None,
        "original_estimate_h": None,
    }

    def clean(v: Any) -> Any:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        if isinstance(v, pd.Timestamp):
            return v.date()
        return v

    for r in items.itertuples(index=False):
        rows.append(
            {
                **base,
                "subject_kind": "work_item",
                "work_item_id": int(r.id),
                "story_points": clean(r.story_points),
                "original_estimate_h": clean(r.original_estimate_h),
                "start_on": clean(pd.Timestamp(r.start_on) if clean(r.start_on) else None),
                "due_on": clean(pd.Timestamp(r.due_on) if clean(r.due_on) else None),
            }
        )
    for r in milestones.itertuples(index=False):
        rows.append(
            {
                **base,
                "subject_kind": "milestone",
                "milestone_id": int(r.id),
                "start_on": clean(r.start_on),
                "due_on": clean(r.due_on),
            }
        )
    rows.append(
        {
            **base,
            "subject_kind": "project",
            "start_on": clean(project_start),
            "due_on": clean(project_end),
        }
    )
    with engine.begin() as conn:
        conn.execute(insert(m.Baseline.__table__), rows)
        bump_revision(conn, "baselines")
    return len(rows)


def _ends(items: pd.DataFrame, milestones: pd.DataFrame, node: pd.DataFrame) -> tuple[Any, Any]:
    end = node["planned_end"].iloc[0]
    start = node["planned_start"].iloc[0]
    dues = pd.concat([pd.to_datetime(items["due_on"]), pd.to_datetime(milestones["due_on"])])
    starts = pd.to_datetime(items["start_on"])
    if end is None or pd.isna(end):
        end = dues.max()
    if start is None or pd.isna(start):
        start = starts.min()
    return start, end


def take_baseline(
    engine: Engine,
    config: Any,
    project_key: str,
    label: str = "manual",
    *,
    taken_at: dt.datetime | None = None,
) -> int:
    """Snapshot the project's current plan; returns the number of rows written."""
    taken_at = taken_at or dt.datetime.now(dt.UTC)
    items, node = _project_items(engine, config, project_key)
    ms = _milestones(engine, items, config, project_key)
    start, end = _ends(items, ms, node)
    return _write(engine, project_key, label, taken_at, items, ms, end, start, False)


def reconstruct_baseline(
    engine: Engine,
    config: Any,
    project_key: str,
    at: dt.datetime,
    label: str = "plan-approved",
) -> int:
    """Rebuild the plan as of ``at`` from the changelog (see the module docstring)."""
    items, node = _project_items(engine, config, project_key)
    created = pd.to_datetime(items["created_at"], utc=True)
    items = items[created.isna() | (created <= pd.Timestamp(at))].copy()
    sc = m.StatusChange.__table__
    with engine.connect() as conn:
        rows = conn.execute(
            select(sc.c.work_item_id, sc.c.field, sc.c.from_value, sc.c.changed_at).where(
                sc.c.field.in_(sorted(HISTORY_FIELDS)),
                sc.c.changed_at > at,
                sc.c.work_item_id.in_([int(i) for i in items["id"]]),
                sc.c.deleted_at.is_(None),
            )
        )
        ch = pd.DataFrame(
            rows.fetchall(), columns=["work_item_id", "field", "from_value", "changed_at"]
        )
    if len(ch):
        first = (
            ch.sort_values("changed_at").groupby(["work_item_id", "field"]).first()["from_value"]
        )
        for fname, (column, convert) in HISTORY_FIELDS.items():
            if fname not in first.index.get_level_values(1):
                continue
            before = first.xs(fname, level=1)
            mask = items["id"].isin(before.index)
            old = convert(items.loc[mask, "id"].map(before))
            if column in ("start_on", "due_on"):
                items[column] = pd.to_datetime(items[column])
            items.loc[mask, column] = old.to_numpy()
    ms = _milestones(engine, items, config, project_key)
    start, end = _ends(items, ms, node)
    return _write(engine, project_key, label, at, items, ms, end, start, True)


def has_baseline(engine: Engine, project_key: str) -> bool:
    b = m.Baseline.__table__
    with engine.connect() as conn:
        return (
            conn.execute(select(b.c.id).where(b.c.project_key == project_key).limit(1)).first()
            is not None
        )


#: ``WorkItem.extra`` keys of a baseline kept by the plan itself (MS Project Baseline 0,
#: see connectors/msproject/mapping.py).
PLAN_BASELINE_KEYS = ("baseline_start_on", "baseline_due_on", "baseline_work_h")


def import_plan_baselines(
    engine: Engine,
    config: Any,
    project_key: str,
    label: str = "plan-baseline",
    *,
    taken_at: dt.datetime | None = None,
) -> int:
    """Write the baseline a plan file carries (MS Project Baseline 0, synced into
    ``work_items.extra``) as a ``baselines`` snapshot; items without one are left out.
    Returns the number of rows written; ``BaselineError`` when no item has a baseline."""
    taken_at = taken_at or dt.datetime.now(dt.UTC)
    items, node = _project_items(engine, config, project_key)
    t = m.WorkItem.__table__
    ids = [int(i) for i in items["id"]]
    with engine.connect() as conn:
        extras = dict(conn.execute(select(t.c.id, t.c.extra).where(t.c.id.in_(ids))).all())
    planned = {
        i: e
        for i, e in extras.items()
        if isinstance(e, dict) and any(k in e for k in PLAN_BASELINE_KEYS)
    }
    if not planned:
        raise BaselineError(f"no work item of {project_key!r} carries a plan baseline")
    items = items[items["id"].isin(list(planned))].copy()
    items["start_on"] = pd.to_datetime(
        items["id"].map(lambda i: planned[i].get("baseline_start_on")), errors="coerce"
    )
    items["due_on"] = pd.to_datetime(
        items["id"].map(lambda i: planned[i].get("baseline_due_on")), errors="coerce"
    )
    items["original_estimate_h"] = pd.to_numeric(
        items["id"].map(lambda i: planned[i].get("baseline_work_h")), errors="coerce"
    )
    ms = _milestones(engine, items, config, project_key)
    start, end = _ends(items, ms, node)
    return _write(engine, project_key, label, taken_at, items, ms, end, start, False)
