"""Entry point of the ``pmohub`` console script.

Thin by design: every command parses options, calls one library function and prints the
result. User mistakes (bad config, unknown source, unreachable database) end as a one-line
``error: ...`` on stderr with exit code 1 (2 for command-line usage); ``-v`` adds the
traceback.
"""

from __future__ import annotations

import click

from pmohub.cli import (
    check_cmd,
    db_cmd,
    demo_cmd,
    export_cmd,
    mail_cmd,
    notify_cmd,
    people_cmd,
    report_cmd,
    status_cmd,
    sync_cmd,
    worker_cmd,
)
from pmohub.cli.app import App, PmohubGroup
from pmohub.cli.logs import setup_logging


@click.group(cls=PmohubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pmohub", prog_name="pmohub")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $PMOHUB_CONFIG, else ./pmohub.yaml).",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv: debug).")
@click.option("--quiet", is_flag=True, help="Only errors on stderr; no progress bars.")
@click.option(
    "--wide",
    is_flag=True,
    help="Tables print every cell whole, even on a terminal (piped output always does).",
)
@click.pass_context
def main(
    ctx: click.Context, config_path: str | None, verbose: int, quiet: bool, wide: bool
) -> None:
    """pmohub: one truth for the PMO across Jira and every other tracker.

    Syncs trackers and plan spreadsheets into one SQL store, checks PMO rules and rolls
    up portfolio status. Data goes to stdout, logs and progress to stderr. The options
    below are accepted after the command too (pmohub status --config x.yaml -v).

    Example:

    \b
        pmohub demo                       # sample data end to end, no set-up
        pmohub init && pmohub sync        # your own config and sources
        pmohub --config /etc/pmohub.yaml runs --limit 5
        pmohub check --as-of 2026-11-21 --wide --config /etc/pmohub.yaml
    """
    setup_logging(verbose, quiet)
    ctx.obj = App(config_path=config_path, verbose=verbose, quiet=quiet, wide=wide)


for command in (
    sync_cmd.init,
    sync_cmd.sources,
    sync_cmd.sync,
    sync_cmd.runs,
    db_cmd.db,
    demo_cmd.demo,
    *check_cmd.COMMANDS,
    *report_cmd.COMMANDS,
    *status_cmd.COMMANDS,
    *people_cmd.COMMANDS,
    *worker_cmd.COMMANDS,
    *notify_cmd.COMMANDS,
    *export_cmd.COMMANDS,
    *mail_cmd.COMMANDS,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
