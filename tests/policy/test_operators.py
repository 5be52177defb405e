"""Each ODRL operator decides both ways on the left operands it applies to."""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import ask, constraint, policy_with

from trustspace.policy import Outcome, Usage, evaluate

CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # operator, constraint, context that satisfies it, context that does not
    ("eq", constraint("purpose", "eq", "credit"), {"purpose": "credit"}, {"purpose": "marketing"}),
    ("neq", constraint("region", "neq", "US"), {"region": "CN"}, {"region": "US"}),
    ("gt", constraint("payAmount", "gt", "100.00", unit="CNY"), {"pay_amount": 100.01}, {"pay_amount": 100}),
    ("gteq", constraint("dateTime", "gteq", "2026-05-04T10:30:00Z"), {}, {"time": "2026-05-04T10:29:59Z"}),
    ("lt", constraint("dataRecord", "lt", 1000), {"records": 999}, {"records": 1000}),
    ("lteq", constraint("count", "lteq", 3), {"usage": 2}, {"usage": 3}),
    ("hasPart", constraint("dataField", "hasPart", ["name"]), {"fields": {"name", "income"}},
     {"fields": {"income"}}),
    ("isA", constraint("purpose", "isA", "urn:purpose:research"),
     {"purpose": "urn:p:thesis", "types": {"urn:p:thesis": frozenset({"urn:purpose:research"})}},
     {"purpose": "urn:p:ads"}),
    ("isAllOf", constraint("trustspace:role", "isAllOf", ["consumer", "bank"]),
     {"roles": {"consumer", "bank", "member"}}, {"roles": {"consumer"}}),
    ("isAnyOf", constraint("application", "isAnyOf", ["app:risk", "app:audit"]), {"application": "app:risk"},
     {"application": "app:crm"}),
    ("isNoneOf", constraint("executionEnv", "isNoneOf", ["01"]), {"execution_env": "05"},
     {"execution_env": "01"}),
    ("isPartOf", constraint("networkAddress", "isPartOf", "10.0.0.0/8"), {"network_address": "10.9.8.7"},
     {"network_address": "192.168.1.1"}),
]


def _context(raw: dict[str, Any]) -> dict[str, Any]:
    from decimal import Decimal

    from trustspace.policy.values import parse_datetime

    out = dict(raw)
    if "pay_amount" in out:
        out["pay_amount"] = Decimal(str(out["pay_amount"]))
    if "time" in out:
        out["time"] = parse_datetime(out["time"])
    if "fields" in out:
        out["fields"] = frozenset(out["fields"])
    if "roles" in out:
        out["roles"] = frozenset(out["roles"])
    return out


@pytest.mark.parametrize(("name", "written", "yes", "no"), CASES, ids=[c[0] for c in CASES])
def test_operator_permits_and_denies(name: str, written: dict[str, Any], yes: dict[str, Any],
                                     no: dict[str, Any]) -> None:
    policy = policy_with(written)
    assert evaluate(policy, ask(**_context(yes))).outcome is Outcome.PERMIT
    assert evaluate(policy, ask(**_context(no))).outcome is Outcome.DENY


def test_every_operator_is_covered() -> None:
    from trustspace.policy.vocabulary import Operator

    assert {c[0] for c in CASES} == {o.value for o in Operator}


def test_region_is_part_of_its_parent_code_but_not_of_a_lookalike() -> None:
    policy = policy_with(constraint("region", "isPartOf", "CN-31"))
    assert evaluate(policy, ask(region="CN-31-01")).allowed
    assert not evaluate(policy, ask(region="CN-310")).allowed
    assert not evaluate(policy, ask(region="CN")).allowed


def test_a_daily_window_may_run_over_midnight() -> None:
    from datetime import UTC, datetime

    policy = policy_with(constraint("timeWindow", "isPartOf", "22:00-06:00"))
    assert evaluate(policy, ask(time=datetime(2026, 5, 4, 23, 0, tzinfo=UTC))).allowed
    assert evaluate(policy, ask(time=datetime(2026, 5, 4, 5, 59, tzinfo=UTC))).allowed
    assert not evaluate(policy, ask(time=datetime(2026, 5, 4, 6, 0, tzinfo=UTC))).allowed


def test_frequency_counts_the_uses_in_its_unit() -> None:
    policy = policy_with(constraint("frequency", "lteq", 2, unit="hour"))
    assert evaluate(policy, ask(usage=Usage(count=50, per_hour=1))).allowed
    assert not evaluate(policy, ask(usage=Usage(count=2, per_hour=2))).allowed


def test_data_size_is_compared_in_bytes_whatever_the_policys_unit() -> None:
    policy = policy_with(constraint("dataSize", "lteq", 10, unit="MB"))
    assert evaluate(policy, ask(data_size=10_000_000)).allowed
    assert not evaluate(policy, ask(data_size=10_000_001)).allowed


def test_a_value_the_context_does_not_state_is_never_satisfied() -> None:
    policy = policy_with(constraint("purpose", "neq", "marketing"))
    decision = evaluate(policy, ask())
    assert decision.outcome is Outcome.DENY
    assert any("actual not stated" in line for line in decision.explain())
