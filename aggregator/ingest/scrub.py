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
from collections.abc import Mapping
from typing import Any

from pmohub.connectors import records as rec
from pmohub.connectors.base import Problem

NUL = "\x00"

#: per record class, the fields that can hold text (str, tuples of str, JSON mappings)
_TEXT_FIELDS: dict[type, tuple[str, ...]] = {}


def _text_fields(cls: type) -> tuple[str, ...]:
    names = _TEXT_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "raw")
        _TEXT_FIELDS[cls] = names
    return names


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
    changed (the record itself when it had none: the common case costs one scan)."""
    names = _text_fields(type(record))
    dirty = [n for n in names if _has_nul(getattr(record, n))]
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
