"""Who speaks for a person merged by e-mail: the anchor account, decided by the accounts
alone so that parallel syncs, writing sources in any order, end in one state
(``aggregator.store.writes.upsert_people`` calls :func:`settle_anchors` on every page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, select, update

from pmohub.aggregator.store.bulk import aliases_t, chunks, one_of, people_t
from pmohub.connectors import records as rec


def account_order(source: str, external_id: str) -> tuple[str, str]:
    """The one order of accounts that decides who speaks for a merged person: the smallest
    account (source name, then external id) is its anchor and its key. A rule of the
    accounts alone, so it is the same whatever order parallel syncs write them in."""
    return (str(source), str(external_id))


#: How an account can join a person; the two strongest (config, manual) are the user's
#: word and are never re-decided by a sync.
SYNC_LINKS = ("sync", "email")


def carry_anchor(conn: Connection, person_id: int, p: rec.Person) -> None:
    """The ``people`` row takes the attributes of its anchor account ``p``."""
    conn.execute(
        update(people_t)
        .where(people_t.c.id == person_id)
        .values(display_name=p.display_name, email=p.email, active=p.active, time_zone=p.time_zone)
    )


def settle_anchors(
    conn: Connection, source: str, page_people: Mapping[int, Sequence[rec.Person]]
) -> None:
    """Make the smallest account of each person the page touched its anchor.

    A person with a config or manual link is left as it is (the user's word outranks the
    e-mail merge). When the smallest account is on this page it becomes ``sync`` and the
    row takes its attributes, every other account is ``email``. When it is not on this
    page but already the anchor, the page's accounts are ``email``. When it is neither
    (a store written before anchors were decided this way), nothing changes now: the
    smallest account takes over when its own source syncs, as it has the record (time
    zone) the row needs.
    """
    if not page_people:
        return
    accounts: dict[int, list[tuple[str, str, int, str]]] = {}
    for chunk in chunks(sorted(page_people)):
        for pid, src, ext, alias_id, linked_by in conn.execute(
            select(
                aliases_t.c.person_id,
                aliases_t.c.source,
                aliases_t.c.external_id,
                aliases_t.c.id,
                aliases_t.c.linked_by,
            ).where(one_of(conn, aliases_t.c.person_id, chunk))
        ):
            accounts.setdefault(pid, []).append((src, ext, alias_id, linked_by))
    to_email: list[int] = []
    to_sync: list[int] = []
    for pid, rows in accounts.items():
        if any(r[3] not in SYNC_LINKS for r in rows):
            continue
        anchor = min(rows, key=lambda r: account_order(r[0], r[1]))
        record = None
        if anchor[0] == source:
            record = next((p for p in page_people[pid] if p.external_id == anchor[1]), None)
        if record is None and anchor[3] != "sync":
            continue
        if record is not None and anchor[3] != "sync":
            to_sync.append(anchor[2])
            carry_anchor(conn, pid, record)
        to_email += [r[2] for r in rows if r is not anchor and r[3] != "email"]
    for ids, how in ((to_sync, "sync"), (to_email, "email")):
        for chunk in chunks(ids):
            conn.execute(
                update(aliases_t).where(one_of(conn, aliases_t.c.id, chunk)).values(linked_by=how)
            )
