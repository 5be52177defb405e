"""Schemathesis against both services in process (issue 15, item 6): every operation of the operator and of a
connector, with the administrator and management keys and a member's service tokens, a few positive and
negative examples each, seeded (derandomized) so that a run repeats. No answer may be a server error, and
every answer must match the schema the operation documents. For a deeper search on a workstation:
``FUZZ_EXAMPLES=200 FUZZ_RANDOM=1 pytest tests/web/test_fuzz.py`` (more examples, a fresh seed each run).

The connector is offline here: every outgoing HTTP request fails to connect, so that fuzzed peer URLs reach
nowhere. A 502 problem saying a peer could not be reached (or answered wrongly) is then the right answer of an
operation that documents it, and not counted as a server error."""

from __future__ import annotations

import copy
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from inprocess_services import CONNECTOR_URL, ConnectorUnderTest, connector
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from simulator import OperatorUnderTest, Party, operator
from trustspace.connector.dsp import wire
from trustspace.core.clock import FixedClock
from trustspace.web.problems import PROBLEM_MEDIA_TYPE

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
DERANDOMIZE = "FUZZ_RANDOM" not in os.environ
# An event stream follows new events for up to an hour unless told not to: told, so that each call ends.
STREAMS = {("GET", "/v1/management/events"): {"follow": "false"}}
Asgi = Callable[[dict[str, Any], Any, Any], Any]


@dataclass
class Space:
    """Both services, a member, and something of each kind a path can name, so that the explicit examples
    (the ``example`` each such path parameter is given) reach past "not found"."""

    operator: OperatorUnderTest
    connector: ConnectorUnderTest
    member: Party
    operator_names: dict[str, Any]
    connector_names: dict[str, Any]


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
            yield Space(op, node, member, operator_names(op, member), connector_names(node, member, op.clock, tmp_path))


def operator_names(op: OperatorUnderTest, member: Party) -> dict[str, Any]:
    pending = op.apply(Party("applicant"))
    registered = op.client.post("/v1/connectors", json={"url": "http://127.0.0.1:9512"},
                                headers=member.headers(op.did, op.clock))
    space = op.client.post("/v1/spaces", json={"name": "fuzzed"}, headers=op.admin)
    assert registered.status_code == space.status_code == 201, (registered.text, space.text)
    return {"application_id": pending["id"], "connector_id": registered.json()["id"], "space_id": space.json()["id"],
            "did": member.did, "index": 0, "size": 1}


def connector_names(node: ConnectorUnderTest, member: Party, clock: FixedClock, tmp_path: Path) -> dict[str, Any]:
    """An offer, and a negotiation the member asked for (the connector's worker is not running: it stays)."""
    client = TestClient(node.app, base_url=CONNECTOR_URL)
    (tmp_path / "data.txt").write_text("fuzzed")
    for path, body in (("assets", {"id": "asset-1", "title": "t", "dataAddress": {"type": "file",
                                                                                 "path": str(tmp_path / "data.txt")}}),
                       ("policies", {"id": "policy-1", "policy": {"permission": [{"action": "use"}]}}),
                       ("offers", {"id": "offer-1", "assetId": "asset-1", "policyId": "policy-1"})):
        answer = client.post(f"/v1/management/{path}", json=body, headers=node.management)
        assert answer.status_code == 201, answer.text
    signed = member.headers(node.did, clock)
    catalog = client.post("/dsp/catalog/request", json=wire.message("CatalogRequestMessage"), headers=signed)
    assert catalog.status_code == 200, catalog.text
    offer = catalog.json()["dataset"][0]["hasPolicy"][0]
    request = wire.message("ContractRequestMessage", consumerPid="urn:uuid:fuzz-consumer",
                           offer={**offer, "target": "asset-1"}, callbackAddress="http://127.0.0.1:9513/callback")
    started = client.post("/dsp/negotiations/request", json=request, headers=member.headers(node.did, clock))
    assert started.status_code == 201, started.text
    negotiation = client.get("/v1/management/negotiations", headers=node.management).json()[0]
    pid = started.json()["providerPid"]
    terminate = wire.message("ContractNegotiationTerminationMessage", consumerPid="urn:uuid:fuzz-consumer",
                             providerPid=pid, code="fuzzed")
    return {"dataset_id": "asset-1", "pid": pid, "negotiation_id": negotiation["id"], "path": "termination",
            "processId": negotiation["id"], "agreement_id": "agreement-1", "transfer_id": "transfer-1",
            "POST /dsp/negotiations/request": {**request, "consumerPid": "urn:uuid:fuzz-consumer-2"},
            "POST /dsp/negotiations/{pid}/{path}": terminate}


def with_examples(document: dict[str, Any], names: dict[str, Any]) -> dict[str, Any]:
    """``document`` with an example for every parameter ``names`` has a value for, and for the body of every
    operation it has one for (by ``METHOD /path``)."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in names:
                    parameter["example"] = names[parameter["name"]]
            body = names.get(f"{method.upper()} {path}")
            if body is not None:
                operation["requestBody"]["content"]["application/json"]["example"] = body
    return document


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
    failures = fuzz(op_app, with_examples(op.client.get("/openapi.json").json(), space.operator_names), at_operator,
                    seen)
    failures += fuzz(node_app, with_examples(copy.deepcopy(node_app.openapi()), space.connector_names), at_connector,
                     seen)
    assert failures == [], "\n\n".join(failures)
    # The keys and the member's tokens were taken: the operations behind them ran, not only their refusals.
    for label in ("GET /v1/members", "GET /v1/whoami", "GET /v1/management/assets", "GET /v1/ping",
                  "GET /v1/membership/applications/{application_id}", "GET /v1/spaces/{space_id}",
                  "GET /dsp/negotiations/{pid}", "GET /v1/management/negotiations/{negotiation_id}"):
        assert seen[label, 200] > 0, label
