"""The full-product steps of ``pmohub demo`` (added to :data:`aggregator.demo.run.STEPS`).

* :func:`step_start_jira`: two small seeded Jira emulator sites on 127.0.0.1 (Cloud and
  Data Center). Their credentials go into *this process's* environment only, under the
  names the demo config gives in ``token_env``; the emulators stop when the demo ends.
* :func:`step_add_jira_and_hierarchy`: the Jira sources, a portfolio -> programme ->
  project hierarchy over every source and a ``report`` section, appended to the config.
* :func:`step_nightly`: one nightly pass (sync, check, snapshot, report; no e-mail) that
  writes ``DIR/report.html``, ``DIR/report.xlsx`` and ``DIR/report.md``, and keeps the
  portfolio status rows for the CLI to print.

No network beyond 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import os
from datetime import timedelta
from typing import Any

from pmohub.aggregator.config.loader import load_config_file

CLOUD_SOURCE = "jira_cloud"
DC_SOURCE = "jira_dc"
# The emulator's fixed test credentials (not secrets) reach the connector through these
# environment variables, exactly as real tokens would.
CLOUD_TOKEN_ENV = "PMOHUB_DEMO_JIRA_CLOUD_TOKEN"
DC_TOKEN_ENV = "PMOHUB_DEMO_JIRA_DC_TOKEN"
HISTORY_WEEKS = 8


def _registry_keys(site: Any) -> dict[str, str]:
    """Delivery project name -> key of its registry issue (``<name> 项目立项``)."""
    out = {}
    for issue in site.issues:
        if issue.get("type") == "Project" and str(issue.get("summary", "")).endswith(" 项目立项"):
            out[issue["summary"].removesuffix(" 项目立项")] = issue["key"]
    return out


def _jira_users(cloud_site: Any, dc_site: Any) -> dict[str, dict[str, str]]:
    """Display name -> the account id each emulated site gives that person."""
    out: dict[str, dict[str, str]] = {}
    for kind, site in (("cloud", cloud_site), ("dc", dc_site)):
        for u in site.users:
            out.setdefault(u["display_name"], {})[kind] = (
                u["account_id"] if kind == "cloud" else u["key"]
            )
    return out


def people_config_text(users: dict[str, dict[str, str]]) -> str:
    """``people:`` entries joining the samples' accounts with the Jira sites' (issue 7).
    Jira uses other e-mail addresses (zhang.wei@ vs zhangwei@) and Cloud hides some, so
    e-mail alone cannot tell they are the same people: the PMO says so in the config."""
    from pmohub.aggregator.demo.samples.make_mspdi import RESOURCES
    from pmohub.aggregator.demo.samples.make_samples import PEOPLE

    refs = {name: f"ops_plan:{email}" for name, email in PEOPLE.items()}
    for uid, name, _email in RESOURCES:
        refs.setdefault(name, f"data_plan:{uid}")
    lines = ["", "people:   # one identity per person across tools: `pmohub people`"]
    for name, ids in users.items():
        if "cloud" not in ids or "dc" not in ids:
            continue
        accounts = [f"{CLOUD_SOURCE}:{ids['cloud']}", f"{DC_SOURCE}:{ids['dc']}"]
        if name in refs:
            accounts.insert(0, refs[name])
        first, *aliases = (f'"{a}"' for a in accounts)
        lines.append(f'  - {{id: {first}, name: "{name}", aliases: [{", ".join(aliases)}]}}')
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def step_start_jira(run: Any) -> None:
    from pmohub.emulators.jira import DEFAULT_TOKEN, JiraEmulator, generate_site

    cloud_site = generate_site(seed=7, projects=3, issues=140, today=run.as_of)
    dc_site = generate_site(seed=11, projects=5, issues=200, today=run.as_of)
    cloud = JiraEmulator(cloud_site, deployment="cloud").start()
    run.cleanups.append(cloud.stop)
    dc = JiraEmulator(dc_site, deployment="datacenter").start()
    run.cleanups.append(dc.stop)
    os.environ[CLOUD_TOKEN_ENV] = DEFAULT_TOKEN
    os.environ[DC_TOKEN_ENV] = DEFAULT_TOKEN
    run.extras["jira"] = {
        "cloud_url": cloud.url,
        "dc_url": dc.url,
        "registry": _registry_keys(cloud_site),
        "users": _jira_users(cloud_site, dc_site),
    }
    run.say(f"Jira emulators: Cloud {cloud.url}, Data Center {dc.url}")


#: Canonical PMO field -> the emulated sites' display name (docs/configuration.md ``fields``).
PMO_FIELD_NAMES = {
    "risk_probability": "Risk Probability",
    "risk_impact": "Risk Impact",
    "risk_response": "Risk Response",
    "review_on": "Risk Review Date",
    "escalated_to_pmo": "Escalated to PMO",
    "cr_reason": "CR Reason",
    "cr_impact": "CR Impact Analysis",
    "cr_alternatives": "CR Alternatives",
    "ccb_decision": "CCB Decision",
    "rag": "RAG",
    "subplans": "Sub-plans",
    "acceptance_criteria": "Acceptance Criteria",
    "objective": "Objective",
    "scope": "Scope",
    "deliverables": "Deliverables",
    "assumptions": "Assumptions and Constraints",
    "strategic_fit": "Strategic Fit",
    "sponsor": "Sponsor",
    "pm": "Project Manager",
    "planned_start": "Planned Start",
    "planned_end": "Planned End",
}
RISK_FIELD_NAMES = ("risk_probability", "risk_impact", "risk_response", "review_on")


def _fields_text(names: Any) -> str:
    return ", ".join(f'{k}: "{PMO_FIELD_NAMES[k]}"' for k in names)


def jira_config_text(cloud_url: str, dc_url: str, registry: dict[str, str]) -> str:
    from pmohub.emulators.jira import DEFAULT_EMAIL

    crm = registry.get("新版CRM", "PMO-1")
    pay = registry.get("Payments Platform", "PMO-8")
    pmo_fields = _fields_text(PMO_FIELD_NAMES)
    risk_fields = _fields_text(RISK_FIELD_NAMES)
    return f"""
  # Jira emulators started by `pmohub demo` (they only live while the demo runs).
  {CLOUD_SOURCE}:
    type: jira
    url: {cloud_url}
    email: {DEFAULT_EMAIL}
    token_env: {CLOUD_TOKEN_ENV}
    projects: [CRMA, PAY, PMO]
    registry_project: PMO
    status_map: {{"In Review": review, "Blocked": blocked}}
    # The PMO's custom fields, by display name (their ids differ per site).
    fields: {{{pmo_fields}}}
  {DC_SOURCE}:
    type: jira
    url: {dc_url}
    token_env: {DC_TOKEN_ENV}
    projects: [DATA]
    fields: {{{risk_fields}}}

