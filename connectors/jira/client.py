"""HTTP to one Jira site (Cloud or Data Center). The only module that imports ``jira``.

The ``jira`` package sets up authentication (basic e-mail/username + token, or a Data
Center personal access token as Bearer) and headers; then its ``ResilientSession`` is
replaced by our ``RetryingSession`` so retries live in exactly one layer (its own retries
are switched off with ``max_retries=0`` first). Payloads are fetched as raw JSON: building
``jira.Issue`` resource objects per issue costs more than the HTTP itself at 50k issues.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
import requests
from jira import JIRA

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError, TransientError
from pmohub.connectors.http import NotJson, RetryingSession, describe_not_json, redact

log = logging.getLogger("pmohub.jira")

USERS_PERMISSION = "Browse users and groups"

#: What the connector parses answers with (benchmarks/jira_sync.py's floor uses the same):
#: orjson decodes a 100-issue page with changelogs 3-4x faster than ``json``.
decode_json = orjson.loads


def _utf8(encoding: str | None) -> bool:
    return encoding is None or encoding.lower().replace("-", "").replace("_", "") == "utf8"


def decode_response(response: requests.Response) -> Any:
    """The body as JSON, like ``response.json()`` but by orjson when the body is UTF-8.
    Anything orjson refuses (a BOM, UTF-16, NaN, integers beyond 64 bits) or a charset
    other than UTF-8 in the headers goes through ``response.json()``, so the answer and
    the errors stay exactly requests' (a ValueError when the body is not JSON)."""
    if _utf8(response.encoding):
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
    return response.json()


class Refused(ConfigError):
    """A 400/403/404 answer: for an auxiliary endpoint (users, boards, sprints, versions)
    the connector skips that stream with a warning instead of failing the source."""

    def __init__(self, message: str, *, status: int, source: str, url: str):
        self.status = status
        super().__init__(message, source=source, url=url)


