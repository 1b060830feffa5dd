"""Build, write and mail a report: the one call behind ``pmohub report`` and the nightly
job. Files are always written before any mail is attempted, so a failed send never loses
the report."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pmohub.aggregator.config.sections import report_settings, smtp_settings
from pmohub.aggregator.report.build import build_report
from pmohub.aggregator.report.model import Report
from pmohub.aggregator.report.render import (
    render_html,
    render_markdown,
    render_xlsx,
    subject_line,
    write_report,
)

log = logging.getLogger("pmohub.report")


@dataclass
class PublishResult:
    report: Report
    files: dict[str, Path] = field(default_factory=dict)
    sent_to: list[str] = field(default_factory=list)
    message_id: str | None = None
    send_error: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.send_error is None


def report_basename(report: Report) -> str:
    scope = report.portfolio or "all"
    return f"pmohub-{report.kind}-{scope}-{report.as_of.isoformat()}"


def write_files(
    report: Report,
    formats: Sequence[str],
    lang: str,
    *,
    out: Path | None = None,
    out_dir: Path | None = None,
    basename: str | None = None,
) -> dict[str, Path]:
    """``out`` (one format) or ``out_dir`` / ``basename.<fmt>`` for each format."""
    files: dict[str, Path] = {}
    if out is not None and len(formats) == 1:
        files[formats[0]] = write_report(report, formats[0], out, lang)
        return files
    directory = out_dir or Path.cwd()
    base = basename or report_basename(report)
    for fmt in formats:
        files[fmt] = write_report(report, fmt, directory / f"{base}.{fmt}", lang)
    return files


def mail_report(
    report: Report,
    config: Any,
    lang: str,
    *,
    recipients: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
    dry_run_dir: Path | None = None,
) -> tuple[list[str], str]:
    """Send the report (HTML + text body, Excel attached); returns (recipients, Message-ID).
    With ``dry_run_dir`` the message is written there as ``<report basename>.eml`` instead
    (no server contacted; an ``smtp:`` section is then optional).
    Raises :class:`aggregator.report.delivery.DeliveryError`."""
    from pmohub.aggregator.config.sections import resolve_path
    from pmohub.aggregator.report.delivery import (
        DRY_RUN_SENDER,
        Attachment,
        DeliveryError,
        build_message,
        send_message,
        write_eml,
    )

    smtp = smtp_settings(config)
    if smtp is None and dry_run_dir is None:
        raise DeliveryError("--send needs an `smtp:` section in the config (host, port, security)")
    rs = report_settings(config)
    to = list(recipients or rs.recipients_for(report.portfolio))
    if not to:
        scope = report.portfolio or "all portfolios"
        raise DeliveryError(
            f"no recipients for {scope}: add report.recipients.{report.portfolio or '*'} "
            "to the config"
        )
    msg = build_message(
        sender=smtp.sender if smtp is not None else DRY_RUN_SENDER,
        recipients=to,
        subject=subject_line(report, lang, rs.subject_prefix),
        text=render_markdown(report, lang),
        html=render_html(report, lang),
        attachments=[Attachment(f"{report_basename(report)}.xlsx", render_xlsx(report, lang))],
    )
    if dry_run_dir is not None:
        write_eml(msg, dry_run_dir / f"{report_basename(report)}.eml")
        return to, str(msg["Message-ID"])
    assert smtp is not None  # checked above
    ca = resolve_path(config, smtp.ca_file)
    kwargs: dict[str, Any] = {"env": env, "ca_file": str(ca) if ca else None}
    if sleep is not None:
        kwargs["sleep"] = sleep
    result = send_message(smtp, msg, **kwargs)
    return result.recipients, result.message_id


def publish(
    engine: Engine,
    config: Any,
    *,
    as_of: dt.date,
    lang: str,
    portfolio: str | None = None,
    monthly: bool = False,
    formats: Sequence[str] = ("html",),
    out: Path | None = None,
    out_dir: Path | None = None,
    send: bool = False,
    dry_run: bool = False,
    check: Any = None,
    job_run_id: str | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> PublishResult:
    from pmohub.aggregator.report.delivery import DeliveryError

    report = build_report(
        engine,
        config,
        as_of=as_of,
        portfolio=portfolio,
        monthly=monthly,
        check=check,
        job_run_id=job_run_id,
    )
    result = PublishResult(report)
    result.files = write_files(report, formats, lang, out=out, out_dir=out_dir)
    for fmt, path in result.files.items():
        log.info("wrote %s report %s", fmt, path)
    if send or dry_run:
        # a dry run writes the message beside the report files instead of sending it
        eml_dir = next(iter(result.files.values())).parent if result.files else out_dir
        try:
            result.sent_to, result.message_id = mail_report(
                report,
                config,
                lang,
                env=env,
                sleep=sleep,
                dry_run_dir=(eml_dir or Path.cwd()) if dry_run else None,
            )
        except DeliveryError as exc:
            result.send_error = str(exc)
            log.error("%s", exc)
    return result
