"""Every class of invalid policy is refused at creation, naming the rule broken and the field (a JSON pointer)."""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import constraint

from trustspace.core.errors import CallerError, ValidationFailed
from trustspace.policy import PolicyInvalid, parse_policy
from trustspace.web.problems import error_body


def _refused(document: dict[str, Any]) -> PolicyInvalid:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(document)
    return caught.value


def _one(*constraints: dict[str, Any], action: Any = "read", **rule: Any) -> dict[str, Any]:
    return {"@type": "Offer", "permission": [{"action": action, "constraint": list(constraints), **rule}]}


@pytest.mark.parametrize(("document", "rule", "pointer"), [
    (_one(action="peek"), "unknown-action", "/permission/0/action"),
    (_one(action="odrl:desensitize"), "unknown-action", "/permission/0/action"),
    (_one(constraint("partner", "eq", "gold")), "unknown-left-operand", "/permission/0/constraint/0/leftOperand"),
    (_one(constraint("resolution", "lteq", 1200)), "unsupported-left-operand",
     "/permission/0/constraint/0/leftOperand"),
    (_one(constraint("count", "about", 3)), "unknown-operator", "/permission/0/constraint/0/operator"),
    (_one(constraint("region", "gt", "CN")), "operator-not-applicable", "/permission/0/constraint/0/operator"),
    (_one(constraint("purpose", "eq", None)), "missing-right-operand", "/permission/0/constraint/0/rightOperand"),
])
def test_refuses_unknown_names(document: dict[str, Any], rule: str, pointer: str) -> None:
    error = _refused(document)
    assert (error.rule, error.pointer) == (rule, pointer)


def test_refuses_an_odrl_prefix_on_a_profile_operand_and_says_which_prefix_defines_it() -> None:
    error = _refused(_one(constraint("odrl:timeWindow", "isPartOf", "09:00-17:00")))
    assert error.rule == "unknown-left-operand"
    assert error.hint == "did you mean tc609:timeWindow?"


@pytest.mark.parametrize("bad", [
    constraint("count", "lteq", "three"),
    constraint("count", "lteq", True),
    constraint("dateTime", "lt", "2026-01-01T00:00:00"),
    constraint("dateTime", "lt", "tomorrow"),
    constraint("networkAddress", "eq", "10.0.0.0/8"),
    constraint("networkAddress", "isPartOf", "10.0.0.300/8"),
    constraint("executionEnv", "eq", "09"),
    constraint("physicalAddress", "eq", "not-a-mac"),
    constraint("timeWindow", "isPartOf", "9 to 5"),
    constraint("purpose", "eq", ["a", "b"]),
    constraint("region", "isAnyOf", []),
])
def test_refuses_a_value_of_the_wrong_type(bad: dict[str, Any]) -> None:
    error = _refused(_one(bad))
    assert (error.rule, error.pointer) == ("wrong-value-type", "/permission/0/constraint/0/rightOperand")


@pytest.mark.parametrize(("bad", "rule"), [
    (constraint("dataSize", "lteq", 10, unit="minute"), "wrong-unit"),
    (constraint("count", "lteq", 3, unit="MB"), "wrong-unit"),
    (constraint("frequency", "lteq", 3), "missing-unit"),
])
def test_refuses_a_wrong_or_missing_unit(bad: dict[str, Any], rule: str) -> None:
    error = _refused(_one(bad))
    assert (error.rule, error.pointer) == (rule, "/permission/0/constraint/0/unit")


@pytest.mark.parametrize("constraints", [
    [constraint("tc609:time", "isPartOf", "2026-12-31T00:00:00Z/2026-01-01T00:00:00Z")],
    [constraint("timeWindow", "isPartOf", "09:00-09:00")],
    [constraint("dateTime", "gt", "2026-06-01T00:00:00Z"), constraint("dateTime", "lt", "2026-05-01T00:00:00Z")],
    [{"and": [constraint("dateTime", "gteq", "2026-06-01T00:00:00Z"),
              constraint("time", "lt", "2026-06-01T00:00:00Z")]}],
])
def test_refuses_an_empty_time_window(constraints: list[dict[str, Any]]) -> None:
    assert _refused(_one(*constraints)).rule == "empty-time-window"


