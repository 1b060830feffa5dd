"""Every report section goes through the one error guard: whichever section of the ordered
list raises, the report is still built, that section is there (numbered, headed, marked
unavailable) and a data-quality note says what failed and why. The summary, the trends and
the data-quality notes once ran outside the guard, so their failure sank the whole report."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from reportkit import AS_OF, synced_project

from pmohub.aggregator.report import build as report_build
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.model import Report, Section
from pmohub.aggregator.report.render import render_json, render_markdown
from pmohub.aggregator.report.sections import SECTION_KEYS, SECTIONS


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return synced_project(tmp_path_factory.mktemp("sections"))


def test_the_ordered_list_is_the_report_order(project) -> None:
    config, engine = project
    monthly = build_report(engine, config, as_of=AS_OF, portfolio="PF", monthly=True)
    assert [s.id for s in monthly.sections] == [s.id for s in SECTIONS]
    assert [s.number for s in monthly.sections] == list(range(1, len(SECTIONS) + 1))
    assert all(s.available for s in monthly.sections if s.id != "resources")
    weekly = build_report(engine, config, as_of=AS_OF, portfolio="PF")
    assert [s.id for s in weekly.sections] == list(SECTION_KEYS)
    assert len(set(SECTION_KEYS)) == len(SECTION_KEYS)


@pytest.mark.parametrize("spec", SECTIONS, ids=lambda s: s.id)
def test_a_raising_section_is_caught_and_reported(
    project, monkeypatch: pytest.MonkeyPatch, spec: Any
) -> None:
    config, engine = project
    error = f"section {SECTIONS.index(spec) + 1} exploded"  # no "_": Markdown escapes it

    def explode(_ctx: Any, _report: Report) -> Section:
        raise RuntimeError(error)

    broken = tuple(
        dataclasses.replace(s, build=explode) if s.id == spec.id else s for s in SECTIONS
    )
    monkeypatch.setattr(report_build, "SECTIONS", broken)
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF", monthly=True)

    assert [s.id for s in report.sections] == [s.id for s in SECTIONS]
    failed = report.section(spec.id)
    assert failed.available is False
    assert failed.number == SECTIONS.index(spec) + 1
    assert failed.title["en"] and failed.title["zh"]
    # issue 14: the reader gets words, the exception text goes to the log only
    why = {"key": "note.internal_error", "params": {}}
    assert {"key": "note.unavailable", "params": {"what": spec.id, "why": why}} in report.notes
    # what the guard leaves behind still renders, and says so
    md = render_markdown(report, "en")
    assert "could not be computed" in md and error not in md
    assert "RuntimeError" not in md
    json.loads(render_json(report, "zh"))
    if spec.id != "data_quality":
        dq = report.section("data_quality")
        assert dq.available and "note.internal_error" in json.dumps(dq.messages)
