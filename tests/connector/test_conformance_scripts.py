"""Conformance scripts: a harness plays each kind of scenario a compatibility kit plays against a live
connector seeded with docs/conformance-seed.example.json — as provider and as consumer, a state passed twice,
moves in every state that is not terminal, a wait after our pull — and seeds that could never run are refused
naming the entry."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from conftest import LiveSpace, Node, start_space
from live import free_port, serve
from trustspace.connector.conformance import ScriptedStrategy, next_step
from trustspace.connector.conformance_seed import Step, parse_seed
from trustspace.connector.dataplane.digest import repr_digest
from trustspace.connector.dsp.strategy import AutomaticStrategy
from trustspace.connector.policy import SimplePolicyDecisionPoint
from trustspace.core.clock import SystemClock
from trustspace.core.errors import ValidationFailed
from trustspace.identity.did import did_web
from trustspace.protocol import negotiation, transfer
from trustspace.protocol.roles import Role
from trustspace.store.dsp.records import Negotiation

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "conformance-seed.example.json"
DSP = "https://w3id.org/dspace/2025/1/context.jsonld"
STATIC = "Bearer tck-static-token-0123456789"
DATA = b"harness data " * 64
DATA_TOKEN = "harness-data-token"


class Harness:
    """Stands in for the compatibility kit on both sides: a consumer's callback and a provider's DSP endpoints
    (it acknowledges our requests with a pid of its own), and a data endpoint for our pulls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()
        app = self.app

        @app.post("/dsp/{kind}/request")
        async def request(kind: str, request: Request) -> JSONResponse:
            body = self._record(f"dsp/{kind}/request", await request.json())
            process = "ContractNegotiation" if kind == "negotiations" else "TransferProcess"
            return JSONResponse({"@context": [DSP], "@type": process, "consumerPid": body["consumerPid"],
                                 "providerPid": f"urn:uuid:{uuid.uuid4()}", "state": "REQUESTED"}, status_code=201)

        @app.post("/{path:path}")
        async def anything(path: str, request: Request) -> dict[str, str]:
            self._record(path, await request.json())
            return {}

        @app.get("/data")
        def data(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {DATA_TOKEN}":
                return Response(status_code=401)
            return Response(DATA, media_type="application/octet-stream",
                            headers={"Repr-Digest": repr_digest(hashlib.sha256(DATA).hexdigest())})

    def _record(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.received.append((path, body))
        return body

    def about(self, pid: str) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [(p, b) for p, b in self.received if pid in (b.get("consumerPid"), b.get("providerPid"))]

    def wait_for(self, kind: str, pid: str, count: int = 1, timeout: float = 15) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [(p, b) for p, b in self.about(pid) if b.get("@type") == kind]
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} #{count} for {pid}; got {[b.get('@type') for _, b in self.about(pid)]}")

    def kinds(self, pid: str) -> list[str]:
        return [str(b.get("@type")) for _, b in self.about(pid)]


def example_seed(harness_url: str, data: Path) -> dict[str, Any]:
    text = EXAMPLE.read_text().replace("did:web:127.0.0.1%3A8687", did_web(harness_url))
    text = text.replace("http://127.0.0.1:8687", harness_url).replace("/tmp/tck-data.bin", str(data))
    seed: dict[str, Any] = json.loads(text)
    return seed


@pytest.fixture(scope="module")
def tck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Harness]]:
    tmp_path = tmp_path_factory.mktemp("conformance")
    port = free_port()
    harness = Harness(f"http://127.0.0.1:{port}")
    data = tmp_path / "tck-data.bin"
    data.write_bytes(b"conformance" * 100)
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(example_seed(harness.url, data)))
    with ExitStack() as stack:
        stack.enter_context(serve(harness.app, port))
        space = start_space(tmp_path, ("tck",), stack,
                            tune=lambda s: replace(s, conformance_mode=True, seed=seed, worker_poll=0.1))
        yield space.connectors["tck"], harness


def post(node: Node, path: str, body: dict[str, Any], auth: str = STATIC) -> httpx.Response:
    return httpx.post(node.url + path, json=body, headers={"Authorization": auth}, timeout=10)


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"@context": [DSP], "@type": kind, **fields}


def offer(dataset: str, offer_id: str) -> dict[str, Any]:
    return {"@type": "Offer", "@id": offer_id, "target": dataset, "permission": [{"action": "use"}]}


