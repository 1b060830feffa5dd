"""``pmohub demo``: the whole nightly pipeline on bundled sample sources."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pmohub.cli.app import EXIT_FAILURE, App, current_width, pass_app
from pmohub.cli.logs import secret_filter
from pmohub.cli.output import render
from pmohub.cli.sync_cmd import SYNC_COLUMNS, print_problems, sync_rows

DEMO_REPORTS = ("report.html", "report.xlsx", "report.md")

# --------------------------------------------------------------------------- demo


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="pmohub-demo",
    show_default=True,
    help="Directory for the demo config, store and outputs.",
)
@pass_app
def demo(app: App, out_dir: str) -> None:
    """Run pmohub end to end on bundled sample data, no set-up needed.

    Starts local emulators of Jira (Cloud and Data Center), GitHub, GitLab, Trello and
    Azure Boards on 127.0.0.1, writes OUT/pmohub.yaml for them and the sample plans,
    syncs everything into OUT/pmohub.db, runs one nightly pass (check, snapshot, report)
    and prints the portfolio status. The demo data is a frozen world as of 2026-11-21:
    pass that date (--as-of 2026-11-21) to check/status/load/forecast/report on it.

    Example:

    \b
        pmohub demo
        pmohub demo --out /tmp/pmo-demo
        pmohub --config /tmp/pmo-demo/pmohub.yaml check --as-of 2026-11-21
    """
    from pmohub.aggregator.demo.run import as_of_text, run_demo
    from pmohub.cli.progress import SyncProgress

    with SyncProgress(disable=app.quiet) as progress:
        result = run_demo(
            Path(out_dir), progress=progress, say=lambda msg: click.echo(msg, err=True)
        )
    secret_filter().add(result.config.secret_values())
    click.echo(f"pmohub demo, {as_of_text(result.as_of)}")
    click.echo(f"demo config: {result.config.path}")
    click.echo(f"demo store:  {result.config.database_display}")
    click.echo("")
    click.echo("Loaded per source:")
    click.echo(render(result.counts, "table", width=current_width()))
    click.echo("")
    click.echo("Sync summary:")
    click.echo(render(sync_rows(result.sync_results), "table", SYNC_COLUMNS, width=current_width()))
    print_problems(result.sync_results, limit=5)
    if result.extras.get("status_rows"):
        click.echo("")
        click.echo(f"Portfolio status, {as_of_text(result.as_of)}:")
        click.echo(render(result.extras["status_rows"], "table", width=current_width()))
        click.echo("")
        click.echo(f"reports: {', '.join(str(result.out_dir / n) for n in DEMO_REPORTS)}")
    click.echo("")
    # The emulators are gone once the demo ends: the follow-ups read the store only, and
    # name the demo's date (the real today would make every item look overdue).
    day = result.as_of.isoformat()
    click.echo("next (the demo data is frozen: pass its date):")
    for cmd in ("runs", "check", "status", "load", "forecast"):
        cmd += "" if cmd == "runs" else f" --as-of {day}"
        click.echo(f"  pmohub --config {result.config.path} {cmd}")
    if not result.ok:
        sys.exit(EXIT_FAILURE)
