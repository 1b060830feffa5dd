"""Logging for the CLI, set up in one place: stderr only, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any


class RedactFilter(logging.Filter):
    """Replaces every known secret value in a record's final text with ``***``.

    The secrets are the current values of the environment variables the config names, so
    a token cannot leak through a connector's debug line or an exception message.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, values: Iterable[str | None]) -> None:
        self.secrets.extend(v for v in values if v and v not in self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            # imported here: connectors.http pulls requests, which `pmohub --help` needs not
            from pmohub.connectors.http import redact

            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                # format once, then redact the cached text the handler will print
                record.exc_text = redact(
                    logging.Formatter().formatException(record.exc_info), self.secrets
                )
                record.exc_info = None
        return True


_filter = RedactFilter()


def setup_logging(verbosity: int = 0, quiet: bool = False) -> RedactFilter:
    """``-v`` INFO, ``-vv`` DEBUG, default WARNING, ``--quiet`` ERROR. Returns the filter
    so the caller can register secrets once the config is loaded."""
    level = (
        logging.ERROR
        if quiet
        else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)]
    )
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_pmohub", False):
            root.removeHandler(h)
    # the stream is looked up at emit time, so CliRunner's captured stderr works too
    handler = _StderrHandler()
    handler._pmohub = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_filter)
    root.addHandler(handler)
    root.setLevel(level)
    return _filter


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def secret_filter() -> RedactFilter:
    return _filter