def request_negotiation(node: Node, harness: Harness, dataset: str, offer_id: str) -> str:
    """The harness, as consumer, asks us (provider) for ``dataset``; returns our pid."""
    created = post(node, "/dsp/negotiations/request", message(
        "ContractRequestMessage", consumerPid=f"urn:uuid:{uuid.uuid4()}", callbackAddress=f"{harness.url}/callback",
        offer=offer(dataset, offer_id)))
    assert created.status_code == 201, created.text
    return str(created.json()["providerPid"])


def request_transfer(node: Node, harness: Harness, agreement: str) -> str:
    created = post(node, "/dsp/transfers/request", message(
        "TransferRequestMessage", consumerPid=f"urn:uuid:{uuid.uuid4()}", agreementId=agreement,
        format="HttpData-PULL", callbackAddress=f"{harness.url}/callback"))
    assert created.status_code == 201, created.text
    return str(created.json()["providerPid"])


def acknowledged(harness: Harness, kind: str, ours: str) -> str:
    """The harness's pid for our request ``ours``, once the harness has acknowledged it."""
    harness.wait_for(kind, ours)
    return eventually(lambda: harness_pid(harness, ours))


def harness_pid(harness: Harness, ours: str) -> str | None:
    for _, body in harness.about(ours):
        if body.get("providerPid"):
            return str(body["providerPid"])
    return None


