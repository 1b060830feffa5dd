"""Print a pip constraints file pinning every ``>=`` lower bound of pyproject.toml's runtime
dependencies (and the test tools the oldest-versions CI step needs) to exactly that version:
``name==bound``. CI installs with it to prove the oldest versions pyproject allows still
work (the other step tests the newest).

Usage: python .ci/lower_bounds.py > lower-bounds.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

#: extras whose lower bounds are pinned too (the subset of the test tools the step runs)
EXTRAS = ("test",)
#: tools that test, not run, pmohub: their newest release is fine and old ones drag in old
#: pytest plugins; ruff is pinned to a minor already
SKIP = {"ruff", "psycopg", "openapi-schema-validator", "jsonschema", "aiosmtpd"}


def bounds(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in EXTRAS:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    out = []
    for spec in specs:
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)", spec)
        if m and m.group(1).lower() not in SKIP:
            out.append(f"{m.group(1)}=={m.group(3)}")
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    sys.stdout.write("".join(f"{line}\n" for line in bounds(root / "pyproject.toml")))
