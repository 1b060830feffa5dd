"""Conformance: every registered connector type passes the same checks on a small local
source (factories in tests/conformance.py or tests/conformance_<type>.py):

- records are well-typed (each field of the type its annotation says; dates are dates,
  not datetimes; stream objects are records or markers) and carry the source's name;
- ids are unique within a fetch and stable across two fetches by two connectors;
- every datetime is timezone-aware UTC;
- ``since`` is honoured by incremental connectors (nothing updated before it; nothing
  updated after it missing);
- the census of every fetched project equals the ids of the fetched work items;
- nothing connects beyond 127.0.0.1 / ::1 during a fetch (sockets are guarded);
- the source's secrets never appear in any record's repr or raw payload, nor in skips.

A check that applies to some connectors only (``since`` to incremental ones, secrets to
sources with credentials) names what it needs with ``@needs(...)``; it is generated only
for the types that have it (see ``capabilities``), so not-applicable pairs are never
collected rather than skipped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import socket
import types
import typing
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from conformance import SECRETLESS, Case, load_plugins

from pmohub.connectors import records as rec
from pmohub.connectors import registry
from pmohub.connectors.base import Checkpoint, ChildrenComplete, Connector, Skipped

FACTORIES = load_plugins()


def capabilities(type_name: str) -> frozenset[str]:
    """What a type's conformance source can show: ``incremental`` (the connector class
    honours ``since``), ``secret`` (its factory's source has credentials)."""
    caps = set()
    if registry.get(type_name).incremental:
        caps.add("incremental")
    if type_name not in SECRETLESS:
        caps.add("secret")
    return frozenset(caps)


def needs(*caps: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Generate the decorated check only for the types with all of ``caps``."""

    def mark(fn: Callable[..., None]) -> Callable[..., None]:
        fn.needs = frozenset(caps)  # type: ignore[attr-defined]
        return fn

    return mark


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fetched" not in metafunc.fixturenames:
        return
    wanted: frozenset[str] = getattr(metafunc.function, "needs", frozenset())
    types = [t for t in sorted(FACTORIES) if wanted <= capabilities(t)]
    metafunc.parametrize("fetched", types, indirect=True, scope="module")


# --------------------------------------------------------------------------- network guard


def _loopback(host: Any) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def loopback_only(attempts: list[str]) -> Iterator[None]:
    """Refuse (and record) every connection or name lookup that is not loopback."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def allowed(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _loopback(host):
                attempts.append(f"connect {address!r}")
                raise ConnectionRefusedError(
                    f"conformance: no network beyond loopback ({address!r})"
                )

    def connect(sock: socket.socket, address: Any) -> None:
        allowed(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        allowed(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _loopback(host):
            attempts.append(f"resolve {host!r}")
            raise socket.gaierror(f"conformance: no lookups beyond loopback ({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        yield


def test_guard_refuses_non_loopback() -> None:
    attempts: list[str] = []
    with loopback_only(attempts), socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed
    with loopback_only(attempts), pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    assert len(attempts) == 2


# --------------------------------------------------------------------------- fetching


@dataclass
class Fetched:
    type: str
    case: Case
    connector: Connector
    catalogue: dict[str, list[Any]]
    stream: list[Any]
    second: dict[str, list[Any]]
    census: dict[str, list[str]]
    since: dt.datetime | None = None
    since_stream: list[Any] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)

    def records(self) -> Iterator[Any]:
        for objs in self.catalogue.values():
            yield from objs
        yield from self.stream
        yield from self.since_stream

    def items(self) -> list[rec.WorkItem]:
        return [o for o in self.stream if isinstance(o, rec.WorkItem)]


CATALOGUE = {
    "projects": rec.Project,
    "people": rec.Person,
    "iterations": rec.Iteration,
    "milestones": rec.Milestone,
}


def _catalogue(conn: Connector) -> dict[str, list[Any]]:
    return {name: list(getattr(conn, f"fetch_{name}")()) for name in CATALOGUE}


def _pick_since(items: list[rec.WorkItem]) -> dt.datetime | None:
    """A since that splits the items: the median update time (ties included above)."""
    times = sorted({i.updated_at for i in items if i.updated_at is not None})
    if not times:
        return None
    return times[len(times) // 2]


@pytest.fixture(scope="module")
def fetched(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fetched]:
    type_name: str = request.param
    with FACTORIES[type_name](tmp_path_factory.mktemp(f"conf-{type_name}")) as case:  # type: ignore[attr-defined]
        attempts: list[str] = []
        with loopback_only(attempts):
            with case.make() as first:
                catalogue = _catalogue(first)
                stream = list(first.fetch_work_items(None))
                projects = [p for p in catalogue["projects"] if isinstance(p, rec.Project)]
                census = {p.key: list(first.census(p.key)) for p in projects}
            with case.make() as second:
                again = _catalogue(second)
                again["work_items"] = list(second.fetch_work_items(None))
                since = None
                since_stream: list[Any] = []
                if second.incremental:
                    since = _pick_since([o for o in stream if isinstance(o, rec.WorkItem)])
                    if since is not None:
                        since_stream = list(second.fetch_work_items(since))
        yield Fetched(
            type=type_name,
            case=case,
            connector=first,
            catalogue=catalogue,
            stream=stream,
            second=again,
            census=census,
            since=since,
            since_stream=since_stream,
            attempts=attempts,
        )


# --------------------------------------------------------------------------- the checks


def test_every_builtin_connector_has_a_conformance_fixture() -> None:
    missing = sorted(set(registry.BUILTINS) - set(FACTORIES))
    assert not missing, (
        f"connector type(s) {missing} have no conformance factory: add one to "
        "tests/conformance.py or tests/conformance_<type>.py"
    )


def _check_value(value: Any, hint: Any, where: str) -> None:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                _check_value(value, option, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: {value!r} matches none of {hint}")
    if hint is type(None):
        assert value is None, f"{where}: expected None, got {value!r}"
        return
    if origin is typing.Literal:
        assert value in args, f"{where}: {value!r} not in {args}"
        return
    if origin is tuple:
        assert isinstance(value, tuple), f"{where}: expected a tuple, got {type(value).__name__}"
        item = args[0] if args else Any
        for i, v in enumerate(value):
            _check_value(v, item, f"{where}[{i}]")
        return
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        assert isinstance(value, Mapping), (
            f"{where}: expected a mapping, got {type(value).__name__}"
        )
        json.dumps(value, default=str)  # JSON-friendly
        return
    if hint is float:
        assert isinstance(value, int | float) and not isinstance(value, bool), (
            f"{where}: expected a number, got {value!r}"
        )
        return
    if hint is int:
        assert isinstance(value, int) and not isinstance(value, bool), (
            f"{where}: expected int, got {value!r}"
        )
        return
    if hint is dt.date:
        assert isinstance(value, dt.date) and not isinstance(value, dt.datetime), (
            f"{where}: expected a date, got {value!r}"
        )
        return
    if hint is dt.datetime:
        assert isinstance(value, dt.datetime), f"{where}: expected a datetime, got {value!r}"
        assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0), (
            f"{where}: {value!r} is not UTC-aware"
        )
        return
    if isinstance(hint, type):
        assert isinstance(value, hint), (
            f"{where}: expected {hint.__name__}, got {type(value).__name__}"
        )


_HINTS: dict[type, dict[str, Any]] = {}


def check_record(obj: Any) -> None:
    cls = type(obj)
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, vars(rec))
    for f in dataclasses.fields(obj):
        if f.name == "raw":
            continue
        _check_value(
            getattr(obj, f.name), _HINTS[cls][f.name], f"{cls.__name__}({obj.external_id}).{f.name}"
        )


def test_records_are_well_typed(fetched: Fetched) -> None:
    name = fetched.connector.name
    for kind, cls in CATALOGUE.items():
        for obj in fetched.catalogue[kind]:
            assert isinstance(obj, cls | Skipped), f"fetch_{kind} yielded {type(obj).__name__}"
    stream_types = (
        rec.WorkItem,
        rec.StatusChange,
        rec.Worklog,
        rec.Link,
        Checkpoint,
        ChildrenComplete,
        Skipped,
    )
    for obj in fetched.stream + fetched.since_stream:
        assert isinstance(obj, stream_types), f"fetch_work_items yielded {type(obj).__name__}"
    n = 0
    for obj in fetched.records():
        if isinstance(obj, rec.Record):
            assert obj.source == name, f"{obj!r} carries source {obj.source!r}, not {name!r}"
            check_record(obj)
            n += 1
        elif isinstance(obj, Checkpoint):
            _check_value(obj.cursor, dt.datetime, "Checkpoint.cursor")
    assert fetched.items(), f"{fetched.type}: the conformance source yielded no work items"
    assert all(lk.kind in rec.LINK_KINDS for lk in fetched.stream if isinstance(lk, rec.Link))
    assert n > 0


def test_children_refer_to_items_of_the_stream(fetched: Fetched) -> None:
    ids = {i.external_id for i in fetched.items()}
    for obj in fetched.stream:
        if isinstance(obj, rec.StatusChange | rec.Worklog):
            assert obj.work_item_id in ids, f"{obj!r} belongs to no fetched work item"
        elif isinstance(obj, rec.Link):
            assert obj.from_id in ids, f"{obj!r}: its 'from' end was not fetched"
        elif isinstance(obj, ChildrenComplete):
            assert obj.work_item_id in ids


def _ids(objs: list[Any], cls: type) -> list[str]:
    return [o.external_id for o in objs if isinstance(o, cls)]


STREAM_KINDS = (rec.WorkItem, rec.StatusChange, rec.Worklog, rec.Link)


def test_ids_unique_and_stable(fetched: Fetched) -> None:
    for kind, cls in CATALOGUE.items():
        ids = _ids(fetched.catalogue[kind], cls)
        doubled = [i for i, n in Counter(ids).items() if n > 1]
        assert not doubled, f"{kind}: doubled ids {doubled[:5]}"
        assert sorted(ids) == sorted(_ids(fetched.second[kind], cls)), f"{kind}: ids not stable"
        # same content too (raw excluded from equality by the records)
        first = {o.external_id: o for o in fetched.catalogue[kind] if isinstance(o, cls)}
        again = {o.external_id: o for o in fetched.second[kind] if isinstance(o, cls)}
        assert first == again, f"{kind}: records differ between two fetches"
    for cls in STREAM_KINDS:
        ids = _ids(fetched.stream, cls)
        doubled = [i for i, n in Counter(ids).items() if n > 1]
        assert not doubled, f"{cls.__name__}: doubled ids {doubled[:5]}"
        again = _ids(fetched.second["work_items"], cls)
        assert sorted(ids) == sorted(again), f"{cls.__name__}: ids not stable across fetches"
    first_items = {i.external_id: i for i in fetched.items()}
    again_items = {
        o.external_id: o for o in fetched.second["work_items"] if isinstance(o, rec.WorkItem)
    }
    assert first_items == again_items


def test_times_are_utc(fetched: Fetched) -> None:
    for obj in fetched.records():
        if not dataclasses.is_dataclass(obj):
            continue
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, dt.datetime):
                assert value.tzinfo is not None and value.utcoffset() == dt.timedelta(0), (
                    f"{type(obj).__name__}.{f.name} = {value!r}"
                )


@needs("incremental")
def test_since_is_honoured(fetched: Fetched) -> None:
    assert fetched.connector.incremental
    if fetched.since is None:
        pytest.fail(f"{fetched.type}: incremental, but no work item has updated_at")
    since = fetched.since
    got = {o.external_id for o in fetched.since_stream if isinstance(o, rec.WorkItem)}
    for obj in fetched.since_stream:
        if isinstance(obj, rec.WorkItem):
            assert obj.updated_at is not None and obj.updated_at >= since, (
                f"{obj.key} updated {obj.updated_at} is before since={since}"
            )
    wanted = {i.external_id for i in fetched.items() if i.updated_at and i.updated_at >= since}
    assert wanted <= got, f"updated since {since} but missing: {sorted(wanted - got)[:5]}"
    older = {i.external_id for i in fetched.items() if i.updated_at and i.updated_at < since}
    assert older, "the conformance data should have items older than the chosen since"
    assert not (older & got)


def test_census_is_complete(fetched: Fetched) -> None:
    census = [i for ids in fetched.census.values() for i in ids]
    assert sorted(set(census)) == sorted({i.external_id for i in fetched.items()})
    for key, ids in fetched.census.items():
        in_project = {i.external_id for i in fetched.items() if i.project_key == key}
        assert set(ids) == in_project, f"census of {key} differs from its fetched items"


def test_no_network_beyond_loopback(fetched: Fetched) -> None:
    assert fetched.attempts == []


def test_declared_secrets_match_the_case(fetched: Fetched) -> None:
    """``secret=False`` on a factory must be true, or the secret check would be lost."""
    has = any(fetched.case.secrets)
    assert has == ("secret" in capabilities(fetched.type)), (
        f"{fetched.type}: the factory's secret= declaration does not match its case"
    )


@needs("secret")
def test_secrets_never_in_records(fetched: Fetched) -> None:
    secrets = [s for s in fetched.case.secrets if s]
    assert secrets, f"{fetched.type}: the factory declares a secret but the case has none"
    for obj in fetched.records():
        if isinstance(obj, Skipped):
            text = str(obj.error)
        else:
            text = repr(obj)
            raw = getattr(obj, "raw", None)
            if raw is not None:
                text += json.dumps(raw, default=str, ensure_ascii=False)
            extra = getattr(obj, "extra", None)
            if extra:
                text += json.dumps(extra, default=str, ensure_ascii=False)
        for s in secrets:
            assert s not in text, f"a secret appears in {type(obj).__name__}"


def test_skips_name_the_source(fetched: Fetched) -> None:
    for obj in fetched.records():
        if isinstance(obj, Skipped):
            assert fetched.connector.name in str(obj.error)


def test_registered_type_matches(fetched: Fetched) -> None:
    assert type(fetched.connector).type == fetched.type
    assert registry.get(fetched.type) is type(fetched.connector)


def test_type_checks_catch_mistyped_records() -> None:
    """The suite's own checker rejects what a sloppy mapper produces."""
    good = rec.WorkItem(
        source="s", external_id="1", key="K-1", project_key="K", title="t", type="Task",
        status="Open", status_category="todo", start_on=dt.date(2026, 1, 1),
    )  # fmt: skip
    check_record(good)
    for bad in (
        dataclasses.replace(good, start_on=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),  # not a date
        dataclasses.replace(good, labels=["a"]),  # a list, not a tuple
        dataclasses.replace(good, original_estimate_h="8"),  # text, not a number
        dataclasses.replace(good, assignee=42),  # an int id, not a str
    ):
        with pytest.raises(AssertionError):
            check_record(bad)
    wl = rec.Worklog(
        source="s", external_id="w", work_item_id="1", author=None,
        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), seconds=60,
    )  # fmt: skip
    check_record(wl)
    with pytest.raises(AssertionError):
        check_record(dataclasses.replace(wl, seconds=60.5))
