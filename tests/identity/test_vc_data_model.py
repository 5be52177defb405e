"""Every MUST of VC Data Model 2.0 that check_data_model enforces: one test per rule, what it accepts and
what it refuses, and the field the refusal names."""

from __future__ import annotations

from typing import Any

import pytest

from trustspace.identity import credentials as vc
from trustspace.identity.contexts import TRUSTSPACE_CONTEXT, VC_V2_CONTEXT
from trustspace.identity.errors import InvalidCredential
from trustspace.identity.membership import read_membership

ISSUER = "did:web:operator.example"
HOLDER = "did:web:member.example"
EX = "https://example.org/vocab#"


def credential(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT, TRUSTSPACE_CONTEXT],
        "id": "urn:uuid:0b1c2d3e-0000-4000-8000-000000000001",
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": ISSUER,
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"id": HOLDER, "space": "demo", "roles": ["consumer"]},
    }
    document.update(changes)
    return {name: value for name, value in document.items() if value is not None}


def refused(document: dict[str, Any]) -> InvalidCredential:
    with pytest.raises(InvalidCredential) as raised:
        vc.check_data_model(document)
    assert raised.value.status == 422
    return raised.value


def assert_refused(document: dict[str, Any], field: str) -> None:
    error = refused(document)
    assert error.field == field, error.detail


# ---------------------------------------------------------------- @context


@pytest.mark.parametrize(
    "context",
    [
        [VC_V2_CONTEXT, TRUSTSPACE_CONTEXT],
        [VC_V2_CONTEXT, TRUSTSPACE_CONTEXT, {"extra": "https://example.org/extra"}],
        [VC_V2_CONTEXT, {"MembershipCredential": f"{EX}MembershipCredential", "space": f"{EX}space"}],
    ],
)
def test_context_of_urls_and_objects_after_the_vc_context_is_accepted(context: list[Any]) -> None:
    vc.check_data_model(credential(**{"@context": context}))


@pytest.mark.parametrize(
    "context",
    [
        None,
        [],
        [TRUSTSPACE_CONTEXT, VC_V2_CONTEXT],
        [VC_V2_CONTEXT, 7],
        [VC_V2_CONTEXT, None],
        [VC_V2_CONTEXT, ["nested"]],
        ["https://www.w3.org/2018/credentials/v1"],
    ],
)
def test_context_not_starting_with_the_vc_context_or_holding_other_values_is_refused(context: Any) -> None:
    assert_refused(credential(**{"@context": context}), "@context")


def test_context_url_that_is_not_shipped_is_refused_and_never_fetched() -> None:
    error = refused(credential(**{"@context": [VC_V2_CONTEXT, "https://evil.example/context.jsonld"]}))
    assert error.field == "@context" and "never fetched" in error.detail


# ---------------------------------------------------------------- protected terms


@pytest.mark.parametrize(
    "redefinition",
    [
        {"name": "https://evil.example/name"},
        {"VerifiableCredential": "https://evil.example/Credential"},
        {"id": "https://evil.example/id"},
        {"BitstringStatusListEntry": {"@id": "https://evil.example/NeverRevoked"}},
        {"@protected": False, "type": "@id"},
    ],
)
def test_inline_context_redefining_a_protected_vc_term_is_refused(redefinition: dict[str, Any]) -> None:
    error = refused(credential(**{"@context": [VC_V2_CONTEXT, TRUSTSPACE_CONTEXT, redefinition]}))
    assert error.field == "@context" and "protected" in error.detail


def test_context_redefining_a_protected_membership_term_is_refused() -> None:
    hijack = {"MembershipCredential": "https://evil.example/Membership"}
    assert_refused(credential(**{"@context": [VC_V2_CONTEXT, TRUSTSPACE_CONTEXT, hijack]}), "@context")


def test_identical_redefinition_of_a_protected_term_is_accepted() -> None:
    same = {"id": "@id", "name": {"@id": "https://schema.org/name"}}
    vc.check_data_model(credential(**{"@context": [VC_V2_CONTEXT, TRUSTSPACE_CONTEXT, same]}))


# ---------------------------------------------------------------- type maps to a URL


@pytest.mark.parametrize(
    ("context", "types"),
    [
        ([VC_V2_CONTEXT], ["VerifiableCredential", "https://example.org/vocab#Badge"]),
        ([VC_V2_CONTEXT], "VerifiableCredential"),
        ([VC_V2_CONTEXT, {"ex": EX}], ["VerifiableCredential", "ex:Badge"]),
        ([VC_V2_CONTEXT, {"Badge": f"{EX}Badge"}], ["VerifiableCredential", "Badge"]),
        ([VC_V2_CONTEXT, {"Badge": {"@id": "ex:Badge"}, "ex": EX}], ["VerifiableCredential", "Badge"]),
        ([VC_V2_CONTEXT, {"@vocab": EX}], ["VerifiableCredential", "Badge"]),
        ([VC_V2_CONTEXT], ["VerifiableCredential", "urn:example:badge"]),
    ],
)
def test_type_that_expands_to_a_url_is_accepted(context: list[Any], types: Any) -> None:
    vc.check_data_model(credential(**{"@context": context, "type": types}))


