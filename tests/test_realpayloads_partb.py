"""Real payloads of Redmine, MS Project, spreadsheets, Trello and Azure Boards replayed
through the mappings (issue 12); counts and values read from the payload files."""

from __future__ import annotations

import csv
import datetime as dt
import json
from typing import Any

from realpayloads import azureboards, msproject, real_folder, spreadsheet, trello


def test_trello_boards() -> None:
    kept: dict[str, Any] = {}
    r = trello.replay(kept)
    assert r.files == 5
    cards = 0
    unknown_list = 0
    for path in real_folder("trello").rglob("*.json"):
        board = json.loads(path.read_text())
        lists = {lst["id"] for lst in board["lists"]}
        cards += len(board["cards"])
        unknown_list += sum(c["idList"] not in lists for c in board["cards"])
    assert r.mapped["work_items"] + sum(r.skipped.values()) == cards
    assert sum(r.skipped.values()) == unknown_list == 3  # cards of lists the export omits
    assert r.mapped["status_changes"] == 2  # one_list_moved_card: two moves
    card = kept["one_list_moved_card/Card Two"]
    assert card.status == "List One" and card.status_category == "todo"
    assert card.created_at == dt.datetime(2016, 8, 11, 16, 26, 35, tzinfo=dt.UTC)  # ObjectId
    # some exports were edited upstream: ids like "card_two" are not ObjectIds, so no
    # creation time can be read from them; those cards are kept without one
    assert sum(1 for c in kept.values() if c.created_at is None) == 4
    assert card.updated_at == dt.datetime(2016, 8, 12, 9, 33, 30, 795000, tzinfo=dt.UTC)


def test_azureboards_examples() -> None:
    kept: dict[str, Any] = {}
    r = azureboards.replay(kept)
    assert r.files == 11
    # the batch example asks for three fields only (no System.State): not mappable as a
    # work item; pmohub's own batch request always asks for the state
    assert dict(r.skipped) == {"cannot map work item: KeyError('System.State')": 3}
    assert r.mapped["work_items"] == 7
    assert r.mapped["iterations"] == 2
    it = kept[
        "iterations__GET__work_teamsettings_iterations__timeframe-_timeframe_.json/a589a806-bf11-4d4f-a031-c19813331553"
    ]
    assert it.name == "Sprint 2"  # the entry without "path" that aborted the source
    assert r.mapped["status_changes"] > 0


def test_msproject_files() -> None:
    r = msproject.replay()
    assert r.files == 24
    assert r.mapped["work_items"] > 300 and r.mapped["people"] > 20
    assert "-1" not in str(r.skipped)


def test_jira_csv_export_as_spreadsheet() -> None:
    r = spreadsheet.replay()
    path = next(real_folder("spreadsheet").glob("*.csv"))
    with path.open(encoding="utf-8-sig", newline="") as f:
        csv.field_size_limit(1 << 24)
        rows = list(csv.DictReader(f))
    assert r.mapped["work_items"] == len(rows) == 274
    assert not r.skipped and not r.dropped
    versions = {row["Fix Version/s"] for row in rows if row["Fix Version/s"]}
    assert r.mapped["milestones"] == len(versions)
    assert dt.date.today()  # keep the import honest for readers


def test_jira_csv_values() -> None:
    from pmohub.connectors.base import SourceConfig
    from pmohub.connectors.records import WorkItem
    from pmohub.connectors.spreadsheet import SpreadsheetConnector

    path = next(real_folder("spreadsheet").glob("*.csv"))
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    key, iid, parent = (
        header.index("Issue key"),
        header.index("Issue id"),
        header.index("Parent id"),
    )
    key_of = {r[iid]: r[key] for r in rows}
    sprint_cols = [i for i, h in enumerate(header) if h == "Sprint"]
    conn = SpreadsheetConnector(
        SourceConfig(name="s", type="spreadsheet", options={"path": str(path)})
    )
    items = {o.external_id: o for o in conn.fetch_work_items(None) if isinstance(o, WorkItem)}
    subtasks = [r for r in rows if r[parent]]
    assert len(subtasks) == 8
    for r in subtasks:
        assert items[r[key]].parent_id == key_of[r[parent]]
    for r in rows:
        sprints = [r[i] for i in sprint_cols if r[i]]
        assert items[r[key]].extra.get("sprints", []) == list(dict.fromkeys(sprints))
    resolved = [r for r in rows if r[header.index("Resolved")]]
    assert sum(1 for i in items.values() if i.resolved_at) == len(resolved) == 120
