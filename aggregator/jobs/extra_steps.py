"""The nightly steps added by issue 17, kept out of nightly.py so it stays a list of steps:
``bi`` (refresh the BI layer's materialised tables, docs/bi.md) and ``notify`` (post the
chat digest of the organisation-wide report, docs/notify.md).

Each returns ``(status, detail, error)``; :mod:`aggregator.jobs.nightly` wraps it in its
``StepResult`` (importing that here would tie the two modules in a circle).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine

from pmohub.aggregator.config.notify import notify_settings

Outcome = tuple[str, dict[str, Any], str | None]


def bi_outcome(engine: Engine, config: Any, as_of: dt.date) -> Outcome:
    from pmohub.aggregator.bi.refresh import refresh_bi_tables

    counts = refresh_bi_tables(engine, config, as_of=as_of)
    return "ok", counts, None


def notify_outcome(
    config: Any,
    reports: list[Any],
    files: Mapping[str, str],
    *,
    env: Mapping[str, str] | None,
    lang: str | None,
    sleep: Callable[[float], None] | None,
) -> Outcome:
    """Post the digest of the report covering every portfolio; a failed webhook fails the
    step (its own exit flag) and nothing else."""
    from pmohub.aggregator.report.chat.notify import send_notifications

    ns = notify_settings(config)
    if ns is None or not ns.webhooks:
        return "skipped", {"why": "no notify section"}, None
    report = next((r for r in reports if r.portfolio is None), None)
    if report is None:
        return "skipped", {"why": "no report"}, None
    hint = files.get("all.html") or next(iter(files.values()), None)
    kw: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    deliveries = send_notifications(
        report, config, env=os.environ if env is None else env, lang=lang, report_hint=hint, **kw
    )
    detail = {
        "deliveries": [
            {
                "channel": d.channel,
                "status": d.status,
                "attempts": d.attempts,
                "http": d.http_status,
            }
            for d in deliveries
        ]
    }
    failed = [d for d in deliveries if d.status != "ok"]
    if failed:
        return "failed", detail, "; ".join(f"{d.channel}: {d.error}" for d in failed)
    return "ok", detail, None
