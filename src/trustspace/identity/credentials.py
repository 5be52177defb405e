"""Verifiable credentials: W3C VC Data Model 2.0, secured by Data Integrity with cryptosuite eddsa-jcs-2022.

eddsa-jcs-2022 (W3C vc-di-eddsa): the proof configuration is the proof without ``proofValue`` and carries
the document's ``@context``; the signed bytes are SHA-256(JCS(proof configuration)) followed by
SHA-256(JCS(document without proof)); the signature is Ed25519 over those 64 bytes, written as base58btc
multibase. JCS (RFC 8785) rather than RDF canonicalisation keeps signing independent of JSON-LD
processing: the bytes signed are exactly the JSON sent.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from trustspace.core.canonical import canonicalize, digest_hex, sha256
from trustspace.core.clock import to_xsd
from trustspace.core.errors import ValidationFailed
from trustspace.core.keys import SigningKey, VerifyingKey, multibase_b58_decode, multibase_b58_encode
from trustspace.identity.contexts import VC_V2_CONTEXT
from trustspace.identity.errors import (
    CredentialExpired,
    CredentialNotYetValid,
    InvalidCredential,
    InvalidProof,
)
from trustspace.identity.vc_model import check_data_model, date_time, issuer_url, parse_date_time

__all__ = [
    "CRYPTOSUITE",
    "PROOF_TYPE",
    "VC_V2_CONTEXT",
    "check_data_model",
    "check_validity",
    "hash_data",
    "issuer_id",
    "proof_config",
    "proof_digest",
    "sign",
    "subject_id",
    "verify",
]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"

_parse_date_time = parse_date_time
_date_time = date_time


def issuer_id(credential: dict[str, Any]) -> str:
    """The issuer's URL (usually a DID), whether ``issuer`` is a string or an object with ``id``."""
    return issuer_url(credential)


