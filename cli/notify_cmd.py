"""``pmohub notify``: the chat digest of today's report, to Slack and Teams (docs/notify.md)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import click

from pmohub.cli.app import EXIT_FAILURE, App, fail, pass_app


def _day(value: str | None, config: Any) -> dt.date:
    from pmohub.aggregator.jobs.nightly import local_today

    if value is None:
        return local_today(config)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from None


@click.command()
@click.option("--as-of", "as_of", help="Report date (default: today, local).")
@click.option(
    "--lang", type=click.Choice(["en", "zh"]), help="Language (default: notify.language)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write notify-slack.json / notify-teams.json here instead of posting them.",
)
@click.option("--portfolio", help="Only this portfolio (default: every portfolio).")
@pass_app
def notify(
    app: App, as_of: str | None, lang: str | None, out_dir: str | None, portfolio: str | None
) -> None:
    """Post the digest (RAG with reasons, new high findings, overdue milestones,
    over-allocated people, decisions needed, link to the report) to the webhooks of the
    config's `notify` section. The URLs come from the environment variables it names and
    are never printed. Exit 1 when a webhook refused the digest after retries.

    Example:

    \b
        export PMO_SLACK_URL=https://hooks.slack.com/services/...   # named by notify.slack
        pmohub notify --as-of 2026-11-21
        pmohub notify --lang en --out /tmp/digest     # only write the JSON bodies
    """
    from pmohub.aggregator.config.notify import CHANNELS, notify_settings
    from pmohub.aggregator.report.build import build_report
    from pmohub.aggregator.report.chat.notify import (
        report_digest,
        send_notifications,
        to_payloads,
        write_payloads,
    )

    config = app.config()
    day = _day(as_of, config)
    ns = notify_settings(config)
    if out_dir is None and (ns is None or not ns.webhooks):
        fail("no webhook configured: add a notify section (docs/notify.md) or pass --out DIR")
    rep = build_report(app.engine(), config, as_of=day, portfolio=portfolio)
    if out_dir is not None:
        channels = tuple(h.channel for h in ns.webhooks) if ns and ns.webhooks else CHANNELS
        payloads = to_payloads(report_digest(rep, config, lang=lang), channels)
        for path in write_payloads(payloads, Path(out_dir)).values():
            click.echo(f"wrote {path}", err=True)
        return
    deliveries = send_notifications(rep, config, env=os.environ, lang=lang)
    failed = False
    for d in deliveries:
        if d.status == "ok":
            click.echo(f"{d.channel}: delivered ({d.attempts} attempt(s))", err=True)
        else:
            failed = True
            click.echo(f"error: {d.channel}: {d.error}", err=True)
    if failed:
        sys.exit(EXIT_FAILURE)


COMMANDS: tuple[click.Command, ...] = (notify,)
