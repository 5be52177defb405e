"""Revocation through W3C Bitstring Status List v1.0.

The issuer publishes one credential holding a long bitstring; each credential it issues points at one bit.
Facts from the specification this module relies on:
- the bitstring is GZIP-compressed, then base64url-encoded without padding, with the multibase prefix ``u``;
- index 0 is the left-most bit, i.e. the most significant bit of the first byte;
- a list holds at least 131,072 entries (16 KB uncompressed), so that one credential's bit hides among many
  (group privacy); a shorter list is rejected.
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from functools import lru_cache
from typing import Any

from trustspace.core.errors import ValidationFailed
from trustspace.identity.contexts import VC_V2_CONTEXT
from trustspace.identity.credentials import issuer_id
from trustspace.identity.errors import CredentialRevoked, InvalidCredential

MIN_ENTRIES = 131072
ENTRY_TYPE = "BitstringStatusListEntry"
LIST_TYPE = "BitstringStatusList"
LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
# 2 MiB is 16.7 million entries, far beyond any space's membership; anything larger is treated as a
# decompression bomb. The bound also caps the memory of the decode cache below (16 lists at most).
_MAX_LIST_BYTES = 2 * 1024 * 1024
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_ENCODED_LIST_FIELD = "credentialSubject.encodedList"


def _bad_list(detail: str) -> InvalidCredential:
    return InvalidCredential(
        f"{detail}; the status list issuer must publish a valid list", field=_ENCODED_LIST_FIELD
    )


@lru_cache(maxsize=16)
def _inflate(text: str) -> bytes:
    # Cached because every verification of a credential decodes the same few published lists.
    if not text.startswith("u") or not _BASE64URL.match(text[1:]):
        raise _bad_list("encodedList must be multibase base64url without padding (prefix 'u')")
    body = text[1:]
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        bits = inflater.decompress(compressed, _MAX_LIST_BYTES + 1)
    except (ValueError, zlib.error) as exc:
        raise _bad_list(f"encodedList is not GZIP data in base64url ({exc})") from exc
    if len(bits) > _MAX_LIST_BYTES or not inflater.eof or inflater.unused_data:
        raise _bad_list(f"encodedList is truncated, has trailing data, or exceeds {_MAX_LIST_BYTES} bytes")
    if len(bits) * 8 < MIN_ENTRIES:
        raise _bad_list(
            f"status list has {len(bits) * 8} entries, "
            f"but Bitstring Status List requires at least {MIN_ENTRIES}"
        )
    return bits


def _bit(bits: bytes | bytearray, index: int) -> bool:
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


class StatusList:
    """A mutable bitstring of ``size`` entries, all clear at first."""

    __slots__ = ("_bits", "size")

    def __init__(self, size: int = MIN_ENTRIES) -> None:
        if size < MIN_ENTRIES or size % 8:
            raise ValidationFailed(
                f"status list size must be a multiple of 8 and at least {MIN_ENTRIES}, got {size}",
                field="size",
            )
        self.size = size
        self._bits = bytearray(size // 8)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise ValidationFailed(
                f"status list index {index} is outside 0..{self.size - 1}", field="statusListIndex"
            )

    def set(self, index: int, revoked: bool) -> None:
        self._check(index)
        mask = 0x80 >> (index % 8)
        if revoked:
            self._bits[index // 8] |= mask
        else:
            self._bits[index // 8] &= ~mask & 0xFF

    def is_set(self, index: int) -> bool:
        self._check(index)
        return _bit(self._bits, index)

    def encode(self) -> str:
        # mtime=0 makes the output depend only on the bits, so an unchanged list re-encodes identically.
        compressed = gzip.compress(bytes(self._bits), mtime=0)
        return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str) -> StatusList:
        bits = _inflate(text)
        decoded = cls.__new__(cls)
        decoded.size = len(bits) * 8
        decoded._bits = bytearray(bits)
        return decoded


def status_entry(list_credential_url: str, index: int, purpose: str = "revocation") -> dict[str, Any]:
    """The ``credentialStatus`` of a credential whose status is bit ``index`` of the given list."""
    if index < 0 or "#" in list_credential_url:
        raise ValidationFailed("index must be >= 0 and the list URL must have no fragment", field="index")
    return {
        "id": f"{list_credential_url}#{index}",
        "type": ENTRY_TYPE,
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_credential_url,
    }


def status_list_credential(
    issuer: str, url: str, status_list: StatusList, valid_from: str, purpose: str = "revocation"
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` published at ``url``; sign it before serving it."""
    return {
        "@context": [VC_V2_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": LIST_TYPE,
            "statusPurpose": purpose,
            "encodedList": status_list.encode(),
        },
    }


