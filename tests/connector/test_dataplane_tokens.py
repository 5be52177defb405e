"""Data-plane access tokens: what they carry and every way a token is refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from trustspace.connector.dataplane.errors import (
    AccessTokenBadSignature,
    AccessTokenExpired,
    AccessTokenForeign,
    AccessTokenMalformed,
)
from trustspace.connector.dataplane.tokens import (
    DEFAULT_LIFETIME,
    MAX_LIFETIME,
    PUSH_SCOPE,
    dsp_data_address,
    issue_access_token,
    read_data_address,
    verify_access_token,
)
from trustspace.core.clock import FixedClock
from trustspace.core.errors import ValidationFailed
from trustspace.core.keys import SigningKey
from trustspace.identity.tokens import issue_token

PROVIDER, CONSUMER = "did:web:provider.example", "did:web:consumer.example"
KEY = SigningKey.from_seed(bytes(range(32)))


def token(clock: FixedClock, transfer: str = "t1", **kwargs: Any) -> str:
    return issue_access_token(KEY, issuer=PROVIDER, audience=CONSUMER, transfer_id=transfer, agreement_id="a1",
                              now=clock.now(), **kwargs)


def test_claims_round_trip() -> None:
    clock = FixedClock()
    claims = verify_access_token(token(clock), KEY.public, "t1", clock.now(), issuer=PROVIDER, audience=CONSUMER)
    assert (claims.issuer, claims.audience, claims.transfer_id, claims.agreement_id) == (PROVIDER, CONSUMER, "t1", "a1")
    assert (claims.expires_at - claims.issued_at).total_seconds() == DEFAULT_LIFETIME == 600
    assert jwt.get_unverified_header(token(clock))["typ"] == "trustspace-data+jwt"
    assert claims.jti != verify_access_token(token(clock), KEY.public, "t1", clock.now()).jti


def test_expired_after_lifetime() -> None:
    clock = FixedClock()
    issued = token(clock, lifetime=60)
    clock.advance(60 + 5)
    with pytest.raises(AccessTokenExpired) as caught:
        verify_access_token(issued, KEY.public, "t1", clock.now())
    assert caught.value.status == 401 and caught.value.slug == "data-token-expired"


def test_lifetime_bounded_when_issuing() -> None:
    with pytest.raises(ValidationFailed):
        token(FixedClock(), lifetime=MAX_LIFETIME + 1)
    with pytest.raises(ValidationFailed):
        token(FixedClock(), lifetime=0)


def test_lifetime_bounded_when_verifying() -> None:
    clock = FixedClock()
    now = int(clock.now().timestamp())
    claims = {"iss": PROVIDER, "aud": CONSUMER, "sub": "t1", "agr": "a1", "scope": "data:read", "iat": now,
              "exp": now + MAX_LIFETIME + 1, "jti": "x"}
    long_lived = jwt.encode(claims, KEY.crypto_key, algorithm="EdDSA", headers={"typ": "trustspace-data+jwt"})
    with pytest.raises(AccessTokenMalformed):
        verify_access_token(long_lived, KEY.public, "t1", clock.now())


def test_token_of_another_transfer_is_foreign() -> None:
    clock = FixedClock()
    with pytest.raises(AccessTokenForeign) as caught:
        verify_access_token(token(clock, "t2"), KEY.public, "t1", clock.now())
    assert caught.value.slug == "data-token-foreign"


def test_push_token_does_not_open_a_pull() -> None:
    clock = FixedClock()
    with pytest.raises(AccessTokenForeign):
        verify_access_token(token(clock, scope=PUSH_SCOPE), KEY.public, "t1", clock.now())


def test_wrong_parties_are_foreign() -> None:
    clock = FixedClock()
    with pytest.raises(AccessTokenForeign):
        verify_access_token(token(clock), KEY.public, "t1", clock.now(), issuer="did:web:other.example")
    with pytest.raises(AccessTokenForeign):
        verify_access_token(token(clock), KEY.public, "t1", clock.now(), audience="did:web:other.example")


def test_signature_by_another_key() -> None:
    clock = FixedClock()
    with pytest.raises(AccessTokenBadSignature) as caught:
        verify_access_token(token(clock), SigningKey.generate().public, "t1", clock.now())
    assert caught.value.slug == "data-token-bad-signature"


def test_tampered_claims_fail_the_signature() -> None:
    clock = FixedClock()
    head, body, signature = token(clock, "t2").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "t1"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AccessTokenBadSignature):
        verify_access_token(f"{head}.{forged}.{signature}", KEY.public, "t1", clock.now())


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_malformed(garbage: str) -> None:
    with pytest.raises(AccessTokenMalformed):
        verify_access_token(garbage, KEY.public, "t1", FixedClock().now())


def test_service_token_is_not_an_access_token() -> None:
    clock = FixedClock()
    service = issue_token(KEY, issuer=PROVIDER, verification_method=PROVIDER + "#key-1", audience=CONSUMER,
                          now=clock.now())
    with pytest.raises(AccessTokenForeign):
        verify_access_token(service, KEY.public, "t1", clock.now())


def test_dsp_data_address_round_trip() -> None:
    address = dsp_data_address("https://provider.example/data/t1", "tok")
    assert address["@type"] == "DataAddress" and address["endpointType"]
    assert read_data_address(address) == ("https://provider.example/data/t1", "tok")
    with pytest.raises(ValidationFailed) as caught:
        read_data_address({"endpoint": "https://x", "endpointProperties": []})
    assert caught.value.field == "dataAddress.endpointProperties"
