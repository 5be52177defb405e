"""Error roots.

Two roots, as h11 splits them: ``CallerError`` when whoever called us did something illegal (bad input,
wrong state, missing permission), ``PeerError`` when a remote party we talked to answered with something we
cannot accept. Every error carries a stable ``slug`` that becomes the RFC 9457 problem ``type`` at HTTP
boundaries, an HTTP ``status`` hint, and optionally the ``field`` it is about.
"""

from __future__ import annotations


class TrustSpaceError(Exception):
    """Root of every error TrustSpace raises on purpose."""

    slug = "error"
    status = 500
    title = "TrustSpace error"

    def __init__(self, detail: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.hint = hint


class CallerError(TrustSpaceError):
    """The caller asked for something illegal: fix the request and try again."""

    slug = "bad-request"
    status = 400
    title = "Bad request"


class PeerError(TrustSpaceError):
    """A remote party answered with something we cannot accept."""

    slug = "bad-peer-response"
    status = 502
    title = "Bad response from a remote party"


class ValidationFailed(CallerError):
    slug = "validation-failed"
    status = 422
    title = "Input failed validation"


class NotFound(CallerError):
    slug = "not-found"
    status = 404
    title = "Not found"


class Conflict(CallerError):
    slug = "conflict"
    status = 409
    title = "Conflict with the current state"


class Unauthenticated(CallerError):
    """The caller did not prove who it is (token missing, expired, replayed, badly signed...)."""

    slug = "unauthenticated"
    status = 401
    title = "Authentication failed"
    # The WWW-Authenticate challenge of the 401: what this service wants instead (RFC 9110 §11.6.1).
    challenge = 'Bearer realm="trustspace"'


class ApiKeyRefused(Unauthenticated):
    """An API-key endpoint saw no key, or one it does not know: the key goes in X-API-Key, not a bearer token."""

    challenge = 'APIKey realm="trustspace", header="X-API-Key"'


class Forbidden(CallerError):
    """The caller is known but not allowed (revoked membership, untrusted issuer...)."""

    slug = "forbidden"
    status = 403
    title = "Not allowed"


class PeerUnreachable(PeerError):
    slug = "peer-unreachable"
    status = 502
    title = "Remote party unreachable"
