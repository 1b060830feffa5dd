"""The frame contract between the loader (``aggregator.compliance.frames``) and the rules, plus the
pure helpers both sides use to derive columns.

Frames (DataFrames; a rule declares the columns it reads in ``needs``):

``work_items``
    store columns (``id, source, external_id, key, type, status, status_category,
    priority, assignee_id, parent_id, created_at, updated_at, resolved_at, resolution,
    start_on, due_on, story_points, original_estimate_h, remaining_estimate_h,
    time_spent_h, labels, components, milestone_ids, iteration_ids, url``) plus
    ``project_key`` = the *hierarchy* project key, ``kind`` (see :data:`KINDS`),
    ``is_leaf``, ``is_epic`` and the PMO custom fields from ``extra`` flattened by their
    canonical names (``risk_probability``, ``ccb_decision``, ``rag`` ...). Timestamps are
    UTC-aware; ``start_on``/``due_on`` are naive ``datetime64`` days. JSON list columns
    (``labels``, ``milestone_ids``...) hold lists, or None for an empty list (use
    :func:`list_contains` / ``explode``, which treat both alike). The columns in
    :data:`CATEGORY_COLUMNS` are ``category`` dtype (see :func:`compact`).
``status_changes``
    ``work_item_id, project_key, field, from_value, to_value, changed_at`` and, for
    ``field == "status"``, ``from_category``/``to_category`` (see :func:`status_categories`).
``worklogs``       ``work_item_id, project_key, person_id, started_at, seconds``
``milestones``     ``id, source, external_id, project_key, name, due_on, released,
                   released_on, archived``
``iterations``     ``id, source, external_id, project_key, name, state, start_at, end_at``
``links``          ``source, from_external_id, to_external_id, kind``
``registry``       one row per hierarchy project: ``project_key, name, portfolio, programme,
                   source, tracker_keys, registry_issue, registry_item_id, phase,
                   phase_rank, <phase>_at`` for each of :data:`PHASES`, ``pm, pm_active,
                   priority_rank, weight, critical, cadence, exempt`` and the charter
                   fields :data:`CHARTER_FIELDS`.
``baselines``      the ``baselines`` table rows with ``project_key``.
``people``         ``id, display_name, active``.
``findings``       the findings table as it was *before* this run: ``rule_id, subject,
                   project_key, state, severity, first_seen_at, last_seen_at`` (rules that
                   look at persistence over runs, e.g. RES-002; never written by rules).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Canonical kinds of work item (docs/configuration.md ``issue_types``) plus structure kinds.
KINDS: tuple[str, ...] = (
    "registry",
    "risk",
    "issue",
    "change_request",
    "status_report",
    "corrective_action",
    "lessons_learned",
    "bug",
    "epic",
    "subtask",
    "work",
)
DEFAULT_ISSUE_TYPES: dict[str, tuple[str, ...]] = {
    "registry": ("Project", "项目"),
    "risk": ("Risk", "风险"),
    "issue": ("Issue", "问题"),
    "change_request": ("Change Request", "变更申请"),
    "status_report": ("Status Report", "项目周报"),
    "corrective_action": ("Action", "纠正措施"),
    "lessons_learned": ("Lessons Learned", "经验教训"),
    "bug": ("Bug", "缺陷", "Defect"),
    "epic": ("Epic", "史诗"),
    "subtask": ("Sub-task", "Subtask", "子任务", "Sub-Task"),
}
#: Kinds that are delivery work: a *leaf* is delivery work that is neither epic nor sub-task.
LEAF_KINDS = ("work", "bug")
#: Registry workflow phases, in order (docs/metrics.md section 0).
PHASES: tuple[str, ...] = (
    "proposed",
    "approved",
    "planning",
    "plan_approved",
    "execution",
    "closing",
    "closed",
)
PHASE_ALIASES: dict[str, str] = {
    "proposed": "proposed",
    "提议": "proposed",
    "approved": "approved",
    "立项": "approved",
    "planning": "planning",
    "计划": "planning",
    "计划中": "planning",
    "planapproved": "plan_approved",
    "plan approved": "plan_approved",
    "plan_approved": "plan_approved",
    "计划已批准": "plan_approved",
    "execution": "execution",
    "executing": "execution",
    "执行": "execution",
    "执行中": "execution",
    "closing": "closing",
    "收尾": "closing",
    "closed": "closed",
    "已关闭": "closed",
    "关闭": "closed",
}
CHARTER_FIELDS: tuple[str, ...] = (
    "objective",
    "scope",
    "deliverables",
    "assumptions",
    "sponsor",
    "planned_start",
    "planned_end",
    "strategic_fit",
)
#: PMO custom fields the loader flattens out of ``work_items.extra``.
EXTRA_FIELDS: tuple[str, ...] = (
    "risk_probability",
    "risk_impact",
    "risk_response",
    "review_on",
    "escalated_to_pmo",
    "cr_reason",
    "cr_impact",
    "cr_alternatives",
    "ccb_decision",
    "rag",
    "subplans",
    "acceptance_criteria",
    "pm",
    "flagged",
    "report_schedule",
    "report_cost",
    "report_quality",
    "report_risk",
    "report_issues",
    "cause",
    "acceptance_record",
    "final_report",
    # Free text: Jira ``fields: {description: description}``, a spreadsheet ``columns:
    # {description: 描述}``; RPT-002 reads report sections from its markdown headings.
    "description",
    *CHARTER_FIELDS,
)
#: docs/rules.md RPT-001 "Gen": a label or a title tag marks a status report where the
#: tracker has no Status Report type. (Comments are not synced, so a ``[周报]`` *comment*
#: cannot be seen; the tag in the title of an item posted for the week can.)
REPORT_LABEL = "status-report"
REPORT_TITLE_TAGS: tuple[str, ...] = ("[周报]", "[月报]", "[status report]")


def kind_map(issue_types_by_source: Mapping[str, Mapping[str, Any]] | None) -> dict[str, str]:
    """Lower-cased tracker type name -> canonical kind, defaults overlaid by the config."""
    out = {t.lower(): kind for kind, names in DEFAULT_ISSUE_TYPES.items() for t in names}
    for types in (issue_types_by_source or {}).values():
        for kind, names in types.items():
            for t in [names] if isinstance(names, str) else names:
                out[str(t).lower()] = kind
    return out


def to_kinds(types: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Type names -> kind (``work`` when unknown)."""
    return types.astype(str).str.lower().map(dict(mapping)).fillna("work").astype(object)


