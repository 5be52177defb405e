"""The DSP's compact JSON-LD, ODRL and TC609 names in every spelling, and the profile's shipped context."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import ask, constraint

from trustspace.policy import PolicyInvalid, PolicyType, evaluate, parse_policy
from trustspace.policy.model import Constraint
from trustspace.policy.vocabulary import ACTIONS, LEFT_OPERANDS, TC609

DSP = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "dsp-2025-1"


def _example(path: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DSP / path).read_text())
    return document


def test_parses_the_dsp_offer_and_dataset_examples() -> None:
    offer = parse_policy(_example("negotiation/example/contract-offer-message.json")["offer"])
    assert offer.type is PolicyType.OFFER and offer.uid == "urn:uuid:6bcea82e-c509-443d-ba8c-8eef25984c07"
    assert offer.permissions[0].target is not None
    first = offer.permissions[0].constraints[0]
    assert isinstance(first, Constraint) and first.left == "dateTime"  # "2023-12-31T06:00Z": minutes only
    dataset = parse_policy(_example("catalog/example/dataset.json")["hasPolicy"][0])
    assert [c.left for c in dataset.permissions[0].constraints if isinstance(c, Constraint)] == ["spatial"]


def test_refuses_the_dsp_agreement_example_at_its_first_unknown_operand() -> None:
    agreement = _example("negotiation/example/contract-agreement-message-full.json")["agreement"]
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(agreement)
    assert caught.value.pointer == "/permission/1/constraint/0/and/0/leftOperand"
    assert "'partner'" in caught.value.detail


@pytest.mark.parametrize("name", ["count", "tc609:count", "odrl:count", f"{TC609}count",
                                  "http://www.w3.org/ns/odrl/2/count", {"@id": "odrl:count"}])
def test_reads_a_name_bare_prefixed_or_as_an_iri(name: Any) -> None:
    policy = parse_policy({"permission": [{"action": {"@id": "odrl:read"},
                                           "constraint": [constraint(name, "odrl:lteq", {"@value": "2"})]}]})
    assert evaluate(policy, ask(usage=1)).allowed and not evaluate(policy, ask(usage=2)).allowed


def test_reads_the_tc609_spellings_of_its_own_tables() -> None:
    policy = parse_policy({"permission": [{"action": "plicyTransmit", "constraint": [
        constraint("dateRecord", "lteq", 10)]}]})
    assert policy.permissions[0].action is not None and policy.permissions[0].action.name == "policyTransmit"


def test_policy_level_parties_and_target_apply_to_every_rule() -> None:
    policy = parse_policy({"@type": "Agreement", "uid": "urn:a", "assigner": "did:web:tax",
                           "assignee": "did:web:bank", "target": "urn:data",
                           "permission": [{"action": "read"}, {"action": "use", "assignee": "did:web:other"}]})
    first, second = policy.permissions
    assert (first.assignee, first.target) == (policy.assignee, policy.target)
    assert second.assignee is not None and second.assignee.uid == "did:web:other"
    assert policy.uid == "urn:a"


def test_an_action_may_carry_refinements() -> None:
    policy = parse_policy({"permission": [{"action": [{"rdf:value": {"@id": "tc609:download"},
                                                       "refinement": [constraint("dataSize", "lteq", 1,
                                                                                 unit="kB")]}]}]})
    assert evaluate(policy, ask("download", data_size=1000)).allowed
    assert not evaluate(policy, ask("download", data_size=1001)).allowed


def test_party_and_asset_collections_with_refinements() -> None:
    policy = parse_policy({"permission": [{"action": "read", "assignee": {
        "@type": "PartyCollection", "source": "urn:banks", "refinement": [constraint("region", "eq", "CN")]}}]})
    member = {"part_of": {"did:web:bank": frozenset({"urn:banks"})}}
    assert evaluate(policy, ask(region="CN", **member)).allowed
    assert not evaluate(policy, ask(region="US", **member)).allowed


def test_the_profile_context_ships_and_names_every_profile_term() -> None:
    context = json.loads(files("trustspace.policy").joinpath("contexts/tc609-odrl-profile.jsonld").read_text())
    terms = context["@context"]
    assert terms["tc609"] == TC609
    for action in ACTIONS.values():
        if action.vocabularies == {"tc609"}:
            assert terms[action.name] == f"tc609:{action.name}"
    for operand in LEFT_OPERANDS.values():
        if "odrl" not in operand.vocabularies:
            assert terms[operand.name].endswith(f":{operand.name}")
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"**/*.jsonld"' in pyproject  # package-data: the context is in the wheel
