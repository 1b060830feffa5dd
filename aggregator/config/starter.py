"""The commented starter ``pmohub.yaml`` that ``pmohub init`` writes, and the complete
working example ``pmohub init --example`` writes with a sample plan beside it.

Every commented example in the starter is valid YAML once its ``# `` is removed
(tests/test_starter_config.py uncomments them all and loads the result): ``sources:`` is
written empty (null, read as no sources), never ``{}``, which uncommented entries under
it would turn into invalid YAML.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from pmohub.aggregator.config.yamlio import ConfigFileError
from pmohub.aggregator.safefiles import write_text

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
# Remove the "# " in front of an example to use it (keep the indentation).
sources:
#   jira_main:
#     type: jira                    # Cloud or Data Center, detected automatically
#     url: https://example.atlassian.net
#     email: pmo-bot@example.cn     # Cloud basic auth; omit for a DC personal access token
#     token_env: JIRA_TOKEN         # the NAME of the variable holding the token
#     projects: [CRMA, PMO]
#     status_map: {"待验收": review, "Blocked": blocked}
#   ops_plan:
#     type: spreadsheet             # .xlsx or .csv; an id column (编号) is optional
#     path: plans/ops_migration_plan.xlsx   # relative to this file
#     project_key: OPS-MIG          # the project its rows belong to

# Service and app accounts (bots, integrations) are not people: shell-style patterns
# matched against account ids, names and e-mails. Jira "app" accounts are always left out.
# people_exclude: ["pmo-bot@*", "*[bot]", "PMO Bot"]

# people:                           # identities merged across tools, capacity
#   - {id: "jira:5b10a2844c20165700ede21g", name: 张伟, hours_per_day: 6}

# rules:                            # tune or disable PMO rules (docs/rules.md)
#   RPT-001: {cadence: weekly, grace_wd: 2}

# waivers:
#   - {rule: PLAN-001, scope: "project:OPS-MIG", reason: 无采购, expires: 2026-09-30,
#      approved_by: pmo.lead}

# hierarchy:                        # portfolio -> programme -> project
#   - portfolio: DIGI
#     name: 数字化转型
#     programmes:
#       - programme: CUST
#         name: 客户平台
#         projects:
#           - {key: CRM-APP, name: 新版CRM, source: {name: jira_main, jql: "project = CRMA"}}
#           - {key: OPS-MIG, name: 运维迁移, source: {name: ops_plan}}
"""


#: ``pmohub init --example``: one spreadsheet source that works as written (the plan is
#: written beside it), so ``pmohub sync && pmohub check && pmohub status`` run at once.
EXAMPLE_CONFIG = """\
# pmohub example: one plan spreadsheet, nothing else to set up.
#   pmohub sources check && pmohub sync && pmohub check && pmohub status
# Then point `path` at your own plan (.xlsx or .csv) or add trackers (docs/configuration.md).
version: 1
database: sqlite:///pmohub.db       # beside this file
timezone: Asia/Shanghai
language: zh-CN                     # or en

sources:
  example_plan:
    type: spreadsheet
    path: plans/example_plan.csv    # relative to this file
    project_key: EXAMPLE            # every row belongs to this project
    project_name: 示例项目
    # No id column: ids come from each title within its parent (上级任务), so renaming a
    # task gives it a new id. Add a column 编号 to keep ids across renames.

hierarchy:
  - portfolio: PF
    name: 示例组合
    projects:
      - {key: EXAMPLE, name: 示例项目, source: {name: example_plan}}
"""

EXAMPLE_PLAN_HEADER = "任务名称,上级任务,负责人,开始日期,截止日期,状态,完成率"

#: (title, parent, owner, start offset, due offset in days from today, status, % done)
_EXAMPLE_ROWS = (
    ("需求调研", "", "张伟", -30, -16, "已完成", "100%"),
    ("方案设计", "", "李娜", -15, 5, "进行中", "60%"),
    ("接口设计", "方案设计", "李娜", -15, -2, "进行中", "80%"),
    ("数据模型", "方案设计", "陈静", -10, 5, "进行中", "40%"),
    ("开发实现", "", "陈静", 6, 40, "未开始", "0%"),
    ("上线评审", "", "张伟", 41, 45, "未开始", "0%"),
)


def example_plan(today: dt.date) -> str:
    """The sample plan as CSV, dated around ``today`` (so nothing is overdue by age)."""
    lines = [EXAMPLE_PLAN_HEADER]
    for title, parent, owner, start, due, status, done in _EXAMPLE_ROWS:
        start_on = (today + dt.timedelta(days=start)).isoformat()
        due_on = (today + dt.timedelta(days=due)).isoformat()
        lines.append(f"{title},{parent},{owner},{start_on},{due_on},{status},{done}")
    return "\n".join(lines) + "\n"


def write_starter_config(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    example: bool = False,
    today: dt.date | None = None,
) -> Path:
    """Write the commented starter file (``example``: the working example and its sample
    plan, ``plans/example_plan.csv`` beside it); refuses to overwrite unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigFileError(f"{path} already exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    if example:
        plan = path.parent / "plans" / "example_plan.csv"
        if plan.exists() and not force:
            raise ConfigFileError(f"{plan} already exists; use --force to overwrite it")
        plan.parent.mkdir(parents=True, exist_ok=True)
        write_text(plan, example_plan(today or dt.date.today()))
    # atomic and private (0600): a config names hosts, accounts and variable names
    write_text(path, EXAMPLE_CONFIG if example else STARTER_CONFIG)
    return path
