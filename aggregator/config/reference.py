"""The configuration reference (docs/configuration.md), generated from the loader's schema.

Every key, its type, default and example come from the specs the loader checks a file
with (aggregator/config/document.py, sections.py, sources.py and each built-in
connector's ``option_keys``), so the reference cannot drift from what loads:
tests/test_config_reference.py fails when docs/configuration.md is stale, and parses
:data:`EXAMPLE` (which the document shows) through the loader.

Regenerate: ``python -m pmohub.aggregator.config.reference > docs/configuration.md``.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pmohub.aggregator.config.document import TOP
from pmohub.aggregator.config.schema import NO_DEFAULT, Fields, ListOf, MapOf, Spec
from pmohub.aggregator.config.sections import SECTIONS
from pmohub.aggregator.config.sources import COMMON_SOURCE
from pmohub.connectors import registry

#: A complete config using every top-level key and section; shown in the reference and
#: loaded by tests/test_config_reference.py (so the example always loads).
EXAMPLE = """\
version: 1
database: sqlite:///pmohub.db
timezone: Asia/Shanghai
language: zh-CN
calendars:
  cn: {weekend: [sat, sun], source: chinesecalendar, extra_holidays: [2026-12-31]}
defaults: {calendar: cn, hours_per_day: 8, hpp: 6, default_estimate_h: {Bug: 4}}
sources:
  jira_main:
    type: jira
    url: https://example.atlassian.net
    email: pmo-bot@example.cn
    token_env: JIRA_TOKEN
    projects: [CRMA, PMO]
    status_map: {"待验收": review, "Blocked": blocked}
  ops_plan:
    type: spreadsheet
    path: plans/ops_migration_plan.xlsx
people:
  - {id: "jira:5b10a2844c20165700ede21g", name: 张伟, hours_per_day: 6,
     leave: [2026-05-06..2026-05-08]}
rules:
  RPT-001: {cadence: weekly, grace_wd: 2}
waivers:
  - {rule: PLAN-001, scope: "project:OPS-MIG", reason: 无采购, expires: 2026-09-30,
     approved_by: pmo.lead}
hierarchy:
  - portfolio: DIGI
    name: 数字化转型
    programmes:
      - programme: CUST
        name: 客户平台
        projects:
          - {key: CRM-APP, name: 新版CRM, priority_rank: 1,
             source: {name: jira_main, jql: "project = CRMA"}}
    projects:
      - {key: OPS-MIG, name: 机房迁移, source: {name: ops_plan}}
report:
  out_dir: reports
  formats: [html, xlsx, md]
  recipients: {DIGI: [pmo@example.cn], "*": [director@example.cn]}
smtp:
  host: smtp.example.cn
  port: 587
  security: starttls
  username: pmo-bot
  password_env: SMTP_PASSWORD
  from: "PMO 报告 <pmo-bot@example.cn>"
schedule:
  nightly: "02:00"
  catch_up: true
notify:
  language: zh
  report_url: https://pmo.example.cn/reports/latest.html
  slack: {webhook_env: PMO_SLACK_URL}
  teams: {webhook_env: PMO_TEAMS_URL}
