"""Plain unauthenticated GETs of public documents (DID documents, status lists, trust lists)."""

from __future__ import annotations

from typing import Any

import httpx

from trustspace.core.errors import PeerError, PeerUnreachable

# Public documents are fetched while a request waits (a DID document, a status list): never hold it long.
FETCH_TIMEOUT = 2.0
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024


def get_json(url: str) -> Any:
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise PeerUnreachable(f"GET {url} failed: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise PeerError(f"GET {url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise PeerError(f"GET {url} returned more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return response.json()
    except ValueError as exc:
        raise PeerError(f"GET {url} did not return JSON") from exc


def get_object(url: str) -> dict[str, Any]:
    body = get_json(url)
    if not isinstance(body, dict):
        raise PeerError(f"GET {url} did not return a JSON object")
    return body
