"""HTTP to the GitHub REST API v3 (api.github.com or GitHub Enterprise ``/api/v3``).

Rate limits are GitHub's own: the primary limit answers 403 with ``x-ratelimit-remaining:
0`` and ``x-ratelimit-reset``, the secondary limit 403/429 with ``Retry-After``; both are
waited out by ``RetryingSession`` (the one retry layer), capped by ``max_wait_s``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.restclient import JsonClient

API_VERSION = "2022-11-28"
DEFAULT_URL = "https://api.github.com"


class GitHubClient(JsonClient):
    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None, **kw: Any):
        token = config.secret(env)  # None without token_env
        super().__init__(config, config.url or DEFAULT_URL, token=token, **kw)
        self.session.headers["Accept"] = "application/vnd.github+json"
        self.session.headers["X-GitHub-Api-Version"] = API_VERSION
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def hint(self, code: int, path: str) -> str:
        token_env = self.config.token_env or "token_env"
        if code == 401:
            return (
                f"bad credentials: check the GitHub token in the environment variable {token_env}"
            )
        if code in (403, 404) and path.startswith("/repos/"):
            return (
                f"repository not found or not visible: check 'projects' (owner/repo) and that "
                f"the token in {token_env} has read access to its issues"
            )
        return super().hint(code, path)

    def user(self) -> dict[str, Any]:
        """The token's user, with the rate-limit budget left (``x-ratelimit-remaining``)."""
        response = self.request("GET", "/user")
        return {
            **response.json(),
            "_rate_limit_remaining": response.headers.get("x-ratelimit-remaining"),
        }

    def public_user(self, login: str) -> dict[str, Any]:
        return self.get(f"/users/{login}")

    def repo(self, full_name: str) -> dict[str, Any]:
        return self.get(f"/repos/{full_name}")

    def assignees(self, full_name: str) -> Iterator[dict[str, Any]]:
        return self.items(f"/repos/{full_name}/assignees", {"per_page": 100})

    def milestones(self, full_name: str) -> Iterator[dict[str, Any]]:
        return self.items(f"/repos/{full_name}/milestones", {"state": "all", "per_page": 100})

    def issue(self, full_name: str, number: int) -> dict[str, Any]:
        return self.get(f"/repos/{full_name}/issues/{number}")

    def issues_page(
        self, full_name: str, *, since: str | None, per_page: int, url: str | None = None
    ) -> requests.Response:
        """One page of issues (and pull requests), oldest update first."""
        if url:
            return self.request("GET", url)
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": per_page,
        }
        if since:
            params["since"] = since
        return self.request("GET", f"/repos/{full_name}/issues", params=params)

    def census_issues(self, full_name: str) -> Iterator[dict[str, Any]]:
        return self.items(
            f"/repos/{full_name}/issues",
            {"state": "all", "per_page": 100, "sort": "created", "direction": "asc"},
        )

    def timeline(self, full_name: str, number: int) -> Iterator[dict[str, Any]]:
        return self.items(f"/repos/{full_name}/issues/{number}/timeline", {"per_page": 100})
