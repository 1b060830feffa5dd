"""Config sections of the reporting/delivery/scheduling features: ``report``, ``smtp`` and
``schedule`` (``notify``, the chat digests, is in aggregator/config/notify.py), and
:data:`SECTIONS`, the one list of optional top-level sections.

The top-level schema (aggregator/config/document.py) includes every entry of
:data:`SECTIONS` explicitly, so a config using them loads through the library alone:
nothing has to be imported first for its side effect. A new section is one more entry.

```yaml
report:
  language: zh                     # en | zh (default: top-level language)
  out_dir: reports                 # nightly writes report.<fmt> here (relative to the config)
  formats: [html, xlsx, md]
  subject_prefix: "[PMO]"
  recipients: {DIGI: [pmo@example.cn], "*": [director@example.cn]}   # "*": all portfolios
smtp:
  host: smtp.example.cn
  port: 587
  security: starttls               # starttls | ssl | none
  username: pmo-bot
  password_env: SMTP_PASSWORD      # the NAME of the variable holding the password
  from: "PMO 报告 <pmo-bot@example.cn>"
  timeout: 30
  ca_file: certs/private-ca.pem    # extra CA for a private mail server (verification stays on)
  retries: 3
  retry_backoff_s: 2
schedule:
  nightly: "02:00"
  timezone: Asia/Shanghai
  catch_up: true                   # run a missed nightly on start
  # interval_s: 60                 # instead of daily: every N seconds (testing)
```
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# notify lives in its own module (issue 17); it is listed in SECTIONS below like the rest
from pmohub.aggregator.config.notify import NOTIFY, to_notify_settings
from pmohub.aggregator.config.schema import (
    Bool,
    EnvName,
    Fields,
    ListOf,
    MapOf,
    Num,
    Spec,
    Str,
    Timezone,
)
from pmohub.aggregator.config.syncing import SYNC, to_sync_settings

REPORT_FORMATS = ("html", "md", "xlsx", "json", "csv")
LANGS = ("en", "zh")
SECURITY = ("starttls", "ssl", "none")
HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class ReportSettings:
    language: str | None = None
    out_dir: str | None = None
    formats: tuple[str, ...] = ("html", "xlsx", "md")
    subject_prefix: str = "[PMO]"
    recipients: dict[str, tuple[str, ...]] = field(default_factory=dict)
    monthly_on_day: int = 1
    # Shown beside the as-of date wherever a report prints it, e.g. "demo data" for the
    # demo's frozen sample world (so a reader never takes it for live figures).
    data_label: str | None = None

    def recipients_for(self, portfolio: str | None) -> list[str]:
        """Recipients of one portfolio's report; ``*`` receives the report covering every
        portfolio (``portfolio=None``)."""
        return list(dict.fromkeys(self.recipients.get(portfolio or "*", ())))


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int | None = None
    security: str = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str = "pmohub@localhost"
    timeout: float = 30.0
    ca_file: str | None = None
    retries: int = 3
    retry_backoff_s: float = 2.0

    @property
    def effective_port(self) -> int:
        if self.port:
            return self.port
        return {"ssl": 465, "starttls": 587}.get(self.security, 25)


@dataclass(frozen=True)
class ScheduleSettings:
    nightly: str = "02:00"
    timezone: str | None = None
    catch_up: bool = True
    #: the catch-up pass on start mails only when this is set: a restart must not mail
    #: yesterday's report unasked (issue 15); it still writes the reports
    catch_up_send: bool = False
    interval_s: float | None = None  # every N seconds instead of daily (tests, dev)


def _report(v: dict[str, Any]) -> ReportSettings:
    return ReportSettings(
        language=v.get("language"),
        out_dir=v.get("out_dir"),
        formats=tuple(v.get("formats", ReportSettings.formats)),
        subject_prefix=v.get("subject_prefix", ReportSettings.subject_prefix),
        recipients={k: tuple(a) for k, a in (v.get("recipients") or {}).items()},
        monthly_on_day=int(v.get("monthly_on_day", 1)),
        data_label=v.get("data_label"),
    )


def _smtp(v: dict[str, Any]) -> SmtpSettings:
    return SmtpSettings(
        host=v["host"],
        port=v.get("port"),
        security=v.get("security", "starttls"),
        username=v.get("username"),
        password_env=v.get("password_env"),
        sender=v.get("from", SmtpSettings.sender),
        timeout=float(v.get("timeout", 30.0)),
        ca_file=v.get("ca_file"),
        retries=int(v.get("retries", 3)),
        retry_backoff_s=float(v.get("retry_backoff_s", 2.0)),
    )


def _schedule(v: dict[str, Any]) -> ScheduleSettings:
    return ScheduleSettings(
        nightly=v.get("nightly", "02:00"),
        timezone=v.get("timezone"),
        catch_up=v.get("catch_up", True),
        catch_up_send=v.get("catch_up_send", False),
        interval_s=v.get("interval_s"),
    )


REPORT = Fields(
    {
        "language": Str(choices=LANGS).about(
            "Report language (default: from the top-level `language`).", example="zh"
        ),
        "out_dir": Str().about(
            "Where the nightly writes report.<fmt> (relative to the config).", example="reports"
        ),
        "formats": ListOf(Str(choices=REPORT_FORMATS), scalar_ok=True, unique=True).about(
            "Formats written.", default=list(ReportSettings.formats), example=["html", "md"]
        ),
        "subject_prefix": Str().about(
            "Start of the e-mail subject.", default=ReportSettings.subject_prefix
        ),
        "recipients": MapOf(ListOf(Str(), scalar_ok=True)).about(
            "Portfolio -> addresses; `*` receives the report covering every portfolio.",
            default={},
            example={"DIGI": ["pmo@example.cn"], "*": ["director@example.cn"]},
        ),
        "monthly_on_day": Num(minimum=1, maximum=28, integer=True).about(
            "Day of the month the monthly report is made.", default=1, example=1
        ),
        "data_label": Str().about(
            "Shown beside the as-of date (e.g. demo data).", example="demo data"
        ),
    }
).about("Scheduled reports: language, formats, recipients.")
SMTP = Fields(
    {
        "host": Str().about("Mail server.", example="smtp.example.cn"),
        "port": Num(minimum=1, maximum=65535, integer=True).about(
            "Port (default: 465 for ssl, 587 for starttls, 25 for none).", example=587
        ),
        "security": Str(choices=SECURITY).about("Transport security.", default="starttls"),
        "username": Str().about("Login name.", example="pmo-bot"),
        "password_env": EnvName().about(
            "The NAME of the environment variable holding the password.", example="SMTP_PASSWORD"
        ),
        "from": Str().about(
            "Sender address.", default=SmtpSettings.sender, example="PMO <pmo-bot@example.cn>"
        ),
        "timeout": Num(minimum=1, maximum=600).about("Seconds per attempt.", default=30.0),
        "ca_file": Str().about(
            "Extra CA for a private mail server (verification stays on).",
            example="certs/private-ca.pem",
        ),
        "retries": Num(minimum=0, maximum=10, integer=True).about(
            "Retries of a failed send.", default=3
        ),
        "retry_backoff_s": Num(minimum=0, maximum=300).about(
            "Seconds before the first retry (doubling).", default=2.0
        ),
    },
    required=("host",),
).about("The mail server reports are sent through.")
SCHEDULE = Fields(
    {
        "nightly": Str(pattern=HHMM_RE, what="a time like 02:00").about(
            "Local time of the nightly run.", default=ScheduleSettings.nightly, example="02:00"
        ),
        "timezone": Timezone().about(
            "Zone of `nightly` (default: the top-level `timezone`).", example="Asia/Shanghai"
        ),
        "catch_up": Bool().about("Run a missed nightly on start.", default=True),
        "catch_up_send": Bool().about(
            "Also mail the reports of that catch-up pass (default: written, not mailed).",
            default=False,
        ),
        "interval_s": Num(minimum=1, maximum=7 * 86400).about(
            "Instead of daily: every N seconds (testing)."
        ),
    }
).about("When `pmohub schedule` runs the nightly job.")


@dataclass(frozen=True)
class ConfigSection:
    """An optional top-level section: its spec, and the converter of its checked value to
    what ``Config.sections[name]`` holds."""

    name: str
    spec: Spec
    convert: Callable[[Any], Any]


#: Every optional top-level section, in the order the configuration reference lists them.
SECTIONS: tuple[ConfigSection, ...] = (
    ConfigSection("report", REPORT, _report),
    ConfigSection("smtp", SMTP, _smtp),
    ConfigSection("schedule", SCHEDULE, _schedule),
    ConfigSection("notify", NOTIFY, to_notify_settings),
    ConfigSection("sync", SYNC, to_sync_settings),
)


def report_settings(config: Any) -> ReportSettings:
    return (getattr(config, "sections", {}) or {}).get("report") or ReportSettings()


def smtp_settings(config: Any) -> SmtpSettings | None:
    return (getattr(config, "sections", {}) or {}).get("smtp")


def schedule_settings(config: Any) -> ScheduleSettings:
    return (getattr(config, "sections", {}) or {}).get("schedule") or ScheduleSettings()


def report_language(config: Any, explicit: str | None = None) -> str:
    """``--lang`` > ``report.language`` > top-level ``language`` (zh-CN -> zh)."""
    if explicit:
        return explicit
    rs = report_settings(config)
    if rs.language:
        return rs.language
    return "zh" if str(getattr(config, "language", "zh-CN")).startswith("zh") else "en"


def resolve_path(config: Any, value: str | None) -> Path | None:
    """A path from the config, relative to the config file's directory."""
    if not value:
        return None
    p = Path(value).expanduser()
    base = getattr(config, "base_dir", None) or Path.cwd()
    return p if p.is_absolute() else Path(base) / p