def subject_id(credential: dict[str, Any]) -> str:
    """The ``id`` of the credential's single subject."""
    subject = credential.get("credentialSubject")
    if isinstance(subject, list):
        if len(subject) != 1:
            raise InvalidCredential(
                f"credential has {len(subject)} subjects; exactly one is expected here",
                field="credentialSubject",
            )
        subject = subject[0]
    value = subject.get("id") if isinstance(subject, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidCredential("credentialSubject has no id naming its holder", field="credentialSubject.id")
    return value


def check_validity(credential: dict[str, Any], now: datetime, *, leeway_seconds: float = 0.0) -> None:
    """Raise unless ``now`` lies within validFrom..validUntil (each bound widened by ``leeway_seconds``,
    for clocks that disagree a little between services)."""
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    leeway = timedelta(seconds=leeway_seconds)
    valid_from = _date_time(credential, "validFrom")
    if valid_from is not None and now + leeway < valid_from:
        raise CredentialNotYetValid(
            f"credential is valid from {to_xsd(valid_from)} but it is now {to_xsd(now)}; "
            "retry later or check this machine's clock",
            field="validFrom",
        )
    valid_until = _date_time(credential, "validUntil")
    if valid_until is not None and now - leeway > valid_until:
        raise CredentialExpired(
            f"credential expired at {to_xsd(valid_until)}; ask its issuer for a new one",
            field="validUntil",
        )


def proof_config(
    document: dict[str, Any], verification_method: str, created: str, proof_purpose: str = "assertionMethod"
) -> dict[str, Any]:
    """The eddsa-jcs-2022 proof configuration: the proof to be, without its value."""
    config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if "@context" in document:
        config["@context"] = copy.deepcopy(document["@context"])
    return config


def hash_data(unsecured_document: dict[str, Any], config: dict[str, Any]) -> bytes:
    """The 64 bytes eddsa-jcs-2022 signs: SHA-256(JCS(config)) || SHA-256(JCS(document))."""
    return sha256(canonicalize(config)) + sha256(canonicalize(unsecured_document))


def sign(
    document: dict[str, Any],
    key: SigningKey,
    verification_method: str,
    created: str,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """A copy of ``document`` with an eddsa-jcs-2022 ``proof``; ``document`` itself is left unchanged."""
    if "proof" in document:
        raise InvalidCredential(
            "document already has a proof; proof sets and chains are not supported", field="proof"
        )
    if _parse_date_time(created) is None:
        raise ValidationFailed("created must be an XML Schema dateTime with an offset", field="created")
    if "#" not in verification_method:
        raise ValidationFailed(
            "verification_method must be a DID URL naming a key, e.g. did:web:example.com#key-1",
            field="verification_method",
        )
    config = proof_config(document, verification_method, created, proof_purpose)
    signature = key.sign(hash_data(document, config))
    signed = copy.deepcopy(document)
    signed["proof"] = {**config, "proofValue": multibase_b58_encode(signature)}
    return signed


def _single_proof(credential: dict[str, Any]) -> dict[str, Any]:
    proof = credential.get("proof") if isinstance(credential, dict) else None
    if isinstance(proof, list):
        raise InvalidProof(
            "credential carries a proof set; TrustSpace accepts exactly one proof", field="proof"
        )
    if not isinstance(proof, dict):
        raise InvalidProof("credential has no proof; it must be signed by its issuer", field="proof")
    return proof


def _check_proof_options(credential: dict[str, Any], proof: dict[str, Any], proof_purpose: str) -> str:
    expectations = (("type", PROOF_TYPE), ("cryptosuite", CRYPTOSUITE), ("proofPurpose", proof_purpose))
    for name, expected in expectations:
        if proof.get(name) != expected:
            raise InvalidProof(
                f"proof.{name} must be {expected!r}; re-issue the credential with an {CRYPTOSUITE} proof",
                field=f"proof.{name}",
            )
    if "created" in proof and _parse_date_time(proof["created"]) is None:
        raise InvalidProof("proof.created is not a dateTime with an offset", field="proof.created")
    if ("@context" in proof, proof.get("@context")) != ("@context" in credential, credential.get("@context")):
        raise InvalidProof("proof.@context differs from the credential's @context", field="proof.@context")
    method = proof.get("verificationMethod")
    if not isinstance(method, str) or "#" not in method:
        raise InvalidProof(
            "proof.verificationMethod must be a DID URL with a #fragment naming the signing key",
            field="proof.verificationMethod",
        )
    return method


def _signature(proof: dict[str, Any]) -> bytes:
    value = proof.get("proofValue")
    try:
        signature = multibase_b58_decode(value) if isinstance(value, str) else b""
    except ValidationFailed:
        signature = b""
    if len(signature) != 64:
        raise InvalidProof(
            "proof.proofValue is not a base58btc multibase Ed25519 signature (64 bytes)",
            field="proof.proofValue",
        )
    return signature


def verify(
    credential: dict[str, Any],
    key_for: Callable[[str], VerifyingKey],
    *,
    proof_purpose: str = "assertionMethod",
    check_issuer: bool = True,
) -> None:
    """Raise unless the credential's eddsa-jcs-2022 proof is valid.

    ``key_for`` maps the proof's verificationMethod to a key (``DidResolver.key_for``); its own errors
    (``UnresolvableDid``, ``UnknownVerificationMethod``) pass through. With ``check_issuer`` the key must
    belong to the issuer's DID, which stops a validly signed credential claiming someone else as issuer;
    turn it off only for documents whose issuer is not a DID (the published test vectors). With it on, a
    credential without a usable issuer raises ``InvalidCredential``.
    """
    proof = _single_proof(credential)
    method = _check_proof_options(credential, proof, proof_purpose)
    signature = _signature(proof)
    if check_issuer and method.split("#", 1)[0] != issuer_id(credential):
        raise InvalidProof(
            f"proof was made with {method!r}, which is not a key of the issuer {issuer_id(credential)!r}; "
            "a credential must be signed by its own issuer",
            field="proof.verificationMethod",
        )
    key = key_for(method)
    unsecured = {name: value for name, value in credential.items() if name != "proof"}
    config = {name: value for name, value in proof.items() if name != "proofValue"}
    try:
        data = hash_data(unsecured, config)
    except ValidationFailed as exc:
        raise InvalidProof(f"credential cannot be canonicalised for verification: {exc.detail}") from exc
    if not key.verify(signature, data):
        raise InvalidProof(
            "proof signature does not match: the credential was changed after signing, or was signed "
            f"with a different key than {method!r}; ask the issuer for an intact credential",
            field="proof.proofValue",
        )


def proof_digest(credential: dict[str, Any]) -> str:
    """SHA-256 hex of the JCS form of the whole signed credential, proof included.

    Two credentials with the same digest verify identically, so a service may remember "this digest
    verified" and skip the signature check next time. The memory must be dropped when the issuer's keys
    may have changed (resolver TTL), and validity dates and revocation are still checked on every use.
    """
    try:
        return digest_hex(credential)
    except ValidationFailed as exc:
        raise InvalidCredential(f"credential is not canonicalisable JSON: {exc.detail}") from exc
