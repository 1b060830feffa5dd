"""A local Azure Boards (Azure DevOps Services) emulator: WIQL, work item batches, updates,
team iterations, work item type states, projects and team members.

site = generate_site(seed=7, projects=1, stories=20)
with AzureBoardsEmulator(site) as emu:
    requests.get(emu.url + "/contoso/_apis/projects", params={"api-version": "7.1"},
                 auth=("", DEFAULT_PAT))
"""

from pmohub.emulators.azure.server import DEFAULT_PAT, TOKEN_ENV, AzureBoardsEmulator
from pmohub.emulators.azure.site import AzureSite, generate_site

__all__ = ["DEFAULT_PAT", "TOKEN_ENV", "AzureBoardsEmulator", "AzureSite", "generate_site"]
