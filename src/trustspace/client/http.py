"""Signed requests between services, and error translation: a problem+json answer becomes a typed error
that keeps the remote ``type``, ``detail`` and ``field`` so the caller can tell a person what to do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from trustspace.core.clock import Clock
from trustspace.core.errors import PeerError, PeerUnreachable
from trustspace.core.keys import SigningKey
from trustspace.identity.tokens import CREDENTIAL_HEADER, encode_credential, issue_token
from trustspace.web.auth import API_KEY_HEADER

DEFAULT_TIMEOUT = 10.0


class RemoteProblem(PeerError):
    """The remote service refused the request with a problem document."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        reasons = body.get("reason")
        dsp_reason = "; ".join(map(str, reasons)) if isinstance(reasons, list) else reasons
        detail = str(body.get("detail") or dsp_reason or body.get("title") or f"HTTP {status}")
        super().__init__(detail, field=body.get("field"), hint=body.get("hint"))
        # Our own status stays 502 (a remote party refused); the remote status is kept for callers.
        self.remote_status = status
        self.remote_type = str(body.get("type") or body.get("code") or "")
        self.body = body

    @property
    def remote_slug(self) -> str:
        return self.remote_type.rsplit(":", 1)[-1]


def raise_refusal(response: httpx.Response) -> None:
    """``RemoteProblem`` for an answer of 400 or more (its body read), nothing otherwise."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    raise RemoteProblem(response.status_code, body if isinstance(body, dict) else {"detail": str(body)})


@dataclass
class Signer:
    """Signs one fresh token per request, bound to the current membership credential if there is one."""

    key: SigningKey
    did: str
    verification_method: str
    clock: Clock
    credential: Callable[[], dict[str, Any] | None] = lambda: None
    _encoded: tuple[dict[str, Any], str] | None = None

    def headers(self, audience: str) -> dict[str, str]:
        credential = self.credential()
        encoded = self._encode(credential) if credential is not None else None
        token = issue_token(self.key, issuer=self.did, verification_method=self.verification_method,
                            audience=audience, now=self.clock.now(), credential_header=encoded)
        headers = {"Authorization": f"Bearer {token}"}
        if encoded is not None:
            headers[CREDENTIAL_HEADER] = encoded
        return headers

    def _encode(self, credential: dict[str, Any]) -> str:
        # The same credential object is sent with every request; encode it once.
        if self._encoded is None or self._encoded[0] is not credential:
            self._encoded = (credential, encode_credential(credential))
        return self._encoded[1]


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    """The answer, if it is not a refusal (raised as ``RemoteProblem``); ``PeerUnreachable`` if none came."""
    try:
        response = client.request(method, url, json=json, headers=headers, params=params)
    except httpx.HTTPError as exc:
        raise PeerUnreachable(f"{method} {url} failed: {exc.__class__.__name__}: {exc}",
                              hint="check that the service is running and the URL is right") from exc
    raise_refusal(response)
    return response


def _decoded(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


class SignedClient:
    """Calls one remote service whose DID is ``audience``, signing every request."""

    def __init__(self, base_url: str, audience: str, signer: Signer, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.audience = audience
        self.signer = signer
        self.http = httpx.Client(timeout=timeout)

    def request(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        return _decoded(self.send(method, path, json, params))

    def send(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> httpx.Response:
        """As ``request``, for a caller that needs the answer's headers too."""
        headers = self.signer.headers(self.audience)
        return send(self.http, method, self.base_url + path, json=json, headers=headers, params=params)

    def close(self) -> None:
        self.http.close()


class KeyClient:
    """Calls an API protected by an API key (operator administration, a connector's management API)."""

    def __init__(self, base_url: str, api_key: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(timeout=timeout, headers={API_KEY_HEADER: api_key})

    def request(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        return _decoded(send(self.http, method, self.base_url + path, json=json, params=params))

    def close(self) -> None:
        self.http.close()

