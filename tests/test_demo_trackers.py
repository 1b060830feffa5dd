"""The demo's GitHub/GitLab/Trello/Azure Boards/PingCode additions: the config they write loads,
every tracker project sits in the hierarchy, and hidden-e-mail accounts are joined to a
Jira account (the end-to-end demo run is in test_cli.py)."""

from __future__ import annotations

from pathlib import Path

from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.demo.trackers import add_trackers_text
from pmohub.emulators import azure, github, gitlab, pingcode, trello

BASE = """\
version: 1
database: sqlite:///pmohub.db
sources:
  marketing:
    type: spreadsheet
    path: data.csv
    project_key: MKT-LAUNCH

hierarchy:
  - portfolio: DIGI
    name: Digital
    programmes:
      - programme: CUST
        name: Customer
        projects:
          - {key: CRM-APP, name: CRM, source: {name: marketing, project: MKT-LAUNCH}}
  - portfolio: MKT
    name: Marketing
    projects:
      - {key: MKT-LAUNCH, name: Launch, source: {name: marketing, project: MKT-LAUNCH}}

report:
  language: zh

people:
  - {id: "marketing:x", name: X}
"""


def test_config_with_trackers_loads_and_maps_every_project(tmp_path: Path) -> None:
    emus = {
        "github": github.GitHubEmulator(github.generate_site(seed=1, repos=2, issues=5)),
        "gitlab": gitlab.GitLabEmulator(gitlab.generate_site(seed=1, projects=2, issues=5)),
        "trello": trello.TrelloEmulator(trello.generate_site(seed=1, boards=1, cards=5)),
        "azure": azure.AzureBoardsEmulator(azure.generate_site(seed=1, stories=3)),
        "pingcode": pingcode.PingCodeEmulator(pingcode.generate_site(seed=1, projects=1, items=3)),
    }
    (tmp_path / "data.csv").write_text("id,title\n", encoding="utf-8")
    users = {u["name"]: {"cloud": f"acc-{n}"} for n, u in enumerate(emus["github"].site.users)}
    path = tmp_path / "pmohub.yaml"
    path.write_text(add_trackers_text(BASE, emus, users), encoding="utf-8")
    cfg = load_config_file(path)
    assert {"github", "gitlab", "trello", "azure_boards", "pingcode"} <= set(cfg.sources)
    mapped = {(p.source.name, p.source.selector.get("project")) for p in cfg.projects() if p.source}
    gh, gl = emus["github"].site, emus["gitlab"].site
    expected = {("github", f"{gh.owner}/{r['name']}") for r in gh.repos}
    expected |= {("gitlab", f"{gl.group['full_path']}/{p['path']}") for p in gl.projects}
    expected |= {("trello", "MKT-SITE"), ("azure_boards", emus["azure"].site.projects[0]["name"])}
    expected |= {("pingcode", p["identifier"]) for p in emus["pingcode"].site.projects}
    assert expected <= mapped
    trello_refs = {p.id for p in cfg.people if p.id.startswith("trello:")}
    assert len(trello_refs) == len(emus["trello"].site.members)
    assert all(p.aliases and p.aliases[0].startswith("jira_cloud:") for p in cfg.people[1:])
