"""HTTP to PingCode's open API v1 (cloud ``https://open.pingcode.com`` or a private
deployment's ``https://<host>/open``).

* Auth: an enterprise token from ``GET /v1/auth/token?grant_type=client_credentials`` (the
  client id and secret in the query, as documented). It lasts 30 days; ``expires_in`` is
  documented with an absolute epoch as its example, so a value that looks like an epoch is
  read as one and a small one as a lifetime. The client renews the token a minute before
  it expires and once more when a request answers 401 (revoked, or the clock disagrees).
* Pacing: PingCode allows 200 requests/min per token and answers 429 with
  ``x-pc-retry-after`` and body code ``100038``; retrying early fails the same way. A local
  token bucket at the documented rate spaces requests, and a 429 empties it until the time
  the server names, so the retry goes out when the server has room: no request is refused
  twice (unless another caller shares the token).
* Single resources answer 201 (documented, even for GETs); 200 is accepted too. Listings
  are ``{page_size, page_index, total, values}`` with ``page_index`` from 0, at most 100
  per page. An answer that is not the JSON it should be (a proxy's HTML page, a cut-off
  body) is retried like a 503 and then fails the request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import requests

from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import ConfigError, TransientError
from pmohub.connectors.http import RetryingSession, redact

CLOUD_URL = "https://open.pingcode.com"
RATE_PER_MIN = 200.0
MAX_PAGE = 100
MAX_IDS = 20
#: ``expires_in`` above this is an absolute epoch (seconds; above 1e12, milliseconds).
_EPOCH_FLOOR = 1_000_000_000
_RENEW_EARLY_S = 60.0
_BAD_ANSWER_RETRIES = 2


class Pacer:
    """A client-side token bucket at the documented rate; ``refused`` re-aligns it with
    the server after a 429."""

    def __init__(
        self,
        rate_per_min: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.capacity = max(1.0, rate_per_min)
        self.rate = rate_per_min / 60.0
        self.clock = clock
        self.sleep = sleep
        self.level = self.capacity
        self.stamp = clock()
        self.lock = threading.Lock()
        self.waited_s = 0.0

    def _refill(self) -> float:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        return now

    def acquire(self) -> None:
        with self.lock:
            self._refill()
            if self.level < 1.0:
                # +1 ms: the server's bucket, rounded its own way, must be full by then
                wait = (1.0 - self.level) / self.rate + 0.001
                self.waited_s += wait
                self.sleep(wait)
                self._refill()
                # the sleep was for exactly the missing fraction (a clock's rounding, or a
                # sleep cut short, must not turn into a busy loop)
                self.level = max(self.level, 1.0)
            self.level -= 1.0

    def refused(self, retry_after_s: float) -> None:
        """The server has no room for ``retry_after_s``: be at one token exactly then."""
        with self.lock:
            self._refill()
            self.level = min(self.level, 1.0 - retry_after_s * self.rate)


class PacedSession(RetryingSession):
    """``RetryingSession`` whose every attempt (retries included) passes the pacer, and
    whose 429 wait is PingCode's ``x-pc-retry-after`` rather than a guess."""

    def __init__(self, *, pacer: Pacer, **kw: Any) -> None:
        super().__init__(**kw)
        self.pacer = pacer
        self.refusals = 0

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        if "/v1/auth/token" not in str(request.url):  # the limit is per token: not its issue
            self.pacer.acquire()
        return super().send(request, **kw)

    def _wait(self, attempt: int, response: requests.Response | None, *rest: Any) -> float:
        if response is not None and response.status_code == 429:
            self.refusals += 1
            try:
                hinted = float(response.headers.get("x-pc-retry-after") or "")
            except ValueError:
                hinted = 1.0 / self.pacer.rate  # one token's worth
            wait = min(max(hinted, 0.0), self.max_wait_s)
            self.pacer.refused(wait)
            return wait
        return super()._wait(attempt, response, *rest)


