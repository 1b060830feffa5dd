"""CLI start-up (issue 15): ``pmohub --help`` and every command's ``--help`` import no
pandas, numpy, matplotlib or SQLAlchemy (they cost about 0.6 s before any command
started); the heavy modules load inside the commands that need them.

Each check runs in a fresh interpreter, as the console script does: the test process has
long imported everything."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

HEAVY = ("pandas", "numpy", "matplotlib", "sqlalchemy", "requests", "openpyxl", "jinja2")

# Walks the command tree inside the child: every (sub)command's --help, then reports which
# heavy modules got imported along the way.
_CHILD = textwrap.dedent(
    """
    import json, sys
    import click
    from pmohub.cli.main import main

    def paths(cmd, prefix):
        yield prefix
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from paths(sub, [*prefix, name])

    helped = []
    for path in paths(main, []):
        try:
            main.main([*path, "--help"], prog_name="pmohub", standalone_mode=False)
        except SystemExit:
            pass
        helped.append(" ".join(path))
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
    print(json.dumps({"helped": helped, "heavy": heavy}))
    """
)


def test_every_help_imports_nothing_heavy() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the walk really reached the commands (a broken walk would pass vacuously)
    assert {"", "sync", "sources check", "report", "check", "status", "mail test"} <= set(
        result["helped"]
    )
    assert result["heavy"] == [], f"--help imported {result['heavy']}"


def test_console_script_help_import_time_has_no_heavy_module() -> None:
    """``python -X importtime`` of the real entry point: none of the heavy packages shows
    up as imported at all (a name in the listing means it was loaded)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pmohub.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Usage: " in proc.stdout and "--wide" in proc.stdout
    loaded = {
        m.group(1).split(".")[0]
        for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", proc.stderr, re.M)
    }
    assert "click" in loaded  # the listing is read correctly
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_still_loads_what_it_needs(tmp_path) -> None:
    """Lazy imports did not break the commands: ``init`` (config loader + SQLAlchemy)
    and ``sources`` run in a fresh interpreter."""
    cfg = tmp_path / "pmohub.yaml"
    init = subprocess.run(
        [sys.executable, "-m", "pmohub.cli.main", "init", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "pmohub.cli.main", "sources", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
