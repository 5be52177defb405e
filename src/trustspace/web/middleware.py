"""One pure ASGI middleware for what every request needs before routing: a request id, a body size limit, a
nesting limit on JSON bodies, a JSON content type on requests with a body, metrics and an access log line, and
one problem answer (and one log line) for an error nothing else handled.

Written against raw ASGI rather than ``BaseHTTPMiddleware`` so that request bodies stream through it and
the size limit holds even when a client lies about or omits ``Content-Length``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trustspace.web.jsondepth import MAX_JSON_DEPTH, DepthScanner
from trustspace.web.observability import ServiceMetrics, request_id_var
from trustspace.web.problems import ScopedErrors, internal_error, problem, rescoped

log = logging.getLogger("trustspace.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_PERIODIC = ("/heartbeat", "/v1/ledger/checkpoint", "/v1/ledger/checkpoints/latest.json", "/cosignatures",
             "/healthz", "/readyz", "/metrics")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class RequestGuard:
    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, max_body_bytes: int,
                 streaming_prefixes: tuple[str, ...] = (), scoped: ScopedErrors | None = None,
                 max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_depth = max_json_depth
        # Refusals on paths with an error body of their own (the Dataspace Protocol's) are answered in it.
        self.scoped = scoped
        self.metrics = metrics
        self.max_body = max_body_bytes
        # Paths that stream data of any type and size (the data plane's inbox) and enforce their own limits.
        self.streaming_prefixes = streaming_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = {"code": 500, "started": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], 1
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if scope.get("path", "").startswith(self.streaming_prefixes) and self.streaming_prefixes:
                await self.app(scope, receive, send_with_id)
                return
            refusal = self._refuse(scope)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
            else:
                await self._call_limited(scope, receive, send_with_id)
        except Exception as exc:
            # Answered (and logged, once, on one line) here rather than by Starlette's outermost middleware,
            # which re-raises every error after answering it, so that the server logs its traceback again.
            response = internal_error(scope.get("method", "-"), scope.get("path", ""), exc)
            if not status["started"]:
                await response(scope, receive, send_with_id)
        finally:
            self._observe(scope, status["code"], time.perf_counter() - started)
            request_id_var.reset(token)

    def _refuse(self, scope: Scope) -> Any:
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self._too_large(scope)
        has_body = (length is not None and length != "0") or _header(scope, b"transfer-encoding") is not None
        if scope["method"] in _BODY_METHODS and has_body and not _is_json(_header(scope, b"content-type")):
            return self._in_scope(scope, problem(415, "unsupported-media-type", "Unsupported media type",
                                                 "request bodies must be JSON", field="Content-Type",
                                                 hint="send Content-Type: application/json"))
        return None

    def _in_scope(self, scope: Scope, response: JSONResponse) -> JSONResponse:
        return response if self.scoped is None else rescoped(response, scope.get("path", ""), self.scoped)

    async def _call_limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        # When a streamed body crosses the limit we answer 413 ourselves and tell the app the client left:
        # frameworks turn exceptions raised while reading a body into their own 400, so raising would lose
        # the status. Whatever the app sends afterwards is dropped.
        received = 0
        answered = False
        response_started = False
        scanner = DepthScanner(self.max_depth) if _is_json(_header(scope, b"content-type")) else None

        async def limited_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request" and not answered:
                chunk = message.get("body", b"")
                received += len(chunk)
                refusal = None
                if received > self.max_body:
                    refusal = self._too_large(scope)
                elif scanner is not None and not scanner.feed(chunk):
                    refusal = self._too_deep(scope)
                if refusal is not None:
                    answered = True
                    if not response_started:
                        await refusal(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if answered:
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _too_large(self, scope: Scope) -> Any:
        return self._in_scope(scope, problem(413, "body-too-large", "Request body too large",
                                             f"request body exceeds the limit of {self.max_body} bytes",
                                             field="body"))

    def _too_deep(self, scope: Scope) -> Any:
        return self._in_scope(scope, problem(400, "body-too-deep", "Request body nested too deeply",
                                             f"the JSON body nests deeper than the limit of {self.max_depth} "
                                             "levels of objects and arrays", field="body",
                                             hint=f"send a document nested at most {self.max_depth} levels deep"))

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope["method"]
        self.metrics.requests.labels(self.metrics.service, method, template, str(status)).inc()
        self.metrics.latency.labels(self.metrics.service, template).observe(seconds)
        # Periodic calls (heartbeats, witness polls, probes) would fill the log every few seconds: DEBUG.
        level = logging.DEBUG if status < 400 and template.endswith(_PERIODIC) else logging.INFO
        log.log(level, "%s %s -> %d in %.1f ms", method, scope.get("path", ""), status, seconds * 1000)
