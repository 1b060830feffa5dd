"""The installed distribution: one top-level import name, and a repository that stands alone."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("pmohub-*.whl")
    return built


@pytest.mark.slow
def test_wheel_installs_one_top_level_name(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    before = {p.name for p in site.iterdir()}
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    new = {p.name for p in site.iterdir()} - before
    names = {n for n in new if not n.endswith((".dist-info", ".pth")) and n != "__pycache__"}
    assert names == {"pmohub"}
    # the package data came along (templates, samples, migrations)
    pkg = site / "pmohub"
    assert (pkg / "aggregator" / "report" / "templates").is_dir()
    assert any((pkg / "aggregator" / "demo" / "samples").glob("*.csv"))
    assert (pkg / "aggregator" / "store" / "migrations" / "script.py.mako").is_file()
    assert any((pkg / "aggregator" / "store" / "migrations" / "versions").glob("0001_*.py"))


def test_wheel_holds_every_module_of_the_repository(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        in_wheel = {n for n in z.namelist() if n.endswith(".py")}
    on_disk = {
        "pmohub/" + str(p.relative_to(ROOT))
        for top in ("connectors", "aggregator", "rules", "cli", "emulators")
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert on_disk - in_wheel == set()


#: documents outside the repository that no shipped file may send a reader to
OUTSIDE = re.compile(
    r"\.\./shared|\bshared/(?:specs|seeds|real-payloads|RULES|DESIGN)|RULES\.md|DESIGN\.md"
)


def _shipped_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "pyproject.toml"]
    for top in ("connectors", "aggregator", "rules", "cli", "emulators", "docs", "benchmarks"):
        files += [
            p
            for p in (ROOT / top).rglob("*")
            if p.is_file()
            and p.suffix in (".py", ".md", ".yaml", ".j2", ".ini", ".toml", ".txt")
            and "__pycache__" not in p.parts
            and "results" not in p.parts
        ]
    return files


def test_the_repository_stands_alone() -> None:
    bad = []
    for path in _shipped_files():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()[:80]}")
    assert bad == []
