"""One identity per person across every source.

An account in a tracker is a ``person_aliases`` row (``source``, ``external_id``); the human
behind it is a ``people`` row. Accounts join one person three ways, strongest last:

1. **e-mail** (case-insensitive, any source), when an account is first synced
   (``aggregator.store.writes.upsert_people``);
2. **config**: a ``people:`` entry lists one person's accounts,
   ``{id: "jira_main:5b10...", name: 张伟, email: ..., aliases: ["gitlab:lina", "redmine:12"]}``,
   applied after every sync and by ``pmohub people`` (:func:`apply_config_people`);
3. **manual**: ``pmohub people link SOURCE:ID SOURCE:ID`` (:func:`link_accounts`).

A reference is ``SOURCE:ID`` where ``SOURCE`` is a configured source *name*; a source *type*
(``jira``, ``redmine``) is accepted when exactly one source of that type is in the store.
The id is the account's external id in that source (a Jira accountId or user key, a Redmine
user id, an MS Project resource UID, a spreadsheet's person name) or, when no account has
that external id, its username (``person_aliases.username``, compared case-insensitively):
GitLab, GitHub and Redmine key accounts by a numeric id, but people write ``gitlab:lina``.

Links are marked on the alias (``linked_by`` = ``email`` | ``config`` | ``manual``) and
survive re-syncs: a sync only re-points an alias that is still a placeholder (an account
first met as a bare id on a work item), and only to merge further by e-mail. Merging moves
every reference (work item assignee/reporter, worklogs, aliases) to the surviving person.

``people.id`` is a store detail: parallel syncs number people in the order their pages
happen to arrive. What is stable is the person's **key**, ``SOURCE:ID`` of its smallest
account (:func:`pmohub.aggregator.store.writes.account_order`), which is also the anchor
of a person merged by e-mail. Findings name people by it (``person:<key>``); a merge keeps
the row of the person with the smallest key, so the result of a merge does not depend on
the order either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from pmohub.aggregator.store import models as m
from pmohub.aggregator.store.anchors import account_order
from pmohub.aggregator.store.bulk import aliases_t, people_t
from pmohub.aggregator.store.writes import move_person, normalise_email
from pmohub.connectors.errors import PmohubError

sources_t = m.Source.__table__


@dataclass
class AccountIndex:
    """The store's accounts, for matching a config ``people:`` entry on the read side by
    the rules the write side merges by (:func:`apply_config_people`, :func:`parse_ref`): an
    account ref ``SOURCE:ID`` (SOURCE a source name, or a type with exactly one source; ID
    an external id, else a username, case-insensitive), and the e-mail. Only when none of
    those names an account does a display name held by exactly one person match: settings
    (hours, allocation, leave) may attach to a name, accounts are never merged by one."""

    sources: dict[str, str] = field(default_factory=dict)  # source name -> type
    accounts: dict[tuple[str, str], int] = field(default_factory=dict)
    usernames: dict[tuple[str, str], int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)
    names: dict[str, int | None] = field(default_factory=dict)  # None: held by several

    @classmethod
    def from_rows(
        cls,
        aliases: Iterable[tuple[Any, Any, Any, Any]],
        people: Iterable[tuple[Any, ...]],
        sources: Mapping[str, str] | None = None,
    ) -> AccountIndex:
        """``aliases``: (source, external_id, username, person_id); ``people``: (id, email)
        or (id, email, display_name); ``sources``: source name -> type."""
        index = cls(sources=dict(sources or {}))
        for src, ext, user, pid in aliases:
            index.accounts[(str(src), str(ext))] = int(pid)
            if isinstance(user, str) and user:
                index.usernames.setdefault((str(src), user.lower()), int(pid))
        for row in people:
            pid, email = int(row[0]), row[1]
            key = normalise_email(email)
            if key is not None:
                index.emails.setdefault(key, pid)
            name = row[2] if len(row) > 2 else None
            if isinstance(name, str) and name.strip():
                seen = index.names.get(name.strip(), pid)
                index.names[name.strip()] = pid if seen == pid else None
        return index

    def config_person_ids(self, entry: Any) -> set[int]:
        """Store person ids the config person ``entry`` names (its id, aliases, e-mail)."""
        found: set[int] = set()
        for text in (getattr(entry, "id", None), *(getattr(entry, "aliases", ()) or ())):
            if not isinstance(text, str):
                continue
            try:
                ref = parse_ref(text, self.sources) if self.sources else None
            except PeopleError:
                continue  # its source is not synced yet: nothing to match
            src, ext = (ref.source, ref.external_id) if ref else text.partition(":")[::2]
            pid = self.accounts.get((src, ext)) or self.usernames.get((src, ext.lower()))
            if pid is not None:
                found.add(pid)
        key = normalise_email(getattr(entry, "email", None))
        if key is not None and key in self.emails:
            found.add(self.emails[key])
        if not found:
            name = getattr(entry, "name", None)
            pid = self.names.get(name.strip()) if isinstance(name, str) else None
            if pid is not None:
                found.add(pid)
        return found


def account_index(engine: Engine, people: Sequence[tuple[Any, ...]] | None = None) -> AccountIndex:
    """The :class:`AccountIndex` of the store (one read of sources, accounts and people).
    ``people``: the caller's own read of the people table as (id, email, display_name)
    rows, so a caller that needs the people anyway reads them once (20,000 rows: ~40 ms)."""
    with engine.connect() as conn:
        sources = _sources(conn)
        aliases = conn.execute(
            select(
                aliases_t.c.source,
                aliases_t.c.external_id,
                aliases_t.c.username,
                aliases_t.c.person_id,
            )
        ).cursor.fetchall()  # text and numbers: no per-row result processing needed
        if people is None:
            people = conn.execute(
                select(people_t.c.id, people_t.c.email, people_t.c.display_name)
            ).all()
    return AccountIndex.from_rows(aliases, people, sources)


class PeopleError(PmohubError):
    """A reference names no known source or account."""


@dataclass(frozen=True)
class AccountRef:
    source: str
    external_id: str

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


@dataclass
class MergeResult:
    person_id: int
    merged: list[int] = field(default_factory=list)  # person ids folded into person_id
    pending: list[str] = field(default_factory=list)  # refs not synced yet


def _sources(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(select(sources_t.c.name, sources_t.c.type)).all())


def parse_ref(text: str, sources: dict[str, str], *, where: str = "") -> AccountRef:
    """``SOURCE:ID`` -> AccountRef, ``SOURCE`` being a source name, or a type with exactly
    one source in the store. Ids may contain ':' (only the first one separates)."""
    prefix = f"{where}: " if where else ""
    source, sep, ext = text.partition(":")
    source, ext = source.strip(), ext.strip()
    if not sep or not source or not ext:
        raise PeopleError(f"{prefix}{text!r} is not SOURCE:ID (e.g. jira_main:5b10ac8d82e05b22)")
    if source in sources:
        return AccountRef(source, ext)
    of_type = sorted(n for n, t in sources.items() if t == source)
    if len(of_type) == 1:
        return AccountRef(of_type[0], ext)
    known = ", ".join(sorted(sources)) or "none synced yet"
    if of_type:
        raise PeopleError(
            f"{prefix}{text!r}: several {source} sources ({', '.join(of_type)}); "
            "use the source name"
        )
    raise PeopleError(f"{prefix}{text!r}: unknown source {source!r} (known: {known})")


def _alias(conn: Connection, ref: AccountRef) -> tuple[int, int, str] | None:
    """(alias id, person id, linked_by) of the account ``ref`` names: by external id, else by
    username. A username held by several accounts of the source (a deleted account's name
    reused) resolves to the live one; if that is still not one account, it is an error."""
    cols = (aliases_t.c.id, aliases_t.c.person_id, aliases_t.c.linked_by)
    row = conn.execute(
        select(*cols).where(
            aliases_t.c.source == ref.source, aliases_t.c.external_id == ref.external_id
        )
    ).first()
    if row is not None:
        return (row[0], row[1], row[2])
    rows = conn.execute(
        select(*cols, aliases_t.c.external_id, aliases_t.c.deleted_at)
        .where(
            aliases_t.c.source == ref.source,
            func.lower(aliases_t.c.username) == ref.external_id.lower(),
        )
        .order_by(aliases_t.c.external_id)
    ).all()
    live = [r for r in rows if r.deleted_at is None]
    matches = live or rows
    if len(matches) > 1:
        ids = ", ".join(f"{ref.source}:{r.external_id}" for r in matches)
        raise PeopleError(f"{ref}: username shared by several accounts ({ids}); use the id")
    return None if not matches else (matches[0][0], matches[0][1], matches[0][2])


def _smallest_accounts(aliases: Iterable[tuple[Any, Any, Any]]) -> dict[int, tuple[str, str]]:
    smallest: dict[int, tuple[str, str]] = {}
    for pid, src, ext in aliases:
        order = account_order(src, ext)
        if int(pid) not in smallest or order < smallest[int(pid)]:
            smallest[int(pid)] = order
    return smallest


def to_person_keys(aliases: Iterable[tuple[Any, Any, Any]]) -> dict[int, str]:
    """(person_id, source, external_id) rows -> person id -> key ``SOURCE:ID`` of its
    smallest account (deleted accounts count: a key must not change when one goes)."""
    return {pid: f"{src}:{ext}" for pid, (src, ext) in _smallest_accounts(aliases).items()}


def _alias_rows(conn: Connection, person_ids: Iterable[int] | None) -> list[Any]:
    q = select(aliases_t.c.person_id, aliases_t.c.source, aliases_t.c.external_id)
    if person_ids is not None:
        q = q.where(aliases_t.c.person_id.in_(sorted(set(person_ids))))
    return list(conn.execute(q).all())


def person_keys(conn: Connection, person_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Person id -> stable key (:func:`to_person_keys`), of all people or of ``person_ids``."""
    return to_person_keys(_alias_rows(conn, person_ids))


