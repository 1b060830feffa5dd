"""``pmohub check``, ``pmohub rules``, ``pmohub waivers`` and ``pmohub baseline take``.

Its :data:`COMMANDS` are added to the main group by cli/main.py.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from pmohub.cli.app import (
    EXIT_FINDINGS,
    FORMAT_OPTION,
    App,
    current_width,
    emit,
    fail,
    pass_app,
)
from pmohub.cli.output import FORMATS, render

CHECK_COLUMNS = ["rule", "severity", "state", "subject", "message", "value", "threshold"]
SEVERITIES = ("high", "medium", "low")
RANK = {"low": 1, "medium": 2, "high": 3}


def _today(config: Any) -> dt.date:
    # The CLI may read the clock; the rules never do (they get as_of).
    from pmohub.rules.clock import local_today

    return local_today(getattr(config, "timezone", None))


def _as_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from None


def _policy_errors(func: Any) -> Any:
    """PolicyError / CalendarError are the user's to fix: one line, exit 1."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        # imported per call, not at decoration: the rules pull pandas, which --help must not
        from pmohub.rules.calendar import CalendarError
        from pmohub.rules.policy import PolicyError

        try:
            return func(*args, **kwargs)
        except (PolicyError, CalendarError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    wrapped.__name__ = func.__name__
    wrapped.__doc__ = func.__doc__
    return wrapped


@click.command()
@click.option("--portfolio", help="Only projects of this portfolio.")
@click.option("--programme", help="Only projects of this programme.")
@click.option("--project", help="Only this project (hierarchy key).")
@click.option("--rule", "rule_ids", multiple=True, help="Only this rule id (repeatable).")
@click.option("--as-of", "as_of", help="Check as of this date (default: today, local).")
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    help="Exit 3 if an unwaived finding at or above this severity exists.",
)
@click.option("--include-ne", is_flag=True, help="Also list not-evaluable results.")
@click.option("--dry-run", is_flag=True, help="Do not update the findings table.")
@FORMAT_OPTION
@pass_app
@_policy_errors
def check(
    app: App,
    portfolio: str | None,
    programme: str | None,
    project: str | None,
    rule_ids: tuple[str, ...],
    as_of: str | None,
    fail_on: str | None,
    include_ne: bool,
    dry_run: bool,
    fmt: str,
) -> None:
    """Check the PMO rules and update the findings (new/persisting/resolved/waived).

    Exit codes: 0 ok, 1 failure, 3 a finding at or above --fail-on.

    Example:

    \b
        pmohub check
        pmohub check --project CRM-APP --fail-on high
        pmohub check --rule VAR-001 --as-of 2026-05-11 --format json
    """
    from pmohub.aggregator.compliance.frames import project_scope
    from pmohub.aggregator.compliance.run import run_checks
    from pmohub.rules.engine import load_rules

    config = app.config()
    known = load_rules()
    bad = [r for r in rule_ids if r not in known]
    if bad:
        import difflib

        close = difflib.get_close_matches(bad[0], list(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        fail(f"unknown rule {bad[0]!r}{hint} (see `pmohub rules`)", 2)
    scope = project_scope(config, portfolio=portfolio, programme=programme, project=project)
    if scope is not None and not scope:
        fail("no project matches --portfolio/--programme/--project in the hierarchy", 2)
    day = _as_date(as_of) or _today(config)
    result = run_checks(
        app.engine(),
        config,
        as_of=day,
        rule_ids=list(rule_ids) or None,
        projects=scope,
        write=not dry_run,
    )
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    out = result.outcomes
    shown = out[out["outcome"].isin(["finding", "ne"] if include_ne else ["finding"])]
    shown = shown.assign(rank=shown["severity"].map(RANK).fillna(0)).sort_values(
        ["rank", "rule_id", "subject"], ascending=[False, True, True]
    )
    rows = [
        {
            "rule": r.rule_id,
            "severity": r.severity if r.outcome == "finding" else "n/e",
            "state": r.state if r.outcome == "finding" else "",
            "subject": r.subject,
            "message": r.message if r.outcome == "finding" else r.reason,
            "value": None if r.value is None or r.value != r.value else round(float(r.value), 3),
            "threshold": r.threshold,
            "evidence": r.evidence if isinstance(r.evidence, dict) else {},
        }
        for r in shown.itertuples(index=False)
    ]
    columns = CHECK_COLUMNS + (["evidence"] if fmt != "table" else [])
    emit(rows, fmt, columns)
    counts = out["outcome"].value_counts().to_dict()
    click.echo(
        f"{day}: {counts.get('finding', 0)} findings, {counts.get('pass', 0)} passes, "
        f"{counts.get('ne', 0)} not evaluable across {out['rule_id'].nunique()} rules",
        err=True,
    )
    for e in result.errors:
        click.echo(f"error: rule failed: {e}", err=True)
    if fail_on:
        fails = out[(out["outcome"] == "finding") & ~out["waived"].astype(bool)]
        if (fails["severity"].map(RANK) >= RANK[fail_on]).any():
            sys.exit(EXIT_FINDINGS)
    if result.errors:
        sys.exit(1)


@click.command("rules")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([*FORMATS, "markdown"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def rules_cmd(fmt: str) -> None:
    """List the rule catalogue (from the code; markdown = docs/rules.md).

    Example:

    \b
        pmohub rules
        pmohub rules --format markdown > docs/rules.md
    """
    from pmohub.rules.engine import load_rules
    from pmohub.rules.reference import to_markdown

    catalogue = load_rules()
    if fmt == "markdown":
        click.echo(to_markdown(catalogue), nl=False)
        return
    if fmt == "json":
        import json

        click.echo(
            json.dumps([r.meta.to_dict() for r in catalogue.values()], ensure_ascii=False, indent=2)
        )
        return
    rows = [
        {
            "id": r.meta.id,
            "severity": r.meta.severity,
            "scope": r.meta.scope,
            "title": r.meta.title_en,
            "title_zh": r.meta.title_zh,
            "thresholds": ", ".join(f"{k}={v}" for k, v in r.meta.defaults.items()),
        }
        for r in catalogue.values()
    ]
    click.echo(render(rows, fmt, width=current_width()))


@click.command()
@click.option("--as-of", "as_of", help="Judge expiry as of this date (default: today).")
@FORMAT_OPTION
@pass_app
@_policy_errors
def waivers(app: App, as_of: str | None, fmt: str) -> None:
    """List the waivers of the policy file, active or expired.

    Example:

    \b
        pmohub waivers
        pmohub waivers --as-of 2026-10-01 --format json
    """
    from pmohub.aggregator.config.settings import config_policy
    from pmohub.rules.engine import load_rules

    config = app.config()
    policy = config_policy(config, load_rules())
    day = _as_date(as_of) or _today(config)
    rows = [
        {
            "rule": w.rule_id,
            "scope": w.scope,
            "status": "active" if w.active(day) else "EXPIRED",
            "expires": w.expires_on,
            "approved_by": w.approved_by,
            "reason": w.reason,
            "where": w.where,
        }
        for w in policy.waivers
    ]
    emit(rows, fmt, ["rule", "scope", "status", "expires", "approved_by", "reason", "where"])


@click.group()
def baseline() -> None:
    """Baselines (plan snapshots the variance and change rules compare against).

    Example:

    \b
        pmohub baseline take CRM-APP --label plan-approved
    """


@baseline.command("take")
@click.argument("project")
@click.option("--label", default="manual", show_default=True, help="plan-approved, CR-123...")
@click.option(
    "--from-plan",
    is_flag=True,
    help="Take the baseline the plan file keeps (MS Project Baseline 0), not current values.",
)
@pass_app
def baseline_take(app: App, project: str, label: str, from_plan: bool) -> None:
    """Snapshot PROJECT's current plan (estimates, start/due dates, versions, end).

    Example:

    \b
        pmohub baseline take CRM-APP
        pmohub baseline take CRM-APP --label CR-42
        pmohub baseline take DATA-PLAT --from-plan --label plan-approved
    """
    from pmohub.aggregator.compliance.baselines import import_plan_baselines, take_baseline

    take = import_plan_baselines if from_plan else take_baseline
    n = take(app.engine(), app.config(), project, label)
    click.echo(f"baseline {label!r} of {project}: {n} rows", err=True)


#: the commands this module adds to the ``pmohub`` group
COMMANDS: tuple[click.Command, ...] = (check, rules_cmd, waivers, baseline)
