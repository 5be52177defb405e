"""DIDs: did:key and did:web identifiers, DID documents, and a caching, thread-safe resolver.

Deliberate choice, did:web over plain HTTP on loopback: the did:web specification maps every DID to an
``https`` URL. TrustSpace maps loopback hosts (127.0.0.0/8, ``localhost``, ``::1``) to ``http`` instead,
because local spaces and the demo run every service on 127.0.0.1 without TLS certificates, and traffic that
never leaves the machine gains nothing from TLS. Every other host resolves over ``https`` only, and
``did_web`` refuses to derive a DID from a plain-http URL on another host, since that DID would resolve to
a different (https) URL than the one it was made from.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from trustspace.core.clock import Clock, SystemClock
from trustspace.core.errors import PeerError, ValidationFailed
from trustspace.core.keys import VerifyingKey
from trustspace.identity.errors import UnknownVerificationMethod, UnresolvableDid, UnsupportedDid

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
DID_KEY_PREFIX = "did:key:"
DID_WEB_PREFIX = "did:web:"
WEB_KEY_FRAGMENT = "key-1"

# Key types whose publicKeyMultibase is the multicodec-prefixed Ed25519 key ("z6Mk...").
_MULTIBASE_KEY_TYPES = frozenset({"Multikey", "Ed25519VerificationKey2020"})
# A DID document is a few kilobytes; a cap keeps a hostile server from streaming us gigabytes.
_MAX_DOCUMENT_BYTES = 256 * 1024
# Resolution runs while a request waits: it must never hold the service's request threads for long.
_FETCH_TIMEOUT_SECONDS = 2.0
MAX_CONCURRENT_FETCHES = 4
# A DID that could not be resolved is not asked for again this soon (a refusal is cheaper than a fetch). Short,
# because a peer restarting may send before its own site listens; strangers never get this far (admission).
NEGATIVE_TTL_SECONDS = 10.0

log = logging.getLogger("trustspace.identity.did")
_HOST_PORT = re.compile(
    r"^(?P<host>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$", re.IGNORECASE
)


def did_key(key: VerifyingKey) -> str:
    return DID_KEY_PREFIX + key.multibase


def key_from_did_key(did: str) -> VerifyingKey:
    """The Ed25519 key a did:key identifier encodes."""
    if not did.startswith(DID_KEY_PREFIX):
        raise UnsupportedDid(f"{did!r} is not a did:key identifier", field="did")
    multibase = did[len(DID_KEY_PREFIX) :]
    if not multibase or any(char in multibase for char in ":/?#"):
        raise UnsupportedDid(
            f"{did!r} is not a plain did:key; pass the DID without version, path, query or fragment",
            field="did",
        )
    try:
        return VerifyingKey.from_multibase(multibase)
    except ValidationFailed as exc:
        raise UnsupportedDid(
            f"{did!r} does not encode an Ed25519 public key ({exc.detail}); "
            "only Ed25519 did:key identifiers are supported",
            field="did",
        ) from exc


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _path_segments(path: str) -> list[str]:
    segments = [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []
    for segment in segments:
        if segment in ("", ".", "..") or "/" in segment:
            raise UnsupportedDid(
                f"path {path!r} has an empty, '.', '..' or encoded-slash segment", field="base_url"
            )
    return segments


def _site(base_url: str) -> tuple[str, str, str, str]:
    """Scheme, host, ``host[:port]`` and path of a bare http(s) site URL, or ``UnsupportedDid``."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError as exc:
        raise UnsupportedDid(f"{base_url!r} is not a valid URL ({exc})", field="base_url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsupportedDid(f"{base_url!r} is not an http(s) URL with a host", field="base_url")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UnsupportedDid(
            f"{base_url!r} has a query, fragment or user info; give the bare site URL", field="base_url"
        )
    host = parts.hostname.lower()
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    if not _HOST_PORT.match(netloc):
        raise UnsupportedDid(f"{base_url!r} does not name a valid host", field="base_url")
    return parts.scheme, host, netloc, parts.path


