"""The rule engine: rule metadata, the registry, the context a rule sees, and outcomes.

Pure: no I/O, no clock. ``aggregator.compliance.run`` loads the frames a run needs from the store
and calls :func:`run_rules`; tests call it with hand-built frames.

Writing a rule
--------------
::

    @rule(
        "VAR-001", title_en="Overdue open work", title_zh="逾期未完成工作",
        severity="medium", scope="project",
        basis="“确保所有任务都按时完成” (all tasks on time)", basis_seed="003",
        check="> 5 % of open leaf items overdue, ...", fix_en="...", fix_zh="...",
        defaults={"overdue_share": 0.05, "max_late_wd": 10},
        needs={"work_items": ("project_key", "due_on", "status_category", "is_leaf")},
    )
    def var_001(ctx: RuleContext) -> Outcomes:
        items = ctx.frame("work_items")
        ...                                      # vectorised: groupby / boolean masks
        return ctx.project_outcomes(result)      # one row per project, see ProjectResult

* ``needs`` names the frames and columns the rule reads. The loader reads only those
  columns; a frame or column that is absent (the source does not provide it) makes the
  rule *not evaluable* for every subject with the reason, before the function runs.
* ``optional`` names columns read when present (never a reason for N/E). A rule's frames
  hold only its ``needs`` and ``optional`` columns, so an undeclared read fails in tests.
* Metrics several rules share (EVM, load) go through ``ctx.memoized(key, compute)`` over
  ``ctx.all_frames``: computed once per run.
* Thresholds: ``defaults`` are the built-in values; ``ctx.param(key)`` is a Series of the
  *effective* value per project (policy precedence applied), aligned on ``project_key``.
* ``as_of`` is injected (``ctx.as_of``); never read the clock.
* Results: :class:`Finding`, :class:`Pass`, :class:`NotEvaluable` per subject. Rules return
  them as one :class:`Outcomes` table (built with ``ctx.project_outcomes`` or
  ``ctx.item_outcomes``), so a million-item check never creates a Python object per item.

Third-party rules register the same way in a module named by the entry-point group
``pmohub.rules`` (the entry point may point at the module, a :class:`Rule`, or a list).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Literal

import numpy as np
import pandas as pd

from pmohub.rules.calendar import WEEKEND_ONLY, WorkCalendar, local_dates
from pmohub.rules.clock import DEFAULT_TZ, as_of_at

log = logging.getLogger("pmohub.rules")

Severity = Literal["high", "medium", "low"]
Scope = Literal["portfolio", "programme", "project", "issue", "person"]
SEVERITY_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3}
FRAMES: tuple[str, ...] = (
    "work_items",
    "status_changes",
    "worklogs",
    "milestones",
    "iterations",
    "links",
    "registry",
    "baselines",
    "people",
    "findings",  # the findings table *before* this run (persistence over runs)
)
ENTRY_POINT_GROUP = "pmohub.rules"
OUTCOME_COLUMNS: tuple[str, ...] = (
    "rule_id",
    "subject",
    "scope",
    "project_key",
    "outcome",  # finding | pass | ne
    "severity",
    "message",
    "message_zh",
    "value",
    "threshold",
    "evidence",  # {"keys": [...], "urls": [...], ...}
    "reason",  # N/E reason
)
MAX_EVIDENCE_KEYS = 20


class RuleError(Exception):
    """A rule definition is wrong (duplicate id, unknown frame, bad severity)."""


class MissingData(Exception):
    """Raised inside a rule: the data it needs is absent; every subject becomes N/E."""


@dataclass(frozen=True)
class RuleMeta:
    id: str
    title_en: str
    title_zh: str
    severity: Severity
    scope: Scope
    basis: str  # the seed quote with its gloss
    basis_seed: str  # the PMO standard document it comes from (rules.reference.BASIS_DOCUMENTS)
    check: str  # the failure condition, in words
    fix_en: str
    fix_zh: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    needs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    version: str = "1"
    #: Columns read when present (never a reason for N/E), e.g. optional custom fields.
    optional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return self.id.split("-")[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title_en": self.title_en,
            "title_zh": self.title_zh,
            "severity": self.severity,
            "scope": self.scope,
            "basis": self.basis,
            "basis_seed": self.basis_seed,
            "check": self.check,
            "fix_en": self.fix_en,
            "fix_zh": self.fix_zh,
            "defaults": dict(self.defaults),
            "needs": {k: list(v) for k, v in self.needs.items()},
            "optional": {k: list(v) for k, v in self.optional.items()},
            "version": self.version,
        }


@dataclass(frozen=True)
class Rule:
    meta: RuleMeta
    func: Callable[[RuleContext], Outcomes]

    @property
    def id(self) -> str:
        return self.meta.id


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule_id: str
    subject: str  # "project:CRM", "issue:jira_main:10023", "person:17", "tracker:jira_main:X"
    scope: str
    project_key: str | None
    severity: str
    message: str
    message_zh: str
    value: float | None
    threshold: float | None
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class Pass:
    rule_id: str
    subject: str
    scope: str
    project_key: str | None


@dataclass(frozen=True)
class NotEvaluable:
    rule_id: str
    subject: str
    scope: str
    project_key: str | None
    reason: str


Result = Finding | Pass | NotEvaluable


class Outcomes:
    """One rule's results as a table (columns :data:`OUTCOME_COLUMNS`)."""

    def __init__(self, frame: pd.DataFrame):
        missing = [c for c in OUTCOME_COLUMNS if c not in frame.columns]
        if missing:
            raise RuleError(f"outcome table lacks {missing}")
        self.frame = frame.loc[:, list(OUTCOME_COLUMNS)].reset_index(drop=True)

    @classmethod
    def empty(cls) -> Outcomes:
        return cls(pd.DataFrame({c: pd.Series(dtype=object) for c in OUTCOME_COLUMNS}))

    def __len__(self) -> int:
        return len(self.frame)

    def results(self) -> list[Result]:
        """As result objects (one Python object per *outcome*, never per work item)."""
        out: list[Result] = []
        for r in self.frame.itertuples(index=False):
            pk = None if _isna(r.project_key) else r.project_key
            if r.outcome == "finding":
                out.append(
                    Finding(
                        r.rule_id,
                        r.subject,
                        r.scope,
                        pk,
                        r.severity,
                        r.message,
                        r.message_zh,
                        _float(r.value),
                        _float(r.threshold),
                        r.evidence if isinstance(r.evidence, Mapping) else {},
                    )
                )
            elif r.outcome == "pass":
                out.append(Pass(r.rule_id, r.subject, r.scope, pk))
            else:
                out.append(NotEvaluable(r.rule_id, r.subject, r.scope, pk, str(r.reason)))
        return out

    def findings(self) -> list[Finding]:
        return [r for r in self.results() if isinstance(r, Finding)]


