"""Data-plane access tokens: short-lived EdDSA JWTs bound to one transfer.

Pull: the provider signs a token for the consumer (``iss`` provider DID, ``aud`` consumer DID, ``sub`` the
provider's transfer id, ``agr`` the agreement id, ``scope`` ``data:read``) and sends it in the DSP Transfer
Start Message's ``dataAddress``. Push: the roles swap; the consumer signs a ``inbox:write`` token for the
provider and sends it in the Transfer Request Message's ``dataAddress``. Either way the party that signs the
token is the party that verifies it, so the verifier needs only its own public key.

A token is not revoked by a list: the gate consults the transfer's state on every request, so a suspended
or ended transfer refuses a token that is still within its lifetime.

Tokens carry the JOSE header ``typ: trustspace-data+jwt`` and no ``kid``. The same key also signs
connector-to-connector service tokens (``identity.tokens``); the distinct ``typ`` here and the missing
``kid`` there make each kind useless in place of the other.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from trustspace.connector.dataplane.errors import (
    AccessTokenBadSignature,
    AccessTokenExpired,
    AccessTokenForeign,
    AccessTokenMalformed,
)
from trustspace.core.errors import ValidationFailed
from trustspace.core.keys import SigningKey, VerifyingKey

DEFAULT_LIFETIME = 600
MAX_LIFETIME = 3600
# Issuer and verifier are one participant, but several replicas of it may disagree by a second or two.
LEEWAY = 5
JOSE_TYPE = "trustspace-data+jwt"
PULL_SCOPE = "data:read"
PUSH_SCOPE = "inbox:write"
_REQUIRED = ["iss", "aud", "sub", "agr", "scope", "iat", "exp", "jti"]

# DSP 2025-1 leaves endpoint types to profiles; this is the HTTP one most connectors use.
HTTP_ENDPOINT_TYPE = "https://w3id.org/idsa/v4.1/HTTP"


@dataclass(frozen=True)
class AccessClaims:
    issuer: str
    audience: str
    transfer_id: str
    agreement_id: str
    scope: str
    issued_at: datetime
    expires_at: datetime
    jti: str


def issue_access_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    transfer_id: str,
    agreement_id: str,
    now: datetime,
    lifetime: int = DEFAULT_LIFETIME,
    scope: str = PULL_SCOPE,
) -> str:
    """Sign a token that lets ``audience`` use transfer ``transfer_id`` for ``lifetime`` seconds."""
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValidationFailed(f"token lifetime must be 1..{MAX_LIFETIME} s, got {lifetime}", field="lifetime")
    issued = int(now.timestamp())
    claims = {
        "iss": issuer, "aud": audience, "sub": transfer_id, "agr": agreement_id, "scope": scope,
        "iat": issued, "exp": issued + lifetime, "jti": secrets.token_urlsafe(18),
    }
    return jwt.encode(claims, key.crypto_key, algorithm="EdDSA", headers={"typ": JOSE_TYPE})


def verify_access_token(
    token: str,
    provider_key: VerifyingKey,
    transfer_id: str,
    now: datetime,
    *,
    scope: str = PULL_SCOPE,
    issuer: str | None = None,
    audience: str | None = None,
) -> AccessClaims:
    """The claims of a token signed by ``provider_key`` for ``transfer_id``, or an ``Unauthenticated`` error.

    ``provider_key`` is whoever signed the token: the provider for pulls, the consumer for its push inbox.
    """
    _check_header(token)
    claims = _decode(token, provider_key)
    issued, expires = claims["iat"], claims["exp"]
    if expires - issued > MAX_LIFETIME:
        raise AccessTokenMalformed(f"token lifetime {expires - issued} s exceeds {MAX_LIFETIME} s")
    moment = now.timestamp()
    if expires <= moment - LEEWAY:
        raise AccessTokenExpired("the access token has expired", hint="ask the provider for a fresh data address")
    if issued > moment + LEEWAY:
        raise AccessTokenMalformed("token 'iat' is in the future")
    if claims["sub"] != transfer_id:
        raise AccessTokenForeign("the access token belongs to another transfer")
    if claims["scope"] != scope:
        raise AccessTokenForeign(f"the access token is for {claims['scope']!r}, this endpoint needs {scope!r}")
    if issuer is not None and claims["iss"] != issuer:
        raise AccessTokenForeign("the access token was issued by another party")
    if audience is not None and claims["aud"] != audience:
        raise AccessTokenForeign("the access token was issued to another party")
    return _access_claims(claims)


def signed_claims(token: str, key: VerifyingKey) -> AccessClaims | None:
    """The claims of a data-plane token whose signature ``key`` verifies, whatever else is wrong with it
    (expired, another transfer or scope), or None for anything we did not sign.

    Only for telling who was refused: never a reason to let a request through.
    """
    try:
        _check_header(token)
        return _access_claims(_decode(token, key))
    except (AccessTokenMalformed, AccessTokenForeign, AccessTokenBadSignature):
        return None


def _access_claims(claims: dict[str, Any]) -> AccessClaims:
    return AccessClaims(
        claims["iss"], claims["aud"], claims["sub"], claims["agr"], claims["scope"],
        datetime.fromtimestamp(claims["iat"], UTC), datetime.fromtimestamp(claims["exp"], UTC), claims["jti"],
    )


def _check_header(token: str) -> None:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AccessTokenMalformed("the access token is not a compact JWS",
                                   hint="send 'Authorization: Bearer <token>'") from exc
    if header.get("alg") != "EdDSA":
        raise AccessTokenMalformed("access tokens are signed with EdDSA")
    if header.get("typ") != JOSE_TYPE:
        raise AccessTokenForeign(f"not a data-plane access token (typ {header.get('typ')!r})")


def _decode(token: str, key: VerifyingKey) -> dict[str, Any]:
    try:
        # Time and audience are checked by the caller against the injected clock and the transfer.
        claims: dict[str, Any] = jwt.decode(
            token, key.crypto_key, algorithms=["EdDSA"],
            options={"require": _REQUIRED, "verify_aud": False, "verify_iat": False, "verify_exp": False,
                     "verify_nbf": False},
        )
    except jwt.InvalidSignatureError as exc:
        raise AccessTokenBadSignature("the access token signature does not verify") from exc
    except jwt.PyJWTError as exc:
        raise AccessTokenMalformed(f"the access token is malformed: {exc}") from exc
    for name in ("iat", "exp"):
        if not isinstance(claims[name], int) or isinstance(claims[name], bool):
            raise AccessTokenMalformed(f"claim {name!r} must be an integer")
    for name in ("iss", "aud", "sub", "agr", "scope", "jti"):
        if not isinstance(claims[name], str):
            raise AccessTokenMalformed(f"claim {name!r} must be a string")
    return claims


def dsp_data_address(endpoint: str, token: str) -> dict[str, Any]:
    """The DSP ``DataAddress`` that hands out ``endpoint`` with ``token`` as its bearer authorization."""
    properties = [("authorization", token), ("authType", "bearer")]
    return {
        "@type": "DataAddress", "endpointType": HTTP_ENDPOINT_TYPE, "endpoint": endpoint,
        "endpointProperties": [{"@type": "EndpointProperty", "name": n, "value": v} for n, v in properties],
    }


def read_data_address(address: Mapping[str, Any]) -> tuple[str, str]:
    """``(endpoint, token)`` from a DSP ``DataAddress`` built by ``dsp_data_address`` or a peer like it."""
    endpoint = address.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValidationFailed("dataAddress has no endpoint", field="dataAddress.endpoint")
    properties = address.get("endpointProperties")
    values = {p.get("name"): p.get("value") for p in properties or [] if isinstance(p, Mapping)}
    token = values.get("authorization")
    if not isinstance(token, str) or not token:
        raise ValidationFailed("dataAddress has no authorization property", field="dataAddress.endpointProperties")
    if str(values.get("authType", "bearer")).lower() != "bearer":
        raise ValidationFailed("only bearer authorization is supported", field="dataAddress.endpointProperties")
    return endpoint, token
