"""``pmohub export``: the BI layer's views as Parquet or CSV files (docs/bi.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pmohub.cli.app import App, pass_app


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="File format (Parquet needs the bi extra: pip install 'pmohub[bi]').",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory."
)
@click.option("--as-of", "as_of", help="Leave out events after this day (default: everything).")
@pass_app
def export(app: App, fmt: str, out_dir: str, as_of: str | None) -> None:
    """Write every bi_v1_* view (facts and dimensions of the star schema) as one file
    each, plus manifest.json with row counts and column types. The same tables Power BI
    or Tableau read from the database (docs/bi.md).

    Example:

    \b
        pmohub export --out bi/                       # Parquet, UTC timestamps
        pmohub export --format csv --out bi-csv/ --as-of 2026-11-21
    """
    from pmohub.aggregator.bi.export import export_bi

    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise click.BadParameter(f"{as_of!r} is not a date (use YYYY-MM-DD)") from None
    config = app.config()
    written = export_bi(app.engine(), config, Path(out_dir), fmt=fmt, as_of=day)
    for path in written.values():
        click.echo(f"wrote {path}", err=True)


COMMANDS: tuple[click.Command, ...] = (export,)
