"""``pmohub worker``: sync due sources of a PostgreSQL store beside any number of other
workers (aggregator/ingest/worker.py, docs/workers.md)."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import threading
from typing import Any

import click

from pmohub.cli.app import EXIT_FAILURE, FORMAT_OPTION, App, emit, fail, pass_app
from pmohub.cli.sync_cmd import SYNC_COLUMNS, print_problems, sync_rows


@click.command()
@click.argument("names", nargs=-1)
@click.option(
    "--once",
    is_flag=True,
    help="One round: sync what is due (taking over dead workers' sources), then exit "
    "(a Kubernetes CronJob). Without it: run until SIGTERM (a Deployment).",
)
@click.option(
    "--interval-minutes",
    type=click.FloatRange(min=0),
    help="A source is due this long after its last sync started (default: "
    "sync.interval_minutes, else 60).",
)
@click.option(
    "--claim-timeout",
    type=click.FloatRange(min=5),
    help="Seconds after which the claim of a worker whose host vanished expires "
    "(default: sync.claim_timeout_s, else 300).",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between looks for due sources when there is nothing to claim.",
)
@FORMAT_OPTION
@pass_app
def worker(
    app: App,
    names: tuple[str, ...],
    once: bool,
    interval_minutes: float | None,
    claim_timeout: float | None,
    poll: float,
    fmt: str,
) -> None:
    """Claim due sources from the PostgreSQL store and sync them, one at a time.

    Run as many workers on as many hosts as you like: each source is synced by one
    worker at a time, and a dead worker's source is taken over by the next one that
    looks (at once if its process died, within --claim-timeout if its host vanished).
    With --once the results are printed and the exit code is 1 if any sync failed.

    Example:

    \b
        pmohub worker                             # until SIGTERM, every source hourly
        pmohub worker --once --interval-minutes 50   # CronJob: one round
        pmohub worker --once jira_main gitlab --format json
    """
    from pmohub.aggregator.config.syncing import sync_settings
    from pmohub.aggregator.ingest.worker import run_worker
    from pmohub.cli.progress import SyncProgress
    from pmohub.connectors.errors import ConfigError

    cfg = app.config()
    settings = sync_settings(cfg)
    minutes = settings.interval_minutes if interval_minutes is None else interval_minutes
    stop = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        click.echo("stopping after the current sync (SIGTERM)", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    try:
        with SyncProgress(disable=app.quiet) as progress:
            report = run_worker(
                app.engine(),
                list(cfg.sources.values()),
                names=list(names) or None,
                once=once,
                interval=dt.timedelta(minutes=minutes),
                claim_timeout_s=claim_timeout or settings.claim_timeout_s,
                poll_s=poll,
                progress=progress,
                stop=stop,
            )
    except ConfigError as exc:
        fail(str(exc))
    print_problems(report.results)
    emit(sync_rows(report.results), fmt, SYNC_COLUMNS if fmt == "table" else None)
    if any(r.status != "ok" for r in report.results):
        sys.exit(EXIT_FAILURE)


COMMANDS = [worker]
