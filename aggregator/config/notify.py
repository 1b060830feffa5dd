"""The ``notify`` config section: chat digests to Slack and Microsoft Teams (issue 17).

Webhook URLs are secrets (anyone holding one can post to the channel), so the file only
ever names the environment variable holding each URL (``webhook_env``); the loader adds
those names to ``Config.env_names``, so their values are redacted from every log line.

```yaml
notify:
  language: zh                       # en | zh (default: report.language, then `language`)
  report_url: https://pmo.example.cn/reports/latest.html   # "full report" link
  slack: {webhook_env: PMO_SLACK_URL}
  teams: {webhook_env: PMO_TEAMS_URL}   # a Teams Workflows (Power Automate) webhook
  max_items: 8                       # lines per digest part before "more in the report"
  timeout: 10
  retries: 3                         # after a 429 or 5xx answer
  retry_backoff_s: 1
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pmohub.aggregator.config.schema import EnvName, Fields, Num, Str

CHANNELS = ("slack", "teams")
LANGS = ("en", "zh")


@dataclass(frozen=True)
class WebhookSettings:
    channel: str  # slack | teams
    webhook_env: str  # the NAME of the variable holding the URL, never the URL


@dataclass(frozen=True)
class NotifySettings:
    language: str | None = None
    report_url: str | None = None
    webhooks: tuple[WebhookSettings, ...] = ()
    max_items: int = 8
    timeout: float = 10.0
    retries: int = 3
    retry_backoff_s: float = 1.0


def to_notify_settings(v: dict[str, Any]) -> NotifySettings:
    return NotifySettings(
        language=v.get("language"),
        report_url=v.get("report_url"),
        webhooks=tuple(WebhookSettings(ch, v[ch]["webhook_env"]) for ch in CHANNELS if ch in v),
        max_items=int(v.get("max_items", NotifySettings.max_items)),
        timeout=float(v.get("timeout", NotifySettings.timeout)),
        retries=int(v.get("retries", NotifySettings.retries)),
        retry_backoff_s=float(v.get("retry_backoff_s", NotifySettings.retry_backoff_s)),
    )


def _webhook(what: str, example: str) -> Fields:
    return Fields(
        {
            "webhook_env": EnvName().about(
                f"The NAME of the environment variable holding the {what} URL (a secret).",
                example=example,
            )
        },
        required=("webhook_env",),
    ).about(f"Post the digest to a {what}.")


NOTIFY = Fields(
    {
        "language": Str(choices=LANGS).about(
            "Digest language (default: `report.language`, then the top-level `language`).",
            example="zh",
        ),
        "report_url": Str().about(
            "Where readers find the full report (linked from the digest).",
            example="https://pmo.example.cn/reports/latest.html",
        ),
        "slack": _webhook("Slack incoming webhook", "PMO_SLACK_URL"),
        "teams": _webhook("Teams Workflows (Power Automate) webhook", "PMO_TEAMS_URL"),
        "max_items": Num(minimum=1, maximum=40, integer=True).about(
            "Lines per digest part before a 'more in the report' line.",
            default=NotifySettings.max_items,
        ),
        "timeout": Num(minimum=1, maximum=120).about(
            "Seconds per delivery attempt.", default=NotifySettings.timeout
        ),
        "retries": Num(minimum=0, maximum=10, integer=True).about(
            "Retries after a 429 or 5xx answer (Retry-After honoured).",
            default=NotifySettings.retries,
        ),
        "retry_backoff_s": Num(minimum=0, maximum=300).about(
            "Seconds before the first retry without Retry-After (doubling).",
            default=NotifySettings.retry_backoff_s,
        ),
    }
).about("Chat digests of the nightly run (Slack, Microsoft Teams).")


def notify_settings(config: Any) -> NotifySettings | None:
    """The ``notify`` section, or None when the config has none (no digests)."""
    return (getattr(config, "sections", {}) or {}).get("notify")
