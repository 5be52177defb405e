"""Data-plane errors. Each has its own ``slug`` so a consumer can tell, from the problem ``type`` alone,
whether to fetch a fresh token (401), wait for the transfer to resume (403 ``transfer-suspended``), give up
(403 ``transfer-ended``), or retry a transfer whose bytes did not match their digest."""

from __future__ import annotations

from trustspace.core.errors import (
    CallerError,
    Conflict,
    Forbidden,
    NotFound,
    PeerError,
    Unauthenticated,
    ValidationFailed,
)

# --- access tokens (401) ---------------------------------------------------------------------------------


class AccessTokenMissing(Unauthenticated):
    slug = "data-token-missing"
    title = "Data-plane access token missing"


class AccessTokenMalformed(Unauthenticated):
    slug = "data-token-malformed"
    title = "Data-plane access token malformed"


class AccessTokenBadSignature(Unauthenticated):
    slug = "data-token-bad-signature"
    title = "Data-plane access token signature invalid"


class AccessTokenExpired(Unauthenticated):
    slug = "data-token-expired"
    title = "Data-plane access token expired"


class AccessTokenForeign(Unauthenticated):
    """A valid token, but for another transfer, another purpose (pull vs push) or another party."""

    slug = "data-token-foreign"
    title = "Data-plane access token is for another transfer"


# --- transfer state (403/404) ----------------------------------------------------------------------------


class TransferNotFound(NotFound):
    slug = "transfer-not-found"
    title = "Transfer process not found"


class TransferNotStarted(Forbidden):
    slug = "transfer-not-started"
    title = "Transfer process not started yet"


class TransferSuspended(Forbidden):
    slug = "transfer-suspended"
    title = "Transfer process suspended"


class TransferEnded(Forbidden):
    slug = "transfer-ended"
    title = "Transfer process completed or terminated"


# --- sources and serving ---------------------------------------------------------------------------------


class InvalidDataAddress(ValidationFailed):
    slug = "invalid-data-address"
    title = "Data address invalid"


class SourceUnavailable(Conflict):
    """The registered source cannot be read now (file gone, database down, query failed)."""

    slug = "source-unavailable"
    title = "Data source unavailable"


class SourceChanged(Conflict):
    """The file under a prepared transfer changed after its digest was taken; serving it would lie."""

    slug = "source-changed"
    title = "Data source changed during the transfer"


class NotAProxy(NotFound):
    slug = "not-a-proxy"
    title = "Transfer serves a file, not an API"


# --- integrity (push receiver: the sender's fault; pull client: the server's fault) ----------------------


class DigestMismatch(ValidationFailed):
    """Pushed bytes do not hash to the ``Repr-Digest`` the sender declared; nothing was kept."""

    slug = "digest-mismatch"
    title = "Body does not match its digest"


class InboxTooLarge(ValidationFailed):
    slug = "inbox-body-too-large"
    status = 413
    title = "Pushed body too large"


class DownloadCorrupt(PeerError):
    """Pulled bytes do not hash to the digest the provider (or the contract) announced."""

    slug = "download-digest-mismatch"
    title = "Downloaded data does not match its digest"


class BadDataResponse(PeerError):
    """A data plane answered without what a verified download needs (digest, matching Content-Range)."""

    slug = "bad-data-response"
    title = "Unusable answer from a data plane"


class TransferRefused(PeerError):
    """The other data plane answered a pull or push with an error; ``remote_type`` keeps its problem type."""

    slug = "data-transfer-refused"
    title = "Remote data plane refused the transfer"

    def __init__(self, detail: str, *, remote_status: int, remote_type: str | None = None) -> None:
        super().__init__(detail)
        self.remote_status = remote_status
        self.remote_type = remote_type


class TransferInterrupted(PeerError):
    """The connection broke mid-way; a partial pull is kept and the next ``pull`` resumes it."""

    slug = "data-transfer-interrupted"
    title = "Data transfer interrupted"


class RangeNotSatisfiable(CallerError):
    """No byte of the requested range exists; the server answers with ``Content-Range: bytes */<size>``."""

    slug = "range-not-satisfiable"
    status = 416
    title = "Range not satisfiable"

    def __init__(self, detail: str, *, size: int) -> None:
        super().__init__(detail, field="Range")
        self.size = size


class ProxyPathRefused(CallerError):
    """A proxied path that would climb out of the upstream's base path (``..``)."""

    slug = "proxy-path-refused"
    title = "Path not allowed through the proxy"