def test_a_time_bound_inside_an_or_is_no_empty_window() -> None:
    parse_policy(_one({"or": [constraint("dateTime", "gt", "2026-06-01T00:00:00Z"),
                              constraint("dateTime", "lt", "2026-05-01T00:00:00Z")]}))


@pytest.mark.parametrize("bad", [constraint("count", "lteq", 0), constraint("count", "lt", 1),
                                 constraint("count", "eq", 0), constraint("frequency", "lteq", 0, unit="hour")])
def test_refuses_a_count_below_one(bad: dict[str, Any]) -> None:
    error = _refused(_one(bad))
    assert (error.rule, error.pointer) == ("count-below-one", "/permission/0/constraint/0/rightOperand")


def test_refuses_a_negative_size() -> None:
    assert _refused(_one(constraint("dataSize", "gteq", -1))).rule == "negative-value"


def test_refuses_a_permission_and_a_prohibition_that_collide() -> None:
    document = {"permission": [{"action": "use", "target": "urn:x"}],
                "prohibition": [{"action": "read", "target": "urn:x"}]}
    error = _refused(document)
    assert (error.rule, error.pointer) == ("permission-prohibition-collision", "/prohibition/0")
    assert "conflict" in (error.hint or "")
    parse_policy({**document, "conflict": "perm"})
    parse_policy({**document, "conflict": "odrl:prohibit"})


def test_a_prohibition_of_another_action_does_not_collide() -> None:
    parse_policy({"permission": [{"action": "read"}], "prohibition": [{"action": "distribute"}]})


def test_refuses_a_duty_without_an_action() -> None:
    error = _refused(_one(duty=[{"constraint": [constraint("count", "lteq", 2)]}]))
    assert (error.rule, error.pointer) == ("duty-without-action", "/permission/0/duty/0/action")
    error = _refused({"permission": [{"action": "read"}], "obligation": [{"action": "delete"}, {"target": "x"}]})
    assert (error.rule, error.pointer) == ("duty-without-action", "/obligation/1/action")
    error = _refused(_one(duty=[{"action": "delete", "consequence": [{"target": "x"}]}]))
    assert error.pointer == "/permission/0/duty/0/consequence/0/action"


@pytest.mark.parametrize(("document", "rule", "pointer"), [
    ({"permission": [{"target": "urn:x"}]}, "rule-without-action", "/permission/0/action"),
    ({"@type": "Offer"}, "policy-without-rules", "/permission"),
    ({"@type": "Agreement", "assigner": "a", "permission": [{"action": "use"}]}, "agreement-without-parties",
     "/assignee"),
    ({"@type": "Contract", "permission": [{"action": "use"}]}, "unknown-type", "/@type"),
    ({"conflict": "first", "permission": [{"action": "use"}]}, "unknown-conflict", "/conflict"),
    ({"permission": [{"action": "use", "constraint": [{"and": []}]}]}, "malformed-constraint",
     "/permission/0/constraint/0/and"),
    ({"permission": ["use"]}, "malformed-policy", "/permission/0"),
])
def test_refuses_malformed_policies(document: dict[str, Any], rule: str, pointer: str) -> None:
    error = _refused(document)
    assert (error.rule, error.pointer) == (rule, pointer)


def test_a_refusal_is_an_rfc9457_problem_naming_the_rule_and_the_field() -> None:
    error = _refused(_one(constraint("count", "lteq", 3), {"or": [constraint("region", "eq", "CN"),
                                                                  constraint("region", "eq", 7)]}))
    assert isinstance(error, ValidationFailed) and isinstance(error, CallerError)
    body = error_body(error)
    assert body["status"] == 422
    assert body["type"].endswith(":policy-invalid")
    assert body["field"] == "/permission/0/constraint/1/or/1/rightOperand"
    assert body["detail"].startswith("wrong-value-type at /permission/0/constraint/1/or/1/rightOperand")


def test_refuses_logical_constraints_nested_beyond_the_limit() -> None:
    node: dict[str, Any] = constraint("count", "lteq", 3)
    for _ in range(40):
        node = {"and": [node]}
    assert _refused(_one(node)).rule == "malformed-constraint"


@pytest.mark.parametrize("party", [{"@type": "PartyCollection"}, 42, ""])
def test_refuses_a_party_that_names_nobody(party: Any) -> None:
    error = _refused(_one(assignee=party))
    assert (error.rule, error.pointer) == ("malformed-policy", "/permission/0/assignee")
