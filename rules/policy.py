"""The rule policy: enable/disable and thresholds per rule, with precedence
project > programme > portfolio > ``rules:`` > built-in defaults, plus waivers.

Pure: it parses the already-loaded YAML structures (``rules:``, ``waivers:``, the
``hierarchy:`` overrides) and validates them against the rule catalogue. Errors name the
file and line through the config loader's ``where(path)`` and suggest the closest id/key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pmohub.rules.engine import RuleMeta

Where = Callable[[str], str | None]
SCOPE_KINDS = ("project", "programme", "portfolio")
WAIVER_KEYS = ("rule", "scope", "reason", "expires", "approved_by", "subject")


class PolicyError(ValueError):
    """A policy entry that cannot be honoured; the message names file:line and the key."""


@dataclass(frozen=True)
class Waiver:
    rule_id: str
    scope: str  # "project:OPS-MIG"
    reason: str
    expires_on: dt.date | None
    approved_by: str | None
    where: str | None = None
    subject: str | None = None  # one subject only ("issue:jira_main:10023"), else all

    @property
    def scope_kind(self) -> str:
        return self.scope.split(":", 1)[0]

    @property
    def scope_key(self) -> str:
        return self.scope.split(":", 1)[1]

    def active(self, as_of: dt.date) -> bool:
        return self.expires_on is None or as_of <= self.expires_on


@dataclass(frozen=True)
class WaiverMatch:
    """The waiver that applies (``active``), or the expired one that no longer does."""

    waiver: Waiver
    active: bool

    def note(self) -> str:
        w = self.waiver
        if self.active:
            return f"waived by {w.approved_by or '?'} until {w.expires_on or 'further notice'}: {w.reason}"
        return f"waiver expired on {w.expires_on} ({w.reason}); no longer waived"


@dataclass
class Policy:
    """Effective settings of every rule for every project. Build with :func:`build_policy`."""

    rule_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # rules: level
    overrides: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    parents: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    waivers: list[Waiver] = field(default_factory=list)

    def layers(self, project_key: str | None) -> list[dict[str, dict[str, Any]]]:
        """Override layers for a project, lowest precedence first."""
        out: list[dict[str, dict[str, Any]]] = [self.rule_settings]
        if project_key is None:
            return out
        portfolio, programme = self.parents.get(project_key, (None, None))
        for kind, key in (
            ("portfolio", portfolio),
            ("programme", programme),
            ("project", project_key),
        ):
            if key is not None and (kind, key) in self.overrides:
                out.append(self.overrides[(kind, key)])
        return out

    def params(self, meta: RuleMeta, project_key: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {"enabled": True, **meta.defaults}
        for layer in self.layers(project_key):
            values.update(layer.get(meta.id, {}))
        return values

    def enabled(self, meta: RuleMeta, project_key: str | None) -> bool:
        return bool(self.params(meta, project_key)["enabled"])

    def params_frame(self, meta: RuleMeta, projects: Iterable[str]) -> pd.DataFrame:
        keys = list(meta.defaults)
        index = pd.Index(list(projects), dtype=object, name="project_key")
        rows = [self.params(meta, p) for p in index]
        return pd.DataFrame([{k: r[k] for k in keys} for r in rows], index=index, columns=keys)

    def waiver_for(
        self, rule_id: str, project_key: str | None, as_of: dt.date, subject: str | None = None
    ) -> WaiverMatch | None:
        """The most specific waiver for the rule and project (project > programme >
        portfolio); an active one wins over an expired one at the same level."""
        portfolio, programme = self.parents.get(project_key or "", (None, None))
        targets = [
            f"project:{project_key}" if project_key else None,
            f"programme:{programme}" if programme else None,
            f"portfolio:{portfolio}" if portfolio else None,
        ]
        for target in targets:
            if target is None:
                continue
            matching = [
                w
                for w in self.waivers
                if w.rule_id == rule_id
                and w.scope == target
                and (w.subject is None or w.subject == subject)
            ]
            if not matching:
                continue
            active = [w for w in matching if w.active(as_of)]
            if active:
                return WaiverMatch(active[0], True)
            return WaiverMatch(max(matching, key=lambda w: w.expires_on or dt.date.min), False)
        return None


# -- parsing ----------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    """Typed config objects (dataclasses) -> plain dicts/lists, recursively."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def _loc(where: Where | None, path: str) -> str:
    found = where(path) if where else None
    return f"{found}: " if found else ""


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_settings(
    settings: Any, path: str, known: Mapping[str, RuleMeta], where: Where | None
) -> dict[str, dict[str, Any]]:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise PolicyError(f"{_loc(where, path)}{path}: expected a mapping of rule id -> settings")
    out: dict[str, dict[str, Any]] = {}
    for rule_id, values in settings.items():
        rpath = f"{path}.{rule_id}"
        if rule_id not in known:
            raise PolicyError(
                f"{_loc(where, rpath)}{rpath}: unknown rule id {rule_id!r}{_suggest(str(rule_id), known)}"
            )
        meta = known[rule_id]
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise PolicyError(
                f"{_loc(where, rpath)}{rpath}: expected a mapping like {{enabled: false}}"
            )
        allowed = ["enabled", *meta.defaults]
        checked: dict[str, Any] = {}
        for key, value in values.items():
            kpath = f"{rpath}.{key}"
            if key not in allowed:
                raise PolicyError(
                    f"{_loc(where, kpath)}{kpath}: unknown key {key!r} for {rule_id} "
                    f"(allowed: {', '.join(allowed)}){_suggest(str(key), allowed)}"
                )
            default = True if key == "enabled" else meta.defaults[key]
            checked[key] = _coerce(value, default, kpath, where)
        out[rule_id] = checked
    return out


