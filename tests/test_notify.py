"""Chat digests against local Slack and Teams receivers (tests/chatreceivers.py): payload
shapes and limits (a report far too big for one message is cut, never refused), 429 with
Retry-After, 5xx retries, pacing, hostile tracker text, secret URLs, and the nightly's
own exit flag for a failed delivery."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chatreceivers import (
    Receiver,
    check_slack,
    check_teams,
    links_and_mentions_slack,
    links_and_mentions_teams,
    teams_runs,
)

from pmohub.aggregator.config.notify import NotifySettings, WebhookSettings
from pmohub.aggregator.report.chat.deliver import Pacer, deliver_payloads, post_webhook
from pmohub.aggregator.report.chat.digest import one_language, to_digest
from pmohub.aggregator.report.chat.slack import MAX_BLOCKS, fit_blocks, to_slack_payload
from pmohub.aggregator.report.chat.teams import CARD_VERSION, to_teams_payload
from pmohub.aggregator.report.model import Column, Report, Section, Table

HOSTILE = (
    "<!channel> <!here> <@U024BE7LH> <#C024BE7LR> <https://evil.example|click here> "
    "@channel @here [win](https://evil.example) **bold** <at>Boss</at> https://evil.example/x"
)


def _table(tid: str, rows: list[dict[str, Any]]) -> Table:
    keys = sorted({k for r in rows for k in r})
    return Table(tid, tid, [Column(k, k) for k in keys], rows)


def make_report(n: int = 5, title: str = "Fix login", long: int = 0) -> Report:
    """A report model with ``n`` rows in every part the digest reads."""
    text = title + (" x" * long)
    status = [
        {"level": "portfolio", "key": "DIGI", "name": "数字化", "rag": "red", "reasons": text},
        {"level": "programme", "key": "CUST", "name": text, "rag": "amber", "reasons": "ok"},
        {"level": "project", "key": "CRM", "name": "CRM", "rag": "green", "reasons": "-"},
    ]
    findings = [
        {"rule": "QUA-002", "severity": "high", "state": "new", "project": f"P{i}",
         "subject": f"project:P{i}", "message": f"{text} late {i} / 中文 {i} 超期"}
        for i in range(n)
    ] + [{"rule": "X", "severity": "low", "state": "new", "project": "Q", "message": "low"}]  # fmt: skip
    milestones = [
        {"project": "CRM", "milestone": f"{text} R{i}", "due_on": "2026-11-10",
         "state": "overdue", "slip_wd": i}
        for i in range(n)
    ]  # fmt: skip
    load = [{"person": f"{text} {i}", "week": "2026-W48", "load": 1.5 + i} for i in range(n)]
    decisions = [
        {"message": {"key": "dec.cr_pending", "params": {"key": f"PMO-{i}", "title": text}}}
        for i in range(n)
    ]
    secs = [
        Section("summary", 1, {}, tables=[_table("decisions", decisions)]),
        Section("dashboard", 2, {}, tables=[_table("status", status)]),
        Section("schedule", 3, {}, tables=[_table("milestones", milestones)]),
        Section("resources", 4, {}, tables=[_table("load", load)]),
        Section("compliance", 5, {}, tables=[_table("findings", findings)]),
    ]
    return Report(
        kind="weekly",
        as_of=dt.date(2026, 11, 21),
        generated_at=dt.datetime(2026, 11, 21, 3, tzinfo=dt.UTC),
        portfolio=None,
        portfolio_name=None,
        title={"en": "Weekly", "zh": "周报"},
        overall_rag="red",
        trace={},
        sections=secs,
    )


@pytest.fixture
def slack() -> Iterator[Receiver]:
    r = Receiver(check_slack)
    yield r
    r.close()


@pytest.fixture
def teams() -> Iterator[Receiver]:
    r = Receiver(check_teams)
    r.ok = (202, "")  # a Workflows webhook accepts with 202
    yield r
    r.close()


def settings(**kw: Any) -> NotifySettings:
    hooks = (WebhookSettings("slack", "T_SLACK"), WebhookSettings("teams", "T_TEAMS"))
    return NotifySettings(**{"webhooks": hooks, "retries": 2, "retry_backoff_s": 0.5, **kw})


def deliver(d: Any, slack: Receiver, teams: Receiver, **kw: Any) -> tuple[list[Any], list[float]]:
    waits: list[float] = []
    out = deliver_payloads(
        {"slack": to_slack_payload(d), "teams": to_teams_payload(d)},
        settings(**kw),
        {"T_SLACK": slack.url, "T_TEAMS": teams.url},
        sleep=waits.append,
        pacer=Pacer(0.0),
    )
    return out, waits


def test_receivers_enforce_the_services_limits(slack: Receiver) -> None:
    """The receiver is a real check: it refuses what Slack refuses."""
    hook = settings(retries=0)
    ok = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}]}
    long = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}
    many = {"blocks": [{"type": "divider"}] * 51}
    results = [
        post_webhook("slack", slack.url, p, settings=hook, pacer=Pacer(0.0))
        for p in (ok, long, many)
    ]
    assert [r.http_status for r in results] == [200, 400, 400]
    assert [r.attempts for r in results] == [1, 1, 1]  # a 400 is not retried
    assert "3000" in results[1].error and "50 blocks" in results[2].error


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_digest_accepted_by_both_receivers(slack: Receiver, teams: Receiver, lang: str) -> None:
    d = to_digest(make_report(3), lang, report_url="https://pmo.example.cn/r.html")
    results, _ = deliver(d, slack, teams)
    assert [(r.channel, r.status, r.http_status) for r in results] == [
        ("slack", "ok", 200),
        ("teams", "ok", 202),
    ]
    (s,), (t,) = slack.received, teams.received
    texts = json.dumps(s, ensure_ascii=False)
    assert "DIGI" in texts and "QUA-002" in texts and "R2" in texts
    assert s["blocks"][-1]["elements"][0]["url"] == "https://pmo.example.cn/r.html"
    card = t["attachments"][0]["content"]
    assert card["version"] == CARD_VERSION == "1.4"
    assert card["actions"][0]["url"] == "https://pmo.example.cn/r.html"
    # one language only: the rule message's other half is gone
    assert ("中文 0 超期" in texts) == (lang == "zh")
    assert ("Fix login late 0" in texts) == (lang == "en")


def test_a_huge_report_is_cut_with_more_in_the_report_never_refused(
    slack: Receiver, teams: Receiver
) -> None:
    d = to_digest(make_report(400, long=150), "en", max_items=40)
    results, _ = deliver(d, slack, teams)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert slack.rejections == teams.rejections == []
    text = json.dumps(slack.received[0])
    assert "more in the report" in text
    teams_text = json.dumps(teams.received[0])
    assert "more in the report" in teams_text
    assert len(teams_text.encode()) <= 28_000


def test_fit_blocks_keeps_fifty_and_the_link() -> None:
    d = to_digest(make_report(1), "en")
    blocks = [{"type": "divider"}] * 80 + [{"type": "actions", "elements": []}]
    out = fit_blocks(d, blocks)
    assert len(out) == MAX_BLOCKS and out[-1]["type"] == "actions"
    assert "more in the report" in json.dumps(out[-2])
    assert check_slack({"blocks": out}) is None


def test_429_with_retry_after_is_waited_then_delivered(slack: Receiver, teams: Receiver) -> None:
    slack.plan = [(429, {"Retry-After": "3"})]
    teams.plan = [(503, {}), (502, {})]
    results, waits = deliver(to_digest(make_report(), "en"), slack, teams)
    assert [(r.status, r.attempts) for r in results] == [("ok", 2), ("ok", 3)]
    assert waits == [3.0, 0.5, 1.0]  # Retry-After honoured; else backoff doubling
    assert slack.requests == 2 and teams.requests == 3


def test_lasting_5xx_fails_after_retries_and_never_names_the_url(
    slack: Receiver, teams: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    slack.plan = [(500, {})] * 5
    teams.plan = [(429, {"Retry-After": "3600"})]
    with caplog.at_level(logging.DEBUG):
        results, waits = deliver(to_digest(make_report(), "en"), slack, teams)
    assert [(r.status, r.attempts) for r in results] == [("failed", 3), ("failed", 1)]
    assert "3600" in results[1].error and waits == [0.5, 1.0]  # an hour is not sat out
    everything = caplog.text + json.dumps([r.__dict__ for r in results])
    assert "SECRET" not in everything and "xyzzy" not in everything


def test_unset_variable_fails_that_channel_only(slack: Receiver) -> None:
    d = to_digest(make_report(), "en")
    out = deliver_payloads(
        {"slack": to_slack_payload(d), "teams": to_teams_payload(d)},
        settings(),
        {"T_SLACK": slack.url},
        pacer=Pacer(0.0),
    )
    assert [(r.channel, r.status) for r in out] == [("slack", "ok"), ("teams", "failed")]
    assert "T_TEAMS" in out[1].error


def test_posts_to_one_webhook_are_paced() -> None:
    pacer, waits = Pacer(1.0), []
    pacer.wait("https://hooks.example/a", waits.append)
    pacer.wait("https://hooks.example/b", waits.append)  # another webhook: no wait
    pacer.wait("https://hooks.example/a", waits.append)
    assert len(waits) == 1 and 0.9 < waits[0] <= 1.0


def test_a_hostile_title_cannot_mention_or_link(slack: Receiver, teams: Receiver) -> None:
    d = to_digest(make_report(3, title=HOSTILE), "en", report_url="https://pmo.example.cn/r")
    results, _ = deliver(d, slack, teams)
    assert [r.status for r in results] == ["ok", "ok"]
    s, t = slack.received[0], teams.received[0]
    assert links_and_mentions_slack(s) == []
    assert links_and_mentions_teams(t) == []
    # ... and the text is still there for the reader, escaped
    assert "&lt;!channel&gt;" in json.dumps(s)
    # tracker text only in TextRuns (no markdown), never in a TextBlock
    assert all(el["type"] == "TextRun" for el in teams_runs(t))
    # the one real link is ours
    assert t["attachments"][0]["content"]["actions"][0]["url"] == "https://pmo.example.cn/r"


def test_the_receivers_would_catch_an_unescaped_title() -> None:
    """Guard for the test above: unescaped text is caught by the same checks."""
    raw = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": HOSTILE}}]}
    assert {"<!", "<@", "<#", "@channel"} <= set(links_and_mentions_slack(raw))
    card = {"attachments": [{"content": {"body": [{"type": "TextBlock", "text": HOSTILE}]}}]}
    assert links_and_mentions_teams(card)


def test_one_language_keeps_tracker_titles_whole() -> None:
    assert one_language("Reopen rate 14% / 重开率 14%", "zh") == "重开率 14%"
    assert one_language("Reopen rate 14% / 重开率 14%", "en") == "Reopen rate 14%"
    assert one_language("PAY 变更申请 / 延期两周", "en") == "PAY 变更申请 / 延期两周"
    assert one_language("CI / CD pipeline", "zh") == "CI / CD pipeline"


def test_nightly_failed_delivery_sets_its_own_flag(tmp_path: Path) -> None:
    from reportkit import AS_OF, synced_project

    from pmohub.aggregator.jobs.nightly import EXIT_NOTIFY, run_nightly

    bad = Receiver(check_slack)
    good = Receiver(check_teams)
    bad.plan = [(500, {})] * 3
    try:
        extra = (
            "notify: {slack: {webhook_env: T_SLACK}, teams: {webhook_env: T_TEAMS},"
            " retries: 1, retry_backoff_s: 0}\n"
        )
        config, engine = synced_project(tmp_path / "p", extra=extra, formats="md")
        env = {"T_SLACK": bad.url, "T_TEAMS": good.url}
        result = run_nightly(
            config,
            engine=engine,
            as_of=AS_OF,
            out_dir=tmp_path / "o",
            env=env,
            sleep=lambda s: None,
        )
        engine.dispose()
    finally:
        bad.close()
        good.close()
    notify = result.step("notify")
    assert notify.status == "failed" and "slack" in notify.error
    assert result.exit_code & EXIT_NOTIFY
    assert result.step("report").status == "ok" and result.files  # the rest intact
    assert result.status == "partial"
    assert [d["status"] for d in notify.detail["deliveries"]] == ["failed", "ok"]
    assert len(good.received) == 1
    assert "SECRET" not in json.dumps(result.detail())
