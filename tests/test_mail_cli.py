"""Issue 15: testing mail delivery without sending the real report. ``pmohub mail test``
through a real SMTP server on 127.0.0.1 (aiosmtpd, as tests/test_report_email.py),
``--dry-run`` on ``report`` and ``nightly`` writing the message as an .eml file, and the
scheduler's first catch-up pass mailing nothing unless ``catch_up_send`` says so."""

from __future__ import annotations

import datetime as dt
import email
import json
import socket
from collections.abc import Iterator
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from reportkit import AS_OF, write_project

from pmohub.aggregator.config.loader import load_config_file
from pmohub.aggregator.jobs.scheduler import Scheduler
from pmohub.cli.main import main


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server() -> Iterator[tuple[Controller, Collector]]:
    handler = Collector()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield ctl, handler
    finally:
        ctl.stop()


def smtp_yaml(port: int) -> str:
    return (
        f"smtp: {{host: 127.0.0.1, port: {port}, security: none, retries: 0, timeout: 5, "
        'from: "PMO 报告 <pmo-bot@example.cn>"}\n'
    )  # reportkit's project has report.recipients: PF -> pmo, wang; "*" -> boss


def run(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_mail_test_sends_a_small_message(tmp_path: Path, server) -> None:
    ctl, handler = server
    cfg = write_project(tmp_path / "p", extra=smtp_yaml(ctl.port))
    result = run(["mail", "test", "--to", "pmo@example.cn", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "sent a test message to pmo@example.cn" in result.stderr
    [(rcpt, raw)] = handler.messages
    assert rcpt == ["pmo@example.cn"]
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert msg["Subject"] == "pmohub 测试邮件 / test message"
    assert "127.0.0.1" in msg.get_body(("plain",)).get_content()
    # no --to: every configured report recipient
    assert run(["mail", "test", "--config", str(cfg)]).exit_code == 0
    assert sorted(handler.messages[-1][0]) == [
        "boss@example.cn",
        "pmo@example.cn",
        "wang@example.cn",
    ]


def test_mail_test_failure_is_one_line_exit_1(tmp_path: Path) -> None:
    cfg = write_project(tmp_path / "p", extra=smtp_yaml(free_port()))  # nobody listens
    result = run(["mail", "test", "--to", "pmo@example.cn", "--config", str(cfg)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: could not send") and "Traceback" not in result.stderr


def test_mail_test_dry_run_needs_no_server(tmp_path: Path) -> None:
    cfg = write_project(tmp_path / "p")  # no smtp section at all
    eml = tmp_path / "out" / "test.eml"
    result = run(
        ["mail", "test", "--to", "a@example.cn", "--dry-run", str(eml), "--config", str(cfg)]
    )
    assert result.exit_code == 0, result.output
    msg = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert msg["To"] == "a@example.cn" and "测试邮件" in msg["Subject"]
    assert run(["mail", "test", "--to", "a@example.cn", "--config", str(cfg)]).exit_code == 1


def test_report_dry_run_writes_the_eml_and_sends_nothing(tmp_path: Path, server) -> None:
    ctl, handler = server
    cfg = write_project(tmp_path / "p", extra=smtp_yaml(ctl.port))
    out = tmp_path / "r" / "weekly.html"
    result = run(
        ["report", "--as-of", AS_OF.isoformat(), "--format", "html", "--out", str(out),
         "--dry-run", "--config", str(cfg)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert handler.messages == []
    [eml] = list(out.parent.glob("*.eml"))
    assert "dry run: wrote" in result.stderr and str(eml) in result.stderr
    msg = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert msg["To"] == "boss@example.cn"  # the "*" recipients: a report of everything
    parts = [p.get_content_type() for p in msg.walk()]
    assert "text/html" in parts and any("spreadsheetml" in p for p in parts)


def test_nightly_dry_run_writes_each_message(tmp_path: Path, server) -> None:
    ctl, handler = server
    cfg = write_project(tmp_path / "p", extra=smtp_yaml(ctl.port))
    out_dir = tmp_path / "reports"
    result = run(
        ["--quiet", "nightly", "--as-of", AS_OF.isoformat(), "--out-dir", str(out_dir),
         "--dry-run", "--config", str(cfg)]
    )  # fmt: skip
    payload = json.loads(result.stdout)
    send = next(s for s in payload["steps"] if s["name"] == "send")
    assert send["status"] == "ok", send
    assert handler.messages == []
    emls = list(out_dir.glob("*.eml"))
    assert emls, list(out_dir.iterdir())


@pytest.mark.parametrize("catch_up_send", [False, True])
def test_first_catch_up_does_not_mail_unless_configured(
    tmp_path: Path, catch_up_send: bool
) -> None:
    extra = (
        'schedule: {nightly: "02:00", timezone: Asia/Shanghai, catch_up: true'
        + (", catch_up_send: true" if catch_up_send else "")
        + "}\n"
    )
    config = load_config_file(write_project(tmp_path / "p", extra=extra))
    calls: list[dict[str, Any]] = []

    def job(cfg: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)

        class Result:
            exit_code = 0
            run_id = "r"
            status = "ok"

        return Result()

    from pmohub.aggregator.store.engine import open_store

    engine = open_store(config.database)
    # started at 10:00 local: the 02:00 slot was missed while down -> a catch-up pass
    start = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
    clock = [start]
    sched = Scheduler(config, engine, job=job, now=lambda: clock[0], job_kwargs={"send": True})
    sched.started_at = start
    sched.tick()
    assert len(calls) == 1
    assert calls[0]["send"] is catch_up_send
    # the next night is a regular slot (after the start): it mails as configured
    clock[0] = start + dt.timedelta(days=1)
    sched.tick()
    assert len(calls) == 2 and calls[1]["send"] is True
    engine.dispose()
