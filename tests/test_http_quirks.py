"""GitLab, GitHub and the shared HTTP layer as real servers answer (issue 12): GitLab's
numbered scoped workflow labels and RateLimit-* headers, a GitHub reset an hour away, and
2xx answers that are an SSO login page."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from test_github import connector as gh_connector
from test_github import expected_ids
from test_gitlab import connector as gl_connector
from test_gitlab import issue_ids, items

from pmohub.connectors.gitlab.mapping import MappingContext, status_category
from pmohub.connectors.http import NotJson, RateLimited, RetryingSession, describe_not_json
from pmohub.emulators.github import GitHubEmulator
from pmohub.emulators.github import generate_site as gh_site
from pmohub.emulators.gitlab import GitLabEmulator
from pmohub.emulators.gitlab import generate_site as gl_site
from pmohub.emulators.gitlab.server import NUMBERED_WORKFLOW


@pytest.mark.parametrize(
    ("status", "category"),
    [
        ("1 - triage", "todo"),
        ("4 - scheduled", "todo"),
        ("2 - ready for development", "todo"),
        ("5 - in dev", "in_progress"),
        ("6 - in review", "in_progress"),
        ("X - blocked", "in_progress"),  # blocked is a sub-state of in progress
        ("7 - done", "done"),
        ("complete", "done"),
        ("my own step", "in_progress"),
    ],
)
def test_gitlab_numbered_workflow_labels(status: str, category: str) -> None:
    assert status_category(status, MappingContext(source="gl")) == category


def test_gitlab_status_map_names_the_step_without_its_number() -> None:
    ctx = MappingContext(source="gl", status_map={"blocked": "blocked", "scheduled": "in_progress"})
    assert status_category("X - blocked", ctx) == "in_progress"
    assert status_category("4 - scheduled", ctx) == "in_progress"


def test_gitlab_emulator_numbered_labels_map_through_the_connector() -> None:
    with GitLabEmulator(gl_site(seed=5, projects=2, issues=30)) as emu:
        emu.label_renames = dict(NUMBERED_WORKFLOW)
        with gl_connector(emu, history=False, worklogs=False) as c:
            got = {w.status: w.status_category for w in items(c.fetch_work_items(None))}
    assert got.get("4 - scheduled") == "todo"
    assert got.get("X - blocked") == "in_progress"
    assert got.get("6 - in review") == "in_progress"


@pytest.mark.parametrize("status", [403, 429])
def test_gitlab_ratelimit_headers_without_retry_after_are_waited_out(status: int) -> None:
    with GitLabEmulator(gl_site(seed=5, projects=2, issues=30)) as emu:
        emu.rate_limit_status = status
        emu.rate_limit_retry_after = False
        emu.rate_limit_reset_in = 2
        emu.faults.rate_limit(times=2, path_prefix="/api/v4/projects/40/issues")
        sleeps: list[float] = []
        with gl_connector(emu, sleeps=sleeps, history=False, worklogs=False) as c:
            got = items(c.fetch_work_items(None))
        assert {w.external_id for w in got if w.type != "Epic"} == issue_ids(emu)
    assert len(sleeps) == 2 and all(1.0 <= s <= 4.0 for s in sleeps)  # until RateLimit-Reset


def test_github_reset_an_hour_away_fails_at_once_saying_when() -> None:
    with GitHubEmulator(gh_site(seed=3)) as emu:
        emu.rate_limit_reset_in = 3600
        emu.faults.rate_limit(times=50, path_prefix="/repos")
        sleeps: list[float] = []
        started = time.monotonic()
        with (
            gh_connector(emu, sleeps=sleeps, history=False) as c,
            pytest.raises(RateLimited) as err,
        ):
            list(c.fetch_work_items(None))
    assert sleeps == [] and time.monotonic() - started < 10
    text = str(err.value)
    at = err.value.reset_at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    assert f"run again after {at}" in text and "in 60 min" in text


def test_github_near_reset_still_waits() -> None:
    with GitHubEmulator(gh_site(seed=3)) as emu:
        emu.faults.rate_limit(times=1, path_prefix="/repos/acme/web-portal/issues")
        sleeps: list[float] = []
        with gh_connector(emu, sleeps=sleeps, history=False) as c:
            got = items(c.fetch_work_items(None))
        assert {w.external_id for w in got} == expected_ids(emu)
    assert len(sleeps) == 1


def test_gitlab_login_page_is_retried_then_described() -> None:
    with GitLabEmulator(gl_site(seed=5, projects=2, issues=30)) as emu:
        emu.faults.login_page(times=2, path_prefix="/api/v4/projects/40/issues")
        with gl_connector(emu, sleeps=[], history=False, worklogs=False) as c:
            got = items(c.fetch_work_items(None))
        assert {w.external_id for w in got if w.type != "Epic"} == issue_ids(emu)
        emu.faults.login_page(times=10, path_prefix="/api/v4/projects")
        with (
            gl_connector(emu, sleeps=[], history=False, worklogs=False) as c,
            pytest.raises(NotJson) as err,
        ):
            list(c.fetch_work_items(None))
    text = str(err.value)
    assert (
        "HTTP 200 with text/html" in text
        and "login page" in text
        and "url" not in text.split("(")[0]
    )


class _Resp(requests.Response):
    def __init__(self, body: bytes, ctype: str | None, status: int = 200):
        super().__init__()
        self._content = body
        self._content_consumed = True
        self.status_code = status
        if ctype:
            self.headers["Content-Type"] = ctype
        self.url = "https://proxy.example/blocked"


def test_describe_not_json_says_what_came_back() -> None:
    proxy = _Resp(b"<html><body>Access denied by Zscaler policy</body></html>", None)
    text = describe_not_json(proxy)
    assert "no content type" in text and "proxy or gateway page" in text and "Zscaler" in text


def test_markup_retries_are_bounded() -> None:
    calls: list[Any] = []
    session = RetryingSession(source="s", sleep=lambda s: None, max_retries=6)

    def fake(self: Any, method: str, url: str, *a: Any, **kw: Any) -> requests.Response:
        calls.append(url)
        return _Resp(b"<!DOCTYPE html><title>Sign in</title>", "text/html")

    orig = requests.Session.request
    requests.Session.request = fake  # type: ignore[method-assign]
    try:
        with pytest.raises(NotJson):
            session.get("https://x.example/api")
    finally:
        requests.Session.request = orig  # type: ignore[method-assign]
    assert len(calls) == 3  # the first answer and two retries


def test_environment_settings_are_read_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests re-reads the whole environment per request; the session reads it once per
    scheme and host, and a proxy variable still applies."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    calls: list[Any] = []
    real = requests.Session.merge_environment_settings

    def counting(self: Any, *args: Any) -> Any:
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counting)
    s = RetryingSession(source="x")
    a = s.merge_environment_settings("http://h.example/a", {}, None, None, None)
    a["proxies"]["http"] = "changed by a caller"
    b = s.merge_environment_settings("http://h.example/b?x=1", {}, None, None, None)
    assert b["proxies"]["http"] == "http://proxy.example:3128" and len(calls) == 1
    s.merge_environment_settings("http://other.example/", {}, None, None, None)
    assert len(calls) == 2
