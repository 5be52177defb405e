"""Service-to-service tokens: a compact JWS (RFC 7515/7519, alg EdDSA per RFC 8037) signed by the caller.

Claims: ``iss`` and ``sub`` are the caller's DID, ``aud`` the callee's DID, ``iat``/``exp`` at most
``MAX_LIFETIME`` apart, a random ``jti`` that the callee remembers until ``exp`` (so a replay fails even after
a restart). The JWS header's ``kid`` names the verification method; it must belong to ``iss``.

The caller's membership credential travels beside the token in the ``X-Membership-Credential`` header
(base64url of its JSON) and is bound to it by the ``vcd`` claim, the SHA-256 of exactly those bytes. Keeping
the credential out of the JWS keeps the token small, and the digest lets the callee recognise a credential
it has verified before without canonicalising it again (see docs/decisions/0003-service-tokens.md).

Ordering of checks. Nothing that costs a network request happens before the token has shown it is worth one,
and nothing is remembered until everything else passed:

1. header: alg EdDSA and a ``kid`` of the form ``did#fragment`` (no network);
2. claims, read without the signature: every registered claim present and typed, ``iss`` the DID of the
   ``kid``, ``aud`` this service, ``iat``/``exp`` within the lifetime and the clock (no network);
3. credential binding: the ``X-Membership-Credential`` header hashes to the ``vcd`` claim (no network);
4. admission: the issuer is one whose DID this service may resolve (``admit``: did:key, itself, the
   operator, trusted operators, members it knows or whose credential from such an issuer verifies). An
   unknown issuer is refused here, before any fetch: a garbage token naming ``did:web:host%3Aport`` never
   makes the service open a connection to that host and port (issue 15, finding 1). Only a path that must
   hear from strangers (a membership application) passes ``admit_unknown``, and then resolution is still
   bounded by the resolver (timeout, concurrency, negative cache) and its errors never reach the caller;
5. key resolution, then the signature over the whole token;
6. replay: the ``jti`` is remembered until ``exp``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from trustspace.core.canonical import canonicalize
from trustspace.core.clock import Clock
from trustspace.core.errors import Unauthenticated
from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.store.membership.interfaces import ReplayStore

MAX_LIFETIME = 300
DEFAULT_LIFETIME = 120
LEEWAY = 5
CREDENTIAL_HEADER = "X-Membership-Credential"
MAX_CREDENTIAL_BYTES = 64 * 1024


class TokenInvalid(Unauthenticated):
    slug = "token-invalid"
    title = "Service token invalid"


class TokenExpired(Unauthenticated):
    slug = "token-expired"
    title = "Service token expired"


class TokenWrongAudience(Unauthenticated):
    slug = "token-wrong-audience"
    title = "Service token meant for another service"


class TokenReplayed(Unauthenticated):
    slug = "token-replayed"
    title = "Service token used twice"


@dataclass(frozen=True)
class PresentedCredential:
    """A credential as it arrived: the bytes the token's ``vcd`` claim vouches for, and their digest."""

    raw: bytes
    digest: str

    def document(self) -> dict[str, Any]:
        try:
            value = json.loads(self.raw)
        except ValueError as exc:
            raise TokenInvalid("membership credential is not JSON", field=CREDENTIAL_HEADER) from exc
        if not isinstance(value, dict):
            raise TokenInvalid("membership credential must be a JSON object", field=CREDENTIAL_HEADER)
        return value


@dataclass(frozen=True)
class VerifiedToken:
    issuer: str
    audience: str
    jti: str
    expires_at: datetime
    credential: PresentedCredential | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def credential_digest(raw: bytes) -> str:
    return _b64(hashlib.sha256(raw).digest())


def encode_credential(credential: dict[str, Any]) -> str:
    """The header value for a credential: base64url of its canonical JSON."""
    return _b64(canonicalize(credential))


def issue_token(
    key: SigningKey,
    *,
    issuer: str,
    verification_method: str,
    audience: str,
    now: datetime,
    credential_header: str | None = None,
    lifetime: int = DEFAULT_LIFETIME,
) -> str:
    """Sign a token; with ``credential_header`` (from ``encode_credential``) it is bound to that credential."""
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": issuer, "sub": issuer, "aud": audience, "iat": issued, "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(18),
    }
    if credential_header is not None:
        claims["vcd"] = credential_digest(_unb64(credential_header))
    return jwt.encode(claims, key.crypto_key, algorithm="EdDSA", headers={"kid": verification_method})


class IssuerNotAdmitted(Unauthenticated):
    slug = "issuer-unknown"
    title = "Token issuer unknown to this service"


# Decides, before any network request, whether the DID of a token's issuer may be resolved: given the issuer
# and the credential bound to the token (not verified yet), True to go on.
Admission = Callable[[str, "PresentedCredential | None"], bool]


def _admit_all(issuer: str, credential: PresentedCredential | None) -> bool:
    return True


