"""``pmohub status``, ``pmohub load``, ``pmohub forecast`` and ``pmohub trend``.

Its :data:`COMMANDS` are added to the main group by cli/main.py. Thin: the
numbers come from aggregator.status.rollup / load / forecast / snapshots; this module only picks
columns and formats them (tables fit 100 columns; JSON/CSV keep raw values).
"""

from __future__ import annotations

import datetime as dt
import math
from itertools import repeat
from typing import Any

import click

from pmohub.cli.app import FORMAT_OPTION, App, current_width, emit, fail, pass_app
from pmohub.cli.output import jsonable, render

RAG_TEXT = {"R": "RED", "A": "AMBER", "G": "GREEN", "NE": "N/E"}
LEVELS = ("portfolio", "programme", "project")
#: exact cell types _plain returns as they are (a Timestamp, a datetime, still goes through it)
AS_IS = frozenset({str, dt.date})


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _pct(v: Any) -> str:
    f = _num(v)
    return "" if f is None else f"{f * 100:.0f}%"


def _fix(v: Any, digits: int = 2) -> str:
    f = _num(v)
    return "" if f is None else f"{f:.{digits}f}"


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, list | tuple | dict):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is not None and type(v).__name__ in ("NaTType", "Timestamp"):
        return None if str(v) == "NaT" else v.date()
    return v


def _column_values(col: Any) -> list[Any]:
    """One column as plain Python values (:func:`_plain` per cell, by dtype in bulk)."""
    import numpy as np

    if isinstance(col.dtype, np.dtype):
        if col.dtype.kind in "iub":
            return col.tolist()
        if col.dtype.kind == "f":
            return [None if x != x else x for x in col.tolist()]
        if col.dtype.kind == "M":  # whole weeks: dates, NaT as None (NaT != NaT)
            return [d if d == d else None for d in col.dt.date.tolist()]
    # names, keys, statuses and dates need no conversion (160k cells each for 20,000
    # people; _plain per cell was a tenth of the output time)
    return [v if type(v) in AS_IS else _plain(v) for v in col.tolist()]


def _json_default(value: Any) -> Any:
    out = jsonable(value)
    if out is value:
        raise TypeError(f"not JSON: {type(value).__name__}")
    return out


def _write_json(doc: Any) -> None:
    """``doc`` as indented JSON on stdout, by orjson in one write: ``load`` for 20,000
    people is ~55 MB, and json.dumps(indent=2) plus click.echo were most of its 8.1 s.
    Dates are ISO dates as before; NaN is null (json.dumps wrote invalid NaN)."""
    import sys

    import orjson

    option = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    out = orjson.dumps(doc, default=_json_default, option=option) + b"\n"
    sys.stdout.flush()
    sys.stdout.buffer.write(out)
    sys.stdout.flush()


def _records(frame: Any, columns: list[str]) -> list[dict[str, Any]]:
    cols = [c for c in columns if c in frame.columns]
    values = [_column_values(frame[c]) for c in cols]
    # map over the rows (no Python frame per row): 160k rows at 20,000 people, ~30% faster
    return list(map(dict, map(zip, repeat(cols), zip(*values, strict=True))))


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


def _why(reasons: Any, limit: int = 3) -> str:
    return "; ".join(list(reasons or [])[:limit])


