"""A local PingCode open API v1 emulator (enterprise token, rate limit, work items with
transition histories, relations, workloads, sprints, versions).

site = generate_site(seed=7, projects=2, items=40)
with PingCodeEmulator(site) as emu:
    token = requests.get(emu.root + "/v1/auth/token", params={...}).json()["access_token"]
"""

from pmohub.emulators.pingcode.server import (
    CLIENT_ID_ENV,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    TOKEN_ENV,
    PingCodeEmulator,
)
from pmohub.emulators.pingcode.site import PingCodeSite, generate_site

__all__ = [
    "CLIENT_ID_ENV",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "TOKEN_ENV",
    "PingCodeEmulator",
    "PingCodeSite",
    "generate_site",
]