def with_report_fallback(
    kinds: pd.Series, labels: pd.Series | None, tagged: np.ndarray | None = None
) -> pd.Series:
    """Kinds with items labelled :data:`REPORT_LABEL` (any case) or ``tagged`` (title
    starts with one of :data:`REPORT_TITLE_TAGS`) turned into ``status_report``."""
    hit = np.zeros(len(kinds), dtype=bool)
    if labels is not None:
        hit |= list_contains(labels, REPORT_LABEL)
    if tagged is not None:
        hit |= np.asarray(tagged, dtype=bool)
    if not hit.any():
        return kinds
    out = kinds.astype(object).copy()
    out[hit] = "status_report"
    return out


#: Section headings of a status report (docs/rules.md RPT-002), English and Chinese.
REPORT_HEADINGS: dict[str, tuple[str, ...]] = {
    "report_schedule": ("schedule", "progress", "进度"),
    "report_cost": ("cost", "budget", "effort", "成本", "预算", "工时"),
    "report_quality": ("quality", "质量"),
    "report_risk": ("risk", "risks", "风险"),
    "report_issues": ("issue", "issues", "问题"),
    "rag": ("rag", "status", "状态", "总体状态"),
}
_HEADING = re.compile(r"^\s*(?:#{1,6}\s*|h[1-6]\.\s*)(.+?)\s*#*\s*$")


def report_sections(text: Any) -> dict[str, str]:
    """Markdown (``## 进度``) or Jira wiki (``h2. Risks``) headings of a report body ->
    canonical section -> its text. ``RAG: Green`` on a line of its own also sets ``rag``.
    Per report, not per work item (a project's newest report only)."""
    if not isinstance(text, str) or not text.strip():
        return {}
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            title = re.sub(r"[^\w\s]", " ", m.group(1).lower()).split()
            current = next(
                (k for k, words in REPORT_HEADINGS.items() if any(w in title for w in words)),
                None,
            )
            if current is None:  # Chinese headings have no spaces: substring match
                head = m.group(1)
                current = next(
                    (
                        k
                        for k, words in REPORT_HEADINGS.items()
                        if any(w in head for w in words if not w.isascii())
                    ),
                    None,
                )
            out.setdefault(current or "_", [])
            continue
        rag = re.match(r"^\s*(?:rag|状态)\s*[::]\s*(\S+)", line, re.I)
        if rag:
            out.setdefault("rag", []).append(rag.group(1))
            continue
        if current:
            out.setdefault(current, []).append(line)
    return {k: "\n".join(v).strip() for k, v in out.items() if k != "_"}


