"""Imports point one way: cli -> aggregator -> {rules, connectors} -> connectors.records.

A connector never touches the database, pandas or click; a rule never does I/O; only a
connector's ``client.py`` imports its vendor library. This test reads every module's
imports (statically, with ``ast``) so a shortcut across the layers fails CI.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("connectors", "aggregator", "rules", "cli", "emulators")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    # the installed namespace: pmohub.aggregator is the repository's aggregator/
    return {n.removeprefix("pmohub.") for n in found}


def _top(name: str) -> str:
    return name.split(".")[0]


# package -> top-level names it must never import
FORBIDDEN: dict[str, set[str]] = {
    "connectors": {
        "aggregator",
        "rules",
        "cli",
        "emulators",
        "sqlalchemy",
        "pandas",
        "click",
        "alembic",
        "numpy",
    },
    "rules": {
        "aggregator",
        "cli",
        "emulators",
        "sqlalchemy",
        "requests",
        "jira",
        "click",
        "alembic",
        "smtplib",
        "socket",
        "urllib",
    },
    "aggregator": {"cli", "click"},
    "emulators": {"aggregator", "rules", "cli", "connectors"},
}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_layering(path: Path) -> None:
    package = path.relative_to(ROOT).parts[0]
    bad = {imp for imp in _imports(path) if _top(imp) in FORBIDDEN.get(package, set())}
    if package == "rules":
        # connectors.records is the shared vocabulary; nothing else from connectors.
        bad |= {
            imp
            for imp in _imports(path)
            if _top(imp) == "connectors" and imp not in ("connectors.records", "connectors.errors")
        }
    assert not bad, f"{path.relative_to(ROOT)} imports across layers: {sorted(bad)}"


def test_records_are_stdlib_only() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    imports = _imports(ROOT / "connectors" / "records.py")
    assert {i for i in imports if _top(i) not in stdlib} == set()


def test_only_client_modules_import_vendor_libraries() -> None:
    vendor = {"jira", "requests"}
    offenders = []
    for path in (ROOT / "connectors").rglob("*.py"):
        rel = path.relative_to(ROOT)
        allowed = (
            path.name == "client.py"
            or rel.parts[-1] in ("http.py", "restclient.py")
            or (
                path.name == "reader.py"  # file I/O for spreadsheets/MSPDI, no HTTP
            )
        )
        used = {_top(i) for i in _imports(path)} & vendor
        if used and not allowed:
            offenders.append(f"{rel}: {sorted(used)}")
    assert offenders == []


def test_packages_listed_in_pyproject_cover_every_package() -> None:
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        "pmohub." + ".".join(p.parent.relative_to(ROOT).parts)
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("__init__.py")
    }
    assert on_disk - listed == set(), "packages missing from pyproject.toml"


# -- the rooms of aggregator/ (docs/architecture.md) ------------------------------------

#: room -> rooms it must never import (the data flows store -> compliance | status ->
#: report -> jobs; config and people are read by everyone below the CLI)
ROOM_FORBIDDEN: dict[str, set[str]] = {
    "store": {"compliance", "status", "report", "jobs", "ingest", "demo", "config", "people"},
    "config": {"store", "compliance", "status", "report", "jobs", "ingest", "demo", "people"},
    "ingest": {"compliance", "status", "report", "jobs", "demo"},
    "status": {"compliance", "report", "jobs", "demo", "ingest"},
    "compliance": {"report", "jobs", "demo", "ingest"},
    "report": {"jobs", "demo", "ingest"},
    "jobs": {"demo"},
    # the BI layer reads the store, config and status settings; jobs and the CLI call it
    "bi": {"compliance", "report", "jobs", "demo", "ingest"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "aggregator" or len(parts) < 2:
        return None
    return parts[1]


@pytest.mark.parametrize(
    "path", sorted((ROOT / "aggregator").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_rooms_import_downstream_only(path: Path) -> None:
    room = _room(_module_name(path))
    forbidden = ROOM_FORBIDDEN.get(room or "", set())
    bad = sorted(imp for imp in _imports(path) if _room(imp) in forbidden)
    assert not bad, f"{path.relative_to(ROOT)} ({room}) imports {bad}"


def _import_graph(package: str) -> dict[str, set[str]]:
    """module -> project modules it imports (function-level imports included: a lazy import
    still ties the two modules together)."""
    modules = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for imp in _imports(path):
            # `from pkg import module` names a module too; take the longest known prefix
            while imp and imp not in modules:
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                deps.add(imp)
        graph[name] = deps
    # a package's __init__ that only hands names on is not a room of its own
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("package", ["aggregator", "cli", "connectors", "rules"])
def test_no_import_circles(package: str) -> None:
    assert _cycles(_import_graph(package)) == []


#: the two plug-in registries: connectors by source type, rule modules by package
PLUGIN_REGISTRIES = {"connectors/registry.py", "rules/engine.py"}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_by_string_outside_the_registries(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    if rel in PLUGIN_REGISTRIES:
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__"))
        )
    ]
    assert calls == [], f"{rel}: a module imported by string at line(s) {calls}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_imported_across_modules(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pmohub.")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert bad == [], f"{path.relative_to(ROOT)} imports private names {bad}"


# -- sizes --------------------------------------------------------------------------------

MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 120


def _sized_modules() -> list[Path]:
    # An applied migration is frozen history (its checksum is what stores were built by),
    # so it is not restructured to fit; everything else is.
    return [p for p in _modules() if "migrations" not in p.parts]


@pytest.mark.parametrize("path", _sized_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_file_and_function_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n") + 1
    assert lines <= MAX_FILE_LINES, f"{path.relative_to(ROOT)}: {lines} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{path.relative_to(ROOT)}: functions over {MAX_FUNCTION_LINES} lines"