class TokenVerifier:
    """Checks tokens addressed to one audience. ``key_for`` resolves a ``did#fragment`` to its key; ``admit``
    says whose DIDs may be resolved at all (see the ordering in the module docstring)."""

    def __init__(
        self, audience: str, key_for: Callable[[str], VerifyingKey], replay: ReplayStore, clock: Clock,
        admit: Admission = _admit_all,
    ) -> None:
        self.audience = audience
        self._key_for = key_for
        self._replay = replay
        self._clock = clock
        self._admit = admit

    def verify(self, token: str, credential_header: str | None = None, *,
               admit_unknown: bool = False) -> VerifiedToken:
        kid = _kid(token)
        issuer = kid.split("#", 1)[0]
        unverified = _unverified_claims(token)
        self._check_claims(unverified, issuer)
        credential = _bound_credential(unverified.get("vcd"), credential_header)
        if not admit_unknown and not self._admit(issuer, credential):
            raise IssuerNotAdmitted(
                "the token's issuer is not a member of this space, nor an operator it trusts",
                hint="apply for membership first and send your membership credential with every token")
        claims = self._decode(token, self._key_for(kid), issuer)
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        if not self._replay.remember_jti(str(claims["jti"]), issuer, expires_at, self._clock.now()):
            raise TokenReplayed("this token id (jti) was used before; sign a fresh token for every request")
        return VerifiedToken(issuer, self.audience, str(claims["jti"]), expires_at, credential)

    def _check_claims(self, claims: dict[str, Any], issuer: str) -> None:
        """Registered claims, their types, issuer, audience and lifetime: all that needs no key."""
        missing = [name for name in ("iss", "sub", "aud", "iat", "exp", "jti") if name not in claims]
        if missing:
            raise TokenInvalid(f"token lacks the claim {missing[0]!r}")
        if not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
            raise TokenInvalid("claims 'iat' and 'exp' must be integers (seconds since the epoch)")
        if claims["iss"] != issuer:
            raise TokenInvalid("token 'iss' does not match the DID of its signing key ('kid')")
        audience = claims["aud"]
        if audience != self.audience and not (isinstance(audience, list) and self.audience in audience):
            raise TokenWrongAudience(f"token audience is not this service ({self.audience})",
                                     hint="sign the token with aud set to the DID of the service you call")
        if claims["exp"] - claims["iat"] > MAX_LIFETIME:
            raise TokenInvalid(
                f"token lifetime is {claims['exp'] - claims['iat']} s; at most {MAX_LIFETIME} s is accepted",
                hint="issue tokens with a shorter expiry",
            )
        now = self._clock.now().timestamp()
        if claims["exp"] <= now - LEEWAY:
            raise TokenExpired("token has expired; sign a fresh one (tokens live at most 5 minutes)")
        if claims["iat"] > now + LEEWAY:
            raise TokenInvalid("token 'iat' is in the future; check the caller's clock")

    def _decode(self, token: str, key: VerifyingKey, issuer: str) -> dict[str, Any]:
        try:
            # Time claims are checked below against the injected clock, not PyJWT's system clock.
            claims: dict[str, Any] = jwt.decode(
                token, key.crypto_key, algorithms=["EdDSA"], audience=self.audience, issuer=issuer,
                options={"require": ["iss", "sub", "aud", "iat", "exp", "jti"], "verify_iat": False,
                         "verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidAudienceError as exc:
            raise TokenWrongAudience(f"token audience is not this service ({self.audience})",
                                     hint="sign the token with aud set to the DID of the service you call") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenInvalid("token 'iss' does not match the DID of its signing key ('kid')") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenInvalid("token signature does not verify with the key of its issuer DID") from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"token rejected: {exc}") from exc
        if not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
            raise TokenInvalid("claims 'iat' and 'exp' must be integers (seconds since the epoch)")
        now = self._clock.now().timestamp()
        if claims["exp"] <= now - LEEWAY:
            raise TokenExpired("token has expired; sign a fresh one (tokens live at most 5 minutes)")
        if claims["iat"] > now + LEEWAY:
            raise TokenInvalid("token 'iat' is in the future; check the caller's clock")
        return claims


def _bound_credential(vcd: Any, header: str | None) -> PresentedCredential | None:
    if vcd is None and header is None:
        return None
    if vcd is None or header is None:
        raise TokenInvalid(
            f"the {CREDENTIAL_HEADER} header and the token's 'vcd' claim must come together",
            field=CREDENTIAL_HEADER, hint="sign the token over the credential you send with it")
    if len(header) > MAX_CREDENTIAL_BYTES * 4 // 3 + 4:
        raise TokenInvalid("membership credential header is too large", field=CREDENTIAL_HEADER)
    raw = _unb64(header)
    digest = credential_digest(raw)
    if digest != vcd:
        raise TokenInvalid("the membership credential sent is not the one the token was signed over",
                           field=CREDENTIAL_HEADER)
    return PresentedCredential(raw, digest)


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid("membership credential header is not base64url", field=CREDENTIAL_HEADER) from exc


def _unverified_claims(token: str) -> dict[str, Any]:
    # Read only to decide whether the token deserves a key lookup; the signature is checked before any of it
    # is believed.
    try:
        claims: Any = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenInvalid("malformed token", hint="send 'Authorization: Bearer <JWS>'") from exc
    if not isinstance(claims, dict):
        raise TokenInvalid("token claims must be a JSON object")
    return claims


def _kid(token: str) -> str:
    # Only the JWS header is read here, to find the key; jwt.decode then validates the whole token.
    head = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid("malformed token", hint="send 'Authorization: Bearer <JWS>'") from exc
    kid = header.get("kid") if isinstance(header, dict) else None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA" or not isinstance(kid, str) or "#" not in kid:
        raise TokenInvalid("token header must have alg EdDSA and a kid of the form did...#fragment")
    return kid
