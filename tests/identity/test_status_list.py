"""Bitstring Status List v1.0: encoding, bit order, entries, list credentials and revocation checks."""

from __future__ import annotations

import base64
import gzip
import random
from typing import Any

import pytest

from trustspace.core.errors import ValidationFailed
from trustspace.core.keys import SigningKey
from trustspace.identity import credentials as vc
from trustspace.identity.did import DidResolver, did_key, verification_method_id
from trustspace.identity.errors import CredentialRevoked, InvalidCredential
from trustspace.identity.status_list import (
    MIN_ENTRIES,
    StatusList,
    check_not_revoked,
    is_revoked,
    status_entry,
    status_list_credential,
)

KEY = SigningKey.from_seed(b"\x05" * 32)
ISSUER = did_key(KEY.public)
LIST_URL = "http://127.0.0.1:8000/status/1"
NOW = "2026-01-01T00:00:00Z"


def raw_bits(encoded: str) -> bytes:
    """Decode an encodedList without our code, straight from the spec's description."""
    assert encoded.startswith("u")
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def encode_raw(bits: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(gzip.compress(bits)).decode().rstrip("=")


# ---------------------------------------------------------------- the bitstring


def test_new_list_is_all_clear() -> None:
    bits = StatusList()
    assert bits.size == MIN_ENTRIES == 131072
    assert not any(bits.is_set(i) for i in (0, 1, 4095, MIN_ENTRIES - 1))
    assert raw_bits(bits.encode()) == bytes(16 * 1024)


def test_set_and_clear() -> None:
    bits = StatusList()
    bits.set(42, True)
    assert bits.is_set(42)
    assert not bits.is_set(41) and not bits.is_set(43)
    bits.set(42, True)
    assert bits.is_set(42)
    bits.set(42, False)
    assert not bits.is_set(42)
    bits.set(42, False)
    assert not bits.is_set(42)


@pytest.mark.parametrize(
    ("index", "byte", "value"),
    [(0, 0, 0x80), (1, 0, 0x40), (7, 0, 0x01), (8, 1, 0x80), (13, 1, 0x04), (MIN_ENTRIES - 1, 16383, 0x01)],
)
def test_bit_order_is_most_significant_bit_first(index: int, byte: int, value: int) -> None:
    bits = StatusList()
    bits.set(index, True)
    raw = raw_bits(bits.encode())
    assert raw[byte] == value
    assert sum(1 for b in raw if b) == 1


def test_decode_reads_bits_written_by_an_independent_encoder() -> None:
    raw = bytearray(16 * 1024)
    raw[0] = 0b1010_0000
    raw[100] = 0b0000_0001
    decoded = StatusList.decode(encode_raw(bytes(raw)))
    assert [i for i in range(16) if decoded.is_set(i)] == [0, 2]
    assert decoded.is_set(100 * 8 + 7)
    assert not decoded.is_set(100 * 8 + 6)


def test_encoding_form() -> None:
    encoded = StatusList().encode()
    assert encoded.startswith("u")
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert encoded == StatusList().encode()


@pytest.mark.parametrize("size", [MIN_ENTRIES, 2 * MIN_ENTRIES])
def test_round_trip(size: int) -> None:
    rng = random.Random(7)
    chosen = set(rng.sample(range(size), 500)) | {0, size - 1}
    bits = StatusList(size)
    for index in chosen:
        bits.set(index, True)
    decoded = StatusList.decode(bits.encode())
    assert decoded.size == size
    assert {i for i in range(size) if decoded.is_set(i)} == chosen


def test_decoded_list_is_independent_of_the_cache() -> None:
    encoded = StatusList().encode()
    StatusList.decode(encoded).set(3, True)
    assert not StatusList.decode(encoded).is_set(3)


@pytest.mark.parametrize("size", [0, 8, MIN_ENTRIES - 8, MIN_ENTRIES + 1])
def test_constructor_refuses_bad_sizes(size: int) -> None:
    with pytest.raises(ValidationFailed):
        StatusList(size)


@pytest.mark.parametrize("index", [-1, MIN_ENTRIES, MIN_ENTRIES + 100])
def test_out_of_range_index(index: int) -> None:
    with pytest.raises(ValidationFailed):
        StatusList().set(index, True)
    with pytest.raises(ValidationFailed):
        StatusList().is_set(index)


@pytest.mark.parametrize(
    ("encoded", "words"),
    [
        ("z" + StatusList().encode()[1:], "prefix 'u'"),
        (StatusList().encode() + "==", "prefix 'u'"),
        ("u" + base64.b64encode(gzip.compress(bytes(16384))).decode().replace("=", "") + "+/", "prefix 'u'"),
        ("u" + base64.urlsafe_b64encode(b"plain bytes, not gzip").decode().rstrip("="), "GZIP"),
        ("uA", "GZIP"),
        (encode_raw(bytes(16383)), "131072"),
        (encode_raw(b""), "131072"),
        (encode_raw(bytes(16384))[:-10], "truncated"),
        (
            "u" + base64.urlsafe_b64encode(gzip.compress(bytes(16384)) + b"junk").decode().rstrip("="),
            "trailing",
        ),
        (encode_raw(bytes(3 * 1024 * 1024)), "exceeds"),
    ],
    ids=[
        "wrong-prefix",
        "padding",
        "wrong-alphabet",
        "not-gzip",
        "too-short-base64",
        "list-too-small",
        "empty",
        "truncated",
        "trailing-data",
        "bomb",
    ],
)
def test_decode_refuses_with_a_clear_error(encoded: str, words: str) -> None:
    with pytest.raises(InvalidCredential) as raised:
        StatusList.decode(encoded)
    assert raised.value.field == "credentialSubject.encodedList"
    assert words in raised.value.detail


# ---------------------------------------------------------------- entries and list credentials


def test_status_entry() -> None:
    assert status_entry(LIST_URL, 94567) == {
        "id": f"{LIST_URL}#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": LIST_URL,
    }
    assert status_entry(LIST_URL, 3, "suspension")["statusPurpose"] == "suspension"


@pytest.mark.parametrize(("url", "index"), [(LIST_URL, -1), (LIST_URL + "#x", 1)])
def test_status_entry_refuses(url: str, index: int) -> None:
    with pytest.raises(ValidationFailed):
        status_entry(url, index)


def test_status_list_credential_shape_and_data_model() -> None:
    bits = StatusList()
    document = status_list_credential(ISSUER, LIST_URL, bits, NOW)
    assert document["id"] == LIST_URL
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert document["issuer"] == ISSUER
    assert document["validFrom"] == NOW
    assert document["credentialSubject"] == {
        "id": f"{LIST_URL}#list",
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": bits.encode(),
    }
    vc.check_data_model(document)


def member_credential(index: int = 7, **status: Any) -> dict[str, Any]:
    return {
        "@context": [vc.VC_V2_CONTEXT],
        "type": ["VerifiableCredential"],
        "issuer": ISSUER,
        "credentialSubject": {"id": "did:web:member.example", "name": "Member"},
        "credentialStatus": {**status_entry(LIST_URL, index), **status},
    }


def list_credential(*revoked: int, purpose: str = "revocation", **changes: Any) -> dict[str, Any]:
    bits = StatusList()
    for index in revoked:
        bits.set(index, True)
    return {**status_list_credential(ISSUER, LIST_URL, bits, NOW, purpose), **changes}


def test_revocation_bit_decides() -> None:
    assert not is_revoked(member_credential(7), list_credential())
    assert not is_revoked(member_credential(7), list_credential(6, 8))
    assert is_revoked(member_credential(7), list_credential(7))
    check_not_revoked(member_credential(7), list_credential(8))
    with pytest.raises(CredentialRevoked) as raised:
        check_not_revoked(member_credential(7), list_credential(7))
    assert raised.value.status == 403
    assert "revoked" in raised.value.detail


def test_suspension_list() -> None:
    credential = member_credential(3, statusPurpose="suspension")
    assert is_revoked(credential, list_credential(3, purpose="suspension"))
    with pytest.raises(CredentialRevoked, match="suspended"):
        check_not_revoked(credential, list_credential(3, purpose="suspension"))


def test_entry_is_chosen_among_several_by_list_and_purpose() -> None:
    credential = member_credential()
    credential["credentialStatus"] = [
        status_entry("http://127.0.0.1:8000/status/other", 1),
        status_entry(LIST_URL, 5, "suspension"),
        status_entry(LIST_URL, 9),
    ]
    assert is_revoked(credential, list_credential(9))
    assert not is_revoked(credential, list_credential(5))
    assert is_revoked(credential, list_credential(5, purpose="suspension"))


def test_signed_list_credential_verifies_and_is_read() -> None:
    method = verification_method_id(ISSUER)
    signed_list = vc.sign(list_credential(7), KEY, method, NOW)
    vc.verify(signed_list, DidResolver().key_for)
    member = vc.sign(member_credential(7), KEY, method, NOW)
    assert is_revoked(member, signed_list)


@pytest.mark.parametrize(
    ("credential", "listing", "field"),
    [
        (
            member_credential(statusListCredential="http://127.0.0.1:8000/status/2"),
            list_credential(),
            "credentialStatus.statusListCredential",
        ),
        (
            member_credential(),
            list_credential(id="http://127.0.0.1:8000/status/2"),
            "credentialStatus.statusListCredential",
        ),
        (
            {**member_credential(), "credentialStatus": None},
            list_credential(),
            "credentialStatus.statusListCredential",
        ),
        (
            member_credential(type="StatusList2021Entry"),
            list_credential(),
            "credentialStatus.statusListCredential",
        ),
        (member_credential(statusPurpose="suspension"), list_credential(), "credentialStatus.statusPurpose"),
        (member_credential(), list_credential(purpose="suspension"), "credentialStatus.statusPurpose"),
        (member_credential(), list_credential(issuer="did:web:someone-else.example"), "issuer"),
        (member_credential(statusListIndex=7), list_credential(), "credentialStatus.statusListIndex"),
        (member_credential(statusListIndex="-7"), list_credential(), "credentialStatus.statusListIndex"),
        (member_credential(statusListIndex="٧"), list_credential(), "credentialStatus.statusListIndex"),
        (
            member_credential(statusListIndex=str(MIN_ENTRIES)),
            list_credential(),
            "credentialStatus.statusListIndex",
        ),
        (member_credential(statusSize=2), list_credential(), "credentialStatus.statusSize"),
        (member_credential(), list_credential(type=["VerifiableCredential"]), "type"),
        (
            member_credential(),
            list_credential(credentialSubject={"type": "StatusList2021"}),
            "credentialSubject.type",
        ),
        (
            member_credential(),
            list_credential(credentialSubject={"type": "BitstringStatusList", "statusPurpose": "revocation"}),
            "credentialSubject.encodedList",
        ),
    ],
    ids=[
        "entry-points-elsewhere",
        "list-is-another",
        "no-status",
        "entry-wrong-type",
        "entry-purpose-differs",
        "list-purpose-differs",
        "list-from-other-issuer",
        "index-not-string",
        "index-negative",
        "index-non-ascii-digit",
        "index-beyond-list",
        "multi-bit-status",
        "list-wrong-type",
        "list-subject-wrong-type",
        "list-without-bits",
    ],
)
def test_mismatches_raise_invalid_credential(
    credential: dict[str, Any], listing: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidCredential) as raised:
        is_revoked(credential, listing)
    assert raised.value.field == field
