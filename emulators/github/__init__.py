"""A local GitHub REST v3 emulator (issues, pull requests, milestones, timelines).

site = generate_site(seed=7, repos=2, issues=60)
with GitHubEmulator(site) as emu:
    requests.get(emu.url + "/user", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
"""

from pmohub.emulators.github.server import DEFAULT_TOKEN, TOKEN_ENV, GitHubEmulator
from pmohub.emulators.github.site import GitHubSite, generate_site

__all__ = ["DEFAULT_TOKEN", "TOKEN_ENV", "GitHubEmulator", "GitHubSite", "generate_site"]
