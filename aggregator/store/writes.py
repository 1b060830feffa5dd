"""Store writers: batched, idempotent upserts of connector records, one page at a time.

Every ``upsert_*`` takes an open connection (the caller owns the transaction, so a page and
its cursor commit together) and a page of records of one source, and returns
:class:`WriteCounts`.

How a page is written (the same on SQLite and PostgreSQL):

1. one SELECT fetches ``id, content_hash, deleted_at`` of the page's natural keys
   ``(source, external_id)``;
2. rows are split in Python into new, changed (digest differs, or soft-deleted and back) and
   unchanged; unchanged rows are not sent at all, so they are neither rewritten nor counted
   and their ``synced_at`` stays put (``synced_at`` = when the content last changed);
3. new and changed rows go in ONE executemany of a dialect ``INSERT .. ON CONFLICT
   (source, external_id) DO UPDATE .. WHERE content_hash IS DISTINCT FROM excluded`` (the
   WHERE is a second guard: even a row sent twice is not rewritten); on PostgreSQL every
   table but ``work_items`` sends the page as one ``INSERT .. SELECT FROM unnest(..)`` of
   the same upsert instead (``bulk.upsert_statement``); the new rows' ids are read back
   with one indexed SELECT.

Counts are exact because one source is written by one sync at a time (the per-source lock
in ``aggregator.store.locks``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    delete,
    func,
    select,
    update,
)

from pmohub.aggregator.store.anchors import SYNC_LINKS, carry_anchor, settle_anchors
from pmohub.aggregator.store.bulk import (
    WriteCounts,
    aliases_t,
    chunks,
    dialect_insert,
    existing_rows,
    id_list,
    in_list,
    iterations_t,
    links_t,
    milestones_t,
    now_utc,
    one_of,
    people_t,
    prepare,
    projects_t,
    sources_t,
    status_changes_t,
    work_items_t,
    worklogs_t,
    write_page,
)
from pmohub.aggregator.store.locks import lock_people
from pmohub.connectors import records as rec

# --- content digests -------------------------------------------------------------------

_GETTERS: dict[type, tuple[Callable[[Any], Any], tuple[int, ...], tuple[str, ...]]] = {}

#: Fields added to a record after stores were shipped. They are digested after all the
#: others and only when one of them is set, so a record that leaves them None keeps the
#: digest stored before the upgrade: the next sync does not re-write every row of a tracker
#: that does not report them (Jira, GitLab, ... for ``progress``).
_LATE_FIELDS: dict[type, tuple[str, ...]] = {rec.WorkItem: ("progress",)}


def content_hash(record: rec.Record) -> str:
    """Digest of a record's content (not ``raw``, ``source`` or ``external_id``).

    ``repr`` of str/int/float/bool/date/datetime/tuple is stable across runs and processes;
    mappings go through sorted JSON so key order does not matter.
    """
    cls = type(record)
    spec = _GETTERS.get(cls)
    if spec is None:
        late = _LATE_FIELDS.get(cls, ())
        skip = {"raw", "source", "external_id", *late}
        names = [f.name for f in fields(record) if f.name not in skip]
        getter = attrgetter(*names)
        mappings = tuple(i for i, f in enumerate(names) if f == "extra")
        spec = _GETTERS[cls] = (getter, mappings, late)
    getter, mappings, late = spec
    values = getter(record)
    if mappings:
        values = list(values)
        for i in mappings:
            values[i] = json.dumps(values[i], sort_keys=True, default=str) if values[i] else ""
    if late:
        late_values = [getattr(record, name) for name in late]
        if late_values.count(None) < len(late_values):
            # keep the container type: its repr is part of the digests already stored
            values = [*values, *late_values] if mappings else (*values, *late_values)
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


# --- dialect helpers -------------------------------------------------------------------


# --- statements compiled once, run on the driver cursor ----------------------------------
#
# The hot statements (page lookups, the page upsert, parent updates, census inserts) are
# built with SQLAlchemy constructs, compiled ONCE per dialect and then executed with
# ``exec_driver_sql``: still bound parameters, but without SQLAlchemy's per-execution
# compile-cache lookup and per-row, per-value bind processing, which cost more than the
# database itself on SQLite. Values are converted by the converters below, which write
# exactly what SQLAlchemy's own bind processors write (same strings on SQLite), so rows
# written either way compare and read back the same.


# --- sources, projects, people ---------------------------------------------------------


def upsert_source(
    conn: Connection,
    name: str,
    type: str,
    *,
    url: str | None = None,
    deployment: str | None = None,
    at: dt.datetime | None = None,
) -> int:
    """The ``sources`` row every synced row points at; ``last_seen_at`` is bumped each run."""
    at = at or now_utc()
    stmt = dialect_insert(conn, sources_t).values(
        name=name, type=type, url=url, deployment=deployment, created_at=at, last_seen_at=at
    )
    set_: dict[str, Any] = {"type": type, "url": url, "last_seen_at": at}
    if deployment is not None:
        set_["deployment"] = deployment
    stmt = stmt.on_conflict_do_update(index_elements=[sources_t.c.name], set_=set_)
    conn.execute(stmt)
    return conn.execute(select(sources_t.c.id).where(sources_t.c.name == name)).scalar_one()


def resolve_project_ids(
    conn: Connection, source: str, keys: Collection[str], *, at: dt.datetime | None = None
) -> dict[str, int]:
    """Project key -> projects.id, creating a minimal placeholder row (external_id = key,
    content_hash NULL) for keys not seen yet; ``upsert_projects`` adopts it later."""
    wanted = sorted({k for k in keys if k})
    if not wanted:
        return {}
    found = _project_ids_by_key(conn, source, wanted)
    missing = [k for k in wanted if k not in found]
    if missing:
        at = at or now_utc()
        stmt = dialect_insert(conn, projects_t).on_conflict_do_nothing(
            index_elements=[projects_t.c.source, projects_t.c.external_id]
        )
        conn.execute(
            stmt,
            [
                {"source": source, "external_id": k, "key": k, "name": k, "synced_at": at}
                for k in missing
            ],
        )
        found.update(_project_ids_by_key(conn, source, missing))
        # A placeholder whose key moved on still answers for its external_id.
        still = [k for k in missing if k not in found]
        if still:
            for ext, e in existing_rows(conn, projects_t, source, still).items():
                found[ext] = e.id
    return found


def _project_ids_by_key(conn: Connection, source: str, keys: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(keys):
        rows = conn.execute(
            select(projects_t.c.key, projects_t.c.id)
            .where(projects_t.c.source == source, projects_t.c.key.in_(chunk))
            # live rows first, then the oldest: a stable choice when a key was reused
            .order_by(projects_t.c.key, projects_t.c.deleted_at.is_not(None), projects_t.c.id)
        )
        for key, id_ in rows:
            found.setdefault(key, id_)
    return found


def upsert_projects(
    conn: Connection, source: str, projects: Sequence[rec.Project], *, at: dt.datetime | None = None
) -> WriteCounts:
    at = at or now_utc()
    counts = WriteCounts()
    if not projects:
        return counts
    existing = existing_rows(conn, projects_t, source, [p.external_id for p in projects])
    new = {p.key: p.external_id for p in projects if p.external_id not in existing}
    if new:
        # Adopt the placeholder a work item created before its project was listed: it takes
        # the project's real external id and is then updated like any stored row.
        holders = conn.execute(
            select(projects_t.c.id, projects_t.c.key).where(
                projects_t.c.source == source,
                projects_t.c.key.in_(sorted(new)),
                projects_t.c.content_hash.is_(None),
                projects_t.c.external_id == projects_t.c.key,
            )
        ).all()
        for id_, key in holders:
            if new[key] != key:
                conn.execute(
                    update(projects_t).where(projects_t.c.id == id_).values(external_id=new[key])
                )
    write_page(conn, projects_t, source, [_project_row(p, at) for p in projects], counts)
    return counts


def _project_row(p: rec.Project, at: dt.datetime) -> dict[str, Any]:
    return {
        "source": p.source,
        "external_id": p.external_id,
        "key": p.key,
        "name": p.name,
        "lead": p.lead,
        "url": p.url,
        "description": p.description,
        "category": p.category,
        "synced_at": at,
        "deleted_at": None,
        "content_hash": content_hash(p),
    }


def normalise_email(value: object) -> str | None:
    """The one e-mail comparison key (trimmed, case-folded); None for a blank or non-text."""
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def upsert_people(
    conn: Connection, source: str, people: Sequence[rec.Person], *, at: dt.datetime | None = None
) -> WriteCounts:
    """One ``person_aliases`` row per account, pointing at a merged ``people`` row.

    A new account joins an existing person with the same e-mail (case-insensitive, any
    source); otherwise it gets a person of its own. An account first met as a bare id on a
    work item (a placeholder alias) is merged by e-mail when its Person record arrives, and
    every reference to the placeholder person moves with it.

    The anchor of a person merged by e-mail (``sync``; the ``people`` row carries it) is
    its smallest account, re-decided on every page (aggregator/store/anchors.py): the end
    state does not depend on which source came first. ``people.id`` does, so it is never
    a key (``aggregator.people.person_keys``).
    """
    at = at or now_utc()
    counts = WriteCounts()
    if not people:
        return counts
    page = list({p.external_id: p for p in people}.values())
    lock_people(conn)
    rows = conn.execute(
        select(
            aliases_t.c.external_id,
            aliases_t.c.id,
            aliases_t.c.person_id,
            aliases_t.c.content_hash,
            aliases_t.c.deleted_at.is_not(None),
            aliases_t.c.linked_by,
        ).where(
            aliases_t.c.source == source,
            aliases_t.c.external_id.in_([p.external_id for p in page]),
        )
    ).all()
    existing = {r[0]: r for r in rows}
    emails = {e for e in (normalise_email(p.email) for p in page) if e}
    by_email: dict[str, int] = {}
    if emails:
        # compared as normalise_email compares: a stored " A@x.cn " is a@x.cn, else which
        # spelling came first would decide whether the accounts merge
        stored = func.lower(func.trim(people_t.c.email))
        for email, pid in conn.execute(
            select(stored, func.min(people_t.c.id))
            .where(stored.in_(sorted(emails)))
            .group_by(stored)
        ):
            by_email[email] = pid

    new_aliases: list[dict[str, Any]] = []
    # person id -> the page's accounts of that person (its anchor may be one of them)
    page_people: dict[int, list[rec.Person]] = {}
    for p in page:
        digest = content_hash(p)
        email = normalise_email(p.email)
        old = existing.get(p.external_id)
        alias_values = {
            "display_name": p.display_name,
            "email": p.email,
            "username": p.username,
            "active": p.active,
            "synced_at": at,
            "deleted_at": None,
            "content_hash": digest,
        }
        if old is None:
            if email and email in by_email:
                person_id, linked_by = by_email[email], "email"
            else:
                person_id, linked_by = _new_person(conn, p, at), "sync"
                if email:
                    by_email[email] = person_id
            row = {"source": source, "external_id": p.external_id, "person_id": person_id}
            new_aliases.append({**row, "linked_by": linked_by, **alias_values})
            page_people.setdefault(person_id, []).append(p)
            continue
        _ext, alias_id, person_id, old_digest, deleted, linked_by = old
        if old_digest == digest and not deleted:
            counts.unchanged += 1
            page_people.setdefault(person_id, []).append(p)
            continue
        counts.updated += 1
        if old_digest is None and email and by_email.get(email, person_id) != person_id:
            # placeholder alias whose person turns out to exist already: merge onto it
            move_person(conn, person_id, by_email[email])
            person_id = by_email[email]
            if linked_by in SYNC_LINKS:
                linked_by = "email"  # until settle_anchors finds it is the smallest
        elif linked_by == "sync":
            carry_anchor(conn, person_id, p)
            if email:
                by_email.setdefault(email, person_id)
        conn.execute(
            update(aliases_t)
            .where(aliases_t.c.id == alias_id)
            .values(person_id=person_id, linked_by=linked_by, **alias_values)
        )
        page_people.setdefault(person_id, []).append(p)
    if new_aliases:
        conn.execute(dialect_insert(conn, aliases_t), new_aliases)
        counts.inserted += len(new_aliases)
    settle_anchors(conn, source, page_people)
    return counts


def _new_person(conn: Connection, p: rec.Person, at: dt.datetime) -> int:
    return conn.execute(
        dialect_insert(conn, people_t)
        .values(
            display_name=p.display_name,
            email=p.email,
            active=p.active,
            time_zone=p.time_zone,
            created_at=at,
        )
        .returning(people_t.c.id)
    ).scalar_one()


def move_person(conn: Connection, old_id: int, new_id: int) -> None:
    """Fold person ``old_id`` into ``new_id``: every reference to it (work item assignee and
    reporter, worklogs, account aliases) moves to ``new_id``, then the ``old_id`` row is
    deleted. Runs inside the caller's transaction; used when accounts turn out to be one
    human (e-mail match on sync, ``people:`` config, ``pmohub people link``)."""
    for table, col in (
        (work_items_t, "assignee_id"),
        (work_items_t, "reporter_id"),
        (worklogs_t, "person_id"),
        (aliases_t, "person_id"),
    ):
        conn.execute(update(table).where(table.c[col] == old_id).values({col: new_id}))
    conn.execute(delete(people_t).where(people_t.c.id == old_id))


def resolve_person_ids(
    conn: Connection, source: str, external_ids: Collection[str], *, at: dt.datetime | None = None
) -> dict[str, int]:
    """Account external id -> people.id; an account never listed by ``fetch_people`` (a
    deactivated user, an app) gets a placeholder alias and person so references resolve."""
    wanted = sorted({e for e in external_ids if e})
    if not wanted:
        return {}
    found = _alias_person_ids(conn, source, wanted)
    missing = [e for e in wanted if e not in found]
    if missing:
        at = at or now_utc()
        for ext in missing:
            pid = _new_person(
                conn, rec.Person(source=source, external_id=ext, display_name=ext), at
            )
            conn.execute(
                dialect_insert(conn, aliases_t).values(
                    source=source,
                    external_id=ext,
                    person_id=pid,
                    active=True,
                    linked_by="sync",
                    synced_at=at,
                )
            )
            found[ext] = pid
    return found


def _alias_person_ids(conn: Connection, source: str, ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(ids):
        for ext, pid in conn.execute(
            select(aliases_t.c.external_id, aliases_t.c.person_id).where(
                aliases_t.c.source == source, one_of(conn, aliases_t.c.external_id, chunk)
            )
        ):
            found[ext] = pid
    return found


# --- work items and their children -----------------------------------------------------


#: Column order of the work item row tuples built below.
ITEM_COLUMNS = (
    "source",
    "external_id",
    "key",
    "project_id",
    "project_key",
    "title",
    "type",
    "status",
    "status_category",
    "priority",
    "assignee",
    "assignee_id",
    "reporter",
    "reporter_id",
    "parent_external_id",
    "created_at",
    "updated_at",
    "resolved_at",
    "resolution",
    "start_on",
    "due_on",
    "story_points",
    "original_estimate_h",
    "remaining_estimate_h",
    "time_spent_h",
    "progress",
    "labels",
    "components",
    "milestone_ids",
    "iteration_ids",
    "url",
    "extra",
    "synced_at",
    "deleted_at",
    "content_hash",
)


def upsert_work_items(
    conn: Connection,
    source: str,
    items: Sequence[rec.WorkItem],
    *,
    at: dt.datetime | None = None,
    new_ids: set[str] | None = None,
) -> tuple[WriteCounts, dict[str, int]]:
    """Upsert a page of work items; return the counts and external_id -> work_items.id
    (and add the external ids of the items this call inserted to ``new_ids``).

    Items are matched by immutable external id, so a moved issue (new key, new project)
    updates its row. ``parent_id`` is resolved after the page, set-based, both for the page's
    items and for stored children whose parent arrives only now.
    """
    at = at or now_utc()
    counts = WriteCounts()
    if not items:
        return counts, {}
    project_ids = resolve_project_ids(conn, source, {i.project_key for i in items}, at=at)
    person_ids = resolve_person_ids(
        conn,
        source,
        {i.assignee for i in items if i.assignee} | {i.reporter for i in items if i.reporter},
        at=at,
    )
    rows = [
        (
            source,
            i.external_id,
            i.key,
            project_ids[i.project_key],
            i.project_key,
            i.title,
            i.type,
            i.status,
            i.status_category,
            i.priority,
            i.assignee,
            person_ids.get(i.assignee) if i.assignee else None,
            i.reporter,
            person_ids.get(i.reporter) if i.reporter else None,
            i.parent_id,
            i.created_at,
            i.updated_at,
            i.resolved_at,
            i.resolution,
            i.start_on,
            i.due_on,
            i.story_points,
            i.original_estimate_h,
            i.remaining_estimate_h,
            i.time_spent_h,
            i.progress,
            i.labels,
            i.components,
            i.milestone_ids,
            i.iteration_ids,
            i.url,
            dict(i.extra),
            at,
            None,
            content_hash(i),
        )
        for i in items
    ]
    ids = write_page(
        conn, work_items_t, source, rows, counts, columns=ITEM_COLUMNS, new_ids=new_ids
    )
    resolve_parents(conn, source, list(ids), ids)
    return counts, ids


def resolve_parents(
    conn: Connection, source: str, external_ids: Sequence[str], known: Mapping[str, int]
) -> int:
    """Set ``parent_id`` from ``parent_external_id`` for these items and for the stored
    children that name one of them as parent (a parent may arrive pages or runs later).

    Resolved with two indexed SELECTs and an executemany UPDATE of only the rows whose
    parent changed (a correlated UPDATE would be planned per row and, on a freshly loaded
    PostgreSQL table without statistics, as sequential scans)."""
    wi = work_items_t
    rows: dict[int, tuple[int | None, str | None]] = {}
    lookups = [
        prepare(
            conn,
            ("parents", match.name),
            lambda match=match: select(wi.c.id, wi.c.parent_id, wi.c.parent_external_id).where(
                wi.c.source == bindparam("source"), in_list(conn, match, "ids")
            ),
        )
        for match in (wi.c.external_id, wi.c.parent_external_id)
    ]
    for chunk in chunks(external_ids):
        for lookup in lookups:
            for id_, parent_id, parent_ext in lookup.query(
                conn, source=source, ids=id_list(conn, chunk)
            ):
                rows[id_] = (parent_id, parent_ext)
    ids = _item_ids(conn, source, (p for _, p in rows.values() if p), known)
    changes = [
        {"b_id": id_, "b_parent": ids.get(parent_ext) if parent_ext else None}
        for id_, (parent_id, parent_ext) in rows.items()
        if (ids.get(parent_ext) if parent_ext else None) != parent_id
    ]
    if changes:
        prepare(
            conn,
            ("set_parent",),
            lambda: (
                update(wi)
                .where(wi.c.id == bindparam("b_id"))
                .values(parent_id=bindparam("b_parent"))
            ),
        ).execute(conn, changes)
    return len(changes)


def _item_ids(
    conn: Connection, source: str, wanted: Iterable[str], known: Mapping[str, int]
) -> dict[str, int]:
    ids = dict(known)
    missing = sorted({w for w in wanted if w not in ids})
    if missing:
        ids.update(
            {ext: e.id for ext, e in existing_rows(conn, work_items_t, source, missing).items()}
        )
    return ids


CHANGE_COLUMNS = (
    "source",
    "external_id",
    "work_item_id",
    "field",
    "from_value",
    "to_value",
    "changed_at",
    "author",
    "synced_at",
    "deleted_at",
    "content_hash",
)


def upsert_status_changes(
    conn: Connection,
    source: str,
    changes: Sequence[rec.StatusChange],
    *,
    item_ids: Mapping[str, int] | None = None,
    at: dt.datetime | None = None,
) -> WriteCounts:
    at = at or now_utc()
    counts = WriteCounts()
    if not changes:
        return counts
    ids = _item_ids(conn, source, (c.work_item_id for c in changes), item_ids or {})
    rows = []
    for c in changes:
        wid = ids.get(c.work_item_id)
        if wid is None:
            counts.problem(
                f"[{source}] status change {c.external_id}: work item {c.work_item_id} "
                "was not synced; skipped"
            )
            continue
        rows.append(
            (
                source,
                c.external_id,
                wid,
                c.field,
                c.from_value,
                c.to_value,
                c.changed_at,
                c.author,
                at,
                None,
                content_hash(c),
            )
        )
    write_page(conn, status_changes_t, source, rows, counts, columns=CHANGE_COLUMNS, want_ids=False)
    return counts


_WORKLOG_COLUMNS = (
    "source",
    "external_id",
    "work_item_id",
    "author",
    "person_id",
    "started_at",
    "seconds",
    "updated_at",
    "synced_at",
    "deleted_at",
    "content_hash",
)


def upsert_worklogs(
    conn: Connection,
    source: str,
    worklogs: Sequence[rec.Worklog],
    *,
    item_ids: Mapping[str, int] | None = None,
    at: dt.datetime | None = None,
) -> WriteCounts:
    at = at or now_utc()
    counts = WriteCounts()
    if not worklogs:
        return counts
    ids = _item_ids(conn, source, (w.work_item_id for w in worklogs), item_ids or {})
    person_ids = resolve_person_ids(conn, source, {w.author for w in worklogs if w.author}, at=at)
    rows = []
    for w in worklogs:
        wid = ids.get(w.work_item_id)
        if wid is None:
            counts.problem(
                f"[{source}] worklog {w.external_id}: work item {w.work_item_id} "
                "was not synced; skipped"
            )
            continue
        rows.append(
            (
                source,
                w.external_id,
                wid,
                w.author,
                person_ids.get(w.author) if w.author else None,
                w.started_at,
                w.seconds,
                w.updated_at,
                at,
                None,
                content_hash(w),
            )
        )
    write_page(conn, worklogs_t, source, rows, counts, columns=_WORKLOG_COLUMNS, want_ids=False)
    return counts


def upsert_links(
    conn: Connection, source: str, links: Sequence[rec.Link], *, at: dt.datetime | None = None
) -> WriteCounts:
    at = at or now_utc()
    counts = WriteCounts()
    rows = [
        {
            "source": source,
            "external_id": link.external_id,
            "from_external_id": link.from_id,
            "to_external_id": link.to_id,
            "kind": link.kind,
            "synced_at": at,
            "deleted_at": None,
            "content_hash": content_hash(link),
        }
        for link in links
    ]
    if rows:
        write_page(conn, links_t, source, rows, counts, want_ids=False)
    return counts


def upsert_iterations(
    conn: Connection,
    source: str,
    iterations: Sequence[rec.Iteration],
    *,
    at: dt.datetime | None = None,
) -> WriteCounts:
    at = at or now_utc()
    counts = WriteCounts()
    if not iterations:
        return counts
    pids = resolve_project_ids(conn, source, {i.project_key for i in iterations if i.project_key})
    rows = [
        {
            "source": source,
            "external_id": i.external_id,
            "project_id": pids.get(i.project_key) if i.project_key else None,
            "name": i.name,
            "state": i.state,
            "start_at": i.start_at,
            "end_at": i.end_at,
            "complete_at": i.complete_at,
            "goal": i.goal,
            "synced_at": at,
            "deleted_at": None,
            "content_hash": content_hash(i),
        }
        for i in iterations
    ]
    write_page(conn, iterations_t, source, rows, counts)
    return counts


def upsert_milestones(
    conn: Connection,
    source: str,
    milestones: Sequence[rec.Milestone],
    *,
    at: dt.datetime | None = None,
) -> WriteCounts:
    at = at or now_utc()
    counts = WriteCounts()
    if not milestones:
        return counts
    pids = resolve_project_ids(conn, source, {i.project_key for i in milestones if i.project_key})
    rows = [
        {
            "source": source,
            "external_id": ms.external_id,
            "project_id": pids.get(ms.project_key) if ms.project_key else None,
            "name": ms.name,
            "start_on": ms.start_on,
            "due_on": ms.due_on,
            "released": ms.released,
            "released_on": ms.released_on,
            "archived": ms.archived,
            "description": ms.description,
            "synced_at": at,
            "deleted_at": None,
            "content_hash": content_hash(ms),
        }
        for ms in milestones
    ]
    write_page(conn, milestones_t, source, rows, counts)
    return counts


# --- soft deletion ---------------------------------------------------------------------
