"""Faults at the Dataspace Protocol boundary, over real HTTP: illegal moves, strangers, malformed messages,
offers we never made, unreachable or forgetful counter-parties, and the data plane's gate under a real transfer.

A hand-driven member (``Hand``: a did:key identity admitted by the live operator) plays the counter-party, its
callback a ``Recorder`` that keeps what it is sent; ``as_node`` speaks as a connector itself (its key and
credential) to send what its worker never would; ``paused`` stops a connector's worker so a process stays in
the state a test needs (received messages are still recorded: they never wait for the worker).
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from test_dsp_flow import POLICY, publish, wait_state

from conftest import LiveSpace, Node, start_space
from live import free_port, serve
from trustspace.client.http import Signer
from trustspace.connector.dataplane.tokens import issue_access_token
from trustspace.connector.settings import KEYSTORE_FILE
from trustspace.core.clock import SystemClock
from trustspace.core.ids import credit_code_check_char
from trustspace.core.keys import SigningKey
from trustspace.identity.did import did_key, did_web, verification_method_id
from trustspace.protocol.schemas import DSP_CONTEXT, validate
from trustspace.store.keystore import load_keystore

ERRORS = {"negotiation": "ContractNegotiationError", "transfer": "TransferError"}
MESSAGES = {  # a move, as the tests name it: (endpoint below the process, message type, fixed fields)
    "request": ("request", "ContractRequestMessage", {}),
    "offer": ("offers", "ContractOfferMessage", {}),
    "accept": ("events", "ContractNegotiationEventMessage", {"eventType": "ACCEPTED"}),
    "agree": ("agreement", "ContractAgreementMessage", {}),
    "verify": ("agreement/verification", "ContractAgreementVerificationMessage", {}),
    "finalize": ("events", "ContractNegotiationEventMessage", {"eventType": "FINALIZED"}),
    "terminate": ("termination", "ContractNegotiationTerminationMessage", {"code": "x"}),
    "start": ("start", "TransferStartMessage", {}),
    "suspend": ("suspension", "TransferSuspensionMessage", {"code": "x"}),
    "complete": ("completion", "TransferCompletionMessage", {}),
    "stop": ("termination", "TransferTerminationMessage", {"code": "x"}),
}


def dsp(kind: str, **fields: Any) -> dict[str, Any]:
    return {"@context": [DSP_CONTEXT], "@type": kind, **fields}


def until(check: Any, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Recorder:
    """A callback address that keeps every message it accepts; it answers ``status`` (200: accepted)."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.status = 200
        self.app = FastAPI()

        @self.app.post("/{path:path}")
        async def record(path: str, request: Request) -> JSONResponse:
            if self.status == 200:
                self.got.append(await request.json())
            return JSONResponse({}, self.status)

    def wait(self, kind: str, consumer_pid: str, nth: int = 1) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            hits = [m for m in self.got if m.get("@type") == kind and m.get("consumerPid") == consumer_pid]
            return hits[nth - 1] if len(hits) >= nth else None
        return until(found, f"{kind} #{nth} for {consumer_pid}")  # type: ignore[no-any-return]


@dataclass
class Hand:
    """Speaks DSP by hand, signed by ``signer``; counter-parties answer it at ``callback``."""

    signer: Signer
    callback: str

    def post(self, node: Node, path: str, body: Any) -> httpx.Response:
        return httpx.post(f"{node.url}/dsp{path}", json=body, headers=self.signer.headers(did_web(node.url)))

    def get(self, node: Node, path: str) -> httpx.Response:
        return httpx.get(f"{node.url}/dsp{path}", headers=self.signer.headers(did_web(node.url)))

    def request(self, node: Node, offer: dict[str, Any]) -> tuple[str, str]:
        """(consumerPid, providerPid) of a new negotiation."""
        pid = f"urn:uuid:{uuid.uuid4()}"
        answer = self.post(node, "/negotiations/request", dsp("ContractRequestMessage", consumerPid=pid,
                                                               offer=offer, callbackAddress=self.callback))
        assert answer.status_code == 201, answer.text
        return pid, answer.json()["providerPid"]