"""


def _inline(value: Any) -> str:
    """A value as inline YAML in a code span (JSON flow style is valid YAML)."""
    if value is NO_DEFAULT:
        return ""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    return "`" + text.replace("|", "\\|") + "`"


def _child(spec: Spec) -> tuple[str, Fields] | None:
    """The nested mapping a key holds (directly, as list items or as map values)."""
    if isinstance(spec, Fields):
        return "", spec
    if isinstance(spec, ListOf) and isinstance(spec.item, Fields):
        return "[]", spec.item
    if isinstance(spec, MapOf) and isinstance(spec.value, Fields):
        return ".<name>", spec.value
    return None


def _type(spec: Spec, where: str | None) -> str:
    if where is None:
        return spec.type_text()
    if isinstance(spec, ListOf):
        return f"list of mappings, see [`{where}`](#{_anchor(where)})"
    if isinstance(spec, MapOf):
        return f"mapping of name -> mapping, see [`{where}`](#{_anchor(where)})"
    return f"mapping, see [`{where}`](#{_anchor(where)})"


def _anchor(path: str) -> str:
    """GitHub's heading anchor of ``### `path` ``."""
    return "".join(c for c in path.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def _table(fields: Fields, prefix: str) -> list[str]:
    lines = ["| Key | Type | Default | Example | Description |", "|---|---|---|---|---|"]
    for key, spec in fields.fields.items():
        child = _child(spec)
        where = f"{prefix}{key}{child[0]}" if child else None
        default = "required" if key in fields.required else _inline(spec.default)
        cells = [f"`{key}`", _type(spec, where), default, _inline(spec.example), spec.doc]
        lines.append("| " + " | ".join(c.replace("\n", " ") for c in cells) + " |")
    return lines


def _nested(fields: Fields, prefix: str) -> Iterator[tuple[str, Fields, str]]:
    """Every mapping below ``fields``, depth first: (path, spec, its own doc)."""
    for key, spec in fields.fields.items():
        child = _child(spec)
        if child is None:
            continue
        path = f"{prefix}{key}{child[0]}"
        yield path, child[1], spec.doc or child[1].doc
        yield from _nested(child[1], path + ".")


def _option_type(kind: Any) -> str:
    origin = typing.get_origin(kind) or kind
    return getattr(origin, "__name__", str(kind))


def _connectors() -> list[str]:
    """One table per built-in connector type: its own options (``option_keys``)."""
    lines: list[str] = []
    for name in registry.BUILTINS:
        cls = registry.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        lines += [f"### `type: {name}`", ""]
        if doc:
            lines += [doc[0], ""]
        options = dict(getattr(cls, "option_keys", {}) or {})
        if not options:
            lines += ["No options beyond the common keys.", ""]
            continue
        lines += ["| Option | Type |", "|---|---|"]
        lines += [f"| `{k}` | {_option_type(v)} |" for k, v in options.items()]
        lines.append("")
    return lines


def to_markdown() -> str:
    """The whole reference as Markdown."""
    core = Fields({k: v for k, v in TOP.fields.items() if k not in {s.name for s in SECTIONS}})
    lines = [
        "# Configuration reference (`pmohub.yaml`)",
        "",
        "<!-- Generated by `python -m pmohub.aggregator.config.reference` from the loader's",
        "     schema (aggregator/config/); do not edit by hand",
        "     (tests/test_config_reference.py checks it). -->",
        "",
        "`pmohub` finds its config at `--config PATH`, else `$PMOHUB_CONFIG`, else",
        "`./pmohub.yaml`; `pmohub init` writes a commented starter file. Unknown keys are",
        "rejected with the file and line (`pmohub.yaml:14: sources.jira_main.tokn_env:",
        "unknown key (did you mean 'token_env'?)`). Secrets never go in the file: `*_env`",
        "keys name environment variables, and an inline `token:`/`password:` is refused.",
        "`${VAR}` is expanded in `database` and source `url`s only.",
        "",
        "An empty cell means the key has no default: absent, it is not set.",
        "",
        "## Example",
        "",
        "```yaml",
        EXAMPLE.rstrip(),
        "```",
        "",
        "## Top-level keys",
        "",
        *_table(core, ""),
        "",
    ]
    for path, spec, doc in _nested(core, ""):
        lines += [f"### `{path}`", "", *([doc, ""] if doc else []), *_table(spec, path + "."), ""]
    lines += [
        "## Sources",
        "",
        "`sources.<name>`: one entry per tracker or plan file; the name is how the CLI and",
        "the store refer to it. Every source takes these keys, plus the options of its type.",
        "",
        *_table(Fields(COMMON_SOURCE, required=("type",)), "sources.<name>."),
        "",
        *_connectors(),
        "## Optional sections",
        "",
        "Listed in `aggregator/config/sections.py` (`SECTIONS`); read from `Config.sections`.",
        "",
    ]
    for section in SECTIONS:
        lines += [f"### `{section.name}`", "", section.spec.doc, ""]
        lines += [*_table(section.spec, section.name + "."), ""]
        for path, spec, doc in _nested(section.spec, section.name + "."):
            lines += [f"#### `{path}`", "", *([doc, ""] if doc else []), *_table(spec, path + ".")]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or with ``--write`` update docs/configuration.md in place."""
    argv = sys.argv[1:] if argv is None else argv
    text = to_markdown()
    if "--write" in argv:
        target = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
        target.write_text(text, encoding="utf-8")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
