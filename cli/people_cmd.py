"""``pmohub people`` (who is who across sources) and ``pmohub people link``.

Its :data:`COMMANDS` are added to the main group by cli/main.py.
"""

from __future__ import annotations

from typing import Any

import click

from pmohub.cli.app import FORMAT_OPTION, App, emit, fail, pass_app

PEOPLE_COLUMNS = ["person_id", "name", "email", "sources", "accounts"]


def _table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **r,
            "accounts": ", ".join(
                f"{a['source']}:{a['external_id']}"
                + (f" ({a['linked_by']})" if a["linked_by"] not in ("sync",) else "")
                for a in r["accounts"]
            ),
        }
        for r in rows
    ]


@click.group(invoke_without_command=True)
@click.option("--source", help="Only people with an account in this source.")
@click.option("--multi", is_flag=True, help="Only people with accounts in several sources.")
@FORMAT_OPTION
@click.pass_context
def people(ctx: click.Context, source: str | None, multi: bool, fmt: str) -> None:
    """Who is who: each person once, with their account in every source.

    Accounts are merged by e-mail, by the config's `people:` entries (applied here and
    after every sync) and by `pmohub people link`. The marks show how an account was
    joined: (email), (config), (manual); unmarked accounts came with their person.
    Service and app accounts matching the config's `people_exclude` are left out.

    Example:

    \b
        pmohub people
        pmohub people --multi --format json
        pmohub people link jira_main:5b10ac8d82e05b22 redmine:12
    """
    if ctx.invoked_subcommand is not None:
        return
    from pmohub.aggregator.people import PeopleError, apply_config_people, people_rows

    app = ctx.find_object(App)
    engine = app.engine()
    try:
        for r in apply_config_people(engine, app.config().people):
            for ref in r.pending:
                click.echo(f"note: {ref} is not synced yet; linked after its sync", err=True)
    except PeopleError as exc:
        fail(f"{app.config().path}: {exc}")
    rows = people_rows(engine, source=source, exclude=app.config().people_exclude)
    if multi:
        rows = [r for r in rows if r["sources"] > 1]
    if fmt == "table":
        emit(_table_rows(rows), fmt, PEOPLE_COLUMNS)
    else:
        emit(rows, fmt, PEOPLE_COLUMNS if fmt == "csv" else None)


@people.command("link")
@click.argument("accounts", nargs=-1, required=True)
@pass_app
def people_link(app: App, accounts: tuple[str, ...]) -> None:
    """Make two or more accounts one person (kept across re-syncs).

    ACCOUNTS are SOURCE:ID, SOURCE being a configured source name (or its type when
    only one source has that type). `pmohub people` shows the ids.

    Example:

    \b
        pmohub people link jira_main:5b10ac8d82e05b22 redmine:12 ops_plan:张伟
    """
    from pmohub.aggregator.people import PeopleError, link_accounts

    try:
        result = link_accounts(app.engine(), list(accounts))
    except PeopleError as exc:
        fail(str(exc))
    click.echo(
        f"linked {len(accounts)} accounts as person {result.person_id}"
        + (f" (merged person {', '.join(map(str, result.merged))})" if result.merged else "")
    )


#: the commands this module adds to the ``pmohub`` group
COMMANDS: tuple[click.Command, ...] = (people,)
