"""Destruction certificates (数据销毁证明): the consumer connector's signed word that an agreement's data is gone.

A certificate is a JSON object::

    {"type": "DestructionCertificate", "id": "urn:uuid:…", "agreement": …, "issuer": <connector DID>,
     "reason": "terminated" | "expired" | "used", "issuedAt": <xsd dateTime>,
     "items": [{"id", "transfer", "fileName", "size", "sha256"}],      # sha256 of each item's plaintext
     "destroyed": ["ciphertext", "wrappedKey"],
     "signature": {"alg": "Ed25519", "verificationMethod": "<DID>#key-1", "publicKeyMultibase": …, "value": …}}

Signing input: ``trustspace.usage.destruction/v1`` and a newline, then the RFC 8785 canonical JSON of the
certificate with ``signature.value`` removed (the prefix keeps these signatures apart from every other
signature of the same key). ``verify`` needs nothing but the file; to tie the key to the connector, compare
``publicKeyMultibase`` with the connector's DID document, or find the ledger statement
(``destruction-certificate``) whose ``payloadDigest`` is ``digest(certificate)``, signed by the same DID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from trustspace.core.canonical import canonicalize
from trustspace.core.clock import to_xsd
from trustspace.core.errors import ValidationFailed
from trustspace.core.ids import urn_uuid
from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.store.usage.records import ProtectedItem

PREFIX = b"trustspace.usage.destruction/v1\n"
TYPE = "DestructionCertificate"


class CertificateInvalid(ValidationFailed):
    slug = "destruction-certificate-invalid"
    title = "Destruction certificate does not verify"


def _signing_input(certificate: dict[str, Any]) -> bytes:
    block = certificate.get("signature")
    if not isinstance(block, dict):
        raise CertificateInvalid("the certificate has no signature object", field="signature")
    unsigned = {**certificate, "signature": {k: v for k, v in block.items() if k != "value"}}
    return PREFIX + canonicalize(unsigned)


def issue(key: SigningKey, did: str, verification_method: str, agreement_id: str, items: Sequence[ProtectedItem],
          reason: str, at: datetime) -> dict[str, Any]:
    certificate: dict[str, Any] = {
        "type": TYPE, "id": urn_uuid(), "agreement": agreement_id, "issuer": did, "reason": reason,
        "issuedAt": to_xsd(at),
        "items": [{"id": i.id, "transfer": i.transfer_id, "fileName": i.file_name, "size": i.size,
                   "sha256": i.sha256} for i in items],
        "destroyed": ["ciphertext", "wrappedKey"],
        "signature": {"alg": "Ed25519", "verificationMethod": verification_method,
                      "publicKeyMultibase": key.public.multibase},
    }
    value = base64.urlsafe_b64encode(key.sign(_signing_input(certificate))).rstrip(b"=").decode("ascii")
    certificate["signature"]["value"] = value
    return certificate


def digest(certificate: dict[str, Any]) -> str:
    """What the ledger statement's ``payloadDigest`` is: SHA-256 of the canonical certificate, hex."""
    return hashlib.sha256(canonicalize(certificate)).hexdigest()


def verify(certificate: Any, expected_key: VerifyingKey | None = None) -> VerifyingKey:
    """Check a certificate's shape and signature offline; returns the key that signed it. With
    ``expected_key``, that key must be the one (e.g. from the connector's DID document)."""
    if not isinstance(certificate, dict) or certificate.get("type") != TYPE:
        raise CertificateInvalid(f"not a {TYPE}", field="type")
    for name in ("agreement", "issuer", "issuedAt"):
        if not isinstance(certificate.get(name), str):
            raise CertificateInvalid(f"the certificate has no {name}", field=name)
    if not isinstance(certificate.get("items"), list):
        raise CertificateInvalid("the certificate lists no items", field="items")
    block = certificate.get("signature")
    if not isinstance(block, dict) or block.get("alg") != "Ed25519":
        raise CertificateInvalid("the signature must be an Ed25519 object", field="signature")
    method = str(block.get("verificationMethod", ""))
    if method.partition("#")[0] != certificate["issuer"]:
        raise CertificateInvalid("the signing key is not the issuer's", field="signature.verificationMethod")
    try:
        key = VerifyingKey.from_multibase(str(block.get("publicKeyMultibase", "")))
        signature = base64.urlsafe_b64decode(str(block.get("value", "")) + "==")
    except (ValidationFailed, binascii.Error, ValueError):
        raise CertificateInvalid("the signature block is malformed", field="signature") from None
    if expected_key is not None and key != expected_key:
        raise CertificateInvalid("signed by another key than the issuer's", field="signature.publicKeyMultibase")
    if not key.verify(signature, _signing_input(certificate)):
        raise CertificateInvalid("the signature does not match the certificate: it was changed after signing",
                                 field="signature.value")
    return key