def to_phase(status: pd.Series) -> pd.Series:
    """Registry issue status names -> phase (NaN when not a phase name)."""
    key = status.astype(object).where(status.notna(), "").astype(str).str.strip().str.lower()
    return key.map(PHASE_ALIASES)


def phase_rank(phase: pd.Series) -> pd.Series:
    order = {p: i for i, p in enumerate(PHASES)}
    return phase.map(order).astype(float)


def status_categories(work_items: pd.DataFrame, status_map: Mapping[str, str]) -> dict[str, str]:
    """Status name -> category as observed on current items, overlaid by ``status_map``.

    The changelog records status *names*; the category of a name is taken from items now in
    that status (most common), so a history can be read without calling the tracker.
    """
    out: dict[str, str] = {}
    if len(work_items) and {"status", "status_category"} <= set(work_items.columns):
        pairs = (
            work_items.groupby(["status", "status_category"], observed=True)
            .size()
            .reset_index(name="n")
            .sort_values("n")
        )
        out.update(dict(zip(pairs["status"], pairs["status_category"], strict=True)))
    for status, mapped in status_map.items():
        if mapped in ("todo", "in_progress", "done", "cancelled"):
            out[status] = mapped
        elif mapped in ("review", "blocked"):
            out[status] = "in_progress"
    defaults = {"to do": "todo", "open": "todo", "in progress": "in_progress", "done": "done"}
    for name, cat in defaults.items():
        out.setdefault(name, cat)
    return out