@pytest.mark.parametrize(
    ("context", "types"),
    [
        ([VC_V2_CONTEXT], ["VerifiableCredential", "Badge"]),
        ([VC_V2_CONTEXT], ["VerifiableCredential", "MembershipCredential"]),
        ([VC_V2_CONTEXT], ["VerifiableCredential", "ex:Badge"]),
        ([VC_V2_CONTEXT, {"@vocab": EX}, {"@vocab": None}], ["VerifiableCredential", "Badge"]),
        ([VC_V2_CONTEXT, {"Badge": None}], ["VerifiableCredential", "Badge"]),
        ([VC_V2_CONTEXT, {"Badge": "@type"}], ["VerifiableCredential", "Badge"]),
        ([VC_V2_CONTEXT], ["VerifiableCredential", "@json"]),
        ([VC_V2_CONTEXT], ["VerifiableCredential", "_:b0"]),
        ([VC_V2_CONTEXT], ["VerifiableCredential", ""]),
        ([VC_V2_CONTEXT], ["MembershipCredential"]),
        ([VC_V2_CONTEXT], ["VerifiableCredential", 1]),
    ],
)
def test_type_that_maps_to_no_url_is_refused(context: list[Any], types: Any) -> None:
    assert_refused(credential(**{"@context": context, "type": types}), "type")


def test_subject_type_that_maps_to_no_url_is_refused() -> None:
    subject = {"id": HOLDER, "type": "Person", "space": "demo"}
    assert_refused(credential(credentialSubject=subject), "credentialSubject.type")
    vc.check_data_model(credential(credentialSubject={**subject, "type": "https://schema.org/Person"}))


# ---------------------------------------------------------------- id


@pytest.mark.parametrize("value", ["urn:uuid:0b1c2d3e-0000-4000-8000-000000000001", "https://example.org/c/1"])
def test_id_that_is_a_single_url_is_accepted(value: str) -> None:
    vc.check_data_model(credential(id=value))


@pytest.mark.parametrize("value", [7, "no scheme", ["urn:uuid:a", "urn:uuid:b"], {"id": "urn:uuid:a"}, ""])
def test_id_that_is_not_a_single_url_is_refused(value: Any) -> None:
    assert_refused(credential(id=value), "id")


# ---------------------------------------------------------------- issuer


@pytest.mark.parametrize("issuer", [ISSUER, {"id": ISSUER}, {"id": ISSUER, "name": "Operator"}])
def test_issuer_url_or_object_with_url_id_is_accepted(issuer: Any) -> None:
    vc.check_data_model(credential(issuer=issuer))


@pytest.mark.parametrize(
    ("issuer", "field"),
    [(42, "issuer"), ("not a url", "issuer"), ([ISSUER], "issuer"), ({"name": "x"}, "issuer.id"),
     ({"id": "operator"}, "issuer.id")],
)
def test_issuer_without_a_url_is_refused(issuer: Any, field: str) -> None:
    assert_refused(credential(issuer=issuer), field)


# ---------------------------------------------------------------- credentialSubject claims


@pytest.mark.parametrize(
    "subject",
    [{"id": HOLDER, "space": "demo"}, {"space": "demo"}, [{"id": HOLDER, "space": "a"}, {"space": "b"}]],
)
def test_subject_with_a_claim_is_accepted(subject: Any) -> None:
    document = credential(credentialSubject=subject)
    vc.check_data_model(document)


@pytest.mark.parametrize(
    ("subject", "field"),
    [({"id": HOLDER}, "credentialSubject"), ({}, "credentialSubject"),
     ([{"id": HOLDER, "space": "a"}, {"id": HOLDER}], "credentialSubject[1]"),
     ({"id": "not a url", "space": "demo"}, "credentialSubject.id")],
)
def test_subject_without_a_claim_is_refused(subject: Any, field: str) -> None:
    assert_refused(credential(credentialSubject=subject), field)


def test_membership_rules_inherit_the_claim_rule() -> None:
    with pytest.raises(InvalidCredential) as raised:
        read_membership(credential(credentialSubject={"id": HOLDER}))
    assert raised.value.field == "credentialSubject"


# ---------------------------------------------------------------- validFrom / validUntil


