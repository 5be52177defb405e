"""The new decision point behind the connector's interface decides as the first one did, and fails closed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from trustspace.connector.policy import DecisionContext, PolicyDecisionPoint, SimplePolicyDecisionPoint
from trustspace.policy.adapter import OdrlPolicyDecisionPoint

CONTEXT = DecisionContext(consumer="did:web:bank", roles=("consumer",), space="trustspace",
                          now=datetime(2026, 5, 4, tzinfo=UTC), purpose="credit")


def _policy(*constraints: dict[str, Any], action: str = "use", **more: Any) -> dict[str, Any]:
    return {"@type": "Offer", "@id": "urn:offer", "permission": [{"action": action,
                                                                 "constraint": list(constraints)}], **more}


POLICIES = [
    _policy({"leftOperand": "trustspace:role", "operator": "isAnyOf", "rightOperand": ["consumer"]}),
    _policy({"leftOperand": "trustspace:space", "operator": "eq", "rightOperand": "another-space"}),
    _policy({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2023-12-31T06:00Z"}),
    _policy({"leftOperand": "dateTime", "operator": "gt", "rightOperand": "2026-01-01T00:00:00Z"}),
    _policy({"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["credit", "audit"]}),
    _policy({"leftOperand": "partner", "operator": "eq", "rightOperand": "gold"}),
    _policy(action="read"),
    _policy(action="distribute"),
    {"permission": [{"action": "use"}], "prohibition": [{"action": "use"}], "conflict": "prohibit"},
]


def test_it_is_a_policy_decision_point() -> None:
    pdp: PolicyDecisionPoint = OdrlPolicyDecisionPoint()
    assert pdp.decide(POLICIES[0], CONTEXT).allowed


@pytest.mark.parametrize("policy", POLICIES)
def test_decides_as_the_first_decision_point(policy: dict[str, Any]) -> None:
    assert OdrlPolicyDecisionPoint().decide(policy, CONTEXT).allowed == \
        SimplePolicyDecisionPoint().decide(policy, CONTEXT).allowed


def test_a_refusal_says_which_constraint_failed() -> None:
    decision = OdrlPolicyDecisionPoint().decide(POLICIES[1], CONTEXT)
    assert not decision.allowed
    assert any("data space /permission/0/constraint/0, actual trustspace, expected = another-space" in r
               for r in decision.reasons)


def test_an_invalid_policy_is_a_refusal_with_the_field() -> None:
    decision = OdrlPolicyDecisionPoint().decide(POLICIES[5], CONTEXT)
    assert not decision.allowed
    assert decision.reasons[0].startswith("the policy is not valid: unknown-left-operand at "
                                          "/permission/0/constraint/0/leftOperand")


def test_obligations_it_cannot_run_are_a_refusal() -> None:
    policy = {"permission": [{"action": "use", "duty": [{"action": "delete"}]}]}
    decision = OdrlPolicyDecisionPoint().decide(policy, CONTEXT)
    assert not decision.allowed and "delete" in decision.reasons[0]


def test_the_agreements_assignee_must_be_the_consumer() -> None:
    agreement = {"@type": "Agreement", "assigner": "did:web:tax", "assignee": "did:web:other",
                 "permission": [{"action": "use"}]}
    assert not OdrlPolicyDecisionPoint().decide(agreement, CONTEXT).allowed
    assert OdrlPolicyDecisionPoint().decide({**agreement, "assignee": "did:web:bank"}, CONTEXT).allowed
