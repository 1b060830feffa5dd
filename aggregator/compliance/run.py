"""Running the compliance rules against the store (the I/O side of ``rules/``).

:func:`run_checks` reads the frames the enabled rules need (:mod:`.frames`), runs the rules
and hands the outcomes to the findings lifecycle (:mod:`.findings`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from pmohub.aggregator.compliance.findings import apply_waivers, finding_states, upsert_findings
from pmohub.aggregator.compliance.frames import (
    load_frames,
    merged_person_settings,
    needed_columns,
    read_baselines,
)
from pmohub.aggregator.config.settings import (
    config_calendar,
    config_policy,
    person_calendars,
    project_calendars,
)
from pmohub.rules.calendar import (
    uncovered_warnings,
)
from pmohub.rules.clock import DEFAULT_TZ
from pmohub.rules.engine import RuleRun, load_rules, outcomes_frame, run_rules

log = logging.getLogger("pmohub.checks")


@dataclass
class CheckResult:
    as_of: dt.date
    runs: list[RuleRun]
    outcomes: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # lifecycle changes written

    @property
    def errors(self) -> list[str]:
        return [f"{r.rule.id}: {r.error}" for r in self.runs if r.error]


# -- config adapters --------------------------------------------------------------------


# -- loading ----------------------------------------------------------------------------


# -- running ----------------------------------------------------------------------------


#: Rules that compute person/week load (docs/metrics.md 2.3) and so need the teams' hours per point.
LOAD_RULES = frozenset({"RES-001", "RES-002"})


def _project_hpp(engine: Engine, config: Any, as_of: dt.date) -> dict[str, float]:
    """Project key -> the team's hours per point, as ``pmohub load`` converts points."""
    from pmohub.aggregator.status.load import team_hpp
    from pmohub.aggregator.status.settings import hierarchy, project_ids, settings_for

    pid = project_ids(engine, hierarchy(engine, config))
    return team_hpp(engine, pid, as_of, settings_for(config)).to_dict()


def run_checks(
    engine: Engine,
    config: Any,
    *,
    as_of: dt.date,
    rule_ids: Iterable[str] | None = None,
    projects: list[str] | None = None,
    write: bool = True,
) -> CheckResult:
    all_rules = load_rules()
    policy = config_policy(config, all_rules)
    rules = [r for k, r in all_rules.items() if rule_ids is None or k in set(rule_ids)]
    calendar, warnings = config_calendar(config)
    calendars = project_calendars(config)
    years = {as_of.year - 1, as_of.year, as_of.year + 1}
    in_use = [calendar, *calendars.values(), *person_calendars(config).values()]
    warnings.extend(uncovered_warnings(in_use, years))
    frames = load_frames(engine, config, rules)
    if write and "baselines" in frames:
        rebuilt = reconstruct_missing_baselines(engine, config, frames)
        if rebuilt:
            frames["baselines"] = read_baselines(engine, needed_columns(rules)["baselines"])
            warnings.append(f"baselines reconstructed from history for {', '.join(rebuilt)}")
    registry_projects = list(frames.pop("_registry_projects")["key"])
    smap: dict[str, str] = {}
    for s in (getattr(config, "sources", {}) or {}).values():
        smap.update(dict(getattr(s, "status_map", {}) or {}))
    defaults = dict(getattr(config, "defaults", {}) or {})
    settings = {
        "registry_projects": registry_projects,
        "review_statuses": [k for k, v in smap.items() if v == "review"],
        "blocked_statuses": [k for k, v in smap.items() if v == "blocked"],
        "hours_per_day": defaults.get("hours_per_day", 8.0),
        "hpp": defaults.get("hpp", 6.0),
        "default_estimate_h": dict(defaults.get("default_estimate_h") or {}),
        **merged_person_settings(engine, config),
    }
    if any(r.id in LOAD_RULES for r in rules):
        settings["project_hpp"] = _project_hpp(engine, config, as_of)
    runs = run_rules(
        rules,
        frames,
        as_of=as_of,
        policy=policy,
        calendar=calendar,
        timezone=getattr(config, "timezone", DEFAULT_TZ),
        settings=settings,
        projects=projects,
        calendars=calendars,
    )
    out = outcomes_frame(runs)
    if projects is not None:
        # Portfolio/person rules see every project; a scoped run keeps only their rows
        # about the projects in scope (and those about no project at all).
        keep = out["project_key"].isna() | out["project_key"].isin(set(projects))
        out = out[keep].reset_index(drop=True)
    out = apply_waivers(out, policy, as_of)
    counts: dict[str, int] = {}
    if write:
        counts = upsert_findings(
            engine,
            out,
            runs,
            policy,
            as_of=as_of,
            timezone=getattr(config, "timezone", DEFAULT_TZ),
            projects=projects,
        )
    out["state"] = finding_states(out, engine if write else None)
    return CheckResult(as_of, runs, out, warnings, counts)


def reconstruct_missing_baselines(
    engine: Engine, config: Any, frames: Mapping[str, pd.DataFrame]
) -> list[str]:
    """Projects past plan approval with no baseline get one rebuilt from the changelog as
    of ``plan_approved_at`` (written once, flagged ``reconstructed``)."""
    from pmohub.aggregator.compliance.baselines import reconstruct_baseline

    reg = frames["registry"]
    have = set(frames["baselines"]["project_key"]) if len(frames["baselines"]) else set()
    todo = reg[reg["plan_approved_at"].notna() & ~reg["project_key"].isin(have)]
    done = []
    for key, at in zip(todo["project_key"], todo["plan_approved_at"], strict=True):
        reconstruct_baseline(engine, config, key, at.to_pydatetime())
        done.append(key)
    return done
