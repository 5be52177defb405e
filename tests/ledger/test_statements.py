"""Evidence statements: shape, signature, size limit, and attacks on a signed entry."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from trustspace.core.canonical import canonicalize
from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.ledger.errors import InvalidStatement, InvalidStatementSignature, StatementTooLarge
from trustspace.ledger.statements import (
    MAX_ENTRY_BYTES,
    SIGNING_PREFIX,
    EventType,
    Statement,
    digest_payload,
    leaf_data,
    new_statement,
    sign_statement,
    signing_input,
    verify_statement,
)

KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(bytes(32))
DID = "did:web:provider.example"
METHOD = f"{DID}#key-1"
WHEN = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)


def key_for(method: str) -> VerifyingKey:
    assert method == METHOD
    return KEY.public


def statement(**overrides: Any) -> Statement:
    fields: dict[str, Any] = {"agreement": "urn:uuid:5f0c", "process": "neg-1", "details": {"state": "AGREED"}}
    fields.update(overrides)
    return new_statement(EventType.NEGOTIATION_STATE_CHANGE, DID, WHEN, **fields)


def signed(**overrides: Any) -> dict[str, Any]:
    return sign_statement(statement(**overrides), KEY, METHOD)


def test_signed_statement_round_trips() -> None:
    document = signed(payload_digest=digest_payload(b"big payload"))
    assert verify_statement(document, key_for) == statement(payload_digest=digest_payload(b"big payload"))
    assert document["time"] == "2026-03-01T12:30:05Z"
    assert document["subjects"] == {"agreement": "urn:uuid:5f0c", "process": "neg-1"}
    assert document["payloadDigest"] == digest_payload(b"big payload")
    assert document["signature"]["alg"] == "Ed25519"
    assert statement().at == WHEN


def test_signing_input_is_prefix_and_canonical_json_without_the_value() -> None:
    document = signed()
    unsigned = copy.deepcopy(document)
    del unsigned["signature"]["value"]
    expected = b"trustspace.ledger.statement/v1\n" + canonicalize(unsigned)
    assert signing_input(document) == expected
    assert SIGNING_PREFIX == b"trustspace.ledger.statement/v1\n"
    value = document["signature"]["value"]
    raw = base64.urlsafe_b64decode(value + "==")
    assert "=" not in value and len(raw) == 64
    assert KEY.public.verify(raw, expected)


def test_leaf_data_is_the_canonical_json_of_the_signed_form() -> None:
    document = signed()
    assert leaf_data(document) == canonicalize(document)


def test_changed_field_breaks_the_signature() -> None:
    for path, value in ((("details", "state"), "TERMINATED"), (("subjects", "agreement"), "urn:uuid:other"),
                        (("time",), "2026-03-01T12:30:06Z")):  # fmt: skip
        document = signed()
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        with pytest.raises(InvalidStatementSignature):
            verify_statement(document, key_for)


def test_signature_reattributed_to_another_key_fails() -> None:
    document = signed()
    document["signature"]["verificationMethod"] = f"{DID}#key-2"
    with pytest.raises(InvalidStatementSignature):
        verify_statement(document, lambda method: KEY.public)


def test_signature_by_a_key_outside_the_submitter_did_is_refused() -> None:
    with pytest.raises(InvalidStatementSignature):
        sign_statement(statement(), KEY, "did:web:someone.else#key-1")
    document = signed()
    document["signature"]["verificationMethod"] = "did:web:someone.else#key-1"
    with pytest.raises(InvalidStatementSignature):
        verify_statement(document, lambda method: KEY.public)


def test_signature_by_the_wrong_key_fails() -> None:
    document = sign_statement(statement(), OTHER, METHOD)
    with pytest.raises(InvalidStatementSignature):
        verify_statement(document, key_for)


def test_missing_or_malformed_signature_blocks() -> None:
    value = signed()["signature"]["value"]
    for block in (None, "x", {"alg": "Ed25519", "verificationMethod": METHOD},
                  {"alg": "ES256", "verificationMethod": METHOD, "value": value},
                  {"alg": "Ed25519", "verificationMethod": METHOD, "value": value + "="},
                  {"alg": "Ed25519", "verificationMethod": METHOD, "value": value[:-1] + "B"},
                  {"alg": "Ed25519", "verificationMethod": 7, "value": value}):  # fmt: skip
        document = signed()
        if block is None:
            del document["signature"]
        else:
            document["signature"] = block
        with pytest.raises(InvalidStatementSignature):
            verify_statement(document, key_for)


def test_non_canonical_base64url_signature_is_refused() -> None:
    # The last character carries 2 unused bits; setting one gives the same bytes with another spelling.
    document = signed()
    value = document["signature"]["value"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    document["signature"]["value"] = value[:-1] + alphabet[alphabet.index(value[-1]) ^ 1]
    assert base64.urlsafe_b64decode(document["signature"]["value"] + "==") == base64.urlsafe_b64decode(value + "==")
    with pytest.raises(InvalidStatementSignature, match="canonical"):
        verify_statement(document, key_for)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "Not A Type"),
        ("type", ""),
        ("time", "2026-03-01T12:30:05+08:00"),
        ("time", "2026-02-30T12:30:05Z"),
        ("time", 1767225600),
        ("submitter", "provider.example"),
        ("payloadDigest", "ABC"),
        ("subjects", {}),
        ("subjects", {"agreement": "has space"}),
        ("subjects", {"buyer": "x"}),
        ("details", {"nested": {"a": 1}}),
        ("extra", "not allowed"),
    ],
)
def test_malformed_statements_name_the_field(field: str, value: Any) -> None:
    document = {**statement().to_json(), field: value, "signature": signed()["signature"]}
    with pytest.raises(InvalidStatement) as caught:
        verify_statement(document, key_for)
    assert caught.value.field is not None
    assert caught.value.field.split(".")[0] == field


def test_integers_beyond_json_precision_are_refused() -> None:
    with pytest.raises(InvalidStatement) as caught:
        statement(details={"n": 2**60})
    assert caught.value.field == "details"
    document = {**signed(), "details": {"n": 2**60}}
    with pytest.raises(InvalidStatement):
        verify_statement(document, key_for)


def test_explicit_nulls_are_refused() -> None:
    document = signed()
    document["payloadDigest"] = None
    with pytest.raises((InvalidStatement, InvalidStatementSignature)):
        verify_statement(document, key_for)
    unsigned = statement().to_json()
    unsigned["payloadDigest"] = None
    document = {**unsigned, "signature": {"alg": "Ed25519", "verificationMethod": METHOD}}
    value = base64.urlsafe_b64encode(KEY.sign(signing_input(document))).rstrip(b"=").decode()
    document["signature"]["value"] = value
    with pytest.raises(InvalidStatement, match="null"):
        verify_statement(document, key_for)


def test_event_types_are_open_ended_but_shaped() -> None:
    assert new_statement("acme.audit-note", DID, WHEN, product="p-1").type == "acme.audit-note"
    assert {member.value for member in EventType} >= {"settlement", "metering-record", "destruction-certificate"}


def test_oversized_entry_is_refused_at_signing_and_at_verification() -> None:
    large = {f"k{i}": "x" * 1000 for i in range(17)}
    with pytest.raises(StatementTooLarge):
        signed(details=large)
    document = signed()
    document["padding"] = "x" * MAX_ENTRY_BYTES
    with pytest.raises(StatementTooLarge) as caught:
        verify_statement(document, key_for)
    assert caught.value.status == 413


def test_non_json_values_are_invalid_statements() -> None:
    document = signed()
    document["subjects"] = {"agreement": float("nan")}
    with pytest.raises(InvalidStatement):
        leaf_data(document)
    with pytest.raises(InvalidStatement):
        verify_statement(["not", "an", "object"], key_for)  # type: ignore[arg-type]


def test_signing_input_needs_a_signature_object() -> None:
    with pytest.raises(InvalidStatementSignature):
        signing_input({**statement().to_json(), "signature": "x"})
