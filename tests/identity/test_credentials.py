"""Credentials: VC 2.0 data model, eddsa-jcs-2022 sign/verify on our own credentials, validity, digest."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from trustspace.core.canonical import canonicalize, sha256
from trustspace.core.errors import TrustSpaceError, ValidationFailed
from trustspace.core.keys import SigningKey, VerifyingKey, multibase_b58_encode
from trustspace.identity import credentials as vc
from trustspace.identity import errors
from trustspace.identity.contexts import TRUSTSPACE_CONTEXT
from trustspace.identity.did import DidResolver, did_document, did_key, did_web, verification_method_id
from trustspace.identity.errors import (
    CredentialExpired,
    CredentialNotYetValid,
    InvalidCredential,
    InvalidProof,
    UnknownVerificationMethod,
)

ISSUER_KEY = SigningKey.from_seed(b"\x01" * 32)
ISSUER = did_key(ISSUER_KEY.public)
ISSUER_METHOD = verification_method_id(ISSUER)
ATTACKER_KEY = SigningKey.from_seed(b"\x02" * 32)
ATTACKER = did_key(ATTACKER_KEY.public)
HOLDER = did_key(SigningKey.from_seed(b"\x03" * 32).public)
CREATED = "2026-01-01T00:00:00Z"


def membership(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": [vc.VC_V2_CONTEXT, TRUSTSPACE_CONTEXT],
        "id": "urn:uuid:0b1c2d3e-0000-4000-8000-000000000001",
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": ISSUER,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {
            "id": HOLDER,
            "space": "demo",
            "roles": ["provider", "consumer"],
            "displayName": "示例数据公司",
            "creditCode": "91350100M000100Y43",
        },
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


def signed(document: dict[str, Any] | None = None) -> dict[str, Any]:
    return vc.sign(document or membership(), ISSUER_KEY, ISSUER_METHOD, CREATED)


def key_for() -> Callable[[str], VerifyingKey]:
    return DidResolver(fetch=lambda url: pytest.fail(f"unexpected fetch of {url}")).key_for


# ---------------------------------------------------------------- data model


def test_a_membership_credential_follows_the_data_model() -> None:
    vc.check_data_model(membership())
    vc.check_data_model(signed())


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": {"id": ISSUER, "name": "Operator"}},
        {"credentialSubject": [{"id": HOLDER, "space": "demo"}]},
        {"credentialSubject": {"space": "demo"}},
        {"validFrom": None, "validUntil": None},
        {"validFrom": "2026-01-01T08:00:00.123+08:00"},
        {"@context": vc.VC_V2_CONTEXT, "type": "VerifiableCredential"},
        {"@context": [vc.VC_V2_CONTEXT, TRUSTSPACE_CONTEXT, {"extra": "https://example.org/extra"}]},
        {"type": "VerifiableCredential"},
        {"id": None},
    ],
)
def test_data_model_accepts_allowed_variants(changes: dict[str, Any]) -> None:
    vc.check_data_model(membership(**changes))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"@context": None}, "@context"),
        ({"@context": []}, "@context"),
        ({"@context": [TRUSTSPACE_CONTEXT, vc.VC_V2_CONTEXT]}, "@context"),
        ({"@context": ["https://www.w3.org/2018/credentials/v1"]}, "@context"),
        ({"@context": [vc.VC_V2_CONTEXT, 7]}, "@context"),
        ({"type": None}, "type"),
        ({"type": ["MembershipCredential"]}, "type"),
        ({"type": ["VerifiableCredential", 1]}, "type"),
        ({"issuer": None}, "issuer"),
        ({"issuer": "not a url"}, "issuer"),
        ({"issuer": 42}, "issuer"),
        ({"issuer": {"name": "no id"}}, "issuer.id"),
        ({"credentialSubject": None}, "credentialSubject"),
        ({"credentialSubject": []}, "credentialSubject"),
        ({"credentialSubject": "did:example:x"}, "credentialSubject"),
        ({"credentialSubject": [{"id": HOLDER}, "x"]}, "credentialSubject"),
        ({"validFrom": "2026-01-01"}, "validFrom"),
        ({"validFrom": "2026-01-01T00:00:00"}, "validFrom"),
        ({"validFrom": "20260101T000000Z"}, "validFrom"),
        ({"validFrom": "2026-13-01T00:00:00Z"}, "validFrom"),
        ({"validFrom": 1767225600}, "validFrom"),
        ({"validUntil": "tomorrow"}, "validUntil"),
        ({"validUntil": "2025-12-31T23:59:59Z"}, "validUntil"),
        ({"id": 7}, "id"),
        ({"id": "no scheme"}, "id"),
        ({"credentialStatus": "revocation"}, "credentialStatus"),
        ({"credentialStatus": [{"id": "x"}]}, "credentialStatus.type"),
    ],
)
def test_data_model_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCredential) as raised:
        vc.check_data_model(membership(**changes))
    assert raised.value.field == field
    assert raised.value.status == 422


def test_data_model_refuses_a_non_object() -> None:
    with pytest.raises(InvalidCredential):
        vc.check_data_model(["not", "a", "credential"])  # type: ignore[arg-type]


def test_issuer_and_subject_ids() -> None:
    assert vc.issuer_id(membership()) == ISSUER
    assert vc.issuer_id(membership(issuer={"id": ISSUER})) == ISSUER
    assert vc.subject_id(membership()) == HOLDER
    assert vc.subject_id(membership(credentialSubject=[{"id": HOLDER, "space": "demo"}])) == HOLDER


@pytest.mark.parametrize(
    "subject", [None, {"space": "demo"}, [], [{"id": HOLDER}, {"id": ISSUER}], {"id": ""}, {"id": 5}]
)
def test_subject_id_needs_exactly_one_subject_with_an_id(subject: Any) -> None:
    with pytest.raises(InvalidCredential) as raised:
        vc.subject_id(membership(credentialSubject=subject))
    assert raised.value.field in ("credentialSubject", "credentialSubject.id")


# ---------------------------------------------------------------- validity


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))),
    ],
)
def test_valid_inside_the_window_including_its_ends(now: datetime) -> None:
    vc.check_validity(membership(), now)


def test_not_yet_valid() -> None:
    with pytest.raises(CredentialNotYetValid) as raised:
        vc.check_validity(membership(), datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert raised.value.field == "validFrom"
    assert raised.value.status == 403
    assert "2026-01-01T00:00:00Z" in raised.value.detail


def test_expired() -> None:
    with pytest.raises(CredentialExpired) as raised:
        vc.check_validity(membership(), datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert raised.value.field == "validUntil"
    assert "new one" in raised.value.detail


def test_leeway_widens_both_ends() -> None:
    vc.check_validity(membership(), datetime(2025, 12, 31, 23, 59, 30, tzinfo=UTC), leeway_seconds=60)
    vc.check_validity(membership(), datetime(2027, 1, 1, 0, 0, 30, tzinfo=UTC), leeway_seconds=60)
    with pytest.raises(CredentialExpired):
        vc.check_validity(membership(), datetime(2027, 1, 1, 0, 2, tzinfo=UTC), leeway_seconds=60)


def test_no_bounds_means_always_valid() -> None:
    vc.check_validity(membership(validFrom=None, validUntil=None), datetime(1999, 1, 1, tzinfo=UTC))


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        vc.check_validity(membership(), datetime(2026, 6, 1))


# ---------------------------------------------------------------- sign and verify


def test_sign_then_verify() -> None:
    vc.verify(signed(), key_for())


def test_sign_leaves_the_input_unchanged_and_shares_nothing_with_it() -> None:
    document = membership()
    before = copy.deepcopy(document)
    result = signed(document)
    assert document == before
    assert "proof" not in document
    result["credentialSubject"]["roles"].append("admin")
    result["proof"]["@context"].append("x")
    assert document == before


def test_signature_is_deterministic_and_proof_is_complete() -> None:
    first, second = signed(), signed()
    assert first == second
    proof = first["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["created"] == CREATED
    assert proof["verificationMethod"] == ISSUER_METHOD
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["@context"] == first["@context"]
    assert proof["proofValue"].startswith("z")


def test_signature_is_over_the_documented_hash() -> None:
    credential = signed()
    proof = dict(credential["proof"])
    signature_text = proof.pop("proofValue")
    unsecured = {name: value for name, value in credential.items() if name != "proof"}
    data = sha256(canonicalize(proof)) + sha256(canonicalize(unsecured))
    assert multibase_b58_encode(ISSUER_KEY.sign(data)) == signature_text


def test_verify_survives_a_json_round_trip_with_other_key_order() -> None:
    credential = signed()
    reordered = json.loads(json.dumps(dict(reversed(list(credential.items()))), indent=3, ensure_ascii=True))
    vc.verify(reordered, key_for())


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"created": "2026-01-01"}, "created"),
        ({"created": "yesterday"}, "created"),
        ({"verification_method": ISSUER}, "verification_method"),
    ],
)
def test_sign_refuses_bad_arguments(arguments: dict[str, str], field: str) -> None:
    call = {"verification_method": ISSUER_METHOD, "created": CREATED, **arguments}
    with pytest.raises(ValidationFailed) as raised:
        vc.sign(membership(), ISSUER_KEY, call["verification_method"], call["created"])
    assert raised.value.field == field


def test_sign_refuses_an_already_signed_document() -> None:
    with pytest.raises(InvalidCredential) as raised:
        signed(signed())
    assert raised.value.field == "proof"


def test_authentication_purpose_round_trip() -> None:
    credential = vc.sign(membership(), ISSUER_KEY, ISSUER_METHOD, CREATED, proof_purpose="authentication")
    resolver = DidResolver()
    vc.verify(credential, lambda m: resolver.key_for(m, "authentication"), proof_purpose="authentication")
    with pytest.raises(InvalidProof) as raised:
        vc.verify(credential, key_for())
    assert raised.value.field == "proof.proofPurpose"


# ---------------------------------------------------------------- attacks


def test_wrong_key_claiming_the_issuers_method_fails_on_the_signature() -> None:
    # The attacker names the real issuer's key but can only sign with its own.
    forged = vc.sign(membership(), ATTACKER_KEY, ISSUER_METHOD, CREATED)
    with pytest.raises(InvalidProof) as raised:
        vc.verify(forged, key_for())
    assert raised.value.field == "proof.proofValue"


def test_valid_signature_by_someone_else_than_the_issuer_fails() -> None:
    # A perfectly valid proof, but made by a key of another DID than the credential's issuer.
    forged = vc.sign(membership(), ATTACKER_KEY, verification_method_id(ATTACKER), CREATED)
    vc.verify(forged, key_for(), check_issuer=False)
    with pytest.raises(InvalidProof) as raised:
        vc.verify(forged, key_for())
    assert raised.value.field == "proof.verificationMethod"
    assert ISSUER in raised.value.detail


def test_wrong_key_for_a_did_web_issuer_fails() -> None:
    issuer = did_web("https://operator.example")
    method = verification_method_id(issuer)
    resolver = DidResolver(fetch=lambda url: pytest.fail(f"unexpected fetch of {url}"))
    resolver.seed(issuer, did_document(issuer, ISSUER_KEY.public))
    document = membership(issuer=issuer)
    vc.verify(vc.sign(document, ISSUER_KEY, method, CREATED), resolver.key_for)
    with pytest.raises(InvalidProof):
        vc.verify(vc.sign(document, ATTACKER_KEY, method, CREATED), resolver.key_for)
    with pytest.raises(UnknownVerificationMethod):
        vc.verify(vc.sign(document, ATTACKER_KEY, f"{issuer}#key-2", CREATED), resolver.key_for)


def test_reissuing_under_a_different_subject_breaks_the_proof() -> None:
    credential = signed()
    credential["credentialSubject"]["id"] = did_key(ATTACKER_KEY.public)
    with pytest.raises(InvalidProof):
        vc.verify(credential, key_for())


def tamper(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    credential = signed()
    change(credential)
    return credential


PROOF_DEFECTS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no proof", lambda c: c.pop("proof"), "proof"),
    ("proof set", lambda c: c.update(proof=[c["proof"], c["proof"]]), "proof"),
    ("proof not an object", lambda c: c.update(proof="z123"), "proof"),
    ("other proof type", lambda c: c["proof"].update(type="Ed25519Signature2020"), "proof.type"),
    ("other cryptosuite", lambda c: c["proof"].update(cryptosuite="eddsa-rdfc-2022"), "proof.cryptosuite"),
    ("other purpose", lambda c: c["proof"].update(proofPurpose="authentication"), "proof.proofPurpose"),
    ("missing purpose", lambda c: c["proof"].pop("proofPurpose"), "proof.proofPurpose"),
    ("bad created", lambda c: c["proof"].update(created="2026-01-01"), "proof.created"),
    (
        "proof context differs",
        lambda c: c["proof"].update({"@context": [vc.VC_V2_CONTEXT]}),
        "proof.@context",
    ),
    ("proof context missing", lambda c: c["proof"].pop("@context"), "proof.@context"),
    (
        "method without fragment",
        lambda c: c["proof"].update(verificationMethod=ISSUER),
        "proof.verificationMethod",
    ),
    ("method not a string", lambda c: c["proof"].update(verificationMethod=5), "proof.verificationMethod"),
    ("value not multibase", lambda c: c["proof"].update(proofValue="u" + "A" * 86), "proof.proofValue"),
    ("value not base58", lambda c: c["proof"].update(proofValue="z0OIl"), "proof.proofValue"),
    (
        "value too short",
        lambda c: c["proof"].update(proofValue=multibase_b58_encode(b"\x01" * 63)),
        "proof.proofValue",
    ),
    ("value missing", lambda c: c["proof"].pop("proofValue"), "proof.proofValue"),
    ("expires added", lambda c: c["proof"].update(expires="2030-01-01T00:00:00Z"), "proof.proofValue"),
    ("status added", lambda c: c.update(credentialStatus={"type": "X"}), "proof.proofValue"),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in PROOF_DEFECTS], ids=[n for n, _, _ in PROOF_DEFECTS]
)
def test_proof_defects_are_named(change: Callable[[dict[str, Any]], None], field: str) -> None:
    with pytest.raises(InvalidProof) as raised:
        vc.verify(tamper(change), key_for())
    assert raised.value.field == field
    assert raised.value.status == 401


def test_unknown_key_fragment() -> None:
    credential = vc.sign(membership(), ISSUER_KEY, f"{ISSUER}#other", CREATED)
    with pytest.raises(UnknownVerificationMethod):
        vc.verify(credential, key_for())


def test_uncanonicalisable_content_is_an_invalid_proof() -> None:
    credential = signed()
    credential["credentialSubject"]["count"] = 2**60
    with pytest.raises(InvalidProof):
        vc.verify(credential, key_for())


def test_error_details_never_show_the_secret_key() -> None:
    secrets = [ISSUER_KEY.export_seed().hex(), ISSUER_KEY.export_multibase(), ATTACKER_KEY.export_multibase()]
    details: list[str] = []
    for _, change, _ in PROOF_DEFECTS:
        with pytest.raises(TrustSpaceError) as raised:
            vc.verify(tamper(change), key_for())
        details.append(raised.value.detail)
    with pytest.raises(TrustSpaceError) as raised:
        vc.verify(vc.sign(membership(), ATTACKER_KEY, ISSUER_METHOD, CREATED), key_for())
    details.append(raised.value.detail)
    proof_value = signed()["proof"]["proofValue"]
    for detail in details:
        assert all(secret not in detail for secret in secrets)
        assert proof_value not in detail


def test_identity_error_slugs_are_distinct() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, TrustSpaceError)
        and value.__module__ == errors.__name__
    ]
    assert len(classes) == 8
    slugs = [cls.slug for cls in classes]
    assert len(set(slugs)) == len(slugs)
    assert not {"validation-failed", "unauthenticated", "forbidden"} & set(slugs)


# ---------------------------------------------------------------- digest


def test_proof_digest_is_sha256_of_the_canonical_signed_credential() -> None:
    credential = signed()
    assert vc.proof_digest(credential) == sha256(canonicalize(credential)).hex()
    assert vc.proof_digest(json.loads(json.dumps(credential, indent=2))) == vc.proof_digest(credential)


def test_proof_digest_changes_with_any_change() -> None:
    credential = signed()
    other = copy.deepcopy(credential)
    other["proof"]["proofValue"] = other["proof"]["proofValue"][:-1] + "2"
    assert vc.proof_digest(other) != vc.proof_digest(credential)


def test_proof_digest_of_uncanonicalisable_json() -> None:
    with pytest.raises(InvalidCredential):
        vc.proof_digest({"n": float("nan")})
