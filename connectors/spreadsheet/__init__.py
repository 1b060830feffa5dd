"""Spreadsheet connector (CSV and XLSX): PMO plans kept in Excel/WPS.

A file has no reliable "updated" timestamps, so every sync is a complete pass
(``incremental = False``) and rows that disappeared are soft-deleted through ``census``.

Identity: a row's ``external_id`` is its id column value (编号/ID/..., or the column named
by ``id_column``), never its row number: inserting a row would otherwise shift every id
below it and turn into deletions plus duplicates. A plan without an id column still loads,
with ids derived from the most stable key it has (``check()`` says which, under ``ids``):

- its WBS codes (WBS/大纲编号), when it has a WBS column;
- else the title within its parent: ``上级任务 / 任务名称`` when a parent column names the
  parent's title, else the title alone; a title repeated under the same parent gets
  `` #2``, `` #3`` in file order.

What renames do: a derived id changes when its key does (a row inserted above renumbers
the WBS codes below it; a task renamed or moved to another parent changes its title
path). The sync then sees the old id gone and a new one: the old item is soft-deleted
(its history and findings stay with it) and a new one inserted; the deletion circuit
breaker holds back a run that would remove many at once. Plans edited that way should
add an id column (编号) once: from then on renames are plain updates.

Hierarchy: a parent column naming another row's id (上级编号), else WBS codes (1, 1.2,
1.2.3: the parent is the nearest existing shorter code). Rows typed 里程碑/Milestone, or
flagged 是/Y in a 里程碑 column, become ``Milestone`` records; a 里程碑 column holding a
name attaches the task to that milestone.

Bad values degrade the smallest unit (docs/degrade-policy.md): an unreadable date, hours,
percentage or an unknown status, or a dangling parent, clears that one field with a
``Problem`` naming file, row, column and value, and the row loads; the stored item gets
the field emptied, never its old value kept. Only a row that cannot be a task (no id, a
duplicate id, no title, no project) is ``Skipped``; its report says that a stored copy
keeps its last values until the row is fixed (a skipped row still counts in ``census``: it
is in the file, so a typo never deletes the stored copy).

Choices worth knowing:

- Status: the source's ``status_map`` first, then built-in English/Chinese words (未开始,
  进行中, 已完成, 已取消, To Do, Done, ...). A blank status cell is ``todo``. A status
  nobody knows is a bad row (reported, skipped, kept in the census) rather than a guessed
  category: a wrong guess would silently skew every roll-up.
- Dates: ISO, 2026/5/1, 2026.05.01, 2026年5月1日, 20260501, Excel serials, native date
  cells; 5/1/2026 only through ``date_formats`` (day/month order is ambiguous).
  Datetimes without a zone, and bare dates in datetime columns (实际完成), are local time
  in ``time_zone`` (a bare date = local midnight), then converted to UTC.
- Progress: a 完成率 / 完成百分比 / 进度(%) / % Complete / Progress column gives
  ``WorkItem.progress`` (and ``extra["percent_complete"]``, 0..100). "45%" is 45 %; a bare
  number up to 1 is a fraction (0.45, what a percentage-formatted cell holds), above 1 a
  percentage (45), so a bare 1 is 100 % and one percent is written 1%. ``columns`` may
  name the column as ``percent_complete`` or ``progress``.
- Links: a 前置任务 (predecessors) cell on row B naming A gives ``A blocks B``, yielded
  with row A (the engine prunes an item's links by their "from" end).
- Milestone rows come from ``fetch_milestones``; a bad milestone row is reported by
  ``fetch_work_items`` (once), and, as milestones are synced as a complete listing, the
  stored copy of a milestone whose row became unreadable is soft-deleted until fixed.

Options (``SourceConfig.options``): see ``option_keys`` and ``aggregator/demo/samples/sources.yaml``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from pmohub.connectors.base import (
    ChildrenComplete,
    FileConnector,
    Problem,
    Skipped,
    SourceConfig,
    StreamItem,
)
from pmohub.connectors.errors import ConfigError, RecordError
from pmohub.connectors.options import BUILTIN_OPTIONS
from pmohub.connectors.records import Link, Milestone, Person, Project
from pmohub.connectors.spreadsheet import mapping
from pmohub.connectors.spreadsheet.mapping import CellError, RowContext
from pmohub.connectors.spreadsheet.reader import (
    BadRecord,
    Cell,
    Table,
    fetch_rows,
    file_kind,
    read_table,
)

# MS Project style predecessor cells: "12", "12FS", "12FS+2d", "OPS-003SS-1d"
_PREDECESSOR = re.compile(r"^(.+?)(?:(?:FS|SS|FF|SF)(?:[+-].*)?)?$", re.IGNORECASE)

#: How rows get their ids (``check()`` reports it as ``ids``), by what the sheet has.
ID_NOTES = {
    "column": "from the id column {header!r}",
    "wbs": (
        "derived from the WBS codes (column {header!r}): renumbering a row renames it, "
        "which the sync sees as one item deleted and a new one inserted; add an id column "
        "(编号) to keep ids across renumbering"
    ),
    "title": (
        "derived from each title within its parent: renaming or moving a task gives it a "
        "new id (the old item is soft-deleted, a new one inserted); add an id column "
        "(编号) to keep ids across renames"
    ),
}
_MAX_ID = 200  # the store holds 255 characters; long title paths end in a hash


@dataclass
class _Index:
    """Cross-row facts from a first, light pass (ids and codes only, no mapping)."""

    table: Table
    columns: dict[str, str]
    first_row: dict[str, int] = field(default_factory=dict)  # id -> first row number
    project_of: dict[str, str] = field(default_factory=dict)  # id -> project key
    wbs: dict[str, str] = field(default_factory=dict)  # WBS code -> id
    parent_of: dict[str, str] = field(default_factory=dict)  # id -> parent cell text
    milestone_rows: dict[str, str] = field(default_factory=dict)  # id -> name
    milestone_cells: dict[str, tuple[int, dict[str, Cell]]] = field(default_factory=dict)
    names: dict[str, None] = field(default_factory=dict)  # people as written, in order
    milestone_names: dict[str, str] = field(default_factory=dict)  # column-only name -> project
    projects: dict[str, str | None] = field(default_factory=dict)  # key -> name
    emails: dict[str, str] = field(default_factory=dict)  # normalised name -> e-mail
    predecessors: dict[str, tuple[str, ...]] = field(default_factory=dict)  # id -> cells
    successors: dict[str, list[str]] = field(default_factory=dict)  # id -> ids it blocks
    key_of_issue_id: dict[str, str] = field(default_factory=dict)  # Jira "Issue id" -> key
    bad_records: list[BadRecord] = field(default_factory=list)
    rows: int = 0
    id_mode: str = "column"  # "column" | "wbs" | "title": see ID_NOTES
    derived: dict[int, str] = field(default_factory=dict)  # row number -> derived id
    id_of_title: dict[str, str] = field(default_factory=dict)  # title -> first row's id

    def parent_key(self, text: str) -> str:
        """A parent cell as a row id: Jira's ``Parent id`` holds the parent's numeric
        ``Issue id``, not its key; a sheet without ids names the parent's title; other
        sheets name the parent's id directly."""
        if text in self.first_row:
            return text
        if text in self.key_of_issue_id:
            return self.key_of_issue_id[text]
        return self.id_of_title.get(text, text)

    def row_id(self, n: int, row: Mapping[str, Cell]) -> str | None:
        if self.id_mode == "column":
            return mapping.to_text(row.get(self.columns["key"]))
        return self.derived.get(n)

    @cached_property
    def milestone_by_name(self) -> dict[str, str]:
        # first row wins when two milestones share a name
        return {name: mid for mid, name in reversed(self.milestone_rows.items())}

    def resolve_predecessor(self, text: str) -> str | None:
        if text in self.first_row:
            return text
        m = _PREDECESSOR.match(text)
        return m.group(1) if m and m.group(1) in self.first_row else None