def did_web(base_url: str) -> str:
    """The did:web identifier of a site: ``http://127.0.0.1:8001/a/b`` -> ``did:web:127.0.0.1%3A8001:a:b``."""
    scheme, host, netloc, path = _site(base_url)
    if scheme == "http" and not _is_loopback(host):
        raise UnsupportedDid(
            f"{base_url!r} uses plain http on a non-loopback host, but did:web resolves over https there; "
            "serve the site over https",
            field="base_url",
        )
    pieces = [quote(netloc, safe="")] + [quote(segment, safe="") for segment in _path_segments(path)]
    return DID_WEB_PREFIX + ":".join(pieces)


def did_web_url(did: str) -> str:
    """Where the DID document of a did:web lives (https, or http for loopback hosts: see module docstring)."""
    if not did.startswith(DID_WEB_PREFIX):
        raise UnsupportedDid(f"{did!r} is not a did:web identifier", field="did")
    method_id = did[len(DID_WEB_PREFIX) :]
    if not method_id or any(char in method_id for char in "/?#"):
        raise UnsupportedDid(
            f"{did!r} is not a plain did:web; pass the DID without path, query or fragment", field="did"
        )
    host_port, *raw_segments = method_id.split(":")
    match = _HOST_PORT.match(unquote(host_port))
    if match is None or (match["port"] is not None and int(match["port"]) > 65535):
        raise UnsupportedDid(f"{did!r} does not name a valid host (and optional port)", field="did")
    segments = [unquote(segment) for segment in raw_segments]
    if any(segment in ("", ".", "..") or "/" in segment for segment in segments):
        raise UnsupportedDid(f"{did!r} has an empty or unsafe path segment", field="did")
    scheme = "http" if _is_loopback(match["host"]) else "https"
    path = "/".join(quote(segment, safe="") for segment in segments)
    suffix = f"/{path}/did.json" if path else "/.well-known/did.json"
    return f"{scheme}://{match[0].lower()}{suffix}"


def verification_method_id(did: str) -> str:
    """The id of the single key TrustSpace puts in a DID document."""
    if did.startswith(DID_KEY_PREFIX):
        key_from_did_key(did)
        return f"{did}#{did[len(DID_KEY_PREFIX) :]}"
    if did.startswith(DID_WEB_PREFIX):
        did_web_url(did)
        return f"{did}#{WEB_KEY_FRAGMENT}"
    raise UnsupportedDid(f"{did!r} uses a DID method TrustSpace does not support; use did:key or did:web")


def did_document(did: str, key: VerifyingKey, service_endpoint: str | None = None) -> dict[str, Any]:
    """A DID Core document with one Multikey, usable for authentication and assertions.

    ``service_endpoint`` becomes a Dataspace Protocol ``DataService`` entry, as DSP 2025-1 describes for
    discovering a connector through its DID document.
    """
    if did.startswith(DID_KEY_PREFIX) and key_from_did_key(did) != key:
        raise ValidationFailed(f"the key given for {did!r} is not the key that did:key encodes", field="key")
    method_id = verification_method_id(did)
    document: dict[str, Any] = {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [
            {"id": method_id, "type": "Multikey", "controller": did, "publicKeyMultibase": key.multibase}
        ],
        "authentication": [method_id],
        "assertionMethod": [method_id],
    }
    if service_endpoint is not None:
        document["service"] = [
            {"id": f"{did}#data-service", "type": "DataService", "serviceEndpoint": service_endpoint}
        ]
    return document


