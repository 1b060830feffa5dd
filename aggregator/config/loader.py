"""Loading ``pmohub.yaml`` into a typed :class:`Config`: the library's entry point.

``parse_config(text)`` / ``load_config_file(path)`` / ``load_config()`` (``--config`` >
``$PMOHUB_CONFIG`` > ``./pmohub.yaml``). Every problem is reported with its line, all of
them in one :class:`ConfigFileError`. The file's shape is aggregator/config/document.py
(every top-level key and section, listed explicitly); docs/configuration.md is generated
from it. The rooms of this package, from the bottom: yamlio (YAML with lines), schema
(spec classes), sections (report/smtp/schedule), document (the whole shape), sources
(per-connector options), model (the typed result), starter (``pmohub init``'s file).

The names other modules import from here (``Config``, ``ConfigFileError``, ``redact_url``,
``write_starter_config``...) stay importable from this module.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pmohub.aggregator.config.document import DEFAULT_DATABASE, TOP, WAIVER
from pmohub.aggregator.config.model import (
    CalendarConfig,
    Config,
    PersonConfig,
    PortfolioNode,
    ProgrammeNode,
    ProjectNode,
    ProjectSource,
    Waiver,
    redact_url,
)
from pmohub.aggregator.config.schema import (
    CheckContext,
    DatabaseUrl,
    Invalid,
    did_you_mean,
    type_name,
)
from pmohub.aggregator.config.sections import SECTIONS
from pmohub.aggregator.config.sources import check_source
from pmohub.aggregator.config.starter import write_starter_config
from pmohub.aggregator.config.yamlio import ConfigFileError, join_path, parse_yaml
from pmohub.connectors.base import SourceConfig
from pmohub.rules.clock import DEFAULT_TZ

__all__ = [
    "CONFIG_ENV",
    "CONFIG_NAME",
    "DEFAULT_DATABASE",
    "Config",
    "ConfigFileError",
    "find_config_path",
    "load_config",
    "load_config_file",
    "parse_config",
    "redact_url",
    "write_starter_config",
]

CONFIG_ENV = "PMOHUB_CONFIG"
CONFIG_NAME = "pmohub.yaml"


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
    """Check ``text`` against the whole schema (every section included) and build the
    :class:`Config`; raises :class:`ConfigFileError` listing every problem."""
    doc = parse_yaml(text, filename)
    base_dir = path.parent if path else Path.cwd()
    ctx = CheckContext(filename, doc.lines, base_dir)
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{filename}:1: the file must be a mapping (key: value lines)")
    try:
        top = TOP.check(data, "", ctx)
    except Invalid:
        top = {}

    raw_sources = data.get("sources") or {}
    if not isinstance(raw_sources, dict):
        ctx.error("sources", f"expected a mapping of source names, got {type_name(raw_sources)}")
        raw_sources = {}
    sources = _sources(raw_sources, ctx)
    calendars = _calendars(top.get("calendars", {}))
    defaults = top.get("defaults", {})
    if "calendar" in defaults and defaults["calendar"] not in calendars:
        ctx.error(
            "defaults.calendar",
            f"calendar {defaults['calendar']!r} is not defined under calendars"
            f"{did_you_mean(defaults['calendar'], calendars)}",
        )
    people = _people(top.get("people", []), calendars, ctx)
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
                f"{did_you_mean(node.calendar, calendars)}",
            )

    if ctx.problems:
        raise ConfigFileError(ctx.problems)

    sections = {s.name: s.convert(top[s.name]) for s in SECTIONS if s.name in top}
    return Config(
        path=path,
        database=top.get("database") or DatabaseUrl().check(DEFAULT_DATABASE, "database", ctx),
        timezone=top.get("timezone", DEFAULT_TZ),
        language=top.get("language", "zh-CN"),
        version=top.get("version", 1),
        calendars=calendars,
        defaults=defaults,
        sources=sources,
        people=people,
        people_exclude=tuple(top.get("people_exclude", ())),
        rules=top.get("rules", {}),
        waivers=waivers,
        hierarchy=hierarchy,
        sections=sections,
        env_names=frozenset(ctx.env_names),
        lines=dict(doc.lines),
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _sources(raw_sources: Mapping[str, Any], ctx: CheckContext) -> dict[str, SourceConfig]:
    sources: dict[str, SourceConfig] = {}
    for name, raw in raw_sources.items():
        if not re.match(r"^[A-Za-z0-9_.-]+$", name):
            ctx.error(join_path("sources", name), "source names use letters, digits, _ . - only")
            continue
        src = check_source(name, raw, join_path("sources", name), ctx)
        if src is not None:
            sources[name] = src
    return sources


def _calendars(checked: Mapping[str, dict[str, Any]]) -> dict[str, CalendarConfig]:
    return {
        name: CalendarConfig(
            name=name,
            weekend=tuple(c.get("weekend", ("sat", "sun"))),
            source=c.get("source", "none"),
            extra_holidays=tuple(c.get("extra_holidays", ())),
            extra_workdays=tuple(c.get("extra_workdays", ())),
        )
        for name, c in checked.items()
    }


def _people(
    checked: list[dict[str, Any]], calendars: Mapping[str, CalendarConfig], ctx: CheckContext
) -> tuple[PersonConfig, ...]:
    people = []
    seen_ids: dict[str, int] = {}
    for i, p in enumerate(checked):
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
                f"calendar {own!r} is not defined under calendars{did_you_mean(own, calendars)}",
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
    return tuple(people)


def _project_node(
    p: dict[str, Any],
    path: str,
    parents: tuple[str, str | None],
    source_names: set[str],
    ctx: CheckContext,
) -> ProjectNode:
    src = None
    name = p["source"].get("name") if isinstance(p.get("source"), dict) else None
    if "source" in p and not isinstance(name, str):
        # found by fuzzing: a source selector without its name was a KeyError traceback
        ctx.error(f"{path}.source", "missing 'name': the source (under sources) to read it from")
    elif "source" in p:
        sel = {k: v for k, v in p["source"].items() if k != "name"}
        src = ProjectSource(name=name, selector=sel)
        if src.name not in source_names:
            ctx.error(
                f"{path}.source.name",
                f"no source named {src.name!r} under sources{did_you_mean(src.name, source_names)}",
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
    checked: list[dict[str, Any] | None], source_names: set[str], ctx: CheckContext
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
