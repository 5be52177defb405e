"""Where a peer's Dataspace Protocol endpoints live: ``<base>``, discovered from its version metadata.

common.protocol.md, "HTTPS Binding": "the ``path`` property is an absolute Uniform Resource Locator (URL) path
segment to be appended to ``<root>`` [...] The concatenation of ``<root>`` and ``path`` yields ``<base>``." We
never assume a path: a peer's root is asked for ``<root>/.well-known/dspace-version`` (unauthenticated, as the
text requires, bounded in size and time, no redirects followed), the ``2025-1`` entry with binding ``HTTPS`` is
taken, and its ``<base>`` is cached per root for ``ttl`` seconds. A peer without such an entry ends the
conversation here ("it MUST terminate the communication"). See docs/decisions/0014-dsp-interop.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from trustspace.core.errors import CallerError, PeerError
from trustspace.protocol.errors import InvalidMessage
from trustspace.protocol.schemas import validate

VERSION_PATH = "/.well-known/dspace-version"
VERSION = "2025-1"
BINDING = "HTTPS"
MAX_VERSION_BYTES = 64 * 1024
TIMEOUT = 5.0
TTL = 300.0


class NoMatchingVersion(PeerError):
    slug = "dsp-version-unsupported"
    title = "Peer speaks no Dataspace Protocol version we speak"


class UnreachableVersion(PeerError):
    slug = "dsp-version-unreachable"
    title = "Peer's version metadata cannot be read"


def version_url(root: str) -> str:
    return root.rstrip("/") + VERSION_PATH


def base_of(root: str, document: Any) -> str:
    """``<base>`` for our version and binding in a version document, or NoMatchingVersion."""
    try:
        validate(document, "common/protocol-version-schema.json")
    except InvalidMessage as exc:
        raise NoMatchingVersion(f"the version metadata at {version_url(root)} is not a VersionResponse: "
                                f"{exc.detail}", field="protocolVersions") from exc
    for entry in document["protocolVersions"]:
        # "binding" is optional in the schema; an entry without one is taken as the HTTPS binding we were asked over.
        if entry.get("version") == VERSION and entry.get("binding", BINDING) == BINDING:
            path = str(entry.get("path", ""))
            if path and not path.startswith("/"):
                raise NoMatchingVersion(f"the {VERSION} path {path!r} is not an absolute URL path", field="path")
            return root.rstrip("/") + path.rstrip("/")
    offered = ", ".join(f"{e.get('version')}/{e.get('binding', '-')}" for e in document["protocolVersions"])
    raise NoMatchingVersion(f"{root} offers Dataspace Protocol {offered}, not {VERSION} over {BINDING}",
                            field="protocolVersions", hint="the peer must publish a 2025-1 HTTPS endpoint")


def fetch_version(root: str, timeout: float = TIMEOUT) -> Any:
    """The peer's version document: no credentials sent, no redirect followed, at most 64 KiB read."""
    url = version_url(root)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http, http.stream("GET", url) as response:
            if response.status_code != 200:
                raise UnreachableVersion(f"{url} answered {response.status_code}",
                                         hint="check providerUrl, or give the DSP base as counterPartyAddress")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_VERSION_BYTES:
                    raise UnreachableVersion(f"{url} answered more than {MAX_VERSION_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise UnreachableVersion(f"cannot read {url}: {exc.__class__.__name__}",
                                 hint="check providerUrl, or give the DSP base as counterPartyAddress") from exc
    try:
        return httpx.Response(200, content=body).json()
    except ValueError as exc:
        raise NoMatchingVersion(f"{url} did not answer JSON") from exc


class Discovery:
    """``<base>`` per root, cached ``ttl`` seconds; ``refresh`` forgets and asks again (after a send failed)."""

    def __init__(self, fetch: Callable[[str], Any] = fetch_version, ttl: float = TTL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.fetch, self.ttl, self.monotonic = fetch, ttl, monotonic
        self._bases: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def base(self, root: str) -> str:
        root = _root(root)
        with self._lock:
            cached = self._bases.get(root)
            if cached is not None and cached[1] > self.monotonic():
                return cached[0]
        return self.refresh(root)

    def refresh(self, root: str) -> str:
        root = _root(root)
        base = base_of(root, self.fetch(root))
        with self._lock:
            self._bases[root] = (base, self.monotonic() + self.ttl)
        return base

    def root_of(self, base: str) -> str | None:
        """The root a cached ``<base>`` was discovered from, if we discovered it."""
        with self._lock:
            return next((root for root, (known, _) in self._bases.items() if known == base.rstrip("/")), None)


def _root(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise CallerError(f"{url!r} is not an http(s) root URL without query or fragment", field="providerUrl")
    return url.rstrip("/")
