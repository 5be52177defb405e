"""The decision point's outcomes: permit, permit with obligations (in order), deny, not applicable -> deny;
logical constraints; the ODRL conflict strategies."""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import ask, constraint, policy_with

from trustspace.policy import DutyState, Outcome, evaluate, parse_policy
from trustspace.policy.model import LogicalConstraint

GOLD = constraint("purpose", "eq", "gold")
SILVER = constraint("application", "eq", "silver")


@pytest.mark.parametrize(("logic", "both", "one", "neither"), [
    ("and", True, False, False), ("or", True, True, False), ("xone", False, True, False),
    ("andSequence", True, False, False)])
def test_logical_constraint_decides(logic: str, both: bool, one: bool, neither: bool) -> None:
    policy = policy_with({logic: [GOLD, SILVER]})
    assert evaluate(policy, ask(purpose="gold", application="silver")).allowed is both
    assert evaluate(policy, ask(purpose="gold", application="bronze")).allowed is one
    assert evaluate(policy, ask(purpose="lead")).allowed is neither


def test_and_sequence_stops_at_the_first_constraint_that_fails() -> None:
    decision = evaluate(policy_with({"andSequence": [GOLD, SILVER]}), ask(purpose="lead", application="silver"))
    checked = [node.pointer for _, node, _, _ in decision.findings if not isinstance(node, str | LogicalConstraint)]
    assert checked == ["/permission/0/constraint/0/andSequence/0"]


def test_nested_logical_constraints_decide() -> None:
    policy = policy_with({"or": [{"and": [GOLD, SILVER]}, constraint("region", "eq", "CN")]})
    assert evaluate(policy, ask(purpose="gold", application="silver")).allowed
    assert evaluate(policy, ask(region="CN")).allowed
    assert not evaluate(policy, ask(purpose="gold")).allowed


def test_three_reads_are_permitted_and_the_fourth_denied() -> None:
    policy = policy_with(constraint("count", "lteq", 3))
    assert [evaluate(policy, ask(usage=n)).allowed for n in range(5)] == [True, True, True, False, False]


def test_a_request_no_rule_covers_is_not_applicable_and_so_denied() -> None:
    policy = policy_with(action="read", assignee="did:web:bank")
    for request in (ask("sell"), ask(assignee="did:web:other"), ask(assignee=None)):
        decision = evaluate(policy, request)
        assert decision.outcome is Outcome.NOT_APPLICABLE and not decision.allowed


def test_a_permission_for_use_covers_read_but_not_sell() -> None:
    policy = policy_with(action="use")
    assert evaluate(policy, ask("read")).allowed
    assert evaluate(policy, ask("tc609:download")).allowed
    assert evaluate(policy, ask("sell")).outcome is Outcome.NOT_APPLICABLE


def test_an_asset_collection_covers_its_members() -> None:
    policy = policy_with(target="urn:collection")
    assert evaluate(policy, ask(target="urn:x", part_of={"urn:x": frozenset({"urn:collection"})})).allowed
    assert not evaluate(policy, ask(target="urn:y")).allowed


def _with_duties(**more: Any) -> dict[str, Any]:
    return {"permission": [{"action": "read", "duty": [
        {"@id": "urn:duty:mark", "action": "watermark"},
        {"@id": "urn:duty:notify", "action": "inform", "consequence": [{"action": "compensate"}]}]}], **more}


def test_duties_are_obligations_to_run_first_in_the_order_written() -> None:
    policy = parse_policy(_with_duties(obligation=[{"@id": "urn:duty:delete", "action": "delete"}]))
    decision = evaluate(policy, ask())
    assert decision.outcome is Outcome.PERMIT_WITH_OBLIGATIONS and decision.allowed
    assert [d.action.name for d in decision.obligations if d.action] == ["watermark", "inform", "delete"]


def test_a_fulfilled_duty_is_not_asked_again_and_all_fulfilled_is_a_plain_permit() -> None:
    policy = parse_policy(_with_duties())
    done = {"urn:duty:mark": DutyState.FULFILLED, "urn:duty:notify": DutyState.FULFILLED}
    assert evaluate(policy, ask(duties=done)).outcome is Outcome.PERMIT
    partly = evaluate(policy, ask(duties={"urn:duty:mark": DutyState.FULFILLED}))
    assert [d.action.name for d in partly.obligations if d.action] == ["inform"]


def test_a_violated_duty_denies_unless_a_consequence_makes_up_for_it() -> None:
    policy = parse_policy(_with_duties())
    violated = evaluate(policy, ask(duties={"urn:duty:mark": DutyState.VIOLATED}))
    assert violated.outcome is Outcome.DENY
    consequence = evaluate(policy, ask(duties={"urn:duty:mark": DutyState.FULFILLED,
                                               "urn:duty:notify": DutyState.VIOLATED}))
    assert [d.action.name for d in consequence.obligations if d.action] == ["compensate"]


def test_a_violated_obligation_of_the_policy_denies() -> None:
    policy = parse_policy({"permission": [{"action": "read"}], "obligation": [{"@id": "urn:o", "action": "delete"}]})
    assert evaluate(policy, ask(duties={"urn:o": DutyState.VIOLATED})).outcome is Outcome.DENY


def _conflicting(strategy: str | None) -> dict[str, Any]:
    # the prohibition targets a collection the asset belongs to: only the request shows that both apply
    document: dict[str, Any] = {"permission": [{"action": "read", "target": "urn:x"}],
                                "prohibition": [{"action": "read", "target": "urn:restricted"}]}
    return {**document, "conflict": strategy} if strategy else document


@pytest.mark.parametrize(("strategy", "outcome"), [("perm", Outcome.PERMIT), ("prohibit", Outcome.DENY),
                                                   ("invalid", Outcome.DENY), (None, Outcome.DENY)])
def test_conflict_strategy_decides_when_both_rules_apply(strategy: str | None, outcome: Outcome) -> None:
    policy = parse_policy(_conflicting(strategy))
    request = ask(target="urn:x", part_of={"urn:x": frozenset({"urn:restricted"})})
    decision = evaluate(policy, request)
    assert decision.outcome is outcome
    if strategy in ("invalid", None):
        assert "void" in decision.reason
    assert evaluate(policy, ask(target="urn:x")).outcome is Outcome.PERMIT


def test_a_prohibition_alone_denies() -> None:
    policy = parse_policy({"permission": [{"action": "read"}], "prohibition": [{"action": "distribute"}]})
    assert evaluate(policy, ask("distribute")).outcome is Outcome.DENY
    assert evaluate(policy, ask("read")).outcome is Outcome.PERMIT
