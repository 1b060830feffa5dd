"""The shape of ``pmohub.yaml``: the spec of every key, and the top-level schema.

:func:`top_fields` is the whole document: the core keys below plus every optional section
of :data:`aggregator.config.sections.SECTIONS`, listed explicitly (no registration by
import side effect, so a full config loads through the library alone). The ``about()``
texts are the configuration reference (docs/configuration.md is generated from them by
aggregator/config/reference.py; tests/test_config_reference.py fails when it is stale).
"""

from __future__ import annotations

import re

from pmohub.aggregator.config.schema import (
    AnyValue,
    Bool,
    DatabaseUrl,
    Date,
    DateRange,
    Fields,
    ListOf,
    MapOf,
    Num,
    Raw,
    Spec,
    Str,
    Timezone,
)
from pmohub.aggregator.config.sections import SECTIONS
from pmohub.connectors.records import STATUS_CATEGORIES
from pmohub.rules.clock import DEFAULT_TZ

DEFAULT_DATABASE = "sqlite:///pmohub.db"
RULE_ID_RE = re.compile(r"^[A-Z]{2,6}-\d{3}$")
STATUS_MAP_VALUES = (*STATUS_CATEGORIES, "review", "blocked")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WAIVER_SCOPE_KINDS = ("portfolio", "programme", "project", "item", "person", "source")
SELECTOR_KEYS = frozenset(
    {"jql", "project", "group", "repo", "board", "label", "labels", "component", "filter"}
)


def rule_overrides(doc: str) -> MapOf:
    """``{RULE-ID: {threshold: value}}``; one instance per use so each keeps its own doc."""
    return MapOf(AnyValue(), keys=Str(pattern=RULE_ID_RE, what="a rule id like VAR-003")).about(
        doc, example={"VAR-003": {"amber": 0.1}}
    )


def cadence(doc: str) -> Str:
    return Str(choices=("weekly", "biweekly", "monthly")).about(doc, example="weekly")


CALENDAR = Fields(
    {
        "weekend": ListOf(Str(choices=WEEKDAYS), unique=True).about(
            "The weekly days off.", default=["sat", "sun"], example=["sat", "sun"]
        ),
        "source": Str(choices=("chinesecalendar", "none")).about(
            "Where statutory holidays and make-up working days (调休) come from.",
            default="none",
            example="chinesecalendar",
        ),
        "extra_holidays": ListOf(Date()).about(
            "Company days off on top of the source.", default=[], example=["2026-12-31"]
        ),
        "extra_workdays": ListOf(Date()).about(
            "Company working days on a weekend or holiday.", default=[], example=["2026-10-10"]
        ),
    }
)

DEFAULTS_FIELDS: dict[str, Spec] = {
    "calendar": Str().about(
        "The calendar (a name under `calendars`) of whatever does not name its own.",
        example="cn",
    ),
    "hours_per_day": Num(minimum=0.5, maximum=24).about(
        "Working hours of a person's day, for capacity and load.", default=8, example=8
    ),
    "hpp": Num(minimum=0).about(
        "Hours per story point, to turn points into hours.", default=6.0, example=6
    ),
    "default_estimate_h": MapOf(Num(minimum=0)).about(
        "Hours assumed for an unestimated item, per issue type.", example={"Bug": 4}
    ),
    "allocation": Num(minimum=0, maximum=2).about(
        "Share of a person's day available to projects (1 = all of it).", default=1.0
    ),
}

PERSON = Fields(
    {
        "id": Str().about(
            "The person's identity: `source:account` as a tracker knows it.",
            example="jira:5b10a2844c20165700ede21g",
        ),
        "name": Str().about("Display name.", example="张伟"),
        "email": Str().about("E-mail; matches the person across trackers.", example="zw@x.cn"),
        "aliases": ListOf(Str()).about(
            "Other identities of the same person (`source:id`, `source:username`, e-mail).",
            default=[],
            example=["gitlab:zhangwei"],
        ),
        "team": Str().about("Team name, for grouping.", example="CRM"),
        "hours_per_day": Num(minimum=0, maximum=24).about(
            "This person's working hours per day (default: `defaults.hours_per_day`).",
            example=6,
        ),
        "allocation": Num(minimum=0, maximum=2).about(
            "This person's project share (default: `defaults.allocation`).", example=0.5
        ),
        "leave": ListOf(DateRange(), scalar_ok=True).about(
            "Days off: dates or ranges.", default=[], example=["2026-05-06..2026-05-08"]
        ),
        "calendar": Str().about("The person's calendar (a name under `calendars`).", example="cn"),
        "active": Bool().about("False for someone who has left.", default=True),
    },
    required=("id",),
)

WAIVER = Fields(
    {
        "rule": Str(pattern=RULE_ID_RE, what="a rule id like PLAN-001").about(
            "The waived rule.", example="PLAN-001"
        ),
        "scope": Str(
            pattern=re.compile(rf"^({'|'.join(WAIVER_SCOPE_KINDS)}):.+$"),
            what=f"a scope like project:OPS-MIG ({', '.join(WAIVER_SCOPE_KINDS)})",
        ).about("What the waiver covers.", example="project:OPS-MIG"),
        "reason": Str().about("Why (shown with the waived finding).", example="无采购"),
        "expires": Date().about("Last day the waiver holds.", example="2026-09-30"),
        "approved_by": Str().about("Who approved it.", example="pmo.lead"),
        "subject": Str().about("One finding subject only, instead of the whole scope."),
    },
    required=("rule", "scope", "reason", "expires"),
)

