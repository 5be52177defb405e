"""Crash safety of the Dataspace Protocol connector: operator, provider and consumer run as separate processes;
the provider is killed with SIGKILL in the middle of a negotiation or a transfer and restarted on the same
data folder and port. The process still finishes, and nothing is applied twice.

The consumer's public URL is a switchable proxy (``Gate``) in front of it, so a test can make the provider's
messages to the consumer fail at will (the consumer still reaches the provider directly) and kill the
provider at a known point: with the agreement, or the transfer's start, waiting in its outbox.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from test_dsp_flow import publish, wait_state

from conftest import LiveSpace, Node
from live import free_port, serve
from trustspace.connector.settings import init_connector
from trustspace.demo.processes import Service, Supervisor

pytestmark = pytest.mark.system


class Gate:
    """An HTTP proxy on ``port`` forwarding to ``target``; ``close`` makes the port refuse connections."""

    def __init__(self, port: int, target: str) -> None:
        self.port, self.stack = port, ExitStack()
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "POST", "PUT"])
        async def forward(path: str, request: Request) -> Response:
            headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.request(request.method, f"{target}/{path}", params=request.query_params,
                                              content=await request.body(), headers=headers)
            kept = {k: v for k, v in answer.headers.items()
                    if k not in ("content-length", "transfer-encoding", "content-encoding")}
            return Response(answer.content, answer.status_code, headers=kept)

    def open(self) -> None:
        self.stack.enter_context(serve(self.app, self.port))

    def close(self) -> None:
        self.stack.close()


@dataclass
class Cluster:
    supervisor: Supervisor
    space: LiveSpace
    gate: Gate
    provider_service: Service
    data: Path

    @property
    def provider(self) -> Node:
        return self.space.connectors["provider"]

    @property
    def consumer(self) -> Node:
        return self.space.connectors["consumer"]

    def kill_provider(self) -> None:
        os.killpg(self.provider_service.process.pid, signal.SIGKILL)
        self.provider_service.process.wait()

    def start_provider(self) -> None:
        self.provider_service = start_connector(self.supervisor, self.provider)

    def events(self, node: Node, process_id: str) -> list[dict[str, Any]]:
        stream = node.manage("GET", "/v1/management/events", params={"processId": process_id, "follow": "false"})
        return [json.loads(line[len("data: "):]) for line in stream.text.splitlines() if line.startswith("data: ")]


def start_connector(supervisor: Supervisor, node: Node) -> Service:
    """Listening on ``node.url``, which is also where the test manages it (the consumer's public URL differs)."""
    service = supervisor.start(node.name, node.url, ["connector", "start", "--data-dir", str(node.data_dir),
                                                     "--port", node.url.rsplit(":", 1)[1], "--status-list-ttl", "1"])
    supervisor.wait_ready(service)
    return service


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("crash")
    supervisor = Supervisor(root)
    op_port = free_port()
    operator = Node("operator", f"http://127.0.0.1:{op_port}", root / "operator")
    try:
        supervisor.wait_ready(supervisor.start("operator", operator.url, [
            "operator", "start", "--data-dir", str(operator.data_dir), "--port", str(op_port),
            "--status-list-ttl", "1"]))
        nodes = {name: Node(name, f"http://127.0.0.1:{free_port()}", root / name) for name in ("provider", "consumer")}
        gate = Gate(free_port(), nodes["consumer"].url)  # the consumer's public URL; it listens behind the gate
        for node in nodes.values():
            public = f"http://127.0.0.1:{gate.port}" if node.name == "consumer" else node.url
            settings = init_connector(node.data_dir, public, operator.url, node.name)
            dataclasses.replace(settings, worker_poll=0.2).save()
        gate.open()
        provider_service = start_connector(supervisor, nodes["provider"])
        start_connector(supervisor, nodes["consumer"])
        space = LiveSpace(operator, nodes)
        for node in nodes.values():
            space.join(node)
        yield Cluster(supervisor, space, gate, provider_service, root / "data")
        gate.close()
    finally:
        supervisor.stop_all()


@pytest.fixture
def cluster_up(cluster: Cluster) -> Iterator[Cluster]:
    yield cluster
    cluster.gate.close()  # whatever the test left, the next one starts with both connectors reachable
    cluster.gate.open()
    if cluster.provider_service.process.poll() is not None:
        cluster.start_provider()


def offer_for(cluster: Cluster, asset_id: str, content: bytes) -> dict[str, Any]:
    cluster.data.mkdir(exist_ok=True)
    (cluster.data / asset_id).write_bytes(content)
    publish(cluster.provider, asset_id, {"type": "file", "path": str(cluster.data / asset_id)})
    catalog = cluster.consumer.ok("POST", "/v1/management/catalog/request", json={"providerUrl": cluster.provider.url})
    offer: dict[str, Any] = next(d for d in catalog["dataset"] if d["@id"] == asset_id)["hasPolicy"][0]
    return {**offer, "target": asset_id}


def negotiation_started(cluster: Cluster, offer: dict[str, Any]) -> str:
    body = {"providerUrl": cluster.provider.url, "offer": offer}
    return str(cluster.consumer.ok("POST", "/v1/management/negotiations", json=body)["id"])


def provider_side(cluster: Cluster, kind: str, consumer_pid: str) -> dict[str, Any]:
    found = [p for p in cluster.provider.ok("GET", f"/v1/management/{kind}s") if p["consumerPid"] == consumer_pid]
    assert len(found) <= 1, found
    return found[0] if found else {}


def until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def applied_once(events: list[dict[str, Any]]) -> list[str]:
    """The states a process went through; each transition must appear once (notes repeat the current state)."""
    states = [e["state"] for i, e in enumerate(events) if i == 0 or e["state"] != events[i - 1]["state"]]
    assert len(states) == len(set(states)), states
    moves = [e["detail"] for e in events if e["detail"].endswith((" received", " queued"))]
    assert len(moves) == len(set(moves)), moves
    return states


def assert_finalized_once(cluster: Cluster, consumer_pid: str) -> None:
    mine = wait_state(cluster.consumer, f"/v1/management/negotiations/{consumer_pid}", {"FINALIZED"}, timeout=90)
    theirs = until(lambda: (p := provider_side(cluster, "negotiation", consumer_pid)).get("state") == "FINALIZED"
                   and p, "the provider to finalize")
    agreements = [a for a in cluster.consumer.ok("GET", "/v1/management/agreements")
                  if a["negotiationId"] == consumer_pid]
    assert [a["id"] for a in agreements] == [mine["agreementId"]] == [theirs["agreementId"]]
    assert [a["negotiationId"] for a in cluster.provider.ok("GET", "/v1/management/agreements")
            if a["id"] == mine["agreementId"]] == [theirs["id"]]
    assert applied_once(cluster.events(cluster.consumer, consumer_pid))[-1] == "FINALIZED"
    assert applied_once(cluster.events(cluster.provider, theirs["id"])) == ["REQUESTED", "AGREED", "VERIFIED",
                                                                            "FINALIZED"]


def test_provider_killed_right_after_the_request_still_finalizes_once(cluster_up: Cluster) -> None:
    offer = offer_for(cluster_up, "early", b"early bird")
    pid = negotiation_started(cluster_up, offer)
    until(lambda: provider_side(cluster_up, "negotiation", pid), "the provider to record the request")
    # Wherever the provider is now (agreeing, or sending the agreement) it dies. Killed while sending, it left the
    # message leased: the restarted worker sends it again once the 30 s lease runs out, hence the long waits.
    cluster_up.kill_provider()
    cluster_up.start_provider()
    assert_finalized_once(cluster_up, pid)


def test_provider_killed_with_the_agreement_in_its_outbox_still_finalizes_once(cluster_up: Cluster) -> None:
    offer = offer_for(cluster_up, "outboxed", b"held back")
    cluster_up.gate.close()
    pid = negotiation_started(cluster_up, offer)
    waiting = until(lambda: (p := provider_side(cluster_up, "negotiation", pid)).get("reason") and p,
                    "the agreement to fail to arrive")
    assert waiting["state"] == "AGREED" and "/agreement" in waiting["reason"], waiting
    cluster_up.kill_provider()
    cluster_up.gate.open()
    cluster_up.start_provider()
    assert_finalized_once(cluster_up, pid)


def agreed(cluster: Cluster, asset_id: str, content: bytes) -> str:
    pid = negotiation_started(cluster, offer_for(cluster, asset_id, content))
    return str(wait_state(cluster.consumer, f"/v1/management/negotiations/{pid}", {"FINALIZED"})["agreementId"])


def assert_completed_once(cluster: Cluster, transfer_id: str, content: bytes) -> None:
    done = wait_state(cluster.consumer, f"/v1/management/transfers/{transfer_id}", {"COMPLETED", "TERMINATED"},
                      timeout=90)
    assert done["state"] == "COMPLETED", done
    assert done["details"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert hashlib.sha256(cluster.consumer.received(done)).digest() == hashlib.sha256(content).digest()
    theirs = until(lambda: (p := provider_side(cluster, "transfer", transfer_id)).get("state") == "COMPLETED"
                   and p, "the provider to complete")
    assert applied_once(cluster.events(cluster.consumer, transfer_id)) == ["REQUESTED", "STARTED", "COMPLETED"]
    assert applied_once(cluster.events(cluster.provider, theirs["id"])) == ["REQUESTED", "STARTED", "COMPLETED"]


def test_provider_killed_before_the_pull_still_completes_with_the_right_digest(cluster_up: Cluster) -> None:
    content = os.urandom(3 * 1024 * 1024)
    agreement = agreed(cluster_up, "before-pull", content)
    cluster_up.gate.close()
    transfer = cluster_up.consumer.ok("POST", "/v1/management/transfers",
                                      json={"agreementId": agreement, "transferType": "HttpData-PULL"})["id"]
    waiting = until(lambda: (p := provider_side(cluster_up, "transfer", transfer)).get("reason") and p,
                    "the start message to fail to arrive")
    assert waiting["state"] == "STARTED" and "/start" in waiting["reason"], waiting
    cluster_up.kill_provider()
    cluster_up.gate.open()
    cluster_up.start_provider()
    assert_completed_once(cluster_up, transfer, content)


def test_provider_killed_during_the_pull_still_completes_with_the_right_digest(cluster_up: Cluster) -> None:
    content = os.urandom(64 * 1024 * 1024)
    agreement = agreed(cluster_up, "during-pull", content)
    transfer = cluster_up.consumer.ok("POST", "/v1/management/transfers",
                                      json={"agreementId": agreement, "transferType": "HttpData-PULL"})["id"]
    wait_state(cluster_up.consumer, f"/v1/management/transfers/{transfer}", {"STARTED", "COMPLETED"})
    cluster_up.kill_provider()  # the consumer is pulling (or has just pulled) the 64 MiB
    cluster_up.start_provider()
    assert_completed_once(cluster_up, transfer, content)
