"""Conformance factory: GitHub Issues against the GitHub emulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from conformance import Case, factory

from pmohub.connectors.base import SourceConfig


@factory("github")
def github_case(tmp: Path) -> Iterator[Case]:
    from pmohub.connectors.github import GitHubConnector
    from pmohub.emulators.github import DEFAULT_TOKEN, GitHubEmulator, generate_site

    with GitHubEmulator(generate_site(seed=13, repos=2, issues=30)) as emu:
        config = SourceConfig(
            name="gh",
            type="github",
            url=emu.url,
            token_env="GH_TOKEN",
            projects=tuple(f"{emu.site.owner}/{r['name']}" for r in emu.site.repos),
            page_size=10,
        )
        env = {"GH_TOKEN": DEFAULT_TOKEN}
        yield Case(make=lambda: GitHubConnector(config, env=env), secrets=(DEFAULT_TOKEN,))
