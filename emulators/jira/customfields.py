"""The custom fields of a generated Jira site: their logical names, display names and
schemas (what ``/field`` answers), the options of the select fields, and the per-site ids.
"""

from __future__ import annotations

import random

# logical name -> (display name, schema.custom, schema.type, schema.items or None, deployments)
# "both" fields exist on Cloud and DC; epic_link only on DC (Cloud uses `parent`).
CUSTOM_FIELDS: dict[str, tuple[str, str, str, str | None, str]] = {
    "story_points": (
        "Story Points",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "dc",
    ),
    "story_point_estimate": (
        "Story point estimate",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "cloud",
    ),
    "sprint": ("Sprint", "com.pyxis.greenhopper.jira:gh-sprint", "array", "json", "both"),
    "epic_link": ("Epic Link", "com.pyxis.greenhopper.jira:gh-epic-link", "any", None, "dc"),
    "epic_name": ("Epic Name", "com.pyxis.greenhopper.jira:gh-epic-label", "string", None, "dc"),
    "rank": ("Rank", "com.pyxis.greenhopper.jira:gh-lexo-rank", "any", None, "both"),
    "start_date": (
        "Start date",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "flagged": (
        "Flagged",
        "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes",
        "array",
        "option",
        "both",
    ),
    "risk_probability": (
        "Risk Probability",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "both",
    ),
    "risk_impact": (
        "Risk Impact",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "both",
    ),
    "risk_response": (
        "Risk Response",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "risk_review_on": (
        "Risk Review Date",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "escalated_to_pmo": (
        "Escalated to PMO",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "cr_reason": (
        "CR Reason",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "cr_impact": (
        "CR Impact Analysis",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "cr_alternatives": (
        "CR Alternatives",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "ccb_decision": (
        "CCB Decision",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "rag": (
        "RAG",
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
        "option",
        None,
        "both",
    ),
    "subplans": (
        "Sub-plans",
        "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes",
        "array",
        "option",
        "both",
    ),
    "acceptance_criteria": (
        "Acceptance Criteria",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "objective": (
        "Objective",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "scope": (
        "Scope",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "deliverables": (
        "Deliverables",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "assumptions": (
        "Assumptions and Constraints",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "strategic_fit": (
        "Strategic Fit",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        "string",
        None,
        "both",
    ),
    "sponsor": (
        "Sponsor",
        "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
        "user",
        None,
        "both",
    ),
    "pm": (
        "Project Manager",
        "com.atlassian.jira.plugin.system.customfieldtypes:userpicker",
        "user",
        None,
        "both",
    ),
    "planned_start_on": (
        "Planned Start",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "planned_end_on": (
        "Planned End",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
        "date",
        None,
        "both",
    ),
    "priority_rank": (
        "Priority Rank",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
        "number",
        None,
        "both",
    ),
}
SELECT_OPTIONS: dict[str, list[str]] = {
    "risk_response": ["avoid", "reduce", "transfer", "accept"],
    "escalated_to_pmo": ["Yes", "No"],
    "ccb_decision": ["Pending", "Approved", "Rejected", "Revise"],
    "rag": ["Green", "Amber", "Red"],
    "subplans": [
        "范围管理",
        "进度管理",
        "成本管理",
        "质量管理",
        "资源管理",
        "沟通管理",
        "风险管理",
        "采购管理",
    ],
    "flagged": ["Impediment"],
}


def field_ids(rng: random.Random) -> dict[str, str]:
    # Per-site ids so a connector must discover them from /field (never hard-code 10016).
    base = 10_000 + rng.randrange(10, 400) * 10
    numbers = rng.sample(range(base, base + 300), len(CUSTOM_FIELDS))
    return {name: f"customfield_{n}" for name, n in zip(CUSTOM_FIELDS, numbers, strict=True)}