def map_categories(values: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Each status's category: ``mapping`` by the exact name, else case-insensitively.

    Worked out once per distinct status and spread by code: status history has millions
    of rows but a few dozen names (a full-length ``str.lower`` was the check's peak)."""
    codes, _ = pd.factorize(values, use_na_sentinel=False)
    _, first = np.unique(codes, return_index=True)  # codes are 0..n-1: one row per name
    names = values.iloc[first]
    lower = {k.lower(): v for k, v in mapping.items()}
    direct = names.map(dict(mapping))
    mapped = direct.fillna(names.astype(str).str.lower().map(lower)).astype(object)
    return pd.Series(mapped.to_numpy()[codes], index=values.index, name=values.name, dtype=object)


def list_contains(series: pd.Series, value: str) -> np.ndarray:
    """Vector test "does the JSON list in each cell contain ``value``" (labels etc.),
    case-insensitive, via ``explode`` (no Python loop per row)."""
    if len(series) == 0:
        return np.zeros(0, dtype=bool)
    s = series.reset_index(drop=True)
    ex = s.explode()
    hit = ex.astype(str).str.lower() == value.lower()
    return hit.groupby(level=0).any().reindex(s.index, fill_value=False).to_numpy(dtype=bool)


def list_contains_any(series: pd.Series, values: set[str] | frozenset[str]) -> np.ndarray:
    """Like :func:`list_contains` for a set of exact (case-sensitive) values."""
    if len(series) == 0:
        return np.zeros(0, dtype=bool)
    s = series.reset_index(drop=True)
    ex = s.explode()
    hit = ex.isin(list(values))
    return hit.groupby(level=0).any().reindex(s.index, fill_value=False).to_numpy(dtype=bool)


def keys_by_project(items: pd.DataFrame, column: str = "key", limit: int = 20) -> pd.Series:
    """Per project, the first ``limit`` values of ``column`` (sort ``items`` first)."""
    if len(items) == 0:
        return pd.Series(dtype=object)
    head = items.groupby("project_key", sort=False).head(limit)
    return head.groupby("project_key", sort=False)[column].agg(list)


def count_by_project(rows: pd.DataFrame, projects: pd.Index) -> pd.Series:
    """Rows of ``rows`` per project, over ``projects`` (0 where a project has none)."""
    return rows.groupby("project_key").size().reindex(projects).fillna(0)


def failing_items_result(bad: pd.DataFrame, projects: pd.Index) -> pd.DataFrame:
    """The usual per-project result of "these items fail": ``n``, ``failed``, ``value``
    (= n) and ``keys`` (the first keys), one row per project in ``projects``."""
    res = pd.DataFrame(index=projects)
    res["n"] = count_by_project(bad, projects)
    res["failed"] = res["n"] > 0
    res["value"] = res["n"]
    res["keys"] = keys_by_project(bad).reindex(projects)
    return res


#: The baseline columns the EVM / earned-schedule rules read (VAR-003..005, RPT-003).
BASELINE_EVM_COLUMNS: tuple[str, ...] = (
    "project_key",
    "taken_at",
    "subject_kind",
    "work_item_id",
    "story_points",
    "original_estimate_h",
    "start_on",
    "due_on",
)


def is_blank(series: pd.Series) -> np.ndarray:
    """True where a value is missing or only whitespace (lists: empty). For small frames
    (registry rows, risks, reports), not the whole work-item table."""
    s = series.astype(object)
    blank = s.isna().to_numpy(dtype=bool)
    as_str = s.where(~blank, "").map(
        lambda v: ("x" if len(v) else "") if isinstance(v, list | tuple | dict) else str(v)
    )
    return blank | (as_str.str.strip() == "").to_numpy(dtype=bool)


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` that keeps the mapping's dtype even when it is empty (pandas
    coerces an empty mapper to float64, which breaks datetime lookups). ``mapping`` must
    have a unique index (a groupby result)."""
    if isinstance(mapping.dtype, pd.DatetimeTZDtype):
        naive = mapping.dt.tz_convert("UTC").dt.tz_localize(None)
        return lookup(keys, naive).dt.tz_localize("UTC")
    k = keys.to_numpy()
    idx = mapping.index
    if (
        len(idx)
        and len(k)
        and idx.dtype.kind in "iu"
        and k.dtype.kind in "iu"
        and idx.min() >= 0
        and k.min() >= 0
        and max(idx.max(), k.max()) < 50_000_000
    ):
        # Work-item ids are dense integers: a positional table beats hashing a million keys.
        size = int(max(idx.max(), k.max())) + 1
        vals = mapping.to_numpy()
        if vals.dtype.kind == "M":
            table = np.full(size, np.datetime64("NaT"), dtype=vals.dtype)
        elif vals.dtype.kind == "f":
            table = np.full(size, np.nan, dtype=vals.dtype)
        else:
            table = np.full(size, None, dtype=object)
        table[idx.to_numpy()] = vals
        out = table[k]
        dtype = mapping.dtype if vals.dtype.kind in "Mf" else None
        return pd.Series(out, index=keys.index, dtype=dtype)
    values = mapping.reindex(k)
    return pd.Series(values.to_numpy(), index=keys.index, dtype=mapping.dtype)


#: Low-cardinality text columns kept as ``category``: comparisons, ``isin`` and groupby
#: then work on small integer codes instead of a million strings.
CATEGORY_COLUMNS: tuple[str, ...] = (
    "project_key",
    "tracker_project_key",
    "source",
    "type",
    "kind",
    "status",
    "status_category",
    "priority",
)


def compact(frame: pd.DataFrame) -> pd.DataFrame:
    """The work-item frame with :data:`CATEGORY_COLUMNS` as ``category`` dtype."""
    # A shallow copy: under copy-on-write (pandas 3) replacing a column copies nothing
    # else, while a deep copy holds two whole frames at once (1M items: the check's peak).
    out = frame.copy(deep=False)
    for c in CATEGORY_COLUMNS:
        if c in out.columns and not isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype("category")
    return out


def by_project(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` for a per-project mapping (thresholds, registry columns).

    ``project_key`` is categorical: mapping its few categories and taking by code is fast,
    and, unlike ``Categorical.map``, the result is a plain column of the mapping's dtype
    (numbers compare, datetimes stay datetimes)."""
    mapping = mapping[~mapping.index.duplicated()]
    if isinstance(keys.dtype, pd.CategoricalDtype):
        values = mapping.reindex(keys.cat.categories)
        codes = keys.cat.codes.to_numpy()
    else:
        values = mapping
        codes = values.index.get_indexer(keys.to_numpy())
    taken = values.array.take(codes, allow_fill=True)
    return pd.Series(taken, index=keys.index)
