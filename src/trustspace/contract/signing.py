"""Both parties sign one contract: two eddsa-jcs-2022 Data Integrity proofs over the same canonical bytes.

Each signatory signs the unsecured contract (everything but ``proof``), canonicalised with RFC 8785, with the
key of its DID — the same primitives as the membership credentials (``identity/credentials.py``). The proofs
form a proof set (``"proof": [...]``, VC Data Integrity §2.1.2). A contract is valid only with exactly one
valid proof by each of its two parties over the same bytes: a proof by anyone else, a proof over an earlier
revision, or a missing one is refused naming the party. Every revision names the digest of the one before
(``previousRevision``), so a contract's history is a chain anyone can recompute.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from trustspace.core.canonical import canonicalize
from trustspace.core.errors import ValidationFailed
from trustspace.core.keys import SigningKey, VerifyingKey, multibase_b58_decode, multibase_b58_encode
from trustspace.identity.credentials import hash_data, proof_config

PURPOSE = "assertionMethod"


class ContractSignatureInvalid(ValidationFailed):
    slug = "contract-signature-invalid"
    title = "The contract's signatures do not hold"


def unsecured(contract: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in contract.items() if name != "proof"}


def revision_digest(contract: dict[str, Any]) -> str:
    """SHA-256 of the canonical unsecured contract, hex: what the next revision's ``previousRevision`` names."""
    return hashlib.sha256(canonicalize(unsecured(contract))).hexdigest()


def revise(contract: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The next revision: ``changes`` applied, chained to this one, and no signature (it must be signed anew)."""
    return {**copy.deepcopy(unsecured(contract)), **changes, "previousRevision": revision_digest(contract)}


def signed_by(contract: dict[str, Any], key: SigningKey, verification_method: str, created: str) -> dict[str, Any]:
    """The contract with one more proof: this signatory's, over the same bytes as the proofs already there."""
    document = unsecured(contract)
    config = proof_config(document, verification_method, created, PURPOSE)
    proof = {**config, "proofValue": multibase_b58_encode(key.sign(hash_data(document, config)))}
    return {**copy.deepcopy(document), "proof": [*_proofs(contract), proof]}


def _proofs(contract: dict[str, Any]) -> list[dict[str, Any]]:
    found = contract.get("proof", [])
    proofs = found if isinstance(found, list) else [found]
    if not all(isinstance(p, dict) for p in proofs):
        raise ContractSignatureInvalid("every proof must be an object", field="proof")
    return proofs


def verify_signatures(contract: dict[str, Any], parties: Sequence[str],
                      key_for: Callable[[str], VerifyingKey]) -> None:
    """Exactly one valid proof by each party's DID over this revision, and none by anyone else."""
    document, by_party = unsecured(contract), {party: 0 for party in parties}
    for index, proof in enumerate(_proofs(contract)):
        method = str(proof.get("verificationMethod", ""))
        signer = method.partition("#")[0]
        if signer not in by_party:
            raise ContractSignatureInvalid(f"proof {index} is by {signer or 'nobody'}, who is not a party",
                                           field=f"proof[{index}].verificationMethod")
        config = {name: value for name, value in proof.items() if name != "proofValue"}
        if config.get("proofPurpose") != PURPOSE or config.get("cryptosuite") != "eddsa-jcs-2022":
            raise ContractSignatureInvalid(f"proof {index} is not an eddsa-jcs-2022 {PURPOSE} proof",
                                           field=f"proof[{index}]")
        try:
            signature = multibase_b58_decode(str(proof.get("proofValue", "")))
        except ValidationFailed:
            signature = b""
        if not key_for(method).verify(signature, hash_data(document, config)):
            raise ContractSignatureInvalid(
                f"the signature of {signer} does not hold over this revision: it was made over other bytes (an "
                "earlier revision, or the contract was changed after signing)", field=f"proof[{index}].proofValue")
        by_party[signer] += 1
    missing = [party for party, count in by_party.items() if count == 0]
    if missing:
        raise ContractSignatureInvalid(f"not signed by {', '.join(missing)}: a contract needs both parties",
                                       field="proof")
    if twice := [party for party, count in by_party.items() if count > 1]:
        raise ContractSignatureInvalid(f"{twice[0]} signed twice", field="proof")