def _coerce(value: Any, default: Any, path: str, where: Where | None) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise PolicyError(f"{_loc(where, path)}{path}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError(f"{_loc(where, path)}{path}: expected a number, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise PolicyError(f"{_loc(where, path)}{path}: expected text, got {value!r}")
        return value
    if isinstance(default, list | tuple):
        if not isinstance(value, list | tuple):
            raise PolicyError(f"{_loc(where, path)}{path}: expected a list, got {value!r}")
        return list(value)
    return value


def _as_date(value: Any, path: str, where: Where | None) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise PolicyError(
            f"{_loc(where, path)}{path}: not a date {value!r} (use YYYY-MM-DD)"
        ) from exc


def build_policy(
    known: Mapping[str, RuleMeta],
    *,
    rules: Any = None,
    waivers: Any = None,
    hierarchy: Any = None,
    where: Where | None = None,
) -> Policy:
    """Validate and assemble the policy. ``known``: rule id -> metadata (the catalogue)."""
    rules, waivers, hierarchy = _plain(rules), _plain(waivers), _plain(hierarchy)
    policy = Policy(rule_settings=_check_settings(rules, "rules", known, where))
    hierarchy_keys: dict[str, set[str]] = {k: set() for k in SCOPE_KINDS}
    for pi, portfolio in enumerate(hierarchy or []):
        ppath = portfolio.get("path") or f"hierarchy[{pi}]"
        pkey = portfolio.get("portfolio") or portfolio.get("key")
        hierarchy_keys["portfolio"].add(pkey)
        if portfolio.get("overrides"):
            policy.overrides[("portfolio", pkey)] = _check_settings(
                portfolio["overrides"], f"{ppath}.overrides", known, where
            )
        groups = [(None, f"{ppath}", portfolio)]
        for gi, programme in enumerate(portfolio.get("programmes") or []):
            gpath = programme.get("path") or f"{ppath}.programmes[{gi}]"
            gkey = programme.get("programme") or programme.get("key")
            hierarchy_keys["programme"].add(gkey)
            if programme.get("overrides"):
                policy.overrides[("programme", gkey)] = _check_settings(
                    programme["overrides"], f"{gpath}.overrides", known, where
                )
            groups.append((gkey, gpath, programme))
        for gkey, gpath, node in groups:
            for qi, project in enumerate(node.get("projects") or []):
                qpath = project.get("path") or f"{gpath}.projects[{qi}]"
                key = project.get("key")
                hierarchy_keys["project"].add(key)
                policy.parents[key] = (pkey, gkey)
                if project.get("overrides"):
                    policy.overrides[("project", key)] = _check_settings(
                        project["overrides"], f"{qpath}.overrides", known, where
                    )
    for wi, raw in enumerate(waivers or []):
        wpath = (raw.get("path") if isinstance(raw, Mapping) else None) or f"waivers[{wi}]"
        if not isinstance(raw, Mapping):
            raise PolicyError(f"{_loc(where, wpath)}{wpath}: expected a mapping")
        for key in raw:
            if key not in WAIVER_KEYS and key not in ("rule_id", "expires_on", "path"):
                raise PolicyError(
                    f"{_loc(where, f'{wpath}.{key}')}{wpath}.{key}: unknown key {key!r} "
                    f"(allowed: {', '.join(WAIVER_KEYS)}){_suggest(str(key), WAIVER_KEYS)}"
                )
        rule_id = raw.get("rule") or raw.get("rule_id")
        if rule_id not in known:
            raise PolicyError(
                f"{_loc(where, f'{wpath}.rule')}{wpath}.rule: unknown rule id {rule_id!r}"
                f"{_suggest(str(rule_id), known)}"
            )
        scope = str(raw.get("scope") or "")
        kind, _, key = scope.partition(":")
        if kind not in SCOPE_KINDS or not key:
            raise PolicyError(
                f"{_loc(where, f'{wpath}.scope')}{wpath}.scope: {scope!r} is not "
                "project:KEY, programme:KEY or portfolio:KEY"
            )
        if hierarchy is not None and key not in hierarchy_keys[kind]:
            raise PolicyError(
                f"{_loc(where, f'{wpath}.scope')}{wpath}.scope: no {kind} {key!r} in the "
                f"hierarchy{_suggest(key, hierarchy_keys[kind])}"
            )
        reason = raw.get("reason")
        if not reason:
            raise PolicyError(
                f"{_loc(where, f'{wpath}.reason')}{wpath}.reason: a waiver needs a reason"
            )
        policy.waivers.append(
            Waiver(
                rule_id=rule_id,
                scope=scope,
                reason=str(reason),
                expires_on=_as_date(
                    raw.get("expires", raw.get("expires_on")), f"{wpath}.expires", where
                ),
                approved_by=raw.get("approved_by"),
                where=where(wpath) if where else None,
                subject=raw.get("subject"),
            )
        )
    return policy
