"""Checks on a cosignature a member submits for one of our checkpoints (c2sp.org/tlog-cosignature).

A witness cosigns as itself: the witness name is the caller's DID, and the key is the caller's own Ed25519
key from its DID document. Both matter because the cosigned message does not name the witness, so a
cosignature proves only which *key* signed; tying that key to a member's DID is what makes a quorum mean
"k distinct members saw this".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from trustspace.core.keys import VerifyingKey
from trustspace.identity.did import verification_method_id
from trustspace.ledger.checkpoint import NoteSignature
from trustspace.ledger.errors import MalformedNote
from trustspace.ledger.witness import Cosignature, CosignatureVerifier
from trustspace.operator.ledger.errors import InvalidCosignature, NotAWitness, NotYourWitnessKey


def witness_verifier(
    caller: str, vkey: str, key_for: Callable[[str], VerifyingKey], allowed: Sequence[str] = ()
) -> CosignatureVerifier:
    """The caller's cosignature verifier, if ``vkey`` is its own key under its own DID as name."""
    if allowed and caller not in allowed:
        raise NotAWitness(f"{caller} is not one of this ledger's witnesses")
    try:
        verifier = CosignatureVerifier.from_vkey(vkey)
    except MalformedNote as exc:
        raise InvalidCosignature(exc.detail, field="vkey") from None
    if verifier.name != caller:
        raise NotYourWitnessKey(f"the witness name in the vkey must be your DID ({caller})", field="vkey")
    if key_for(verification_method_id(caller)).raw != verifier.key.raw:
        raise NotYourWitnessKey("the vkey's public key is not the key of your DID document", field="vkey")
    return verifier


def check_cosignature(
    body: str, caller: str, signature_line: str, vkey: str, key_for: Callable[[str], VerifyingKey],
    allowed: Sequence[str] = (),
) -> tuple[CosignatureVerifier, str]:
    """Verify ``caller``'s cosignature line over the checkpoint ``body``; return its verifier and the line
    in stored form (no final newline)."""
    verifier = witness_verifier(caller, vkey, key_for, allowed)
    line = signature_line.removesuffix("\n")
    try:
        parsed = NoteSignature.parse(line)
        cosignature = Cosignature.from_note_signature(parsed)
    except MalformedNote as exc:
        raise InvalidCosignature(exc.detail, field="signatureLine") from None
    if parsed.name != verifier.name or parsed.key_id != verifier.key_id:
        raise InvalidCosignature("the signature line names another key than the vkey", field="signatureLine")
    if not verifier.verify(body, cosignature):
        raise InvalidCosignature("the cosignature does not verify over this checkpoint", field="signatureLine")
    return verifier, parsed.line().removesuffix("\n")
