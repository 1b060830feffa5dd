"""``pmohub demo`` steps for the hosted trackers beside Jira (issues 7 and 16): GitHub,
GitLab, Trello, Azure Boards and PingCode, each a seeded emulator on 127.0.0.1 living as
long as the demo (PingCode's site is small: its 200 requests/min would pace a large one).

* :func:`step_start_trackers` starts the four emulators and puts their fixed test
  credentials (not secrets) into this process's environment under the ``token_env`` names
  the demo config gives, exactly as real tokens would arrive.
* :func:`step_add_trackers` appends the four sources to the demo config, adds their
  projects to the portfolio hierarchy (a "研发交付" programme in the DIGI portfolio, the
  Trello board under MKT) and ``people:`` entries joining accounts whose tracker hides the
  e-mail (Trello members, GitHub/GitLab users without a public address) to the person's
  Jira account, so each person is counted once across all tools. Accounts with a visible
  e-mail merge on their own: the emulated people use the Jira sites' addresses.

No network beyond 127.0.0.1.
"""

from __future__ import annotations

import os
from typing import Any

from pmohub.aggregator.config.loader import load_config_file

ENV = {
    "github": "PMOHUB_DEMO_GITHUB_TOKEN",
    "gitlab": "PMOHUB_DEMO_GITLAB_TOKEN",
    "trello": "PMOHUB_DEMO_TRELLO_TOKEN",
    "trello_key": "PMOHUB_DEMO_TRELLO_KEY",
    "azure": "PMOHUB_DEMO_AZURE_PAT",
    "pingcode": "PMOHUB_DEMO_PINGCODE_SECRET",
}


def step_start_trackers(run: Any) -> None:
    from pmohub.emulators import azure, github, gitlab, pingcode, trello

    # run.as_of (aggregator.demo.run.DEMO_AS_OF): every tracker's dates line up with Jira's
    # and the sample plans' in one portfolio.
    day = run.as_of
    gh = github.GitHubEmulator(github.generate_site(seed=21, repos=2, issues=45, today=day))
    gl = gitlab.GitLabEmulator(gitlab.generate_site(seed=22, projects=2, issues=35, today=day))
    tr = trello.TrelloEmulator(trello.generate_site(seed=23, boards=1, cards=30, today=day))
    az = azure.AzureBoardsEmulator(azure.generate_site(seed=24, projects=1, stories=25, today=day))
    pc = pingcode.PingCodeEmulator(
        pingcode.generate_site(seed=25, projects=1, items=24, today=day, history_days=120)
    )
    for emu in (gh, gl, tr, az, pc):
        emu.start()
        run.cleanups.append(emu.stop)
    os.environ[ENV["github"]] = github.DEFAULT_TOKEN
    os.environ[ENV["gitlab"]] = gitlab.DEFAULT_TOKEN
    os.environ[ENV["trello"]] = trello.DEFAULT_TOKEN
    os.environ[ENV["trello_key"]] = trello.DEFAULT_KEY
    os.environ[ENV["azure"]] = azure.DEFAULT_PAT
    os.environ[ENV["pingcode"]] = pingcode.DEFAULT_CLIENT_SECRET
    run.extras["trackers"] = {"github": gh, "gitlab": gl, "trello": tr, "azure": az, "pingcode": pc}
    run.say(
        f"GitHub {gh.url}, GitLab {gl.url}, Trello {tr.url}, Azure Boards {az.url}, "
        f"PingCode {pc.url} emulators"
    )


def sources_text(emus: dict[str, Any]) -> str:
    gh, gl, tr, az = emus["github"], emus["gitlab"], emus["trello"], emus["azure"]
    repos = ", ".join(f"{gh.site.owner}/{r['name']}" for r in gh.site.repos)
    group = gl.site.group["full_path"]
    gl_projects = ", ".join(f"{group}/{p['path']}" for p in gl.site.projects)
    board = tr.site.boards[0]
    az_project = az.site.projects[0]["name"]
    return f"""
  # GitHub, GitLab, Trello and Azure Boards emulators started by `pmohub demo`.
  github:
    type: github
    url: {gh.url}
    token_env: {ENV["github"]}
    projects: [{repos}]
    status_map: {{review: review, blocked: blocked}}   # from labels status:review ...
  gitlab:
    type: gitlab
    url: {gl.url}
    token_env: {ENV["gitlab"]}
    projects: [{gl_projects}]
    status_map: {{review: review}}                     # from scoped labels workflow::review
  trello:
    type: trello
    url: {tr.url}/1
    token_env: {ENV["trello"]}
    api_key_env: {ENV["trello_key"]}
    projects: [{board["shortLink"]}]
    board_keys: {{{board["shortLink"]}: MKT-SITE}}
    status_map: {{Review: review}}                     # list name -> category
  azure_boards:
    type: azureboards
    url: {az.url}/{az.site.organization}
    token_env: {ENV["azure"]}
    projects: ["{az_project}"]
""" + _pingcode_source(emus.get("pingcode"))


def _pingcode_source(pc: Any) -> str:
    if pc is None:
        return ""
    from pmohub.emulators.pingcode import DEFAULT_CLIENT_ID

    keys = ", ".join(p["identifier"] for p in pc.site.projects)
    return f"""  pingcode:
    type: pingcode
    url: {pc.root}
    client_id: {DEFAULT_CLIENT_ID}
    token_env: {ENV["pingcode"]}
    projects: [{keys}]
    status_map: {{已拒绝: cancelled}}                  # a rejected item is not done work
"""


