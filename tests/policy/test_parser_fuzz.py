"""Whatever JSON arrives as a policy, parsing answers with a policy or a PolicyInvalid, never another error."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trustspace.policy import PolicyInvalid, parse_policy

KEYS = ["@type", "@id", "uid", "permission", "prohibition", "obligation", "duty", "remedy", "consequence",
        "action", "target", "assignee", "assigner", "constraint", "refinement", "leftOperand", "operator",
        "rightOperand", "unit", "and", "or", "xone", "andSequence", "conflict", "profile", "source", "rdf:value"]
WORDS = ["use", "read", "odrl:read", "tc609:count", "count", "dateTime", "eq", "lteq", "isPartOf", "isAnyOf",
         "Offer", "Agreement", "Set", "PartyCollection", "perm", "prohibit", "10.0.0.0/8", "CN", "MB", "hour",
         "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z/2025-01-01T00:00:00Z", "09:00-17:00", "timeWindow", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.sampled_from(WORDS), st.text(max_size=5))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(document=json_values)
def test_any_json_is_a_policy_or_a_refusal(document: Any) -> None:
    try:
        parse_policy(document)
    except PolicyInvalid as exc:
        assert exc.pointer.startswith("/") and exc.rule


OPERANDS = ["count", "dateTime", "time", "timeWindow", "region", "networkAddress", "physicalAddress", "frequency",
            "dataSize", "dataField", "executionEnv", "payAmount", "purpose", "trustspace:role", "odrl:region"]
OPERATORS = ["eq", "neq", "gt", "gteq", "lt", "lteq", "hasPart", "isA", "isAllOf", "isAnyOf", "isNoneOf",
             "isPartOf", "odrl:eq", "tc609:eq"]
PLAUSIBLE = [3, "3", 0, 1, -1, "CN", "CN-31", "10.0.0.0/8", "10.1.1.1", "2026-01-01T00:00:00Z",
             "2026-01-01T00:00:00Z/2026-02-01T00:00:00Z", "09:00-17:00", ["a", "b"], ["09:00-10:00"], "05",
             "00:1a:2b:3c:4d:5e", "1.5", "credit"]
constraints = st.fixed_dictionaries({"leftOperand": st.sampled_from(OPERANDS), "operator": st.sampled_from(OPERATORS),
                                     "rightOperand": st.sampled_from(PLAUSIBLE) | json_values},
                                    optional={"unit": st.sampled_from(["MB", "hour", "CNY", "x", 3])})


@settings(max_examples=400, deadline=None)
@given(items=st.lists(constraints, min_size=1, max_size=3), logic=st.sampled_from([None, "and", "or", "xone"]))
def test_any_constraint_is_read_or_refused(items: list[dict[str, Any]], logic: str | None) -> None:
    written: list[Any] = items if logic is None else [{logic: items}]
    try:
        parse_policy({"permission": [{"action": "read", "constraint": written}]})
    except PolicyInvalid as exc:
        assert exc.pointer.startswith("/permission/0/constraint/")
