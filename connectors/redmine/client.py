"""HTTP to one Redmine server (REST API, JSON). The only module of this connector that
does I/O. Built on the shared ``JsonClient`` (session, retries, secrets redaction) with
Redmine's own error wording and offset paging.

Authentication is the API key in the ``X-Redmine-API-Key`` header (never the ``key=``
query parameter: URLs end up in logs and error messages). Retries are our
``RetryingSession``'s, nowhere else.

Redmine's list endpoints page with ``offset``/``limit`` (the server caps ``limit`` at 100
by default) and answer ``total_count``. Filters use the long form
(``set_filter=1&f[]=field&op[field]=>=&v[field][]=value``) because the short form
(``updated_on=>=...``) cannot be combined with a multi-valued ``project_id`` and silently
ignores filters a list does not know (``/time_entries.json?updated_on=`` returns every
entry on Redmine 5.0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError, TransientError
from pmohub.connectors.http import redact
from pmohub.connectors.restclient import JsonClient

log = logging.getLogger("pmohub.redmine")

#: (field, operator, values): one Redmine query filter in long form.
Filter = tuple[str, str, Sequence[str]]

MAX_LIMIT = 100  # Redmine's default "maximum objects per page" for the REST API


def filter_params(filters: Sequence[Filter]) -> list[tuple[str, str]]:
    """Long-form query filter parameters (``f[]``, ``op[..]``, ``v[..][]``)."""
    params: list[tuple[str, str]] = [("set_filter", "1")]
    for name, op, values in filters:
        params.append(("f[]", name))
        params.append((f"op[{name}]", op))
        params.extend((f"v[{name}][]", str(v)) for v in values)
    return params


class RedmineClient(JsonClient):
    """Raw-JSON access to the Redmine endpoints the connector uses."""

    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None, **kw: Any):
        if not config.url:
            raise ConfigError(
                "no url configured for this Redmine source (e.g. https://redmine.example.cn)",
                source=config.name,
            )
        token = config.secret(env)  # None without token_env
        super().__init__(config, config.url, token=token, **kw)
        if token:
            self.session.headers["X-Redmine-API-Key"] = token
        self.page_size = max(1, min(MAX_LIMIT, int(config.page_size)))

    @property
    def authenticated(self) -> bool:
        return self.token is not None

    # --- plumbing ------------------------------------------------------------------

    def hint(self, code: int, path: str) -> str:
        token_env = self.config.token_env or "token_env"
        if code == 401:
            if not self.token:
                return f"set token_env to the variable holding a Redmine API key ({token_env})"
            return (
                f"check the API key in {token_env} (My account > API access key) and that "
                "Administration > Settings > API > 'Enable REST web service' is on"
            )
        if code == 403:
            return (
                "the account lacks permission for this resource (admin needed for /users), "
                "or Administration > Settings > API > 'Enable REST web service' is off"
            )
        if code == 404:
            if "/projects/" in path:
                return "check the project identifiers in 'projects'"
            return "check 'url': it must be the Redmine base URL (the page with 'Projects')"
        if code == 422:
            return "Redmine rejected the query parameters"
        return ""

    def check(self, response: requests.Response, path: str) -> None:
        """Redmine's error wording: ``{"errors": [...]}`` bodies, a hint per status; 4xx
        other than these (405, 409, 429...) and 5xx are transient."""
        code = response.status_code
        url = redact(response.url, self.secrets)
        if code >= 400:
            detail = ""
            try:
                errors = response.json().get("errors")
                if errors:
                    detail = "; ".join(str(e) for e in errors)
            except ValueError:
                pass
            if code in (400, 401, 403, 404, 410, 422):
                what = {
                    400: "bad request",
                    401: "authentication failed",
                    403: "permission denied",
                    404: "not found",
                    410: "gone",
                    422: "invalid request",
                }[code]
                msg = f"{what}: {detail}" if detail else what
                hint = self.hint(code, path)
                raise ConfigError(
                    redact(f"{msg}. {hint}" if hint else msg, self.secrets),
                    source=self.source,
                    url=url,
                )
            raise TransientError(f"HTTP {code} {detail}".strip(), source=self.source, url=url)

    def get(self, path: str, params: Any = None) -> Any:
        response = self.request("GET", path, params=params)
        try:
            return response.json()
        except ValueError as exc:
            raise ConfigError(
                "the server did not answer with JSON: is 'url' the Redmine base URL and the "
                "REST web service enabled?",
                source=self.source,
                url=redact(response.url, self.secrets),
            ) from exc

    def paged(
        self, path: str, key: str, params: Sequence[tuple[str, str]] = ()
    ) -> Iterator[dict[str, Any]]:
        """Every element of an offset/limit list. Used for small catalogues only (projects,
        users, versions, time entries of one issue), where a shift by a concurrent deletion
        costs at most one re-read or one missed row until the next run."""
        offset = 0
        while True:
            page = self.get(
                path, [*params, ("offset", str(offset)), ("limit", str(self.page_size))]
            )
            values = page.get(key) or []
            yield from values
            offset += len(values)
            total = page.get("total_count")
            if not values or total is None or offset >= int(total):
                return

    # --- catalogue -------------------------------------------------------------------

    def current_user(self) -> dict[str, Any]:
        return self.get("/users/current.json").get("user") or {}

    def projects(self) -> Iterator[dict[str, Any]]:
        yield from self.projects_with_modules()

    def project(self, identifier: str) -> dict[str, Any]:
        return self.get(f"/projects/{identifier}.json").get("project") or {}

    def statuses(self) -> list[dict[str, Any]]:
        return self.get("/issue_statuses.json").get("issue_statuses") or []

    def trackers(self) -> list[dict[str, Any]]:
        return self.get("/trackers.json").get("trackers") or []

    def priorities(self) -> list[dict[str, Any]]:
        return self.get("/enumerations/issue_priorities.json").get("issue_priorities") or []

    def users(self) -> Iterator[dict[str, Any]]:
        """All accounts, each with its ``status`` (1 active, 2 registered, 3 locked). Admin
        only. Redmine 5.0 does not put ``status`` in ``/users.json`` entries, so each status
        is listed on its own and stamped on the entries: with one ``status=`` (all) listing,
        locked accounts looked active."""
        for status in ("1", "2", "3"):
            for user in self.paged("/users.json", "users", [("status", status)]):
                user.setdefault("status", int(status))
                yield user

    def groups(self) -> list[dict[str, Any]]:
        """Groups (admin only): principals an issue can be assigned to that are not people."""
        return list(self.paged("/groups.json", "groups"))

    def projects_with_modules(self) -> Iterator[dict[str, Any]]:
        """Projects with ``enabled_modules`` (Redmine >= 3.4 understands the include)."""
        yield from self.paged("/projects.json", "projects", [("include", "enabled_modules")])

    def memberships(self, project_id: int | str) -> Iterator[dict[str, Any]]:
        yield from self.paged(f"/projects/{project_id}/memberships.json", "memberships")

    def versions(self, project_id: int | str) -> list[dict[str, Any]]:
        # Not paged by Redmine: one list per project, shared versions included.
        return self.get(f"/projects/{project_id}/versions.json").get("versions") or []

    # --- issues ----------------------------------------------------------------------

    def issues_page(
        self, filters: Sequence[Filter], *, limit: int, relations: bool = True
    ) -> dict[str, Any]:
        """One page of ``/issues.json`` in id order (the caller pages by id, not offset).
        ``relations=False`` for the census, which needs ids only: the include doubles the
        server's time per page."""
        params = filter_params(filters)
        params += [("sort", "id"), ("offset", "0"), ("limit", str(limit))]
        if relations:
            params.append(("include", "relations"))
        return self.get("/issues.json", params)

    def issue(self, issue_id: int | str) -> dict[str, Any] | None:
        """One issue with its complete journal and relations (journals are not available
        from the list endpoint); None when it was deleted after the list page was read."""
        response = self.request(
            "GET",
            f"/issues/{issue_id}.json",
            params={"include": "journals,relations"},
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        return response.json().get("issue") or {}

    def time_entries(self, filters: Sequence[Filter]) -> Iterator[dict[str, Any]]:
        yield from self.paged("/time_entries.json", "time_entries", filter_params(filters))
