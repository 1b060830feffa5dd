"""One RAG decision (rules/rag.py): with tuned thresholds in the policy, RPT-003's computed
colour is the colour ``pmohub status`` decides for every project of a store.

Before, ``pmohub status`` hard-coded SPI/CPI bands of 0.95/0.85 and a risk score of 15
while RPT-003 read the policy: tuning ``rules: RPT-003`` gave two "computed" colours.
RPT-003 sees schedule (SPI(t), no stored forecast), cost and risk; the store here has no
stored forecast, so those are the dimensions the status decides on too, and the overall
colour of those dimensions is the status's colour.
"""

from __future__ import annotations

import pytest
import test_rollup
from rollup_data import item, local, write

from pmohub.aggregator.compliance.run import run_checks
from pmohub.aggregator.config.loader import parse_config
from pmohub.aggregator.status.rollup import project_status
from pmohub.aggregator.store.engine import open_store
from pmohub.rules.rag import overall_colour

NAME = {"G": "Green", "A": "Amber", "R": "Red"}
TUNED = "rules:\n  RPT-003: {green: 2.5, amber: 0.3, risk_score: 12}\n"


def _store(store_url: str, rules: str):
    engine = open_store(store_url)
    config = parse_config(test_rollup.CONFIG_W + rules)
    test_rollup.build(engine, config)
    # Every project reports Green (so RPT-003 evaluates it); PAY has a risk scored 12 with
    # no response: high under the tuned threshold only.
    reports = [
        item(
            f"{p}-SR",
            tracker,
            type="Status Report",
            extra={"rag": "Green"},
            created_at=local(2026, 10, 15),
        )
        for p, tracker in (("CRM", "CRMA"), ("PAY", "PAY"), ("OPS", "OPS"))
    ]
    risk = item(
        "PAY-R1",
        "PAY",
        type="Risk",
        created_at=local(2026, 10, 9),
        extra={"risk_probability": 3, "risk_impact": 4},
    )
    write(engine, items=[*reports, risk])
    return engine, config


@pytest.mark.parametrize("rules", ["", TUNED], ids=["defaults", "tuned"])
def test_rpt003_computed_colour_is_the_status_colour(store_url, rules):
    engine, config = _store(store_url, rules)
    status = project_status(engine, config, test_rollup.AS_OF).projects.set_index("project_key")
    checked = run_checks(
        engine, config, as_of=test_rollup.AS_OF, rule_ids=["RPT-003"], write=False
    ).outcomes.set_index("project_key")
    compared = 0
    for key, row in status.iterrows():
        outcome = checked.loc[key, "outcome"]
        evidence = checked.loc[key, "evidence"] or {}
        dims = row[["rag_schedule", "rag_cost", "rag_risk"]].rename(lambda c: c[4:])
        if row["open_risks"] == 0:  # RPT-003: no risk dimension without open risks
            dims["risk"] = "NE"
        if outcome == "finding" and "cost" not in evidence:
            # RPT-003's EVM (rules/formulas.py) leaves CPI N/E below 80 % hour coverage,
            # where the status still computes one: an input difference, not the decision.
            dims["cost"] = "NE"
        expected = overall_colour(dims.to_frame().T)[0][0]
        if outcome == "ne":
            assert expected == "NE", (key, dims.to_dict())
            continue
        # Every project reports Green: a pass means computed Green, a finding says it.
        computed = evidence["computed"] if outcome == "finding" else "Green"
        assert computed == NAME[expected], (key, evidence, dims.to_dict())
        for dim, colour in dims.items():
            if outcome == "finding":
                assert evidence.get(dim) == NAME.get(colour), (key, dim, evidence, colour)
        others = {row["rag_scope"], row["rag_quality"], row["rag_resource"]}
        if others <= {"G", "NE"} and row["open_high_findings"] == 0:
            # nothing RPT-003 does not see moves the status's colour
            assert row["rag"] == expected, (key, row["rag"], expected)
        compared += 1
    assert compared >= 2


def test_tuned_thresholds_change_the_status_colour(store_url):
    """The status reads the policy: SPI(t) 2.37 is green by default, amber at green 2.5."""
    engine, config = _store(store_url, TUNED)
    p = project_status(engine, config, test_rollup.AS_OF).projects.set_index("project_key")
    assert p.loc["PAY", "rag_schedule"] == "A"
    assert p.loc["PAY", "high_risks"] == 1 and p.loc["PAY", "rag_risk"] == "R"
    assert "scored >= 12" in " ".join(p.loc["PAY", "rag_reasons"])
