"""Conformance mode: a harness holding only the seed's static Authorization value drives the connector down
scripted paths; without the mode the same value opens nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from conftest import LiveSpace, start_space
from live import free_port, serve
from trustspace.connector.conformance import load_seed
from trustspace.core.errors import ValidationFailed

DSP = "https://w3id.org/dspace/2025/1/context.jsonld"
STATIC = "Bearer tck-static-token-0123456789"


class Harness:
    """Stands in for the compatibility kit: records every message the connector sends to its callback."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/callback/{path:path}")
        async def callback(path: str, request: Request) -> dict[str, str]:
            with self.lock:
                self.received.append((path, await request.json()))
            return {}

    def wait_for(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for _, body in self.received:
                    if body.get("@type") == kind:
                        return body
            time.sleep(0.05)
        raise AssertionError(f"no {kind} received; got {[b.get('@type') for _, b in self.received]}")


def seed_file(tmp_path: Path, callback: str) -> Path:
    seed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "conformance-seed.example.json").read_text())
    data = tmp_path / "tck-data.bin"
    data.write_bytes(b"conformance" * 100)
    seed["counterParty"]["callbackAddress"] = callback
    for dataset in seed["datasets"]:
        if "dataAddress" in dataset:
            dataset["dataAddress"]["path"] = str(data)
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    return path


@pytest.fixture
def tck(tmp_path: Path) -> Iterator[tuple[LiveSpace, Harness, str]]:
    harness, port = Harness(), free_port()
    callback = f"http://127.0.0.1:{port}/callback"
    seed = seed_file(tmp_path, callback)
    with ExitStack() as stack:
        stack.enter_context(serve(harness.app, port))
        space = start_space(tmp_path, ("tck",), stack,
                            tune=lambda s: replace(s, conformance_mode=True, seed=seed, worker_poll=0.1))
        yield space, harness, callback


def post(space: LiveSpace, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(space.connectors["tck"].url + path, json=body, headers={"Authorization": STATIC}, timeout=10)


def request_body(dataset: str, offer: str, callback: str, pid: str) -> dict[str, Any]:
    return {"@context": [DSP], "@type": "ContractRequestMessage", "consumerPid": pid, "callbackAddress": callback,
            "offer": {"@type": "Offer", "@id": offer, "target": dataset, "permission": [{"action": "use"}]}}


def test_scripted_counter_offer_then_agreement(tck: tuple[LiveSpace, Harness, str]) -> None:
    space, harness, callback = tck
    created = post(space, "/dsp/negotiations/request", request_body("ACN0102", "CD0102", callback, "urn:uuid:c1"))
    assert created.status_code == 201, created.text
    provider_pid = created.json()["providerPid"]
    offer = harness.wait_for("ContractOfferMessage")
    assert offer["providerPid"] == provider_pid
    accepted = post(space, f"/dsp/negotiations/{provider_pid}/events", {
        "@context": [DSP], "@type": "ContractNegotiationEventMessage", "providerPid": provider_pid,
        "consumerPid": "urn:uuid:c1", "eventType": "ACCEPTED"})
    assert accepted.status_code == 200, accepted.text
    agreement = harness.wait_for("ContractAgreementMessage")
    assert agreement["agreement"]["target"] == "ACN0102"


def test_scripted_termination(tck: tuple[LiveSpace, Harness, str]) -> None:
    space, harness, callback = tck
    created = post(space, "/dsp/negotiations/request", request_body("ACN0103", "CD0103", callback, "urn:uuid:c2"))
    assert created.status_code == 201
    terminated = harness.wait_for("ContractNegotiationTerminationMessage")
    assert "scripted" in terminated["reason"][0]


def test_seeded_agreement_transfer_starts(tck: tuple[LiveSpace, Harness, str]) -> None:
    space, harness, callback = tck
    created = post(space, "/dsp/transfers/request", {
        "@context": [DSP], "@type": "TransferRequestMessage", "consumerPid": "urn:uuid:t1",
        "agreementId": "ATP0101", "format": "HttpData-PULL", "callbackAddress": callback})
    assert created.status_code == 201, created.text
    start = harness.wait_for("TransferStartMessage")
    endpoint = start["dataAddress"]["endpoint"]
    token = next(p["value"] for p in start["dataAddress"]["endpointProperties"] if p["name"] == "authorization")
    data = httpx.get(endpoint, headers={"Authorization": f"Bearer {token}"})
    assert data.status_code == 200 and data.content == b"conformance" * 100


def test_static_authorization_opens_nothing_without_conformance_mode(live_space: LiveSpace) -> None:
    node = live_space.connectors["provider"]
    refused = httpx.post(node.url + "/dsp/negotiations/request", headers={"Authorization": STATIC},
                         json=request_body("x", "y", "http://127.0.0.1:1", "urn:uuid:c3"))
    assert refused.status_code == 401


def test_bad_seed_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"counterParty": {"participantId": "x", "authorization": "short",
                                                 "callbackAddress": "http://x"}}))
    with pytest.raises(ValidationFailed) as refused:
        load_seed(path)
    assert refused.value.field == "counterParty.authorization"


def test_scripted_transfer_suspends_then_terminates(tck: tuple[LiveSpace, Harness, str]) -> None:
    space, harness, callback = tck
    created = post(space, "/dsp/transfers/request", {
        "@context": [DSP], "@type": "TransferRequestMessage", "consumerPid": "urn:uuid:t2",
        "agreementId": "ATP0102", "format": "HttpData-PULL", "callbackAddress": callback})
    assert created.status_code == 201, created.text
    harness.wait_for("TransferStartMessage")
    harness.wait_for("TransferSuspensionMessage")
    harness.wait_for("TransferTerminationMessage")
