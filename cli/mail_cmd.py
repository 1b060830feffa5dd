"""``pmohub mail test``: check the configured SMTP delivery with a small message, before a
real report depends on it.

Its :data:`COMMANDS` are added to the main group by cli/main.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pmohub.cli.app import EXIT_FAILURE, App, fail, pass_app


@click.group()
def mail() -> None:
    """E-mail delivery (the `smtp:` section of the config).

    Example:

    \b
        pmohub mail test --to pmo@example.cn
    """


@mail.command("test")
@click.option(
    "--to",
    "recipients",
    multiple=True,
    help="Recipient (repeatable; default: every address in report.recipients).",
)
@click.option(
    "--dry-run",
    "dry_run",
    type=click.Path(dir_okay=False),
    help="Write the message to this .eml file instead of sending it.",
)
@pass_app
def mail_test(app: App, recipients: tuple[str, ...], dry_run: str | None) -> None:
    """Send a small test message through the configured SMTP server.

    Uses the same settings, TLS and retries as the report e-mail; exits 1 with the
    server's answer when it cannot be sent.

    Example:

    \b
        pmohub mail test --to pmo@example.cn
        pmohub mail test --dry-run /tmp/test.eml
    """
    from pmohub.aggregator.config.sections import report_settings, resolve_path, smtp_settings
    from pmohub.aggregator.report.delivery import (
        DRY_RUN_SENDER,
        DeliveryError,
        send_message,
        test_message,
        write_eml,
    )

    config = app.config()
    smtp = smtp_settings(config)
    if smtp is None and dry_run is None:
        fail(f"{config.path}: no `smtp:` section (host, port, security, from); see docs")
    to = list(recipients) or sorted(
        {a for addrs in report_settings(config).recipients.values() for a in addrs}
    )
    if not to:
        fail("no recipient: pass --to ADDRESS or set report.recipients in the config")
    via = f"{smtp.host}:{smtp.effective_port} ({smtp.security})" if smtp else "dry run"
    msg = test_message(smtp.sender if smtp else DRY_RUN_SENDER, to, via=via)
    if dry_run is not None:
        path = write_eml(msg, Path(dry_run))
        click.echo(f"dry run: wrote {path} (to {', '.join(to)}; not sent)", err=True)
        return
    assert smtp is not None
    ca = resolve_path(config, smtp.ca_file)
    try:
        result = send_message(smtp, msg, ca_file=str(ca) if ca else None)
    except DeliveryError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
    click.echo(
        f"sent a test message to {', '.join(result.recipients)} via {via} "
        f"(attempts: {result.attempts}, {result.message_id})",
        err=True,
    )


#: the commands this module adds to the ``pmohub`` group
COMMANDS: tuple[click.Command, ...] = (mail,)
