"""Tracker text made inert for each chat format: a work item titled ``<!channel>`` or
``[click](https://evil)`` must reach the channel as those characters, never as a mention
or a link.

* Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping): ``&``, ``<``
  and ``>`` become ``&amp;``, ``&lt;``, ``&gt;``. Every control sequence (``<!channel>``,
  ``<!here>``, ``<@U123>``, ``<#C123>``, ``<url|text>``) starts with ``<``, so none survives.
  The blocks also set ``verbatim: true``, which stops Slack's own auto-linking of bare URLs
  and of ``@channel`` words.
* Adaptive Cards: tracker text goes only into ``TextRun`` elements of a ``RichTextBlock``,
  which render no markdown at all (a ``TextBlock`` would render ``**x**`` and ``[a](b)``).
  Teams mentions need an ``msteams.entities`` entry, which the card never has, so
  ``<at>x</at>`` stays text.
* Both: a bare URL gets a WORD JOINER (U+2060, invisible) after its scheme (``https:⁠//``) and
  ``@`` one before the word it starts, so no client-side auto-linking turns tracker text
  into a link or a mention either (a defence in depth: the rules above already suffice on
  the clients we know).
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}):(//)")
_AT = re.compile(r"@(?=\w)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def defang(text: str) -> str:
    """No auto-link, no @mention word; control characters (except tab, newline) dropped."""
    text = _CONTROL.sub("", text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}:{WORD_JOINER}{m.group(2)}", text)
    return _AT.sub("@" + WORD_JOINER, text)


def slack_text(text: object) -> str:
    """Tracker text for a Slack mrkdwn field: escaped and defanged."""
    s = defang("" if text is None else str(text))
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_plain(text: object) -> str:
    """Tracker text for a Slack ``plain_text`` field (no markup parsed; defanged only)."""
    return defang("" if text is None else str(text))


def teams_text(text: object) -> str:
    """Tracker text for an Adaptive Card ``TextRun`` (plain by definition; defanged)."""
    return defang("" if text is None else str(text))
