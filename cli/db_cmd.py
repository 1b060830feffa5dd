"""``pmohub db``: store schema migrations."""

from __future__ import annotations

import click

from pmohub.cli.app import App, pass_app

# --------------------------------------------------------------------------- db


@click.group()
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

    The upgrade runs in one transaction (SQLite included); a SQLite file is first backed
    up next to itself (<file>.backup-<revision>-<time>, mode 0600), and a store left
    half-migrated by an interrupted older version is repaired (the interrupted step's
    empty tables and columns dropped) before the upgrade runs again.

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
        notes = upgrade(engine, revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    for note in notes:  # repairs of a half-applied migration, the backup written
        click.echo(note, err=True)
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
