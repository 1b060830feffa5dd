"""The default zone and the as-of instant: what "the data of day D" means, in one place.

Standard library only, on purpose: the config loader (imported by every CLI command) and
every rule import it, and neither should pay for numpy/pandas to learn a zone name.
``connectors/`` may not import ``rules/`` (tests/test_architecture.py), so
``connectors.base.DEFAULT_TIME_ZONE`` mirrors :data:`DEFAULT_TZ`;
tests/test_config_timezone.py keeps the two equal.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# The zone a deployment works in when its config says nothing (``timezone:``).
DEFAULT_TZ = "Asia/Shanghai"


def as_of_at(day: dt.date, tz: str | dt.tzinfo | None = None) -> dt.datetime:
    """00:00 of ``day`` in zone ``tz`` (default :data:`DEFAULT_TZ`), as an aware UTC datetime.

    This is the nightly cut-off. Every as-of instant goes through here so that a rule, the
    findings lifecycle, the roll-up and the report agree to the second; the end of the as-of
    day ``D`` (everything recorded during D, local time) is ``as_of_at(D + 1 day, tz)``.
    """
    zone = ZoneInfo(tz or DEFAULT_TZ) if tz is None or isinstance(tz, str) else tz
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def local_today(tz: str | dt.tzinfo | None = None) -> dt.date:
    """Today in zone ``tz`` (default :data:`DEFAULT_TZ`): the line between a past day and
    today for ``--as-of`` and the report. Only the CLI and the jobs read the clock; rules
    get their as-of day."""
    zone = ZoneInfo(tz or DEFAULT_TZ) if tz is None or isinstance(tz, str) else tz
    return dt.datetime.now(zone).date()
