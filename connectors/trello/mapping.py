"""Pure mapping of Trello payloads to records (no I/O).

A board is a project, a card a work item, its list its status. ``status_map`` maps list
names to categories; without an entry, common kanban names are recognised (Backlog/To Do
-> todo, Doing/Review/Blocked -> in_progress, Done -> done, Won't do/Cancelled ->
cancelled; also the names real boards use: "Working On", "Current Sprint", "On Hold" ->
in_progress), anything else counts as todo. History: each list move (``updateCard`` with
``listBefore``/``listAfter``) is a status change, each due-date change a ``duedate`` one. ``resolved_at`` is the last move into the
current list when that list is done/cancelled; without history (or without such a move) it
is the card's ``dateLastActivity`` (``extra["resolved_from"]`` says so). Due and start
dates are instants in Trello: their day is taken in the source's ``time_zone``. Checklists: by default not sub-items (their
items rarely have an owner or dates): their totals go to ``extra`` (``checklist_items`` /
``checklist_done``) and their ratio to ``progress``; ``checklist_items: true`` also makes
each check item a child work item of its card. Archived cards stay, labelled
``archived``. Trello has no time tracking, iterations or milestones.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pmohub.connectors.base import map_status_category
from pmohub.connectors.errors import RecordError
from pmohub.connectors.records import Person, Project, StatusChange, WorkItem
from pmohub.connectors.timestamps import parse_utc

# First match wins, so the order matters: "Not started" must be todo before "start" reads as
# in progress, "Done this sprint" done before "sprint" reads as in progress. The
# in-progress words are the names real boards use for the committed column ("Working On",
# "Current Sprint", "This Week", "Now") and for parked work ("On Hold", "Waiting",
# "Paused", "Blocked": sub-states of in progress for roll-ups, as status_map "blocked" is).
_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"won'?t|cancel|abandon|rejected|废弃|取消", "cancelled"),
    (r"\bdone\b|complete|finished|closed|shipped|released|完成|已完成", "done"),
    (r"not started|\bto ?do\b|backlog|icebox|\bideas?\b|\bnext\b|\blater\b|待办|未开始", "todo"),
    (
        r"doing|progress|review|testing|\bqa\b|blocked|wip|working|current|this (week|sprint)"
        r"|\bsprint\b|\bnow\b|on hold|hold|waiting|paused|started|active|ongoing|\bdev\b"
        r"|进行|处理中|测试|评审|开发中|暂停|挂起",
        "in_progress",
    ),
)


@dataclass(frozen=True, slots=True)
class MappingContext:
    source: str
    status_map: Mapping[str, str] = field(default_factory=dict)
    #: The team's zone: Trello stores a due date as an instant (midnight or noon local
    #: time, in UTC), so its calendar day is the day in this zone, not the UTC day.
    zone: dt.tzinfo = dt.UTC


def created_from_id(object_id: str) -> dt.datetime | None:
    """Trello ids are ObjectIds whose first 4 bytes are the creation time (Trello's docs
    recommend this for "when was this card created"); None for an id that is not one
    (exports edited by hand carry ids like ``card_one``: the card is still kept)."""
    try:
        return dt.datetime.fromtimestamp(int(object_id[:8], 16), dt.UTC)
    except ValueError:
        return None


def list_category(name: str, ctx: MappingContext) -> str:
    default = "todo"
    for pattern, category in _PATTERNS:
        if re.search(pattern, name, re.IGNORECASE):
            default = category
            break
    return map_status_category(name, default, ctx.status_map)


def to_project(board: Mapping[str, Any], key: str, ctx: MappingContext) -> Project:
    return Project(
        source=ctx.source,
        external_id=str(board["id"]),
        key=key,
        name=str(board.get("name") or key),
        url=board.get("url") or board.get("shortUrl"),
        description=board.get("desc") or None,
        raw=board,
    )


def to_person(member: Mapping[str, Any], ctx: MappingContext) -> Person:
    return Person(
        source=ctx.source,
        external_id=str(member["id"]),
        display_name=str(member.get("fullName") or member.get("username") or member["id"]),
        # Trello shows e-mails only to their owner: usually None (merge by alias instead).
        email=member.get("email") or None,
        username=member.get("username"),
        raw=member,
    )


def local_day(value: Any, zone: dt.tzinfo) -> dt.date | None:
    """The calendar day of a Trello instant in ``zone`` (a card due "12 May" in Shanghai
    is stored as ``2026-05-11T16:00:00.000Z``: its UTC day is a day early)."""
    at = parse_utc(value) if isinstance(value, str) else None
    return at.astimezone(zone).date() if at else None


def _day(value: Any, zone: dt.tzinfo) -> str | None:
    day = local_day(value, zone)
    return day.isoformat() if day else None


def to_status_changes(
    card_id: str, actions: Iterable[Mapping[str, Any]], ctx: MappingContext
) -> Iterator[StatusChange]:
    """List moves as ``status`` changes; due-date changes as ``duedate`` (Jira's field name,
    which the due-date-move rules read)."""
    for a in sorted(actions, key=lambda a: (a.get("date") or "", a.get("id") or "")):
        data = a.get("data") or {}
        if a.get("type") != "updateCard":
            continue
        before, after = data.get("listBefore"), data.get("listAfter")
        old = data.get("old") or {}
        if before and after:
            name, from_value, to_value = "status", before.get("name"), after.get("name")
        elif "due" in old:
            name = "duedate"
            from_value = _day(old.get("due"), ctx.zone)
            to_value = _day((data.get("card") or {}).get("due"), ctx.zone)
            if from_value == to_value:
                continue
        else:
            continue
        yield StatusChange(
            source=ctx.source,
            external_id=str(a["id"]),
            work_item_id=card_id,
            field=name,
            from_value=from_value,
            to_value=to_value,
            changed_at=parse_utc(a["date"]),  # type: ignore[arg-type]
            author=a.get("idMemberCreator"),
        )


def to_progress(done: int, total: int) -> float | None:
    """A card's progress: its check items done / all of them (every checklist together,
    each item weighing the same: Trello has no estimates to weigh them by); None without
    any check item."""
    return done / total if total > 0 else None


def to_work_item(
    card: Mapping[str, Any],
    project_key: str,
    lists: Mapping[str, Mapping[str, Any]],
    ctx: MappingContext,
    *,
    changes: Iterable[StatusChange] = (),
    checklists: Iterable[Mapping[str, Any]] = (),
) -> WorkItem:
    where = f"{project_key} card {card.get('idShort')} ({card.get('shortLink')})"
    try:
        lst = lists.get(card["idList"])
        if lst is None:
            raise RecordError(
                f"card is in list {card['idList']} which the board does not have",
                source=ctx.source,
                where=where,
            )
        status = str(lst["name"])
        category = list_category(status, ctx)
        resolved = None
        extra: dict[str, Any] = {}
        if category in ("done", "cancelled"):
            into = [c.changed_at for c in changes if c.field == "status" and c.to_value == status]
            resolved = max(into) if into else None
            if resolved is None:
                # No move into the list is known (history off, or the card was created
                # there): the card's last activity is the best bound Trello gives without
                # the actions feed. It is never before the move into the done list, and on
                # a done card it is usually that move; a later comment makes it late, not
                # early, so nothing looks resolved before it was. Flagged in extra.
                resolved = parse_utc(card.get("dateLastActivity"))
                if resolved is not None:
                    extra["resolved_from"] = "dateLastActivity"
        labels = [str(lab.get("name") or lab.get("color")) for lab in card.get("labels") or []]
        if card.get("closed"):
            labels.append("archived")
        items = [i for cl in checklists for i in cl.get("checkItems") or []]
        progress = None
        if items:
            done = sum(1 for i in items if i.get("state") == "complete")
            extra.update(checklist_items=len(items), checklist_done=done)
            progress = to_progress(done, len(items))
        if card.get("dueComplete"):
            extra["due_complete"] = True
        due, start = local_day(card.get("due"), ctx.zone), local_day(card.get("start"), ctx.zone)
        members = card.get("idMembers") or []
        return WorkItem(
            source=ctx.source,
            external_id=str(card["id"]),
            key=f"{project_key}-{card['idShort']}",
            project_key=project_key,
            title=str(card["name"]),
            type="Card",
            status=status,
            status_category=category,  # type: ignore[arg-type]
            assignee=str(members[0]) if members else None,
            created_at=created_from_id(str(card["id"])),
            updated_at=parse_utc(card.get("dateLastActivity")),
            resolved_at=resolved,
            start_on=start,
            due_on=due,
            progress=progress,
            labels=tuple(labels),
            url=card.get("url") or card.get("shortUrl"),
            extra=extra,
            raw=card,
        )
    except RecordError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"cannot map card: {exc!r}", source=ctx.source, where=where) from exc


def to_checklist_items(
    card: WorkItem, checklists: Iterable[Mapping[str, Any]], ctx: MappingContext
) -> Iterator[WorkItem]:
    """With ``checklist_items: true``: each check item as a child work item of its card
    (complete -> done, else todo; Trello keeps no history for them)."""
    n = 0
    for cl in checklists:
        for item in cl.get("checkItems") or []:
            n += 1
            done = item.get("state") == "complete"
            due = local_day(item.get("due"), ctx.zone)
            yield WorkItem(
                source=ctx.source,
                external_id=str(item["id"]),
                key=f"{card.key}.{n}",
                project_key=card.project_key,
                title=str(item.get("name") or ""),
                type="Checklist item",
                status="complete" if done else "incomplete",
                status_category="done" if done else "todo",
                assignee=item.get("idMember") or None,
                parent_id=card.external_id,
                created_at=created_from_id(str(item["id"])),
                updated_at=card.updated_at,
                due_on=due,
                labels=(f"checklist:{cl.get('name')}",),
                url=card.url,
                raw=item,
            )
