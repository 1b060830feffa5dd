"""Entry point of the ``pmohub`` console script.

Thin by design: every command parses options, calls one library function and prints the
result. User mistakes (bad config, unknown source, unreachable database) end as a one-line
``error: ...`` on stderr with exit code 1 (2 for command-line usage); ``-v`` adds the
traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pmohub.aggregator.config.loader import Config, ConfigFileError, load_config, redact_url
from pmohub.aggregator.ingest.connections import UnknownSourceError
from pmohub.cli.logs import secret_filter, setup_logging
from pmohub.cli.output import FORMATS, render
from pmohub.connectors.errors import PmohubError

log = logging.getLogger("pmohub.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_FINDINGS = 0, 1, 2, 3
DEMO_REPORTS = ("report.html", "report.xlsx", "report.md")


@dataclass
class App:
    """Per-invocation state: options of the group, the config and the store, loaded lazily."""

    config_path: str | None = None
    verbose: int = 0
    quiet: bool = False
    _config: Config | None = None
    _engines: dict[str, Engine] = field(default_factory=dict)

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            secret_filter().add(self._config.secret_values())
            log.info("config %s", self._config.path)
        return self._config

    def engine(self, url: str | None = None) -> Engine:
        from pmohub.aggregator.store.engine import open_store

        url = url or self.config().database
        if url not in self._engines:
            log.info("store %s", redact_url(url))
            self._engines[url] = open_store(url)
        return self._engines[url]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()


pass_app = click.make_pass_decorator(App)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _one_line_db_error(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return first


class PmohubGroup(click.Group):
    """Turns expected errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except UnknownSourceError as exc:
            self._report(ctx, exc)
            fail(str(exc), EXIT_USAGE)
        except ConfigFileError as exc:
            self._report(ctx, exc)
            fail(str(exc).replace("\n", "\nerror: "))
        except PmohubError as exc:
            self._report(ctx, exc)
            fail(str(exc))
        except SQLAlchemyError as exc:
            self._report(ctx, exc)
            app = ctx.find_object(App)
            where = ""
            if app is not None and app._config is not None:
                where = f" {app._config.database_display}"
            fail(f"database{where}: {_one_line_db_error(exc)}")
        finally:
            app = ctx.find_object(App)
            if app is not None:
                app.close()

    @staticmethod
    def _report(ctx: click.Context, exc: BaseException) -> None:
        app = ctx.find_object(App)
        if app is not None and app.verbose:
            from pmohub.connectors.http import redact

            tb = "".join(traceback.format_exception(exc))
            click.echo(redact(tb, secret_filter().secrets), err=True)


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format for data on stdout.",
)