def _isna(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def _float(v: Any) -> float | None:
    if _isna(v):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


# -- registry ---------------------------------------------------------------------------

_BUILTINS: dict[str, Rule] = {}


def rule(
    id: str,
    *,
    title_en: str,
    title_zh: str,
    severity: Severity,
    scope: Scope,
    basis: str,
    basis_seed: str,
    check: str,
    fix_en: str,
    fix_zh: str,
    defaults: Mapping[str, Any] | None = None,
    needs: Mapping[str, Iterable[str]] | None = None,
    optional: Mapping[str, Iterable[str]] | None = None,
    version: str = "1",
) -> Callable[[Callable[[RuleContext], Outcomes]], Rule]:
    """Register a rule function with its metadata (see the module docstring)."""
    if severity not in SEVERITY_RANK:
        raise RuleError(f"{id}: severity {severity!r} is not high/medium/low")
    bad = [f for f in [*(needs or {}), *(optional or {})] if f not in FRAMES]
    if bad:
        raise RuleError(f"{id}: unknown frame {bad[0]!r} in needs (one of {', '.join(FRAMES)})")
    meta = RuleMeta(
        id=id,
        title_en=title_en,
        title_zh=title_zh,
        severity=severity,
        scope=scope,
        basis=basis,
        basis_seed=basis_seed,
        check=check,
        fix_en=fix_en,
        fix_zh=fix_zh,
        defaults=dict(defaults or {}),
        needs={k: tuple(v) for k, v in (needs or {}).items()},
        optional={k: tuple(v) for k, v in (optional or {}).items()},
        version=version,
    )

    def register(func: Callable[[RuleContext], Outcomes]) -> Rule:
        r = Rule(meta, func)
        if id in _BUILTINS and _BUILTINS[id].func.__qualname__ != func.__qualname__:
            raise RuleError(f"rule id {id} registered twice")
        _BUILTINS[id] = r
        return r

    return register


def load_rules(*, entry_points_too: bool = True) -> dict[str, Rule]:
    """Every rule: the built-in pack plus rules from the ``pmohub.rules`` entry points,
    sorted by id. A plug-in may not replace a built-in id."""
    import_module("pmohub.rules.builtin")
    rules = dict(_BUILTINS)
    if entry_points_too:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            before = set(_BUILTINS)
            obj = ep.load()
            found: list[Rule] = []
            if isinstance(obj, Rule):
                found = [obj]
            elif isinstance(obj, list | tuple):
                found = [o for o in obj if isinstance(o, Rule)]
            found += [_BUILTINS[i] for i in set(_BUILTINS) - before]
            for r in found:
                if r.id in rules and rules[r.id] is not r:
                    raise RuleError(f"entry point {ep.name}: rule id {r.id} already exists")
                rules[r.id] = r
    return dict(sorted(rules.items(), key=lambda kv: _id_sort_key(kv[0])))


def _id_sort_key(rule_id: str) -> tuple[int, str, str]:
    order = ["REG", "PLAN", "RPT", "VAR", "RISK", "CHG", "RES", "QUA", "CLO", "DATA"]
    group = rule_id.split("-")[0]
    return (order.index(group) if group in order else len(order), group, rule_id)


# -- context ----------------------------------------------------------------------------


@dataclass
class RuleContext:
    """Everything a rule may look at. Frames are already limited to the projects the rule
    is enabled for; ``params`` holds the effective thresholds per project."""

    rule: RuleMeta
    as_of: dt.date
    frames: Mapping[str, pd.DataFrame]
    params: pd.DataFrame  # index project_key, one column per threshold key
    global_params: Mapping[str, Any]  # rules: > defaults, for portfolio-scope rules
    projects: pd.Index  # project keys in scope for this rule
    calendar: WorkCalendar = WEEKEND_ONLY
    timezone: str = DEFAULT_TZ
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: The unscoped frames of the run (all projects, all columns): for memoised metrics.
    all_frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    memo: dict[Any, Any] = field(default_factory=dict)  # shared by the rules of one run

    def memoized(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A metric shared by several rules (EVM, load...), computed once per run.
        ``compute`` must depend only on ``all_frames`` and ``key`` (not on thresholds)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def frame(self, name: str) -> pd.DataFrame:
        if name not in self.frames or self.frames[name] is None:
            raise MissingData(f"no {name.replace('_', ' ')} data")
        return self.frames[name]

    def param(self, key: str) -> pd.Series:
        if key not in self.params.columns:
            raise RuleError(f"{self.rule.id}: threshold {key!r} not declared in defaults")
        return self.params[key]

    def param_of(self, key: str, project_keys: pd.Series) -> pd.Series:
        """The effective threshold of each row's project (rows of any frame)."""
        from pmohub.rules.frames import by_project

        return by_project(project_keys, self.param(key))

    # dates -----------------------------------------------------------------------------
    @property
    def as_of_day(self) -> np.datetime64:
        return np.datetime64(self.as_of, "D")

    @property
    def as_of_at(self) -> dt.datetime:
        """The as-of instant (UTC): 00:00 local of the day after ``as_of``, the nightly cut-off
        that ends the as-of day. Rules compare timestamps with this, never with a UTC midnight
        of their own (8 hours off in Shanghai)."""
        return as_of_at(self.as_of + dt.timedelta(days=1), self.timezone)

    def local_day(self, timestamps: pd.Series) -> np.ndarray:
        """UTC timestamps -> local calendar day in the policy time zone."""
        return local_dates(timestamps, self.timezone)

    def wd_until_today(self, days: Any) -> np.ndarray:
        """Working days from each day to ``as_of`` (positive = in the past)."""
        return self.calendar.wd_diff(days, self.as_of_day)

    # outcome builders -------------------------------------------------------------------
    def project_outcomes(self, result: pd.DataFrame) -> Outcomes:
        """Build outcomes from one row per project (index ``project_key``).

        Columns: ``failed`` (bool), ``ne`` (reason or None/NA), optional ``value``,
        ``threshold``, ``severity``, ``message``, ``message_zh``, ``keys``, ``urls``,
        ``evidence`` (dict). Projects in scope without a row are N/E ("no data").
        """
        res = result.reindex(self.projects)
        if "ne" not in res.columns:
            res["ne"] = None
        failed = res["failed"] if "failed" in res.columns else pd.Series(False, index=res.index)
        missing_row = ~res.index.isin(result.index)
        ne = res["ne"].astype(object).where(~missing_row, "no data for this project")
        return self._outcomes(
            res,
            subjects=("project:" + res.index.astype(str)).to_numpy(),
            project_keys=res.index.to_numpy(),
            failed=failed.eq(True).to_numpy(),
            ne=ne,
            scope="project",
        )

    def item_outcomes(
        self,
        items: pd.DataFrame,
        project_result: pd.DataFrame | None = None,
    ) -> Outcomes:
        """Per-item findings plus per-project pass/N/E.

        ``items``: the *failing* items only, with ``subject``, ``project_key``, ``message``,
        ``message_zh``, optional ``severity``, ``value``, ``threshold``, ``keys``, ``urls``.
        ``project_result``: rows with ``ne`` for projects that could not be evaluated;
        every other project in scope without a failing item passes.
        """
        items = items.copy()
        items["failed"] = True
        findings = self._outcomes(
            items,
            subjects=items["subject"].to_numpy(),
            project_keys=items["project_key"].to_numpy(),
            failed=np.ones(len(items), dtype=bool),
            ne=pd.Series([None] * len(items), index=items.index, dtype=object),
            scope=self.rule.scope,
        )
        pr = pd.DataFrame(index=self.projects)
        pr["ne"] = None
        if project_result is not None and "ne" in project_result.columns:
            pr["ne"] = project_result["ne"].reindex(pr.index).astype(object)
        failing_projects = set(items["project_key"].dropna())
        pr = pr[~pr.index.isin(failing_projects) | pr["ne"].notna()]
        pr = pr[~(pr.index.isin(failing_projects) & pr["ne"].notna())]
        rest = self._outcomes(
            pr,
            subjects=("project:" + pr.index.astype(str)).to_numpy(),
            project_keys=pr.index.to_numpy(),
            failed=np.zeros(len(pr), dtype=bool),
            ne=pr["ne"],
            scope="project",
        )
        return Outcomes(pd.concat([findings.frame, rest.frame], ignore_index=True))

    def subject_outcomes(self, result: pd.DataFrame) -> Outcomes:
        """Outcomes for arbitrary subjects (portfolio / person / tracker project): columns
        ``subject``, ``project_key`` (may be None), ``failed``, ``ne`` and the optional ones."""
        if "ne" not in result.columns:
            result = result.assign(ne=None)
        return self._outcomes(
            result,
            subjects=result["subject"].to_numpy(),
            project_keys=result["project_key"].to_numpy()
            if "project_key" in result.columns
            else np.array([None] * len(result), dtype=object),
            failed=result["failed"].eq(True).to_numpy(),
            ne=result["ne"].astype(object),
            scope=self.rule.scope,
        )

    def _outcomes(
        self,
        res: pd.DataFrame,
        *,
        subjects: np.ndarray,
        project_keys: np.ndarray,
        failed: np.ndarray,
        ne: pd.Series,
        scope: str,
    ) -> Outcomes:
        n = len(res)
        ne_arr = ne.to_numpy(dtype=object)
        is_ne = np.array([x is not None and not _isna(x) for x in ne_arr], dtype=bool)
        outcome = np.where(is_ne, "ne", np.where(failed, "finding", "pass"))

        def col(name: str, default: Any) -> np.ndarray:
            if name in res.columns:
                return res[name].to_numpy(dtype=object)
            return np.array([default] * n, dtype=object)

        evidence = col("evidence", None)
        keys, urls = col("keys", None), col("urls", None)
        ev = np.empty(n, dtype=object)
        for i in np.flatnonzero(outcome == "finding"):
            e = dict(evidence[i]) if isinstance(evidence[i], Mapping) else {}
            if isinstance(keys[i], list | tuple | np.ndarray) and len(keys[i]):
                e.setdefault("keys", [str(k) for k in list(keys[i])[:MAX_EVIDENCE_KEYS]])
                e.setdefault("count", len(keys[i]))
            if isinstance(urls[i], list | tuple | np.ndarray) and len(urls[i]):
                e.setdefault("urls", [str(u) for u in list(urls[i])[:MAX_EVIDENCE_KEYS] if u])
            ev[i] = e
        frame = pd.DataFrame(
            {
                "rule_id": self.rule.id,
                "subject": subjects.astype(object),
                "scope": np.where(outcome == "finding", scope, "project")
                if scope != "project"
                else scope,
                "project_key": project_keys.astype(object),
                "outcome": outcome,
                # A pass carries the rule's severity: it weighs in the compliance score.
                "severity": np.where(
                    outcome == "finding",
                    col("severity", self.rule.severity),
                    np.where(outcome == "pass", self.rule.severity, None),
                ),
                "message": np.where(outcome == "finding", col("message", self.rule.fix_en), None),
                "message_zh": np.where(
                    outcome == "finding", col("message_zh", self.rule.fix_zh), None
                ),
                "value": np.where(outcome == "finding", col("value", None), None),
                "threshold": np.where(outcome == "finding", col("threshold", None), None),
                "evidence": ev,
                "reason": np.where(is_ne, ne_arr, None),
            }
        )
        sev = frame["severity"].to_numpy(dtype=object).copy()
        sev[(outcome == "finding") & pd.isna(sev)] = self.rule.severity
        frame["severity"] = sev
        if scope != "project" and "subject_scope" in res.columns:
            frame["scope"] = np.where(outcome == "finding", col("subject_scope", scope), "project")
        return Outcomes(frame)


# -- running ----------------------------------------------------------------------------


@dataclass
class RuleRun:
    rule: RuleMeta
    outcomes: Outcomes
    error: str | None = None


def run_rules(
    rules: Iterable[Rule],
    frames: Mapping[str, pd.DataFrame | None],
    *,
    as_of: dt.date,
    policy: Any,  # rules.policy.Policy (duck-typed to keep this module free of the parser)
    calendar: WorkCalendar = WEEKEND_ONLY,
    timezone: str = DEFAULT_TZ,
    settings: Mapping[str, Any] | None = None,
    projects: Iterable[str] | None = None,
    calendars: Mapping[str, WorkCalendar] | None = None,
) -> list[RuleRun]:
    """Run ``rules`` over ``frames`` as of ``as_of``.

    ``projects`` limits the run (``--project``/``--programme``/``--portfolio``); by default
    every project in the registry frame. ``calendars`` maps a project key to its working-day
    calendar (its portfolio's, or its own) where it is not ``calendar``. A rule that raises
    is reported with ``error`` and N/E outcomes, so one broken plug-in never hides the
    others' findings.
    """
    registry = frames.get("registry")
    all_projects = (
        pd.Index(registry["project_key"].astype(object).unique())
        if registry is not None
        else pd.Index([], dtype=object)
    )
    if projects is not None:
        wanted = set(projects)
        all_projects = all_projects[all_projects.isin(wanted)]
    runs: list[RuleRun] = []
    memos: dict[str, dict[Any, Any]] = {}
    registered: Mapping[str, pd.DataFrame | None] | None = None
    for r in rules:
        meta = r.meta
        scope_projects = pd.Index(
            [p for p in all_projects if policy.enabled(meta, p)], dtype=object
        )
        if meta.scope in ("project", "issue") and len(scope_projects) == 0:
            runs.append(RuleRun(meta, Outcomes.empty()))
            continue
        if meta.scope in ("portfolio", "person") and not policy.enabled(meta, None):
            runs.append(RuleRun(meta, Outcomes.empty()))
            continue
        if meta.scope in ("project", "issue") and registered is None:
            # Rows outside every checked project (unregistered tracker projects, PMO
            # items not linked to a registry issue) are only for portfolio rules.
            registered = {
                name: df[df["project_key"].isin(all_projects)]
                if df is not None and "project_key" in df.columns and name != "registry"
                else df
                for name, df in frames.items()
            }
        groups = _calendar_groups(meta, scope_projects, calendar, calendars)
        parts: list[RuleRun] = []
        for cal, group in groups:
            params = policy.params_frame(meta, group)
            if meta.scope in ("project", "issue"):
                ctx_frames = _scoped_frames(
                    registered if registered is not None else frames, group, all_projects, meta
                )
            else:
                ctx_frames = _scoped_frames(frames, group, all_projects, meta)
            ctx = RuleContext(
                rule=meta,
                as_of=as_of,
                frames=ctx_frames,
                params=params,
                global_params=policy.params(meta, None),
                projects=group,
                calendar=cal,
                timezone=timezone,
                settings=settings or {},
                all_frames=frames,  # type: ignore[arg-type]
                # Shared metrics count working days: one memo per calendar.
                memo=memos.setdefault(cal.name, {}),
            )
            parts.append(_run_one(r, ctx, frames))
        if len(parts) == 1:
            runs.append(parts[0])
        else:
            error = next((p.error for p in parts if p.error), None)
            merged = pd.concat([p.outcomes.frame for p in parts], ignore_index=True)
            runs.append(RuleRun(meta, Outcomes(merged), error=error))
    return runs


def _calendar_groups(
    meta: RuleMeta,
    projects: pd.Index,
    calendar: WorkCalendar,
    calendars: Mapping[str, WorkCalendar] | None,
) -> list[tuple[WorkCalendar, pd.Index]]:
    """Projects grouped by their calendar (one per portfolio, or per project): a project
    rule runs once per group with that calendar. Portfolio/person rules use the default."""
    if not calendars or meta.scope not in ("project", "issue"):
        return [(calendar, projects)]
    by_name: dict[str, tuple[WorkCalendar, list[str]]] = {}
    for pk in projects:
        cal = calendars.get(pk, calendar)
        by_name.setdefault(cal.name, (cal, []))[1].append(pk)
    if len(by_name) <= 1:
        cal = next(iter(by_name.values()))[0] if by_name else calendar
        return [(cal, projects)]
    return [(cal, pd.Index(keys, dtype=object)) for cal, keys in by_name.values()]


def _run_one(r: Rule, ctx: RuleContext, frames: Mapping[str, pd.DataFrame | None]) -> RuleRun:
    meta = r.meta
    missing = _missing_needs(meta, frames)
    if missing:
        return RuleRun(meta, _all_ne(ctx, missing))
    try:
        outcomes = r.func(ctx)
    except MissingData as exc:
        outcomes = _all_ne(ctx, str(exc))
    except Exception as exc:  # a broken rule must not hide the others
        log.exception("rule %s failed", meta.id)
        # the N/E reason is read in reports: words; the exception is logged above
        return RuleRun(meta, _all_ne(ctx, "rule error (details in the log)"), error=repr(exc))
    return RuleRun(meta, outcomes)


def _missing_needs(meta: RuleMeta, frames: Mapping[str, pd.DataFrame | None]) -> str | None:
    for name, cols in meta.needs.items():
        df = frames.get(name)
        if df is None:
            return f"no {name.replace('_', ' ')} data"
        absent = [c for c in cols if c not in df.columns]
        if absent:
            return f"{name.replace('_', ' ')} lack {', '.join(absent)}"
    return None


def _scoped_frames(
    frames: Mapping[str, pd.DataFrame | None],
    scope: pd.Index,
    all_projects: pd.Index,
    meta: RuleMeta,
) -> dict[str, pd.DataFrame]:
    """The frames a rule declared, with only its declared columns (cheap with pandas'
    copy-on-write, and every later boolean filter then copies just those columns), limited
    to the projects the rule is enabled for."""
    out: dict[str, pd.DataFrame] = {}
    narrow = len(scope) < len(all_projects)
    for name in {*meta.needs, *meta.optional}:
        df = frames.get(name)
        if df is None:
            continue
        wanted = [*meta.needs.get(name, ()), *meta.optional.get(name, ())]
        if "project_key" in df.columns and narrow:
            wanted.append("project_key")
        cols = [c for c in dict.fromkeys(wanted) if c in df.columns]
        df = df[cols]
        if narrow and "project_key" in df.columns and name != "people":
            df = df[df["project_key"].isin(scope)]
        out[name] = df
    return out


def _all_ne(ctx: RuleContext, reason: str) -> Outcomes:
    if ctx.rule.scope in ("portfolio", "person"):
        return ctx.subject_outcomes(
            pd.DataFrame(
                {
                    "subject": ["portfolio:*"],
                    "project_key": [None],
                    "failed": [False],
                    "ne": [reason],
                }
            )
        )
    res = pd.DataFrame({"failed": False, "ne": reason}, index=ctx.projects)
    return ctx.project_outcomes(res)


def outcomes_frame(runs: Iterable[RuleRun]) -> pd.DataFrame:
    """All outcomes of a run in one table, plus ``rule_severity`` (the rule's own severity,
    on every row): the compliance score weighs passes and failures of a rule alike
    (docs/metrics.md 2.2), and a pass has no severity of its own."""
    frames = [
        r.outcomes.frame.assign(rule_severity=r.rule.severity) for r in runs if len(r.outcomes)
    ]
    if not frames:
        return Outcomes.empty().frame.assign(rule_severity=pd.Series(dtype=object))
    return pd.concat(frames, ignore_index=True)
