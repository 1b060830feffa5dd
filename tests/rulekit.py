"""Small builders for rule tests: records in, frames out (the loader's frame contract)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pandas as pd

from pmohub.rules.calendar import WorkCalendar, build_calendar
from pmohub.rules.engine import Outcomes, load_rules, outcomes_frame, run_rules
from pmohub.rules.frames import CHARTER_FIELDS, EXTRA_FIELDS, PHASES, compact, to_phase

UTC = dt.UTC
_ids = itertools.count(1)


def at(day: str, hour: int = 4) -> dt.datetime:
    """A UTC timestamp on ``day`` (04:00 UTC = noon in Shanghai, safely inside the day)."""
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


class World:
    def __init__(self) -> None:
        self.projects: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []
        self.changes: list[dict[str, Any]] = []
        self.worklogs: list[dict[str, Any]] = []
        self.milestones: list[dict[str, Any]] = []
        self.iterations: list[dict[str, Any]] = []
        self.baselines: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.people: list[dict[str, Any]] = [{"id": 1, "display_name": "张伟", "active": True}]
        self.findings: list[dict[str, Any]] = []  # prior runs' findings

    def project(
        self, key: str, *, phase: str | None = "execution", portfolio: str = "DIGI", **kw: Any
    ) -> str:
        row = {
            "project_key": key,
            "name": key,
            "portfolio": portfolio,
            "programme": kw.pop("programme", None),
            "phase": phase,
            "pm": "张伟",
            "pm_active": True,
            "priority_rank": float(len(self.projects) + 1),
            "cadence": None,
            "registry_issue": f"PMO-{len(self.projects) + 1}",
            **{f: f"{f} text" for f in CHARTER_FIELDS},
            "acceptance_record": None,
            "final_report": None,
            "subplans": None,
        }
        for p in PHASES:
            row[f"{p}_at"] = None
        row.update(kw)
        self.projects.append(row)
        return key

    def item(self, project: str, key: str | None = None, **kw: Any) -> dict[str, Any]:
        iid = next(_ids)
        row = {
            "id": iid,
            "source": "jira_main",
            "external_id": str(10000 + iid),
            "key": key or f"{project}-{iid}",
            "project_key": project,
            "tracker_project_key": project,
            "type": "Story",
            "kind": "work",
            "status": "To Do",
            "status_category": "todo",
            "priority": "Medium",
            "assignee": "u1",
            "assignee_id": 1,
            "parent_id": None,
            "created_at": at("2026-01-05"),
            "updated_at": at("2026-11-20"),
            "resolved_at": None,
            "resolution": None,
            "start_on": None,
            "due_on": None,
            "story_points": None,
            "original_estimate_h": None,
            "remaining_estimate_h": None,
            "labels": [],
            "milestone_ids": [],
            "iteration_ids": [],
            "url": f"https://example.atlassian.net/browse/{key or iid}",
        }
        row.update(kw)
        if "kind" not in kw:
            row["kind"] = {
                "Bug": "bug",
                "Epic": "epic",
                "Risk": "risk",
                "Issue": "issue",
                "Status Report": "status_report",
                "Change Request": "change_request",
                "Sub-task": "subtask",
            }.get(row["type"], "work")
        self.items.append(row)
        return row

    def change(
        self,
        item: dict[str, Any],
        frm: str | None,
        to: str,
        when: dt.datetime,
        field: str = "status",
    ) -> None:
        cats = {
            "To Do": "todo",
            "In Progress": "in_progress",
            "In Review": "in_progress",
            "Done": "done",
            "Blocked": "in_progress",
        }
        self.changes.append(
            {
                "work_item_id": item["id"],
                "project_key": item["project_key"],
                "source": item["source"],
                "field": field,
                "from_value": frm,
                "to_value": to,
                "from_category": cats.get(frm or ""),
                "to_category": cats.get(to),
                "changed_at": when,
            }
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        items = pd.DataFrame(self.items)
        if len(items):
            items["is_epic"] = items["kind"] == "epic"
            items["is_leaf"] = items["kind"].isin(["work", "bug"])
            for c in ("start_on", "due_on"):
                items[c] = pd.to_datetime(items[c])
            for c in ("created_at", "updated_at", "resolved_at"):
                items[c] = pd.to_datetime(items[c], utc=True)
            for f in EXTRA_FIELDS:
                if f not in items.columns:
                    items[f] = None
            if "components" not in items.columns:
                items["components"] = [[] for _ in range(len(items))]
        if len(items):
            items = compact(items)  # the loader's dtypes, so tests see what production sees
        reg = pd.DataFrame(self.projects)
        reg["phase"] = to_phase(reg["phase"].fillna(""))
        reg["phase_rank"] = reg["phase"].map({p: i for i, p in enumerate(PHASES)}).astype(float)
        for p in PHASES:
            reg[f"{p}_at"] = pd.to_datetime(reg[f"{p}_at"], utc=True)

        def frame(rows: list[dict[str, Any]], cols: list[str]) -> pd.DataFrame:
            df = pd.DataFrame(rows, columns=cols) if not rows else pd.DataFrame(rows)
            # The loader's dtypes even when empty: an empty object column hides dtype bugs
            # (mapping categorical keys through an empty datetime Series).
            for c in df.columns:
                if c.endswith("_at") and not rows:
                    df[c] = pd.to_datetime(df[c], utc=True)
            return df

        return {
            "work_items": items,
            "status_changes": frame(
                self.changes,
                [
                    "work_item_id",
                    "project_key",
                    "source",
                    "field",
                    "from_value",
                    "to_value",
                    "from_category",
                    "to_category",
                    "changed_at",
                ],
            ),
            "worklogs": frame(
                self.worklogs, ["work_item_id", "project_key", "person_id", "started_at", "seconds"]
            ),
            "milestones": frame(
                self.milestones,
                [
                    "id",
                    "source",
                    "external_id",
                    "project_key",
                    "name",
                    "due_on",
                    "released",
                    "released_on",
                    "archived",
                ],
            ),
            "iterations": frame(
                self.iterations,
                [
                    "id",
                    "source",
                    "external_id",
                    "project_key",
                    "name",
                    "state",
                    "start_at",
                    "end_at",
                ],
            ),
            "links": frame(self.links, ["source", "from_external_id", "to_external_id", "kind"]),
            "registry": reg,
            "baselines": frame(
                self.baselines,
                [
                    "project_key",
                    "label",
                    "taken_at",
                    "subject_kind",
                    "work_item_id",
                    "milestone_id",
                    "story_points",
                    "original_estimate_h",
                    "start_on",
                    "due_on",
                ],
            ),
            # the store's key (aggregator.people.person_keys), unless a test gives one
            "people": pd.DataFrame([{"key": f"jira:u{p['id']}", **p} for p in self.people]),
            "findings": frame(
                self.findings,
                [
                    "rule_id",
                    "subject",
                    "project_key",
                    "state",
                    "severity",
                    "first_seen_at",
                    "last_seen_at",
                ],
            ),
        }

    def hierarchy(self) -> list[dict[str, Any]]:
        return [
            {"portfolio": "DIGI", "projects": [{"key": p["project_key"]} for p in self.projects]}
        ]


CN: WorkCalendar = build_calendar("cn", {"source": "chinesecalendar"})


def run(
    rule_id: str,
    world: World,
    as_of: str = "2026-11-20",
    *,
    rules_cfg: dict[str, Any] | None = None,
    frames: dict[str, Any] | None = None,
    hierarchy: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Run one rule; return its outcome table indexed by subject."""
    from pmohub.rules.policy import build_policy

    known = {k: r.meta for k, r in load_rules(entry_points_too=False).items()}
    policy = build_policy(known, rules=rules_cfg, hierarchy=hierarchy or world.hierarchy())
    fr = world.frames()
    if frames:
        fr.update(frames)
    runs = run_rules(
        [load_rules(entry_points_too=False)[rule_id]],
        fr,
        as_of=dt.date.fromisoformat(as_of),
        policy=policy,
        calendar=CN,
        settings=settings or {},
    )
    assert runs[0].error is None, runs[0].error
    return outcomes_frame(runs).set_index("subject")


def outcome(table: pd.DataFrame, subject: str) -> str:
    return str(table.loc[subject, "outcome"])


__all__ = ["CN", "Outcomes", "World", "at", "outcome", "run"]