class JiraClient:
    """Raw-JSON access to the REST endpoints the connector uses."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        env: Mapping[str, str] | None = None,
        max_retries: int = 6,
        max_wait_s: float = 60.0,
    ):
        if not config.url:
            raise ConfigError("no url configured for this Jira source", source=config.name)
        self.config = config
        self.source = config.name
        self.base_url = config.url.rstrip("/")
        token = config.secret(env) if config.token_env else None
        self._token = token
        user = config.email or config.username
        if token and user:
            self.auth_kind = "basic"
            basic: tuple[str, str] | None = (user, token)
            bearer = None
        elif token:
            self.auth_kind = "bearer"
            basic, bearer = None, token
        else:
            self.auth_kind = "anonymous"
            basic = bearer = None
        self.jira = JIRA(
            server=self.base_url,
            options={"verify": config.verify_tls, "headers": {"Accept": "application/json"}},
            basic_auth=basic,
            token_auth=bearer,
            get_server_info=False,
            validate=False,
            max_retries=0,
            timeout=config.timeout_s,
        )
        session = RetryingSession(
            source=config.name,
            timeout=(min(10.0, config.timeout_s), config.timeout_s),
            max_retries=max_retries,
            max_wait_s=max_wait_s,
            verify=config.verify_tls,
            secrets=(token,),
        )
        vendor = self.jira._session
        session.auth = vendor.auth
        session.headers.update(vendor.headers)
        session.headers["Content-Type"] = "application/json"
        vendor.close()
        self.jira._session = session  # type: ignore[assignment]
        self.session = session
        self.api = "2"  # until detect() says Cloud
        self.deployment: str | None = None

    # --- plumbing ------------------------------------------------------------------

    def _hint(self, code: int, path: str) -> str:
        token_env = self.config.token_env or "token_env"
        if code == 401:
            if self.auth_kind == "basic":
                who = "email" if self.config.email else "username"
                return f"check {who} {self.config.email or self.config.username!r} and the token in {token_env}"
            if self.auth_kind == "bearer":
                return (
                    f"check the personal access token in {token_env} (or set email for Jira Cloud)"
                )
            return "set token_env (and email for Jira Cloud)"
        if code == 403 and "/user" in path:
            return (
                f"the account lacks the global permission '{USERS_PERMISSION}' "
                "(Jira settings > System > Global permissions), needed to list users"
            )
        if code == 403:
            return "the account lacks permission (Browse Projects / Jira Software access); use an account that can see these projects"
        if code == 404:
            if "/project/" in path:
                return "check the project keys in 'projects'"
            return "check 'url': it must be the site's base URL (e.g. https://example.atlassian.net), without /rest"
        if code == 400:
            return "fix the query or the field ids in 'fields'"
        return ""

    def _check(self, response: requests.Response, path: str) -> Any:
        code = response.status_code
        url = redact(response.url, (self._token,))
        if code >= 400:
            detail = ""
            try:
                body = response.json()
                msgs = body.get("errorMessages") or []
                errs = body.get("errors") or {}
                parts = list(msgs) + [f"{k}: {v}" for k, v in errs.items()]
                if not parts and body.get("message"):
                    parts = [str(body["message"])]
                detail = "; ".join(str(p) for p in parts)
            except ValueError:
                pass
            if code in (400, 401, 403, 404, 410):
                what = {
                    400: "bad request" + (" (bad JQL?)" if "search" in path else ""),
                    401: "authentication failed",
                    403: "permission denied",
                    404: "not found",
                    410: "endpoint removed by Atlassian",
                }[code]
                if code == 400 and "search" in path:
                    what = "bad JQL"
                msg = f"{what}: {detail}" if detail else what
                hint = self._hint(code, path)
                text = redact(f"{msg}. {hint}" if hint else msg, (self._token,))
                if code in (400, 403, 404):
                    raise Refused(text, status=code, source=self.source, url=url)
                raise ConfigError(text, source=self.source, url=url)
            raise TransientError(f"HTTP {code} {detail}".strip(), source=self.source, url=url)
        try:
            return decode_response(response)
        except ValueError as exc:
            # markup was already retried by the session; this is JSON-looking garbage
            raise NotJson(
                describe_not_json(response, (self._token,)), source=self.source, url=url
            ) from exc

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        return self._check(self.session.get(url, params=params), path)

    def post(self, path: str, body: Any) -> Any:
        url = f"{self.base_url}{path}"
        return self._check(self.session.post(url, json=body), path)

    def close(self) -> None:
        self.session.close()

    # --- site facts ----------------------------------------------------------------

    def detect(self) -> dict[str, Any]:
        """serverInfo: Cloud vs Data Center decides the API version and search endpoint."""
        info = self.get("/rest/api/2/serverInfo")
        self.deployment = "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"
        self.api = "3" if self.deployment == "cloud" else "2"
        return info

    @property
    def is_cloud(self) -> bool:
        if self.deployment is None:
            self.detect()
        return self.deployment == "cloud"

    def myself(self) -> dict[str, Any]:
        return self.get(f"/rest/api/{self.api}/myself")

    def fields(self) -> list[dict[str, Any]]:
        return self.get(f"/rest/api/{self.api}/field")

    def projects(self) -> Iterator[dict[str, Any]]:
        if self.is_cloud:
            start = 0
            while True:
                page = self.get(
                    "/rest/api/3/project/search",
                    {"startAt": start, "maxResults": 50, "expand": "lead,description"},
                )
                values = page.get("values") or []
                yield from values
                if page.get("isLast", True) or not values:
                    return
                start += len(values)
        else:
            yield from self.get("/rest/api/2/project", {"expand": "lead,description"})

    def project(self, key: str) -> dict[str, Any]:
        return self.get(f"/rest/api/{self.api}/project/{key}", {"expand": "lead,description"})

    def versions(self, project_key: str) -> list[dict[str, Any]]:
        return self.get(f"/rest/api/{self.api}/project/{project_key}/versions")

    def users(self) -> Iterator[dict[str, Any]]:
        """Every user the account can see. Cloud: /users/search; DC: /user/search with
        username '.' (DC matches on name/e-mail prefix; '.' matches all)."""
        start, size = 0, 1000
        while True:
            if self.is_cloud:
                page = self.get("/rest/api/3/users/search", {"startAt": start, "maxResults": size})
            else:
                page = self.get(
                    "/rest/api/2/user/search",
                    {"username": ".", "startAt": start, "maxResults": size},
                )
            if not page:
                return
            yield from page
            if len(page) < size:
                return
            start += len(page)

    # --- search --------------------------------------------------------------------

    def search_page(
        self,
        jql: str,
        *,
        fields: str,
        max_results: int,
        expand: str | None = None,
        token: str | None = None,
        start_at: int = 0,
    ) -> dict[str, Any]:
        """One page. Cloud: /rest/api/3/search/jql with nextPageToken (the removed
        /search answers 410 there). Data Center: /rest/api/2/search with startAt."""
        params: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": max_results}
        if expand:
            params["expand"] = expand
        if self.is_cloud:
            if token:
                params["nextPageToken"] = token
            return self.get("/rest/api/3/search/jql", params)
        params["startAt"] = start_at
        return self.get("/rest/api/2/search", params)

    def changelogs_bulk(self, issue_ids: list[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Cloud: complete changelogs of up to 1000 issues per request, paged by token.
        One issue's histories may continue on the next page."""
        token: str | None = None
        while True:
            body: dict[str, Any] = {"issueIdsOrKeys": issue_ids, "maxResults": 1000}
            if token:
                body["nextPageToken"] = token
            page = self.post("/rest/api/3/changelog/bulkfetch", body)
            for log_ in page.get("issueChangeLogs") or ():
                yield str(log_.get("issueId")), log_.get("changeHistories") or []
            token = page.get("nextPageToken")
            if not token:
                return

    def changelog(self, issue_id: str) -> list[dict[str, Any]]:
        """One issue's full changelog. Cloud: paged /issue/{id}/changelog. Data Center has
        no such endpoint on older versions: the issue with expand=changelog is complete."""
        if self.is_cloud:
            out: list[dict[str, Any]] = []
            start = 0
            while True:
                page = self.get(
                    f"/rest/api/3/issue/{issue_id}/changelog",
                    {"startAt": start, "maxResults": 100},
                )
                values = page.get("values") or []
                out.extend(values)
                if page.get("isLast", True) or not values:
                    return out
                start += len(values)
        issue = self.get(
            f"/rest/api/2/issue/{issue_id}", {"expand": "changelog", "fields": "updated"}
        )
        return (issue.get("changelog") or {}).get("histories") or []

    def issue_worklogs(self, issue_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            page = self.get(
                f"/rest/api/{self.api}/issue/{issue_id}/worklog",
                {"startAt": start, "maxResults": 1000},
            )
            values = page.get("worklogs") or []
            out.extend(values)
            total = page.get("total", len(out))
            if not values or len(out) >= total:
                return out
            start += len(values)

    def worklogs_updated(self, since_ms: int) -> Iterator[tuple[list[int], int]]:
        """Cloud: ids of worklogs updated since ``since_ms`` (epoch ms), page by page, with
        the page's ``until``."""
        url: str | None = None
        params: dict[str, Any] | None = {"since": since_ms}
        while True:
            page = self.get(url or "/rest/api/3/worklog/updated", params)
            ids = [int(v["worklogId"]) for v in page.get("values") or ()]
            yield ids, int(page.get("until") or since_ms)
            if page.get("lastPage", True) or not page.get("nextPage"):
                return
            url, params = page["nextPage"], None

    def worklogs_list(self, ids: list[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), 1000):
            out.extend(self.post("/rest/api/3/worklog/list", {"ids": ids[i : i + 1000]}) or [])
        return out

    # --- agile -----------------------------------------------------------------------

    def boards(self, project_key: str) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            page = self.get(
                "/rest/agile/1.0/board",
                {"projectKeyOrId": project_key, "startAt": start, "maxResults": 50},
            )
            values = page.get("values") or []
            yield from values
            if page.get("isLast", True) or not values:
                return
            start += len(values)

    def sprints(self, board_id: int | str) -> Iterator[dict[str, Any]]:
        """A kanban board has no sprints and Jira answers 400 ("does not support sprints"):
        that is an empty list for us, not an error."""
        start = 0
        while True:
            url = f"{self.base_url}/rest/agile/1.0/board/{board_id}/sprint"
            response = self.session.get(url, params={"startAt": start, "maxResults": 50})
            if response.status_code == 400:
                return
            page = self._check(response, url)
            values = page.get("values") or []
            yield from values
            if page.get("isLast", True) or not values:
                return
            start += len(values)
