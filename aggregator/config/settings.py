"""What the config means for the analysis: the policy, the calendars (default, per project or
portfolio, per person) and the hierarchy as a frame, with the map from tracker keys to
configured projects.

One home for these decisions: compliance, status, load and the report all read them here,
so a tuned policy or a calendar change reaches every number at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from pmohub.rules.calendar import (
    WEEKEND_ONLY,
    CalendarError,
    WorkCalendar,
    build_calendar,
)
from pmohub.rules.engine import Rule
from pmohub.rules.policy import Policy, build_policy


def config_policy(config: Any, rules: Mapping[str, Rule]) -> Policy:
    return build_policy(
        {k: r.meta for k, r in rules.items()},
        rules=getattr(config, "rules", None),
        waivers=getattr(config, "waivers", None),
        hierarchy=getattr(config, "hierarchy", None),
        where=getattr(config, "where", None),
    )


def config_calendar(config: Any) -> tuple[WorkCalendar, list[str]]:
    """The default calendar (``defaults.calendar``; weekends only without one)."""
    name = (getattr(config, "defaults", {}) or {}).get("calendar")
    if not name:
        return WEEKEND_ONLY, []
    return named_calendar(config, name, "defaults.calendar"), []


def named_calendar(config: Any, name: str, where: str) -> WorkCalendar:
    calendars = getattr(config, "calendars", {}) or {}
    if name not in calendars:
        known = ", ".join(sorted(calendars)) or "none defined"
        raise CalendarError(f"{where}: calendar {name!r} is not defined under calendars ({known})")
    spec = calendars[name]
    raw = {
        "weekend": list(getattr(spec, "weekend", ("sat", "sun"))),
        "source": getattr(spec, "source", "none"),
        "extra_holidays": list(getattr(spec, "extra_holidays", ())),
        "extra_workdays": list(getattr(spec, "extra_workdays", ())),
    }
    return build_calendar(name, raw)


def calendars_of(
    config: Any, named: Iterable[tuple[str, str | None, str]]
) -> dict[str, WorkCalendar]:
    """Key -> calendar for each ``(key, calendar name, where)`` that names one; each named
    calendar is built once (``where``: the config path an unknown name is reported at)."""
    built: dict[str, WorkCalendar] = {}
    out: dict[str, WorkCalendar] = {}
    for key, name, where in named:
        if not name:
            continue
        if name not in built:
            built[name] = named_calendar(config, name, where)
        out[key] = built[name]
    return out


def project_calendars(config: Any) -> dict[str, WorkCalendar]:
    """Project key -> calendar for projects whose calendar is not the default: the
    project's own ``calendar``, else its portfolio's (one calendar per portfolio, docs/metrics.md
    2.4)."""

    def named() -> Iterable[tuple[str, str | None, str]]:
        for pf in getattr(config, "hierarchy", ()) or ():
            for p in pf.all_projects():
                own = getattr(p, "calendar", None)
                name = own or getattr(pf, "calendar", None)
                yield p.key, name, f"{p.path if own else pf.path}.calendar"

    return calendars_of(config, named())


def person_calendars(config: Any) -> dict[str, WorkCalendar]:
    """Config person id -> the person's own calendar (``people[].calendar``: docs/metrics.md 2.4's
    per-person override of the portfolio calendar). People without one work by the
    default calendar and are not listed."""
    return calendars_of(
        config,
        (
            (pc.id, getattr(pc, "calendar", None), f"people[{i}].calendar")
            for i, pc in enumerate(getattr(config, "people", ()) or ())
        ),
    )


def tracker_keys(node: Any) -> list[str]:
    src = getattr(node, "source", None)
    sel = dict(getattr(src, "selector", {}) or {}) if src else {}
    for key in ("project", "projects", "key", "group"):  # group: a GitLab `groups:` source
        if key in sel:
            v = sel[key]
            return [str(x) for x in (v if isinstance(v, list | tuple) else [v])]
    jql = str(sel.get("jql") or "")
    one = re.search(r"project\s*=\s*\"?([\w.-]+)\"?", jql, re.I)
    if one:
        return [one.group(1)]
    many = re.search(r"project\s+in\s*\(([^)]*)\)", jql, re.I)
    if many:
        return [x.strip().strip("\"'") for x in many.group(1).split(",") if x.strip()]
    return [node.key]


def hierarchy_frame(config: Any) -> pd.DataFrame:
    rows = []
    for pf in getattr(config, "hierarchy", ()) or ():
        groups = [(None, pf.projects)] + [(g.key, g.projects) for g in pf.programmes]
        for gkey, projects in groups:
            for p in projects:
                rows.append(
                    {
                        "project_key": p.key,
                        "name": p.name,
                        "portfolio": pf.key,
                        "programme": gkey,
                        "source": p.source.name if p.source else None,
                        "tracker_keys": tracker_keys(p),
                        "registry_issue": p.registry_issue,
                        "priority_rank": p.priority_rank,
                        "weight": p.weight,
                        "critical": p.critical,
                        "cadence": p.cadence,
                        "pm": p.pm,
                        "exempt": list(p.exempt),
                        "planned_start": p.start_on,
                        "planned_end": p.due_on,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "project_key",
            "name",
            "portfolio",
            "programme",
            "source",
            "tracker_keys",
            "registry_issue",
            "priority_rank",
            "weight",
            "critical",
            "cadence",
            "pm",
            "exempt",
            "planned_start",
            "planned_end",
        ],
    )


def tracker_map(hier: pd.DataFrame) -> dict[tuple[str | None, str], str]:
    out: dict[tuple[str | None, str], str] = {}
    for pk, src, keys in zip(
        hier["project_key"], hier["source"], hier["tracker_keys"], strict=True
    ):
        for k in keys:
            out[(src, k)] = pk
            out.setdefault((None, k), pk)
    return out


def hierarchy_keys(items: pd.DataFrame, hier: pd.DataFrame) -> pd.Series:
    tmap = tracker_map(hier)
    exact = pd.Series(
        {f"{s}\x1f{k}": v for (s, k), v in tmap.items() if s is not None}, dtype=object
    )
    loose = pd.Series({k: v for (s, k), v in tmap.items() if s is None}, dtype=object)
    combo = items["source"].astype(str) + "\x1f" + items["tracker_project_key"].astype(str)
    return (
        combo.map(exact)
        .astype(object)
        .fillna(items["tracker_project_key"].map(loose))
        .astype(object)
    )
