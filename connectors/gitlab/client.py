"""HTTP to GitLab's REST API v4 (gitlab.com or self-managed), plus one GraphQL query.

Auth is the ``PRIVATE-TOKEN`` header (personal, project or group access token). Paging is
offset based: ``Link: rel="next"`` (or ``X-Next-Page``) until there is none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.restclient import JsonClient

DEFAULT_URL = "https://gitlab.com"
TIMELOGS_QUERY = """
query($fullPath: ID!, $iid: String!, $first: Int, $after: String) {
  project(fullPath: $fullPath) {
    issue(iid: $iid) {
      timelogs(first: $first, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { id spentAt timeSpent summary user { id username } }
      }
    }
  }
}
"""


def ref(path_or_id: str | int) -> str:
    """A project/group id or its URL-encoded full path (``group%2Fproject``)."""
    return quote(str(path_or_id), safe="")


class GitLabClient(JsonClient):
    def __init__(self, config: SourceConfig, *, env: Mapping[str, str] | None = None, **kw: Any):
        token = config.secret(env)  # None without token_env
        root = (config.url or DEFAULT_URL).rstrip("/")
        if root.endswith("/api/v4"):
            root = root[: -len("/api/v4")]
        super().__init__(config, root + "/api/v4", token=token, **kw)
        self.root = root
        if token:
            self.session.headers["PRIVATE-TOKEN"] = token

    def hint(self, code: int, path: str) -> str:
        token_env = self.config.token_env or "token_env"
        if code == 401:
            return f"401 Unauthorized: check the GitLab access token in the environment variable {token_env}"
        if code in (403, 404) and "/projects/" in path:
            return (
                "project not found or not visible: check 'projects' (full paths like "
                f"group/project) and that the token in {token_env} has read_api scope"
            )
        return super().hint(code, path)

    def user(self) -> dict[str, Any]:
        return self.get("/user")

    def public_user(self, uid: int | str) -> dict[str, Any]:
        return self.get(f"/users/{uid}")

    def project(self, path: str) -> dict[str, Any]:
        return self.get(f"/projects/{ref(path)}")

    def group(self, path: str) -> dict[str, Any]:
        return self.get(f"/groups/{ref(path)}", {"with_projects": "false"})

    def group_projects(self, group_id: int) -> Iterator[dict[str, Any]]:
        return self.items(
            f"/groups/{group_id}/projects", {"per_page": 100, "include_subgroups": "true"}
        )

    def members(self, kind: str, owner_id: int) -> Iterator[dict[str, Any]]:
        """Members of a project or group (``kind`` = projects | groups), inherited ones too."""
        return self.items(f"/{kind}/{owner_id}/members/all", {"per_page": 100})

    def milestones(self, kind: str, owner_id: int) -> Iterator[dict[str, Any]]:
        return self.items(f"/{kind}/{owner_id}/milestones", {"per_page": 100})

    def optional_items(
        self, path: str, params: Mapping[str, Any]
    ) -> Iterator[dict[str, Any]] | None:
        """Items of a Premium-only listing, or None when the instance/licence lacks it
        (403/404 there means "not licensed", not a configuration error)."""
        first = self.request("GET", path, params=params, allow=(403, 404))
        if first.status_code in (403, 404):
            return None

        def rest() -> Iterator[dict[str, Any]]:
            response = first
            while True:
                yield from response.json()
                nxt = response.links.get("next", {}).get("url")
                if not nxt:
                    return
                response = self.request("GET", nxt)

        return rest()

    def issues_page(
        self,
        owner: str,
        *,
        updated_after: str | None,
        per_page: int,
        page: int = 1,
        updated_before: str | None = None,
    ) -> requests.Response:
        """One page of ``owner``'s issues (``projects/<id>`` or ``groups/<id>``), oldest
        update first."""
        params: dict[str, Any] = {
            "scope": "all",
            "state": "all",
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": per_page,
            "page": page,
        }
        if updated_after:
            params["updated_after"] = updated_after
        if updated_before:
            params["updated_before"] = updated_before
        return self.request("GET", f"/{owner}/issues", params=params)

    def census_issues(self, owner: str) -> Iterator[dict[str, Any]]:
        return self.items(
            f"/{owner}/issues",
            {
                "scope": "all",
                "state": "all",
                "per_page": 100,
                "order_by": "created_at",
                "sort": "asc",
            },
        )

    def state_events(self, project_id: int, iid: int) -> Iterator[dict[str, Any]]:
        return self.items(
            f"/projects/{project_id}/issues/{iid}/resource_state_events", {"per_page": 100}
        )

    def label_events(self, project_id: int, iid: int) -> Iterator[dict[str, Any]]:
        return self.items(
            f"/projects/{project_id}/issues/{iid}/resource_label_events", {"per_page": 100}
        )

    def timelogs(self, full_path: str, iid: int) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            variables = {"fullPath": full_path, "iid": str(iid), "first": 100, "after": after}
            body = self.request(
                "POST",
                self.root + "/api/graphql",
                json={"query": TIMELOGS_QUERY, "variables": variables},
            ).json()
            if body.get("errors"):
                raise ValueError(f"GraphQL timelogs: {body['errors'][0].get('message')}")
            issue = ((body.get("data") or {}).get("project") or {}).get("issue")
            if not issue:
                return
            logs = issue["timelogs"]
            yield from logs["nodes"]
            if not logs["pageInfo"]["hasNextPage"]:
                return
            after = logs["pageInfo"]["endCursor"]