def _list_subject(list_credential: dict[str, Any]) -> dict[str, Any]:
    types = list_credential.get("type")
    if not isinstance(types, list) or LIST_CREDENTIAL_TYPE not in types:
        raise InvalidCredential(
            f"status list credential's type must include {LIST_CREDENTIAL_TYPE}", field="type"
        )
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != LIST_TYPE:
        raise InvalidCredential(
            f"status list credential's subject must be a {LIST_TYPE}", field="credentialSubject.type"
        )
    if not isinstance(subject.get("encodedList"), str):
        raise _bad_list("encodedList is missing")
    return subject


def _matching_entry(credential: dict[str, Any], list_url: object, purpose: object) -> dict[str, Any]:
    status = credential.get("credentialStatus")
    entries = status if isinstance(status, list) else [status]
    pointing = [
        entry
        for entry in entries
        if isinstance(entry, dict)
        and entry.get("type") == ENTRY_TYPE
        and entry.get("statusListCredential") == list_url
    ]
    if not pointing:
        raise InvalidCredential(
            f"credential has no {ENTRY_TYPE} pointing at status list {list_url!r}; "
            "fetch the list its credentialStatus names",
            field="credentialStatus.statusListCredential",
        )
    for entry in pointing:
        if entry.get("statusPurpose") == purpose:
            return entry
    raise InvalidCredential(
        f"credential's status entry is for purpose {pointing[0].get('statusPurpose')!r}, "
        f"but the status list is for {purpose!r}",
        field="credentialStatus.statusPurpose",
    )


def is_revoked(credential: dict[str, Any], list_credential: dict[str, Any]) -> bool:
    """Whether the credential's bit is set in ``list_credential`` (already verified by the caller).

    For a ``suspension`` list a set bit means suspended. The list must be the one the credential's entry
    names, for the same purpose, from the same issuer; anything else raises ``InvalidCredential``.
    """
    subject = _list_subject(list_credential)
    entry = _matching_entry(credential, list_credential.get("id"), subject.get("statusPurpose"))
    if issuer_id(list_credential) != issuer_id(credential):
        raise InvalidCredential("status list was not issued by the credential's issuer", field="issuer")
    if entry.get("statusSize", 1) != 1:
        raise InvalidCredential(
            "only 1-bit status entries are supported", field="credentialStatus.statusSize"
        )
    raw_index = entry.get("statusListIndex")
    if not isinstance(raw_index, str) or not raw_index.isascii() or not raw_index.isdigit():
        raise InvalidCredential(
            "statusListIndex must be a string of decimal digits", field="credentialStatus.statusListIndex"
        )
    bits = _inflate(subject["encodedList"])
    index = int(raw_index)
    if index >= len(bits) * 8:
        raise InvalidCredential(
            f"statusListIndex {index} is beyond the end of the status list ({len(bits) * 8} entries)",
            field="credentialStatus.statusListIndex",
        )
    return _bit(bits, index)


def check_not_revoked(credential: dict[str, Any], list_credential: dict[str, Any]) -> None:
    """Raise ``CredentialRevoked`` when ``is_revoked`` says so."""
    if is_revoked(credential, list_credential):
        purpose = list_credential["credentialSubject"].get("statusPurpose")
        state = "suspended" if purpose == "suspension" else "revoked"
        raise CredentialRevoked(
            f"credential has been {state} by its issuer {issuer_id(credential)!r}; "
            "contact the issuer (the space operator) to have it reinstated or reissued",
            field="credentialStatus",
        )
