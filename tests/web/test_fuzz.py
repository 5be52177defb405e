"""Schemathesis against both services in process (issue 15, item 6): every operation of the operator and of a
connector, with the administrator and management keys and a member's service tokens, a few positive and
negative examples each, seeded (derandomized) so that a run repeats. No answer may be a server error, and
every answer must match the schema the operation documents. For a deeper search on a workstation:
``FUZZ_EXAMPLES=200 FUZZ_RANDOM=1 pytest tests/web/test_fuzz.py`` (more examples, a fresh seed each run).

The connector is offline here: every outgoing HTTP request fails to connect, so that fuzzed peer URLs reach
nowhere. A 502 problem saying a peer could not be reached (or answered wrongly) is then the right answer of an
operation that documents it, and not counted as a server error."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from inprocess_services import ConnectorUnderTest, connector
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from simulator import OperatorUnderTest, Party, operator
from trustspace.web.problems import PROBLEM_MEDIA_TYPE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
DERANDOMIZE = "FUZZ_RANDOM" not in os.environ
# An event stream follows new events for up to an hour unless told not to: told, so that each call ends.
STREAMS = {("GET", "/v1/management/events"): {"follow": "false"}}
Asgi = Callable[[dict[str, Any], Any, Any], Any]


@dataclass
class Space:
    operator: OperatorUnderTest
    connector: ConnectorUnderTest
    member: Party


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise httpx.ConnectError("offline: the fuzz test reaches no network")

    async def refuse_async(*_: Any, **__: Any) -> Any:
        raise httpx.ConnectError("offline: the fuzz test reaches no network")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse_async)


@pytest.fixture
def space(tmp_path: Path, offline: None) -> Iterator[Space]:
    with operator(tmp_path / "operator") as op:
        member = Party("fuzzer")
        op.admit(member)
        with connector(tmp_path / "connector", op) as node:
            yield Space(op, node, member)


def without_lifespan(app: Any) -> Asgi:
    """``app`` for requests only: its lifespan is the test client's, or deliberately not run at all."""

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")  # refused before the first message: "no lifespan support"
        await app(scope, receive, send)

    return serve


def peer_failure(case: Case, response: Any) -> bool:
    """A 502 the operation documents, as a problem: a peer (all of them offline here) failed; never a 500."""
    documented = str(response.status_code) in case.operation.definition.raw.get("responses", {})
    media = (response.headers.get("content-type") or [""])[0]
    return response.status_code == 502 and documented and media.startswith(PROBLEM_MEDIA_TYPE)


def fuzz(app: Any, document: dict[str, Any], credentials: Callable[[], dict[str, str]],
         seen: Counter[tuple[str, int]]) -> list[str]:
    """Every operation, positive and negative examples; the failures, one each. ``seen`` counts the answers."""
    schema = schemathesis.openapi.from_dict(document)
    target = without_lifespan(app)
    failures = []
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = fuzz_operation(result.ok(), mode, target, credentials, seen)
            if failure is not None:
                failures.append(failure)
    return failures


def fuzz_operation(operation: APIOperation, mode: GenerationMode, target: Asgi,
                   credentials: Callable[[], dict[str, str]], seen: Counter[tuple[str, int]]) -> str | None:
    forced = STREAMS.get((operation.method.upper(), operation.path), {})

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Case) -> None:
        case.headers = {**(case.headers or {}), **credentials()}
        if forced:
            case.query = {**(case.query or {}), **forced}
        response = case.call(app=target)
        seen[operation.label, response.status_code] += 1
        checks = [response_schema_conformance]
        if not peer_failure(case, response):
            checks.append(not_a_server_error)
        case.validate_response(response, checks=checks)

    try:
        run()
    except Unsatisfiable:
        pass  # nothing to make invalid: an operation without parameters or a body has no negative cases
    except (Exception, BaseExceptionGroup) as failure:
        return f"{operation.label} [{mode.value}]: {str(failure)[:2000]}"
    return None


def test_no_operation_of_either_service_answers_a_server_error(space: Space) -> None:
    op, node, member = space.operator, space.connector, space.member
    op_app, node_app = op.client.app, node.app

    def at_operator() -> dict[str, str]:
        return {**op.admin, **member.headers(op.did, op.clock)}

    def at_connector() -> dict[str, str]:
        return {**node.management, **member.headers(node.did, op.clock)}

    seen: Counter[tuple[str, int]] = Counter()
    failures = fuzz(op_app, op.client.get("/openapi.json").json(), at_operator, seen)
    failures += fuzz(node_app, node_app.openapi(), at_connector, seen)
    assert failures == [], "\n\n".join(failures)
    # The keys and the member's tokens were taken: the operations behind them ran, not only their refusals.
    for label in ("GET /v1/members", "GET /v1/whoami", "GET /v1/management/assets", "GET /v1/ping"):
        assert seen[label, 200] > 0, label
