"""What the status roll-up reads from the config: :class:`Settings` (calendars, time zone,
hours per point default, type kinds, status map), the project hierarchy (the config's, else
every tracker project as its own project) and the calendar coverage warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from sqlalchemy import (
    Engine,
    select,
)

from pmohub.aggregator.config.settings import (
    config_calendar,
    hierarchy_frame,
    hierarchy_keys,
    project_calendars,
)
from pmohub.aggregator.store import models as m
from pmohub.rules.calendar import WorkCalendar, uncovered_warnings
from pmohub.rules.clock import DEFAULT_TZ, as_of_at
from pmohub.rules.frames import (
    kind_map,
)
from pmohub.rules.metrics import (
    calendar_codes,
)

LEAF_KINDS = ("work", "bug")


FLOW_DAYS = 90


MIN_HPP_SAMPLES = 3


DEFAULT_HPP = 6.0


pr_t = m.Project.__table__


@dataclass(frozen=True)
class Settings:
    calendar: WorkCalendar
    timezone: str
    hpp: float
    kinds: Mapping[str, str]
    status_map: Mapping[str, str]
    #: Project key -> its calendar where that is not ``calendar``: the project's own, else
    #: its portfolio's (docs/metrics.md 2.4, as the rules use them).
    project_calendars: Mapping[str, WorkCalendar] = field(default_factory=dict)

    def calendar_for(self, project_key: str) -> WorkCalendar:
        return self.project_calendars.get(project_key, self.calendar)

    def by_calendar(self, idx: pd.Index) -> list[tuple[Settings, pd.Index]]:
        """``idx`` split by calendar, each part with settings on its calendar: the
        working-day metrics (SPI(t), cycle and lead times, slippage, forecasts) of a
        portfolio on another calendar count its own working days."""
        if not len(idx):
            return [(self, idx)]
        codes, cals = calendar_codes(idx, self.project_calendars, self.calendar)
        return [
            (self if c == 0 else replace(self, calendar=cal), idx[codes == c])
            for c, cal in enumerate(cals)
            if (codes == c).any()
        ]

    def types_of(self, *kinds: str) -> list[str]:
        return sorted(t for t, k in self.kinds.items() if k in kinds)

    @property
    def non_leaf_types(self) -> list[str]:
        return sorted(t for t, k in self.kinds.items() if k not in LEAF_KINDS)

    def day_end(self, day: dt.date) -> dt.datetime:
        """The instant a local day ends (the nightly cut-off after it), in UTC."""
        return as_of_at(day + dt.timedelta(days=1), self.timezone)


def settings_for(config: Any) -> Settings:
    calendar, _ = config_calendar(config)
    sources = getattr(config, "sources", {}) or {}
    kinds = kind_map({n: dict(getattr(s, "issue_types", {}) or {}) for n, s in sources.items()})
    smap: dict[str, str] = {}
    for s in sources.values():
        smap.update(dict(getattr(s, "status_map", {}) or {}))
    defaults = getattr(config, "defaults", {}) or {}
    return Settings(
        calendar=calendar,
        timezone=getattr(config, "timezone", None) or DEFAULT_TZ,
        hpp=float(defaults.get("hpp", DEFAULT_HPP) or DEFAULT_HPP),
        kinds=kinds,
        status_map=smap,
        project_calendars=project_calendars(config),
    )


def hierarchy(engine: Engine, config: Any) -> pd.DataFrame:
    """The config hierarchy, or (none configured) every tracker project as its own project."""
    hier = hierarchy_frame(config)
    if len(hier):
        return hier
    with engine.connect() as conn:
        rows = conn.execute(
            select(pr_t.c.source, pr_t.c.key, pr_t.c.name).where(pr_t.c.deleted_at.is_(None))
        ).fetchall()
    projects = pd.DataFrame(rows, columns=["source", "key", "name"]).drop_duplicates("key")
    return pd.DataFrame(
        {
            "project_key": projects["key"],
            "name": projects["name"],
            "portfolio": None,
            "programme": None,
            "source": projects["source"],
            "tracker_keys": [[k] for k in projects["key"]],
        }
    ).reindex(columns=hier.columns)


def kinds_of(types: pd.Series, s: Settings) -> pd.Series:
    return types.astype(str).str.lower().map(dict(s.kinds)).fillna("work").astype(object)


def calendar_warnings(s: Settings, as_of: dt.date) -> list[str]:
    """The years around ``as_of`` each calendar in use does not know, said once each."""
    years = {as_of.year - 1, as_of.year, as_of.year + 1}
    return uncovered_warnings([s.calendar, *s.project_calendars.values()], years)


def project_ids(engine: Engine, hier: pd.DataFrame) -> pd.Series:
    """projects.id -> hierarchy key (tracker project matched by source+key, else key)."""
    with engine.connect() as conn:
        rows = conn.execute(select(pr_t.c.id, pr_t.c.source, pr_t.c.key)).fetchall()
    p = pd.DataFrame(rows, columns=["id", "source", "tracker_project_key"])
    return pd.Series(hierarchy_keys(p, hier).to_numpy(), index=p["id"].to_numpy(), dtype=object)