STATUS_JSON = {
    "project": [
        "project_key", "name", "programme", "portfolio", "rag", "rag_reasons", "rag_pm",
        "rag_pm_state", "rag_pm_reason", "rag_pm_expires_on", "rag_pm_source", "rag_schedule",
        "rag_cost", "rag_scope", "rag_risk", "rag_quality", "rag_resource", "items_total",
        "items_done", "progress_count", "progress_estimate", "estimate_coverage",
        "estimate_unit", "evm_unit", "bac", "pv", "ev", "ac_h", "spi", "spi_t", "es_wd", "at_wd",
        "cpi", "eac", "tcpi", "scope_growth", "hpp", "throughput_90d", "cycle_p50_wd",
        "cycle_p85_wd", "lead_p50_wd", "lead_p85_wd", "wip", "wip_age_p85_wd", "reopen_rate",
        "milestones_due", "milestones_met", "milestone_hit_rate", "milestones_slipped",
        "milestone_slip_max_wd", "milestones_next30", "sprints_closed", "velocity", "say_do",
        "open_risks", "high_risks",
        "risk_exposure", "compliance", "waived_rules", "baseline_end", "flow_as_of",
    ],
    "programme": [
        "portfolio", "programme", "projects", "rag", "rag_score", "rag_reasons", "red", "amber",
        "green", "not_evaluable", "items_total", "items_done", "progress_count", "progress",
        "ev_h", "pv_h", "bac_h", "spi", "cpi", "throughput_90d", "cycle_p50_wd", "cycle_p85_wd",
        "wip", "high_risks", "risk_exposure", "milestones_due", "milestones_met",
        "milestone_hit_rate", "milestones_slipped", "milestones_next30", "compliance",
    ],
}  # fmt: skip
STATUS_JSON["portfolio"] = [c for c in STATUS_JSON["programme"] if c != "programme"]


def status_table(frame: Any, level: str) -> list[dict[str, Any]]:
    rows = []
    for r in frame.to_dict("records"):
        row: dict[str, Any] = {}
        if level == "project":
            row["project"] = r["project_key"]
            row["name"] = r.get("name") or ""
        else:
            row[level] = r.get(level) or "(direct)"
            row["proj"] = r.get("projects")
        row["RAG"] = RAG_TEXT.get(str(r.get("rag")), "N/E")
        if level == "project" and r.get("rag_pm_state") == "active":
            # docs/metrics.md 2.1: the PM's override is shown beside the computed colour.
            row["RAG"] += f" (PM {RAG_TEXT.get(str(r.get('rag_pm')), '?')})"
        row["done"] = _pct(r.get("progress_count"))
        if level == "project":
            cov = _num(r.get("estimate_coverage"))
            row["est"] = _pct(r.get("progress_estimate"))
            row["cov"] = "" if cov is None else f"{cov * 100:.0f}%"
            row["SPI(t)"] = _fix(r.get("spi_t"))
        else:
            row["est(h)"] = _pct(r.get("progress"))
            row["SPI"] = _fix(r.get("spi"))
        row["CPI"] = _fix(r.get("cpi"))
        row["TH90"] = _plain(r.get("throughput_90d"))
        row["CT85"] = _fix(r.get("cycle_p85_wd"), 0)
        row["risk"] = _plain(r.get("high_risks"))
        row["comp"] = _fix(r.get("compliance"), 0)
        row["why"] = _why(r.get("rag_reasons"))
        rows.append(row)
    return rows


def _team(util: Any) -> Any:
    """Team utilisation of the people shown: sums of logged hours and capacity per week."""
    from pmohub.rules.metrics import safe_ratio

    team = util.groupby("week_start", as_index=False)[["logged_h", "cap_h"]].sum()
    team["utilisation"] = safe_ratio(team["logged_h"], team["cap_h"])
    return team


