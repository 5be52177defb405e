"""Request ids reach every log line; JSON logs are one object per line; no internals in a 500."""

from __future__ import annotations

import io
import json
import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient

from trustspace.web.app import service_app
from trustspace.web.observability import JsonFormatter, RequestIdFilter, ServiceMetrics


def make_app() -> FastAPI:
    app = service_app(title="t", service="test", did_document=lambda: {"id": "did:example:t"},
                      ready=lambda: "database unavailable: test", metrics=ServiceMetrics("test"), max_body_bytes=64)

    @app.get("/boom")
    def boom() -> None:
        logging.getLogger("trustspace.test").info("about to fail")
        raise RuntimeError("secret internals")

    return app


def test_json_log_lines_carry_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        client = TestClient(make_app(), raise_server_exceptions=False)
        response = client.get("/boom", headers={"X-Request-Id": "req-42"})
    finally:
        root.removeHandler(handler)
    assert response.status_code == 500
    assert response.json()["type"] == "urn:trustspace:problem:internal"
    assert "secret internals" not in response.text and "Traceback" not in response.text
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line["request_id"] == "req-42"]
    assert {"about to fail"} <= {line["msg"] for line in ours}
    assert any(line["logger"] == "trustspace.access" for line in ours)


def test_bad_request_id_is_replaced_and_not_ready_is_503() -> None:
    client = TestClient(make_app())
    response = client.get("/readyz", headers={"X-Request-Id": "bad id\nwith newline"[:6]})
    assert response.status_code == 503 and response.json()["detail"] == "database unavailable: test"
    injected = client.get("/healthz", headers={"X-Request-Id": "x" * 200})
    assert injected.headers["x-request-id"] != "x" * 200


def test_streamed_body_over_the_limit_without_content_length() -> None:
    app = make_app()

    @app.post("/echo")
    def echo(body: dict[str, str]) -> dict[str, str]:
        return body

    client = TestClient(app)

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"a": "'
        yield b"x" * 200
        yield b'"}'

    response = client.post("/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["field"] == "body"


def test_locked_database_is_a_retryable_503_not_a_500() -> None:
    from sqlalchemy.exc import OperationalError

    app = make_app()

    @app.get("/locked")
    def locked() -> None:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    response = TestClient(app, raise_server_exceptions=False).get("/locked")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["type"] == "urn:trustspace:problem:database-busy"
