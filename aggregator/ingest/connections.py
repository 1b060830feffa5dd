"""Picking configured sources by name and testing their connections."""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pmohub.connectors import registry
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import PmohubError


class UnknownSourceError(PmohubError):
    """A source name on the command line that the config does not define."""


def select_sources(
    sources: Mapping[str, SourceConfig], names: Iterable[str] = ()
) -> list[SourceConfig]:
    """The named sources in the order given (all, in config order, when none named)."""
    names = list(names)
    if not names:
        return list(sources.values())
    unknown = [n for n in names if n not in sources]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, list(sources), n=1)
            hints.append(f"{n!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        known = ", ".join(sources) or "none configured"
        raise UnknownSourceError(f"unknown source {', '.join(hints)}; configured: {known}")
    return [sources[n] for n in dict.fromkeys(names)]


@dataclass
class CheckResult:
    source: str
    type: str
    ok: bool
    seconds: float
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def check_sources(sources: Iterable[SourceConfig]) -> list[CheckResult]:
    """Run each connector's ``check()``; one failing source never hides the others."""
    results = []
    for src in sources:
        started = time.monotonic()
        try:
            with registry.get(src.type)(src) as conn:
                facts = conn.check() or {}
        except PmohubError as exc:
            results.append(
                CheckResult(src.name, src.type, False, time.monotonic() - started, str(exc))
            )
            continue
        except Exception as exc:  # a connector bug must not hide the other sources
            results.append(
                CheckResult(
                    src.name,
                    src.type,
                    False,
                    time.monotonic() - started,
                    f"unexpected {type(exc).__name__}: {exc}",
                )
            )
            continue
        detail = ", ".join(f"{k}={v}" for k, v in facts.items())
        results.append(
            CheckResult(src.name, src.type, True, time.monotonic() - started, detail, dict(facts))
        )
    return results