def hierarchy_text(emus: dict[str, Any]) -> tuple[str, str]:
    """(a programme for the DIGI portfolio, a project entry for MKT)."""
    gh, gl, az = emus["github"], emus["gitlab"], emus["azure"]
    owner, group = gh.site.owner, gl.site.group["full_path"]
    az_project = az.site.projects[0]["name"]
    entries = []
    rank = 7
    # PMs from the config's people (MKT-SITE has none: REG-002 shows what that looks like).
    pms = iter(["刘洋", "陈静", "Alice Johnson", "Bob Miller", "Carla Schmidt", "周杰"])
    for r in gh.site.repos:
        key = r["name"].upper()
        entries.append(
            f"          - {{key: {key}, name: {r['name']}, "
            f"source: {{name: github, project: {owner}/{r['name']}}}, priority_rank: {rank}, "
            f'pm: "{next(pms)}"}}'
        )
        rank += 1
    for p in gl.site.projects:
        key = p["path"].upper()
        entries.append(
            f"          - {{key: {key}, name: {p['name']}, "
            f"source: {{name: gitlab, project: {group}/{p['path']}}}, priority_rank: {rank}, "
            f'pm: "{next(pms)}"}}'
        )
        rank += 1
    entries.append(
        f"          - {{key: FABRIKAM, name: {az_project}, "
        f'source: {{name: azure_boards, project: "{az_project}"}}, priority_rank: {rank}, '
        f'pm: "{next(pms)}"}}'
    )
    pc = emus.get("pingcode")
    for p in pc.site.projects if pc is not None else ():
        rank += 1
        entries.append(
            f"          - {{key: PC-{p['identifier']}, name: {p['name']}, "
            f"source: {{name: pingcode, project: {p['identifier']}}}, priority_rank: {rank}, "
            f'pm: "{next(pms, "周杰")}"}}'
        )
    programme = "      - programme: DEV\n        name: 研发交付\n        projects:\n"
    programme += "\n".join(entries) + "\n"
    mkt = (
        "      - {key: MKT-SITE, name: Marketing site refresh, "
        f"source: {{name: trello, project: MKT-SITE}}, priority_rank: {rank + 1}}}\n"
    )
    return programme, mkt


def people_text(emus: dict[str, Any], jira_users: dict[str, dict[str, str]]) -> str:
    """``people:`` entries for accounts the trackers show without an e-mail, each joined
    to the same person's Jira Cloud account (found by display name in the Jira sites; the
    person's e-mail in the store may already be another tool's, so it cannot be the key)."""
    gh, gl, tr = emus["github"], emus["gitlab"], emus["trello"]
    hidden = [(f"github:{u['id']}", u["name"]) for u in gh.site.users if not u["email"]]
    hidden += [(f"gitlab:{u['id']}", u["name"]) for u in gl.site.users if not u["public_email"]]
    hidden += [(f"trello:{m['id']}", m["fullName"]) for m in tr.site.members]
    out = []
    for ref, name in hidden:
        cloud = (jira_users.get(name) or {}).get("cloud")
        if cloud:
            out.append(f'  - {{id: "{ref}", aliases: ["jira_cloud:{cloud}"]}}\n')
    return "".join(out)


def add_trackers_text(
    text: str, emus: dict[str, Any], jira_users: dict[str, dict[str, str]] | None = None
) -> str:
    """The demo config with the trackers' sources, hierarchy entries and people added.

    The config is the samples' ``sources:`` block followed by the Jira step's
    ``hierarchy:``/``report:``/``people:`` sections: sources go just before ``hierarchy:``,
    the programme just before the MKT portfolio, the Trello project at the end of MKT's
    projects, the people at the end of ``people:``. Without those anchors (no Jira step)
    only the sources are added.
    """
    programme, mkt = hierarchy_text(emus)
    text = text.rstrip("\n") + "\n"
    if "\nhierarchy:" in text:
        head, tail = text.split("\nhierarchy:", 1)
        text = head.rstrip("\n") + "\n" + sources_text(emus) + "\nhierarchy:" + tail
        if "\n  - portfolio: MKT" in text:
            text = text.replace(
                "\n  - portfolio: MKT", "\n" + programme.rstrip("\n") + "\n  - portfolio: MKT", 1
            )
        if "\nreport:" in text:
            head, tail = text.split("\nreport:", 1)
            text = head.rstrip("\n") + "\n" + mkt + "\nreport:" + tail
    else:
        text += sources_text(emus)
    if "\npeople:" in text:
        text = text.rstrip("\n") + "\n" + people_text(emus, jira_users or {})
    return text


def step_add_trackers(run: Any) -> None:
    emus = run.extras.get("trackers")
    if not emus or run.config is None or run.config.path is None:
        return
    path = run.config.path
    users = (run.extras.get("jira") or {}).get("users") or {}
    text = add_trackers_text(path.read_text(encoding="utf-8"), emus, users)
    path.write_text(text, encoding="utf-8")
    run.config = load_config_file(path)
    run.say(f"added the GitHub, GitLab, Trello, Azure Boards and PingCode sources to {path}")
