"""The frames the rules read, straight from the store.

:func:`load_frames` reads only the columns the enabled rules declare in ``needs`` (plus the
few the loader derives from); :func:`build_registry_frame` joins the config hierarchy with
the registry issues; :func:`person_settings` gives each person's calendar and capacity.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Engine, select

from pmohub.aggregator.config.settings import (
    hierarchy_frame,
    hierarchy_keys,
    tracker_map,
)
from pmohub.aggregator.people import account_index, person_keys
from pmohub.aggregator.store import models as m
from pmohub.rules.engine import Rule
from pmohub.rules.frames import (
    CHARTER_FIELDS,
    EXTRA_FIELDS,
    PHASES,
    REPORT_TITLE_TAGS,
    compact,
    kind_map,
    map_categories,
    phase_rank,
    status_categories,
    to_kinds,
    to_phase,
    with_report_fallback,
)

ITEM_BASE = (
    "id",
    "source",
    "external_id",
    "key",
    "project_key",
    "type",
    "status",
    "status_category",
)


def needed_columns(rules: Iterable[Rule]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in rules:
        for frame, cols in [*r.meta.needs.items(), *r.meta.optional.items()]:
            out.setdefault(frame, set()).update(cols)
    return out


def _read(engine: Engine, table: Any, columns: Iterable[str]) -> pd.DataFrame:
    """Selected columns of live rows as a DataFrame, through the driver's own cursor.

    SQLAlchemy's per-value result processing (JSON decode, aware-UTC datetimes, SQLite
    date parsing) costs more than the query on a million rows, so the compiled SELECT runs
    on the DBAPI cursor and the columns are converted vectorised afterwards: datetimes with
    ``pandas.to_datetime(utc=True)``, dates to ``datetime64``, JSON only where not empty.
    Rows are fetched, framed and converted :data:`READ_CHUNK` at a time (peak memory).
    """
    cols = [c for c in dict.fromkeys(columns) if c in table.c]
    stmt = select(*[table.c[c] for c in cols])
    if "deleted_at" in table.c:
        stmt = stmt.where(table.c.deleted_at.is_(None))
    compiled = stmt.compile(dialect=engine.dialect)
    params: Any = compiled.params
    if compiled.positional:
        params = tuple(compiled.params[k] for k in compiled.positiontup or ())
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(str(compiled), params)
            chunks = []
            while rows := cursor.fetchmany(READ_CHUNK):
                chunk = pd.DataFrame.from_records(rows, columns=cols, coerce_float=True)
                del rows
                chunks.append(_convert(chunk, table))
        finally:
            cursor.close()
    if not chunks:
        return _convert(pd.DataFrame.from_records([], columns=cols, coerce_float=True), table)
    return _concat_chunks(chunks, cols)


def _convert(frame: pd.DataFrame, table: Any) -> pd.DataFrame:
    """The driver's values as the column types say (in place): aware-UTC datetimes,
    ``datetime64`` dates, decoded JSON, bools."""
    for c in frame.columns:
        col_type = table.c[c].type
        if isinstance(col_type, m.UTCDateTime):
            frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601")
        elif isinstance(col_type, sa.Date):
            frame[c] = pd.to_datetime(frame[c], errors="coerce")
        elif isinstance(col_type, sa.JSON):
            frame[c] = _decode_json(frame[c])
        elif isinstance(col_type, sa.Boolean):
            frame[c] = frame[c].astype("boolean").fillna(False).astype(bool)
    return frame


#: Rows per fetch in :func:`_read`. A whole million-row result as Python tuples costs
#: ~1.5 KB a row (more than the finished frame): fetched and framed a chunk at a time,
#: only one chunk's tuples are alive at once.
READ_CHUNK = 50_000


def _concat_chunks(chunks: list[pd.DataFrame], cols: list[str]) -> pd.DataFrame:
    """The converted chunks as one frame, with the dtypes one read of all rows gives.

    A chunk infers each column from its own rows, so only an all-missing chunk can
    disagree with the others (``object`` None, or ``datetime64[s]`` NaT, where they hold
    numbers, text or ``datetime64[us]``): it takes their dtype; next to integers float64,
    as missing integers are NaN in one read too."""
    if len(chunks) == 1:
        return chunks[0]
    for c in cols:
        typed = {ch[c].dtype for ch in chunks if not ch[c].isna().all()}
        if not typed or all(ch[c].dtype in typed for ch in chunks):
            continue  # equal dtypes, or numbers pd.concat promotes as one read does
        numeric = all(t.kind in "iuf" for t in typed)
        if not numeric and len(typed) > 1:
            continue  # mixed: object either way
        target = np.dtype("float64") if numeric else next(iter(typed))
        for ch in chunks:
            if ch[c].dtype not in typed:  # an all-missing chunk
                ch[c] = ch[c].astype(target)
    return pd.concat(chunks, ignore_index=True)


_EMPTY_JSON = frozenset({"[]", "{}", "null", ""})


def _decode_json(values: pd.Series) -> pd.Series:
    """JSON text (SQLite) -> objects; empty lists/dicts become None (rules treat a missing
    list as empty). Each *distinct* text is decoded once: labels, versions and sprints
    repeat across thousands of items. PostgreSQL hands back decoded objects already."""
    if isinstance(values.dtype, pd.StringDtype) and values.notna().any():
        # pandas' str dtype holds only text or missing: factorize it as it is (missing ->
        # code -1), with no per-value type() call.
        is_text = np.ones(len(values), dtype=bool)
        codes, uniques = pd.factorize(values.astype(object))  # object: ~2x faster
    else:
        out = values.astype(object)
        is_text = out.map(type).eq(str).to_numpy()
        if not is_text.any():
            return out.where(out.map(bool, na_action="ignore").eq(True), None)
        codes, uniques = pd.factorize(out[is_text])
    # np.empty + fill: np.array() of equal-length lists would build a 2-D array.
    decoded = np.empty(len(uniques) + 1, dtype=object)
    decoded[: len(uniques)] = [None if u in _EMPTY_JSON else json.loads(u) for u in uniques]
    result = np.full(len(values), None, dtype=object)
    result[is_text] = decoded[codes]  # code -1 (missing) picks the trailing None
    return pd.Series(result, index=values.index, dtype=object)


def _report_tagged(engine: Engine, ids: pd.Series) -> np.ndarray:
    """Items whose title starts with a report tag (``[周报]``...): asked of the database,
    so a million titles are never read into memory."""
    t = m.WorkItem.__table__
    cond = sa.or_(*[sa.func.lower(t.c.title).like(f"{tag.lower()}%") for tag in REPORT_TITLE_TAGS])
    with engine.connect() as conn:
        hit = {r[0] for r in conn.execute(select(t.c.id).where(cond, t.c.deleted_at.is_(None)))}
    if not hit:
        return np.zeros(len(ids), dtype=bool)
    return ids.isin(hit).to_numpy(dtype=bool)


def _with_implicit_projects(hier: pd.DataFrame, projects: pd.DataFrame) -> pd.DataFrame:
    """The hierarchy with an ``implicit`` flag; with no hierarchy configured yet, every
    tracker project as an (unregistered) project, so a first `pmohub check` shows
    something; REG-001 says they need registering."""
    hier = hier.assign(implicit=False)
    if not (hier.empty and len(projects)):
        return hier
    hier = (
        pd.DataFrame(
            {
                "project_key": projects["key"],
                "name": projects["name"],
                "portfolio": None,
                "programme": None,
                "source": projects["source"],
                "tracker_keys": [[k] for k in projects["key"]],
                "implicit": True,
            }
        )
        .drop_duplicates("project_key")
        .reindex(columns=[*hier.columns])
    )
    hier["implicit"] = True
    return hier


def _status_changes_frame(
    engine: Engine, items: pd.DataFrame, sources: Mapping[str, Any]
) -> pd.DataFrame:
    """Status history with each change's project and source, and the status categories
    (the sources' ``status_map``) of both ends."""
    by_id = items.set_index("id")["project_key"]
    sc = _read(
        engine,
        m.StatusChange.__table__,
        ("work_item_id", "field", "from_value", "to_value", "changed_at"),
    )
    sc["changed_at"] = pd.to_datetime(sc["changed_at"], utc=True)
    sc["project_key"] = sc["work_item_id"].map(by_id)
    sc["source"] = sc["work_item_id"].map(items.set_index("id")["source"])
    smap: dict[str, str] = {}
    for s in sources.values():
        smap.update(dict(getattr(s, "status_map", {}) or {}))
    cats = status_categories(items, smap)
    sc["from_category"] = map_categories(sc["from_value"], cats)
    sc["to_category"] = map_categories(sc["to_value"], cats)
    for c in ("source", "field", "from_value", "to_value", "from_category", "to_category"):
        sc[c] = sc[c].astype("category")
    return sc


def _plan_frames(
    engine: Engine, need: Mapping[str, set[str]], proj_key: pd.Series
) -> dict[str, pd.DataFrame]:
    """Milestones and iterations (those the rules need), keyed to configured projects."""
    frames: dict[str, pd.DataFrame] = {}
    if "milestones" in need:
        ms = _read(
            engine,
            m.Milestone.__table__,
            (
                "id",
                "source",
                "external_id",
                "project_id",
                "name",
                "start_on",
                "due_on",
                "released",
                "released_on",
                "archived",
            ),
        )
        ms["project_key"] = ms["project_id"].map(proj_key)
        for c in ("start_on", "due_on", "released_on"):
            ms[c] = pd.to_datetime(ms[c])
        frames["milestones"] = ms
    if "iterations" in need:
        its = _read(
            engine,
            m.Iteration.__table__,
            (
                "id",
                "source",
                "external_id",
                "project_id",
                "name",
                "state",
                "start_at",
                "end_at",
                "complete_at",
            ),
        )
        its["project_key"] = its["project_id"].map(proj_key)
        frames["iterations"] = its
    return frames


def load_frames(engine: Engine, config: Any, rules: Iterable[Rule]) -> dict[str, pd.DataFrame]:
    """The frames the rules need, read from the store (only the needed columns)."""
    rules = list(rules)
    need = needed_columns(rules)
    wi_cols = set(need.get("work_items", set())) | set(ITEM_BASE) | {"updated_at"}
    extras = [c for c in wi_cols if c in EXTRA_FIELDS and c not in m.WorkItem.__table__.c]
    registry_needed = "registry" in need
    if extras or registry_needed:
        wi_cols.add("extra")
    if registry_needed:
        wi_cols |= {"assignee"}
    wi_cols.add("labels")  # label ``status-report`` marks a report (RPT-001 Gen)
    items = _read(engine, m.WorkItem.__table__, wi_cols | {"created_at"})
    sources = getattr(config, "sources", {}) or {}
    kinds = kind_map({n: dict(getattr(s, "issue_types", {}) or {}) for n, s in sources.items()})
    items["kind"] = with_report_fallback(
        to_kinds(items["type"], kinds), items["labels"], _report_tagged(engine, items["id"])
    )
    items["is_epic"] = items["kind"] == "epic"
    items["is_leaf"] = items["kind"].isin(["work", "bug"])
    items = items.rename(columns={"project_key": "tracker_project_key"})
    hier = hierarchy_frame(config)
    projects = _read(engine, m.Project.__table__, ("id", "source", "key", "name"))
    hier = _with_implicit_projects(hier, projects)
    items["project_key"] = hierarchy_keys(items, hier)
    items["registered"] = items["project_key"].isin(
        set(hier.loc[~hier["implicit"].astype(bool), "project_key"])
    )
    if "extra" in items.columns:
        # Only PMO artefacts (risks, CRs, reports, registry issues) carry extra fields.
        ex = items["extra"].dropna()
        ex = ex[ex.map(lambda e: isinstance(e, dict))]
        flat = pd.DataFrame.from_records(list(ex), index=ex.index) if len(ex) else pd.DataFrame()
        for f in EXTRA_FIELDS:
            items[f] = flat[f].reindex(items.index) if f in flat.columns else None
        items = items.drop(columns=["extra"])
    registry_projects = {getattr(s, "registry_project", None) for s in sources.values()} - {None}
    links = _read(
        engine, m.WorkItemLink.__table__, ("source", "from_external_id", "to_external_id", "kind")
    )
    items["project_key"] = _attribute_pmo_items(items, hier, links)
    items = compact(items)
    frames: dict[str, pd.DataFrame] = {"work_items": items, "links": links}
    by_id = items.set_index("id")["project_key"]
    if "status_changes" in need or registry_needed:
        frames["status_changes"] = _status_changes_frame(engine, items, sources)
    if "worklogs" in need:
        wl = _read(
            engine, m.Worklog.__table__, ("work_item_id", "person_id", "started_at", "seconds")
        )
        wl["started_at"] = pd.to_datetime(wl["started_at"], utc=True)
        wl["project_key"] = wl["work_item_id"].map(by_id)
        frames["worklogs"] = wl
    tracker_to_hier = tracker_map(hier)
    proj_key = pd.Series(
        [
            tracker_to_hier.get((s, k), tracker_to_hier.get((None, k)))
            for s, k in zip(projects["source"], projects["key"], strict=True)
        ],
        index=projects["id"],
        dtype=object,
    )
    frames.update(_plan_frames(engine, need, proj_key))
    if "baselines" in need:
        frames["baselines"] = read_baselines(engine, need["baselines"])
    if "findings" in need:
        # Read before upsert_findings runs: the rules see the previous runs' state.
        fi = _read(
            engine,
            m.Finding.__table__,
            (
                "rule_id",
                "subject",
                "project_key",
                "state",
                "severity",
                "first_seen_at",
                "last_seen_at",
            ),
        )
        frames["findings"] = fi
    people = _read(engine, m.Person.__table__, ("id", "display_name", "email", "active"))
    with engine.connect() as conn:  # findings name people by it: people.id is sync order
        people["key"] = people["id"].map(person_keys(conn))
    frames["people"] = people
    aliases = _read(engine, m.PersonAlias.__table__, ("external_id", "person_id", "active"))
    frames["registry"] = build_registry_frame(
        hier, items, frames.get("status_changes"), people, config, aliases
    )
    frames["_registry_projects"] = pd.DataFrame({"key": sorted(registry_projects)})
    return frames


def read_baselines(engine: Engine, columns: Iterable[str]) -> pd.DataFrame:
    """The baseline columns the rules declare (one row per baselined item: about as many
    rows as work items, so unused columns are not read)."""
    cols = ["project_key", "taken_at", "subject_kind", *sorted(columns)]
    bl = _read(engine, m.Baseline.__table__, cols)
    bl["taken_at"] = pd.to_datetime(bl["taken_at"], utc=True)
    return bl


def _attribute_pmo_items(items: pd.DataFrame, hier: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """Status reports, CRs, actions and lessons live in the PMO project and belong to the
    project whose registry issue they link to (either direction) or are children of."""
    pk = items["project_key"].copy()
    reg = hier.dropna(subset=["registry_issue"])
    if reg.empty:
        return pk
    reg_items = items[items["key"].isin(reg["registry_issue"])]
    reg_ext = pd.Series(
        reg_items["key"].map(reg.set_index("registry_issue")["project_key"]).to_numpy(),
        index=reg_items["source"].astype(str) + "\x1f" + reg_items["external_id"].astype(str),
    )
    reg_by_id = pd.Series(reg_ext.to_numpy(), index=reg_items["id"].to_numpy())
    pk = pk.where(~items["id"].isin(reg_by_id.index), items["id"].map(reg_by_id))
    if "parent_id" in items.columns:
        pk = pk.fillna(items["parent_id"].map(reg_by_id))
    if len(links):
        src = links["source"].astype(str)
        a = (src + "\x1f" + links["from_external_id"].astype(str)).map(reg_ext)
        b = (src + "\x1f" + links["to_external_id"].astype(str)).map(reg_ext)
        other = pd.concat(
            [
                pd.Series(a.to_numpy(), index=src + "\x1f" + links["to_external_id"].astype(str)),
                pd.Series(b.to_numpy(), index=src + "\x1f" + links["from_external_id"].astype(str)),
            ]
        ).dropna()
        other = other[~other.index.duplicated()]
        ext = items["source"].astype(str) + "\x1f" + items["external_id"].astype(str)
        pk = pk.fillna(ext.map(other))
    return pk.astype(object)


def build_registry_frame(
    hier: pd.DataFrame,
    items: pd.DataFrame,
    status_changes: pd.DataFrame | None,
    people: pd.DataFrame,
    config: Any,
    aliases: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per hierarchy project: config fields + its registry issue's status (phase),
    phase timestamps from the changelog, PM and charter fields. A tracker user field holds
    an account id: ``aliases`` (``external_id, person_id, active``) resolve it."""
    reg = hier.copy()
    ri = items[items["key"].isin(reg["registry_issue"].dropna())].drop_duplicates("key")
    ri = ri.set_index("key")
    reg["registry_item_id"] = reg["registry_issue"].map(ri["id"]) if len(ri) else None
    status = (
        reg["registry_issue"].map(ri["status"]) if len(ri) else pd.Series(None, index=reg.index)
    )
    reg["phase"] = to_phase(status.astype(object))
    reg["phase_rank"] = phase_rank(reg["phase"])
    for f in (*CHARTER_FIELDS, "acceptance_record", "final_report", "pm", "subplans"):
        vals = (
            reg["registry_issue"].map(ri[f])
            if len(ri) and f in ri.columns
            else pd.Series(None, index=reg.index)
        )
        if f in reg.columns:
            reg[f] = reg[f].where(reg[f].notna(), vals)
        else:
            reg[f] = vals
    for p in PHASES:
        reg[f"{p}_at"] = pd.Series(pd.NaT, index=reg.index, dtype="datetime64[us, UTC]")
    if status_changes is not None and len(ri):
        sc = status_changes[
            (status_changes["field"] == "status") & status_changes["work_item_id"].isin(ri["id"])
        ]
        sc = sc.assign(phase=to_phase(sc["to_value"]))
        first = sc.dropna(subset=["phase"]).groupby(["work_item_id", "phase"])["changed_at"].min()
        for p in PHASES:
            if p in first.index.get_level_values(1):
                per = first.xs(p, level=1)
                reg[f"{p}_at"] = pd.to_datetime(reg["registry_item_id"].map(per), utc=True)
    active_by_name: dict[str, bool] = {}
    for pc in getattr(config, "people", ()) or ():
        for n in (pc.id, pc.name, pc.email):
            if n:
                active_by_name[str(n)] = bool(pc.active)
    for col in ("display_name", "email"):
        active_by_name.update(
            {str(k): bool(v) for k, v in zip(people[col], people["active"], strict=True) if k}
        )
    if aliases is not None and len(aliases):
        person_active = dict(zip(people["id"], people["active"], strict=True))
        for ext, pid, on in zip(
            aliases["external_id"], aliases["person_id"], aliases["active"], strict=True
        ):
            # The account and the merged person must both be active.
            active_by_name.setdefault(str(ext), bool(on) and bool(person_active.get(pid, True)))
    reg["pm_active"] = reg["pm"].map(lambda v: active_by_name.get(str(v)) if v else None)
    if aliases is not None and len(aliases):
        # Show the person, not the account id, in messages.
        names = dict(zip(people["id"], people["display_name"], strict=True))
        by_ext = {
            str(e): names.get(p)
            for e, p in zip(aliases["external_id"], aliases["person_id"], strict=True)
        }
        reg["pm"] = reg["pm"].map(lambda v: by_ext.get(str(v)) or v if v else v)
    return reg


def project_scope(
    config: Any,
    *,
    portfolio: str | None = None,
    programme: str | None = None,
    project: str | None = None,
) -> list[str] | None:
    if not (portfolio or programme or project):
        return None
    hier = hierarchy_frame(config)
    sel = hier
    if portfolio:
        sel = sel[sel["portfolio"] == portfolio]
    if programme:
        sel = sel[sel["programme"] == programme]
    if project:
        sel = sel[sel["project_key"] == project]
    return list(sel["project_key"])


def person_settings(engine: Engine, config: Any) -> dict[str, dict[int, Any]]:
    """Per-person ``hours_per_day``, ``allocation`` and ``leave`` of the config's
    ``people:``, keyed by the store's person id, matched as the sync merges them
    (:class:`aggregator.people.AccountIndex`)."""
    people_cfg = list(getattr(config, "people", ()) or ())
    if not people_cfg:
        return {"person_hours": {}, "person_allocation": {}, "person_leave": {}}
    index = account_index(engine)
    hours: dict[int, float] = {}
    alloc: dict[int, float] = {}
    leave: dict[int, list[tuple[dt.date, dt.date]]] = {}
    for pc in people_cfg:
        ids = index.config_person_ids(pc)
        if not ids:
            continue
        pid = min(ids)
        if pc.hours_per_day is not None:
            hours[pid] = float(pc.hours_per_day)
        if pc.allocation is not None:
            alloc[pid] = float(pc.allocation)
        if pc.leave:
            leave[pid] = [(a, b) for a, b in pc.leave]
    return {"person_hours": hours, "person_allocation": alloc, "person_leave": leave}


def merged_person_settings(engine: Engine, config: Any) -> dict[str, Any]:
    """:func:`person_settings` keyed by the merged person (RES-001/002 load the person
    ``pmohub load`` loads: accounts a config person's aliases/e-mail merge count as one),
    plus ``person_canonical`` (store person id -> merged id), ``person_calendar`` (merged id
    -> own calendar, resolved as ``pmohub load`` resolves it) and the default allocation."""
    from pmohub.aggregator.status.load import person_calendar_map, read_people

    people, canonical = read_people(engine, config)
    out: dict[str, Any] = {
        k: {canonical.get(pid, pid): v for pid, v in d.items()}
        for k, d in person_settings(engine, config).items()
    }
    out["person_canonical"] = canonical
    out["person_calendar"] = person_calendar_map(people)
    out["allocation"] = (getattr(config, "defaults", {}) or {}).get("allocation", 1.0)
    return out