@click.command()
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="project",
    show_default=True,
    help="Roll-up level to show.",
)
@click.option("--as-of", "as_of", help="Status as of this date (snapshot or history).")
@FORMAT_OPTION
@pass_app
def status(app: App, level: str, as_of: str | None, fmt: str) -> None:
    """Portfolio status: progress, SPI(t), CPI, flow, risks, compliance and an
    explained RAG (every colour says why), per project, programme or portfolio.

    Today's status is the nightly's result while the store, the config and
    pmohub are unchanged since it was computed (instant), else computed now. A
    past --as-of answers from that day's snapshots when every project has one,
    else from the status history; either way under today's hierarchy (a project
    moved since is shown where it is now). A snapshot keeps that day's figures
    and RAG, computed under that day's policy: the footer (on stderr; with
    --format json also each row's "basis") says which was used and lists the
    projects moved since.

    Example:

    \b
        pmohub status
        pmohub status --level portfolio
        pmohub status --level programme --as-of 2026-05-08 --format json
    """
    from pmohub.aggregator.status.snapshots import status_of_day

    config = app.config()
    today = _today(config)
    day = _as_date(as_of) or today
    if day > today:
        fail(f"--as-of {day} is in the future (today is {today})", 2)
    report, basis = status_of_day(app.engine(), config, day, today)
    if basis is not None:
        click.echo(f"status as of {day} (from {basis.how})", err=True)
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    for n in report.notes:
        click.echo(f"note: {n}", err=True)
    frame = report.level(level)
    if fmt == "table":
        emit(status_table(frame, level), fmt)
    else:
        rows = _records(frame, STATUS_JSON[level])
        if basis is not None and fmt == "json":
            # The output stays an array of rows (every existing field as it was): the
            # basis of the whole answer rides on each row rather than wrapping them.
            doc = basis.to_dict()
            rows = [{**r, "basis": doc} for r in rows]
        emit(rows, fmt)
    if basis is not None:
        # The footer, on stderr like the notes above: stdout stays the rows alone (a
        # table piped on, JSON or CSV parsed), the terminal shows it under the table.
        for line in [basis.sentence(), *basis.change_lines()]:
            click.echo(line, err=True)


def _load_json(day: dt.date, w: Any, conflicts: Any, unscheduled: Any, rep: Any) -> dict[str, Any]:
    """The ``load --format json`` document for the selected people."""
    import pandas as pd

    people = set(w["person_id"])
    iso_c = pd.to_datetime(conflicts["week_start"]).dt.isocalendar()
    conflicts = conflicts.assign(
        iso=iso_c["year"].astype(str) + "-W" + iso_c["week"].astype(str).str.zfill(2)
    )
    doc = {
        "as_of": day,
        "weeks": _records(
            w,
            [
                "person_id",
                "name",
                "iso",
                "week_start",
                "workdays",
                "cap_h",
                "demand_h",
                "load",
                "over",
                "status",
            ],
        ),  # fmt: skip
        "conflicts": _records(
            conflicts, ["person_id", "name", "iso", "load", "projects", "recommendation"]
        ),
        "unscheduled": _records(
            unscheduled, ["person_id", "name", "project_key", "key", "rem_h", "assumed"]
        ),
        # Logged hours ÷ capacity over the last complete weeks (docs/metrics.md 2.3).
        "utilisation": _records(
            rep.utilisation[rep.utilisation["person_id"].isin(people)],
            ["person_id", "name", "week_start", "logged_h", "cap_h", "utilisation"],
        ),
        "team_utilisation": _records(
            _team(rep.utilisation[rep.utilisation["person_id"].isin(people)]),
            ["week_start", "logged_h", "cap_h", "utilisation"],
        ),
    }
    return doc


