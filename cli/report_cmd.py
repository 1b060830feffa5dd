"""``pmohub report``, ``pmohub nightly`` and ``pmohub schedule`` (registered on the main
group by :func:`register`, one line in cli/main.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from pmohub.cli.app import EXIT_FAILURE, App, pass_app

REPORT_FORMATS = ("html", "md", "xlsx", "json", "csv")
TEXT_FORMATS = ("md", "json", "csv")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, run_id, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": getattr(record, "run_id", None),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def configure_job_logging(json_lines: bool, quiet: bool) -> None:
    """Job logs carry the run id; INFO by default (a job's log is its audit trail)."""
    from pmohub.aggregator.jobs.nightly import RunIdFilter

    root = logging.getLogger()
    if not quiet and root.level > logging.INFO:
        root.setLevel(logging.INFO)
    for h in root.handlers:
        if not getattr(h, "_pmohub", False):
            continue
        if not any(isinstance(f, RunIdFilter) for f in h.filters):
            # before the redaction filter, so the run id is there when it formats
            h.filters.insert(0, RunIdFilter())
        h.setFormatter(
            JsonLinesFormatter()
            if json_lines
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(run_id)s]: %(message)s")
        )


def _as_of(value: str | None, config: Any) -> dt.date:
    from pmohub.aggregator.jobs.nightly import local_today

    if value is None:
        return local_today(config)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from None


