"""A small JSON-over-HTTP client shared by the REST trackers without a vendor library
(GitHub, GitLab, Trello, Azure Boards, Redmine): our ``RetryingSession`` (the one retry layer),
error mapping to ``ConfigError`` that names the source and the token variable, and
``Link``-header paging. Each tracker's ``client.py`` wraps one of these.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError, TransientError
from pmohub.connectors.http import RetryingSession, redact


class JsonClient:
    def __init__(
        self,
        config: SourceConfig,
        base_url: str,
        *,
        token: str | None,
        max_retries: int = 6,
        max_wait_s: float = 60.0,
        secrets: tuple[str | None, ...] = (),
    ):
        self.config = config
        self.source = config.name
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.secrets = (token, *secrets)
        self.session = RetryingSession(
            source=config.name,
            timeout=(min(10.0, config.timeout_s), config.timeout_s),
            max_retries=max_retries,
            max_wait_s=max_wait_s,
            verify=config.verify_tls,
            secrets=self.secrets,
        )
        self.session.headers["Accept"] = "application/json"

    def close(self) -> None:
        self.session.close()

    def hint(self, code: int, path: str) -> str:
        """What to fix, per status; trackers override for their own wording."""
        token_env = self.config.token_env or "token_env"
        return {
            401: f"authentication failed: check the token in the environment variable {token_env}",
            403: f"permission denied: the token in {token_env} cannot read this resource",
            404: "not found: check 'url' and the names in 'projects'",
            400: "the server rejected the request",
            422: "the server rejected the request parameters",
        }.get(code, f"HTTP {code}")

    def check(self, response: requests.Response, path: str) -> None:
        code = response.status_code
        if code < 400:
            return
        url = redact(response.url, self.secrets)
        detail = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                msg = body.get("message") or body.get("error") or body.get("errorMessages")
                if msg:
                    detail = f" ({redact(str(msg), self.secrets)})"
        except ValueError:
            text = response.text.strip()[:200]
            if text:
                detail = f" ({redact(text, self.secrets)})"
        if code >= 500 or code == 429:
            raise TransientError(f"HTTP {code}{detail}", source=self.source, url=url)
        raise ConfigError(f"{self.hint(code, path)}{detail}", source=self.source, url=url)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> requests.Response:
        """One request; statuses in ``allow`` come back to the caller instead of raising."""
        response = self.session.request(method, self.url(path), params=params, json=json)
        if response.status_code not in allow:
            self.check(response, path)
        return response

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, allow: tuple[int, ...] = ()
    ) -> Iterator[requests.Response]:
        """Follow ``Link: <...>; rel="next"`` until there is none (a status in ``allow``
        ends the chain quietly after being yielded)."""
        response = self.request("GET", path, params=params, allow=allow)
        while True:
            yield response
            nxt = response.links.get("next", {}).get("url")
            if response.status_code in allow or not nxt:
                return
            response = self.request("GET", nxt, allow=allow)

    def items(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        for response in self.pages(path, params):
            yield from response.json()


def no_token_error(config: SourceConfig, what: str) -> ConfigError:
    return ConfigError(
        f"no token: set token_env to the name of the environment variable holding {what}",
        source=config.name,
    )
