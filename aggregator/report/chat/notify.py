"""The ``notify`` section applied to a report: which language, which channels, where the
payloads go. Used by the nightly ``notify`` step and by ``pmohub notify``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from pmohub.aggregator.config.notify import CHANNELS, NotifySettings, notify_settings
from pmohub.aggregator.config.sections import report_language
from pmohub.aggregator.report.chat.deliver import PACER, Delivery, Pacer, deliver_payloads
from pmohub.aggregator.report.chat.digest import Digest, to_digest
from pmohub.aggregator.report.chat.slack import to_slack_payload
from pmohub.aggregator.report.chat.teams import to_teams_payload
from pmohub.aggregator.report.model import Report

RENDERERS: dict[str, Callable[[Digest], dict[str, Any]]] = {
    "slack": to_slack_payload,
    "teams": to_teams_payload,
}


def notify_language(config: Any, explicit: str | None = None) -> str:
    """``--lang`` > ``notify.language`` > the report's language."""
    if explicit:
        return explicit
    ns = notify_settings(config)
    if ns is not None and ns.language:
        return ns.language
    return report_language(config)


def report_digest(
    report: Report,
    config: Any,
    *,
    lang: str | None = None,
    report_hint: str | None = None,
) -> Digest:
    ns = notify_settings(config) or NotifySettings()
    return to_digest(
        report,
        notify_language(config, lang),
        report_url=ns.report_url,
        report_hint=report_hint,
        max_items=ns.max_items,
    )


def to_payloads(digest: Digest, channels: tuple[str, ...] = CHANNELS) -> dict[str, dict[str, Any]]:
    """channel -> the JSON body its webhook takes."""
    return {ch: RENDERERS[ch](digest) for ch in channels}


def write_payloads(payloads: Mapping[str, Mapping[str, Any]], out_dir: Path) -> dict[str, Path]:
    """``<channel>.json`` files (what would be posted), e.g. for the demo or a dry run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for channel, body in payloads.items():
        path = out_dir / f"notify-{channel}.json"
        path.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written[channel] = path
    return written


def send_notifications(
    report: Report,
    config: Any,
    *,
    env: Mapping[str, str],
    lang: str | None = None,
    report_hint: str | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    pacer: Pacer = PACER,
) -> list[Delivery]:
    """The digest of ``report`` posted to every webhook of the ``notify`` section (none: [])."""
    ns = notify_settings(config)
    if ns is None or not ns.webhooks:
        return []
    digest = report_digest(report, config, lang=lang, report_hint=report_hint)
    payloads = to_payloads(digest, tuple(h.channel for h in ns.webhooks))
    return deliver_payloads(payloads, ns, env, session=session, sleep=sleep, pacer=pacer)
