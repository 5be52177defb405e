"""Errors of the identity layer.

Each class has its own stable ``slug`` (the RFC 9457 problem ``type`` at HTTP boundaries). A bad signature
or an identity we cannot establish is ``Unauthenticated`` (401); a valid identity whose credential is out
of date or revoked is ``Forbidden`` (403); a document with the wrong shape is ``ValidationFailed`` (422).
Detail strings name what failed and what to do next; they never contain key material or signatures.
"""

from __future__ import annotations

from trustspace.core.errors import Forbidden, Unauthenticated, ValidationFailed


class InvalidCredential(ValidationFailed):
    """A credential breaks the VC data model; ``field`` is the JSON path of the offending property."""

    slug = "invalid-credential"
    title = "Credential does not follow the VC data model"


class UnsupportedDid(ValidationFailed):
    """A DID uses a method, or a form of a method, that TrustSpace does not handle."""

    slug = "unsupported-did"
    title = "Unsupported DID"


class InvalidProof(Unauthenticated):
    """A Data Integrity proof is missing, malformed, or does not match the document it secures."""

    slug = "invalid-proof"
    title = "Credential proof is invalid"


class UnresolvableDid(Unauthenticated):
    """A DID could not be turned into a DID document (network failure, bad document, unknown method)."""

    slug = "unresolvable-did"
    title = "DID could not be resolved"


class UnknownVerificationMethod(Unauthenticated):
    """A DID document has no usable key under the referenced verification method."""

    slug = "unknown-verification-method"
    title = "Unknown verification method"


class CredentialExpired(Forbidden):
    slug = "credential-expired"
    title = "Credential has expired"


class CredentialNotYetValid(Forbidden):
    slug = "credential-not-yet-valid"
    title = "Credential is not valid yet"


class CredentialRevoked(Forbidden):
    slug = "credential-revoked"
    title = "Credential has been revoked"
