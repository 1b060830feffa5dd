"""The one HTTP retry layer every connector client uses.

Retries live here and nowhere else (vendor libraries get theirs switched off), so a 429
storm is paced by one clock. Every request has a timeout; ``Retry-After`` (seconds or an
HTTP date) is honoured but capped; backoff is exponential with full jitter and bounded.
Secrets are redacted from anything this module says.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests

from pmohub.connectors.errors import ConfigError, TransientError

log = logging.getLogger("pmohub.http")

RETRY_STATUSES = frozenset({429, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text


def is_retryable(response: requests.Response) -> bool:
    """429/5xx, and GitHub's rate limits, which answer 403: the primary limit with
    ``x-ratelimit-remaining: 0``, the secondary (abuse) limit with ``Retry-After``."""
    if response.status_code in RETRY_STATUSES:
        return True
    headers = response.headers
    return response.status_code == 403 and (
        headers.get("x-ratelimit-remaining") == "0" or "Retry-After" in headers
    )


def rate_limit_reset_wait(response: requests.Response, *, now: float | None = None) -> float | None:
    """Seconds until ``x-ratelimit-reset`` (epoch seconds, GitHub/GitLab) when the budget is
    spent (``x-ratelimit-remaining: 0``); None otherwise."""
    headers = response.headers
    reset = headers.get("x-ratelimit-reset")
    if headers.get("x-ratelimit-remaining") != "0" or not reset:
        return None
    try:
        at = float(reset)
    except ValueError:
        return None
    # +1 s: the reset instant is whole seconds and clocks differ a little.
    return max(0.0, at - (time.time() if now is None else now) + 1.0)


class RetryingSession(requests.Session):
    """``requests.Session`` with a default timeout and bounded, Retry-After-aware retries.

    After ``max_retries`` it raises ``TransientError`` naming the source and URL.
    """

    def __init__(
        self,
        *,
        source: str,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        max_retries: int = 6,
        backoff_s: float = 0.5,
        max_wait_s: float = 60.0,
        verify: bool | str = True,
        secrets: Iterable[str | None] = (),
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__()
        self.source = source
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.verify = verify
        self.secrets = tuple(s for s in secrets if s)
        self.sleep = sleep
        self.retries_done = 0  # for tests and run statistics

    def _wait(self, attempt: int, response: requests.Response | None) -> float:
        hinted = (
            parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        )
        if hinted is None and response is not None:
            hinted = rate_limit_reset_wait(response)
        if hinted is not None:
            # A server-given pause is respected but never allowed to stall a nightly run.
            return min(hinted, self.max_wait_s)
        return random.uniform(0, min(self.max_wait_s, self.backoff_s * (2**attempt)))

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        last: str = ""
        for attempt in range(self.max_retries + 1):
            response: requests.Response | None = None
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if not is_retryable(response):
                    return response
                last = f"HTTP {response.status_code}"
            if attempt == self.max_retries:
                break
            wait = self._wait(attempt, response)
            self.retries_done += 1
            log.warning(
                "%s %s: %s, retry %d/%d in %.1fs",
                self.source,
                redact(str(url), self.secrets),
                redact(last, self.secrets),
                attempt + 1,
                self.max_retries,
                wait,
            )
            if response is not None:
                response.close()
            self.sleep(wait)
        raise TransientError(
            f"gave up after {self.max_retries} retries: {redact(last, self.secrets)}",
            source=self.source,
            url=redact(str(url), self.secrets),
        )


def raise_for_config(response: requests.Response, *, source: str, hint: str = "") -> None:
    """Turn 400/401/403/404/410 into a ConfigError that says what to fix."""
    code = response.status_code
    if code < 400:
        return
    what = {
        400: "the server rejected the request (bad query or field?)",
        401: "authentication failed: check the user/e-mail and the token variable",
        403: "permission denied: the account cannot see this resource",
        404: "not found: check the URL and the project/board keys",
        410: "this endpoint was removed by the vendor",
    }.get(code, f"HTTP {code}")
    detail = ""
    try:
        body = response.json()
        msgs = body.get("errorMessages") or body.get("errors") or body.get("message")
        if msgs:
            detail = f": {msgs}"
    except ValueError:
        pass
    message = f"{what}{detail}"
    if hint:
        message += f". {hint}"
    raise ConfigError(message, source=source, url=response.url)
