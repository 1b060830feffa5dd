"""Connector errors, named for what the caller should do about them.

::

    PmohubError                 anything pmohub raises on purpose
    └── ConnectorError          something about a source
        ├── ConfigError         fix the configuration or the account; retrying will not help
        │                       (bad URL, 401/403/404, bad JQL, missing token variable)
        ├── TransientError      the source is unwell; retried already, try again later
        │                       (429 / 5xx / timeouts / dropped connections, after retries)
        └── RecordError         one payload could not be mapped; skip it, count it, report it

Messages always name the source, and the URL or file/row/column where that applies.
They never contain a secret.
"""

from __future__ import annotations


class PmohubError(Exception):
    """Base of every error pmohub raises on purpose (never a bug)."""


class ConnectorError(PmohubError):
    def __init__(self, message: str, *, source: str | None = None, url: str | None = None):
        self.source = source
        self.url = url
        parts = [f"[{source}]" if source else "", message, f"({url})" if url else ""]
        super().__init__(" ".join(p for p in parts if p))


class ConfigError(ConnectorError):
    """Never retried: the user must change the config, the credentials or the query."""


class TransientError(ConnectorError):
    """Raised only after the bounded retries ran out; the next run may succeed."""


class RecordError(ConnectorError):
    """One record could not be read; the rest of the source is fine.

    ``where`` pinpoints it: a file, row and column for a spreadsheet, an issue key for a
    tracker. The sync engine skips, counts and reports it.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        where: str | None = None,
        field: str | None = None,
        url: str | None = None,
    ):
        self.where = where
        self.field = field
        loc = ", ".join(p for p in (where, f"field {field!r}" if field else None) if p)
        super().__init__(f"{loc}: {message}" if loc else message, source=source, url=url)
