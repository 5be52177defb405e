"""Both parties sign one revision (eddsa-jcs-2022 proofs over the same RFC 8785 bytes), and the attacks on it:
signed by one party only, signatures over different revisions, a signature by a non-party, a contract tampered
with after signing."""

from __future__ import annotations

from typing import Any

import pytest

from trustspace.contract.signing import ContractSignatureInvalid, revise, revision_digest, signed_by, verify_signatures
from trustspace.core.keys import SigningKey, VerifyingKey

PROVIDER, CONSUMER, OUTSIDER = "did:web:tax.example", "did:web:bank.example", "did:web:broker.example"
KEYS = {did: SigningKey.generate() for did in (PROVIDER, CONSUMER, OUTSIDER)}
CREATED = "2026-12-03T08:30:00Z"
CONTRACT: dict[str, Any] = {"contractId": "C5" + "0" * 45, "contractName": "企业纳税信用数据使用合约",
                            "contractStatus": "03", "policy": {"@type": "Agreement", "permission": [
                                {"action": "use"}]}}


def key_for(method: str) -> VerifyingKey:
    return KEYS[method.partition("#")[0]].public


def sign(contract: dict[str, Any], did: str) -> dict[str, Any]:
    return signed_by(contract, KEYS[did], f"{did}#key-1", CREATED)


def test_both_parties_signing_the_same_bytes_is_a_valid_contract() -> None:
    both = sign(sign(CONTRACT, PROVIDER), CONSUMER)
    verify_signatures(both, [PROVIDER, CONSUMER], key_for)
    assert len(both["proof"]) == 2 and revision_digest(both) == revision_digest(CONTRACT)


def test_a_contract_signed_by_one_party_only_is_refused() -> None:
    with pytest.raises(ContractSignatureInvalid, match=CONSUMER):
        verify_signatures(sign(CONTRACT, PROVIDER), [PROVIDER, CONSUMER], key_for)


def test_signatures_over_different_revisions_are_refused() -> None:
    first = sign(CONTRACT, PROVIDER)
    second = revise(CONTRACT, {"contractName": "another name"})
    mixed = {**sign(second, CONSUMER), "proof": [first["proof"][0], sign(second, CONSUMER)["proof"][0]]}
    with pytest.raises(ContractSignatureInvalid, match=f"{PROVIDER} does not hold"):
        verify_signatures(mixed, [PROVIDER, CONSUMER], key_for)
    assert second["previousRevision"] == revision_digest(CONTRACT)


def test_a_signature_by_a_non_party_is_refused() -> None:
    with pytest.raises(ContractSignatureInvalid, match="not a party") as refused:
        verify_signatures(sign(sign(sign(CONTRACT, PROVIDER), CONSUMER), OUTSIDER), [PROVIDER, CONSUMER], key_for)
    assert refused.value.field == "proof[2].verificationMethod"


def test_a_contract_tampered_with_after_signing_is_refused() -> None:
    both = sign(sign(CONTRACT, PROVIDER), CONSUMER)
    tampered = {**both, "policy": {"@type": "Agreement", "permission": [{"action": "distribute"}]}}
    with pytest.raises(ContractSignatureInvalid, match="does not hold"):
        verify_signatures(tampered, [PROVIDER, CONSUMER], key_for)


def test_a_party_signing_twice_does_not_stand_for_the_other() -> None:
    with pytest.raises(ContractSignatureInvalid):
        verify_signatures(sign(sign(CONTRACT, PROVIDER), PROVIDER), [PROVIDER, CONSUMER], key_for)