def _print_load_table(w: Any, conflicts: Any, unscheduled: Any, rep: Any) -> None:
    """``load`` as a table: one row per person, conflicts, unscheduled work, utilisation."""
    import pandas as pd

    people = set(w["person_id"])
    order = {"red": 0, "amber": 1, "idle": 3, "ok": 2}
    rows = []
    week_names = list(dict.fromkeys(w.sort_values("week")["iso"]))
    # in the report's order (by name, then anchor account: aggregator.status.load.listed)
    for pid, g in w.groupby("person_id", sort=False):
        row: dict[str, Any] = {"person": g["name"].iloc[0] or f"#{pid}"}
        for wk, ld, cap, dem in zip(g["iso"], g["load"], g["cap_h"], g["demand_h"], strict=True):
            label = wk.split("-")[1]
            row[label] = "cap 0!" if cap <= 0 and dem > 0 else _pct(ld) if ld == ld else "-"
        worst = min(g["status"], key=lambda s: order.get(s, 9))
        row["status"] = worst
        rows.append(row)
    cols = ["person", *[wk.split("-")[1] for wk in week_names], "status"]
    emit(rows, "table", cols)
    if len(conflicts):
        click.echo("\nConflicts (fill by priority_rank, then due):")
        crow = [
            {
                "person": c["name"],
                "week": pd.Timestamp(c["week_start"]).strftime("%G-W%V"),
                "load": _pct(c["load"]),
                "projects": c["projects"],
                "recommendation": c["recommendation"],
            }
            for c in conflicts.to_dict("records")
        ]
        click.echo(render(crow, "table", width=current_width()))
    if len(unscheduled):
        click.echo(
            f"\n{len(unscheduled)} open assigned item(s) without dates are unscheduled "
            f"({unscheduled['rem_h'].sum():.0f} h, not loaded; see --format json)."
        )
    team = _team(rep.utilisation[rep.utilisation["person_id"].isin(people)])
    if len(team) and team["cap_h"].sum() > 0:
        weeks_txt = ", ".join(
            f"{pd.Timestamp(r.week_start).strftime('%G-W%V')} {_pct(r.utilisation) or 'N/E'}"
            f" ({r.logged_h:.0f}/{r.cap_h:.0f} h)"
            for r in team.itertuples(index=False)
        )
        click.echo(f"\nUtilisation (logged / capacity, team): {weeks_txt}")


@click.command()
@click.option("--weeks", type=click.IntRange(1, 26), default=8, show_default=True)
@click.option("--person", help="Only people whose name or id contains this text.")
@click.option(
    "--over",
    type=float,
    help="Only people loaded at or above this ratio in some week (e.g. 1.1).",
)
@click.option("--as-of", "as_of", help="Plan from this date (default: today).")
@FORMAT_OPTION
@pass_app
def load(
    app: App,
    weeks: int,
    person: str | None,
    over: float | None,
    as_of: str | None,
    fmt: str,
) -> None:
    """Resource load per person per week across all projects and trackers, with
    cross-project conflicts and which project's hours to move.

    Example:

    \b
        pmohub load
        pmohub load --weeks 4 --over 1.1
        pmohub load --person 张伟 --format json
    """
    import pandas as pd

    from pmohub.aggregator.status.load import person_load

    config = app.config()
    day = _as_date(as_of) or _today(config)
    rep = person_load(app.engine(), config, day, weeks=weeks)
    for warning in rep.warnings:
        click.echo(f"warning: {warning}", err=True)
    w = rep.weeks
    iso = pd.to_datetime(w["week_start"]).dt.isocalendar()
    w = w.assign(iso=iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2))
    keep = pd.Series(True, index=w.index)
    if person:
        text = w["name"].astype(str) + " " + w["person_id"].astype(str)
        keep &= text.str.contains(person, case=False, regex=False)
    if over is not None:
        hot = w.loc[w["load"] >= over, "person_id"].unique()
        keep &= w["person_id"].isin(hot)
    w = w[keep]
    people = set(w["person_id"])
    conflicts = rep.conflicts[rep.conflicts["person_id"].isin(people)]
    unscheduled = rep.unscheduled[rep.unscheduled["person_id"].isin(people)]
    if fmt == "json":
        doc = _load_json(day, w, conflicts, unscheduled, rep)
        _write_json(doc)
        return
    if fmt == "csv":
        emit(
            _records(
                w,
                ["person_id", "name", "iso", "cap_h", "demand_h", "load", "over", "status"],
            ),
            fmt,
        )
        return
    _print_load_table(w, conflicts, unscheduled, rep)


