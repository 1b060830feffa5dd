"""Conformance factory: GitLab against the GitLab emulator on 127.0.0.1 (licensed, so
epics, iterations, weights and timelogs are all exercised)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from conformance import Case, factory

from pmohub.connectors.base import SourceConfig


@factory("gitlab")
def gitlab_case(tmp: Path) -> Iterator[Case]:
    from pmohub.connectors.gitlab import GitLabConnector
    from pmohub.emulators.gitlab import DEFAULT_TOKEN, GitLabEmulator, generate_site

    with GitLabEmulator(generate_site(seed=13, projects=2, issues=25)) as emu:
        group = emu.site.group["full_path"]
        config = SourceConfig(
            name="gl",
            type="gitlab",
            url=emu.url,
            token_env="GL_TOKEN",
            projects=tuple(f"{group}/{p['path']}" for p in emu.site.projects),
            page_size=10,
        )
        env = {"GL_TOKEN": DEFAULT_TOKEN}
        yield Case(make=lambda: GitLabConnector(config, env=env), secrets=(DEFAULT_TOKEN,))
