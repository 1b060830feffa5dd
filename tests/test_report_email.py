"""Report e-mail against a real SMTP server on 127.0.0.1 (aiosmtpd): message structure,
headers, Chinese subject/body, the Excel attachment, STARTTLS and implicit TLS with a
self-signed certificate trusted through ``ca_file``, AUTH with the password from an
environment variable, retries then a clear failure (exit 1, report still on disk)."""

from __future__ import annotations

import email
import io
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from reportkit import AS_OF, SCRIPT_TITLE, synced_project

from pmohub.aggregator.config.sections import SmtpSettings
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.delivery import DeliveryError
from pmohub.aggregator.report.publish import mail_report
from pmohub.aggregator.report.render import subject_line

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PASSWORD = "s3cret-pw"


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == b"pmo-bot" and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


@pytest.fixture
def plain_server() -> Iterator[tuple[Controller, Collector]]:
    handler = Collector()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield ctl, handler
    finally:
        ctl.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return synced_project(tmp_path_factory.mktemp("mailproj"), report_language="zh")


def _config_with_smtp(config: Any, **smtp: Any) -> Any:
    from dataclasses import replace

    settings = SmtpSettings(**{"host": "127.0.0.1", "retry_backoff_s": 0.0, **smtp})
    return replace(config, sections={**config.sections, "smtp": settings})


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=default_policy)  # type: ignore[return-value]


def test_message_structure_headers_and_chinese(project, plain_server) -> None:
    config, engine = project
    ctl, handler = plain_server
    config = _config_with_smtp(
        config, port=ctl.port, security="none", sender="PMO 报告 <pmo-bot@example.cn>"
    )
    report = build_report(engine, config, as_of=AS_OF, portfolio="PF")
    to, message_id = mail_report(report, config, "zh")

    assert to == ["pmo@example.cn", "wang@example.cn"]
    assert len(handler.messages) == 1
    rcpt, raw = handler.messages[0]
    assert sorted(rcpt) == ["pmo@example.cn", "wang@example.cn"]
    # 7-bit clean headers: the Chinese subject and names travel RFC 2047-encoded.
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")
    assert b"=?utf-8?" in head

    msg = _parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    alt, attachment = msg.get_payload()
    assert alt.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alt.get_payload()] == ["text/plain", "text/html"]
    expected_subject = subject_line(report, "zh", "[PMO]")
    assert msg["Subject"] == expected_subject
    assert "项目周报与合规报告" in msg["Subject"] and "测试组合" in msg["Subject"]
    assert msg["From"].addresses[0].display_name == "PMO 报告"
    assert {a.addr_spec for a in msg["To"].addresses} == {"pmo@example.cn", "wang@example.cn"}
    assert any(a.display_name == "王经理" for a in msg["To"].addresses)
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert msg["Message-ID"] == message_id and message_id.endswith("@example.cn>")

    text = alt.get_payload()[0].get_content()
    html = alt.get_payload()[1].get_content()
    assert "总体概述" in text and "合规检查结果" in text
    assert "总体概述" in html and "<html" in html
    assert alt.get_payload()[1].get_content_charset() == "utf-8"
    # tracker text escaped in both bodies
    assert SCRIPT_TITLE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in text

    assert attachment.get_content_type() == XLSX
    assert attachment.get_filename() == "pmohub-weekly-PF-2026-11-21.xlsx"
    assert attachment.get_content_disposition() == "attachment"
    wb = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
    assert wb.sheetnames[0] == "报告" and len(wb.sheetnames) > 12


def test_starttls_with_private_ca_and_auth(project, cert) -> None:
    config, engine = project
    handler = Collector()
    ctl = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(cert),
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    )
    ctl.start()
    try:
        cfg = _config_with_smtp(
            config,
            port=ctl.port,
            security="starttls",
            username="pmo-bot",
            password_env="PMOHUB_TEST_SMTP_PW",
            ca_file=str(cert[0]),
        )
        report = build_report(engine, cfg, as_of=AS_OF, portfolio="PF")
        to, _ = mail_report(report, cfg, "en", env={"PMOHUB_TEST_SMTP_PW": PASSWORD})
        assert to and len(handler.messages) == 1
        msg = _parse(handler.messages[0][1])
        assert "Weekly status and compliance report" in msg["Subject"]

        # Verification stays on: without the private CA the same server is refused.
        no_ca = _config_with_smtp(cfg, port=ctl.port, security="starttls", retries=0, timeout=5)
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            mail_report(report, no_ca, "en", env={"PMOHUB_TEST_SMTP_PW": PASSWORD})
        assert len(handler.messages) == 1
    finally:
        ctl.stop()


def test_implicit_tls(project, cert) -> None:
    config, engine = project
    handler = Collector()
    ctl = Controller(
        handler, hostname="127.0.0.1", port=free_port(), ssl_context=server_context(cert)
    )
    ctl.start()
    try:
        cfg = _config_with_smtp(config, port=ctl.port, security="ssl", ca_file=str(cert[0]))
        report = build_report(engine, cfg, as_of=AS_OF)
        to, _ = mail_report(report, cfg, "zh")
        assert to == ["boss@example.cn"]  # "*" receives the all-portfolio report
        msg = _parse(handler.messages[0][1])
        assert "全部项目组合" in msg["Subject"]
    finally:
        ctl.stop()


def test_missing_password_variable_is_a_clear_error(project, plain_server) -> None:
    config, engine = project
    ctl, _ = plain_server
    cfg = _config_with_smtp(
        config, port=ctl.port, security="none", username="u", password_env="NOPE_NOT_SET"
    )
    report = build_report(engine, cfg, as_of=AS_OF, portfolio="PF")
    with pytest.raises(DeliveryError, match="NOPE_NOT_SET"):
        mail_report(report, cfg, "en", env={})


def test_failed_send_retries_then_exit_1_and_report_on_disk(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here
    extra = (
        f"smtp: {{host: 127.0.0.1, port: {dead}, security: none, retries: 2, "
        "retry_backoff_s: 0.01, timeout: 2}\n"
    )
    config, engine = synced_project(tmp_path / "p", extra=extra)
    engine.dispose()
    out = tmp_path / "weekly.html"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "pmohub"),
            "--config",
            str(config.path),
            "report",
            "--portfolio",
            "PF",
            "--format",
            "html",
            "--out",
            str(out),
            "--send",
            "--as-of",
            AS_OF.isoformat(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "after 3 attempt(s)" in proc.stderr
    assert "retry 1/2" in proc.stderr and "retry 2/2" in proc.stderr
    assert out.is_file() and "敌意标题" in out.read_text(encoding="utf-8")
    assert "error: could not send the report via 127.0.0.1" in proc.stderr
    assert "the report was written to disk all the same" in proc.stderr


def test_send_message_backoff_is_bounded_and_doubles() -> None:
    from pmohub.aggregator.report.delivery import build_message, send_message

    settings = SmtpSettings(
        host="127.0.0.1", port=free_port(), security="none", retries=3, retry_backoff_s=0.5
    )
    msg = build_message(
        sender="a@example.cn", recipients=["b@example.cn"], subject="s", text="t", html="<p>t</p>"
    )
    waits: list[float] = []
    with pytest.raises(DeliveryError, match="after 4 attempt"):
        send_message(settings, msg, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]