@click.command()
@click.argument("project", required=False)
@click.option("--as-of", "as_of", help="Forecast from this date (default: today).")
@click.option("--trials", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True)
@FORMAT_OPTION
@pass_app
def forecast(app: App, project: str | None, as_of: str | None, trials: int, fmt: str) -> None:
    """Monte Carlo completion forecast on each project's throughput (seeded: the same
    data and date give the same dates): P50/P85/P95 and P(done by baseline end).

    Example:

    \b
        pmohub forecast
        pmohub forecast CRM-APP --format json
    """
    from pmohub.aggregator.status.forecast import project_forecasts

    config = app.config()
    day = _as_date(as_of) or _today(config)
    frame = project_forecasts(app.engine(), config, day, project=project, trials=trials)
    if fmt != "table":
        emit(
            _records(
                frame,
                [
                    "project_key",
                    "remaining",
                    "completions",
                    "history_wd",
                    "mean_th",
                    "method",
                    "low_confidence",
                    "basis",
                    "trials",
                    "p50",
                    "p85",
                    "p95",
                    "p50_wd",
                    "p85_wd",
                    "p95_wd",
                    "baseline_end",
                    "p_on_time",
                ],
            ),  # fmt: skip
            fmt,
        )
        return

    def when(r: dict[str, Any], p: int) -> Any:
        # No completion yet means no throughput to project: say so, never "> 2 years".
        if r[f"p{p}"]:
            return r[f"p{p}"]
        return "no history yet" if r.get("basis") == "no_history" else "> 2 years"

    notes = {
        "no_history": "no history yet: no item finished in the sample",
        "mean": "low confidence: remaining / mean TH",
        "nothing_open": "nothing open",
    }
    rows = [
        {
            "project": r["project_key"],
            "open": r["remaining"],
            "TH/day": _fix(r["mean_th"]),
            "P50": when(r, 50),
            "P85": when(r, 85),
            "P95": when(r, 95),
            "baseline end": r["baseline_end"] or "",
            "on time": _pct(r["p_on_time"]),
            "note": notes.get(str(r.get("basis")), ""),
        }
        for r in frame.to_dict("records")
    ]
    emit(rows, fmt)


@click.command()
@click.option("--weeks", type=click.IntRange(1, 104), default=12, show_default=True)
@click.option("--as-of", "as_of", help="Last week shown (default: today).")
@FORMAT_OPTION
@pass_app
def trend(app: App, weeks: int, as_of: str | None, fmt: str) -> None:
    """Week-over-week trend per project from the daily snapshots (written by
    `pmohub nightly`): RAG changes, progress and compliance deltas.

    Example:

    \b
        pmohub trend
        pmohub trend --weeks 4 --format csv
    """
    from pmohub.aggregator.status.snapshots import trend as trend_frame

    config = app.config()
    day = _as_date(as_of) or _today(config)
    frame = trend_frame(app.engine(), day, weeks)
    if frame.empty:
        click.echo("no snapshots yet: `pmohub nightly` writes one per project per day", err=True)
    if fmt != "table":
        emit(_records(frame, list(frame.columns)), fmt)
        return
    rows = []
    for r in frame.to_dict("records"):
        before = r.get("rag_before")
        rag = RAG_TEXT.get(str(r.get("rag")), "N/E")
        change = (
            f"{RAG_TEXT.get(str(before), 'N/E')} -> {rag}"
            if isinstance(before, str) and before != r.get("rag")
            else rag
        )
        dp = _num(r.get("progress_delta"))
        dc = _num(r.get("compliance_delta"))
        rows.append(
            {
                "project": r["project_key"],
                "week": r["week"],
                "RAG": change,
                "done": _pct(r.get("progress_count")),
                "Δdone": "" if dp is None else f"{dp * 100:+.0f} pp",
                "compliance": _fix(r.get("compliance"), 0),
                "Δcomp": "" if dc is None else f"{dc:+.0f}",
            }
        )
    emit(rows, fmt)


#: the commands this module adds to the ``pmohub`` group
COMMANDS: tuple[click.Command, ...] = (status, load, forecast, trend)