def join_by_hand(space: LiveSpace, callback: str) -> Hand:
    key, holder = SigningKey.generate(), {}
    did = did_key(key.public)
    signer = Signer(key, did, verification_method_id(did), SystemClock(), lambda: holder.get("vc"))
    first17 = "9133010" + f"{secrets.randbelow(10**10):010d}"
    applied = httpx.post(f"{space.operator.url}/v1/membership/applications", headers=signer.headers(
        did_web(space.operator.url)), json={"displayName": "by hand", "roles": ["consumer"],
                                            "creditCode": first17 + credit_code_check_char(first17)})
    assert applied.status_code == 201, applied.text
    holder["vc"] = space.admin("POST", f"/v1/membership/applications/{applied.json()['id']}/approve").json()[
        "credential"]
    return Hand(signer, callback)


def as_node(node: Node) -> Hand:
    did, credential = did_web(node.url), node.ok("GET", "/v1/management/membership/credential")
    signer = Signer(load_keystore(node.data_dir / KEYSTORE_FILE), did, verification_method_id(did),
                    SystemClock(), lambda: credential)
    return Hand(signer, f"{node.url}/dsp/callback")


@contextmanager
def paused(node: Node) -> Iterator[None]:
    """The node's worker makes no moves and delivers nothing until the block ends."""
    worker, idle = node.app.state.dsp.worker, threading.Event()
    worker.tick = idle.set  # the worker thread looks tick up on every round
    worker.wake()
    assert idle.wait(10), "the worker did not finish its round"
    try:
        yield
    finally:
        del worker.tick
        worker.wake()


@dataclass
class World:
    space: LiveSpace
    provider: Node
    consumer: Node
    recorder: Recorder
    hand: Hand
    offer: dict[str, Any]

    def moves(self, base: str, cpid: str, ppid: str, names: str) -> list[tuple[str, dict[str, Any]]]:
        agreement = {"@id": f"urn:uuid:{uuid.uuid4()}", "@type": "Agreement", "target": "a", "assigner":
                     did_web(self.provider.url), "assignee": did_web(self.consumer.url),
                     "timestamp": "2025-01-01T00:00:00Z", **POLICY}
        extra = {"request": {"offer": self.offer}, "offer": {"offer": self.offer}, "agree": {"agreement": agreement}}
        found = []
        for name in names.split():
            endpoint, kind, fields = MESSAGES[name]
            found.append((f"{base}/{endpoint}", dsp(kind, consumerPid=cpid, providerPid=ppid, **fields,
                                                    **extra.get(name, {}))))
        return found

    def finalized(self) -> tuple[str, str, str]:
        """(consumerPid, providerPid, agreement id) of a negotiation the hand finished with the provider."""
        cpid, ppid = self.hand.request(self.provider, self.offer)
        agreement = self.recorder.wait("ContractAgreementMessage", cpid)["agreement"]["@id"]
        ok(self.hand.post(self.provider, *self.moves(f"/negotiations/{ppid}", cpid, ppid, "verify")[0]))
        self.recorder.wait("ContractNegotiationEventMessage", cpid)
        return cpid, ppid, agreement

    def transfer(self, agreement: str) -> tuple[str, str]:
        cpid = f"urn:uuid:{uuid.uuid4()}"
        answer = self.hand.post(self.provider, "/transfers/request", dsp(
            "TransferRequestMessage", consumerPid=cpid, agreementId=agreement, format="HttpData-PULL",
            callbackAddress=self.hand.callback))
        assert answer.status_code == 201, answer.text
        return cpid, answer.json()["providerPid"]

    def count(self, kind: str) -> int:
        return len(self.provider.ok("GET", f"/v1/management/{kind}s"))


