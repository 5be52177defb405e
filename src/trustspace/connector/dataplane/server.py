"""The data plane's HTTP side.

``GET /data/{transfer_id}`` serves a prepared file (or a proxied API's root) and
``GET /data/{transfer_id}/{path}`` a proxied API below its base. Every request proves itself twice: its
bearer token (signed by this provider, for this transfer) and the gate (the transfer is STARTED now).

Files stream in bounded chunks with a strong ``ETag`` and the RFC 9530 ``Repr-Digest`` of the whole file,
so a consumer can resume with ``Range``/``If-Range`` and still verify the complete result. Only single byte
ranges are honoured; a multi-range or malformed ``Range`` is ignored and the whole file is sent, which
RFC 9110 §14.2 allows. Proxied answers are streamed through as they come and carry no digest.

``PUT /inbox/{transfer_id}`` is the consumer's push receiver (see ``inbox.py``). With an ``AccessRecorder``
every answer of the token check and the gate, on either route, is also kept as evidence (``decisions.py``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, BinaryIO, TypeVar
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response, Security
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from trustspace.connector.dataplane.decisions import AccessRecorder, Attempt
from trustspace.connector.dataplane.digest import etag, repr_digest
from trustspace.connector.dataplane.errors import (
    AccessTokenMissing,
    NotAProxy,
    ProxyPathRefused,
    RangeNotSatisfiable,
)
from trustspace.connector.dataplane.gate import Asked, TransferGate, UsageGate
from trustspace.connector.dataplane.inbox import Inbox, declared_digest, receive
from trustspace.connector.dataplane.sources import Prepared, PreparedFile, ProxyTarget, open_prepared
from trustspace.connector.dataplane.tokens import PULL_SCOPE, PUSH_SCOPE, AccessClaims, verify_access_token
from trustspace.core.clock import Clock
from trustspace.core.errors import PeerUnreachable, TrustSpaceError
from trustspace.core.keys import VerifyingKey
from trustspace.web.openapi import problems
from trustspace.web.problems import problem

CHUNK_SIZE = 256 * 1024
# At most 18 digits: larger offsets exceed any file, and Python refuses to parse very long integers.
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")
_BEARER = re.compile(r"^Bearer\s+(\S+)\s*$", re.IGNORECASE)
# What a consumer may tell the upstream API, and what of its answer comes back. Everything else stays
# behind: the consumer's Authorization is our token, a Location would reveal (and bypass) the upstream.
_FORWARD_REQUEST = ("accept", "accept-encoding", "accept-language", "range", "if-none-match", "if-modified-since",
                    "if-range")
_FORWARD_RESPONSE = ("content-type", "content-length", "content-encoding", "content-language", "content-range",
                     "content-disposition", "accept-ranges", "etag", "last-modified", "cache-control", "vary")
# How much of a caller's Range header and proxied path the evidence keeps: enough to tell requests apart.
_SHOWN_RANGE, _SHOWN_PATH = 100, 512
T = TypeVar("T")
# Declared for the OpenAPI document; ``bearer_token`` reads the header and refuses with our own problem.
ACCESS_TOKEN = HTTPBearer(scheme_name="accessToken", auto_error=False,
                          description="the data-plane access token from the transfer's dataAddress")
AccessToken = Annotated[HTTPAuthorizationCredentials | None, Security(ACCESS_TOKEN)]


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single range ``header`` asks for as (first, last) inclusive, or None to send everything."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"a suffix of {suffix} bytes selects nothing of a {size}-byte file", size=size)
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"the file has {size} bytes; the range starts at {start}", size=size)
    return start, min(int(last), size - 1) if last else size - 1


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    match = _BEARER.match(header) if header else None
    if match is None:
        raise AccessTokenMissing("this endpoint needs 'Authorization: Bearer <access token>'",
                                 hint="the token is in the transfer's dataAddress (endpointProperties)")
    return match.group(1)


def decided(request: Request, attempt: Attempt, key: VerifyingKey, clock: Clock, decisions: AccessRecorder | None,
            decide: Callable[[AccessClaims], T], recorded: Callable[[], bool] = lambda: False) -> T:
    """The token, then ``decide`` (the gate); the outcome, either way, goes to ``decisions`` (a permit only if
    ``recorded()`` says ``decide`` did not already write it in its own transaction)."""
    token: str | None = None
    try:
        token = bearer_token(request)
        claims = verify_access_token(token, key, attempt.transfer_id, clock.now(), scope=attempt.scope)
        answer = decide(claims)
    except TrustSpaceError as error:
        if decisions is not None:
            decisions.denied(attempt, token, key, error)
        raise
    if decisions is not None and not recorded():
        decisions.permitted(attempt, claims)
    return answer


def _chunks(handle: BinaryIO, start: int, length: int, chunk_size: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(chunk_size, remaining))
            if not chunk:
                # Truncated under us: the consumer gets a short body and its length/digest check fails.
                return
            remaining -= len(chunk)
            yield chunk


def serve_file(request: Request, prepared: PreparedFile, chunk_size: int = CHUNK_SIZE) -> Response:
    validator = etag(prepared.sha256)
    headers = {"ETag": validator, "Repr-Digest": repr_digest(prepared.sha256), "Accept-Ranges": "bytes",
               "Cache-Control": "no-store"}
    if_range = request.headers.get("if-range")
    # A resumed download of another version must restart from zero, not splice two versions together.
    span = byte_range(request.headers.get("range"), prepared.size) if if_range in (None, validator) else None
    start, length, status = 0, prepared.size, 200
    if span is not None:
        start, length, status = span[0], span[1] - span[0] + 1, 206
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{prepared.size}"
    headers["Content-Length"] = str(length)
    handle = open_prepared(prepared)
    return StreamingResponse(_chunks(handle, start, length, chunk_size), status_code=status,
                             media_type=prepared.media_type, headers=headers)


def upstream_url(target: ProxyTarget, path: str, query: str) -> str:
    segments = [segment for segment in path.split("/") if segment]
    if any(segment in (".", "..") for segment in segments):
        raise ProxyPathRefused("'.' and '..' path segments are not forwarded", field="path")
    url = target.base_url + "".join("/" + quote(segment, safe="") for segment in segments)
    return f"{url}?{query}" if query else url


async def proxy(request: Request, target: ProxyTarget, path: str, timeout: float) -> Response:
    headers = {name: request.headers[name] for name in _FORWARD_REQUEST if name in request.headers}
    # Bytes are relayed raw, so the upstream may only use a content coding the consumer itself accepts.
    headers.setdefault("accept-encoding", "identity")
    headers.update(target.headers)
    url = upstream_url(target, path, request.url.query)
    client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    try:
        upstream = await client.send(client.build_request("GET", url, headers=headers), stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise PeerUnreachable(f"the upstream API did not answer: {exc.__class__.__name__}") from exc
    except BaseException:
        await client.aclose()
        raise

    async def close() -> None:
        await upstream.aclose()
        await client.aclose()

    async def relay() -> AsyncIterator[bytes]:
        # Closed here as well as in the background task: Starlette skips background tasks when the
        # consumer disconnects mid-stream, and the upstream connection must not leak then.
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            await close()

    kept = {name: upstream.headers[name] for name in _FORWARD_RESPONSE if name in upstream.headers}
    return StreamingResponse(relay(), status_code=upstream.status_code, headers=kept,
                             background=BackgroundTask(close))


def _unsatisfiable(error: RangeNotSatisfiable) -> Response:
    response = problem(error.status, error.slug, error.title, error.detail, field=error.field)
    response.headers["Content-Range"] = f"bytes */{error.size}"
    return response


def data_router(
    gate: TransferGate,
    provider_key: VerifyingKey,
    clock: Clock,
    *,
    inbox: Inbox | None = None,
    chunk_size: int = CHUNK_SIZE,
    proxy_timeout: float = 30.0,
    decisions: AccessRecorder | None = None,
    usage: UsageGate | None = None,
) -> APIRouter:
    """Routes of the data plane. ``provider_key`` verifies pull tokens (this participant signed them);
    with ``inbox``, also the push receiver, whose tokens ``inbox.key`` verifies; with ``usage``, every pull
    is also decided (and counted) against the agreement's policy after the gate let it through."""
    router = APIRouter(tags=["data plane"])

    def admitted(request: Request, transfer_id: str, path: str | None = None) -> Prepared:
        shown = request.headers.get("range")
        attempt = Attempt(transfer_id, PULL_SCOPE, request.method, shown[:_SHOWN_RANGE] if shown else None,
                          None if path is None else path[:_SHOWN_PATH])

        joined = False

        def check(claims: AccessClaims) -> Prepared:
            nonlocal joined
            prepared = gate.check(transfer_id, claims.agreement_id)
            if usage is not None:
                asked = Asked(request.client.host if request.client else None, shown, request.headers.get("if-range"))
                permit = decisions.joinable(attempt, claims) if decisions is not None else None
                joined = usage.enforce(transfer_id, claims, prepared, asked, permit)
            return prepared

        return decided(request, attempt, provider_key, clock, decisions, check, lambda: joined)

    @router.get("/data/{transfer_id}", response_model=None, responses=problems(403, 409, 416, 502))
    async def fetch(transfer_id: str, request: Request, _token: AccessToken = None) -> Response:
        prepared = await run_in_threadpool(admitted, request, transfer_id)
        if isinstance(prepared, ProxyTarget):
            return await proxy(request, prepared, "", proxy_timeout)
        try:
            return await run_in_threadpool(serve_file, request, prepared, chunk_size)
        except RangeNotSatisfiable as error:
            return _unsatisfiable(error)

    @router.get("/data/{transfer_id}/{path:path}", response_model=None, responses=problems(403, 409, 502))
    async def fetch_below(transfer_id: str, path: str, request: Request, _token: AccessToken = None) -> Response:
        prepared = await run_in_threadpool(admitted, request, transfer_id, path)
        if not isinstance(prepared, ProxyTarget):
            raise NotAProxy("this transfer serves one file: GET /data/{transfer_id} without a path")
        return await proxy(request, prepared, path, proxy_timeout)

    if inbox is not None:
        _add_inbox(router, inbox, clock, decisions)
    return router


def _add_inbox(router: APIRouter, inbox: Inbox, clock: Clock, decisions: AccessRecorder | None) -> None:
    @router.put("/inbox/{transfer_id}", response_model=None, responses=problems(403, 409, 413))
    async def push_in(transfer_id: str, request: Request, _token: AccessToken = None) -> Response:
        attempt = Attempt(transfer_id, PUSH_SCOPE, request.method)
        await run_in_threadpool(decided, request, attempt, inbox.key, clock, decisions,
                                lambda claims: inbox.gate.admit(transfer_id, claims.agreement_id))
        expected = declared_digest(request.headers.get("repr-digest"))
        received = await receive(inbox, transfer_id, request.stream(), expected)
        if inbox.land is not None:
            await run_in_threadpool(inbox.land, transfer_id, received.path)
        body = {"transferId": transfer_id, "size": received.size, "sha256": received.sha256}
        return JSONResponse(body, status_code=200 if received.replaced else 201)
