"""Posting digests to chat webhooks, with retries, pacing and the URL kept secret.

* The URL comes from the environment variable the ``notify`` section names and is never
  written to a log line, an error or a result: it *is* the credential (Slack's path holds
  the token, a Workflows URL holds its signature). Errors name the channel and the
  variable instead, and exception texts are redacted of the URL and its parts.
* 429 and 5xx answers (and connection errors) are retried ``retries`` times: after
  ``Retry-After`` seconds when the answer says so (seconds or an HTTP date), else after
  ``retry_backoff_s`` doubling. A wait longer than :data:`MAX_WAIT_S` is not sat out: the
  delivery fails at once saying when the service will take it.
* Any other 4xx (Slack's 400 ``invalid_blocks``, 404 ``no_service``) fails at once: sending
  the same body again cannot help.
* Slack allows about one message per second per webhook: :class:`Pacer` spaces posts to
  the same URL at least :data:`MIN_INTERVAL_S` apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from pmohub.aggregator.config.notify import NotifySettings, WebhookSettings
from pmohub.connectors.http import parse_retry_after

log = logging.getLogger("pmohub.notify")

MIN_INTERVAL_S = 1.0
URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")
MAX_WAIT_S = 120.0


@dataclass
class Delivery:
    channel: str  # slack | teams
    status: str  # ok | failed
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None
    seconds: float = 0.0


class Pacer:
    """At least ``interval`` seconds between two posts to the same webhook (per process)."""

    def __init__(self, interval: float = MIN_INTERVAL_S) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, url: str, sleep: Callable[[float], None]) -> None:
        key = hashlib.sha256(url.encode()).hexdigest()  # no URL kept in memory as a key
        with self._lock:
            last = self._last.get(key)
            now = time.monotonic()
            delay = 0.0 if last is None else max(0.0, last + self.interval - now)
            self._last[key] = now + delay
        if delay > 0:
            sleep(delay)


PACER = Pacer()


def scrub(text: str, url: str) -> str:
    """``text`` without the webhook URL or any of its secret parts."""
    parts = urlsplit(url)
    for secret in sorted(
        {url, parts.path, parts.query, parts.path.lstrip("/")}, key=len, reverse=True
    ):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class ScrubFilter(logging.Filter):
    """Removes a webhook URL's parts from the records of one logger: urllib3 logs the
    request path (Slack's token is in it) at DEBUG, which ``pmohub -vv`` shows."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage(), self.url), None
        return True


@contextlib.contextmanager
def scrubbed_logs(url: str) -> Iterator[None]:
    filt = ScrubFilter(url)
    loggers = [logging.getLogger(n) for n in URL_LOGGERS]
    for lg in loggers:
        lg.addFilter(filt)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(filt)


def post_webhook(
    channel: str,
    url: str,
    payload: Mapping[str, Any],
    *,
    settings: NotifySettings,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    pacer: Pacer = PACER,
) -> Delivery:
    """POST ``payload`` as JSON to ``url``; never raises for a failed delivery."""
    with scrubbed_logs(url):
        return _post(channel, url, payload, settings, session or requests.Session(), sleep, pacer)


def _post(
    channel: str,
    url: str,
    payload: Mapping[str, Any],
    settings: NotifySettings,
    http: requests.Session,
    sleep: Callable[[float], None],
    pacer: Pacer,
) -> Delivery:
    t0 = time.monotonic()
    backoff = settings.retry_backoff_s
    result = Delivery(channel, "failed")
    for attempt in range(1, settings.retries + 2):
        result.attempts = attempt
        pacer.wait(url, sleep)
        wait: float | None
        try:
            resp = http.post(url, json=payload, timeout=settings.timeout)
        except requests.RequestException as exc:
            result.error = scrub(f"{type(exc).__name__}: {exc}", url)
            result.http_status, wait = None, None
        else:
            result.http_status = resp.status_code
            if 200 <= resp.status_code < 300:
                result.status, result.error = "ok", None
                break
            body = scrub((resp.text or "").strip()[:200], url)
            result.error = f"HTTP {resp.status_code}{': ' + body if body else ''}"
            if resp.status_code != 429 and resp.status_code < 500:
                break  # the same body would be refused again
            wait = parse_retry_after(resp.headers.get("Retry-After"))
        if attempt > settings.retries:
            break
        delay = backoff if wait is None else wait
        if delay > MAX_WAIT_S:
            result.error += f" (asked to retry in {delay:.0f} s: not waiting)"
            break
        log.warning(
            "notify %s: attempt %d failed (%s); retrying in %.1f s",
            channel,
            attempt,
            result.error,
            delay,
        )
        sleep(delay)
        backoff *= 2
    result.seconds = time.monotonic() - t0
    if result.status == "ok":
        log.info("notify %s: delivered (%d attempt(s))", channel, result.attempts)
    else:
        log.error(
            "notify %s: not delivered after %d attempt(s): %s",
            channel,
            result.attempts,
            result.error,
        )
    return result


def webhook_url(hook: WebhookSettings, env: Mapping[str, str]) -> str | None:
    return (env.get(hook.webhook_env) or "").strip() or None


def deliver_payloads(
    payloads: Mapping[str, Mapping[str, Any]],
    settings: NotifySettings,
    env: Mapping[str, str],
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    pacer: Pacer = PACER,
) -> list[Delivery]:
    """Post each channel's payload to its configured webhook; one result per webhook."""
    out = []
    for hook in settings.webhooks:
        url = webhook_url(hook, env)
        if url is None:
            out.append(
                Delivery(
                    hook.channel,
                    "failed",
                    error=f"environment variable {hook.webhook_env} is not set",
                )
            )
            continue
        out.append(
            post_webhook(
                hook.channel,
                url,
                payloads[hook.channel],
                settings=settings,
                session=session,
                sleep=sleep,
                pacer=pacer,
            )
        )
    return out
