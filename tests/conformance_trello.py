"""Conformance factory: Trello against the Trello emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from conformance import Case, factory

from pmohub.connectors.base import SourceConfig


@factory("trello")
def trello_case(tmp: Path) -> Iterator[Case]:
    from pmohub.connectors.trello import TrelloConnector
    from pmohub.emulators.trello import DEFAULT_KEY, DEFAULT_TOKEN, TrelloEmulator, generate_site

    with TrelloEmulator(generate_site(seed=13, boards=2, cards=20)) as emu:
        config = SourceConfig(
            name="trello",
            type="trello",
            url=emu.url + "/1",
            token_env="TRELLO_TOKEN",
            projects=tuple(b["shortLink"] for b in emu.site.boards),
            page_size=8,
        )
        env = {"TRELLO_TOKEN": DEFAULT_TOKEN, "TRELLO_API_KEY": DEFAULT_KEY}
        yield Case(
            make=lambda: TrelloConnector(config, env=env), secrets=(DEFAULT_TOKEN, DEFAULT_KEY)
        )
