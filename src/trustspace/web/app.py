"""What every TrustSpace service has: problem+json errors, the request guard, health, readiness, metrics
and its DID document at ``/.well-known/did.json``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from trustspace import __version__
from trustspace.store.db import Database
from trustspace.web.middleware import RequestGuard
from trustspace.web.models import Health, answers
from trustspace.web.observability import ServiceMetrics
from trustspace.web.openapi import install_openapi
from trustspace.web.problems import ScopedErrors, install_problem_handlers, problem

DEFAULT_MAX_BODY = 1024 * 1024


def service_app(
    *,
    title: str,
    service: str,
    did_document: Callable[[], dict[str, Any]],
    ready: Callable[[], str | None],
    metrics: ServiceMetrics,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    streaming_prefixes: tuple[str, ...] = (),
    scoped_errors: ScopedErrors | None = None,
) -> FastAPI:
    """``ready`` returns None when the service can take traffic, or the reason it cannot. ``scoped_errors``
    answers client errors on paths whose protocol prescribes its own error body (the connector's DSP paths)."""
    app = FastAPI(title=title, version=__version__, lifespan=lifespan)
    install_problem_handlers(app, scoped_errors)
    install_openapi(app, scoped_errors)
    app.add_middleware(RequestGuard, metrics=metrics, max_body_bytes=max_body_bytes,
                       streaming_prefixes=streaming_prefixes, scoped=scoped_errors)

    @app.get("/healthz", tags=["operations"], responses=answers(Health))
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["operations"], response_model=None, responses=answers(Health))
    def readyz() -> dict[str, str] | JSONResponse:
        reason = ready()
        if reason is None:
            return {"status": "ready", "service": service}
        return problem(503, "not-ready", "Not ready", reason)

    @app.get("/metrics", tags=["operations"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
    def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/.well-known/did.json", tags=["identity"], response_class=Response,
             responses={200: {"content": {"application/did+json": {"schema": {"type": "object"}}}}})
    def did_json() -> JSONResponse:
        return JSONResponse(did_document(), media_type="application/did+json")

    return app


def database_ready(db: Database) -> str | None:
    try:
        with db.reading() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        return f"database unavailable: {exc.__class__.__name__}"
    return None
