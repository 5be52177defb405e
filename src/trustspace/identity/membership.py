"""Membership credentials and the rules a service applies before it accepts one.

Rules are small objects with one ``check`` method, composed with ``AllOf`` (as sigstore composes its
verification policies), so each service states exactly what it requires. Order matters only for cost and
for the error a caller sees: cheap structural rules first, the signature, then revocation (which may need
a network fetch).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from trustspace.core.clock import Clock, from_xsd
from trustspace.core.errors import Forbidden, TrustSpaceError
from trustspace.core.keys import VerifyingKey
from trustspace.identity import credentials as vc
from trustspace.identity.errors import (
    CredentialExpired,
    CredentialNotYetValid,
    CredentialRevoked,
    InvalidCredential,
)
from trustspace.identity.status_list import is_revoked

MEMBERSHIP_TYPE = "MembershipCredential"


class MembershipMissing(Forbidden):
    slug = "membership-missing"
    title = "Membership credential required"


class UntrustedIssuer(Forbidden):
    slug = "untrusted-issuer"
    title = "Credential issuer not trusted"


class NotCredentialSubject(Forbidden):
    slug = "not-credential-subject"
    title = "Credential belongs to someone else"


@dataclass(frozen=True)
class Membership:
    """What a verified membership credential says about its holder."""

    did: str
    issuer: str
    space: str
    roles: tuple[str, ...]
    valid_from: datetime | None
    valid_until: datetime | None
    credential_id: str | None
    digest: str = ""


def read_membership(credential: dict[str, Any], digest: str = "") -> Membership:
    """Check the data model and read what a membership credential says. ``digest`` identifies the exact
    bytes it arrived as, so that the proof of an identical credential is checked only once."""
    vc.check_data_model(credential)
    types = credential.get("type", [])
    if MEMBERSHIP_TYPE not in types:
        raise InvalidCredential(f"credential type must include {MEMBERSHIP_TYPE}", field="type")
    subject = credential["credentialSubject"]
    if not isinstance(subject, dict):
        raise InvalidCredential("a membership credential has exactly one subject", field="credentialSubject")
    roles = subject.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidCredential("roles must be a list of strings", field="credentialSubject.roles")
    since, until = credential.get("validFrom"), credential.get("validUntil")
    return Membership(
        did=vc.subject_id(credential),
        issuer=vc.issuer_id(credential),
        space=str(subject.get("space", "")),
        roles=tuple(roles),
        valid_from=from_xsd(since) if isinstance(since, str) else None,
        valid_until=from_xsd(until) if isinstance(until, str) else None,
        credential_id=credential.get("id"),
        digest=digest,
    )


class MembershipCache:
    """Credentials already parsed, by digest of the bytes they arrived as. Parsing is not trust: every
    rule, the proof included, still runs on every request (the proof rule has its own memory)."""

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[str, tuple[dict[str, Any], Membership]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def read(self, digest: str, parse: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], Membership]:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None:
                self._entries.move_to_end(digest)
                return entry
        credential = parse()
        entry = (credential, read_membership(credential, digest))
        with self._lock:
            self._entries[digest] = entry
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry


class MembershipRule(Protocol):
    def check(self, credential: dict[str, Any], membership: Membership) -> None: ...


class AllOf:
    def __init__(self, rules: Sequence[MembershipRule]) -> None:
        self.rules = tuple(rules)

    def check(self, credential: dict[str, Any], membership: Membership) -> None:
        for rule in self.rules:
            rule.check(credential, membership)


class SubjectIs:
    """The credential must be about the party that signed the request."""

    def __init__(self, caller: str) -> None:
        self.caller = caller

    def check(self, credential: dict[str, Any], membership: Membership) -> None:
        if membership.did != self.caller:
            raise NotCredentialSubject(
                f"credential subject {membership.did} is not the caller {self.caller}",
                hint="present your own membership credential",
            )


class WithinValidity:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def check(self, credential: dict[str, Any], membership: Membership) -> None:
        now = self.clock.now()
        if membership.valid_from is not None and now < membership.valid_from:
            raise CredentialNotYetValid(
                f"membership credential is valid only from {membership.valid_from.isoformat()}",
                hint="check the clocks of both parties, or wait until the credential becomes valid")
        if membership.valid_until is not None and now > membership.valid_until:
            raise CredentialExpired(
                f"membership credential expired at {membership.valid_until.isoformat()}",
                hint="ask the operator to renew your membership")


class IssuerTrusted:
    """Issued by our own operator, or by an operator on our trust list (跨域互认).

    ``on_decision`` is told about every decision on a foreign issuer, so the operator can log it.
    """

    def __init__(
        self,
        own_issuer: str,
        is_trusted: Callable[[str], bool],
        on_decision: Callable[[str, str, bool], None] | None = None,
    ) -> None:
        self.own_issuer = own_issuer
        self.is_trusted = is_trusted
        self.on_decision = on_decision

    def check(self, credential: dict[str, Any], membership: Membership) -> None:
        if membership.issuer == self.own_issuer:
            return
        trusted = self.is_trusted(membership.issuer)
        if self.on_decision is not None:
            self.on_decision(membership.issuer, membership.did, trusted)
        if not trusted:
            raise UntrustedIssuer(
                f"credential issued by {membership.issuer}, which is not on this space's trust list",
                hint="ask the operator to add that operator to the trust list, or apply for membership here",
            )


class ProofValid:
    """The Data Integrity proof verifies. A credential that verified once is remembered by its digest, so
    the signature is checked once per credential rather than once per request."""

    def __init__(self, key_for: Callable[[str], VerifyingKey], cache_size: int = 4096) -> None:
        self.key_for = key_for
        self._verified: OrderedDict[str, None] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def check(self, credential: dict[str, Any], membership: Membership) -> None:
        digest = membership.digest or vc.proof_digest(credential)
        with self._lock:
            if digest in self._verified:
                self._verified.move_to_end(digest)
                return
        vc.verify(credential, self.key_for)
        with self._lock:
            self._verified[digest] = None
            if len(self._verified) > self._size:
                self._verified.popitem(last=False)


class NotRevoked:
    """Revocation by status list. ``revoked`` answers for one credential (the operator looks in its own
    database; a connector fetches and caches the issuer's status list)."""

    def __init__(self, revoked: Callable[[dict[str, Any]], bool]) -> None:
        self.revoked = revoked

    def check(self, credential: dict[str, Any], membership: Membership) -> None:
        if self.revoked(credential):
            raise CredentialRevoked(
                f"membership of {membership.did} has been revoked by {membership.issuer}",
                hint="contact the space operator; a revoked member must apply again",
            )


class StatusListCache:
    """Fetches status list credentials, verifies them and keeps each for ``ttl_seconds``."""

    def __init__(
        self,
        fetch: Callable[[str], dict[str, Any]],
        key_for: Callable[[str], VerifyingKey],
        clock: Clock,
        ttl_seconds: float = 30.0,
    ) -> None:
        self._fetch = fetch
        self._key_for = key_for
        self._clock = clock
        self._ttl = ttl_seconds
        self._lists: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def revoked(self, credential: dict[str, Any]) -> bool:
        status = credential.get("credentialStatus")
        if status is None:
            return False
        if not isinstance(status, dict) or not isinstance(status.get("statusListCredential"), str):
            raise InvalidCredential("credentialStatus must name a statusListCredential", field="credentialStatus")
        list_credential = self._list(status["statusListCredential"], vc.issuer_id(credential))
        return is_revoked(credential, list_credential)

    def _list(self, url: str, issuer: str) -> dict[str, Any]:
        now = self._clock.now().timestamp()
        with self._lock:
            cached = self._lists.get(url)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        document = self._fetch(url)
        vc.check_data_model(document)
        if vc.issuer_id(document) != issuer:
            raise InvalidCredential("status list was not issued by the credential's issuer", field="issuer")
        vc.verify(document, self._key_for)
        with self._lock:
            self._lists[url] = (now, document)
        return document


def admit_members(
    known: Callable[[str], bool], trusted_issuer: Callable[[str], bool], proof: ProofValid
) -> Callable[[str, Any], bool]:
    """An admission rule for ``TokenVerifier``: whose DID may be resolved to check a token, decided without
    fetching anything on the issuer's word alone.

    did:key needs no fetch. A DID this service ``known``s (itself, its operator, its members) may be fetched.
    Anyone else must present a membership credential about itself, from a ``trusted_issuer``, whose proof
    verifies: that check resolves only the issuer's (trusted) DID, so a token naming a stranger's host costs
    no request to that host.
    """

    def admit(issuer: str, presented: Any) -> bool:
        if issuer.startswith("did:key:") or known(issuer):
            return True
        if presented is None:
            return False
        try:
            credential = presented.document()
            membership = read_membership(credential, presented.digest)
            if membership.did != issuer or not trusted_issuer(membership.issuer):
                return False
            proof.check(credential, membership)
        except TrustSpaceError:
            return False
        return True

    return admit