hierarchy:
  - portfolio: DIGI
    name: 数字化转型
    programmes:
      - programme: CUST
        name: 客户平台
        projects:
          - {{key: CRM-APP, name: 新版CRM, source: {{name: {CLOUD_SOURCE}, project: CRMA}},
             registry_issue: {crm}, priority_rank: 1, critical: true}}
          - {{key: PAY-PLAT, name: Payments Platform, source: {{name: {CLOUD_SOURCE}, project: PAY}},
             registry_issue: {pay}, priority_rank: 2}}
      - programme: INFRA
        name: 基础设施
        projects:
          - {{key: OPS-MIG, name: 运维迁移, source: {{name: ops_plan, project: OPS-MIG}},
             priority_rank: 3, pm: 张伟, start_on: 2026-06-01, due_on: 2027-01-29}}
          - {{key: DATA-LAKE, name: Data Lake, source: {{name: {DC_SOURCE}, project: DATA}},
             priority_rank: 4, pm: 王芳, start_on: 2026-06-01, due_on: 2027-02-26}}
          - {{key: DATA-PLAT, name: 数据中台建设, source: {{name: data_plan, project: DATA-PLAT}},
             priority_rank: 6, pm: 赵磊}}
  - portfolio: MKT
    name: 市场营销
    projects:
      - {{key: MKT-LAUNCH, name: Product launch campaign,
         source: {{name: marketing, project: MKT-LAUNCH}}, priority_rank: 5, pm: 李娜}}

