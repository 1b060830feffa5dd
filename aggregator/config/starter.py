"""The commented starter ``pmohub.yaml`` that ``pmohub init`` writes."""

from __future__ import annotations

import os
from pathlib import Path

from pmohub.aggregator.config.yamlio import ConfigFileError

STARTER_CONFIG = """\
# pmohub configuration. Format: see docs/configuration.md and README "Configuration".
# Unknown keys are rejected; secrets never go in this file: name environment
# variables with *_env keys instead (token_env: JIRA_TOKEN).
version: 1

# Central store: a SQLite file beside this config, or PostgreSQL for shared use
# (postgresql+psycopg://pmohub@db.example.cn/pmohub; password from PGPASSWORD or
# ${VAR} interpolation, always printed redacted).
database: sqlite:///pmohub.db
timezone: Asia/Shanghai
language: zh-CN                     # or en

calendars:
  cn: {weekend: [sat, sun], source: chinesecalendar}
defaults: {calendar: cn, hours_per_day: 8}

# One entry per tracker or plan file; the name is how the CLI and the store refer to it.
sources: {}
#  jira_main:
#    type: jira                      # Cloud or Data Center, detected automatically
#    url: https://example.atlassian.net
#    email: pmo-bot@example.cn       # Cloud basic auth; omit for a DC personal access token
#    token_env: JIRA_TOKEN           # the NAME of the variable holding the token
#    projects: [CRMA, PMO]
#    status_map: {"待验收": review, "Blocked": blocked}
#  ops_plan:
#    type: spreadsheet
#    path: plans/ops_migration_plan.xlsx   # relative to this file

# people:                            # identities merged across tools, capacity
#   - {id: "jira:5b10a2844c20165700ede21g", name: 张伟, hours_per_day: 6}

# rules:                             # tune or disable PMO rules (docs/rules.md)
#   RPT-001: {cadence: weekly, grace_wd: 2}

# waivers:
#   - {rule: PLAN-001, scope: "project:OPS-MIG", reason: 无采购, expires: 2026-09-30,
#      approved_by: pmo.lead}

# hierarchy:                         # portfolio -> programme -> project
#   - portfolio: DIGI
#     name: 数字化转型
#     programmes:
#       - programme: CUST
#         name: 客户平台
#         projects:
#           - {key: CRM-APP, name: 新版CRM, source: {name: jira_main, jql: "project = CRMA"}}
"""


def write_starter_config(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write the commented starter file; refuses to overwrite unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigFileError(f"{path} already exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    return path