def _merge(conn: Connection, person_ids: Iterable[int]) -> tuple[int, list[int]]:
    """Fold all persons into the one with the smallest account (its row, so its name,
    e-mail and time zone, survive: the same whichever was synced first); an e-mail
    missing there comes from the next person in that order."""
    wanted = set(person_ids)
    smallest = _smallest_accounts(_alias_rows(conn, wanted))
    ids = sorted(wanted, key=lambda i: (i not in smallest, smallest.get(i, ("", "")), i))
    target, others = ids[0], ids[1:]
    if others:
        emails = dict(
            conn.execute(
                select(people_t.c.id, people_t.c.email).where(
                    people_t.c.id.in_(ids), people_t.c.email.is_not(None)
                )
            ).all()
        )
        if not emails.get(target):
            found = next((emails[i] for i in others if emails.get(i)), None)
            if found:
                conn.execute(update(people_t).where(people_t.c.id == target).values(email=found))
        for other in others:
            move_person(conn, other, target)
    return target, others


def _mark(conn: Connection, alias_ids: Sequence[int], how: str, *, keep_manual: bool) -> None:
    if not alias_ids:
        return
    stmt = update(aliases_t).where(aliases_t.c.id.in_(list(alias_ids)))
    if keep_manual:
        stmt = stmt.where(aliases_t.c.linked_by != "manual")
    conn.execute(stmt.values(linked_by=how))


