"""The one HTTP retry layer every connector client uses.

Retries live here and nowhere else (vendor libraries get theirs switched off), so a 429
storm is paced by one clock. Every request has a timeout; ``Retry-After`` (seconds or an
HTTP date) is honoured but capped; backoff is exponential with full jitter and bounded.
Secrets are redacted from anything this module says.

Two things real servers do that schemas do not say (issue 12):

- a rate limit whose reset is far away (GitHub's hourly budget, GitLab's ``RateLimit-Reset``,
  a long ``Retry-After``): waiting ``max_wait_s`` per retry and then failing wastes the
  night, so when the server's own wait exceeds ``max_wait_s`` the request fails at once
  with ``RateLimited``, saying when to come back;
- a 2xx answer that is markup, not JSON (an SSO login page, a proxy's block page): retried a
  few times (a proxy hiccup passes), then ``NotJson`` says what came back.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import requests

from pmohub.connectors.errors import ConfigError, TransientError


class RateLimited(TransientError):
    """The server's rate limit is spent until ``reset_at``, beyond the bounded wait."""

    def __init__(self, message: str, *, reset_at: dt.datetime, source: str, url: str):
        self.reset_at = reset_at
        super().__init__(message, source=source, url=url)


class NotJson(TransientError):
    """A 2xx answer that is not JSON (a login page, a proxy page), after retries."""


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


def _remaining_zero(headers: Any) -> bool:
    # GitHub: x-ratelimit-*; GitLab: RateLimit-* (and, on some versions, both)
    return "0" in (headers.get("x-ratelimit-remaining"), headers.get("ratelimit-remaining"))


def is_retryable(response: requests.Response) -> bool:
    """429/5xx, and rate limits that answer 403: GitHub's primary limit with
    ``x-ratelimit-remaining: 0``, GitLab's with ``RateLimit-Remaining: 0``, the secondary
    (abuse) limit with ``Retry-After``."""
    if response.status_code in RETRY_STATUSES:
        return True
    headers = response.headers
    return response.status_code == 403 and (_remaining_zero(headers) or "Retry-After" in headers)


def rate_limit_reset_wait(response: requests.Response, *, now: float | None = None) -> float | None:
    """Seconds until the rate limit resets (``x-ratelimit-reset``, GitHub; ``RateLimit-Reset``,
    GitLab; both epoch seconds) when the budget is spent (remaining ``0``); None otherwise."""
    headers = response.headers
    reset = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
    if not _remaining_zero(headers) or not reset:
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
        expect_json: bool = True,
        markup_retries: int = 2,
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
        self._env_settings: dict[tuple[Any, ...], dict[str, Any]] = {}
        #: every pmohub client speaks JSON: a 2xx markup answer is a login page or a proxy
        self.expect_json = expect_json
        self.markup_retries = markup_retries

    def _wait(self, attempt: int, response: requests.Response | None, url: str) -> float:
        hinted = (
            parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        )
        if hinted is None and response is not None:
            hinted = rate_limit_reset_wait(response)
        if hinted is not None:
            if hinted > self.max_wait_s:
                # Waiting max_wait_s per retry would end in failure anyway, long after:
                # fail now and say when the server will answer again.
                reset_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=hinted)
                at = reset_at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
                raise RateLimited(
                    f"rate limit reached (HTTP {response.status_code if response else '?'}); "
                    f"the server resets it at {at}, in {_span(hinted)}, beyond the bounded "
                    f"wait (max_wait_s={self.max_wait_s:g}): run again after {at}",
                    reset_at=reset_at,
                    source=self.source,
                    url=redact(url, self.secrets),
                )
            return hinted
        return random.uniform(0, min(self.max_wait_s, self.backoff_s * (2**attempt)))

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        """requests re-reads every environment variable (proxies, no_proxy, CA bundle) for
        each request, about a tenth of an incremental Jira run's CPU. The answer depends
        only on the URL's scheme and host and on these settings: computed once per key."""
        parts = urllib.parse.urlsplit(str(url))
        try:
            key = (
                parts.scheme,
                parts.netloc.lower(),
                tuple(sorted((proxies or {}).items())),
                stream,
                verify,
                cert,
                self.trust_env,
                tuple(sorted(self.proxies.items())),
                self.stream,
                self.verify,
                self.cert,
            )
            hash(key)
        except TypeError:  # an unhashable setting: no caching
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        found = self._env_settings.get(key)
        if found is None:
            found = self._env_settings[key] = super().merge_environment_settings(
                url, proxies, stream, verify, cert
            )
        return {**found, "proxies": dict(found["proxies"])}

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        last: str = ""
        markup = 0
        for attempt in range(self.max_retries + 1):
            response: requests.Response | None = None
            try:
                response = super().request(method, url, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if self.expect_json and is_markup(response):
                    if markup >= min(self.markup_retries, self.max_retries):
                        raise NotJson(
                            describe_not_json(response, self.secrets),
                            source=self.source,
                            url=redact(str(url), self.secrets),
                        )
                    markup += 1
                    last = f"HTTP {response.status_code} answered markup, not JSON"
                elif not is_retryable(response):
                    return response
                else:
                    last = f"HTTP {response.status_code}"
            if attempt == self.max_retries:
                break
            wait = self._wait(attempt, response, str(url))
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


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def is_markup(response: requests.Response) -> bool:
    """A 2xx answer that is HTML/XML rather than JSON: a login page (SSO in front of the
    API), a proxy's block or captive page. Only the first bytes are looked at. 200 only:
    Azure DevOps answers an unauthenticated call with 203 and its sign-in page, which its
    client reads as an authentication failure (not worth retrying)."""
    if response.status_code != 200:
        return False
    ctype = response.headers.get("Content-Type", "").lower()
    if "json" in ctype:
        return False
    if "html" in ctype or "xml" in ctype:
        return True
    return response.content[:64].lstrip().startswith(b"<")


def describe_not_json(response: requests.Response, secrets: Iterable[str | None] = ()) -> str:
    """What came back instead of JSON, for the error message: status, content type, the
    first bytes, and what it looks like (never blames the ``url`` setting)."""
    ctype = response.headers.get("Content-Type") or "no content type"
    head = response.content[:120].decode("utf-8", "replace")
    head = " ".join(head.split())
    low = response.content[:4000].decode("utf-8", "replace").lower()
    looks = (
        "a login page (single sign-on in front of the API?)"
        if any(w in low for w in ("login", "log in", "sign in", "signin", "password", "saml"))
        else "a proxy or gateway page"
        if "<" in head
        else "not JSON"
    )
    where = ""
    if response.history:  # redirected: the page is somewhere else than asked
        where = f", after a redirect to {redact(response.url, secrets)}"
    return redact(
        f"the server answered HTTP {response.status_code} with {ctype}{where}, not JSON; "
        f"it looks like {looks}. First bytes: {head!r}. Let the service account reach the "
        "API directly (SSO/proxy exemption for API tokens)",
        secrets,
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
