"""Canonical JSON (RFC 8785, JCS): the one byte form that is hashed and signed everywhere."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from trustspace.core.errors import ValidationFailed


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"value cannot be canonicalized as JSON: {exc}") from exc


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def digest_hex(value: Any) -> str:
    """SHA-256 of the canonical form, hex encoded: a stable content identifier."""
    return hashlib.sha256(canonicalize(value)).hexdigest()
