"""Preview the demo's chat digests as pictures (tooling for docs/, not product).

Renders the Block Kit body and the Adaptive Card that ``pmohub notify --out DIR`` writes
as HTML laid out like Slack's and Teams' message views (a small renderer of the elements
the digest uses: header, context, section mrkdwn, divider, actions; RichTextBlock,
TextRun, Container, Action.OpenUrl), then screenshots them with headless Chromium:

    python benchmarks/chat_preview.py /tmp/demo/notify docs/
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Slack draws these emoji; the machine has no colour-emoji font, so coloured dots stand in
EMOJI = {
    code: f"<span style='color:{color}'>●</span>"
    for code, color in (
        (":red_circle:", "#dd2e44"),
        (":large_orange_circle:", "#f4900c"),
        (":large_green_circle:", "#78b159"),
        (":white_circle:", "#ccd6dd"),
    )
}
FONT = "'Noto Sans CJK SC', 'Noto Sans', Lato, sans-serif"


def slack_mrkdwn(text: str) -> str:
    """Slack's display of (escaped, verbatim) mrkdwn: entities shown as characters."""
    out = html.escape(html.unescape(text), quote=False)
    out = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", out)
    for code, char in EMOJI.items():
        out = out.replace(code, char)
    return out.replace("\n", "<br>")


def slack_block(b: dict[str, Any]) -> str:
    t = b.get("type")
    if t == "header":
        return f"<div class='hdr'>{html.escape(b['text']['text'])}</div>"
    if t == "context":
        inner = " ".join(slack_mrkdwn(e.get("text", "")) for e in b["elements"])
        return f"<div class='ctx'>{inner}</div>"
    if t == "section":
        return f"<div class='sec'>{slack_mrkdwn(b['text']['text'])}</div>"
    if t == "divider":
        return "<hr>"
    if t == "actions":
        btn = "".join(f"<a class='btn'>{html.escape(e['text']['text'])}</a>" for e in b["elements"])
        return f"<div class='act'>{btn}</div>"
    return ""


def slack_html(payload: dict[str, Any]) -> str:
    blocks = "".join(slack_block(b) for b in payload["blocks"])
    return f"""<!doctype html><meta charset=utf-8><style>
body{{margin:0;background:#fff;font:15px/1.46 {FONT};color:#1d1c1d}}
.ch{{border-bottom:1px solid #ddd;padding:10px 20px;font-weight:700}}
.msg{{display:flex;padding:12px 20px}} .av{{width:36px;height:36px;border-radius:6px;
background:#4a154b;color:#fff;font-weight:700;display:flex;align-items:center;
justify-content:center;margin-right:10px;flex:none}}
.who b{{margin-right:6px}} .who span{{color:#616061;font-size:12px}}
.hdr{{font-size:18px;font-weight:900;margin:4px 0}} .ctx{{color:#616061;font-size:13px}}
.sec{{margin:6px 0}} hr{{border:0;border-top:1px solid #e8e8e8;margin:10px 0}}
.btn{{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:4px 12px;
font-weight:700;font-size:14px}}</style>
<div class=ch># pmo-status</div><div class=msg><div class=av>P</div><div>
<div class=who><b>pmohub</b><span>APP 07:30</span></div>{blocks}</div></div>"""


COLORS = {"attention": "#c4314b", "warning": "#c27d0e", "good": "#237b4b", "default": "#242424"}
SIZES = {"large": "20px", "medium": "16px", "default": "14px", "small": "12px"}


def teams_run(r: dict[str, Any]) -> str:
    style = [f"color:{COLORS.get(r.get('color', 'default'), '#242424')}"]
    if r.get("weight") == "bolder":
        style.append("font-weight:700")
    if r.get("isSubtle"):
        style.append("opacity:.7")
    if r.get("italic"):
        style.append("font-style:italic")
    style.append(f"font-size:{SIZES.get(r.get('size', 'default'), '14px')}")
    return f"<span style='{';'.join(style)}'>{html.escape(r['text'])}</span>"


def teams_element(e: dict[str, Any]) -> str:
    if e["type"] == "RichTextBlock":
        return f"<div class=rtb>{''.join(teams_run(r) for r in e['inlines'])}</div>"
    if e["type"] == "Container":
        cls = "cont sep" if e.get("separator") else "cont"
        return f"<div class='{cls}'>{''.join(teams_element(i) for i in e['items'])}</div>"
    return ""


def teams_html(payload: dict[str, Any]) -> str:
    card = payload["attachments"][0]["content"]
    body = "".join(teams_element(e) for e in card["body"])
    acts = "".join(f"<a class=btn>{html.escape(a['title'])}</a>" for a in card.get("actions", []))
    return f"""<!doctype html><meta charset=utf-8><style>
body{{margin:0;background:#f5f5f5;font:14px/1.45 {FONT};color:#242424}}
.ch{{background:#fff;border-bottom:1px solid #e0e0e0;padding:10px 20px;font-weight:700}}
.post{{margin:16px 20px;background:#fff;border-radius:6px;box-shadow:0 1px 2px #0002;padding:12px 16px}}
.who{{font-size:12px;color:#616161;margin-bottom:8px}} .who b{{color:#242424}}
.card{{border:1px solid #e0e0e0;border-radius:4px;padding:14px}}
.rtb{{margin:3px 0}} .cont{{margin-top:10px}} .sep{{border-top:1px solid #e6e6e6;padding-top:8px}}
.btn{{display:inline-block;margin-top:12px;border:1px solid #d1d1d1;border-radius:4px;
padding:5px 14px;font-weight:600;color:#5b5fc7}}</style>
<div class=ch>PMO › 状态 Status</div><div class=post>
<div class=who><b>Workflows</b> · pmohub 07:30 · Adaptive Card {html.escape(card["version"])}</div>
<div class=card>{body}{acts}</div></div>"""


def screenshot(page: str, png: Path, size: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "page.html"
        src.write_text(page, encoding="utf-8")
        subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--hide-scrollbars",
                f"--user-data-dir={tmp}/profile", f"--screenshot={png}",
                f"--window-size={size}", src.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip


def main(src: Path, out: Path) -> None:
    slack = json.loads((src / "notify-slack.json").read_text(encoding="utf-8"))
    teams = json.loads((src / "notify-teams.json").read_text(encoding="utf-8"))
    screenshot(slack_html(slack), out / "notify-slack.png", "900,1130")
    screenshot(teams_html(teams), out / "notify-teams.png", "900,1290")
    print(f"wrote {out / 'notify-slack.png'} and {out / 'notify-teams.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
