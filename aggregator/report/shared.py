"""What several report sections share: cell values from pandas scalars (None for NaN/NaT,
rounded numbers, plain dates), the items of one kind, open findings of a rule family as
table rows, and people's display names (also for the subjects of people's findings)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from pmohub.aggregator.report.context import ReportContext
from pmohub.aggregator.report.model import Column
from pmohub.rules.builtin.resources import PERSON_PREFIX


def pct(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 4)


def num(v: Any, nd: int = 2) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else round(f, nd)


def as_date(v: Any) -> dt.date | None:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.date()
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return None


def as_datetime(v: Any) -> dt.datetime | None:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v
    return None


def as_text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    return str(v)


def kind_items(ctx: ReportContext, kind: str) -> pd.DataFrame:
    items = ctx.items()
    if "kind" not in items.columns:
        return items.iloc[0:0]
    return items[items["kind"] == kind]


def subject_namer(ctx: ReportContext) -> Any:
    """``(subject, project) -> text`` for a finding's subject column: a person's finding
    (``person:<SOURCE:ID>``, ``person:<SOURCE:ID>:<project>``) says the person's display
    name, as an account id means nothing to the reader (exports keep the subject); other
    subjects as they are."""
    people = ctx.frames.get("people")
    names: dict[str, str] = {}
    if people is not None and len(people) and "key" in people.columns:
        names = {
            PERSON_PREFIX + k: str(n)
            for k, n in zip(people["key"], people["display_name"], strict=True)
            if isinstance(k, str)
        }

    def text(subject: Any, project: Any) -> Any:
        if not isinstance(subject, str) or not subject.startswith(PERSON_PREFIX):
            return subject
        project = as_text(project)
        base = subject.removesuffix(f":{project}") if project else subject
        return names.get(base, names.get(subject, subject))

    return text


def findings_rows(ctx: ReportContext, prefixes: tuple[str, ...], *, open_only: bool = True):
    f = ctx.findings
    if f is None or f.empty:
        return []
    sel = f[f["rule_id"].str.startswith(prefixes)]
    if open_only:
        sel = sel[sel["state"].isin(["new", "persisting"])]
    subject = subject_namer(ctx)
    return [
        {
            "rule": r.rule_id,
            "severity": r.severity,
            "state": r.state,
            "project": as_text(r.project_key),  # a person's or source's finding has none
            "subject": subject(r.subject, r.project_key),
            "message": r.message,
            "first_seen": as_datetime(r.first_seen_at),
        }
        for r in sel.sort_values(["rule_id", "subject"]).itertuples(index=False)
    ]


FINDING_COLUMNS = [
    Column("rule", "col.rule"),
    Column("severity", "col.severity", "severity"),
    Column("state", "col.state", "state"),
    Column("project", "col.project"),
    Column("subject", "col.subject"),
    Column("message", "col.message"),
    Column("first_seen", "col.first_seen", "datetime"),
]


def person_names(ctx: ReportContext) -> dict[int, str]:
    people = ctx.frames.get("people")
    if people is None or people.empty:
        return {}
    return {int(i): str(n) for i, n in zip(people["id"], people["display_name"], strict=True)}
