"""The spec classes a config is checked with: ``Str``, ``Num``, ``Fields``, ``MapOf``...

A spec checks one value at a dotted path and records each problem with the file and line
it came from (:class:`CheckContext`), so one run reports every mistake in the file, e.g.
``pmohub.yaml:14: sources.jira_main.tokn_env: unknown key (did you mean 'token_env'?)``.
Unknown keys are rejected everywhere; an inline secret (``token:``, ``password:``...) is
refused wherever it appears: only ``*_env`` keys naming environment variables.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pmohub.aggregator.config.yamlio import join_path

# Keys that would hold a secret inline. Refused wherever they appear: a config file gets
# copied into tickets and repositories, an environment variable does not.
SECRET_KEYS = frozenset(
    {
        "token",
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "api_token",
        "private_token",
        "access_token",
        "client_secret",
        "pat",
    }
)


ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


INTERPOLATION_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CheckContext:
    def __init__(self, filename: str, lines: Mapping[str, int], base_dir: Path):
        self.filename = filename
        self.lines = lines
        self.base_dir = base_dir
        self.problems: list[str] = []
        self.env_names: set[str] = set()

    def line(self, path: str) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path) if path else ""
        return 1

    def where(self, path: str) -> str:
        return f"{self.filename}:{self.line(path)}"

    def error(self, path: str, message: str) -> None:
        self.problems.append(f"{self.where(path)}: {path or '(top)'}: {message}")


class Invalid(Exception):
    """Raised by a spec after recording a problem; the caller drops the value."""


def type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.date):
        return "a date"
    if isinstance(value, int | float):
        return "a number"
    return "text"


class NoDefault:
    """Marks a key without a default (absent means "not set", or it is required)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT = NoDefault()


class Spec:
    """Checks one value at ``path``, recording problems in the context. The ``doc``,
    ``default`` and ``example`` set by :meth:`about` are only read by the configuration
    reference (aggregator/config/reference.py), so the reference is the schema itself."""

    doc: str = ""
    default: Any = NO_DEFAULT
    example: Any = NO_DEFAULT

    def about(self, doc: str, *, default: Any = NO_DEFAULT, example: Any = NO_DEFAULT) -> Self:
        """Document this key (returns ``self``, so specs stay one expression)."""
        self.doc, self.default, self.example = doc, default, example
        return self

    def type_text(self) -> str:
        """The value's type in words, for the reference."""
        return "any value"

    def check(self, value: Any, path: str, ctx: CheckContext) -> Any:
        raise NotImplementedError

    def fail(self, ctx: CheckContext, path: str, message: str) -> typing.NoReturn:
        ctx.error(path, message)
        raise Invalid


class AnyValue(Spec):
    def check(self, value: Any, path: str, ctx: CheckContext) -> Any:
        _reject_inline_secrets(value, path, ctx)
        return value


class Raw(Spec):
    def type_text(self) -> str:
        return "mapping"

    def check(self, value: Any, path: str, ctx: CheckContext) -> Any:
        return value


class Str(Spec):
    def __init__(
        self,
        choices: tuple[str, ...] | None = None,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        interpolate: bool = False,
        coerce: bool = False,
    ):
        self.choices, self.pattern, self.what = choices, pattern, what
        self.interpolate, self.coerce = interpolate, coerce

    def type_text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(f"`{c}`" for c in self.choices)
        text = self.what or "text"
        return text + (" (`${VAR}` expanded)" if self.interpolate else "")

    def check(self, value: Any, path: str, ctx: CheckContext) -> str:
        if self.coerce and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(ctx, path, f"expected text, got {type_name(value)}")
        if self.interpolate:
            value = _interpolate(value, path, ctx)
        if self.choices is not None and value not in self.choices:
            hint = did_you_mean(value, self.choices)
            self.fail(ctx, path, f"{value!r} is not one of {', '.join(self.choices)}{hint}")
        if self.pattern is not None and not self.pattern.match(value):
            self.fail(ctx, path, f"{value!r} is not {self.what or 'valid'}")
        return value


