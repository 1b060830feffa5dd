"""Entry point of the ``pmohub`` console script."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="pmohub", prog_name="pmohub")
def main() -> None:
    """pmohub: one truth for the PMO across Jira and every other tracker."""
