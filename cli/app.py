"""What every command imports: the per-invocation App (config and store, loaded lazily),
the error guard that turns expected errors into one line, exit codes, ``--format`` and
``emit``. Command modules import this; ``cli/main.py`` only assembles them.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pmohub.aggregator.config.loader import Config, ConfigFileError, load_config, redact_url
from pmohub.aggregator.ingest.connections import UnknownSourceError
from pmohub.cli.logs import secret_filter
from pmohub.cli.output import FORMATS, render
from pmohub.connectors.errors import PmohubError

log = logging.getLogger("pmohub.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_FINDINGS = 0, 1, 2, 3


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


def one_line_db_error(exc: SQLAlchemyError) -> str:
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
            fail(f"database{where}: {one_line_db_error(exc)}")
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