class EnvName(Str):
    """The name of an environment variable holding a secret (never the secret itself)."""

    def type_text(self) -> str:
        return "environment variable name"

    def check(self, value: Any, path: str, ctx: CheckContext) -> str:
        value = super().check(value, path, ctx)
        if not ENV_NAME_RE.match(value):
            self.fail(
                ctx,
                path,
                "must name an environment variable (letters, digits, _), not hold a secret",
            )
        ctx.env_names.add(value)
        return value


class Num(Spec):
    def __init__(self, minimum: float | None = None, maximum: float | None = None, integer=False):
        self.minimum, self.maximum, self.integer = minimum, maximum, integer

    def type_text(self) -> str:
        text = "whole number" if self.integer else "number"
        if self.minimum is not None and self.maximum is not None:
            return f"{text} {self.minimum:g}..{self.maximum:g}"
        if self.minimum is not None:
            return f"{text} >= {self.minimum:g}"
        return text

    def check(self, value: Any, path: str, ctx: CheckContext) -> Any:
        ok = int if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok):
            self.fail(
                ctx,
                path,
                f"expected {'a whole number' if self.integer else 'a number'}, "
                f"got {type_name(value)}",
            )
        if self.minimum is not None and value < self.minimum:
            self.fail(ctx, path, f"must be >= {self.minimum}, got {value}")
        if self.maximum is not None and value > self.maximum:
            self.fail(ctx, path, f"must be <= {self.maximum}, got {value}")
        return value


class Bool(Spec):
    def type_text(self) -> str:
        return "true/false"

    def check(self, value: Any, path: str, ctx: CheckContext) -> bool:
        if not isinstance(value, bool):
            self.fail(ctx, path, f"expected true or false, got {type_name(value)}")
        return value


class Date(Spec):
    def type_text(self) -> str:
        return "date (YYYY-MM-DD)"

    def check(self, value: Any, path: str, ctx: CheckContext) -> dt.date:
        if isinstance(value, dt.datetime):
            self.fail(ctx, path, "expected a date like 2026-09-30, got a date and time")
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.fail(ctx, path, f"expected a date like 2026-09-30, got {value!r}")


class DateRange(Spec):
    """``2026-05-06..2026-05-08`` or a single date -> (start, end) inclusive."""

    def type_text(self) -> str:
        return "date or range (YYYY-MM-DD..YYYY-MM-DD)"

    def check(self, value: Any, path: str, ctx: CheckContext) -> tuple[dt.date, dt.date]:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return (value, value)
        if isinstance(value, str):
            start, sep, end = value.partition("..")
            try:
                a = dt.date.fromisoformat(start.strip())
                b = dt.date.fromisoformat(end.strip()) if sep else a
            except ValueError:
                pass
            else:
                if b < a:
                    self.fail(ctx, path, f"range {value!r} ends before it starts")
                return (a, b)
        self.fail(
            ctx, path, f"expected a date or a range like 2026-05-06..2026-05-08, got {value!r}"
        )