class SpreadsheetConnector(FileConnector):
    type: ClassVar[str] = "spreadsheet"
    option_keys: ClassVar[Mapping[str, type]] = BUILTIN_OPTIONS["spreadsheet"]

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None):
        super().__init__(config, env=env)
        opts = config.options
        file_kind(self.path)  # .xls and unknown suffixes fail before any sync starts
        self.sheet: str | None = opts.get("sheet")
        self.header_row: int | None = opts.get("header_row")
        self.default_project: str | None = opts.get("project_key")
        self.default_project_name: str | None = opts.get("project_name")
        columns = opts.get("columns") or {}
        if not isinstance(columns, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
        ):
            raise ConfigError(
                "options.columns must map field names to header text", source=self.name
            )
        self.column_overrides: dict[str, str] = dict(columns)
        if "progress" in columns and "percent_complete" not in columns:
            # the record's name for it is accepted as well as the column's canonical name
            self.column_overrides["percent_complete"] = self.column_overrides.pop("progress")
        if opts.get("id_column"):  # a configured key column always wins over derived ids
            self.column_overrides["key"] = str(opts["id_column"])
        self.date_formats = tuple(str(f) for f in opts.get("date_formats") or ())
        bad = {k: v for k, v in config.status_map.items() if v not in mapping.STATUS_MAP_VALUES}
        if bad:
            raise ConfigError(
                f"status_map values must be one of {', '.join(mapping.STATUS_MAP_VALUES)}; "
                f"got {bad}",
                source=self.name,
            )
        self.encoding: str | None = opts.get("encoding")
        self.delimiter: str | None = opts.get("delimiter")
        self.hours_per_day = float(opts.get("hours_per_day") or 8.0)
        self.milestone_types = frozenset(
            mapping.normalise_header(t)
            for t in (opts.get("milestone_types") or mapping.MILESTONE_TYPES)
        )
        self.default_type = str(opts.get("default_type") or "Task")
        self._cache: tuple[tuple[int, int], _Index] | None = None

    # --- reading ----------------------------------------------------------------------

    def _describe_missing(self, headers: Any) -> str:
        found, missing = mapping.resolve_columns(headers, self.column_overrides)
        if missing:
            asked = ", ".join(f"columns.{k} = {v!r}" for k, v in missing.items())
            return f"configured column(s) not found: {asked}"
        if "title" not in found:
            # the whole message, whatever the terminal: `sources check` prints it whole
            return (
                "no title column: add 任务名称 (or Title), or set columns.title; an id column "
                "(编号/ID) is optional (without one, ids come from WBS codes or titles)"
            )
        return "no header row with a title column and at least one other known column"

    def _is_header(self, headers: Any) -> bool:
        found, missing = mapping.resolve_columns(headers, self.column_overrides)
        # without an id column, a title alone could be a note above the table: the header
        # row must name at least one more known column (负责人, 截止日期, ...)
        return not missing and "title" in found and ("key" in found or len(found) >= 2)

    def _table(self) -> Table:
        return read_table(
            self.path,
            sheet=self.sheet,
            encoding=self.encoding,
            delimiter=self.delimiter,
            header_row=self.header_row,
            is_header=self._is_header,
            describe_missing=self._describe_missing,
        )

    def _where(self, table: Table, row_number: int) -> str:
        name = table.label if self.sheet else self.path.name
        return f"{name} row {row_number}"

    def _context(self, index: _Index) -> RowContext:
        headers = index.table.headers
        return RowContext(
            repeats={
                f: mapping.repeated_headers(headers, index.columns[f])
                for f in mapping.LIST_FIELDS
                if f in index.columns
            },
            seconds_fields=_jira_seconds_fields(index.columns),
            source=self.name,
            columns=index.columns,
            project_key=self.default_project or "",
            tz=self.zone,
            date_formats=self.date_formats,
            status_map=self.config.status_map,
            hours_per_day=self.hours_per_day,
            default_type=self.default_type,
            extra_fields=tuple(f for f in index.columns if f not in mapping.KNOWN_FIELDS),
        )

    def _is_milestone_row(self, row: Mapping[str, Cell], columns: Mapping[str, str]) -> bool:
        kind = mapping.to_text(row.get(columns["type"])) if "type" in columns else None
        if kind and mapping.normalise_header(kind) in self.milestone_types:
            return True
        if "milestone" in columns:
            return mapping.to_flag(row.get(columns["milestone"])) is True
        return False

    def _index(self) -> _Index:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise ConfigError(
                f"spreadsheet file not found: {self.path}", source=self.name
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._cache and self._cache[0] == stamp:
            return self._cache[1]
        table = self._table()
        columns, _ = mapping.resolve_columns(table.headers, self.column_overrides)
        if "project" not in columns and not self.default_project:
            raise ConfigError(
                f"{table.label}: no project column (项目/Project) and no options.project_key; "
                "set project_key to the project these rows belong to",
                source=self.name,
            )
        index = _Index(table=table, columns=columns)
        if "key" not in columns:
            index.id_mode = "wbs" if "wbs" in columns else "title"
        if self.default_project:
            index.projects[self.default_project] = self.default_project_name
        text = mapping.to_text
        ctx = self._context(index)
        repeats: dict[str, int] = {}
        for n, row in fetch_rows(table, index.bad_records):
            index.rows += 1
            if index.id_mode != "column":
                _derive_id(index, n, row, repeats)
            rid = index.row_id(n, row)
            if rid is None or rid in index.first_row:
                continue  # reported in the mapping pass
            index.first_row[rid] = n
            issue_id = text(row.get(columns.get("issue_id", "")))
            if issue_id:
                index.key_of_issue_id.setdefault(issue_id, rid)
            project = text(row.get(columns.get("project", ""))) or self.default_project
            if project:
                index.project_of[rid] = project
                name = text(row.get(columns.get("project_name", "")))
                if index.projects.get(project) is None:
                    index.projects[project] = name
            if "wbs" in columns:
                code = _wbs_code(row.get(columns["wbs"]))
                if code and code not in index.wbs:
                    index.wbs[code] = rid
            parent = text(row.get(columns.get("parent", "")))
            if parent:
                index.parent_of[rid] = parent
            preds = mapping.to_list(row.get(columns.get("predecessors", "")))
            if preds:
                index.predecessors[rid] = preds
            if self._is_milestone_row(row, columns):
                index.milestone_rows[rid] = text(row.get(columns["title"])) or rid
                index.milestone_cells[rid] = (n, row)  # few: kept, so no re-read later
            elif "milestone" in columns and mapping.to_flag(row.get(columns["milestone"])) is None:
                for ms in mapping.cells_list(row, ctx, "milestone"):
                    index.milestone_names.setdefault(ms, project or "")
            for fld in ("assignee", "reporter"):
                for person in mapping.to_list(row.get(columns.get(fld, ""))):
                    index.names.setdefault(person)
            name = text(row.get(columns.get("assignee", "")))
            email = text(row.get(columns.get("assignee_email", "")))
            if name and email and "@" in email:
                index.emails.setdefault(mapping.normalise_name(name), email.lower())
        # Links are owned by their "from" end (the engine prunes an item's links by it), so
        # each row yields the links to the rows it blocks, gathered here from their cells.
        for rid, preds in index.predecessors.items():
            if rid in index.milestone_rows:
                continue  # milestones are not work items: no work item link to them
            for text_ in preds:
                pred = index.resolve_predecessor(text_)
                if pred is not None and pred not in index.milestone_rows:
                    index.successors.setdefault(pred, []).append(rid)
        index.parent_of = {rid: index.parent_key(p) for rid, p in index.parent_of.items()}
        self._cache = (stamp, index)
        return index

    # --- cross-row resolution ---------------------------------------------------------

    def _resolve_parent(
        self, index: _Index, rid: str, row: Mapping[str, Cell]
    ) -> tuple[str | None, tuple[str, ...]]:
        """(parent work item id, milestone ids implied by a milestone parent)."""
        cols = index.columns
        parent = mapping.to_text(row.get(cols.get("parent", "")))
        if parent:
            parent = index.parent_key(parent)
            if parent == rid:
                raise CellError("parent", f"row names itself ({parent!r}) as its parent")
            if parent not in index.first_row:
                raise CellError("parent", f"parent {parent!r} is not an id in this file")
            seen = {rid}
            step: str | None = parent
            while step is not None:
                if step in seen:
                    raise CellError("parent", f"parent chain loops back to {step!r}")
                seen.add(step)
                step = index.parent_of.get(step)
            if parent in index.milestone_rows:
                return None, (parent,)
            return parent, ()
        code = _wbs_code(row.get(cols["wbs"])) if "wbs" in cols else None
        if code:
            parts = code.split(".")
            # nearest existing ancestor: a deleted summary row does not orphan its children
            for i in range(len(parts) - 1, 0, -1):
                pid = index.wbs.get(".".join(parts[:i]))
                if pid and pid != rid and pid not in index.milestone_rows:
                    return pid, ()
        return None, ()

    def _resolve_milestones(
        self, index: _Index, ctx: RowContext, row: Mapping[str, Cell]
    ) -> tuple[str, ...]:
        if "milestone" not in index.columns:
            return ()
        value = row.get(index.columns["milestone"])
        if mapping.to_flag(value) is not None:
            return ()
        by_name = index.milestone_by_name
        out = []
        for ms in mapping.cells_list(row, ctx, "milestone"):
            out.append(ms if ms in index.milestone_rows else by_name.get(ms, ms))
        return tuple(dict.fromkeys(out))

    def _person(self, index: _Index, row: Mapping[str, Cell], fld: str) -> str | None:
        name = mapping.to_text(row.get(index.columns.get(fld, "")))
        if not name:
            return None
        # several people in one cell (张伟、李娜): the first is accountable
        name = mapping.to_list(name)[0] if mapping.to_list(name) else name
        if "@" in name:
            return name.lower()
        email = None
        if fld == "assignee":
            email = mapping.to_text(row.get(index.columns.get("assignee_email", "")))
            email = email.lower() if email and "@" in email else None
        return mapping.person_id(name, email or index.emails.get(mapping.normalise_name(name)))

    # --- the stream -------------------------------------------------------------------

    def _problem(self, index: _Index, n: int, exc: CellError | str, note: str = "") -> Skipped:
        """A located problem of row ``n`` (file, row, header): the row is skipped, so the
        report says what happens to a stored copy (it is not silently kept)."""
        note = note or "; the row is skipped: a stored copy keeps its last values until fixed"
        if isinstance(exc, CellError):
            message, header = str(exc), index.columns.get(exc.field, exc.field)
        else:
            message, header = exc, None
        return Skipped(
            RecordError(
                f"{message}{note}",
                source=self.name,
                where=self._where(index.table, n),
                field=header,
            )
        )

    def _links(self, index: _Index, rid: str) -> tuple[Link, ...]:
        return tuple(
            Link(
                source=self.name,
                external_id=f"{rid}->{succ}:blocks",
                from_id=rid,
                to_id=succ,
                kind="blocks",
            )
            for succ in dict.fromkeys(index.successors.get(rid, ()))
        )

    def _map_row(
        self, index: _Index, ctx: RowContext, n: int, rid: str, row: Mapping[str, Cell]
    ) -> Iterator[tuple[int, Any, tuple[Link, ...]]]:
        """One task row: the item, preceded by a problem per cell it had to leave empty."""
        cell_errors: list[CellError] = []
        try:
            parent, implied = self._resolve_parent(index, rid, row)
        except CellError as exc:  # a parent not in the file (a filtered export): no parent
            cell_errors.append(exc)
            parent, implied = None, ()
        for pred in index.predecessors.get(rid, ()):
            if index.resolve_predecessor(pred) is None:
                cell_errors.append(
                    CellError("predecessors", f"predecessor {pred!r} is not an id in this file")
                )
        item = mapping.to_work_item(
            row,
            ctx,
            external_id=rid,
            project_key=index.project_of[rid],
            parent_id=parent,
            assignee=self._person(index, row, "assignee"),
            reporter=self._person(index, row, "reporter"),
            milestone_ids=tuple(
                dict.fromkeys((*implied, *self._resolve_milestones(index, ctx, row)))
            ),
            cell_errors=cell_errors,
        )
        for bad in cell_errors:
            header = index.columns.get(bad.field, bad.field)
            problem = Problem(
                f"{bad} (id {rid}); the cell is ignored, the row is loaded",
                where=self._where(index.table, n),
                field=header,
                value=mapping.to_text(row.get(header)),
            )
            yield n, problem, ()
        yield n, item, self._links(index, rid)

    def _mapped(self) -> Iterator[tuple[int, Any, tuple[Link, ...]]]:
        """(row, WorkItem | Milestone | Skipped, links) for every row with an id or title."""
        index = self._index()
        ctx = self._context(index)
        cols = index.columns
        text = mapping.to_text
        for bad in index.bad_records:
            # the rows a broken quote swallowed are missing from this read: the stream is
            # incomplete, so the engine must not soft-delete their stored copies
            yield bad.row, self._problem(index, bad.row, bad.message), ()
            yield (
                bad.row,
                Problem(
                    "rows after this record were not read: no row is soft-deleted this run",
                    where=self._where(index.table, bad.row),
                    incomplete=True,
                ),
                (),
            )
        for n, row in fetch_rows(index.table):
            rid = index.row_id(n, row)
            title = text(row.get(cols["title"]))
            if rid is None and title is None:
                continue  # notes, subtotals, spacer rows: not tasks
            try:
                if rid is None and index.id_mode == "wbs":
                    raise CellError(
                        "wbs", f"row {title!r} has no WBS code (this sheet's ids are its codes)"
                    )
                if rid is None:
                    raise CellError("key", f"row {title!r} has no id")
                if index.first_row.get(rid) != n:
                    raise CellError(
                        "key", f"duplicate id {rid!r} (first used in row {index.first_row[rid]})"
                    )
                project = index.project_of.get(rid)
                if not project:
                    raise CellError("project", "no project (and no options.project_key)")
                if rid in index.milestone_rows:
                    yield (
                        n,
                        mapping.to_milestone(row, ctx, external_id=rid, project_key=project),
                        (),
                    )
                    continue
                yield from self._map_row(index, ctx, n, rid, row)
            except CellError as exc:
                yield n, self._problem(index, n, exc), ()
            except ValueError as exc:  # a record invariant: still this row's problem only
                yield n, self._problem(index, n, str(exc)), ()

    def fetch_work_items(self, since: dt.datetime | None = None) -> Iterator[StreamItem]:
        """Every row, every time (``since`` is ignored: a file has no change feed).

        Milestone rows are yielded by ``fetch_milestones``; their bad-row reports come
        here so each problem is reported exactly once. A file whose task rows were all
        rejected fails the source (after reporting them): "ok, 0 items" would tell the PMO
        the plan is empty when it is unreadable.
        """
        loaded = rejected = 0
        first: list[str] = []
        for _, rec, links in self._mapped():
            if isinstance(rec, Milestone):
                loaded += 1
                continue
            yield rec
            if isinstance(rec, Problem):
                continue
            if isinstance(rec, Skipped):
                rejected += 1
                if len(first) < 3:
                    first.append(str(rec.error))
                continue
            loaded += 1
            yield from links
            # the file is the whole truth: links from this row no longer listed were
            # removed (links to a skipped row are still yielded: that row stays)
            yield ChildrenComplete(rec.external_id)
        if rejected and not loaded:
            raise ConfigError(
                f"{self.path.name}: every row was rejected ({rejected} problems), nothing "
                f"loaded; first: {' | '.join(first)}",
                source=self.name,
            )

    def fetch_milestones(self) -> Iterator[Milestone]:
        """Milestone rows, then milestones only named in a 里程碑 column (id = the name)."""
        index = self._index()
        ctx = self._context(index)
        for rid, (_, row) in index.milestone_cells.items():
            project = index.project_of.get(rid)
            if not project:
                continue  # reported by fetch_work_items
            try:
                yield mapping.to_milestone(row, ctx, external_id=rid, project_key=project)
            except ValueError:  # CellError included: reported once, by fetch_work_items
                continue
        row_names = set(index.milestone_rows.values())
        for name, project in index.milestone_names.items():
            if name in index.milestone_rows or name in row_names:
                continue  # the column refers to a milestone row, already yielded
            yield Milestone(
                source=self.name, external_id=name, name=name, project_key=project or None
            )

    def fetch_projects(self) -> Iterator[Project]:
        index = self._index()
        for key, name in index.projects.items():
            if key == self.default_project and not name:
                name = self.default_project_name
            yield mapping.to_project(self.name, key, name)

    def fetch_people(self) -> Iterator[Person]:
        index = self._index()
        seen: set[str] = set()
        for name in index.names:
            if "@" in name:
                pid, email = name.lower(), name.lower()
            else:
                email = index.emails.get(mapping.normalise_name(name))
                pid = mapping.person_id(name, email)
            if pid is None or pid in seen:
                continue
            seen.add(pid)
            person = mapping.to_person(self.name, name, email)
            if person is not None:
                yield person

    def census(self, project_key: str) -> Iterator[str]:
        """Ids of every work item row in the project, bad rows included: a row with a typo
        is still in the file and must not be soft-deleted."""
        index = self._index()
        for rid, project in index.project_of.items():
            if project == project_key and rid not in index.milestone_rows:
                yield rid

    def check(self) -> dict[str, Any]:
        index = self._index()
        mapped_headers = set(index.columns.values())
        mapped = [(n, rec) for n, rec, _ in self._mapped()]
        problems = [
            str(rec.error) if isinstance(rec, Skipped) else str(rec)
            for _, rec in mapped
            if isinstance(rec, Skipped | Problem)
        ]
        # a bad optional cell is reported (a Problem) but its row still loads
        loaded = {n for n, rec in mapped if not isinstance(rec, Skipped | Problem)}
        bad_rows = {n for n, rec in mapped if isinstance(rec, Skipped)} - loaded
        facts: dict[str, Any] = {
            "file": str(self.path),
            "sheet": index.table.sheet,
            "encoding": index.table.encoding,
            "header_row": index.table.header_row,
            "rows": index.rows,
            "work_items": len(index.first_row) - len(index.milestone_rows),
            "milestones": len(index.milestone_rows),
            "bad_rows": len(bad_rows),
            "ids": ID_NOTES[index.id_mode].format(
                header=index.columns.get("wbs" if index.id_mode == "wbs" else "key")
            ),
            "projects": sorted(index.projects),
            "unmapped_headers": [h for h in index.table.headers if h and h not in mapped_headers],
            "columns": dict(index.columns),
            "problems": problems[:20],
        }
        return {k: v for k, v in facts.items() if v is not None}


#: Jira's CSV export writes these columns in seconds, not hours.
_JIRA_SECONDS_HEADERS = {
    "original_estimate_h": "Original Estimate",
    "remaining_estimate_h": "Remaining Estimate",
    "time_spent_h": "Time Spent",
}


def _jira_seconds_fields(columns: Mapping[str, str]) -> frozenset[str]:
    """Hour fields held in seconds: those read from Jira's own time columns, in a sheet
    that is a Jira export (it has the ``Issue id`` column next to ``Issue key``)."""
    if "issue_id" not in columns:
        return frozenset()
    return frozenset(f for f, header in _JIRA_SECONDS_HEADERS.items() if columns.get(f) == header)


def _derive_id(index: _Index, n: int, row: Mapping[str, Cell], repeats: dict[str, int]) -> None:
    """Row ``n``'s id for a sheet without an id column (see ``ID_NOTES``): its WBS code,
    else ``parent title / title`` (the title alone without a parent), `` #k`` for the k-th
    repeat under the same parent."""
    cols = index.columns
    if index.id_mode == "wbs":
        code = _wbs_code(row.get(cols["wbs"]))
        if code:
            index.derived[n] = code
        return
    title = mapping.to_text(row.get(cols["title"]))
    if not title:
        return
    parent = mapping.to_text(row.get(cols.get("parent", "")))
    base = f"{parent} / {title}" if parent else title
    repeats[base] = repeats.get(base, 0) + 1
    rid = base if repeats[base] == 1 else f"{base} #{repeats[base]}"
    if len(rid) > _MAX_ID:
        digest = hashlib.sha1(rid.encode("utf-8")).hexdigest()[:12]
        rid = f"{rid[: _MAX_ID - 14]}~{digest}"
    index.derived[n] = rid
    index.id_of_title.setdefault(title, rid)


def _wbs_code(value: Cell) -> str | None:
    """WBS code as text. Excel turns a typed 1.10 into the number 1.1: keep WBS columns
    formatted as text, nothing can undo that here."""
    code = mapping.to_text(value)
    if code is None:
        return None
    return code.strip().rstrip(".") or None