@click.command()
@click.option("--portfolio", help="Only this portfolio (default: every portfolio).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="html",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    help="Output file (default: md/json/csv to stdout, html/xlsx to "
    "pmohub-<kind>-<scope>-<date>.<fmt> in report.out_dir or the current directory).",
)
@click.option("--send", is_flag=True, help="Also e-mail it (smtp + report.recipients).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write the e-mail as an .eml file beside the report instead of sending it.",
)
@click.option("--lang", type=click.Choice(["en", "zh"]), help="Language (default: config).")
@click.option("--monthly", is_flag=True, help="Monthly report with 3-month trends.")
@click.option("--as-of", "as_of", help="Report date (default: today, local).")
@pass_app
def report(
    app: App,
    portfolio: str | None,
    fmt: str,
    out: str | None,
    send: bool,
    dry_run: bool,
    lang: str | None,
    monthly: bool,
    as_of: str | None,
) -> None:
    """Build the weekly status and compliance report (or --monthly).

    Sections: docs/report.md, headings in English and Chinese. The file is always
    written before any e-mail is sent; a failed send (after retries) exits 1 and the
    report stays on disk. --dry-run builds the same message and writes it as
    <report>.eml beside the report instead of sending (no server needed).

    Example:

    \b
        pmohub report --format html --out weekly.html
        pmohub report --portfolio DIGI --format xlsx --lang zh --out digi.xlsx
        pmohub report --monthly --format md > monthly.md
        pmohub report --portfolio DIGI --send
        pmohub report --portfolio DIGI --format html --dry-run   # writes the .eml
    """
    from pmohub.aggregator.config.sections import (
        report_language,
        report_settings,
        resolve_path,
    )
    from pmohub.aggregator.report.publish import publish

    config = app.config()
    day = _as_of(as_of, config)
    language = report_language(config, lang)
    to_stdout = out is None and fmt in TEXT_FORMATS
    out_dir = resolve_path(config, report_settings(config).out_dir) or Path.cwd()
    if to_stdout:
        from pmohub.aggregator.report.build import build_report
        from pmohub.aggregator.report.render import render

        rep = build_report(app.engine(), config, as_of=day, portfolio=portfolio, monthly=monthly)
        sys.stdout.buffer.write(render(rep, fmt, language))
        sys.stdout.flush()
        if send or dry_run:
            from pmohub.aggregator.report.delivery import DeliveryError
            from pmohub.aggregator.report.publish import mail_report
            from pmohub.aggregator.report.publish import report_basename as basename

            try:
                eml_dir = out_dir if dry_run else None
                to, _ = mail_report(rep, config, language, dry_run_dir=eml_dir)
                if eml_dir is not None:
                    eml = eml_dir / f"{basename(rep)}.eml"
                    click.echo(f"dry run: wrote {eml} (to {', '.join(to)}; not sent)", err=True)
                else:
                    click.echo(f"sent to {', '.join(to)}", err=True)
            except DeliveryError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(EXIT_FAILURE)
        return
    result = publish(
        app.engine(),
        config,
        as_of=day,
        lang=language,
        portfolio=portfolio,
        monthly=monthly,
        formats=[fmt],
        out=Path(out) if out else None,
        out_dir=out_dir,
        send=send,
        dry_run=dry_run,
    )
    for path in result.files.values():
        click.echo(f"wrote {path}", err=True)
    if result.sent_to and dry_run:
        from pmohub.aggregator.report.publish import report_basename as basename

        eml = next(iter(result.files.values())).parent / f"{basename(result.report)}.eml"
        click.echo(f"dry run: wrote {eml} (to {', '.join(result.sent_to)}; not sent)", err=True)
    elif result.sent_to:
        click.echo(f"sent to {', '.join(result.sent_to)}", err=True)
    if result.send_error:
        click.echo(f"error: {result.send_error}", err=True)
        click.echo("the report was written to disk all the same", err=True)
        sys.exit(EXIT_FAILURE)


@click.command()
@click.option("--as-of", "as_of", help="As-of date (default: today, local).")
@click.option("--no-send", is_flag=True, help="Write the reports but do not e-mail them.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write the e-mail as an .eml file beside the report instead of sending it.",
)
@click.option("--out-dir", type=click.Path(file_okay=False), help="Report directory.")
@click.option("--lang", type=click.Choice(["en", "zh"]), help="Report language.")
@click.option("--log-json", is_flag=True, help="Logs as JSON lines (with run_id).")
@pass_app
def nightly(
    app: App,
    as_of: str | None,
    no_send: bool,
    dry_run: bool,
    out_dir: str | None,
    lang: str | None,
    log_json: bool,
) -> None:
    """One unattended pass: sync every source, check, snapshot, report, send.

    For cron or a Kubernetes CronJob. Prints the job result as JSON on stdout.
    Exit code 0 when everything worked, else the sum of: 1 not started (another pass
    running, store down), 4 sync, 8 check, 16 snapshot, 32 report, 64 send failed.

    A past --as-of (a missed night re-run later) never overwrites that day's
    stored snapshots: projects with a row that day keep it, the others get one
    from the store as it is now (the snapshot step's detail counts both).

    Example:

    \b
        pmohub nightly
        pmohub --config /etc/pmohub.yaml nightly --log-json 2>>/var/log/pmohub.jsonl
        pmohub nightly --no-send --out-dir ~/pmohub-reports   # a private directory
        pmohub nightly --dry-run          # the e-mails as .eml files beside the reports
    """
    from pmohub.aggregator.jobs.nightly import run_nightly

    configure_job_logging(log_json, app.quiet)
    config = app.config()
    result = run_nightly(
        config,
        engine=app.engine(),
        as_of=_as_of(as_of, config) if as_of else None,
        send=not no_send,
        dry_run=dry_run and not no_send,
        out_dir=Path(out_dir) if out_dir else None,
        lang=lang,
    )
    payload = {"run_id": result.run_id, "status": result.status, **result.detail()}
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    sys.exit(result.exit_code)


@click.command("schedule")
@click.option("--no-send", is_flag=True, help="Write the reports but do not e-mail them.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write the e-mail as an .eml file beside the report instead of sending it.",
)
@click.option("--log-json", is_flag=True, help="Logs as JSON lines (with run_id).")
@click.option(
    "--tick",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between checks for a due run.",
)
@pass_app
def schedule_cmd(app: App, no_send: bool, dry_run: bool, log_json: bool, tick: float) -> None:
    """Run the nightly job on the configured schedule until stopped (SIGTERM/Ctrl-C).

    Times come from the config (`schedule: {nightly: "02:00", timezone: ...}`). A
    failed run is logged and recorded and the loop goes on; runs never overlap (also
    across processes); a run missed while this was down is caught up on start, its
    reports written but mailed only with `schedule.catch_up_send: true`.

    Example:

    \b
        pmohub schedule
        pmohub --config /etc/pmohub.yaml schedule --log-json
    """
    from pmohub.aggregator.jobs.scheduler import Scheduler

    configure_job_logging(log_json, app.quiet)
    config = app.config()
    job_kwargs = {"send": not no_send, "dry_run": dry_run and not no_send}
    sched = Scheduler(config, app.engine(), tick_s=tick, job_kwargs=job_kwargs)
    sched.install_signal_handlers()
    sys.exit(sched.run())


#: the commands this module adds to the ``pmohub`` group
COMMANDS: tuple[click.Command, ...] = (report, nightly, schedule_cmd)
