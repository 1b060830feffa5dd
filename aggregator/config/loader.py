"""Loading ``pmohub.yaml`` (format: RULES.md section 3) into a typed ``Config``.

Every value keeps the line it came from, so each problem is reported as
``pmohub.yaml:14: sources.jira_main.tokn_env: unknown key (did you mean 'token_env'?)``.
Unknown keys are rejected everywhere. Secrets never live in the file: only ``*_env`` keys
naming environment variables; an inline ``token:``/``password:`` is refused.

Extension: later features add top-level sections (``report``, ``smtp``, ``schedule``...)
with :func:`register_section`; their validated values land in ``Config.sections``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pmohub.connectors import registry
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.errors import PmohubError
from pmohub.connectors.records import STATUS_CATEGORIES
from pmohub.rules.clock import DEFAULT_TZ

CONFIG_ENV = "PMOHUB_CONFIG"
CONFIG_NAME = "pmohub.yaml"
DEFAULT_DATABASE = "sqlite:///pmohub.db"

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
RULE_ID_RE = re.compile(r"^[A-Z]{2,6}-\d{3}$")
STATUS_MAP_VALUES = (*STATUS_CATEGORIES, "review", "blocked")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WAIVER_SCOPE_KINDS = ("portfolio", "programme", "project", "item", "person", "source")
SELECTOR_KEYS = frozenset(
    {"jql", "project", "group", "repo", "board", "label", "labels", "component", "filter"}
)


class ConfigFileError(PmohubError):
    """The config file is wrong; ``problems`` holds one ``file:line: key: message`` each."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


# --------------------------------------------------------------------------- YAML + marks


@dataclass
class _Doc:
    """Plain Python data plus ``lines``: dotted path -> 1-based line of that key/item."""

    data: Any
    lines: dict[str, int]


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


#: libyaml composes a 2,000-project policy file ~30x faster than the pure-Python parser.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _parse_yaml(text: str, filename: str) -> _Doc:
    if _FAST_LOADER is not None:
        try:
            return _parse_yaml_with(_FAST_LOADER, text, filename)
        except ConfigFileError:
            # libyaml words syntax errors differently: report the pure-Python parser's
            # message and line, which the documented error texts are written against.
            pass
    return _parse_yaml_with(yaml.SafeLoader, text, filename)


def _parse_yaml_with(loader_cls: Any, text: str, filename: str) -> _Doc:
    loader = loader_cls(text)
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()

        def build(n: yaml.Node, path: str) -> Any:
            if isinstance(n, yaml.MappingNode):
                loader.flatten_mapping(n)  # resolves YAML merge keys (<<)
                out: dict[Any, Any] = {}
                for key_node, value_node in n.value:
                    key = loader.construct_object(key_node, deep=True)
                    if isinstance(key, dt.date | int | float | bool) or key is None:
                        key = str(key_node.value)  # "2026-12-31:" or "1:" are names here
                    if not isinstance(key, str):
                        raise ConfigFileError(
                            f"{filename}:{key_node.start_mark.line + 1}: "
                            f"{path or '(top)'}: mapping keys must be plain strings"
                        )
                    sub = _join(path, key)
                    if key in out:
                        raise ConfigFileError(
                            f"{filename}:{key_node.start_mark.line + 1}: {sub}: duplicate key"
                        )
                    lines[sub] = key_node.start_mark.line + 1
                    out[key] = build(value_node, sub)
                return out
            if isinstance(n, yaml.SequenceNode):
                items = []
                for i, item in enumerate(n.value):
                    lines[_join(path, i)] = item.start_mark.line + 1
                    items.append(build(item, _join(path, i)))
                return items
            return loader.construct_object(n, deep=True)

        data = build(node, "") if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigFileError(
            f"{filename}:{line}: invalid YAML: {exc.problem or exc.context}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{filename}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return _Doc(data, lines)


# --------------------------------------------------------------------------- validation


class _Ctx:
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


class _Invalid(Exception):
    """Raised by a spec after recording a problem; the caller drops the value."""


def _type_name(value: Any) -> str:
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


class Spec:
    def check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        raise NotImplementedError

    def fail(self, ctx: _Ctx, path: str, message: str) -> typing.NoReturn:
        ctx.error(path, message)
        raise _Invalid


class AnyValue(Spec):
    def check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        _reject_inline_secrets(value, path, ctx)
        return value


class _Raw(Spec):
    def check(self, value: Any, path: str, ctx: _Ctx) -> Any:
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

    def check(self, value: Any, path: str, ctx: _Ctx) -> str:
        if self.coerce and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.fail(ctx, path, f"expected text, got {_type_name(value)}")
        if self.interpolate:
            value = _interpolate(value, path, ctx)
        if self.choices is not None and value not in self.choices:
            hint = _did_you_mean(value, self.choices)
            self.fail(ctx, path, f"{value!r} is not one of {', '.join(self.choices)}{hint}")
        if self.pattern is not None and not self.pattern.match(value):
            self.fail(ctx, path, f"{value!r} is not {self.what or 'valid'}")
        return value


class EnvName(Str):
    """The name of an environment variable holding a secret (never the secret itself)."""

    def check(self, value: Any, path: str, ctx: _Ctx) -> str:
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

    def check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        ok = int if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok):
            self.fail(
                ctx,
                path,
                f"expected {'a whole number' if self.integer else 'a number'}, "
                f"got {_type_name(value)}",
            )
        if self.minimum is not None and value < self.minimum:
            self.fail(ctx, path, f"must be >= {self.minimum}, got {value}")
        if self.maximum is not None and value > self.maximum:
            self.fail(ctx, path, f"must be <= {self.maximum}, got {value}")
        return value