def link_accounts(engine: Engine, refs: Sequence[str]) -> MergeResult:
    """``pmohub people link``: the accounts are one person, from now on and after re-syncs."""
    if len(refs) < 2:
        raise PeopleError("link needs at least two accounts (SOURCE:ID SOURCE:ID)")
    with engine.begin() as conn:
        sources = _sources(conn)
        parsed = [parse_ref(r, sources) for r in refs]
        found = []
        for ref in parsed:
            alias = _alias(conn, ref)
            if alias is None:
                raise PeopleError(
                    f"no account {ref} in the store: sync the source first, or check the id "
                    "with `pmohub people`"
                )
            found.append(alias)
        target, others = _merge(conn, (a[1] for a in found))
        _mark(conn, [a[0] for a in found], "manual", keep_manual=False)
    return MergeResult(person_id=target, merged=others)


def apply_config_people(engine: Engine, people: Sequence[Any]) -> list[MergeResult]:
    """Merge the accounts each config ``people:`` entry lists (its ``id``, its ``aliases``,
    and any account with its ``email``) into one person; name and e-mail from the config
    win. Accounts not synced yet are reported as pending and linked on a later run."""
    results: list[MergeResult] = []
    if not people:
        return results
    with engine.begin() as conn:
        sources = _sources(conn)
        for i, entry in enumerate(people):
            where = f"people[{i}] ({entry.id})"
            refs: list[AccountRef] = []
            pending: list[str] = []
            for text in (entry.id, *entry.aliases):
                try:
                    refs.append(parse_ref(text, sources, where=where))
                except PeopleError:
                    prefix = text.partition(":")[0].strip()
                    if ":" not in text or prefix in set(sources.values()):
                        raise  # malformed, or an ambiguous source type
                    pending.append(text)  # its source has not been synced yet
            aliases = []
            for ref in refs:
                alias = _alias(conn, ref)
                if alias is None:
                    pending.append(str(ref))
                else:
                    aliases.append(alias)
            person_ids = [a[1] for a in aliases]
            email = (getattr(entry, "email", None) or "").strip()
            key = normalise_email(email)
            if key:
                person_ids += conn.execute(
                    select(people_t.c.id).where(func.lower(func.trim(people_t.c.email)) == key)
                ).scalars()
            if not person_ids:
                results.append(MergeResult(person_id=0, pending=pending))
                continue
            target, others = _merge(conn, person_ids)
            _mark(conn, [a[0] for a in aliases], "config", keep_manual=True)
            values: dict[str, Any] = {}
            if getattr(entry, "name", None):
                values["display_name"] = entry.name
            if email:
                values["email"] = email
            if values:
                conn.execute(update(people_t).where(people_t.c.id == target).values(**values))
            results.append(MergeResult(person_id=target, merged=others, pending=pending))
    return results


