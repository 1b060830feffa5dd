"""A small real project for the report, e-mail and scheduler tests: a CSV plan synced into a
real store through the spreadsheet connector, then checked. Two of its work items carry
script-injection titles, one a Chinese title with markup."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import Config, load_config_file
from pmohub.aggregator.ingest.sync import sync_all
from pmohub.aggregator.store.engine import open_store

AS_OF = dt.date(2026, 11, 21)
SCRIPT_TITLE = "<script>alert(1)</script>"
IMG_TITLE = "<img src=x onerror=alert(1)>"
MARKUP_TITLE = "Q&A <b>bold</b> 变更"

PLAN_CSV = f"""ID,Title,Type,Assignee,Email,Start Date,Due Date,Resolved,Status,Priority,Estimate (h),Time Spent,Story Points,Parent,Milestone,Labels
H-1,Build API,Task,张伟,zhang@example.cn,2026-10-01,2026-10-20,2026-10-19,Done,High,16,18,3,,,
H-2,{SCRIPT_TITLE},Risk,李娜,li@example.cn,2026-10-05,2026-12-20,,In Progress,High,,,,,,
H-3,{IMG_TITLE},Action,张伟,zhang@example.cn,2026-10-10,2026-11-10,,In Progress,Medium,8,2,,,,
H-4,{MARKUP_TITLE},Change Request,李娜,li@example.cn,2026-11-01,2026-12-01,,To Do,Medium,,,,,,
H-5,Go-live,Milestone,张伟,zhang@example.cn,,2026-12-01,,To Do,High,,,,,,
H-6,Write docs,Task,李娜,li@example.cn,2026-10-15,2026-11-05,,In Progress,Low,24,10,5,,Go-live,
H-7,Load test,Task,张伟,zhang@example.cn,2026-11-02,2026-11-28,,To Do,High,12,,2,,Go-live,
H-8,Deploy,Task,张伟,zhang@example.cn,2026-10-20,2026-11-12,2026-11-12,Done,High,8,9,1,,Go-live,
"""

CONFIG = """version: 1
database: {database}
timezone: Asia/Shanghai
language: {language}
sources:
  plan:
    type: spreadsheet
    path: plan.csv
    project_key: HOST
    project_name: Hostile titles
    date_formats: ["%Y-%m-%d"]
hierarchy:
  - portfolio: PF
    name: 测试组合
    programmes:
      - programme: PG
        name: Programme One
        projects:
          - {{key: HOST, name: 敌意标题, source: {{name: plan, project: HOST}}, priority_rank: 1}}
  - portfolio: OTHER
    name: Other portfolio
    projects:
      - {{key: EMPTY, name: Nothing synced yet}}
report:
  language: {report_language}
  formats: [{formats}]
  recipients: {{PF: ["pmo@example.cn", "王经理 <wang@example.cn>"], "*": [boss@example.cn]}}
{extra}"""


def write_project(
    directory: Path,
    *,
    database: str | None = None,
    language: str = "en",
    report_language: str = "en",
    extra: str = "",
    formats: str = "html, xlsx, md",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plan.csv").write_text(PLAN_CSV, encoding="utf-8")
    path = directory / "pmohub.yaml"
    path.write_text(
        CONFIG.format(
            database=database or "sqlite:///pmohub.db",
            language=language,
            report_language=report_language,
            extra=extra,
            formats=formats,
        ),
        encoding="utf-8",
    )
    return path


def synced_project(directory: Path, **kw: Any) -> tuple[Config, Any]:
    """Config + engine of a synced and checked project (findings written as of AS_OF)."""
    config = load_config_file(write_project(directory, **kw))
    engine = open_store(config.database)
    results = sync_all(engine, list(config.sources.values()))
    assert all(r.status == "ok" for r in results), [r.error for r in results]
    run_checks(engine, config, as_of=AS_OF, write=True)
    return config, engine
