"""The digest as an Adaptive Card for a Microsoft Teams Workflows (Power Automate) webhook.

Teams retired the Office 365 connector webhooks; a Workflows webhook ("Post to a channel
when a webhook request is received") takes ``{"type": "message", "attachments": [...]}``
with one ``application/vnd.microsoft.card.adaptive`` attachment.

Schema version **1.4**: Teams renders up to 1.5, but 1.5 cards are refused by older Teams
and Outlook clients, and the digest needs nothing 1.5 added (Table, Action.Execute); 1.4
(RichTextBlock, Container styles, Action.OpenUrl) renders on every current client, mobile
included.

Tracker text only ever goes into ``TextRun`` elements, which render no markdown, so a
title cannot make a link or a mention (aggregator/report/chat/escape.py). Teams refuses a
message over about 28 KB: lines are dropped from the longest part ("… N more in the
report") until the JSON fits :data:`MAX_BYTES`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pmohub.aggregator.report.chat.digest import Digest, DigestLine, DigestPart
from pmohub.aggregator.report.chat.escape import teams_text

CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_BYTES = 27_000  # Teams' limit is ~28 KB for the whole message; keep a margin
RAG_COLOR = {"red": "attention", "amber": "warning", "green": "good", "ne": "default"}


def run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def rich(*inlines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(inlines), **extra}


def line_block(line: DigestLine) -> dict[str, Any]:
    inlines = []
    if line.rag:
        inlines.append(run("● ", color=RAG_COLOR.get(line.rag, "default"), weight="bolder"))
    else:
        inlines.append(run("• "))
    if line.label:
        inlines.append(run(teams_text(line.label), weight="bolder"))
    if line.text:
        inlines.append(run((" — " if line.label else "") + teams_text(line.text)))
    return rich(*inlines, spacing="small")


def part_container(d: Digest, part: DigestPart) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        rich(run(f"{part.title} ({part.total})", weight="bolder", size="medium"))
    ]
    if not part.total:
        items.append(rich(run(d.word("none"), isSubtle=True)))
    items += [line_block(ln) for ln in part.lines]
    if part.more:
        items.append(rich(run(d.word("more", n=part.more), isSubtle=True, italic=True)))
    return {"type": "Container", "separator": True, "spacing": "medium", "items": items}


def to_card(d: Digest) -> dict[str, Any]:
    rag = RAG_COLOR.get(d.overall_rag, "default")
    body: list[dict[str, Any]] = [
        rich(run(teams_text(d.title), size="large", weight="bolder")),
        rich(
            run(f"{teams_text(d.as_of_text)} · {d.word('overall')}: ", isSubtle=True),
            run(f"● {d.overall_label}", color=rag, weight="bolder"),
            spacing="none",
        ),
    ]
    if d.rag_lines:
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    rich(run(d.word("status"), weight="bolder", size="medium")),
                    *[line_block(ln) for ln in d.rag_lines],
                ],
            }
        )
    body += [part_container(d, p) for p in d.parts]
    card: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if d.report_url and d.report_url.startswith(("https://", "http://")):
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": d.word("open_report"), "url": d.report_url}
        ]
    elif d.report_hint:
        body.append(rich(run(f"{d.word('report')}: {teams_text(d.report_hint)}", isSubtle=True)))
    return card


def to_teams_payload(d: Digest) -> dict[str, Any]:
    """The Workflows webhook JSON body, cut to :data:`MAX_BYTES`."""
    while True:
        payload = {
            "type": "message",
            "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": to_card(d)}],
        }
        size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        longest = max(d.parts, key=lambda p: len(p.lines), default=None)
        if size <= MAX_BYTES or longest is None or not longest.lines:
            return payload
        # one line less in the longest part; its total stays, so "more" grows by one
        d = replace(
            d,
            parts=[replace(p, lines=p.lines[:-1]) if p is longest else p for p in d.parts],
        )