class PingCodeClient:
    def __init__(
        self,
        config: SourceConfig,
        *,
        client_id: str,
        client_secret: str,
        max_retries: int = 6,
        max_wait_s: float = 60.0,
        rate_per_min: float = RATE_PER_MIN,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.source = config.name
        root = (config.url or CLOUD_URL).rstrip("/")
        self.root = root[: -len("/v1")] if root.endswith("/v1") else root
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.pacer = Pacer(rate_per_min, clock=clock, sleep=sleep)
        self.session = PacedSession(
            pacer=self.pacer,
            source=config.name,
            timeout=(min(10.0, config.timeout_s), config.timeout_s),
            max_retries=max_retries,
            max_wait_s=max_wait_s,
            verify=config.verify_tls,
            secrets=(client_secret,),
            sleep=sleep,
        )
        self.session.headers["Accept"] = "application/json"
        self.access_token: str | None = None
        self.expires_at = 0.0
        self.tokens_obtained = 0
        self.requests_made = 0

    def close(self) -> None:
        self.session.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.client_secret, self.access_token) if s)

    # -- token -------------------------------------------------------------------------
    def _obtain_token(self) -> None:
        params = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        response = self.session.get(self.root + "/v1/auth/token", params=params)
        if response.status_code in (400, 401, 403):
            raise ConfigError(
                "PingCode refused the client credentials: check client_id and the secret in "
                f"the environment variable {self.config.token_env or 'token_env'}"
                f"{self._detail(response)}",
                source=self.source,
                url=self.root + "/v1/auth/token",
            )
        body = self._json(response, "/v1/auth/token")
        token, expires = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise TransientError("token answer without access_token", source=self.source)
        self.access_token = token
        self.expires_at = expires_at(expires, now=self.clock())
        self.tokens_obtained += 1
        self.session.secrets = self.secrets
        self.session.headers["authorization"] = f"Bearer {token}"

    def _ensure_token(self) -> None:
        if self.access_token is None or self.clock() >= self.expires_at - _RENEW_EARLY_S:
            self._obtain_token()

    # -- requests ----------------------------------------------------------------------
    def _detail(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        if isinstance(body, dict) and body.get("message"):
            return f" ({body.get('code')}: {redact(str(body['message']), self.secrets)})"
        return ""

    def _json(self, response: requests.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise _BadAnswer(f"{path}: answer is not JSON ({response.text[:60]!r})") from exc

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """One GET under ``/v1``; 200 and 201 are both success."""
        url = self.root + path
        renewed = False
        bad = 0
        while True:
            self._ensure_token()
            self.requests_made += 1
            response = self.session.get(url, params=params)
            code = response.status_code
            if code == 401 and not renewed:
                renewed = True  # expired or revoked mid-run: one new token, one retry
                self.access_token = None
                continue
            if code >= 400:
                self._raise(response, path)
            try:
                return self._json(response, path)
            except _BadAnswer as exc:
                bad += 1
                if bad > _BAD_ANSWER_RETRIES:
                    raise TransientError(
                        str(exc), source=self.source, url=redact(url, self.secrets)
                    ) from exc
                self.session.sleep(min(self.session.max_wait_s, 0.5 * bad))

    def _raise(self, response: requests.Response, path: str) -> None:
        code = response.status_code
        url = redact(response.url, self.secrets)
        detail = self._detail(response)
        if code >= 500 or code == 429:
            raise TransientError(f"HTTP {code}{detail}", source=self.source, url=url)
        hint = {
            401: "PingCode refused the token twice: the app's secret was reset or the app "
            "removed (企业后台 → 凭据管理)",
            403: "the app's data scope does not cover this resource (企业后台 → 凭据管理)",
            404: "not found: check 'url' (cloud https://open.pingcode.com, private "
            "https://<host>/open) and the identifiers in 'projects'",
        }.get(code, f"HTTP {code}")
        raise ConfigError(f"{hint}{detail}", source=self.source, url=url)

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every listing page (``page_index`` from 0) until ``total`` is reached."""
        query = dict(params or {})
        size = max(1, min(MAX_PAGE, int(query.pop("page_size", MAX_PAGE))))
        index = 0
        while True:
            body = self.get(path, {**query, "page_size": size, "page_index": index})
            if not isinstance(body, dict) or not isinstance(body.get("values"), list):
                raise TransientError(
                    f"{path}: unexpected answer (no 'values' list)", source=self.source
                )
            yield body
            total = int(body.get("total") or 0)
            if not body["values"] or (index + 1) * size >= total:
                return
            index += 1

    def values(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        for body in self.pages(path, params):
            yield from body["values"]

    # -- resources ---------------------------------------------------------------------
    def projects(self) -> list[dict[str, Any]]:
        return list(self.values("/v1/project/projects"))

    def project(self, project_id: str) -> dict[str, Any]:
        return self.get(f"/v1/project/projects/{project_id}")

    def progress(self, project_id: str) -> dict[str, Any]:
        return self.get(f"/v1/project/projects/{project_id}/progress")

    def members(self, project_id: str) -> Iterator[dict[str, Any]]:
        return self.values(f"/v1/project/projects/{project_id}/members")

    def users(self) -> Iterator[dict[str, Any]]:
        return self.values("/v1/directory/users")

    def user(self, user_id: str) -> dict[str, Any]:
        return self.get(f"/v1/directory/users/{user_id}")

    def types(self, project_id: str) -> Iterator[dict[str, Any]]:
        return self.values("/v1/project/work_item/types", {"project_id": project_id})

    def sprints(self, project_id: str) -> Iterator[dict[str, Any]]:
        return self.values(f"/v1/project/projects/{project_id}/sprints")

    def versions(self, project_id: str) -> Iterator[dict[str, Any]]:
        return self.values(f"/v1/project/projects/{project_id}/versions")

    def work_item_pages(
        self, project_ids: Sequence[str], *, updated_from: int | None, include_deleted: bool
    ) -> Iterator[dict[str, Any]]:
        """Listing pages of the work items of up to 20 projects (the filter's limit)."""
        if len(project_ids) > MAX_IDS:
            raise ValueError(f"at most {MAX_IDS} project ids per request")
        params: dict[str, Any] = {"project_ids": ",".join(project_ids)}
        if updated_from is not None:
            params["updated_between"] = str(updated_from)  # "from": no upper bound
        if include_deleted:
            params["include_deleted"] = "true"
        return self.pages("/v1/project/work_items", params)

    def transitions(self, work_item_id: str) -> list[dict[str, Any]]:
        return list(self.values(f"/v1/project/work_items/{work_item_id}/transition_histories"))

    def relations(self, work_item_id: str) -> list[dict[str, Any]]:
        return list(self.values(f"/v1/project/work_items/{work_item_id}/relations"))

    def workloads(self, project_id: str, start_at: int, end_at: int) -> Iterator[dict[str, Any]]:
        return self.values(
            "/v1/workloads",
            {
                "principal_type": "work_item",
                "pilot_id": project_id,
                "start_at": start_at,
                "end_at": end_at,
            },
        )


class _BadAnswer(ValueError):
    pass


def expires_at(value: Any, *, now: float) -> float:
    """When a token expires, from ``expires_in`` in either reading: an absolute epoch (the
    documented example, 1577808000) or a lifetime in seconds; 30 days when absent."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return now + 30 * 86_400
    if n > _EPOCH_FLOOR * 1000:
        return n / 1000.0
    if n > _EPOCH_FLOOR:
        return n
    return now + n
