"""Who is calling: service tokens with membership credentials, and administrator API keys.

Every refusal is a 401 (the caller did not prove who it is) or 403 (it did, but may not), counted in the
metrics by reason and never leaving anything written.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

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

    def token(self, request: Request) -> VerifiedToken:
        """A valid token, with or without a membership credential, from an issuer this service knows."""
        return self._token(request, admit_unknown=False)

    def applicant(self, request: Request) -> VerifiedToken:
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

    def member(self, request: Request) -> Caller:
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

    def admin(self, request: Request) -> None:
        key = request.headers.get(API_KEY_HEADER.lower())
        if not key or not self.api_keys.api_key_exists(hash_api_key(key)):
            self._refuse("bad-api-key")
            raise ApiKeyRefused(f"missing or unknown API key: this endpoint wants the {self.key_name}",
                                field=API_KEY_HEADER, hint=f"send it in the {API_KEY_HEADER} header")

    def is_admin(self, request: Request) -> bool:
        key = request.headers.get(API_KEY_HEADER.lower())
        return bool(key) and self.api_keys.api_key_exists(hash_api_key(key or ""))

    def _refuse(self, reason: str) -> None:
        self.metrics.auth_failures.labels(self.metrics.service, reason).inc()
        log.info("request refused: %s", reason)
