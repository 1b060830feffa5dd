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
