"""The digest as a Slack incoming-webhook message in Block Kit.

Slack's limits (https://api.slack.com/reference/block-kit/blocks): at most 50 blocks per
message, 3,000 characters per section text, 150 per header. A digest never exceeds them
and is never refused for its length: a part that does not fit is cut at a whole line and
ends in "… N more in the report"; blocks beyond the 49th are replaced by one such line.
Tracker text is escaped by :func:`aggregator.report.chat.escape.slack_text` and every
mrkdwn text sets ``verbatim: true`` (no auto-linking of URLs or ``@channel``).
"""

from __future__ import annotations

from typing import Any

from pmohub.aggregator.report.chat.digest import Digest, DigestLine, DigestPart
from pmohub.aggregator.report.chat.escape import slack_plain, slack_text

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
RAG_EMOJI = {
    "red": ":red_circle:",
    "amber": ":large_orange_circle:",
    "green": ":large_green_circle:",
    "ne": ":white_circle:",
}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def line_text(line: DigestLine) -> str:
    dot = f"{RAG_EMOJI.get(line.rag or '', RAG_EMOJI['ne'])} " if line.rag else "• "
    label = f"*{slack_text(line.label)}*" if line.label else ""
    detail = slack_text(line.text)
    return f"{dot}{label}{' — ' if label and detail else ''}{detail}"


def fit_lines(heading: str, lines: list[str], total: int, more_word: Any) -> str:
    """``heading`` and as many whole lines as fit in one section text, then the "more in
    the report" line for the rest (``more_word(n)`` says it in the digest's language)."""
    text = heading
    shown = 0
    for i, ln in enumerate(lines):
        rest = total - i - 1
        tail = f"\n{more_word(rest)}" if rest > 0 else ""
        candidate = f"{text}\n{cut(ln, MAX_SECTION_TEXT // 2)}"
        if len(candidate) + len(tail) > MAX_SECTION_TEXT:
            break
        text, shown = candidate, i + 1
    if total > shown:
        text += f"\n{more_word(total - shown)}"
    return text


def part_block(d: Digest, part: DigestPart) -> dict[str, Any]:
    heading = f"*{slack_text(part.title)}* ({part.total})"
    if not part.total:
        return {"type": "section", "text": mrkdwn(f"{heading}\n{d.word('none')}")}
    text = fit_lines(
        heading, [line_text(ln) for ln in part.lines], part.total, lambda n: d.word("more", n=n)
    )
    return {"type": "section", "text": mrkdwn(text)}


def link_block(d: Digest) -> dict[str, Any] | None:
    if d.report_url and d.report_url.startswith(("https://", "http://")):
        return {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": cut(d.word("open_report"), 75)},
                    "url": d.report_url,
                }
            ],
        }
    if d.report_hint:
        hint = f"{slack_text(d.word('report'))}: {slack_text(d.report_hint)}"
        return {"type": "context", "elements": [mrkdwn(hint)]}
    return None


def to_slack_payload(d: Digest) -> dict[str, Any]:
    """The incoming-webhook JSON body: ``text`` (the notification line) and ``blocks``."""
    overall = f"{RAG_EMOJI.get(d.overall_rag, RAG_EMOJI['ne'])} {slack_text(d.overall_label)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(slack_plain(d.title), 150)}},
        {
            "type": "context",
            "elements": [
                mrkdwn(f"{slack_text(d.as_of_text)} · {slack_text(d.word('overall'))}: {overall}")
            ],
        },
    ]
    if d.rag_lines:
        heading = f"*{slack_text(d.word('status'))}*"
        lines = [line_text(ln) for ln in d.rag_lines]
        text = fit_lines(heading, lines, len(lines), lambda n: d.word("more", n=n))
        blocks.append({"type": "section", "text": mrkdwn(text)})
    blocks.append({"type": "divider"})
    blocks.extend(part_block(d, p) for p in d.parts)
    link = link_block(d)
    if link is not None:
        blocks += [{"type": "divider"}, link]
    return {"text": f"{slack_plain(d.title)}: {d.overall_label}", "blocks": fit_blocks(d, blocks)}


def fit_blocks(d: Digest, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most :data:`MAX_BLOCKS`: the link block is kept, the rest cut with a note."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    link = blocks[-1] if blocks[-1]["type"] in ("actions", "context") else None
    keep = MAX_BLOCKS - 1 - (link is not None)
    dropped = len(blocks) - keep - (link is not None)
    out = blocks[:keep] + [{"type": "context", "elements": [mrkdwn(d.word("more", n=dropped))]}]
    return out + ([link] if link is not None else [])
