"""The emulated Jira site: plain, JSON-serialisable data plus the indexes the server needs.

Times are stored as UTC epoch milliseconds (ints) and dates as ISO strings, so a site dumps
to JSON losslessly and the server formats them per request in the user's time zone.

Issue dict keys: id, key, project, type, summary, description, status, resolution, priority,
assignee, reporter (account ids or None), created, updated, resolved (ms), due_on, start_on,
labels, components, fix_versions (version ids), original_s, remaining_s, spent_s,
story_points, parent (issue id), sprints (sprint ids), links [{id, type, direction, other}],
custom {logical field name: value}, histories [{id, author, created, items: [...]}],
worklogs [{id, author, started, seconds, created, updated, comment}],
comments [{id, author, body, created, updated}], remote_links [{id, title, url, relationship}].
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Workflow statuses: (id, name, category key). Category keys are Jira's statusCategory keys.
STATUSES: list[tuple[str, str, str]] = [
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "In Review", "indeterminate"),
    ("10002", "待验收", "indeterminate"),
    ("10003", "Blocked", "indeterminate"),
    ("10004", "Done", "done"),
    ("10010", "Proposed", "new"),
    ("10011", "Approved", "indeterminate"),
    ("10012", "Planning", "indeterminate"),
    ("10013", "PlanApproved", "indeterminate"),
    ("10014", "Execution", "indeterminate"),
    ("10015", "Closing", "indeterminate"),
    ("10016", "Closed", "done"),
]
STATUS_CATEGORIES: dict[str, tuple[int, str, str]] = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
# (id, name, subtask, hierarchyLevel)
ISSUE_TYPES: list[tuple[str, str, bool, int]] = [
    ("10000", "Epic", False, 1),
    ("10001", "Story", False, 0),
    ("10002", "Task", False, 0),
    ("10003", "Sub-task", True, -1),
    ("10004", "Bug", False, 0),
    ("10005", "Risk", False, 0),
    ("10006", "Change Request", False, 0),
    ("10007", "Status Report", False, 0),
    ("10008", "Lessons Learned", False, 0),
    ("10009", "Action", False, 0),
    ("10010", "Project", False, 0),
]
PRIORITIES: list[tuple[str, str]] = [
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
]
RESOLUTIONS: list[tuple[str, str]] = [
    ("10000", "Done"),
    ("10001", "Won't Do"),
    ("10002", "Duplicate"),
]
LINK_TYPES: dict[str, tuple[str, str, str]] = {
    # name -> (id, inward, outward)
    "Blocks": ("10000", "is blocked by", "blocks"),
    "Relates": ("10003", "relates to", "relates to"),
    "Duplicate": ("10002", "is duplicated by", "duplicates"),
}


@dataclass
class JiraSite:
    """Everything one emulated Jira site knows. Mutated only through the emulator's helpers."""

    seed: int
    start_on: str
    today: str
    field_ids: dict[str, str]
    users: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    versions: list[dict[str, Any]]
    boards: list[dict[str, Any]]
    sprints: list[dict[str, Any]]
    issues: list[dict[str, Any]]
    deleted_worklogs: list[dict[str, int]] = field(default_factory=list)
    key_aliases: dict[str, int] = field(default_factory=dict)
    bot_account_id: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    # Derived indexes (not dumped).
    by_id: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    users_by_id: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    worklogs_by_id: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(
        default_factory=dict, repr=False
    )
    version_no: int = field(default=0, repr=False)

    _DUMPED = (
        "seed",
        "start_on",
        "today",
        "field_ids",
        "users",
        "projects",
        "versions",
        "boards",
        "sprints",
        "issues",
        "deleted_worklogs",
        "key_aliases",
        "bot_account_id",
        "counters",
    )

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.by_id = {i["id"]: i for i in self.issues}
        self.by_key = {i["key"]: i for i in self.issues}
        self.users_by_id = {u["account_id"]: u for u in self.users}
        self.worklogs_by_id = {w["id"]: (w, i) for i in self.issues for w in i["worklogs"]}
        self.version_no += 1

    def issue(self, id_or_key: str | int) -> dict[str, Any] | None:
        """Look up by id or key; a moved issue's old key still resolves (Jira redirects)."""
        text = str(id_or_key)
        if text.isdigit():
            return self.by_id.get(int(text))
        found = self.by_key.get(text.upper())
        if found is None and text.upper() in self.key_aliases:
            found = self.by_id.get(self.key_aliases[text.upper()])
        return found

    def next_id(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._DUMPED}

    def dump(self, path: str | Path) -> Path:
        """Write the site as JSON (a directory gets `site.json`; a file path is used as is)."""
        target = Path(path)
        if target.suffix != ".json":
            target.mkdir(parents=True, exist_ok=True)
            target = target / "site.json"
        target.write_text(
            json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True, indent=None),
            encoding="utf-8",
        )
        return target

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JiraSite:
        missing = [name for name in cls._DUMPED if name not in data]
        if missing:
            raise ValueError(f"Jira site JSON lacks keys: {', '.join(missing)}")
        kwargs = {name: data[name] for name in cls._DUMPED}
        kwargs["key_aliases"] = {k: int(v) for k, v in data["key_aliases"].items()}
        return cls(**kwargs)


def load_site(path: str | Path) -> JiraSite:
    """Load a site written by `JiraSite.dump` (a `site.json` file or a directory holding one)."""
    source = Path(path)
    if source.is_dir():
        source = source / "site.json"
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{source}: no such Jira site file") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    try:
        return JiraSite.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