def eventually(probe: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def start_negotiation(node: Node, harness: Harness, dataset: str) -> tuple[str, str]:
    """We (consumer) ask the harness for its ``dataset``; returns (our pid, the harness's pid)."""
    ours = node.ok("POST", "/v1/management/negotiations", json={
        "counterPartyAddress": harness.url + "/dsp", "counterPartyId": did_web(harness.url),
        "offer": offer(dataset, f"offer-{dataset}")})["id"]
    harness.wait_for("ContractRequestMessage", ours)
    theirs = str(eventually(lambda: node.ok("GET", f"/v1/management/negotiations/{ours}")["providerPid"]))
    return ours, theirs


def start_transfer(node: Node, harness: Harness, agreement: str) -> tuple[str, str]:
    ours = node.ok("POST", "/v1/management/transfers", json={"agreementId": agreement,
                                                             "transferType": "HttpData-PULL"})["id"]
    harness.wait_for("TransferRequestMessage", ours)
    theirs = str(eventually(lambda: node.ok("GET", f"/v1/management/transfers/{ours}")["providerPid"]))
    return ours, theirs


def data_address() -> dict[str, Any]:
    return {"@type": "DataAddress", "endpointType": "https://w3id.org/idsa/v4.1/HTTP", "endpoint": "",
            "endpointProperties": [{"@type": "EndpointProperty", "name": "authorization", "value": DATA_TOKEN}]}


def harness_starts(node: Node, harness: Harness, ours: str, theirs: str) -> None:
    address = {**data_address(), "endpoint": f"{harness.url}/data"}
    started = post(node, f"/dsp/callback/transfers/{ours}/start", message(
        "TransferStartMessage", consumerPid=ours, providerPid=theirs, dataAddress=address))
    assert started.status_code == 200, started.text


# --- a script is a sequence of moves: a state passed twice ---------------------------------------------------
def test_counter_offer_then_terminating_the_counter_request_passes_requested_twice(
        tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    pid = request_negotiation(node, harness, "ACN0104", "CD0104")
    _, counter_offer = harness.wait_for("ContractOfferMessage", pid)
    again = post(node, f"/dsp/negotiations/{pid}/request", message(
        "ContractRequestMessage", consumerPid=counter_offer["consumerPid"], providerPid=pid,
        offer=offer("ACN0104", "CD0104")))
    assert again.status_code == 200, again.text
    harness.wait_for("ContractNegotiationTerminationMessage", pid)
    assert harness.kinds(pid) == ["ContractOfferMessage", "ContractNegotiationTerminationMessage"]


def test_transfer_suspended_then_completed_passes_started_twice(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    pid = request_transfer(node, harness, "ATP0105")
    _, suspension = harness.wait_for("TransferSuspensionMessage", pid)
    resumed = post(node, f"/dsp/transfers/{pid}/start", message(
        "TransferStartMessage", consumerPid=suspension["consumerPid"], providerPid=pid))
    assert resumed.status_code == 200, resumed.text
    harness.wait_for("TransferCompletionMessage", pid)
    assert harness.kinds(pid) == ["TransferStartMessage", "TransferSuspensionMessage", "TransferCompletionMessage"]


# --- every state that is not terminal may carry a scripted move --------------------------------------------
def test_provider_terminates_in_offered(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    pid = request_negotiation(node, harness, "ACN0105", "CD0105")
    harness.wait_for("ContractNegotiationTerminationMessage", pid)
    assert harness.kinds(pid) == ["ContractOfferMessage", "ContractNegotiationTerminationMessage"]


def test_provider_terminates_in_agreed(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    pid = request_negotiation(node, harness, "ACN0106", "CD0106")
    harness.wait_for("ContractNegotiationTerminationMessage", pid)
    assert harness.kinds(pid) == ["ContractAgreementMessage", "ContractNegotiationTerminationMessage"]


def test_consumer_terminates_its_request_once_acknowledged(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    ours, theirs = start_negotiation(node, harness, "HCN0201")
    path, _ = harness.wait_for("ContractNegotiationTerminationMessage", ours)
    assert path == f"dsp/negotiations/{theirs}/termination"


def test_consumer_terminates_in_accepted(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    ours, theirs = start_negotiation(node, harness, "HCN0202")
    offered = post(node, f"/dsp/callback/negotiations/{ours}/offers", message(
        "ContractOfferMessage", consumerPid=ours, providerPid=theirs, offer=offer("HCN0202", "offer-HCN0202")))
    assert offered.status_code == 200, offered.text
    harness.wait_for("ContractNegotiationTerminationMessage", ours)
    assert harness.kinds(ours)[1:] == ["ContractNegotiationEventMessage", "ContractNegotiationTerminationMessage"]


def test_consumer_terminates_in_verified(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    ours, theirs = start_negotiation(node, harness, "HCN0203")
    document = {"@id": f"urn:uuid:{uuid.uuid4()}", "@type": "Agreement", "target": "HCN0203",
                "assigner": did_web(harness.url), "assignee": did_web(node.url),
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "permission": [{"action": "use"}]}
    agreed = post(node, f"/dsp/callback/negotiations/{ours}/agreement", message(
        "ContractAgreementMessage", consumerPid=ours, providerPid=theirs, agreement=document))
    assert agreed.status_code == 200, agreed.text
    harness.wait_for("ContractNegotiationTerminationMessage", ours)
    assert harness.kinds(ours)[1:] == ["ContractAgreementVerificationMessage", "ContractNegotiationTerminationMessage"]


def test_consumer_terminates_its_transfer_request(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    ours, theirs = start_transfer(node, harness, "ATC0201")
    path, _ = harness.wait_for("TransferTerminationMessage", ours)
    assert path == f"dsp/transfers/{theirs}/termination"


def test_scripted_strategy_is_consulted_in_every_state_that_is_not_terminal() -> None:
    strategy = ScriptedStrategy(parse_seed(json.loads(EXAMPLE.read_text())), AutomaticStrategy(
        SimplePolicyDecisionPoint(), SystemClock()), lambda _: None)
    assert set(strategy.negotiation_states) == {(r.value, s.value) for r in Role for s in negotiation.NegotiationState
                                                if s.value not in ("FINALIZED", "TERMINATED")}
    assert set(strategy.transfer_states) == {(None, "REQUESTED"), (None, "STARTED"), (None, "SUSPENDED")}


# --- the connector as consumer with a seeded agreement --------------------------------------------------------
def test_seeded_consumer_agreement_transfers_at_once_and_completes_after_the_pull(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    ours, theirs = start_transfer(node, harness, "ATC0203")
    _, requested = harness.wait_for("TransferRequestMessage", ours)
    assert requested["agreementId"] == "ATC0203"
    harness_starts(node, harness, ours, theirs)
    harness.wait_for("TransferCompletionMessage", ours)
    done = node.ok("GET", f"/v1/management/transfers/{ours}")
    assert done["state"] == "COMPLETED" and done["details"]["bytes"] == len(DATA)


# --- a scripted wait is honoured after a successful pull ------------------------------------------------------
def test_scripted_wait_after_a_successful_pull_sends_no_completion(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    ours, theirs = start_transfer(node, harness, "ATC0202")
    harness_starts(node, harness, ours, theirs)
    moved = eventually(lambda: (t := node.ok("GET", f"/v1/management/transfers/{ours}"))["details"].get("moved") and t)
    # The automatic strategy completes in the very transaction that records the pull: here nothing follows it.
    assert moved["state"] == "STARTED" and moved["details"]["bytes"] == len(DATA)
    assert node.app.state.dsp.store.pending_outbox(ours) == []
    completed = post(node, f"/dsp/callback/transfers/{ours}/completion", message(
        "TransferCompletionMessage", consumerPid=ours, providerPid=theirs))
    assert completed.status_code == 200, completed.text
    assert harness.kinds(ours) == ["TransferRequestMessage"]


# --- moves a script does not name do not loop ---------------------------------------------------------------
def test_a_script_that_would_suspend_and_resume_forever_ends(tck: tuple[Node, Harness]) -> None:
    node, harness = tck
    pid = request_transfer(node, harness, "ATP0106")
    harness.wait_for("TransferStartMessage", pid, count=2)
    record = eventually(lambda: (t := node.app.state.dsp.store.get_transfer(pid)).details.get("script") == 2 and t)
    assert record.state == "STARTED"
    assert node.app.state.dsp.transfers.strategy.transfer_move(record) is None
    assert harness.kinds(pid) == ["TransferStartMessage", "TransferSuspensionMessage", "TransferStartMessage"]


def test_position_in_the_script_is_durable_and_a_step_is_never_replayed() -> None:
    seed = parse_seed(json.loads(EXAMPLE.read_text()))
    strategy = ScriptedStrategy(seed, AutomaticStrategy(SimplePolicyDecisionPoint(), SystemClock()), lambda _: None)
    now = datetime.now(UTC)
    at = lambda details: Negotiation("p", "provider", "REQUESTED", "c", "p", "x", "http://x", {}, "ACN0104",  # noqa: E731
                                     now, now, details=details)
    first, second, done = (strategy.negotiation_move(at(d)) for d in ({}, {"script": 1}, {"script": 2}))
    assert first is not None and first.message is negotiation.NegotiationMessage.CONTRACT_OFFER
    assert first.details == {"script": 1}
    assert second is not None and second.message is negotiation.NegotiationMessage.TERMINATION
    assert done is None  # used up; "otherwise": "wait"


def test_a_wait_is_passed_over_only_once_the_process_is_in_a_later_steps_state() -> None:
    steps = [Step(state="STARTED", move="wait"), Step(state="SUSPENDED", move="start")]
    assert next_step(steps, 0, "REQUESTED") is None
    assert next_step(steps, 0, "STARTED") == (0, steps[0])
    assert next_step(steps, 0, "SUSPENDED") == (1, steps[1])


# --- a seed entry that can never run is refused, naming it ------------------------------------------------
def base(**extra: Any) -> dict[str, Any]:
    return {"counterParty": {"participantId": "did:web:h", "authorization": STATIC, "callbackAddress": "http://h"},
            **extra}


def dataset(**scripts: Any) -> dict[str, Any]:
    return {"id": "D1", "dataAddress": {"type": "file", "path": "/x"},
            "offers": [{"id": "O1", "policy": {"permission": [{"action": "use"}]}}], **scripts}


@pytest.mark.parametrize(("seed", "field"), [
    (base(datasets=[dataset(negotiation={"consumer": [{"state": "REQUESTED", "move": "agree"}]})]),
     "datasets[0].negotiation.consumer[0]"),
    (base(datasets=[dataset(negotiation={"provider": [{"state": "REQUESTED", "move": "agree"},
                                                      {"state": "FINALIZED", "move": "terminate"}]})]),
     "datasets[0].negotiation.provider[1]"),
    (base(datasets=[dataset(transfer={"consumer": [{"state": "REQUESTED", "move": "start"}]})]),
     "datasets[0].transfer.consumer[0]"),
    (base(datasets=[dataset(transfer={"provider": [{"state": "STARTED", "move": "wait"},
                                                   {"state": "STARTED", "move": "complete"}]})]),
     "datasets[0].transfer.provider[1]"),
    (base(datasets=[dataset(negotiation={"provider": [{"state": "REQUESTED", "move": "dance"}]})]),
     "datasets[0].negotiation.provider[0]"),
    (base(datasets=[{"id": "H1", "negotiation": {"provider": [{"state": "REQUESTED", "move": "agree"}]}}]),
     "datasets[0].negotiation.provider"),
    (base(datasets=[dataset()], agreements=[{"id": "A1", "datasetId": "nope"}]), "agreements[0].datasetId"),
    (base(agreements=[{"id": "A1", "datasetId": "H", "role": "consumer"}]), "agreements[0].providerAddress"),
    (base(agreements=[{"id": "A1", "datasetId": "H", "role": "consumer", "providerAddress": "http://h/dsp",
                       "transfer": {"provider": [{"state": "REQUESTED", "move": "start"}]}}]),
     "agreements[0].transfer.provider"),
    (base(datasets=[dataset(), dataset()]), "datasets[1].id"),
])
def test_a_seed_entry_that_can_never_run_is_refused_naming_it(seed: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_seed(seed)
    assert refused.value.field == field


def test_every_move_the_protocol_allows_is_accepted_and_no_other() -> None:
    from trustspace.connector.conformance_seed import (
        NEGOTIATION_MOVES,
        TRANSFER_MOVES,
        negotiation_legal,
        transfer_legal,
    )
    for moves, machine, legal in ((NEGOTIATION_MOVES, negotiation, negotiation_legal),
                                  (TRANSFER_MOVES, transfer, transfer_legal)):
        for role in Role:
            for state in machine._LIVE:
                for name, sent in moves.items():
                    assert (legal(role, state.value, name) is None) == (sent in machine.allowed(state, role))
                assert legal(role, state.value, "wait") is None


# --- the harness's participant id and callback are set without a restart -------------------------------------
def test_seed_loaded_at_run_time_changes_the_counter_party_and_scripts(tmp_path: Path) -> None:
    port = free_port()
    harness = Harness(f"http://127.0.0.1:{port}")
    data = tmp_path / "tck-data.bin"
    data.write_bytes(b"x")
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(example_seed(harness.url, data)))
    with ExitStack() as stack:
        stack.enter_context(serve(harness.app, port))
        space: LiveSpace = start_space(tmp_path, ("tck",), stack,
                                       tune=lambda s: replace(s, conformance_mode=True, seed=seed, worker_poll=0.1))
        node = space.connectors["tck"]
        second = "Bearer second-harness-token-0987654321"
        new_seed = base(datasets=[{**dataset(negotiation={"provider": [{"state": "REQUESTED", "move": "terminate"}]}),
                                   "id": "RUN0301", "offers": [{"id": "CD0301", "policy": {
                                       "permission": [{"action": "use"}]}}]}])
        new_seed["counterParty"] = {"participantId": "did:web:second.harness", "authorization": second,
                                    "callbackAddress": f"{harness.url}/second"}
        assert httpx.put(node.url + "/v1/management/conformance/seed", json=new_seed).status_code == 401
        unknown = base(agreements=[{"id": "A", "datasetId": "Z"}])
        bad = node.manage("PUT", "/v1/management/conformance/seed", json=unknown)
        assert bad.status_code == 422 and "agreements[0].datasetId" in bad.text
        loaded = node.manage("PUT", "/v1/management/conformance/seed", json=new_seed)
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["participantId"] == "did:web:second.harness" and "second-harness" not in loaded.text
        old = post(node, "/dsp/negotiations/request", message(
            "ContractRequestMessage", consumerPid="urn:uuid:old", callbackAddress=f"{harness.url}/callback",
            offer=offer("RUN0301", "CD0301")))
        assert old.status_code == 401
        created = post(node, "/dsp/negotiations/request", message(
            "ContractRequestMessage", consumerPid="urn:uuid:new", callbackAddress=f"{harness.url}/second",
            offer=offer("RUN0301", "CD0301")), auth=second)
        assert created.status_code == 201, created.text
        path, _ = harness.wait_for("ContractNegotiationTerminationMessage", "urn:uuid:new")
        assert path.startswith("second/")


def test_seed_endpoint_is_absent_without_conformance_mode(live_space: LiveSpace) -> None:
    node = live_space.connectors["provider"]
    assert node.manage("PUT", "/v1/management/conformance/seed", json=base()).status_code == 404


# --- the doc shows the seeds the tests play -------------------------------------------------------------------
def test_every_seed_entry_in_the_doc_is_in_the_example_seed() -> None:
    doc = (ROOT / "docs" / "conformance-mode.md").read_text()
    example = json.loads(EXAMPLE.read_text())
    entries = [*example["datasets"], *example["agreements"]]
    shown = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc, flags=re.S)]
    assert len(shown) >= 8
    for entry in shown:
        if "counterParty" in entry:
            parse_seed(entry)
        else:
            assert entry in entries, entry["id"]


def test_connector_refuses_to_start_with_a_seed_that_can_never_run(tmp_path: Path) -> None:
    from trustspace.connector.app import create_app
    from trustspace.connector.settings import ConnectorSettings, init_connector

    init_connector(tmp_path / "c", "http://127.0.0.1:1", "http://127.0.0.1:2", "c")
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(base(agreements=[{"id": "A1", "datasetId": "H", "role": "consumer"}])))
    settings = replace(ConnectorSettings.load(tmp_path / "c"), conformance_mode=True, seed=seed)
    with pytest.raises(ValidationFailed) as refused:
        create_app(settings)
    assert refused.value.field == "agreements[0].providerAddress"
