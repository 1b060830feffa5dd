"""Fixture factories for the connector conformance suite (tests/test_connector_conformance.py).

Every registered connector type needs one factory: a generator decorated with
``@factory("<type>")`` that sets up a small *local* source (a sample file, an emulator or a
real server on 127.0.0.1), yields a :class:`Case`, and tears the source down afterwards.

To plug a new connector in, either add a factory below or put it in a module of its own
named ``tests/conformance_<type>.py`` (imported automatically), e.g.::

    from conformance import Case, factory

    @factory("gitlab")
    def gitlab_case(tmp: Path) -> Iterator[Case]:
        with GitLabEmulator(seed=3) as emu:
            config = SourceConfig(name="gl", type="gitlab", url=emu.url, token_env="GL_TOKEN")
            yield Case(
                make=lambda: GitLabConnector(config, env={"GL_TOKEN": emu.token}),
                secrets=(emu.token,),
            )

A source without credentials (a local file) is registered with ``secret=False``, so the
suite does not generate its secret check (and fails if such a case does carry secrets).

The suite fails for any type in ``connectors.registry.BUILTINS`` without a factory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pmohub.connectors.base import Connector, SourceConfig

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "aggregator" / "demo" / "samples"


@dataclass
class Case:
    """One local source for a connector type.

    ``make`` builds a fresh connector (the suite fetches twice, with two connectors, to
    check ids are stable). ``secrets`` are values that must never show up in a record.
    """

    make: Callable[[], Connector]
    secrets: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


Factory = Callable[[Path], Iterator[Case]]
FACTORIES: dict[str, Callable[[Path], object]] = {}
#: Types whose conformance source has no credentials (registered with ``secret=False``).
SECRETLESS: set[str] = set()


def factory(type_name: str, *, secret: bool = True) -> Callable[[Factory], Factory]:
    def register(fn: Factory) -> Factory:
        if type_name in FACTORIES:
            raise ValueError(f"two conformance factories for {type_name!r}")
        FACTORIES[type_name] = contextmanager(fn)
        if not secret:
            SECRETLESS.add(type_name)
        return fn

    return register


def load_plugins() -> dict[str, Callable[[Path], object]]:
    """The built-in factories below plus every ``tests/conformance_<type>.py``."""
    for path in sorted(HERE.glob("conformance_*.py")):
        importlib.import_module(path.stem)
    return FACTORIES


# --------------------------------------------------------------------------- built-ins


@factory("spreadsheet", secret=False)
def spreadsheet_case(tmp: Path) -> Iterator[Case]:
    config = SourceConfig(
        name="marketing",
        type="spreadsheet",
        status_map={"In Review": "review", "Blocked": "blocked"},
        options={
            "path": str(SAMPLES / "marketing_launch.csv"),
            "project_key": "MKT-LAUNCH",
            "date_formats": ["%Y-%m-%d"],
        },
    )
    from pmohub.connectors.spreadsheet import SpreadsheetConnector

    yield Case(make=lambda: SpreadsheetConnector(config))


@factory("msproject", secret=False)
def msproject_case(tmp: Path) -> Iterator[Case]:
    from pmohub.connectors.msproject import MSProjectConnector

    config = SourceConfig(
        name="plan",
        type="msproject",
        options={"path": str(SAMPLES / "data_platform_plan.xml"), "project_key": "DATA-PLAT"},
    )
    yield Case(make=lambda: MSProjectConnector(config))


@factory("jira")
def jira_case(tmp: Path) -> Iterator[Case]:
    from pmohub.connectors.jira import JiraConnector
    from pmohub.emulators.jira.generator import generate_site
    from pmohub.emulators.jira.server import DEFAULT_EMAIL, DEFAULT_TOKEN, JiraEmulator

    with JiraEmulator(generate_site(seed=11, projects=3, issues=90), deployment="cloud") as emu:
        config = SourceConfig(
            name="jira_main",
            type="jira",
            url=emu.url,
            email=DEFAULT_EMAIL,
            token_env="JIRA_TOKEN",
            projects=tuple(p["key"] for p in emu.site.projects),
            page_size=25,
        )
        env = {"JIRA_TOKEN": DEFAULT_TOKEN}
        yield Case(make=lambda: JiraConnector(config, env=env), secrets=(DEFAULT_TOKEN,))


@factory("redmine")
def redmine_case(tmp: Path) -> Iterator[Case]:
    from redmine_server import TOKEN_ENV, redmine_server, seed_portfolio

    from pmohub.connectors.redmine import RedmineConnector

    server = redmine_server()
    # the same seeded projects as tests/test_redmine.py (created once per session; the
    # tests that edit or delete work in projects of their own)
    seed_portfolio(server)
    config = SourceConfig(
        name="redmine",
        type="redmine",
        url=server.url,
        token_env=TOKEN_ENV,
        projects=("portal",),
        page_size=3,
    )
    yield Case(make=lambda: RedmineConnector(config, env=server.env), secrets=(server.api_key,))