def _http_fetch(url: str) -> dict[str, Any]:
    # No redirects: a redirect would let the host hand resolution of its DID to another origin.
    with httpx.stream("GET", url, timeout=_FETCH_TIMEOUT_SECONDS, follow_redirects=False) as response:
        response.raise_for_status()
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > _MAX_DOCUMENT_BYTES:
                raise ValueError(f"DID document is larger than {_MAX_DOCUMENT_BYTES} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("DID document is not a JSON object")
    return document


def _find_method(document: dict[str, Any], reference: str, relationship: str | None) -> dict[str, Any]:
    did = document["id"]

    def absolute(entry: object) -> str | None:
        # DID Core lets a document refer to its own methods relatively ("#key-1") or embed them.
        method_id = entry.get("id") if isinstance(entry, dict) else entry
        if not isinstance(method_id, str):
            return None
        return did + method_id if method_id.startswith("#") else method_id

    listed = document.get("verificationMethod")
    methods = [entry for entry in listed if isinstance(entry, dict)] if isinstance(listed, list) else []
    if relationship is not None:
        granted = document.get(relationship)
        if not isinstance(granted, list) or reference not in {absolute(entry) for entry in granted}:
            raise UnknownVerificationMethod(
                f"{reference!r} is not listed under {relationship!r} in the DID document of {did!r}; "
                "the DID controller must authorise that key for this purpose",
                field="verificationMethod",
            )
        methods += [entry for entry in granted if isinstance(entry, dict)]
    for method in methods:
        if absolute(method) == reference:
            return method
    raise UnknownVerificationMethod(
        f"the DID document of {did!r} has no verification method {reference!r}; "
        "check the key id, or whether the key was rotated",
        field="verificationMethod",
    )


class DidResolver:
    """Turns DIDs into DID documents: did:key locally, did:web through ``fetch`` with a TTL cache.

    Safe to share between threads. Fetches run outside the lock, so two threads that miss the cache for
    the same DID at once may both fetch it; both results are equally valid and the later one is kept.
    Seeded documents never expire; ``invalidate`` removes them.
    """

    def __init__(
        self,
        fetch: Callable[[str], dict[str, Any]] | None = None,
        *,
        ttl_seconds: float = 300,
        clock: Clock | None = None,
        max_entries: int = 1024,
        max_concurrent_fetches: int = MAX_CONCURRENT_FETCHES,
    ) -> None:
        self._fetch = fetch or _http_fetch
        self._ttl = ttl_seconds
        self._clock = clock or SystemClock()
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._seeded: dict[str, dict[str, Any]] = {}
        # Keys already extracted, with the expiry of the document they came from: a request verifies a
        # token and a credential, and decoding a multibase key each time would cost more than the check.
        self._keys: dict[tuple[str, str | None], tuple[float, VerifyingKey]] = {}
        self._failed: OrderedDict[str, float] = OrderedDict()
        self._fetching = threading.BoundedSemaphore(max_concurrent_fetches)

    def resolve(self, did: str) -> dict[str, Any]:
        """The DID document of ``did`` (a copy: changing it does not change the cache)."""
        return copy.deepcopy(self._document(did))

    def key_for(self, verification_method: str, relationship: str | None = "assertionMethod") -> VerifyingKey:
        """The Ed25519 key behind a ``did#fragment`` reference.

        ``relationship`` is the verification relationship the key must be listed under (``assertionMethod``
        for credentials, ``authentication`` for request tokens); ``None`` skips that check.
        """
        now = self._clock.now().timestamp()
        cached = self._keys.get((verification_method, relationship))
        if cached is not None and cached[0] > now:
            return cached[1]
        key = self._extract_key(verification_method, relationship)
        did = verification_method.partition("#")[0]
        expires = float("inf") if did.startswith(DID_KEY_PREFIX) or did in self._seeded else now + self._ttl
        with self._lock:
            if len(self._keys) >= 4 * self._max_entries:
                self._keys.clear()
            self._keys[(verification_method, relationship)] = (expires, key)
        return key

    def _extract_key(self, verification_method: str, relationship: str | None) -> VerifyingKey:
        did, sep, fragment = verification_method.partition("#")
        if not sep or not fragment:
            raise UnknownVerificationMethod(
                f"{verification_method!r} is not a DID URL with a #fragment naming a key",
                field="verificationMethod",
            )
        method = _find_method(self._document(did), verification_method, relationship)
        key_type, multibase = method.get("type"), method.get("publicKeyMultibase")
        if (
            not isinstance(key_type, str)
            or key_type not in _MULTIBASE_KEY_TYPES
            or not isinstance(multibase, str)
        ):
            raise UnknownVerificationMethod(
                f"verification method {verification_method!r} is not a Multikey or "
                "Ed25519VerificationKey2020 with publicKeyMultibase, the only key forms TrustSpace accepts",
                field="verificationMethod",
            )
        try:
            return VerifyingKey.from_multibase(multibase)
        except ValidationFailed as exc:
            raise UnknownVerificationMethod(
                f"verification method {verification_method!r} does not hold an Ed25519 key ({exc.detail})",
                field="verificationMethod",
            ) from exc

    def _remember_failure(self, did: str, now: float) -> None:
        with self._lock:
            self._failed[did] = now + NEGATIVE_TTL_SECONDS
            self._failed.move_to_end(did)
            while len(self._failed) > self._max_entries:
                self._failed.popitem(last=False)

    def invalidate(self, did: str) -> None:
        with self._lock:
            self._failed.pop(did, None)
            self._cache.pop(did, None)
            self._seeded.pop(did, None)
            for reference in [k for k in self._keys if k[0].partition("#")[0] == did]:
                del self._keys[reference]

    def seed(self, did: str, document: dict[str, Any]) -> None:
        """Pre-load a document (tests, simulator). did:key needs none: it is always derived from the DID."""
        if document.get("id") != did:
            raise ValidationFailed(f"seeded document's id is not {did!r}", field="document.id")
        if did.startswith(DID_KEY_PREFIX):
            return
        with self._lock:
            self._seeded[did] = copy.deepcopy(document)
            for reference in [k for k in self._keys if k[0].partition("#")[0] == did]:
                del self._keys[reference]

    def _document(self, did: str) -> dict[str, Any]:
        if did.startswith(DID_KEY_PREFIX):
            try:
                return did_document(did, key_from_did_key(did))
            except UnsupportedDid as exc:
                raise UnresolvableDid(exc.detail, field="did") from exc
        if not did.startswith(DID_WEB_PREFIX):
            raise UnresolvableDid(
                f"{did!r} uses a DID method TrustSpace cannot resolve; "
                "only did:key and did:web are supported",
                field="did",
            )
        now = self._clock.now().timestamp()
        with self._lock:
            if did in self._seeded:
                return self._seeded[did]
            cached = self._cache.get(did)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(did)
                return cached[1]
        document = self._fetch_web(did)
        with self._lock:
            self._cache[did] = (now + self._ttl, document)
            self._cache.move_to_end(did)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return document

    def _fetch_web(self, did: str) -> dict[str, Any]:
        try:
            url = did_web_url(did)
        except UnsupportedDid as exc:
            raise UnresolvableDid(exc.detail, field="did") from exc
        now = self._clock.now().timestamp()
        with self._lock:
            failed_until = self._failed.get(did)
        if failed_until is not None and failed_until > now:
            raise _unresolvable(did, url)
        if not self._fetching.acquire(blocking=False):
            # Refuse at once rather than queue: waiting fetches would hold the request threads.
            raise UnresolvableDid("too many DID documents are being fetched at once; retry shortly", field="did")
        try:
            document = self._fetch(url)
        except (httpx.HTTPError, OSError, ValueError, PeerError) as exc:
            self._remember_failure(did, now)
            # The cause stays in our log: told to the caller, it would tell an open port from a closed one.
            log.info("DID document of %s not fetched from %s: %s", did, url, exc.__class__.__name__)
            raise _unresolvable(did, url) from None
        finally:
            self._fetching.release()
        if not isinstance(document, dict) or document.get("id") != did:
            self._remember_failure(did, now)
            raise UnresolvableDid(
                f"the document served at {url} is not the DID document of {did!r} (its id differs); "
                "the site must serve a document whose id is exactly this DID",
                field="did",
            )
        return copy.deepcopy(document)


def _unresolvable(did: str, url: str) -> UnresolvableDid:
    return UnresolvableDid(
        f"could not fetch the DID document of {did!r} from {url}; check that the participant's site is up "
        "and serves its DID document there", field="did")


def authentication_key(resolver: DidResolver) -> Callable[[str], VerifyingKey]:
    """A key lookup restricted to the ``authentication`` relationship, for request tokens: a key a DID
    lists only for asserting credentials does not log it in."""

    def key_for(verification_method: str) -> VerifyingKey:
        return resolver.key_for(verification_method, "authentication")

    return key_for
