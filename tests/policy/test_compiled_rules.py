"""A compiled policy decides, and records, exactly what the general path does, value for value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import ask, constraint
from test_operators import CASES, _context

from trustspace.policy import Context, Request, Usage, evaluate, parse_policy
from trustspace.policy.decide import _general
from trustspace.policy.model import Policy

SIX = parse_policy({"permission": [{"action": "read", "target": "urn:data", "assignee": "did:web:bank",
                                    "constraint": [
    constraint("purpose", "eq", "credit"), constraint("count", "lteq", 3),
    constraint("time", "isPartOf", "2026-05-01T00:00:00Z/2026-05-08T00:00:00Z"),
    constraint("region", "isPartOf", "CN-31"), constraint("networkAddress", "isPartOf", "10.20.0.0/16"),
    {"or": [constraint("dataSize", "lteq", 5, unit="MB"), constraint("dataRecord", "lt", 10)]}]}],
    "prohibition": [{"action": "distribute"}]})


def _same(policy: Policy, request: Request) -> None:
    assert policy.program is not None
    compiled = evaluate(policy, request)
    general = [_general(rule, request) for rule in (*policy.permissions, *policy.prohibitions)]
    assert [r[:5] for r in compiled.results] == [r[:5] for r in general]
    assert list(compiled.findings) == [f for r in general for f in r.values]  # the general path keeps findings


@settings(max_examples=300, deadline=None)
@given(purpose=st.sampled_from([None, "credit", "ads"]), uses=st.integers(0, 5),
       hours=st.integers(-48, 24 * 9), region=st.sampled_from([None, "CN", "CN-31", "CN-31-01", "CN-310"]),
       address=st.sampled_from([None, "10.20.1.1", "10.21.0.1", "::1"]), size=st.none() | st.integers(0, 10**7),
       records=st.none() | st.integers(0, 20), action=st.sampled_from(["read", "use", "distribute"]),
       assignee=st.sampled_from([None, "did:web:bank", "did:web:other"]))
def test_the_compiled_policy_matches_the_general_path(purpose: Any, uses: int, hours: int, region: Any,
                                                      address: Any, size: Any, records: Any, action: str,
                                                      assignee: Any) -> None:
    import ipaddress

    context = Context(time=datetime(2026, 5, 1, tzinfo=UTC) + timedelta(hours=hours), purpose=purpose,
                      usage=Usage(count=uses), region=region, data_size=size, records=records,
                      network_address=ipaddress.ip_address(address) if address else None)
    _same(SIX, Request(action, assignee, "urn:data", context))


def test_every_operator_compiles_to_the_same_decision() -> None:
    for _, written, yes, no in CASES:
        policy = parse_policy({"permission": [{"action": "read", "constraint": [written]}]})
        for context in (yes, no, {}):
            _same(policy, ask(**_context(context)))
