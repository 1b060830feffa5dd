"""Conformance factory: PingCode against the PingCode emulator on 127.0.0.1 (a private
deployment root, so the ``/open`` prefix is exercised)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from conformance import Case, factory

from pmohub.connectors.base import SourceConfig


@factory("pingcode")
def pingcode_case(tmp: Path) -> Iterator[Case]:
    from pmohub.connectors.pingcode import PingCodeConnector
    from pmohub.emulators.pingcode import (
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        PingCodeEmulator,
        generate_site,
    )

    site = generate_site(seed=13, projects=2, items=20)
    with PingCodeEmulator(site, deployment="private") as emu:
        config = SourceConfig(
            name="pc",
            type="pingcode",
            url=emu.root,
            token_env="PC_SECRET",
            projects=tuple(p["identifier"] for p in site.projects),
            options={"client_id": DEFAULT_CLIENT_ID},
        )
        env = {"PC_SECRET": DEFAULT_CLIENT_SECRET}
        yield Case(
            make=lambda: PingCodeConnector(config, env=env), secrets=(DEFAULT_CLIENT_SECRET,)
        )
