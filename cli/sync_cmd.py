"""``pmohub init``, ``sources``, ``sync`` and ``runs``: setting up, testing and running the
connectors, and the sync history."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pmohub.cli.app import EXIT_FAILURE, FORMAT_OPTION, App, emit, pass_app, without_prefix

# --------------------------------------------------------------------------- init


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option(
    "--example",
    is_flag=True,
    help="Write a complete working config for a sample plan (plans/example_plan.csv).",
)
@pass_app
def init(app: App, path: str | None, force: bool, example: bool) -> None:
    """Write a commented starter config and create (or migrate) its store.

    PATH defaults to --config, else ./pmohub.yaml. With --example, the config is a
    working one for a sample spreadsheet plan written beside it: sync, check and status
    run at once.

    Example:

    \b
        pmohub init                       # ./pmohub.yaml + ./pmohub.db
        pmohub init --example && pmohub sync && pmohub status
        pmohub init /srv/pmo/pmohub.yaml --force
    """
    from pmohub.aggregator.config.loader import load_config_file, write_starter_config

    target = Path(path or app.config_path or "pmohub.yaml")
    write_starter_config(target, force=force, example=example)
    cfg = load_config_file(target)
    app._config = cfg
    app.engine(cfg.database)
    click.echo(f"wrote {target}", err=True)
    if example:
        click.echo(f"wrote {target.parent / 'plans' / 'example_plan.csv'}", err=True)
    click.echo(f"store ready: {cfg.database_display}", err=True)
    if example:
        click.echo("next: `pmohub sync`, then `pmohub check` and `pmohub status`", err=True)
    else:
        click.echo("next: add your sources to the config, then `pmohub sources check`", err=True)


# --------------------------------------------------------------------------- sources


@click.group(invoke_without_command=True)
@FORMAT_OPTION
@click.pass_context
def sources(ctx: click.Context, fmt: str) -> None:
    """List the configured sources (subcommand `check` tests them).

    Example:

    \b
        pmohub sources
        pmohub sources --format json
        pmohub sources check jira_main
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = ctx.find_object(App).config()
    rows = [
        {
            "name": s.name,
            "type": s.type,
            "url": s.url or s.options.get("path"),
            "projects": list(s.projects),
            "token_env": s.token_env,
        }
        for s in cfg.sources.values()
    ]
    emit(rows, fmt, ["name", "type", "url", "projects", "token_env"])


@sources.command("check")
@click.argument("names", nargs=-1)
@FORMAT_OPTION
@pass_app
def sources_check(app: App, names: tuple[str, ...], fmt: str) -> None:
    """Test the connection of each source (all when no NAME is given).

    Exits 1 if any source fails.

    Example:

    \b
        pmohub sources check
        pmohub sources check jira_main ops_plan --format json
    """
    from pmohub.aggregator.ingest.connections import check_sources, select_sources

    cfg = app.config()
    results = check_sources(select_sources(cfg.sources, names))
    rows = [
        {
            "source": r.source,
            "type": r.type,
            "ok": r.ok,
            "seconds": round(r.seconds, 2),
            "detail": without_prefix(r.source, r.detail or "") or None,
        }
        for r in results
    ]
    emit(rows, fmt, ["source", "type", "ok", "seconds", "detail"])
    if any(not r.ok for r in results):
        sys.exit(EXIT_FAILURE)


# --------------------------------------------------------------------------- sync

SYNC_COLUMNS = [
    "source",
    "status",
    "mode",
    "fetched",
    "inserted",
    "updated",
    "deleted",
    "skipped",
    "seconds",
]


