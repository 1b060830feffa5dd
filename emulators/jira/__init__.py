"""A faithful local Jira emulator (Cloud and Data Center) for tests, benchmarks and the demo.

site = generate_site(seed=7, projects=4, issues=400)
with JiraEmulator(site, deployment="cloud") as emu:
    requests.get(emu.url + "/rest/api/3/myself", auth=(DEFAULT_EMAIL, DEFAULT_TOKEN))
"""

from pmohub.emulators.jira.faults import Faults
from pmohub.emulators.jira.generator import generate_site
from pmohub.emulators.jira.server import (
    DEFAULT_EMAIL,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    EMAIL_ENV,
    TOKEN_ENV,
    JiraEmulator,
)
from pmohub.emulators.jira.site import JiraSite, load_site

__all__ = [
    "DEFAULT_EMAIL",
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "EMAIL_ENV",
    "TOKEN_ENV",
    "Faults",
    "JiraEmulator",
    "JiraSite",
    "generate_site",
    "load_site",
]
