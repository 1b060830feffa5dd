"""A local GitLab REST v4 emulator (issues, epics, milestones, iterations, events, timelogs).

site = generate_site(seed=7, projects=2, issues=40)
with GitLabEmulator(site, licensed=False) as emu:
    requests.get(emu.url + "/api/v4/user", headers={"PRIVATE-TOKEN": DEFAULT_TOKEN})
"""

from pmohub.emulators.gitlab.server import DEFAULT_TOKEN, TOKEN_ENV, GitLabEmulator
from pmohub.emulators.gitlab.site import GitLabSite, generate_site

__all__ = ["DEFAULT_TOKEN", "TOKEN_ENV", "GitLabEmulator", "GitLabSite", "generate_site"]
