"""The ``sources:`` section: keys every source takes, and the options of its connector type.

Each connector declares its own options (``option_keys``: name -> Python type); a source
is checked against the common keys plus those, so a typo in a connector option is caught
with its line like any other key. Path options resolve relative to the config file.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pmohub.aggregator.config.document import (
    STATUS_MAP_VALUES,
)
from pmohub.aggregator.config.schema import (
    AnyValue,
    Bool,
    CheckContext,
    EnvName,
    Fields,
    Invalid,
    ListOf,
    MapOf,
    Num,
    Spec,
    Str,
    did_you_mean,
    type_name,
)
from pmohub.aggregator.config.yamlio import join_path
from pmohub.connectors import registry
from pmohub.connectors.base import SourceConfig
from pmohub.connectors.options import BUILTIN_OPTIONS

COMMON_SOURCE: dict[str, Spec] = {
    "type": Str().about("The connector type (see the table of types below).", example="jira"),
    "url": Str(interpolate=True).about(
        "The tracker's base URL.", example="https://example.atlassian.net"
    ),
    "token_env": EnvName().about(
        "The NAME of the environment variable holding the API token.", example="JIRA_TOKEN"
    ),
    "email": Str().about("Account e-mail (Jira Cloud basic auth).", example="pmo-bot@x.cn"),
    "username": Str().about("Account name, where the tracker wants one."),
    "projects": ListOf(Str(coerce=True), scalar_ok=True, unique=True).about(
        "The tracker projects to read.", default=[], example=["CRMA", "PMO"]
    ),
    "status_map": MapOf(Str(choices=STATUS_MAP_VALUES)).about(
        "Tracker status -> category, for statuses the connector cannot place.",
        default={},
        example={"待验收": "review"},
    ),
    "fields": MapOf(Str(coerce=True)).about(
        "pmohub field -> the tracker's field (custom fields).",
        default={},
        example={"story_points": "customfield_10016"},
    ),
    "issue_types": MapOf(ListOf(Str(coerce=True), scalar_ok=True)).about(
        "Kind -> the tracker's issue types of that kind.",
        default={},
        example={"risk": ["Risk", "风险"]},
    ),
    "excluded_resolutions": ListOf(Str(coerce=True), scalar_ok=True).about(
        "Resolutions that do not count as done (Won't Do...).", default=[]
    ),
    "registry_project": Str(coerce=True).about(
        "The tracker project holding the project registry.", example="PMO"
    ),
    "verify_tls": Bool().about("Verify the server's certificate.", default=True),
    "timeout_s": Num(minimum=1, maximum=3600).about(
        "Request timeout, seconds.", default=60.0, example=30
    ),
    "page_size": Num(minimum=1, maximum=5000, integer=True).about(
        "Records per request.", default=100, example=50
    ),
    "lookback_minutes": Num(minimum=0, maximum=7 * 24 * 60, integer=True).about(
        "Overlap of an incremental sync with the previous one.", default=60, example=10
    ),
    "max_deletion_share": Num(minimum=0, maximum=0.5).about(
        "Deletion circuit breaker: the largest share of the source's live items one census "
        "may soft-delete without confirmation (more than half, or an empty census, always "
        "needs it). See docs/data-safety.md.",
        default=0.2,
        example=0.1,
    ),
    "accept_deletions": Bool().about(
        "Confirm the deletions the circuit breaker held back (like `pmohub sync "
        "--accept-deletions`); remove it again after the sync.",
        default=False,
    ),
}


_PATH_OPTION_NAMES = frozenset({"path", "file", "files", "paths"})


class _Option(Spec):
    """A connector-declared option: ``option_keys`` maps the name to a Python type."""

    def __init__(self, name: str, kind: Any):
        self.name, self.kind = name, kind

    def check(self, value: Any, path: str, ctx: CheckContext) -> Any:
        if self.name.endswith("_env"):
            return EnvName().check(value, path, ctx)
        origin = typing.get_origin(self.kind) or self.kind
        is_path = origin is Path or (origin is str and self.name in _PATH_OPTION_NAMES)
        if is_path:
            if not isinstance(value, str):
                self.fail(ctx, path, f"expected a file path, got {type_name(value)}")
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
            self.fail(ctx, path, f"expected {origin.__name__}, got {type_name(value)}")
        return AnyValue().check(value, path, ctx)


def _option_keys(kind: str, target: str) -> Mapping[str, Any]:
    """The connector type's declared options: a built-in's from
    :data:`~pmohub.connectors.options.BUILTIN_OPTIONS` (its class's own) without importing
    it (read-only commands never use the connector), a plugin's from its class."""
    declared = BUILTIN_OPTIONS.get(kind)
    if declared is not None and registry.BUILTINS.get(kind) == target:
        return declared
    return registry.get(kind).option_keys


def check_source(name: str, raw: Any, path: str, ctx: CheckContext) -> SourceConfig | None:
    if not isinstance(raw, dict):
        ctx.error(path, f"expected a mapping with at least 'type', got {type_name(raw)}")
        return None
    kind = raw.get("type")
    if kind is None:
        ctx.error(path, "missing required key 'type'")
        return None
    option_keys: Mapping[str, Any] = {}
    available = registry.available()
    if not isinstance(kind, str) or kind not in available:
        ctx.error(
            join_path(path, "type"),
            f"unknown source type {kind!r}{did_you_mean(str(kind), available)}; "
            f"known types: {', '.join(sorted(available))}",
        )
        return None
    try:
        option_keys = _option_keys(kind, available[kind])
    except (ImportError, AttributeError, TypeError) as exc:
        ctx.error(join_path(path, "type"), f"connector {kind!r} cannot be loaded: {exc}")
        return None
    spec = Fields(
        {**COMMON_SOURCE, **{k: _Option(k, v) for k, v in option_keys.items()}},
        required=("type",),
    )
    try:
        values = spec.check(raw, path, ctx)
    except Invalid:
        return None
    common = {k: v for k, v in values.items() if k in COMMON_SOURCE}
    options = {k: v for k, v in values.items() if k not in COMMON_SOURCE}
    for key in ("projects", "excluded_resolutions"):
        if key in common:
            common[key] = tuple(common[key])
    if "issue_types" in common:
        common["issue_types"] = {k: tuple(v) for k, v in common["issue_types"].items()}
    return SourceConfig(name=name, **common, options=options)
