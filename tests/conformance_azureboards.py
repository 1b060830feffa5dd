"""Conformance factory: Azure Boards against the Azure DevOps emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from conformance import Case, factory

from pmohub.connectors.base import SourceConfig


@factory("azureboards")
def azureboards_case(tmp: Path) -> Iterator[Case]:
    from pmohub.connectors.azureboards import AzureBoardsConnector
    from pmohub.emulators.azure import DEFAULT_PAT, AzureBoardsEmulator, generate_site

    with AzureBoardsEmulator(generate_site(seed=13, projects=2, stories=12)) as emu:
        config = SourceConfig(
            name="azb",
            type="azureboards",
            url=f"{emu.url}/{emu.site.organization}",
            token_env="AZDO_PAT",
            projects=tuple(p["name"] for p in emu.site.projects),
            options={"wiql_top": 20},
        )
        env = {"AZDO_PAT": DEFAULT_PAT}
        yield Case(make=lambda: AzureBoardsConnector(config, env=env), secrets=(DEFAULT_PAT,))
