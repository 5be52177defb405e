"""The OpenAPI document of each service declares how to authenticate and what every operation answers
(issue 15, item 9): the security schemes (so /docs offers "Authorize"), each protected operation's
requirement, problem+json errors, and the shapes of the main answers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from inprocess_services import connector

from simulator import operator

METHODS = ("get", "put", "post", "delete", "patch")
# Open to anyone by design: probes, identity documents, the ledger's public proofs, the DSP version metadata.
PUBLIC_PREFIXES = ("/healthz", "/readyz", "/metrics", "/.well-known/", "/v1/trust-list", "/v1/status-lists/",
                   "/v1/ledger/proofs/", "/v1/ledger/checkpoint", "/v1/ledger/witnesses", "/v1/ledger/key")


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    base = tmp_path_factory.mktemp("openapi")
    with operator(base / "operator") as op, connector(base / "connector") as node:
        yield {"operator": op.client.get("/openapi.json").json(),
               "connector": TestClient(node.app).get("/openapi.json").json()}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def public(method: str, path: str) -> bool:
    # the policy templates hold no secret and filling one stores nothing: open to anyone, POST included
    return ((method == "get" and path.startswith(PUBLIC_PREFIXES)) or path == "/v1/ledger/checkpoints/{size}"
            or path.startswith("/v1/policy-templates"))


@pytest.mark.parametrize("service", ["operator", "connector"])
def test_the_security_schemes_are_declared(documents: dict[str, dict[str, Any]], service: str) -> None:
    schemes = documents[service]["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                 "description": schemes["apiKey"]["description"]}
    assert schemes["serviceToken"]["type"] == "http" and schemes["serviceToken"]["scheme"] == "bearer"
    assert schemes["membershipCredential"]["name"] == "X-Membership-Credential"


@pytest.mark.parametrize("service", ["operator", "connector"])
def test_every_protected_operation_lists_its_security(documents: dict[str, dict[str, Any]], service: str) -> None:
    unprotected = [f"{m.upper()} {p}" for m, p, op in operations(documents[service])
                   if not public(m, p) and not op.get("security")]
    assert unprotected == []


def test_management_wants_the_key_and_member_routes_a_token_with_its_credential(
        documents: dict[str, dict[str, Any]]) -> None:
    op, node = documents["operator"]["paths"], documents["connector"]["paths"]
    assert node["/v1/management/assets"]["get"]["security"] == [{"apiKey": []}]
    assert op["/v1/members"]["get"]["security"] == [{"apiKey": []}]
    member = {"serviceToken": [], "membershipCredential": []}
    assert op["/v1/whoami"]["get"]["security"] == [member]
    assert op["/v1/connectors"]["get"]["security"] == [{"apiKey": []}, member]
    assert op["/v1/membership/applications"]["post"]["security"] == [{"serviceToken": []}]
    assert node["/dsp/catalog/request"]["post"]["security"] == [member]
    assert node["/data/{transfer_id}"]["get"]["security"] == [{"accessToken": []}]


@pytest.mark.parametrize("service", ["operator", "connector"])
def test_every_operation_documents_its_errors_as_problems(documents: dict[str, dict[str, Any]], service: str) -> None:
    document = documents[service]
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert {"instance", "field", "hint", "errors"} <= set(problem["properties"])
    for method, path, op in operations(document):
        errors = {status: answer for status, answer in op["responses"].items() if int(status) >= 400}
        assert {"500", "503"} <= set(errors), f"{method} {path}"
        if op.get("security"):
            assert "401" in errors, f"{method} {path}"
        if "requestBody" in op or op.get("parameters"):
            assert "422" in errors, f"{method} {path}"
        for status, answer in errors.items():
            (media, content), = answer["content"].items()
            protocol = path.startswith("/dsp/") and int(status) < 500
            assert media == ("application/json" if protocol else "application/problem+json"), f"{method} {path}"
            assert content["schema"]["$ref"].endswith("/ProtocolError" if protocol else "/Problem")
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_a_protocol_path_documents_the_binding_error_body(documents: dict[str, dict[str, Any]]) -> None:
    answer = documents["connector"]["paths"]["/dsp/negotiations/{pid}"]["get"]["responses"]["404"]
    example = answer["content"]["application/json"]["example"]
    assert example["@type"] == "ContractNegotiationError" and example["providerPid"] == "{pid}"


def test_a_refused_key_is_documented_with_its_challenge(documents: dict[str, dict[str, Any]]) -> None:
    answer = documents["connector"]["paths"]["/v1/management/assets"]["get"]["responses"]["401"]
    assert "WWW-Authenticate" in answer["headers"]


@pytest.mark.parametrize(("service", "method", "path", "status", "model"), [
    ("operator", "get", "/v1/members", "200", "ApplicationOut"),
    ("operator", "post", "/v1/membership/applications", "201", "ApplicationOut"),
    ("operator", "get", "/v1/connectors", "200", "ConnectorOut"),
    ("operator", "get", "/v1/ledger/entries", "200", "EntriesOut"),
    ("operator", "get", "/v1/ledger/checkpoints", "200", "CheckpointsOut"),
    ("operator", "get", "/v1/ledger/checkpoints/latest.json", "200", "StatusOut"),
    ("connector", "get", "/v1/management/status", "200", "StatusOut"),
    ("connector", "get", "/v1/management/assets", "200", "AssetOut"),
    ("connector", "get", "/v1/management/offers", "200", "OfferOut"),
    ("connector", "get", "/v1/management/negotiations", "200", "NegotiationOut"),
    ("connector", "post", "/v1/management/transfers", "201", "TransferOut"),
])
def test_the_main_answers_have_schemas(documents: dict[str, dict[str, Any]], service: str, method: str, path: str,
                                       status: str, model: str) -> None:
    schema = documents[service]["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    assert schema.get("$ref", schema.get("items", {}).get("$ref", "")).endswith("/" + model)
    assert model in documents[service]["components"]["schemas"]


def test_a_record_schema_names_every_field_the_management_api_returns(documents: dict[str, dict[str, Any]]) -> None:
    asset = documents["connector"]["components"]["schemas"]["AssetOut"]
    assert set(asset["required"]) == {"id", "title", "description", "dataAddress", "properties", "createdAt"}
    assert asset["properties"]["createdAt"]["format"] == "date-time"


def test_the_document_is_built_once(tmp_path: Path) -> None:
    with operator(tmp_path / "operator") as op:
        first = op.client.app.openapi()  # type: ignore[attr-defined]
        assert op.client.app.openapi() is first  # type: ignore[attr-defined]


@pytest.mark.parametrize(("method", "path", "status"), [
    ("post", "/v1/management/catalog/request", "502"),
    ("post", "/v1/management/negotiations", "502"),
    ("post", "/v1/management/peers/ping", "502"),
    ("post", "/v1/management/registration", "409"),
    ("get", "/data/{transfer_id}", "416"),
    ("put", "/inbox/{transfer_id}", "413"),
])
def test_a_route_declares_the_errors_its_shape_does_not_imply(documents: dict[str, dict[str, Any]], method: str,
                                                             path: str, status: str) -> None:
    answer = documents["connector"]["paths"][path][method]["responses"][status]
    assert answer["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


@pytest.mark.parametrize("service", ["operator", "connector"])
def test_every_reference_resolves(documents: dict[str, dict[str, Any]], service: str) -> None:
    text = json.dumps(documents[service])
    named = set(re.findall(r'"#/components/schemas/([^"/]+)', text))
    assert named - set(documents[service]["components"]["schemas"]) == set()


def test_protocol_messages_are_described_by_the_shipped_schemas(documents: dict[str, dict[str, Any]]) -> None:
    paths = documents["connector"]["paths"]
    body = paths["/dsp/negotiations/request"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/dsp-contract-request-message-schema"}
    answer = paths["/dsp/negotiations/request"]["post"]["responses"]["201"]["content"]["application/json"]
    assert answer["schema"] == {"$ref": "#/components/schemas/dsp-contract-negotiation-schema"}
    messages = paths["/dsp/transfers/{pid}/{path}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert len(messages["oneOf"]) == 4
    schemas = documents["connector"]["components"]["schemas"]
    offer = schemas["dsp-contract-request-message-schema-ContractRequestMessage"]
    assert offer["properties"]["offer"] == {"$ref": "#/components/schemas/dsp-contract-schema-MessageOffer"}