class Bool(Spec):
    def check(self, value: Any, path: str, ctx: _Ctx) -> bool:
        if not isinstance(value, bool):
            self.fail(ctx, path, f"expected true or false, got {_type_name(value)}")
        return value


class Date(Spec):
    def check(self, value: Any, path: str, ctx: _Ctx) -> dt.date:
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

    def check(self, value: Any, path: str, ctx: _Ctx) -> tuple[dt.date, dt.date]:
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

    def check(self, value: Any, path: str, ctx: _Ctx) -> list[Any]:
        if self.scalar_ok and not isinstance(value, list | dict) and value is not None:
            value = [value]
        if not isinstance(value, list):
            self.fail(ctx, path, f"expected a list, got {_type_name(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.item.check(item, _join(path, i), ctx))
            except _Invalid:
                if self.keep_positions:
                    out.append(None)
                continue
        if self.unique:
            seen: set[Any] = set()
            for i, item in enumerate(out):
                if item in seen:
                    ctx.error(_join(path, i), f"{item!r} is listed twice")
                seen.add(item)
        return out


class MapOf(Spec):
    """Open mapping: any key matching ``keys``, each value checked by ``value``."""

    def __init__(self, value: Spec, keys: Spec | None = None):
        self.value, self.keys = value, keys

    def check(self, value: Any, path: str, ctx: _Ctx) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(ctx, path, f"expected a mapping, got {_type_name(value)}")
        out = {}
        for k, v in value.items():
            sub = _join(path, k)
            if k.lower() in SECRET_KEYS and not isinstance(self.value, Str | ListOf):
                _secret_problem(sub, k, ctx)
                continue
            try:
                if self.keys is not None:
                    self.keys.check(k, sub, ctx)
                out[k] = self.value.check(v, sub, ctx)
            except _Invalid:
                continue
        return out


class Fields(Spec):
    """Closed mapping: only the listed keys, ``required`` ones must be present."""

    def __init__(self, fields: Mapping[str, Spec], required: tuple[str, ...] = ()):
        self.fields, self.required = dict(fields), required

    def check(self, value: Any, path: str, ctx: _Ctx) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(ctx, path, f"expected a mapping, got {_type_name(value)}")
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = _join(path, k)
            spec = self.fields.get(k)
            if spec is None:
                if k.lower() in SECRET_KEYS:
                    _secret_problem(sub, k, ctx)
                else:
                    ctx.error(sub, f"unknown key{_did_you_mean(k, self.fields)}")
                continue
            try:
                out[k] = spec.check(v, sub, ctx)
            except _Invalid:
                continue
        missing = [k for k in self.required if k not in value]
        for k in missing:
            ctx.error(path, f"missing required key {k!r}")
        return out


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _secret_problem(path: str, key: str, ctx: _Ctx) -> None:
    ctx.error(
        path,
        f"inline secrets are not allowed: put the value in an environment variable and "
        f"name it with '{key}_env' (e.g. token_env: JIRA_TOKEN)",
    )


def _reject_inline_secrets(value: Any, path: str, ctx: _Ctx) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in SECRET_KEYS:
                _secret_problem(_join(path, k), k, ctx)
            else:
                _reject_inline_secrets(v, _join(path, k), ctx)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _reject_inline_secrets(v, _join(path, i), ctx)


def _interpolate(value: str, path: str, ctx: _Ctx) -> str:
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
    def check(self, value: Any, path: str, ctx: _Ctx) -> str:
        value = super().check(value, path, ctx)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(ctx, path, f"unknown time zone {value!r} (e.g. Asia/Shanghai, UTC)")
        return value


class DatabaseUrl(Str):
    def __init__(self) -> None:
        super().__init__(interpolate=True)

    def check(self, value: Any, path: str, ctx: _Ctx) -> str:
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


RULE_OVERRIDES = MapOf(AnyValue(), keys=Str(pattern=RULE_ID_RE, what="a rule id like VAR-003"))

CALENDAR = Fields(
    {
        "weekend": ListOf(Str(choices=WEEKDAYS), unique=True),
        "source": Str(choices=("chinesecalendar", "none")),
        "extra_holidays": ListOf(Date()),
        "extra_workdays": ListOf(Date()),
    }
)

DEFAULTS_FIELDS: dict[str, Spec] = {
    "calendar": Str(),
    "hours_per_day": Num(minimum=0.5, maximum=24),
    "hpp": Num(minimum=0),
    "default_estimate_h": MapOf(Num(minimum=0)),
    "allocation": Num(minimum=0, maximum=2),
}

PERSON = Fields(
    {
        "id": Str(),
        "name": Str(),
        "email": Str(),
        "aliases": ListOf(Str()),
        "team": Str(),
        "hours_per_day": Num(minimum=0, maximum=24),
        "allocation": Num(minimum=0, maximum=2),
        "leave": ListOf(DateRange(), scalar_ok=True),
        "calendar": Str(),
        "active": Bool(),
    },
    required=("id",),
)

WAIVER = Fields(
    {
        "rule": Str(pattern=RULE_ID_RE, what="a rule id like PLAN-001"),
        "scope": Str(
            pattern=re.compile(rf"^({'|'.join(WAIVER_SCOPE_KINDS)}):.+$"),
            what=f"a scope like project:OPS-MIG ({', '.join(WAIVER_SCOPE_KINDS)})",
        ),
        "reason": Str(),
        "expires": Date(),
        "approved_by": Str(),
        "subject": Str(),
    },
    required=("rule", "scope", "reason", "expires"),
)

_CADENCE = Str(choices=("weekly", "biweekly", "monthly"))
_PROJECT_SOURCE = Fields(
    {"name": Str(), **{k: AnyValue() for k in SELECTOR_KEYS}}, required=("name",)
)
PROJECT = Fields(
    {
        "key": Str(coerce=True),
        "name": Str(coerce=True),
        "source": _PROJECT_SOURCE,
        "registry_issue": Str(),
        "priority_rank": Num(minimum=1, integer=True),
        "weight": Num(minimum=0),
        "critical": Bool(),
        "cadence": _CADENCE,
        "overrides": RULE_OVERRIDES,
        "pm": Str(),
        "exempt": ListOf(Str(pattern=RULE_ID_RE, what="a rule id"), scalar_ok=True),
        "calendar": Str(),
        "start_on": Date(),
        "due_on": Date(),
        # RULES.md 2.1: a PM override needs a reason and an expiry; it is shown beside the
        # computed RAG, which stays authoritative for the roll-up.
        "rag_override": Fields(
            {
                "rag": Str(choices=("green", "amber", "red")),
                "reason": Str(),
                "expires_on": Date(),
            },
            required=("rag", "reason", "expires_on"),
        ),
    },
    required=("key",),
)
PROGRAMME = Fields(
    {
        "programme": Str(coerce=True),
        "name": Str(coerce=True),
        "pm": Str(),
        "cadence": _CADENCE,
        "overrides": RULE_OVERRIDES,
        "projects": ListOf(PROJECT, keep_positions=True),
    },
    required=("programme",),
)
PORTFOLIO = Fields(
    {
        "portfolio": Str(coerce=True),
        "name": Str(coerce=True),
        "owner": Str(),
        "cadence": _CADENCE,
        "calendar": Str(),  # the portfolio's working-day calendar (a name under calendars)
        "overrides": RULE_OVERRIDES,
        "programmes": ListOf(PROGRAMME, keep_positions=True),
        "projects": ListOf(PROJECT, keep_positions=True),  # projects directly under a portfolio
    },
    required=("portfolio",),
)

# Extra top-level sections registered by later features: name -> (spec, converter).
_SECTIONS: dict[str, tuple[Spec, Callable[[Any], Any]]] = {}


def register_section(name: str, spec: Spec, convert: Callable[[Any], Any] = lambda v: v) -> None:
    """Allow a top-level section (``report``, ``smtp``...) validated by ``spec``."""
    _SECTIONS[name] = (spec, convert)


# --------------------------------------------------------------------------- typed result


@dataclass(frozen=True)
class PersonConfig:
    id: str
    name: str | None = None
    email: str | None = None
    aliases: tuple[str, ...] = ()
    team: str | None = None
    hours_per_day: float | None = None
    allocation: float | None = None
    leave: tuple[tuple[dt.date, dt.date], ...] = ()
    calendar: str | None = None
    active: bool = True


@dataclass(frozen=True)
class CalendarConfig:
    name: str
    weekend: tuple[str, ...] = ("sat", "sun")
    source: str = "none"
    extra_holidays: tuple[dt.date, ...] = ()
    extra_workdays: tuple[dt.date, ...] = ()


@dataclass(frozen=True)
class Waiver:
    rule: str
    scope: str
    reason: str
    expires: dt.date
    approved_by: str | None = None
    subject: str | None = None
    path: str = ""  # dotted path in the file, for Config.where()


@dataclass(frozen=True)
class ProjectSource:
    name: str
    selector: Mapping[str, Any] = field(default_factory=dict)  # jql, group, project...


@dataclass(frozen=True)
class ProjectNode:
    key: str
    name: str | None = None
    source: ProjectSource | None = None
    registry_issue: str | None = None
    priority_rank: int | None = None
    weight: float | None = None
    critical: bool = False
    cadence: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pm: str | None = None
    exempt: tuple[str, ...] = ()
    calendar: str | None = None
    start_on: dt.date | None = None
    due_on: dt.date | None = None
    programme: str | None = None
    portfolio: str | None = None
    path: str = ""
    rag_override: Mapping[str, Any] | None = None  # rag, reason, expires_on


@dataclass(frozen=True)
class ProgrammeNode:
    key: str
    name: str | None = None
    pm: str | None = None
    cadence: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    projects: tuple[ProjectNode, ...] = ()
    portfolio: str | None = None
    path: str = ""


@dataclass(frozen=True)
class PortfolioNode:
    key: str
    name: str | None = None
    owner: str | None = None
    cadence: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    programmes: tuple[ProgrammeNode, ...] = ()
    calendar: str | None = None
    projects: tuple[ProjectNode, ...] = ()  # directly under the portfolio
    path: str = ""

    def all_projects(self) -> list[ProjectNode]:
        return [*self.projects, *(p for g in self.programmes for p in g.projects)]


@dataclass(frozen=True)
class Config:
    path: Path | None
    database: str
    timezone: str = DEFAULT_TZ
    language: str = "zh-CN"
    version: int = 1
    calendars: Mapping[str, CalendarConfig] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    people: tuple[PersonConfig, ...] = ()
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    hierarchy: tuple[PortfolioNode, ...] = ()
    sections: Mapping[str, Any] = field(default_factory=dict)
    env_names: frozenset[str] = frozenset()  # every env var the file names (for redaction)
    lines: Mapping[str, int] = field(default_factory=dict, repr=False)
    #: SHA-256 of the text the config was parsed from ("" when built in code).
    text_sha256: str = field(default="", repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def where(self, path: str) -> str:
        """``file:line`` of a dotted key path (``rules.VAR-003.amber``), or its nearest parent."""
        ctx = _Ctx(self.path.name if self.path else "<config>", self.lines, self.base_dir)
        return ctx.where(path)

    @property
    def database_display(self) -> str:
        return redact_url(self.database)

    def projects(self) -> list[ProjectNode]:
        return [p for pf in self.hierarchy for p in pf.all_projects()]

    def digest(self) -> str:
        """SHA-256 identifying the settings, stable across processes: a cached result
        computed under one digest is not served under another. A parsed config is its
        text (any edit, even a comment, counts; 1 ms where walking a 2,000-project
        hierarchy takes 25 ms; the only values not in the text are the ``${VAR}`` parts
        of URLs, which no number depends on); one built in code is its fields."""
        if self.text_sha256:
            return self.text_sha256
        keep = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("path", "database", "env_names", "lines", "text_sha256")
        }
        text = json.dumps(keep, default=_canonical, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def secret_values(self, env: Mapping[str, str] | None = None) -> list[str]:
        """Current values of every variable the file names, for log redaction."""
        env = os.environ if env is None else env
        return [env[n] for n in sorted(self.env_names) if env.get(n)]


def _canonical(value: Any) -> Any:
    """``json.dumps`` default: config objects as plain JSON (sets sorted: their iteration
    order changes with the interpreter's hash seed). A hook, not a recursive copy: the C
    encoder walks a 2,000-project hierarchy in milliseconds."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    return repr(value)


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


# --------------------------------------------------------------------------- sources

_COMMON_SOURCE: dict[str, Spec] = {
    "type": Str(),
    "url": Str(interpolate=True),
    "token_env": EnvName(),
    "email": Str(),
    "username": Str(),
    "projects": ListOf(Str(coerce=True), scalar_ok=True, unique=True),
    "status_map": MapOf(Str(choices=STATUS_MAP_VALUES)),
    "fields": MapOf(Str(coerce=True)),
    "issue_types": MapOf(ListOf(Str(coerce=True), scalar_ok=True)),
    "excluded_resolutions": ListOf(Str(coerce=True), scalar_ok=True),
    "registry_project": Str(coerce=True),
    "verify_tls": Bool(),
    "timeout_s": Num(minimum=1, maximum=3600),
    "page_size": Num(minimum=1, maximum=5000, integer=True),
    "lookback_minutes": Num(minimum=0, maximum=7 * 24 * 60, integer=True),
}
_PATH_OPTION_NAMES = frozenset({"path", "file", "files", "paths"})


class _Option(Spec):
    """A connector-declared option: ``option_keys`` maps the name to a Python type."""

    def __init__(self, name: str, kind: Any):
        self.name, self.kind = name, kind

    def check(self, value: Any, path: str, ctx: _Ctx) -> Any:
        if self.name.endswith("_env"):
            return EnvName().check(value, path, ctx)
        origin = typing.get_origin(self.kind) or self.kind
        is_path = origin is Path or (origin is str and self.name in _PATH_OPTION_NAMES)
        if is_path:
            if not isinstance(value, str):
                self.fail(ctx, path, f"expected a file path, got {_type_name(value)}")
            p = Path(os.path.expanduser(value))
            resolved = p if p.is_absolute() else ctx.base_dir / p
            return resolved if origin is Path else str(resolved)
        if origin in (list, tuple) and self.name in _PATH_OPTION_NAMES:
            items = ListOf(Str(), scalar_ok=True).check(value, path, ctx)
            return [str(p if Path(p).is_absolute() else ctx.base_dir / p) for p in items]
        if origin is float:
            return Num().check(value, path, ctx)
        if origin is int:
            return Num(integer=True).check(value, path, ctx)
        if origin is bool:
            return Bool().check(value, path, ctx)
        if origin is str:
            return Str(coerce=True).check(value, path, ctx)
        if origin in (list, tuple):
            return ListOf(AnyValue(), scalar_ok=True).check(value, path, ctx)
        if origin in (dict, Mapping):
            return MapOf(AnyValue()).check(value, path, ctx)
        if isinstance(origin, type) and not isinstance(value, origin):
            self.fail(ctx, path, f"expected {origin.__name__}, got {_type_name(value)}")
        return AnyValue().check(value, path, ctx)


def _check_source(name: str, raw: Any, path: str, ctx: _Ctx) -> SourceConfig | None:
    if not isinstance(raw, dict):
        ctx.error(path, f"expected a mapping with at least 'type', got {_type_name(raw)}")
        return None
    type_name = raw.get("type")
    if type_name is None:
        ctx.error(path, "missing required key 'type'")
        return None
    option_keys: Mapping[str, Any] = {}
    available = registry.available()
    if not isinstance(type_name, str) or type_name not in available:
        ctx.error(
            _join(path, "type"),
            f"unknown source type {type_name!r}{_did_you_mean(str(type_name), available)}; "
            f"known types: {', '.join(sorted(available))}",
        )
        return None
    try:
        option_keys = registry.get(type_name).option_keys
    except (ImportError, AttributeError, TypeError) as exc:
        ctx.error(_join(path, "type"), f"connector {type_name!r} cannot be loaded: {exc}")
        return None
    spec = Fields(
        {**_COMMON_SOURCE, **{k: _Option(k, v) for k, v in option_keys.items()}},
        required=("type",),
    )
    try:
        values = spec.check(raw, path, ctx)
    except _Invalid:
        return None
    common = {k: v for k, v in values.items() if k in _COMMON_SOURCE}
    options = {k: v for k, v in values.items() if k not in _COMMON_SOURCE}
    for key in ("projects", "excluded_resolutions"):
        if key in common:
            common[key] = tuple(common[key])
    if "issue_types" in common:
        common["issue_types"] = {k: tuple(v) for k, v in common["issue_types"].items()}
    return SourceConfig(name=name, **common, options=options)


# --------------------------------------------------------------------------- loading


def _top_fields() -> dict[str, Spec]:
    fields: dict[str, Spec] = {
        "version": Num(minimum=1, maximum=1, integer=True),
        "database": DatabaseUrl(),
        "timezone": Timezone(),
        "language": Str(choices=("zh-CN", "en")),
        "calendars": MapOf(CALENDAR),
        "defaults": Fields(DEFAULTS_FIELDS),
        "sources": _Raw(),  # checked per type below
        "people": ListOf(PERSON),
        "rules": RULE_OVERRIDES,
        "waivers": ListOf(WAIVER),
        "hierarchy": ListOf(PORTFOLIO, keep_positions=True),
    }
    for name, (spec, _) in _SECTIONS.items():
        fields[name] = spec
    return fields


def find_config_path(
    explicit: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path:
    """``--config`` > ``$PMOHUB_CONFIG`` > ``./pmohub.yaml``."""
    env = os.environ if env is None else env
    if explicit:
        path, how = Path(explicit), "--config"
    elif env.get(CONFIG_ENV):
        path, how = Path(env[CONFIG_ENV]), CONFIG_ENV
    else:
        path, how = (cwd or Path.cwd()) / CONFIG_NAME, None
        if not path.is_file():
            raise ConfigFileError(
                f"no {CONFIG_NAME} in {path.parent}: pass --config PATH, set {CONFIG_ENV}, "
                "or create one with `pmohub init`"
            )
    if not path.is_file():
        raise ConfigFileError(f"config file {path} (from {how}) does not exist")
    return path


def load_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Find and load the config (see :func:`find_config_path`)."""
    return load_config_file(find_config_path(explicit, env=env, cwd=cwd))


def load_config_file(path: str | os.PathLike[str]) -> Config:
    path = Path(path).expanduser().resolve()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigFileError(f"{path}: not UTF-8 text") from None
    return parse_config(text, filename=path.name, path=path)


def parse_config(text: str, *, filename: str = CONFIG_NAME, path: Path | None = None) -> Config:
    doc = _parse_yaml(text, filename)
    base_dir = path.parent if path else Path.cwd()
    ctx = _Ctx(filename, doc.lines, base_dir)
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{filename}:1: the file must be a mapping (key: value lines)")
    try:
        top = Fields(_top_fields()).check(data, "", ctx)
    except _Invalid:
        top = {}

    sources: dict[str, SourceConfig] = {}
    raw_sources = data.get("sources") or {}
    if not isinstance(raw_sources, dict):
        ctx.error("sources", f"expected a mapping of source names, got {_type_name(raw_sources)}")
        raw_sources = {}
    for name, raw in raw_sources.items():
        if not re.match(r"^[A-Za-z0-9_.-]+$", name):
            ctx.error(_join("sources", name), "source names use letters, digits, _ . - only")
            continue
        src = _check_source(name, raw, _join("sources", name), ctx)
        if src is not None:
            sources[name] = src

    calendars = {
        name: CalendarConfig(
            name=name,
            weekend=tuple(c.get("weekend", ("sat", "sun"))),
            source=c.get("source", "none"),
            extra_holidays=tuple(c.get("extra_holidays", ())),
            extra_workdays=tuple(c.get("extra_workdays", ())),
        )
        for name, c in top.get("calendars", {}).items()
    }
    defaults = top.get("defaults", {})
    if "calendar" in defaults and defaults["calendar"] not in calendars:
        ctx.error(
            "defaults.calendar",
            f"calendar {defaults['calendar']!r} is not defined under calendars"
            f"{_did_you_mean(defaults['calendar'], calendars)}",
        )

    people = []
    seen_ids: dict[str, int] = {}
    for i, p in enumerate(top.get("people", [])):
        if "id" not in p:
            continue
        pid = p["id"]
        if pid in seen_ids:
            ctx.error(
                f"people[{i}].id", f"person {pid!r} already listed at people[{seen_ids[pid]}]"
            )
        seen_ids[pid] = i
        own = p.get("calendar")
        if own is not None and own not in calendars:
            ctx.error(
                f"people[{i}].calendar",
                f"calendar {own!r} is not defined under calendars{_did_you_mean(own, calendars)}",
            )
        people.append(
            PersonConfig(
                id=pid,
                name=p.get("name"),
                email=p.get("email"),
                aliases=tuple(p.get("aliases", ())),
                team=p.get("team"),
                hours_per_day=p.get("hours_per_day"),
                allocation=p.get("allocation"),
                leave=tuple(p.get("leave", ())),
                calendar=p.get("calendar"),
                active=p.get("active", True),
            )
        )

    waivers = tuple(
        Waiver(**w, path=f"waivers[{i}]")
        for i, w in enumerate(top.get("waivers", []))
        if all(k in w for k in WAIVER.required)
    )

    hierarchy = _build_hierarchy(top.get("hierarchy", []), set(raw_sources), ctx)
    for node in (n for pf in hierarchy for n in (pf, *pf.all_projects())):
        if node.calendar is not None and node.calendar not in calendars:
            ctx.error(
                f"{node.path}.calendar",
                f"calendar {node.calendar!r} is not defined under calendars"
                f"{_did_you_mean(node.calendar, calendars)}",
            )

    if ctx.problems:
        raise ConfigFileError(ctx.problems)

    sections = {name: convert(top[name]) for name, (_, convert) in _SECTIONS.items() if name in top}
    return Config(
        path=path,
        database=top.get("database") or DatabaseUrl().check(DEFAULT_DATABASE, "database", ctx),
        timezone=top.get("timezone", DEFAULT_TZ),
        language=top.get("language", "zh-CN"),
        version=top.get("version", 1),
        calendars=calendars,
        defaults=defaults,
        sources=sources,
        people=tuple(people),
        rules=top.get("rules", {}),
        waivers=waivers,
        hierarchy=hierarchy,
        sections=sections,
        env_names=frozenset(ctx.env_names),
        lines=dict(doc.lines),
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _project_node(
    p: dict[str, Any],
    path: str,
    parents: tuple[str, str | None],
    source_names: set[str],
    ctx: _Ctx,
) -> ProjectNode:
    src = None
    if "source" in p:
        sel = {k: v for k, v in p["source"].items() if k != "name"}
        src = ProjectSource(name=p["source"]["name"], selector=sel)
        if src.name not in source_names:
            ctx.error(
                f"{path}.source.name",
                f"no source named {src.name!r} under sources"
                f"{_did_you_mean(src.name, source_names)}",
            )
    return ProjectNode(
        key=p["key"],
        name=p.get("name"),
        source=src,
        registry_issue=p.get("registry_issue"),
        priority_rank=p.get("priority_rank"),
        weight=p.get("weight"),
        critical=p.get("critical", False),
        cadence=p.get("cadence"),
        overrides=p.get("overrides", {}),
        pm=p.get("pm"),
        exempt=tuple(p.get("exempt", ())),
        calendar=p.get("calendar"),
        start_on=p.get("start_on"),
        due_on=p.get("due_on"),
        rag_override=p.get("rag_override"),
        portfolio=parents[0],
        programme=parents[1],
        path=path,
    )


def _build_hierarchy(
    checked: list[dict[str, Any] | None], source_names: set[str], ctx: _Ctx
) -> tuple[PortfolioNode, ...]:
    out = []
    project_paths: dict[str, str] = {}

    def projects_of(items: list[Any], base: str, parents: tuple[str, str | None]):
        nodes = []
        for k, p in enumerate(items):
            if not p or "key" not in p:
                continue
            path = f"{base}.projects[{k}]"
            if p["key"] in project_paths:
                ctx.error(
                    f"{path}.key",
                    f"project {p['key']!r} is already defined at "
                    f"{ctx.where(project_paths[p['key']])} ({project_paths[p['key']]})",
                )
            project_paths[p["key"]] = path
            nodes.append(_project_node(p, path, parents, source_names, ctx))
        return tuple(nodes)

    for i, pf in enumerate(checked):
        if not pf or "portfolio" not in pf:
            continue
        ppath = f"hierarchy[{i}]"
        programmes = []
        for j, g in enumerate(pf.get("programmes", [])):
            if not g or "programme" not in g:
                continue
            gpath = f"{ppath}.programmes[{j}]"
            programmes.append(
                ProgrammeNode(
                    key=g["programme"],
                    name=g.get("name"),
                    pm=g.get("pm"),
                    cadence=g.get("cadence"),
                    overrides=g.get("overrides", {}),
                    projects=projects_of(
                        g.get("projects", []), gpath, (pf["portfolio"], g["programme"])
                    ),
                    portfolio=pf["portfolio"],
                    path=gpath,
                )
            )
        out.append(
            PortfolioNode(
                key=pf["portfolio"],
                name=pf.get("name"),
                owner=pf.get("owner"),
                cadence=pf.get("cadence"),
                calendar=pf.get("calendar"),
                overrides=pf.get("overrides", {}),
                programmes=tuple(programmes),
                projects=projects_of(pf.get("projects", []), ppath, (pf["portfolio"], None)),
                path=ppath,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- starter file

STARTER_CONFIG = """\
# pmohub configuration. Format: see RULES.md section 3 and README "Configuration".
# Unknown keys are rejected; secrets never go in this file: name environment
# variables with *_env keys instead (token_env: JIRA_TOKEN).
version: 1

# Central store: a SQLite file beside this config, or PostgreSQL for shared use
# (postgresql+psycopg://pmohub@db.example.cn/pmohub; password from PGPASSWORD or
# ${VAR} interpolation, always printed redacted).
database: sqlite:///pmohub.db
timezone: Asia/Shanghai
language: zh-CN                     # or en

calendars:
  cn: {weekend: [sat, sun], source: chinesecalendar}
defaults: {calendar: cn, hours_per_day: 8}

# One entry per tracker or plan file; the name is how the CLI and the store refer to it.
sources: {}
#  jira_main:
#    type: jira                      # Cloud or Data Center, detected automatically
#    url: https://example.atlassian.net
#    email: pmo-bot@example.cn       # Cloud basic auth; omit for a DC personal access token
#    token_env: JIRA_TOKEN           # the NAME of the variable holding the token
#    projects: [CRMA, PMO]
#    status_map: {"待验收": review, "Blocked": blocked}
#  ops_plan:
#    type: spreadsheet
#    path: plans/ops_migration_plan.xlsx   # relative to this file

# people:                            # identities merged across tools, capacity
#   - {id: "jira:5b10a2844c20165700ede21g", name: 张伟, hours_per_day: 6}

# rules:                             # tune or disable PMO rules (RULES.md section 1)
#   RPT-001: {cadence: weekly, grace_wd: 2}

# waivers:
#   - {rule: PLAN-001, scope: "project:OPS-MIG", reason: 无采购, expires: 2026-09-30,
#      approved_by: pmo.lead}

# hierarchy:                         # portfolio -> programme -> project
#   - portfolio: DIGI
#     name: 数字化转型
#     programmes:
#       - programme: CUST
#         name: 客户平台
#         projects:
#           - {key: CRM-APP, name: 新版CRM, source: {name: jira_main, jql: "project = CRMA"}}
"""


def write_starter_config(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write the commented starter file; refuses to overwrite unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise ConfigFileError(f"{path} already exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    return path