def make_world(space: LiveSpace, stack: ExitStack, folder: Path) -> World:
    recorder, port = Recorder(), free_port()
    stack.enter_context(serve(recorder.app, port))
    provider = space.connectors["provider"]
    (folder / "a.bin").write_bytes(b"fault-finding " * 1000)
    publish(provider, "a", {"type": "file", "path": str(folder / "a.bin")})
    offer = {"@id": "a-o", "@type": "Offer", "assigner": did_web(provider.url), "target": "a", **POLICY}
    hand = join_by_hand(space, f"http://127.0.0.1:{port}/cb")
    return World(space, provider, space.connectors.get("consumer", provider), recorder, hand, offer)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # One space for the module: every test makes processes of its own and judges only those.
    folder = tmp_path_factory.mktemp("faults")
    with ExitStack() as stack:
        yield make_world(start_space(folder, ("provider", "consumer"), stack), stack, folder)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def refused(response: httpx.Response, kind: str, status: int = 400, code: str | None = None) -> dict[str, Any]:
    """The binding's error: the status, and a typed body with a code and a reason."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["@type"] == ERRORS.get(kind, kind) and body["code"] and body["reason"], body
    assert code is None or body["code"] == code, body
    if code == "illegal-transition":  # then both pids are known, and the body is a schema-valid error
        validate(body, f"{kind}/{'contract-negotiation' if kind == 'negotiation' else kind}-error-schema.json")
    return body  # type: ignore[no-any-return]


def snapshot(node: Node, kind: str, pid: str) -> tuple[Any, ...]:
    store = node.app.state.dsp.store
    record = store.get_negotiation(pid) if kind == "negotiation" else store.get_transfer(pid)
    return record, store.events(0, pid, 1000), store.pending_outbox(pid)


def all_illegal(sender: Hand, node: Node, kind: str, pid: str, moves: list[tuple[str, dict[str, Any]]]) -> None:
    """Every move is answered 400 with the typed error, and the process is exactly as it was."""
    until(lambda: not node.app.state.dsp.store.pending_outbox(pid), f"{pid}'s outbox to drain")
    before = snapshot(node, kind, pid)
    for path, body in moves:
        refused(sender.post(node, path, body), kind, code="illegal-transition")
    assert snapshot(node, kind, pid) == before


def state(node: Node, kind: str, pid: str) -> str:
    return str(node.ok("GET", f"/v1/management/{kind}s/{pid}")["state"])


# --- illegal moves --------------------------------------------------------------------------------------


def test_illegal_moves_on_provider_negotiations_are_400_and_change_nothing(world: World) -> None:
    hand, provider = world.hand, world.provider

    def illegal(cpid: str, ppid: str, names: str) -> None:
        all_illegal(hand, provider, "negotiation", ppid, world.moves(f"/negotiations/{ppid}", cpid, ppid, names))

    with paused(provider):
        cpid, ppid = hand.request(provider, world.offer)
        assert state(provider, "negotiation", ppid) == "REQUESTED"
        # no agreement to verify; ACCEPTED answers an offer; only the provider finalizes; a request answers an offer
        illegal(cpid, ppid, "verify accept finalize request")
    world.recorder.wait("ContractAgreementMessage", cpid)
    assert state(provider, "negotiation", ppid) == "AGREED"
    illegal(cpid, ppid, "accept finalize request")
    with paused(provider):
        ok(hand.post(provider, *world.moves(f"/negotiations/{ppid}", cpid, ppid, "verify")[0]))
        assert state(provider, "negotiation", ppid) == "VERIFIED"
        illegal(cpid, ppid, "verify accept finalize request")
    world.recorder.wait("ContractNegotiationEventMessage", cpid)
    assert state(provider, "negotiation", ppid) == "FINALIZED"
    illegal(cpid, ppid, "verify accept finalize request terminate")

    cpid, ppid = hand.request(provider, world.offer)
    ok(hand.post(provider, *world.moves(f"/negotiations/{ppid}", cpid, ppid, "terminate")[0]))
    assert state(provider, "negotiation", ppid) == "TERMINATED"
    illegal(cpid, ppid, "verify accept finalize request terminate")


def test_illegal_moves_on_provider_transfers_are_400_and_change_nothing(world: World) -> None:
    hand, provider = world.hand, world.provider
    _, _, agreement = world.finalized()

    def moves(cpid: str, ppid: str, names: str) -> list[tuple[str, dict[str, Any]]]:
        return world.moves(f"/transfers/{ppid}", cpid, ppid, names)

    with paused(provider):
        cpid, ppid = world.transfer(agreement)
        # only the provider starts a requested transfer; nothing requested can be suspended or completed
        all_illegal(hand, provider, "transfer", ppid, moves(cpid, ppid, "start suspend complete"))
    world.recorder.wait("TransferStartMessage", cpid)
    all_illegal(hand, provider, "transfer", ppid, moves(cpid, ppid, "start"))
    ok(hand.post(provider, *moves(cpid, ppid, "suspend")[0]))
    all_illegal(hand, provider, "transfer", ppid, moves(cpid, ppid, "suspend complete"))
    ok(hand.post(provider, *moves(cpid, ppid, "start")[0]))  # the consumer may resume what it suspended
    ok(hand.post(provider, *moves(cpid, ppid, "complete")[0]))
    assert state(provider, "transfer", ppid) == "COMPLETED"
    all_illegal(hand, provider, "transfer", ppid, moves(cpid, ppid, "start suspend complete stop"))

    cpid, ppid = world.transfer(agreement)
    ok(hand.post(provider, *moves(cpid, ppid, "stop")[0]))
    all_illegal(hand, provider, "transfer", ppid, moves(cpid, ppid, "start suspend complete stop"))


def acknowledged(world: World, kind: str, body: dict[str, Any]) -> tuple[str, str]:
    """(consumerPid, providerPid) of a process the consumer connector started, once the provider answered."""
    pid = world.consumer.ok("POST", f"/v1/management/{kind}s", json=body)["id"]
    return pid, until(lambda: world.consumer.ok("GET", f"/v1/management/{kind}s/{pid}")["providerPid"], "an ack")


def test_illegal_moves_on_consumer_negotiations_are_400_and_change_nothing(world: World) -> None:
    provider, consumer, as_provider = world.provider, world.consumer, as_node(world.provider)
    parts = provider.app.state.dsp

    def illegal(cpid: str, ppid: str, names: str) -> None:
        moves = world.moves(f"/callback/negotiations/{cpid}", cpid, ppid, names)
        all_illegal(as_provider, consumer, "negotiation", cpid, moves)

    start = {"providerUrl": provider.url, "offer": world.offer}
    with paused(provider):
        cpid, ppid = acknowledged(world, "negotiation", start)
        illegal(cpid, ppid, "accept finalize")  # ACCEPTED is the consumer's word; nothing to finalize yet
        before = snapshot(consumer, "negotiation", cpid)
        path, body = world.moves(f"/callback/negotiations/{cpid}", cpid, ppid, "agree")[0]
        body["agreement"]["target"] = "another-dataset"
        refusal = refused(as_provider.post(consumer, path, body), "negotiation", code="invalid-message")
        assert refusal["reason"][0].startswith("agreement.target"), refusal
        assert snapshot(consumer, "negotiation", cpid) == before
        # The provider agrees and its agreement arrives, but the answer is lost (sent here by hand, it stays in the
        # provider's outbox, as after a crash before the outbox noted it). The consumer verifies.
        parts.negotiations.advance(parts.store.get_negotiation(ppid))
        [queued] = parts.store.pending_outbox(ppid)
        ok(httpx.post(queued.url, json=queued.body, headers=as_provider.signer.headers(queued.audience)))
        until(lambda: state(provider, "negotiation", ppid) == "VERIFIED", "the consumer's verification")
        illegal(cpid, ppid, "offer agree accept")
    # The provider's worker sends the agreement again; the consumer refuses the repeat, having moved on: no end.
    assert wait_state(consumer, f"/v1/management/negotiations/{cpid}", {"FINALIZED", "TERMINATED"})[
        "state"] == "FINALIZED"
    assert state(provider, "negotiation", ppid) == "FINALIZED"
    for node in (consumer, provider):
        assert [a["negotiationId"] for a in node.ok("GET", "/v1/management/agreements")].count(
            cpid if node is consumer else ppid) == 1
    illegal(cpid, ppid, "offer agree accept finalize terminate")

    with paused(provider):
        cpid, ppid = acknowledged(world, "negotiation", start)
        with paused(consumer):  # an agreement (made here) arrives, and the consumer does not verify it
            ok(as_provider.post(consumer, *world.moves(f"/callback/negotiations/{cpid}", cpid, ppid, "agree")[0]))
            illegal(cpid, ppid, "offer agree accept finalize")
            consumer.ok("POST", f"/v1/management/negotiations/{cpid}/terminate", json={"reason": "changed my mind"})
    until(lambda: state(provider, "negotiation", ppid) == "TERMINATED", "the termination")
    illegal(cpid, ppid, "offer agree accept finalize terminate")


def test_illegal_moves_on_consumer_transfers_are_400_and_change_nothing(world: World) -> None:
    provider, consumer, as_provider = world.provider, world.consumer, as_node(world.provider)
    negotiation, _ = acknowledged(world, "negotiation", {"providerUrl": provider.url, "offer": world.offer})
    start = {"agreementId": wait_state(consumer, f"/v1/management/negotiations/{negotiation}", {"FINALIZED"})[
        "agreementId"], "transferType": "HttpData-PULL"}

    def illegal(cpid: str, ppid: str, names: str) -> None:
        all_illegal(as_provider, consumer, "transfer", cpid, world.moves(f"/callback/transfers/{cpid}", cpid, ppid,
                                                                          names))

    def reaches(pid: str, wanted: str) -> None:
        until(lambda: state(consumer, "transfer", pid) == wanted, wanted)

    with ExitStack() as provider_paused:
        provider_paused.enter_context(paused(provider))
        cpid, ppid = acknowledged(world, "transfer", start)
        illegal(cpid, ppid, "suspend complete")  # nothing started can be suspended or completed
        with paused(consumer):  # it records what arrives, but does not pull
            provider_paused.close()
            reaches(cpid, "STARTED")
            illegal(cpid, ppid, "start")
            provider.ok("POST", f"/v1/management/transfers/{ppid}/suspend")
            reaches(cpid, "SUSPENDED")
            illegal(cpid, ppid, "suspend complete")  # only a running transfer completes
            provider.ok("POST", f"/v1/management/transfers/{ppid}/terminate")
            reaches(cpid, "TERMINATED")
            illegal(cpid, ppid, "start suspend complete stop")

    cpid, ppid = acknowledged(world, "transfer", start)
    wait_state(consumer, f"/v1/management/transfers/{cpid}", {"COMPLETED"})
    illegal(cpid, ppid, "start suspend complete stop")


# --- who may see what, and what a message must look like ---------------------------------------------------


def test_unknown_and_foreign_processes_are_404(world: World) -> None:
    provider, consumer = world.provider, world.consumer
    stranger = join_by_hand(world.space, world.hand.callback)  # a member too, but these are not its processes
    cpid, ppid, agreement = world.finalized()
    tcpid, tppid = world.transfer(agreement)
    for kind in ("negotiation", "transfer"):
        refused(world.hand.get(provider, f"/{kind}s/urn:uuid:{uuid.uuid4()}"), kind, 404, "unknown-process")
        refused(world.hand.get(consumer, f"/callback/{kind}s/urn:uuid:{uuid.uuid4()}"), kind, 404, "unknown-process")
    assert ok(world.hand.get(provider, f"/negotiations/{ppid}"))["state"] == "FINALIZED"
    assert ok(world.hand.get(provider, f"/transfers/{tppid}"))["state"] in ("STARTED", "REQUESTED")
    until(lambda: state(provider, "transfer", tppid) == "STARTED", "the start")
    before = snapshot(provider, "negotiation", ppid), snapshot(provider, "transfer", tppid)
    refused(stranger.get(provider, f"/negotiations/{ppid}"), "negotiation", 404, "unknown-process")
    refused(stranger.get(provider, f"/transfers/{tppid}"), "transfer", 404, "unknown-process")
    refused(stranger.post(provider, *world.moves(f"/negotiations/{ppid}", cpid, ppid, "terminate")[0]),
            "negotiation", 404, "unknown-process")
    refused(stranger.post(provider, *world.moves(f"/transfers/{tppid}", tcpid, tppid, "suspend")[0]),
            "transfer", 404, "unknown-process")
    assert (snapshot(provider, "negotiation", ppid), snapshot(provider, "transfer", tppid)) == before


def test_malformed_messages_are_400_naming_the_field(world: World) -> None:
    hand, provider = world.hand, world.provider
    negotiations, transfers = world.count("negotiation"), world.count("transfer")
    request = dsp("ContractRequestMessage", consumerPid="urn:uuid:x", offer=world.offer, callbackAddress=hand.callback)
    for field, broken in (
        ("consumerPid", {k: v for k, v in request.items() if k != "consumerPid"}),
        ("offer", {k: v for k, v in request.items() if k != "offer"}),
        ("consumerPid", {**request, "consumerPid": 7}),
        ("@context", {**request, "@context": ["https://example.com/not-dsp.jsonld"]}),
        ("@type", {**request, "@type": "ContractOfferMessage"}),
    ):
        refusal = refused(hand.post(provider, "/negotiations/request", broken), "negotiation", code="invalid-message")
        assert refusal["reason"][0].startswith(field), (field, refusal)
    refused(hand.post(provider, "/negotiations/request", ["not", "an", "object"]), "negotiation", 400)
    assert world.count("negotiation") == negotiations

    with paused(provider):
        cpid, ppid = hand.request(provider, world.offer)
        before = snapshot(provider, "negotiation", ppid)
        pids = {"consumerPid": cpid, "providerPid": ppid}
        # a legal move's endpoint with another message, or another process's pid, in it: nothing is applied
        for path, body in (
            ("termination", dsp("ContractAgreementVerificationMessage", **pids)),
            ("termination", dsp("NoSuchMessage", **pids)),
            ("events", dsp("ContractNegotiationTerminationMessage", eventType="FINALIZED", code="x", **pids)),
            ("events", dsp("ContractNegotiationEventMessage", eventType="REJECTED", **pids)),
            ("termination", dsp("ContractNegotiationTerminationMessage", code="x", **{**pids, "consumerPid": "x"})),
        ):
            refusal = refused(hand.post(provider, f"/negotiations/{ppid}/{path}", body), "negotiation", 400,
                              "invalid-message")
            assert refusal["reason"][0].split(":")[0] in ("@type", "eventType", "consumerPid"), refusal
        assert snapshot(provider, "negotiation", ppid) == before
    _, _, agreement = world.finalized()
    transfer = dsp("TransferRequestMessage", consumerPid="urn:uuid:t", agreementId=agreement,
                   format="HttpData-PULL", callbackAddress=hand.callback)
    for field, broken in (("agreementId", {k: v for k, v in transfer.items() if k != "agreementId"}),
                          ("@type", {**transfer, "@type": "TransferStartMessage"}),
                          ("format", {**transfer, "format": "FTP-PULL"})):
        refusal = refused(hand.post(provider, "/transfers/request", broken), "transfer", code="invalid-message")
        assert refusal["reason"][0].startswith(field), (field, refusal)
    assert world.count("transfer") == transfers


def test_offers_we_never_made_are_refused(world: World) -> None:
    count = world.count("negotiation")
    for field, offer in (("offer.@id", {**world.offer, "@id": "no-such-offer"}),
                         ("offer.target", {**world.offer, "target": "another-dataset"}),
                         ("offer.permission", {**world.offer, "permission": [{"action": "use"}]})):
        body = dsp("ContractRequestMessage", consumerPid=f"urn:uuid:{uuid.uuid4()}", offer=offer,
                   callbackAddress=world.hand.callback)
        refusal = refused(world.hand.post(world.provider, "/negotiations/request", body), "negotiation", 400)
        assert refusal["reason"][0].startswith(field), refusal
    assert world.count("negotiation") == count


def test_same_initial_request_twice_is_one_process(world: World) -> None:
    hand, provider, cpid = world.hand, world.provider, f"urn:uuid:{uuid.uuid4()}"
    _, _, agreement = world.finalized()
    for kind, body in (
        ("negotiation", dsp("ContractRequestMessage", consumerPid=cpid, offer=world.offer,
                            callbackAddress=hand.callback)),
        ("transfer", dsp("TransferRequestMessage", consumerPid=cpid, agreementId=agreement, format="HttpData-PULL",
                         callbackAddress=hand.callback)),
    ):
        first, again = (hand.post(provider, f"/{kind}s/request", body) for _ in range(2))
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["providerPid"] == again.json()["providerPid"]
        assert [p["consumerPid"] for p in provider.ok("GET", f"/v1/management/{kind}s")].count(cpid) == 1


# --- counter-parties that cannot be reached, agreements that do not hold, tokens that do not fit -------------


def test_unreachable_callback_is_named_then_ends_the_negotiation(tmp_path: Path) -> None:
    with ExitStack() as stack:
        space = start_space(tmp_path, ("provider",), stack, tune=lambda s: dataclasses.replace(s, process_deadline=2))
        world = make_world(space, stack, tmp_path)
        nowhere = f"http://127.0.0.1:{free_port()}/callback"
        hand = dataclasses.replace(world.hand, callback=nowhere)
        cpid, ppid = hand.request(world.provider, world.offer)
        path, store = f"/v1/management/negotiations/{ppid}", world.provider.app.state.dsp.store
        waiting = until(lambda: (n := world.provider.ok("GET", path))["reason"] and n, "a reason")
        assert waiting["state"] == "AGREED" and f"cannot reach {nowhere}/negotiations/" in waiting["reason"], waiting
        wait_state(world.provider, path, {"TERMINATED"}, timeout=10)
        until(lambda: (m := store.pending_outbox(ppid)) and m[0].attempts >= 2, "the termination to be retried")
        ended = world.provider.ok("GET", path)  # failing to deliver the termination keeps why it ended
        assert "deadline" in ended["reason"] and nowhere in ended["reason"], ended
        outbox = store.pending_outbox(ppid)
        refused(hand.post(world.provider, *world.moves(f"/negotiations/{ppid}", cpid, ppid, "terminate")[0]),
                "negotiation", code="illegal-transition")
        assert store.pending_outbox(ppid) == outbox, "a refused termination changes nothing"


def test_transfer_needs_a_finalized_negotiation(world: World) -> None:
    hand, provider, count = world.hand, world.provider, world.count("transfer")
    cpid, ppid = hand.request(provider, world.offer)
    agreement = world.recorder.wait("ContractAgreementMessage", cpid)["agreement"]["@id"]

    def refusal() -> str:
        body = dsp("TransferRequestMessage", consumerPid=f"urn:uuid:{uuid.uuid4()}", agreementId=agreement,
                   format="HttpData-PULL", callbackAddress=hand.callback)
        return str(refused(hand.post(provider, "/transfers/request", body), "transfer", 400)["reason"][0])

    assert "not FINALIZED" in refusal()  # agreed, never verified
    ok(hand.post(provider, *world.moves(f"/negotiations/{ppid}", cpid, ppid, "terminate")[0]))
    assert "not FINALIZED" in refusal()  # terminated
    assert world.count("transfer") == count


def test_data_pulls_need_this_transfers_live_token_and_a_started_transfer(world: World) -> None:
    provider, recorder = world.provider, world.recorder
    _, _, agreement = world.finalized()
    (cpid, ppid), (other_cpid, _) = world.transfer(agreement), world.transfer(agreement)

    def token(pid: str, nth: int = 1) -> str:
        address = recorder.wait("TransferStartMessage", pid, nth)["dataAddress"]
        return str(next(p["value"] for p in address["endpointProperties"] if p["name"] == "authorization"))

    def pull(bearer: str, status: int, slug: str = "") -> None:
        answer = httpx.get(f"{provider.url}/data/{ppid}", headers={"Authorization": f"Bearer {bearer}"})
        assert answer.status_code == status, answer.text
        if status == 200:
            assert answer.content == b"fault-finding " * 1000
        else:
            assert answer.json()["type"].endswith(slug), answer.text

    pull(token(cpid), 200)
    expired = issue_access_token(load_keystore(provider.data_dir / KEYSTORE_FILE), issuer=did_web(provider.url),
                                 audience=world.hand.signer.did, transfer_id=ppid, agreement_id=agreement,
                                 now=SystemClock().now() - timedelta(hours=2), lifetime=3600)
    pull(expired, 401, "data-token-expired")
    pull(token(other_cpid), 401, "data-token-foreign")
    provider.ok("POST", f"/v1/management/transfers/{ppid}/suspend")
    pull(token(cpid), 403, "transfer-suspended")  # at once, with a token still valid
    provider.ok("POST", f"/v1/management/transfers/{ppid}/resume")
    pull(token(cpid), 200)
    pull(token(cpid, nth=2), 200)  # resuming sent a fresh token too
    # Completing (here) and terminating (the other transfer) through the management API end access at once.
    assert provider.ok("POST", f"/v1/management/transfers/{ppid}/complete")["state"] == "COMPLETED"
    recorder.wait("TransferCompletionMessage", cpid)
    pull(token(cpid, nth=2), 403, "transfer-ended")
    listed = provider.ok("GET", "/v1/management/transfers")
    other = next(t["id"] for t in listed if t.get("consumerPid") == other_cpid)
    provider.ok("POST", f"/v1/management/transfers/{other}/terminate", json={"reason": "audit found a problem"})
    recorder.wait("TransferTerminationMessage", other_cpid)
    answer = httpx.get(f"{provider.url}/data/{other}", headers={"Authorization": f"Bearer {token(other_cpid)}"})
    assert answer.status_code == 403 and answer.json()["type"].endswith("transfer-ended"), answer.text


# --- deliveries that fail ------------------------------------------------------------------------------


def test_a_process_messages_arrive_in_order_after_a_failed_delivery(world: World) -> None:
    provider, recorder, store = world.provider, world.recorder, world.provider.app.state.dsp.store
    _, _, agreement = world.finalized()
    recorder.status = 503
    try:
        cpid, ppid = world.transfer(agreement)
        until(lambda: (m := store.pending_outbox(ppid)) and m[0].attempts >= 3, "the start to be retried")
        provider.ok("POST", f"/v1/management/transfers/{ppid}/suspend")  # queued behind the start, due at once
    finally:
        recorder.status = 200
    recorder.wait("TransferSuspensionMessage", cpid)
    assert [m["@type"] for m in recorder.got if m.get("consumerPid") == cpid] == [
        "TransferStartMessage", "TransferSuspensionMessage"]
    assert state(provider, "transfer", ppid) == "SUSPENDED"

