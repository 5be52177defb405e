"""Offline JSON-LD contexts shipped with the package."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from trustspace.identity.contexts import KNOWN_CONTEXTS, TRUSTSPACE_CONTEXT, VC_V2_CONTEXT, load_context
from trustspace.identity.errors import InvalidCredential

W3C_V2 = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "w3c-contexts" / "credentials" / "v2"
)
MEMBERSHIP_TERMS = {"MembershipCredential", "space", "roles", "displayName", "creditCode"}


def test_known_contexts() -> None:
    assert set(KNOWN_CONTEXTS) == {VC_V2_CONTEXT, TRUSTSPACE_CONTEXT}
    assert VC_V2_CONTEXT == "https://www.w3.org/ns/credentials/v2"
    assert TRUSTSPACE_CONTEXT == "https://trustspace.example/ns/membership/v1"


def test_shipped_vc_context_is_the_published_file_unchanged() -> None:
    shipped = (
        resources.files("trustspace.identity").joinpath("contexts", "credentials-v2.jsonld").read_bytes()
    )
    assert shipped == W3C_V2.read_bytes()
    assert load_context(VC_V2_CONTEXT) == json.loads(W3C_V2.read_text(encoding="utf-8"))


def test_vc_context_defines_the_status_list_terms() -> None:
    terms = load_context(VC_V2_CONTEXT)["@context"]
    assert {"BitstringStatusListCredential", "BitstringStatusListEntry", "DataIntegrityProof"} <= set(terms)


def test_trustspace_context_defines_every_membership_term() -> None:
    terms = load_context(TRUSTSPACE_CONTEXT)["@context"]
    assert set(terms) >= MEMBERSHIP_TERMS
    assert terms["@protected"] is True
    for term in MEMBERSHIP_TERMS:
        definition = terms[term]
        iri = definition["@id"] if isinstance(definition, dict) else definition
        assert iri.startswith("https://trustspace.example/ns/membership#")


def test_trustspace_terms_do_not_redefine_protected_vc_terms() -> None:
    vc_terms = set(load_context(VC_V2_CONTEXT)["@context"])
    assert not (MEMBERSHIP_TERMS & vc_terms)


def test_each_load_is_a_fresh_copy() -> None:
    load_context(TRUSTSPACE_CONTEXT)["@context"].clear()
    assert load_context(TRUSTSPACE_CONTEXT)["@context"]


@pytest.mark.parametrize(
    "url", ["https://www.w3.org/2018/credentials/v1", "https://www.w3.org/ns/credentials/examples/v2", ""]
)
def test_unknown_context_is_refused_without_fetching(url: str) -> None:
    with pytest.raises(InvalidCredential) as raised:
        load_context(url)
    assert raised.value.field == "@context"
    assert "never fetched" in raised.value.detail