class ListOf(Spec):
    """A list; ``keep_positions`` leaves None where an item was invalid, so indexes (and
    the paths built from them) still match the file."""

    def __init__(
        self, item: Spec, scalar_ok: bool = False, unique: bool = False, keep_positions=False
    ):
        self.item, self.scalar_ok, self.unique = item, scalar_ok, unique
        self.keep_positions = keep_positions

    def type_text(self) -> str:
        text = f"list of {self.item.type_text()}"
        return text + (" (or a single one)" if self.scalar_ok else "")

    def check(self, value: Any, path: str, ctx: CheckContext) -> list[Any]:
        if self.scalar_ok and not isinstance(value, list | dict) and value is not None:
            value = [value]
        if not isinstance(value, list):
            self.fail(ctx, path, f"expected a list, got {type_name(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.item.check(item, join_path(path, i), ctx))
            except Invalid:
                if self.keep_positions:
                    out.append(None)
                continue
        if self.unique:
            seen: set[Any] = set()
            for i, item in enumerate(out):
                if item in seen:
                    ctx.error(join_path(path, i), f"{item!r} is listed twice")
                seen.add(item)
        return out


class MapOf(Spec):
    """Open mapping: any key matching ``keys``, each value checked by ``value``."""

    def __init__(self, value: Spec, keys: Spec | None = None):
        self.value, self.keys = value, keys

    def type_text(self) -> str:
        key = self.keys.type_text() if self.keys is not None else "name"
        return f"mapping of {key} -> {self.value.type_text()}"

    def check(self, value: Any, path: str, ctx: CheckContext) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(ctx, path, f"expected a mapping, got {type_name(value)}")
        out = {}
        for k, v in value.items():
            sub = join_path(path, k)
            if k.lower() in SECRET_KEYS and not isinstance(self.value, Str | ListOf):
                _secret_problem(sub, k, ctx)
                continue
            try:
                if self.keys is not None:
                    self.keys.check(k, sub, ctx)
                out[k] = self.value.check(v, sub, ctx)
            except Invalid:
                continue
        return out


class Fields(Spec):
    """Closed mapping: only the listed keys, ``required`` ones must be present."""

    def __init__(self, fields: Mapping[str, Spec], required: tuple[str, ...] = ()):
        self.fields, self.required = dict(fields), required

    def type_text(self) -> str:
        return "mapping"

    def check(self, value: Any, path: str, ctx: CheckContext) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(ctx, path, f"expected a mapping, got {type_name(value)}")
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = join_path(path, k)
            spec = self.fields.get(k)
            if spec is None:
                if k.lower() in SECRET_KEYS:
                    _secret_problem(sub, k, ctx)
                else:
                    ctx.error(sub, f"unknown key{did_you_mean(k, self.fields)}")
                continue
            try:
                out[k] = spec.check(v, sub, ctx)
            except Invalid:
                continue
        missing = [k for k in self.required if k not in value]
        for k in missing:
            ctx.error(path, f"missing required key {k!r}")
        return out


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _secret_problem(path: str, key: str, ctx: CheckContext) -> None:
    ctx.error(
        path,
        f"inline secrets are not allowed: put the value in an environment variable and "
        f"name it with '{key}_env' (e.g. token_env: JIRA_TOKEN)",
    )


def _reject_inline_secrets(value: Any, path: str, ctx: CheckContext) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in SECRET_KEYS:
                _secret_problem(join_path(path, k), k, ctx)
            else:
                _reject_inline_secrets(v, join_path(path, k), ctx)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _reject_inline_secrets(v, join_path(path, i), ctx)


def _interpolate(value: str, path: str, ctx: CheckContext) -> str:
    """Expand ``${VAR}``; the expanded text is only ever printed redacted by the caller."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        ctx.env_names.add(name)
        if name not in os.environ:
            ctx.error(path, f"environment variable {name} (used as ${{{name}}}) is not set")
            return m.group(0)
        return os.environ[name]

    return INTERPOLATION_RE.sub(repl, value)


class Timezone(Str):
    def type_text(self) -> str:
        return "IANA time zone"

    def check(self, value: Any, path: str, ctx: CheckContext) -> str:
        value = super().check(value, path, ctx)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(ctx, path, f"unknown time zone {value!r} (e.g. Asia/Shanghai, UTC)")
        return value


class DatabaseUrl(Str):
    def __init__(self) -> None:
        super().__init__(interpolate=True)

    def type_text(self) -> str:
        return "database URL (`${VAR}` expanded)"

    def check(self, value: Any, path: str, ctx: CheckContext) -> str:
        value = super().check(value, path, ctx)
        try:
            url = make_url(value)
        except ArgumentError:
            self.fail(
                ctx,
                path,
                "not a database URL (e.g. sqlite:///pmohub.db or "
                "postgresql+psycopg://user@host/pmohub)",
            )
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            self.fail(ctx, path, f"unsupported database {backend!r}: use sqlite or postgresql")
        if backend == "sqlite" and url.database and url.database != ":memory:":
            db = Path(url.database).expanduser()
            if not db.is_absolute():
                url = url.set(database=str(ctx.base_dir / db))
            # keep the password (if any) in the returned URL; printing goes through redact
            return url.render_as_string(hide_password=False)
        return value