PROJECT_SOURCE = Fields(
    {
        "name": Str().about("The source (a name under `sources`).", example="jira_main"),
        **{
            k: AnyValue().about(f"Selector `{k}`: which of the source's records are this project.")
            for k in sorted(SELECTOR_KEYS)
        },
    },
    required=("name",),
)
PROJECT = Fields(
    {
        "key": Str(coerce=True).about("The project's key, unique in the file.", example="CRM-APP"),
        "name": Str(coerce=True).about("Display name.", example="新版CRM"),
        "source": PROJECT_SOURCE.about("Where its work items come from."),
        "registry_issue": Str().about("The project's registry issue key.", example="PMO-12"),
        "priority_rank": Num(minimum=1, integer=True).about(
            "Portfolio priority (1 = first), for resource conflicts.", example=1
        ),
        "weight": Num(minimum=0).about("Weight in the roll-up.", example=2),
        "critical": Bool().about("Marks a critical project.", default=False),
        "cadence": cadence("Status-report cadence."),
        "overrides": rule_overrides("Rule thresholds for this project only."),
        "pm": Str().about("The project manager (a person id or name).", example="张伟"),
        "exempt": ListOf(Str(pattern=RULE_ID_RE, what="a rule id"), scalar_ok=True).about(
            "Rules that do not apply to this project.", default=[], example=["RPT-002"]
        ),
        "calendar": Str().about("The project's calendar (a name under `calendars`)."),
        "start_on": Date().about("Planned start.", example="2026-03-01"),
        "due_on": Date().about("Planned end.", example="2026-12-31"),
        # docs/metrics.md 2.1: a PM override needs a reason and an expiry; it is shown beside the
        # computed RAG, which stays authoritative for the roll-up.
        "rag_override": Fields(
            {
                "rag": Str(choices=("green", "amber", "red")).about(
                    "The PM's colour.", example="amber"
                ),
                "reason": Str().about("Why.", example="vendor delay"),
                "expires_on": Date().about("Last day it holds.", example="2026-06-30"),
            },
            required=("rag", "reason", "expires_on"),
        ).about("A PM's RAG, shown beside the computed one (which the roll-up keeps using)."),
    },
    required=("key",),
)
PROGRAMME = Fields(
    {
        "programme": Str(coerce=True).about("The programme's key.", example="CUST"),
        "name": Str(coerce=True).about("Display name.", example="客户平台"),
        "pm": Str().about("The programme manager."),
        "cadence": cadence("Status-report cadence of its projects."),
        "overrides": rule_overrides("Rule thresholds for the programme's projects."),
        "projects": ListOf(PROJECT, keep_positions=True).about("Its projects.", default=[]),
    },
    required=("programme",),
)
PORTFOLIO = Fields(
    {
        "portfolio": Str(coerce=True).about("The portfolio's key.", example="DIGI"),
        "name": Str(coerce=True).about("Display name.", example="数字化转型"),
        "owner": Str().about("The portfolio owner."),
        "cadence": cadence("Status-report cadence of its projects."),
        "calendar": Str().about("The portfolio's calendar (a name under `calendars`)."),
        "overrides": rule_overrides("Rule thresholds for the portfolio's projects."),
        "programmes": ListOf(PROGRAMME, keep_positions=True).about("Its programmes.", default=[]),
        "projects": ListOf(PROJECT, keep_positions=True).about(
            "Projects directly under the portfolio.", default=[]
        ),
    },
    required=("portfolio",),
)


def top_fields() -> dict[str, Spec]:
    """Every top-level key: the core keys, then each of ``SECTIONS``, in that order."""
    fields: dict[str, Spec] = {
        "version": Num(minimum=1, maximum=1, integer=True).about(
            "Format version.", default=1, example=1
        ),
        "database": DatabaseUrl().about(
            "The central store: SQLite (a path relative to this file) or PostgreSQL.",
            default=DEFAULT_DATABASE,
            example="postgresql+psycopg://pmohub@db.example.cn/pmohub",
        ),
        "timezone": Timezone().about(
            "The zone business days are counted in (as-of instant: 00:00 local).",
            default=DEFAULT_TZ,
            example="Asia/Shanghai",
        ),
        "language": Str(choices=("zh-CN", "en")).about(
            "Language of messages and reports.", default="zh-CN", example="en"
        ),
        "calendars": MapOf(CALENDAR).about("Working-day calendars by name.", default={}),
        "defaults": Fields(DEFAULTS_FIELDS).about("Defaults for people and items.", default={}),
        # checked per connector type by aggregator/config/sources.py
        "sources": Raw().about("Trackers and plan files by name (see Sources).", default={}),
        "people": ListOf(PERSON).about("Identities merged across tools, capacity.", default=[]),
        "people_exclude": ListOf(Str(), scalar_ok=True).about(
            "Service and app accounts that are not people: shell-style patterns (* ?) "
            "matched, case-insensitively, against each account's SOURCE:ID, id, username, "
            "name and e-mail; a person with a matching account is left out of `pmohub "
            "people`. Jira app accounts are never read as people.",
            default=[],
            example=["pmo-bot@*", "*[bot]", "PMO Bot"],
        ),
        "rules": rule_overrides("Tune or disable PMO rules (see docs/rules.md)."),
        "waivers": ListOf(WAIVER).about("Accepted exceptions to a rule.", default=[]),
        "hierarchy": ListOf(PORTFOLIO, keep_positions=True).about(
            "Portfolio -> programme -> project.", default=[]
        ),
    }
    for section in SECTIONS:
        fields[section.name] = section.spec
    return fields


#: Built once: the specs are immutable after import and the reference walks the same object.
TOP = Fields(top_fields())