report:
  language: zh
  data_label: demo data                # beside the as-of date: a frozen sample world
  out_dir: reports
  formats: [html, xlsx, md]
  recipients: {{"*": [pmo@example.cn]}}   # used with an smtp: section (`pmohub report --send`)
"""


def step_add_jira_and_hierarchy(run: Any) -> None:
    assert run.config is not None and run.config.path is not None
    jira = run.extras.get("jira")
    if not jira:
        return
    path = run.config.path
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    text += jira_config_text(jira["cloud_url"], jira["dc_url"], jira["registry"])
    text += people_config_text(jira.get("users") or {})
    path.write_text(text, encoding="utf-8")
    run.config = load_config_file(path)
    run.say(f"added the Jira sources and a portfolio hierarchy to {path}")


ONBOARDED_WEEKS = 4  # the demo PMO took over projects without a registry issue this long ago


def step_onboarding_baselines(run: Any) -> None:
    """Projects without a registry issue (so no plan-approval date to rebuild a baseline
    at) get the plan as the PMO found it when it onboarded them, rebuilt from the synced
    history as of ``ONBOARDED_WEEKS`` ago: the variance and change rules then have a
    baseline to compare with, as in a real first quarter of use."""
    from pmohub.aggregator.compliance.baselines import has_baseline, reconstruct_baseline

    assert run.config is not None and run.engine is not None
    at = dt.datetime.combine(run.as_of - timedelta(weeks=ONBOARDED_WEEKS), dt.time(1), dt.UTC)
    done = []
    for pf in run.config.hierarchy:
        for p in pf.all_projects():
            if p.registry_issue or has_baseline(run.engine, p.key):
                continue
            reconstruct_baseline(run.engine, run.config, p.key, at, label="onboarding")
            done.append(p.key)
    if done:
        run.say(f"onboarding baselines as of {at.date()} for {len(done)} projects")


def step_backfill_history(run: Any) -> None:
    """Daily snapshots for the past weeks, reconstructed from the synced history, so the
    report's RAG and compliance trends have something to show on a fresh install."""
    from pmohub.aggregator.status.snapshots import take_snapshots

    assert run.config is not None and run.engine is not None
    for weeks in range(HISTORY_WEEKS, 0, -1):
        take_snapshots(
            run.engine,
            run.config,
            run.as_of - timedelta(weeks=weeks),
            history=True,
            now=run.now(),
        )
    run.say(f"reconstructed {HISTORY_WEEKS} weekly snapshots from the history")


def step_nightly(run: Any) -> None:
    from pmohub.aggregator.jobs.nightly import run_nightly

    assert run.config is not None
    result = run_nightly(
        run.config,
        engine=run.engine,
        send=False,
        out_dir=run.out_dir,
        report_basename="report",
        as_of=run.as_of,
        now=run.now,
    )
    run.extras["nightly"] = result
    for name, path in result.files.items():
        run.say(f"wrote {path} ({name})")
    failed = [s for s in result.steps if s.status == "failed"]
    for s in failed:
        run.failures.append(f"nightly {s.name}: {s.error}")
    report = result.reports[0] if result.reports else None
    if report is not None:
        run.extras["status_rows"] = status_rows(report)
        # the chat digests as they would be posted (no webhook is configured: files only)
        from pmohub.aggregator.report.chat.notify import report_digest, to_payloads, write_payloads

        digest = report_digest(report, run.config, report_hint="report.html")
        for path in write_payloads(to_payloads(digest), run.out_dir / "notify").values():
            run.say(f"wrote {path}")


def status_rows(report: Any, lang: str = "zh") -> list[dict[str, Any]]:
    from pmohub.aggregator.report.i18n import t

    rows = report.section("dashboard").tables[0].rows
    out = []
    for r in rows:
        pc = r.get("progress_count")
        out.append(
            {
                "level": t(f"level.{r['level']}", lang),
                "key": r["key"],
                "name": r.get("name") or "",
                "rag": t(f"rag.{r['rag']}", lang),
                "progress": None if pc is None else f"{pc * 100:.0f}%",
                "spi_t": r.get("spi_t"),
                "compliance": r.get("compliance"),
            }
        )
    return out