def sync_rows(results: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        seconds = None
        if r.started_at and r.finished_at:
            seconds = round((r.finished_at - r.started_at).total_seconds(), 2)
        rows.append(
            {
                "source": r.source,
                "run_id": r.run_id,
                "status": r.status,
                "mode": r.mode,
                "fetched": r.fetched,
                "inserted": r.inserted,
                "updated": r.updated,
                "deleted": r.deleted,
                "skipped": r.skipped,
                "seconds": seconds,
                "error": r.error,
                "problems": list(r.problems or ()),
                "cursor_before": r.cursor_before,
                "cursor_after": r.cursor_after,
            }
        )
    return rows


def print_problems(results: list[Any], limit: int = 20) -> None:
    from pmohub.connectors.base import WARNING_PREFIX

    for r in results:
        # one [source] per message: ConfigError(source=...) texts carry it already
        if r.error:
            click.echo(f"error: [{r.source}] {without_prefix(r.source, r.error)}", err=True)
        problems = [without_prefix(r.source, p) for p in r.problems or ()]
        for p in problems[:limit]:
            if p.startswith(WARNING_PREFIX):  # degraded or a stream refused; nothing skipped
                click.echo(f"warning: [{r.source}] {p[len(WARNING_PREFIX) :]}", err=True)
            else:
                click.echo(f"warning: [{r.source}] skipped: {p}", err=True)
        if len(problems) > limit:
            click.echo(
                f"warning: [{r.source}] ... and {len(problems) - limit} more problems "
                f"(see `pmohub runs --source {r.source} --format json`)",
                err=True,
            )


@click.command()
@click.argument("names", nargs=-1)
@click.option("--full", is_flag=True, help="Re-read everything instead of changes since last run.")
@click.option(
    "--accept-deletions",
    is_flag=True,
    help="Confirm deletions the circuit breaker held back (a run marked suspect).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1, max=16),
    help="Sources synced at the same time (default: sync.parallel in the config, else 4; "
    "1: one after another).",
)
@FORMAT_OPTION
@pass_app
def sync(
    app: App,
    names: tuple[str, ...],
    full: bool,
    accept_deletions: bool,
    parallel: int | None,
    fmt: str,
) -> None:
    """Sync sources into the store (all when no NAME is given).

    Incremental by default (changes since the last run, with a lookback window). One
    failing source never stops the others; the exit code is 1 if any failed.

    A census that lists no items, or would delete more than half of a source's live
    items (or more than its max_deletion_share, default 20%), deletes nothing: the run
    ends `suspect` naming the numbers (exit 1). If the items really are gone, confirm
    with --accept-deletions.

    Up to 4 sources (sync.parallel, --parallel) run at once, each with its own
    connection, rate limits, progress line and run row; the results are printed in
    config order whichever finishes first.

    Example:

    \b
        pmohub sync                       # every configured source
        pmohub sync jira_main --full      # one source, complete re-read
        pmohub sync jira_main --accept-deletions
        pmohub sync --parallel 1          # one source after the other
        pmohub --quiet sync --format json > last-sync.json
    """
    from pmohub.aggregator.config.syncing import sync_settings
    from pmohub.aggregator.ingest.connections import select_sources
    from pmohub.aggregator.ingest.parallel import sync_sources
    from pmohub.cli.progress import SyncProgress

    cfg = app.config()
    chosen = select_sources(cfg.sources, names)
    engine = app.engine()
    with SyncProgress(disable=app.quiet) as progress:
        results = sync_sources(
            engine,
            list(cfg.sources.values()),
            names=[s.name for s in chosen],
            parallel=parallel or sync_settings(cfg).parallel,
            full=full,
            progress=progress,
            accept_deletions=accept_deletions,
        )
    print_problems(results)
    if cfg.people:
        # config `people:` entries join accounts the sync may just have created
        from pmohub.aggregator.people import apply_config_people

        apply_config_people(engine, cfg.people)
    columns = SYNC_COLUMNS if fmt == "table" else None
    emit(sync_rows(results), fmt, columns)
    if any(r.status != "ok" for r in results):  # failed, suspect, or locked by another run
        sys.exit(EXIT_FAILURE)


# --------------------------------------------------------------------------- runs

RUN_TABLE_COLUMNS = [
    "id",
    "source",
    "mode",
    "status",
    "started_at",
    "fetched",
    "inserted",
    "updated",
    "deleted",
    "skipped",
    "warnings",
    "error",
]


@click.command()
@click.option("--source", help="Only runs of this source.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@FORMAT_OPTION
@pass_app
def runs(app: App, source: str | None, limit: int, fmt: str) -> None:
    """Sync history, newest first (one row per source per run).

    Example:

    \b
        pmohub runs
        pmohub runs --source jira_main --limit 5 --format json
    """
    from pmohub.aggregator.ingest.inventory import sync_run_rows

    rows = sync_run_rows(app.engine(), source=source, limit=limit)
    emit(rows, fmt, RUN_TABLE_COLUMNS if fmt == "table" else None)
