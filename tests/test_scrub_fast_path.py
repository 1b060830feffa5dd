"""scrub()'s inline pre-check (``_maybe_nul``) never changes what scrub returns: on
arbitrary text (NUL, control characters, lone surrogates), nested containers and ``str``
subclasses, scrub equals the plain field-by-field reference below."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pmohub.aggregator.ingest import scrub as s
from pmohub.connectors.records import StatusChange, WorkItem


class Text(str):
    """A ``str`` subclass: the fast path must not take it for an exact ``str``."""


def reference(record: Any) -> tuple[Any, list[Any]]:
    """scrub() as it was before the fast path: every field through ``_has_nul``."""
    names = [f.name for f in dataclasses.fields(record) if f.name != "raw"]
    dirty = [n for n in names if s._has_nul(getattr(record, n))]
    if not dirty:
        return record, []
    changes = {n: s._strip(getattr(record, n)) for n in dirty}
    return dataclasses.replace(record, **changes), sorted(dirty)


# all of Unicode, surrogates included, with NUL and control characters made frequent
chars = st.one_of(
    st.sampled_from(["\x00", "\x01", "\x1f", "\x7f", "\ud800", "\udfff"]), st.characters()
)
text = st.text(chars, max_size=12)
maybe_text = st.one_of(st.none(), text, text.map(Text))
json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=6,
)
labels = st.one_of(
    st.lists(text, max_size=3).map(tuple),
    st.lists(st.one_of(text, text.map(Text)), max_size=3).map(tuple),
    st.lists(text, max_size=3),  # a list where a tuple is declared: left to _has_nul
)
extra = st.one_of(st.just({}), st.dictionaries(text, json_like, max_size=3))
when = st.datetimes(timezones=st.just(dt.UTC))


@st.composite
def work_items(draw: Any) -> WorkItem:
    return WorkItem(
        source="s" + draw(text),
        external_id="1" + draw(text),
        key="K-" + draw(text),
        project_key="K",
        title=draw(st.one_of(text, text.map(Text))),
        type=draw(text),
        status=draw(text),
        status_category="todo",
        priority=draw(maybe_text),
        assignee=draw(maybe_text),
        created_at=draw(st.one_of(st.none(), when)),
        due_on=draw(st.one_of(st.none(), st.dates())),
        story_points=draw(st.one_of(st.none(), st.floats(allow_nan=False))),
        labels=draw(labels),
        components=draw(labels),
        url=draw(maybe_text),
        extra=draw(extra),
    )


@st.composite
def status_changes(draw: Any) -> StatusChange:
    return StatusChange(
        source="s",
        external_id="c" + draw(text),
        work_item_id="1",
        field="status",
        from_value=draw(maybe_text),
        to_value=draw(maybe_text),
        changed_at=draw(when),
        author=draw(maybe_text),
    )


@settings(max_examples=400, deadline=None)
@given(st.one_of(work_items(), status_changes()))
def test_scrub_equals_the_field_by_field_path(record: Any) -> None:
    got, problems = s.scrub(record)
    want, dirty = reference(record)
    assert got == want
    assert got.extra == want.extra if isinstance(got, WorkItem) else True
    assert sorted(p.field for p in problems) == dirty
    assert (got is record) == (not dirty)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(maybe_text, labels, extra, when, st.integers()), max_size=8))
def test_clean_by_the_pre_check_means_clean(values: list[Any]) -> None:
    if not s._maybe_nul(tuple(values)):
        assert not any(s._has_nul(v) for v in values)


def test_the_pre_check_sends_what_it_cannot_judge_to_the_slow_path() -> None:
    assert s._maybe_nul(("a\x00",))
    assert s._maybe_nul((("a", "b\x00"),))
    assert s._maybe_nul(({"k": "v"},))  # a non-empty mapping: field by field
    assert s._maybe_nul((Text("plain"),))  # a subclass: field by field
    assert not s._maybe_nul(("a", None, 1, 2.5, True, dt.date(2025, 1, 1), ("x",), {}))
