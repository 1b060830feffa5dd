"""HTTP to Azure DevOps Services / Server (Azure Boards), REST api-version 7.1.

Auth is a personal access token sent as Basic with an empty user name. Azure DevOps answers
an unauthenticated API call with **203** and an HTML sign-in page instead of 401, so any
HTML answer is treated as an authentication failure. Lists come wrapped in
``{"count", "value"}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError
from pmohub.connectors.http import redact
from pmohub.connectors.restclient import JsonClient

API_VERSION = "7.1"
BATCH_MAX = 200  # workitemsbatch refuses more ids than this


def seg(name: str) -> str:
    return quote(name, safe="")


class AzureBoardsClient(JsonClient):
    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None, **kw: Any):
        if not config.url:
            raise ConfigError(
                "no url: set it to the organisation URL, e.g. https://dev.azure.com/<org>",
                source=config.name,
            )
        token = config.secret(env)  # None without token_env
        super().__init__(config, config.url, token=token, **kw)
        if token:
            self.session.auth = ("", token)
        self.session.params = {"api-version": API_VERSION}  # type: ignore[assignment]

    def hint(self, code: int, path: str) -> str:
        token_env = self.config.token_env or "token_env"
        if code in (203, 401):
            return (
                f"authentication failed: check the personal access token in the environment "
                f"variable {token_env} (scope Work Items: Read, Project and Team: Read)"
            )
        if code == 404:
            return "not found: check 'url' (https://dev.azure.com/<org>), 'projects' and 'team'"
        return super().hint(code, path)

    def check(self, response: requests.Response, path: str) -> None:
        kind = response.headers.get("Content-Type", "")
        if response.status_code == 203 or (response.status_code < 400 and "html" in kind):
            raise ConfigError(
                self.hint(203, path), source=self.source, url=redact(response.url, self.secrets)
            )
        super().check(response, path)

    def projects(self) -> list[dict[str, Any]]:
        return self.get("/_apis/projects")["value"]

    def project(self, name: str) -> dict[str, Any]:
        return self.get(f"/_apis/projects/{seg(name)}")

    def team_members(self, project: str, team: str) -> list[dict[str, Any]]:
        return self.get(f"/_apis/projects/{seg(project)}/teams/{seg(team)}/members")["value"]

    def iterations(self, project: str, team: str) -> list[dict[str, Any]]:
        return self.get(f"/{seg(project)}/{seg(team)}/_apis/work/teamsettings/iterations")["value"]

    def states(self, project: str, work_item_type: str) -> list[dict[str, Any]]:
        return self.get(f"/{seg(project)}/_apis/wit/workitemtypes/{seg(work_item_type)}/states")[
            "value"
        ]

    def wiql(self, project: str, query: str, top: int) -> list[int]:
        response = self.request(
            "POST",
            f"/{seg(project)}/_apis/wit/wiql",
            params={"api-version": API_VERSION, "timePrecision": "true", "$top": top},
            json={"query": query},
        )
        return [int(w["id"]) for w in response.json().get("workItems") or []]

    def batch(self, project: str, ids: Sequence[int]) -> list[dict[str, Any]]:
        body = {"ids": list(ids), "$expand": "relations", "errorPolicy": "omit"}
        value = self.request("POST", f"/{seg(project)}/_apis/wit/workitemsbatch", json=body).json()
        # With errorPolicy=omit a deleted id may come back as null or not at all.
        return [w for w in value.get("value") or [] if w]

    def updates(self, project: str, work_item_id: int) -> Iterator[dict[str, Any]]:
        skip = 0
        while True:
            rows = self.get(
                f"/{seg(project)}/_apis/wit/workItems/{work_item_id}/updates",
                {"api-version": API_VERSION, "$top": 200, "$skip": skip},
            )["value"]
            yield from rows
            if len(rows) < 200:
                return
            skip += len(rows)
