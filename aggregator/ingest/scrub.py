"""The same text on both databases: NUL characters are removed from records before they
are written (docs/data-safety.md).

SQLite stores ``"a\\x00b"`` as it is; PostgreSQL refuses it in ``text`` and ``jsonb``
(``invalid byte sequence`` / ``unsupported Unicode escape sequence``), and because a page
is one transaction, one NUL in one title failed the whole source there. A NUL is never
meaningful in tracker text, so it is stripped on every database, and the field is named in
a located ``Problem`` (docs/degrade-policy.md): the record itself still loads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from pmohub.connectors import records as rec
from pmohub.connectors.base import Problem

NUL = "\x00"

#: Exact types that can never hold text (``_has_nul`` is False for them).
_ATOMS = frozenset({type(None), bool, int, float, dt.datetime, dt.date})

#: per record class, the fields that can hold text (str, tuples of str, JSON mappings) and
#: one getter for all of them
_TEXT_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _text_fields(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    spec = _TEXT_FIELDS.get(cls)
    if spec is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "raw")
        get = attrgetter(*names)
        spec = (names, get if len(names) > 1 else lambda r: (get(r),))
        _TEXT_FIELDS[cls] = spec
    return spec


def _maybe_nul(values: tuple[Any, ...]) -> bool:
    """False only when none of ``values`` holds a NUL: decided inline for the shapes records
    almost always have (exact ``str``, None, numbers, datetimes, tuples of ``str``, empty
    dicts). Anything else (a ``str`` subclass, a non-empty mapping, a nested list) answers
    True, and :func:`_has_nul` decides field by field, so the outcome is ``_has_nul``'s
    exactly; this only spares a call per field on the common, clean record."""
    for v in values:
        t = type(v)
        if t is str:
            if NUL in v:
                return True
        elif t in _ATOMS:
            continue
        elif t is tuple:
            for x in v:
                if type(x) is not str or NUL in x:
                    return True
        elif t is not dict or v:
            return True
    return False


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, (tuple, list)):
        return any(_has_nul(v) for v in value)
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def _strip(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, "")
    if isinstance(value, tuple):
        return tuple(_strip(v) for v in value)
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, Mapping):
        return {_strip(k): _strip(v) for k, v in value.items()}
    return value


def scrub(record: rec.Record) -> tuple[rec.Record, list[Problem]]:
    """``record`` without NUL characters in any text field, and one problem per field
    changed (the record itself when it had none: the common case costs one inline scan)."""
    names, get = _text_fields(type(record))
    values = get(record)
    if not _maybe_nul(values):
        return record, []
    dirty = [n for n, v in zip(names, values, strict=True) if _has_nul(v)]
    if not dirty:
        return record, []
    where = _strip(getattr(record, "key", None) or record.external_id)
    problems = [
        Problem(
            "NUL character(s) removed (PostgreSQL cannot store them)",
            where=str(where),
            field=name,
            value=_strip(getattr(record, name)) if isinstance(getattr(record, name), str) else None,
        )
        for name in dirty
    ]
    changes = {n: _strip(getattr(record, n)) for n in dirty}
    return dataclasses.replace(record, **changes), problems  # type: ignore[type-var]
