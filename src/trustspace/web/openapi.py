"""The OpenAPI document every service publishes, completed with what FastAPI cannot see: the errors.

Every operation gets the error responses it can give, each an RFC 9457 problem document
(``application/problem+json``, the ``Problem`` schema, as ``problems.py`` writes them), or, on paths whose
protocol prescribes its own error body (the connector's DSP paths), that body for client errors. Which ones
follow from the operation itself: a security requirement can be refused (401, and 403 for service tokens),
a request body can be malformed, too large, of the wrong type or invalid (400, 413, 415, 422), parameters can
be invalid (400, 422) or name something that does not exist (404), a body may collide with what exists (409),
and anything can fail unexpectedly or find the database busy (500, 503). A route declares the others
(``responses=problems(502)``, say); FastAPI's own 422 (a ``detail`` list) is replaced, as it is never sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from trustspace.web.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, ScopedErrors

REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_STATUS_TEXT = {
    400: "Malformed request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found", 409: "Conflict",
    413: "Request body too large", 415: "Unsupported media type", 416: "Range not satisfiable",
    422: "Input failed validation", 500: "Internal error", 502: "A peer failed or could not be reached",
    503: "Not ready or busy; retry later",
}
# Service tokens carry the membership credential beside them: one requirement of both headers, not either.
_TOKEN_WITH_CREDENTIAL = ("serviceToken", "membershipCredential")
# Schemes whose holder is known but may still be refused (a revoked member, a transfer not started): 403.
_FORBIDDING = ("serviceToken", "accessToken")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document; ``type`` is ``urn:trustspace:problem:<slug>``, stable per kind of error."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description=f"{PROBLEM_BASE}<slug>")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = None
    field: str | None = Field(default=None, description="the input the problem is about, e.g. body.did or X-API-Key")
    hint: str | None = Field(default=None, description="what to do about it")
    errors: list[FieldError] | None = Field(default=None, description="every failed input, for a validation failure")


class ProtocolError(BaseModel):
    """A Dataspace Protocol error (CatalogError, ContractNegotiationError or TransferError)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    context: Any = Field(alias="@context")
    type: str = Field(alias="@type")
    code: str
    reason: list[str]
    consumer_pid: str | None = Field(default=None, alias="consumerPid")
    provider_pid: str | None = Field(default=None, alias="providerPid")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's errors beyond those its shape implies; their content is filled in later."""
    return {status: {"description": _STATUS_TEXT.get(status, "Error")} for status in statuses}


def install_openapi(app: FastAPI, scoped: ScopedErrors | None = None) -> None:
    """Complete ``app``'s document with the errors when it is first built (after every route is included)."""
    build = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_errors(build(), scoped)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def add_schemas(app: FastAPI, schemas: Callable[[], dict[str, Any]]) -> None:
    """Components ``app``'s routes refer to by ``$ref`` without a model FastAPI knows (the DSP schemas)."""
    build = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            built = build()
            built.setdefault("components", {}).setdefault("schemas", {}).update(schemas())
            app.openapi_schema = built
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def with_errors(document: dict[str, Any], scoped: ScopedErrors | None) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (FieldError, Problem, ProtocolError):
        schemas[model.__name__] = model.model_json_schema(ref_template=REF + "{model}", by_alias=True)
    schemas[Problem.__name__].pop("$defs", None)
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                _complete(item[method], _protocol_example(path, scoped))
    _drop_unused(document, ("HTTPValidationError", "ValidationError"))
    return document


def _complete(operation: dict[str, Any], protocol: Callable[[int], dict[str, Any] | None]) -> None:
    operation["security"] = _merged(operation.get("security"))
    if not operation["security"]:
        del operation["security"]
    responses = operation.setdefault("responses", {})
    for answer in [*responses.values(), operation.get("requestBody", {})]:
        for media in answer.get("content", {}).values():
            _tidy(media.get("schema"))
    for status in sorted(set(_implied(operation)) | {int(s) for s in responses if s.isdigit() and int(s) >= 400}):
        answer = responses.setdefault(str(status), {})
        answer.setdefault("description", _STATUS_TEXT.get(status, "Error"))
        example = protocol(status) if status < 500 else None
        if example is not None:
            answer["content"] = {"application/json": {"schema": {"$ref": REF + "ProtocolError"}, "example": example}}
        else:
            answer["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF + "Problem"}}}
        if status == 401:
            answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"},
                                                      "description": "the credentials this operation wants"}}
        if status == 503:
            answer["headers"] = {"Retry-After": {"schema": {"type": "string"},
                                                 "description": "seconds to wait, when the database is busy"}}


def _implied(operation: dict[str, Any]) -> Iterable[int]:
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    requirements = operation.get("security", [])
    if requirements:
        yield 401
    if any(name in requirement for requirement in requirements for name in _FORBIDDING):
        yield 403
    if body:
        yield from (400, 409, 413, 415)
    if body or parameters:
        # A parameter or a body can name what does not exist, or be refused only once it is read.
        yield from (400, 404, 422)
    yield from (500, 503)


def _merged(security: list[dict[str, list[str]]] | None) -> list[dict[str, list[str]]]:
    """FastAPI lists each scheme as an alternative; a service token and its credential go together."""
    names = [name for requirement in security or [] for name in requirement]
    kept: list[dict[str, list[str]]] = []
    for name in dict.fromkeys(names):
        if name == _TOKEN_WITH_CREDENTIAL[1] and _TOKEN_WITH_CREDENTIAL[0] in names:
            continue
        if name == _TOKEN_WITH_CREDENTIAL[0] and _TOKEN_WITH_CREDENTIAL[1] in names:
            kept.append({scheme: [] for scheme in _TOKEN_WITH_CREDENTIAL})
        else:
            kept.append({name: []})
    return kept


def _tidy(schema: dict[str, Any] | None) -> None:
    """A declared response model merged over the one FastAPI inferred from ``dict[str, Any]`` leaves both: keep
    the declared one."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        for key in [k for k in schema if k != "$ref"]:
            del schema[key]
    items = schema.get("items")
    if isinstance(items, dict):
        _tidy(items)


def _protocol_example(path: str, scoped: ScopedErrors | None) -> Callable[[int], dict[str, Any] | None]:
    def example(status: int) -> dict[str, Any] | None:
        if scoped is None:
            return None
        answer = scoped(path, status, "example", "why the request was refused")
        return None if answer is None else dict(json.loads(bytes(answer.body)))

    return example


def _drop_unused(document: dict[str, Any], names: tuple[str, ...]) -> None:
    text = json.dumps(document.get("paths", {}))
    for name in names:
        if f'"{REF}{name}"' not in text:
            document["components"]["schemas"].pop(name, None)
