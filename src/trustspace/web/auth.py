"""Who is calling: service tokens with membership credentials, and administrator API keys.

Every refusal is a 401 (the caller did not prove who it is) or 403 (it did, but may not), counted in the
metrics by reason and never leaving anything written.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from trustspace.core.errors import ApiKeyRefused, TrustSpaceError, Unauthenticated
from trustspace.identity.membership import (
    AllOf,
    Membership,
    MembershipCache,
    MembershipMissing,
    MembershipRule,
    SubjectIs,
)
from trustspace.identity.tokens import CREDENTIAL_HEADER, TokenVerifier, VerifiedToken
from trustspace.store.membership.interfaces import ApiKeyStore
from trustspace.web.observability import ServiceMetrics

log = logging.getLogger("trustspace.auth")
API_KEY_HEADER = "X-API-Key"

# The security schemes, declared so that the OpenAPI document lists each operation's requirement (and /docs
# offers "Authorize"). They never refuse (auto_error=False): the methods below read the headers themselves
# and refuse with the service's own problem documents, statuses and challenges.
API_KEY = APIKeyHeader(name=API_KEY_HEADER, scheme_name="apiKey", auto_error=False,
                       description="the operator's administrator key or the connector's management key")
SERVICE_TOKEN = HTTPBearer(scheme_name="serviceToken", bearerFormat="JWT", auto_error=False,
                           description="a service token signed with the caller's DID key (decision 0003)")
MEMBERSHIP_CREDENTIAL = APIKeyHeader(name=CREDENTIAL_HEADER, scheme_name="membershipCredential", auto_error=False,
                                     description="the caller's membership credential, sent with its service token")
ApiKeyScheme = Annotated[str | None, Security(API_KEY)]
TokenScheme = Annotated[HTTPAuthorizationCredentials | None, Security(SERVICE_TOKEN)]
CredentialScheme = Annotated[str | None, Security(MEMBERSHIP_CREDENTIAL)]


def hash_api_key(key: str) -> str:
    # API keys are 256-bit random values, so a plain SHA-256 is enough; a slow password hash buys nothing.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    did: str
    membership: Membership


class Authenticator:
    def __init__(
        self,
        verifier: TokenVerifier,
        rules: Callable[[], list[MembershipRule]],
        api_keys: ApiKeyStore,
        metrics: ServiceMetrics,
        key_name: str = "administrator key (file admin-api-key in the operator's data folder)",
    ) -> None:
        self.key_name = key_name
        self.verifier = verifier
        self.rules = rules
        self.api_keys = api_keys
        self.metrics = metrics
        self.memberships = MembershipCache()

    def token(self, request: Request, _token: TokenScheme = None) -> VerifiedToken:
        """A valid token, with or without a membership credential, from an issuer this service knows."""
        return self._token(request, admit_unknown=False)

    def applicant(self, request: Request, _token: TokenScheme = None) -> VerifiedToken:
        """A valid token from anyone, even a stranger: only for a membership application, the one request a
        service must take from a DID it has never seen (its resolution stays bounded; see identity/tokens)."""
        return self._token(request, admit_unknown=True)

    def _token(self, request: Request, *, admit_unknown: bool) -> VerifiedToken:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            self._refuse("missing-token")
            raise Unauthenticated("no service token", field="Authorization",
                                  hint="send 'Authorization: Bearer <token>' signed with your DID key")
        try:
            return self.verifier.verify(value.strip(), request.headers.get(CREDENTIAL_HEADER.lower()),
                                        admit_unknown=admit_unknown)
        except TrustSpaceError as exc:
            self._refuse(exc.slug)
            raise

    def member(self, request: Request, _token: TokenScheme = None, _credential: CredentialScheme = None) -> Caller:
        token = self.token(request)
        presented = token.credential
        if presented is None:
            self._refuse("membership-missing")
            raise MembershipMissing(f"this request needs your membership credential in the {CREDENTIAL_HEADER} "
                                    "header", hint="apply for membership first, then send the credential with "
                                    "every token", field=CREDENTIAL_HEADER)
        try:
            credential, membership = self.memberships.read(presented.digest, presented.document)
            AllOf([SubjectIs(token.issuer), *self.rules()]).check(credential, membership)
        except TrustSpaceError as exc:
            self._refuse(exc.slug)
            raise
        return Caller(token.issuer, membership)

    def admin(self, request: Request, _key: ApiKeyScheme = None) -> None:
        key = request.headers.get(API_KEY_HEADER.lower())
        if not key or not self.api_keys.api_key_exists(hash_api_key(key)):
            self._refuse("bad-api-key")
            raise ApiKeyRefused(f"missing or unknown API key: this endpoint wants the {self.key_name}",
                                field=API_KEY_HEADER, hint=f"send it in the {API_KEY_HEADER} header")

    def member_or_admin(self, request: Request, _key: ApiKeyScheme = None, _token: TokenScheme = None,
                        _credential: CredentialScheme = None) -> str | None:
        """None for the administrator, else the member's DID (or the member's refusal)."""
        return None if self.is_admin(request) else self.member(request).did

    def token_or_admin(self, request: Request, _key: ApiKeyScheme = None, _token: TokenScheme = None) -> str | None:
        """None for the administrator, else the DID of a valid token's issuer (member or not)."""
        return None if self.is_admin(request) else self.token(request).issuer

    def is_admin(self, request: Request, _key: ApiKeyScheme = None) -> bool:
        key = request.headers.get(API_KEY_HEADER.lower())
        return bool(key) and self.api_keys.api_key_exists(hash_api_key(key or ""))

    def _refuse(self, reason: str) -> None:
        self.metrics.auth_failures.labels(self.metrics.service, reason).inc()
        log.info("request refused: %s", reason)
