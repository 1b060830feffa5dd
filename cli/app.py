"""What every command imports: the per-invocation App (config and store, loaded lazily),
the error guard that turns expected errors into one line, exit codes, ``--format`` and
``emit``. Command modules import this; ``cli/main.py`` only assembles them.

Start-up cost: this module is imported by ``pmohub --help`` and every command's
``--help``, so it imports nothing heavy (no SQLAlchemy, config loader, pandas, requests):
those load inside the commands that use them. The error guard tells exception types
apart without importing their modules (an exception of a module never imported cannot
have been raised). tests/test_cli_startup.py holds this.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pmohub.cli.logs import secret_filter
from pmohub.cli.output import FORMATS, render, table_width
from pmohub.connectors.errors import PmohubError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.exc import SQLAlchemyError

    from pmohub.aggregator.config.loader import Config

log = logging.getLogger("pmohub.cli")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_FINDINGS = 0, 1, 2, 3


@dataclass
class App:
    """Per-invocation state: options of the group, the config and the store, loaded lazily."""

    config_path: str | None = None
    verbose: int = 0
    quiet: bool = False
    wide: bool = False  # tables print every cell whole, even on a terminal
    _config: Config | None = None
    _engines: dict[str, Engine] = field(default_factory=dict)

    def config(self) -> Config:
        if self._config is None:
            from pmohub.aggregator.config.loader import load_config

            self._config = load_config(self.config_path)
            secret_filter().add(self._config.secret_values())
            log.info("config %s", self._config.path)
        return self._config

    def engine(self, url: str | None = None) -> Engine:
        from pmohub.aggregator.config.loader import redact_url
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


def without_prefix(source: str, message: str) -> str:
    """``message`` without a leading ``[source]``: errors raised with ``source=`` carry it
    already, and the CLI prints its own, one prefix per message."""
    prefix = f"[{source}]"
    return message[len(prefix) :].lstrip() if message.startswith(prefix) else message


def _raised_from(exc: BaseException, module: str, name: str) -> bool:
    """``isinstance(exc, module.name)`` without importing ``module``: when it was never
    imported, nothing can have raised its exception."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(cls, type) and isinstance(exc, cls)


def one_line_db_error(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return first


class PmohubGroup(click.Group):
    """Turns expected errors into one clear line instead of a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if _raised_from(exc, "pmohub.aggregator.ingest.connections", "UnknownSourceError"):
                self._report(ctx, exc)
                fail(str(exc), EXIT_USAGE)
            if _raised_from(exc, "pmohub.aggregator.config.loader", "ConfigFileError"):
                self._report(ctx, exc)
                fail(str(exc).replace("\n", "\nerror: "))
            if isinstance(exc, PmohubError):
                self._report(ctx, exc)
                fail(str(exc))
            if _raised_from(exc, "sqlalchemy.exc", "SQLAlchemyError"):
                self._report(ctx, exc)
                app = ctx.find_object(App)
                where = ""
                if app is not None and app._config is not None:
                    where = f" {app._config.database_display}"
                fail(f"database{where}: {one_line_db_error(exc)}")  # type: ignore[arg-type]
            raise
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


#: The group's options, accepted after the subcommand too (``pmohub sync --config x``):
#: option -> whether it takes a value. No command defines an option of these names.
GLOBAL_OPTIONS = {"--config": True, "-v": False, "--verbose": False, "--quiet": False}
GLOBAL_FLAGS = {"--wide": False}


def _is_global(arg: str) -> bool:
    if arg in GLOBAL_OPTIONS or arg in GLOBAL_FLAGS or arg.startswith("--config="):
        return True
    return len(arg) > 2 and arg.startswith("-v") and set(arg[1:]) == {"v"}  # -vv, -vvv


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the group's options found after the subcommand in front of it, so
    ``pmohub status --config x -v`` means ``pmohub --config x -v status``. Stops at
    ``--`` (what follows is an argument)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    seen_command = False
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if not seen_command and not arg.startswith("-"):
            seen_command = True
            rest.append(arg)
        elif seen_command and _is_global(arg):
            takes_value = GLOBAL_OPTIONS.get(arg, False)
            front.extend(args[i : i + 1 + takes_value])
            i += takes_value
        elif not seen_command and arg == "--config":
            rest.extend(args[i : i + 2])  # the group parses it where it is
            i += 1
        else:
            rest.append(arg)
        i += 1
    if not front:
        return args
    # the group's own options before the command stay first, hoisted ones follow them
    head = 0
    while head < len(rest) and rest[head].startswith("-") and rest[head] != "--":
        head += 2 if rest[head] == "--config" else 1
    return [*rest[:head], *front, *rest[head:]]


def current_width() -> int | None:
    """The width tables of this invocation fit into (None: every cell whole)."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(App) if ctx is not None else None
    return table_width(wide=bool(app and app.wide))


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
    click.echo(render(rows, fmt, columns, width=current_width()))