def exclusion_matcher(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex for the config's ``people_exclude``: ``*`` and ``?`` are
    the only wildcards, everything else is literal (``*[bot]`` is GitHub's bot suffix, not
    a character class)."""
    if not patterns:
        return None
    parts = [re.escape(p).replace(r"\*", ".*").replace(r"\?", ".") for p in patterns]
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE | re.DOTALL)


def is_service_account(person: Mapping[str, Any], matcher: re.Pattern[str] | None) -> bool:
    """A person whose name, e-mail or any account (``SOURCE:ID``, id, name) matches."""
    if matcher is None:
        return False
    texts = [person.get("name"), person.get("email")]
    for a in person.get("accounts", ()):
        texts += [f"{a['source']}:{a['external_id']}", a["external_id"], a.get("name")]
        texts += [a.get("username")]
    return any(t and matcher.fullmatch(str(t)) for t in texts)


def people_rows(
    engine: Engine, *, source: str | None = None, exclude: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Who is who: one row per person (its stable ``key`` and its store ``person_id``) with
    their accounts per source; people matching an ``exclude`` pattern (the config's ``people_exclude``: service and app accounts such
    as a PMO bot) are left out."""
    with engine.connect() as conn:
        q = (
            select(
                people_t.c.id,
                people_t.c.display_name,
                people_t.c.email,
                aliases_t.c.source,
                aliases_t.c.external_id,
                aliases_t.c.display_name,
                aliases_t.c.linked_by,
                aliases_t.c.username,
            )
            .join(aliases_t, aliases_t.c.person_id == people_t.c.id)
            .where(aliases_t.c.deleted_at.is_(None))
        )
        rows = conn.execute(q).all()
        keys = person_keys(conn)
    # people.id is the order pages arrived in (parallel syncs): name, then key, are not
    rows.sort(key=lambda r: (r[1] or "", keys.get(r[0], ""), account_order(r[3], r[4])))
    out: dict[int, dict[str, Any]] = {}
    for pid, name, email, src, ext, alias_name, linked_by, username in rows:
        person = out.setdefault(
            pid,
            {"person_id": pid, "key": keys.get(pid), "name": name, "email": email, "accounts": []},
        )
        person["accounts"].append(
            {"source": src, "external_id": ext, "name": alias_name, "linked_by": linked_by}
        )
        if username:
            person["accounts"][-1]["username"] = username
    matcher = exclusion_matcher(exclude)
    result = [p for p in out.values() if not is_service_account(p, matcher)]
    if source is not None:
        result = [p for p in result if any(a["source"] == source for a in p["accounts"])]
    for p in result:
        p["sources"] = len({a["source"] for a in p["accounts"]})
    return result
