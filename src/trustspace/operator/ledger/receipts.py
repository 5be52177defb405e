"""Submission receipts: the operator's signed promise to put a statement in the ledger (an SCT, RFC 6962 §3).

A receipt is the JSON object::

    {"logOrigin": "<checkpoint origin>", "leafHash": "<standard base64 of the 32-byte leaf hash>",
     "receivedAt": "<XSD dateTime, UTC>", "maxDelaySeconds": <int>, "operator": "<operator DID>",
     "verificationMethod": "<operator DID>#<key>", "signature": "<base64url, no padding>"}

``signature`` is Ed25519 over the UTF-8 bytes ``trustspace.ledger.receipt/v1`` and a newline, followed by the
RFC 8785 canonical JSON of the receipt without ``signature``. Holding one, a participant can later demand an
inclusion proof for ``leafHash`` in a checkpoint made after ``receivedAt + maxDelaySeconds``; if there is
none, the receipt proves the operator broke its promise.

Pure functions: the CLI uses them to check receipts offline.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from trustspace.core.canonical import canonicalize
from trustspace.core.clock import from_xsd, to_xsd
from trustspace.core.errors import Unauthenticated, ValidationFailed
from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.ledger.merkle import HASH_SIZE

__all__ = [
    "RECEIPT_FIELDS",
    "RECEIPT_PREFIX",
    "InvalidReceipt",
    "new_receipt",
    "receipt_leaf_hash",
    "sign_receipt",
    "verify_receipt",
]

RECEIPT_PREFIX = b"trustspace.ledger.receipt/v1\n"
RECEIPT_FIELDS = frozenset(
    {"logOrigin", "leafHash", "receivedAt", "maxDelaySeconds", "operator", "verificationMethod"}
)
_B64URL_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{86}$")  # 64 bytes, unpadded


class InvalidReceipt(Unauthenticated):
    """A receipt that is malformed or whose signature does not verify under the given key."""

    slug = "invalid-receipt"
    title = "Ledger receipt is invalid"


def new_receipt(
    origin: str, leaf_hash: bytes, received_at: datetime, max_delay: int, operator: str, verification_method: str
) -> dict[str, Any]:
    """The unsigned receipt body."""
    if len(leaf_hash) != HASH_SIZE:
        raise ValidationFailed(f"a leaf hash has {HASH_SIZE} bytes, got {len(leaf_hash)}", field="leafHash")
    return {
        "logOrigin": origin,
        "leafHash": base64.b64encode(leaf_hash).decode("ascii"),
        "receivedAt": to_xsd(received_at),
        "maxDelaySeconds": max_delay,
        "operator": operator,
        "verificationMethod": verification_method,
    }


def _signing_input(receipt: Mapping[str, Any]) -> bytes:
    return RECEIPT_PREFIX + canonicalize({key: value for key, value in receipt.items() if key != "signature"})


def sign_receipt(receipt: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """``receipt`` (without a signature) with the operator's signature added."""
    _check_shape(receipt, signed=False)
    value = base64.urlsafe_b64encode(key.sign(_signing_input(receipt))).rstrip(b"=").decode("ascii")
    return {**receipt, "signature": value}


def verify_receipt(receipt: Mapping[str, Any], key: VerifyingKey) -> None:
    """Raise ``InvalidReceipt`` unless ``receipt`` is well formed and signed by ``key``.

    Which key: the operator's, looked up from ``receipt["verificationMethod"]`` in a DID document the caller
    trusts; this function does not resolve DIDs.
    """
    _check_shape(receipt, signed=True)
    value = receipt["signature"]
    raw = base64.urlsafe_b64decode(value + "==")
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        raise InvalidReceipt("receipt signature is not canonical base64url", field="signature")
    if not key.verify(raw, _signing_input(receipt)):
        raise InvalidReceipt("receipt signature does not verify under the operator's key", field="signature")


def receipt_leaf_hash(receipt: Mapping[str, Any]) -> bytes:
    """The 32-byte leaf hash a receipt promises to include."""
    _check_shape(receipt, signed="signature" in receipt)
    return base64.b64decode(receipt["leafHash"], validate=True)


def _check_shape(receipt: Mapping[str, Any], *, signed: bool) -> None:
    expected = RECEIPT_FIELDS | {"signature"} if signed else RECEIPT_FIELDS
    if not isinstance(receipt, Mapping) or set(receipt) != expected:
        raise InvalidReceipt(f"a receipt has exactly the members {', '.join(sorted(expected))}")
    for name in ("logOrigin", "operator", "verificationMethod", "receivedAt", "leafHash"):
        if not isinstance(receipt[name], str) or not receipt[name]:
            raise InvalidReceipt(f"receipt {name} must be a non-empty string", field=name)
    delay = receipt["maxDelaySeconds"]
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
        raise InvalidReceipt("receipt maxDelaySeconds must be a non-negative integer", field="maxDelaySeconds")
    try:
        from_xsd(receipt["receivedAt"])
        hashed = base64.b64decode(receipt["leafHash"], validate=True)
    except (ValueError, binascii.Error):
        raise InvalidReceipt("receipt receivedAt or leafHash is malformed") from None
    if len(hashed) != HASH_SIZE:
        raise InvalidReceipt(f"receipt leafHash must be {HASH_SIZE} bytes", field="leafHash")
    if signed and (not isinstance(receipt["signature"], str) or not _B64URL_SIGNATURE.match(receipt["signature"])):
        raise InvalidReceipt("receipt signature must be 64 bytes in unpadded base64url", field="signature")
