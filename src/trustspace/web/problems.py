"""RFC 9457 problem details: every error a service returns has this shape and a stable ``type``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from trustspace.core.errors import TrustSpaceError
from trustspace.web.observability import request_id_var

# Paths whose protocol prescribes its own error body answer client errors (4xx) in it instead: given the path,
# the status, a short code and the reason, it returns that answer, or None outside those paths.
ScopedErrors = Callable[[str, int, str, str], JSONResponse | None]

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:trustspace:problem:"
log = logging.getLogger("trustspace.web")
MAX_LOGGED_MESSAGE = 300


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    field: str | None = None,
    hint: str | None = None,
    extra: dict[str, Any] | None = None,
    challenge: str = 'Bearer realm="trustspace"',
) -> JSONResponse:
    body = problem_body(status, slug, title, detail, field=field, hint=hint)
    body.update(extra or {})
    headers = {"WWW-Authenticate": challenge} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_body(status: int, slug: str, title: str, detail: str, *, field: str | None = None,
                 hint: str | None = None) -> dict[str, Any]:
    """The RFC 9457 document alone: for answers that carry several, one per item of a batch."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if field is not None:
        body["field"] = field
    if hint is not None:
        body["hint"] = hint
    return body


def error_body(exc: TrustSpaceError, *, field_prefix: str = "") -> dict[str, Any]:
    field = f"{field_prefix}{exc.field}" if exc.field else (field_prefix.rstrip(".") or None)
    return problem_body(exc.status, exc.slug, exc.title, exc.detail, field=field, hint=exc.hint)


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p != "body"]
    return ".".join(parts) or "body"


async def _trustspace_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TrustSpaceError)
    challenge = getattr(exc, "challenge", 'Bearer realm="trustspace"')
    return problem(exc.status, exc.slug, exc.title, exc.detail, field=exc.field, hint=exc.hint, challenge=challenge)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field_path(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem(400, "malformed-json", "Malformed JSON", "request body is not valid JSON", field="body",
                       hint="send a JSON object with Content-Type: application/json")
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return problem(422, "validation-failed", "Input failed validation",
                   f"{first['field']}: {first['message']}", field=first["field"], extra={"errors": errors})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slugs = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large", 415: "unsupported-media-type"}
    slug = slugs.get(exc.status_code, "http-error")
    return problem(exc.status_code, slug, slug.replace("-", " ").capitalize(), str(exc.detail))


def _scoped(handler: Callable[[Request, Exception], Any], scoped: ScopedErrors) -> Callable[[Request, Exception], Any]:
    """``handler``, except that a client error on a path with an error body of its own is answered in it, with
    the same status, code (the problem's slug) and reason, and the same headers (``WWW-Authenticate``)."""

    async def answer(request: Request, exc: Exception) -> JSONResponse:
        response: JSONResponse = await handler(request, exc)
        return rescoped(response, request.url.path, scoped)

    return answer


def rescoped(response: JSONResponse, path: str, scoped: ScopedErrors) -> JSONResponse:
    """A problem response in the error body ``path`` prescribes, if it prescribes one and this is a 4xx."""
    if not 400 <= response.status_code < 500:
        return response
    document = json.loads(bytes(response.body))
    reason = str(document.get("detail", ""))
    if document.get("field"):
        reason = f"{document['field']}: {reason}"
    answer = scoped(path, response.status_code, str(document.get("type", "")).removeprefix(PROBLEM_BASE), reason)
    if answer is None:
        return response
    for name in ("www-authenticate", "retry-after"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # SQLite answers "database is locked" after its busy timeout under heavy concurrent writes: a transient
    # condition the caller can retry, not an internal error. Anything else from the database stays a 500.
    if "database is locked" in str(exc):
        log.warning("database busy while serving %s %s", request.method, request.url.path)
        response = problem(503, "database-busy", "Service busy", "the database is busy; retry shortly",
                           hint="retry after the number of seconds in Retry-After")
        response.headers["Retry-After"] = "1"
        return response
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return internal_error(request.method, request.url.path, exc)


def internal_error(method: str, path: str, exc: BaseException) -> JSONResponse:
    """The 500 answer, and its one log line: the request id, the request and the error's kind and message. No
    traceback: a recursion error's runs to thousands of lines, and the request id finds the request again."""
    message = str(exc).replace("\n", " ")[:MAX_LOGGED_MESSAGE]
    log.error("request %s: unexpected %s while serving %s %s: %s", request_id_var.get(), type(exc).__name__,
              method, path, message)
    return problem(500, "internal", "Internal error", "the service failed unexpectedly; the request id "
                   "in the X-Request-Id header identifies it in the service log")


def install_problem_handlers(app: FastAPI, scoped: ScopedErrors | None = None) -> None:
    handlers = {TrustSpaceError: _trustspace_error, RequestValidationError: _validation_error,
                StarletteHTTPException: _http_error}
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler if scoped is None else _scoped(handler, scoped))
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
