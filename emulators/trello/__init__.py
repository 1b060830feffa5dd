"""A local Trello REST emulator (boards, lists, cards, members, checklists, card actions).

site = generate_site(seed=7, boards=2, cards=30)
with TrelloEmulator(site, quirks=TrelloQuirks(list_names=REAL_LIST_NAMES)) as emu:
    requests.get(emu.url + "/1/members/me", params={"key": DEFAULT_KEY, "token": DEFAULT_TOKEN})
"""

from pmohub.emulators.trello.quirks import REAL_LIST_NAMES, TrelloQuirks
from pmohub.emulators.trello.server import DEFAULT_KEY, DEFAULT_TOKEN, TOKEN_ENV, TrelloEmulator
from pmohub.emulators.trello.site import TrelloSite, generate_site

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_TOKEN",
    "REAL_LIST_NAMES",
    "TOKEN_ENV",
    "TrelloEmulator",
    "TrelloQuirks",
    "TrelloSite",
    "generate_site",
]
