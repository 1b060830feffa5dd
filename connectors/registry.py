"""Connector registry: built-ins by type name, third parties via the entry-point group
``pmohub.connectors`` (``name = "package.module:ConnectorClass"``)."""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from pmohub.connectors.base import Connector
from pmohub.connectors.errors import ConfigError

ENTRY_POINT_GROUP = "pmohub.connectors"

# type name -> "module:Class"; imported lazily so one broken optional dependency does not
# take every connector down.
BUILTINS: dict[str, str] = {
    "spreadsheet": "pmohub.connectors.spreadsheet:SpreadsheetConnector",
    "jira": "pmohub.connectors.jira:JiraConnector",
    "github": "pmohub.connectors.github:GitHubConnector",
    "gitlab": "pmohub.connectors.gitlab:GitLabConnector",
    "trello": "pmohub.connectors.trello:TrelloConnector",
    "azureboards": "pmohub.connectors.azureboards:AzureBoardsConnector",
    "pingcode": "pmohub.connectors.pingcode:PingCodeConnector",
    "redmine": "pmohub.connectors.redmine:RedmineConnector",
    "msproject": "pmohub.connectors.msproject:MSProjectConnector",
}


def _load(target: str) -> type[Connector]:
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"{target} is not a pmohub Connector subclass")
    return cls


@cache
def available() -> dict[str, str]:
    """All connector type names -> import target (built-ins first, plugins may add)."""
    found = dict(BUILTINS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def get(type_name: str) -> type[Connector]:
    targets = available()
    if type_name not in targets:
        raise ConfigError(
            f"unknown source type {type_name!r}; known types: {', '.join(sorted(targets))}"
        )
    return _load(targets[type_name])