def emit(rows: list[dict[str, Any]], fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "table" and not rows:
        click.echo("(none)", err=True)
        return
    click.echo(render(rows, fmt, columns))


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
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """pmohub: one truth for the PMO across Jira and every other tracker.

    Syncs trackers and plan spreadsheets into one SQL store, checks PMO rules and rolls
    up portfolio status. Data goes to stdout, logs and progress to stderr.

    Example:

    \b
        pmohub demo                       # sample data end to end, no set-up
        pmohub init && pmohub sync        # your own config and sources
        pmohub --config /etc/pmohub.yaml runs --limit 5
    """
    setup_logging(verbose, quiet)
    ctx.obj = App(config_path=config_path, verbose=verbose, quiet=quiet)


# --------------------------------------------------------------------------- init


@main.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@pass_app
def init(app: App, path: str | None, force: bool) -> None:
    """Write a commented starter config and create (or migrate) its store.

    PATH defaults to --config, else ./pmohub.yaml.

    Example:

    \b
        pmohub init                       # ./pmohub.yaml + ./pmohub.db
        pmohub init /srv/pmo/pmohub.yaml --force
    """
    from pmohub.aggregator.config.loader import load_config_file, write_starter_config

    target = Path(path or app.config_path or "pmohub.yaml")
    write_starter_config(target, force=force)
    cfg = load_config_file(target)
    app._config = cfg
    app.engine(cfg.database)
    click.echo(f"wrote {target}", err=True)
    click.echo(f"store ready: {cfg.database_display}", err=True)
    click.echo("next: add your sources to the config, then `pmohub sources check`", err=True)


# --------------------------------------------------------------------------- sources


@main.group(invoke_without_command=True)
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
            "detail": r.detail,
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
    for r in results:
        if r.error:
            click.echo(f"error: [{r.source}] {r.error}", err=True)
        problems = list(r.problems or ())
        for p in problems[:limit]:
            click.echo(f"warning: [{r.source}] skipped: {p}", err=True)
        if len(problems) > limit:
            click.echo(
                f"warning: [{r.source}] ... and {len(problems) - limit} more skipped "
                f"(see `pmohub runs --source {r.source} --format json`)",
                err=True,
            )


@main.command()
@click.argument("names", nargs=-1)
@click.option("--full", is_flag=True, help="Re-read everything instead of changes since last run.")
@FORMAT_OPTION
@pass_app
def sync(app: App, names: tuple[str, ...], full: bool, fmt: str) -> None:
    """Sync sources into the store (all when no NAME is given).

    Incremental by default (changes since the last run, with a lookback window). One
    failing source never stops the others; the exit code is 1 if any failed.

    Example:

    \b
        pmohub sync                       # every configured source
        pmohub sync jira_main --full      # one source, complete re-read
        pmohub --quiet sync --format json > last-sync.json
    """
    from pmohub.aggregator.ingest.connections import select_sources
    from pmohub.aggregator.ingest.sync import sync_all
    from pmohub.cli.progress import SyncProgress

    cfg = app.config()
    chosen = select_sources(cfg.sources, names)
    engine = app.engine()
    with SyncProgress(disable=app.quiet) as progress:
        results = sync_all(
            engine,
            list(cfg.sources.values()),
            names=[s.name for s in chosen],
            full=full,
            progress=progress,
        )
    print_problems(results)
    if cfg.people:
        # config `people:` entries join accounts the sync may just have created
        from pmohub.aggregator.people import apply_config_people

        apply_config_people(engine, cfg.people)
    columns = SYNC_COLUMNS if fmt == "table" else None
    emit(sync_rows(results), fmt, columns)
    if any(r.status != "ok" for r in results):  # failed, or locked by another run
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
    "error",
]


@main.command()
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


# --------------------------------------------------------------------------- db


@main.group()
def db() -> None:
    """Store maintenance: schema migrations.

    Example:

    \b
        pmohub db upgrade
        pmohub db current
    """


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_app
def db_upgrade(app: App, revision: str) -> None:
    """Apply schema migrations to the configured store.

    Example:

    \b
        pmohub db upgrade
        pmohub --config prod.yaml db upgrade
    """
    from pmohub.aggregator.store.engine import create_store_engine, current_revision, upgrade

    cfg = app.config()
    engine = create_store_engine(cfg.database)
    try:
        before = current_revision(engine)
        upgrade(engine, revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"{cfg.database_display}: {before or '(empty)'} -> {after}")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Show the store's schema revision and the newest one this version ships.

    Example:

    \b
        pmohub db current
    """
    from pmohub.aggregator.store.engine import create_store_engine, current_revision, head_revision

    cfg = app.config()
    engine = create_store_engine(cfg.database)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    state = "up to date" if current == head else "needs `pmohub db upgrade`"
    click.echo(f"{cfg.database_display}: {current or '(empty)'} (head {head}, {state})")


# --------------------------------------------------------------------------- demo


@main.command()
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
    click.echo(render(result.counts, "table"))
    click.echo("")
    click.echo("Sync summary:")
    click.echo(render(sync_rows(result.sync_results), "table", SYNC_COLUMNS))
    print_problems(result.sync_results, limit=5)
    if result.extras.get("status_rows"):
        click.echo("")
        click.echo(f"Portfolio status, {as_of_text(result.as_of)}:")
        click.echo(render(result.extras["status_rows"], "table"))
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


# check / rules / waivers / baseline live in their own module (issue 4).
from pmohub.cli.check_cmd import register as _register_check_commands  # noqa: E402

_register_check_commands(main)

# report / nightly / schedule live in their own module (issue 6).
from pmohub.cli.report_cmd import register as _register_report_commands  # noqa: E402

_register_report_commands(main)

# status / load / forecast / trend live in their own module (issue 5).
from pmohub.cli.status_cmd import register as _register_status_commands  # noqa: E402

_register_status_commands(main)

# people / people link live in their own module (issue 7).
from pmohub.cli.people_cmd import register as _register_people_commands  # noqa: E402

_register_people_commands(main)


if __name__ == "__main__":  # pragma: no cover
    main()
