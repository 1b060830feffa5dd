"""E-mail delivery of reports over SMTP (config section ``smtp``, see aggregator/config/sections.py).

The message is ``multipart/mixed``: a ``multipart/alternative`` (plain text, then HTML)
and the Excel report attached. Built with :class:`email.message.EmailMessage` and the
``SMTP`` policy, so Chinese subjects, names and bodies are RFC 2047 / UTF-8 encoded and
lines end in CRLF. TLS: ``starttls`` (port 587) or ``ssl`` (implicit TLS, 465), always with
certificate and host-name verification (``ssl.create_default_context``); ``ca_file`` adds
a private CA, it never turns verification off. ``none`` is for a local relay only.

A failed send is retried a bounded number of times with exponential backoff; then
:class:`DeliveryError` says what failed. The password comes only from the environment
variable named by ``password_env``.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from pmohub.aggregator.config.sections import SmtpSettings
from pmohub.connectors.errors import PmohubError

log = logging.getLogger("pmohub.delivery")

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


class DeliveryError(PmohubError):
    """The report could not be sent (after retries)."""


#: The sender of a dry run without an ``smtp:`` section (nothing is sent).
DRY_RUN_SENDER = "pmohub <pmohub@localhost>"


def write_eml(msg: EmailMessage, path: Path) -> Path:
    """A dry run: the exact bytes that would go to the server, as an ``.eml`` file any mail
    client opens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msg.as_bytes())
    log.info("dry run: message written to %s (not sent)", path)
    return path


def test_message(sender: str, recipients: Sequence[str], *, via: str) -> EmailMessage:
    """``pmohub mail test``: a small message proving the SMTP settings work."""
    when = formatdate(localtime=True)
    text = (
        f"pmohub test message, sent {when} via {via}.\n"
        "If you can read this, the report e-mail will arrive too.\n"
        "pmohub 测试邮件：收到此邮件说明周报邮件配置可用。\n"
    )
    html = f"<p>{text.replace(chr(10), '<br>')}</p>"
    return build_message(
        sender=sender,
        recipients=recipients,
        subject="pmohub 测试邮件 / test message",
        text=text,
        html=html,
    )


@dataclass
class Attachment:
    filename: str
    data: bytes
    maintype: str = XLSX_TYPE[0]
    subtype: str = XLSX_TYPE[1]


@dataclass
class SendResult:
    recipients: list[str]
    attempts: int
    message_id: str
    errors: list[str] = field(default_factory=list)


def build_message(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    html: str,
    attachments: Sequence[Attachment] = (),
    domain: str | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=domain or _domain_of(sender))
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    for a in attachments:
        # add_attachment turns the multipart/alternative into multipart/mixed with the
        # alternative as its first part.
        msg.add_attachment(a.data, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
    return msg


def _domain_of(sender: str) -> str:
    addr = parseaddr(sender)[1]
    return addr.rpartition("@")[2] or socket.getfqdn()


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"smtp.ca_file {ca_file}: cannot load: {exc}") from None
    return ctx


def _password(settings: SmtpSettings, env: Mapping[str, str]) -> str | None:
    if not settings.password_env:
        return None
    value = env.get(settings.password_env)
    if not value:
        raise DeliveryError(
            f"smtp.password_env names {settings.password_env}, which is not set in the environment"
        )
    return value


def send_once(
    settings: SmtpSettings,
    msg: EmailMessage,
    *,
    env: Mapping[str, str] | None = None,
    ca_file: str | None = None,
) -> None:
    env = os.environ if env is None else env
    password = _password(settings, env)
    host, port, timeout = settings.host, settings.effective_port, settings.timeout
    ctx = tls_context(ca_file or settings.ca_file) if settings.security != "none" else None
    client: smtplib.SMTP
    if settings.security == "ssl":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ctx)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=ctx)
            client.ehlo()
        if settings.username and password is not None:
            client.login(settings.username, password)
        client.send_message(msg)


# Failures a retry cannot fix: wrong credentials, bad certificate, recipients refused.
PERMANENT = (
    smtplib.SMTPAuthenticationError,
    smtplib.SMTPRecipientsRefused,
    ssl.SSLCertVerificationError,
)


def send_message(
    settings: SmtpSettings,
    msg: EmailMessage,
    *,
    env: Mapping[str, str] | None = None,
    ca_file: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Send with bounded retries (``settings.retries`` extra attempts, backoff doubling
    from ``retry_backoff_s``). Raises :class:`DeliveryError` when every attempt failed."""
    recipients = [a.addr_spec for a in _addresses(msg)]
    errors: list[str] = []
    attempts = 0
    for attempt in range(settings.retries + 1):
        attempts = attempt + 1
        try:
            send_once(settings, msg, env=env, ca_file=ca_file)
            log.info(
                "report mailed to %d recipient(s) via %s:%s (attempt %d)",
                len(recipients),
                settings.host,
                settings.effective_port,
                attempts,
            )
            return SendResult(recipients, attempts, str(msg["Message-ID"]), errors)
        except DeliveryError:
            raise
        except PERMANENT as exc:
            errors.append(_describe(exc))
            break
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(_describe(exc))
            if attempt < settings.retries:
                wait = settings.retry_backoff_s * (2**attempt)
                log.warning(
                    "mail to %s:%s failed (%s); retry %d/%d in %.1fs",
                    settings.host,
                    settings.effective_port,
                    errors[-1],
                    attempt + 1,
                    settings.retries,
                    wait,
                )
                sleep(wait)
    raise DeliveryError(
        f"could not send the report via {settings.host}:{settings.effective_port} "
        f"({settings.security}) after {attempts} attempt(s): {errors[-1] if errors else '?'}"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{type(exc).__name__} {exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}"


def _addresses(msg: EmailMessage) -> list[Address]:
    out: list[Address] = []
    for h in ("To", "Cc", "Bcc"):
        header: Any = msg.get(h)
        if header is not None and hasattr(header, "addresses"):
            out.extend(header.addresses)
    return out