@pytest.mark.parametrize(
    "dates",
    [{"validFrom": "2026-01-01T08:00:00.123+08:00"}, {"validFrom": None, "validUntil": None},
     {"validFrom": "2026-01-01T00:00:00Z", "validUntil": "2026-01-01T00:00:00Z"}],
)
def test_date_times_with_a_time_zone_in_order_are_accepted(dates: dict[str, Any]) -> None:
    vc.check_data_model(credential(**dates))


@pytest.mark.parametrize(
    ("dates", "field"),
    [({"validFrom": "2026-01-01T00:00:00"}, "validFrom"), ({"validFrom": "2026-01-01"}, "validFrom"),
     ({"validFrom": "20260101T000000Z"}, "validFrom"), ({"validFrom": 1767225600}, "validFrom"),
     ({"validUntil": "2027-01-01 00:00:00Z"}, "validUntil"),
     ({"validUntil": "2025-12-31T23:59:59Z"}, "validUntil")],
)
def test_date_times_without_a_time_zone_or_out_of_order_are_refused(dates: dict[str, Any], field: str) -> None:
    assert_refused(credential(**dates), field)


# ---------------------------------------------------------------- typed properties

TYPED = {
    "credentialStatus": {"id": "https://operator.example/status/1#7", "type": "BitstringStatusListEntry",
                         "statusPurpose": "revocation", "statusListIndex": "7",
                         "statusListCredential": "https://operator.example/status/1"},
    "credentialSchema": {"id": "https://example.org/schema.json", "type": "JsonSchema"},
    "refreshService": {"type": "https://example.org/vocab#Refresh", "url": "https://example.org/refresh"},
    "termsOfUse": {"type": "https://example.org/vocab#IssuerPolicy", "id": "https://example.org/tou/1"},
    "evidence": {"type": ["https://example.org/vocab#Evidence"]},
    "proof": {"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "proofValue": "z1"},
}


@pytest.mark.parametrize("name", list(TYPED))
def test_typed_property_with_a_type_and_url_id_is_accepted(name: str) -> None:
    vc.check_data_model(credential(**{name: TYPED[name]}))
    vc.check_data_model(credential(**{name: [TYPED[name], TYPED[name]]}))


@pytest.mark.parametrize("name", list(TYPED))
def test_typed_property_without_a_type_is_refused(name: str) -> None:
    untyped = {key: value for key, value in TYPED[name].items() if key != "type"}
    assert_refused(credential(**{name: untyped}), f"{name}.type")
    assert_refused(credential(**{name: [TYPED[name], untyped]}), f"{name}[1].type")
    assert_refused(credential(**{name: {**TYPED[name], "type": "Unmapped"}}), f"{name}.type")
    assert_refused(credential(**{name: "https://example.org/x"}), name)
    assert_refused(credential(**{name: []}), name)


@pytest.mark.parametrize("name", list(TYPED))
def test_typed_property_id_that_is_not_a_single_url_is_refused(name: str) -> None:
    for bad in ("not a url", ["https://a.example", "https://b.example"], 5):
        assert_refused(credential(**{name: {**TYPED[name], "id": bad}}), f"{name}.id")


def test_credential_schema_without_an_id_is_refused() -> None:
    assert_refused(credential(credentialSchema={"type": "JsonSchema"}), "credentialSchema.id")


# ---------------------------------------------------------------- language value objects


@pytest.mark.parametrize(
    "name",
    ["Operator", {"@value": "运营方", "@language": "zh"},
     {"@value": "Operator", "@language": "en", "@direction": "ltr"},
     [{"@value": "Operator", "@language": "en"}, {"@value": "运营方", "@language": "zh-CN"}]],
)
def test_language_value_objects_with_only_value_language_direction_are_accepted(name: Any) -> None:
    vc.check_data_model(credential(name=name, issuer={"id": ISSUER, "description": name}))


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"name": {"@value": "x", "@language": "en", "extra": 1}}, "name"),
     ({"name": {"@language": "en"}}, "name"),
     ({"name": {"@value": 5, "@language": "en"}}, "name"),
     ({"name": {"@value": "x", "@direction": "up"}}, "name.@direction"),
     ({"name": 5}, "name"),
     ({"description": {"en": "no value object"}}, "description"),
     ({"issuer": {"id": ISSUER, "name": {"@value": "x", "@language": "en", "@type": "y"}}}, "issuer.name"),
     ({"credentialSubject": {"id": HOLDER, "space": {"@value": "d", "@language": "en", "x": 1}}},
      "credentialSubject.space")],
)
def test_language_value_objects_with_other_keys_are_refused(changes: dict[str, Any], field: str) -> None:
    assert_refused(credential(**changes), field)
