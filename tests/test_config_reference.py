"""docs/configuration.md is generated from the loader's schema and must be current; every
key is documented; the example it shows loads; a full config loads through the library
alone, in a fresh interpreter (no module imported first for a side effect)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pmohub.aggregator.config.document import TOP
from pmohub.aggregator.config.reference import EXAMPLE, _nested, to_markdown
from pmohub.aggregator.config.schema import Fields
from pmohub.aggregator.config.sections import SECTIONS
from pmohub.aggregator.config.sources import COMMON_SOURCE

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_docs_configuration_md_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == to_markdown(), (
        "docs/configuration.md is stale: run "
        "`.venv/bin/python -m pmohub.aggregator.config.reference --write`"
    )


def test_every_key_is_documented() -> None:
    mappings = [("", TOP), ("sources.<name>.", Fields(COMMON_SOURCE))]
    mappings += [(p + ".", f) for p, f, _ in _nested(TOP, "")]
    undocumented = [p + k for p, f in mappings for k, s in f.fields.items() if not s.doc]
    assert not undocumented


def test_every_section_is_in_the_top_level_schema() -> None:
    assert [s.name for s in SECTIONS] == ["report", "smtp", "schedule", "notify", "sync"]
    for s in SECTIONS:
        assert TOP.fields[s.name] is s.spec


# Only the loader is imported: the sections must be known without cli/, report/ or jobs/.
FRESH = """
import sys
from pmohub.aggregator.config.loader import parse_config
cfg = parse_config(sys.stdin.read())
print(json.dumps({
    "sections": {k: type(v).__name__ for k, v in cfg.sections.items()},
    "out_dir": cfg.sections["report"].out_dir,
    "smtp_port": cfg.sections["smtp"].effective_port,
    "nightly": cfg.sections["schedule"].nightly,
    "projects": [p.key for p in cfg.projects()],
    "loaded": sorted(m for m in sys.modules
                     if m.startswith(("pmohub.cli", "pmohub.aggregator.report",
                                      "pmohub.aggregator.jobs", "pmohub.aggregator.demo"))),
}))
"""


def test_full_config_loads_through_the_library_alone_in_a_fresh_interpreter(
    tmp_path: Path,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import json\n" + FRESH],
        input=EXAMPLE,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["sections"] == {
        "report": "ReportSettings",
        "smtp": "SmtpSettings",
        "schedule": "ScheduleSettings",
        "notify": "NotifySettings",
    }
    assert (got["out_dir"], got["smtp_port"], got["nightly"]) == ("reports", 587, "02:00")
    assert got["projects"] == ["OPS-MIG", "CRM-APP"]
    assert got["loaded"] == []
