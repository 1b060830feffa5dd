"""The report's sections, in report order: the one list a new section joins.

Every entry of :data:`SECTIONS` is built by :func:`aggregator.report.build.build_report`
through the same error guard: a section that raises becomes an empty section marked
unavailable plus a data-quality note, and the report still goes out. A section's number is
its place in this list (1-based); a builder returns a section made by
:func:`aggregator.report.model.new_section` and never numbers it itself.

Building order differs from report order only where a section reads others (``stage``): the
summary reads the dashboard, scope and risks sections; the data-quality notes collect what
every other section noted, so they come last.

To add a section: write ``def section_x(ctx, report) -> Section`` in a module here (one
module per group of related sections), add ``sec.x`` to the i18n catalogue and an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Report, Section
from pmohub.aggregator.report.sections.compliance import section_compliance
from pmohub.aggregator.report.sections.cost import section_cost
from pmohub.aggregator.report.sections.data_quality import section_data_quality
from pmohub.aggregator.report.sections.quality import section_quality
from pmohub.aggregator.report.sections.registers import (
    section_actions,
    section_closure,
    section_risks,
    section_scope,
)
from pmohub.aggregator.report.sections.resources import section_resources
from pmohub.aggregator.report.sections.schedule import section_schedule
from pmohub.aggregator.report.sections.status import section_dashboard
from pmohub.aggregator.report.sections.summary import section_summary
from pmohub.aggregator.report.sections.trends import section_trends

# A builder reads the context and the report so far (sections of earlier stages, the trace).
Builder = Callable[[ReportContext, Report], Section]

FROM_CONTEXT = 0  # reads the context only
READS_SECTIONS = 1  # reads sections of stage 0 (and the overall RAG the dashboard sets)
READS_NOTES = 2  # reads every note the other sections left


@dataclass(frozen=True)
class SectionSpec:
    id: str  # the section's id; its heading is the catalogue key sec.<id>
    build: Builder
    stage: int = FROM_CONTEXT
    monthly_only: bool = False


SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("summary", section_summary, stage=READS_SECTIONS),
    SectionSpec("dashboard", section_dashboard),
    SectionSpec("schedule", section_schedule),
    SectionSpec("cost", section_cost),
    SectionSpec("scope", section_scope),
    SectionSpec("risks", section_risks),
    SectionSpec("resources", section_resources),
    SectionSpec("quality", section_quality),
    SectionSpec("compliance", section_compliance),
    SectionSpec("actions", section_actions),
    SectionSpec("closure", section_closure),
    SectionSpec("data_quality", section_data_quality, stage=READS_NOTES),
    SectionSpec("trends", section_trends, monthly_only=True),
)

# the weekly report's section ids, in order
SECTION_KEYS: tuple[str, ...] = tuple(s.id for s in SECTIONS if not s.monthly_only)
