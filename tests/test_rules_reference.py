"""docs/rules.md is generated from the rule metadata and must be current; the catalogue
metadata is complete."""

from __future__ import annotations

from pathlib import Path

from pmohub.rules.engine import FRAMES, load_rules
from pmohub.rules.reference import to_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_docs_rules_md_is_current() -> None:
    expected = to_markdown(load_rules())
    assert DOCS.read_text(encoding="utf-8") == expected, (
        "docs/rules.md is stale: run `pmohub rules --format markdown > docs/rules.md`"
    )


def test_every_rule_has_complete_metadata() -> None:
    seeds = {"000", "001", "002", "003", "004"}
    for rule_id, rule in load_rules().items():
        meta = rule.meta
        assert meta.id == rule_id
        assert meta.title_en and meta.title_zh and meta.fix_en and meta.fix_zh and meta.check
        assert meta.basis_seed in seeds, rule_id
        assert meta.severity in ("high", "medium", "low")
        assert set(meta.needs) <= set(FRAMES), rule_id
        assert meta.needs, f"{rule_id} declares no data needs"
