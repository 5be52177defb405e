"""Two connectors agree a contract and move data over the Dataspace Protocol, as real HTTP services."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from conftest import LiveSpace, Node

POLICY = {"permission": [{"action": "use", "constraint": [
    {"leftOperand": "trustspace:role", "operator": "isAnyOf", "rightOperand": ["consumer"]}]}]}


def publish(node: Node, asset_id: str, address: dict[str, Any], policy: dict[str, Any] = POLICY) -> None:
    node.ok("POST", "/v1/management/assets", json={"id": asset_id, "title": f"{asset_id} title",
                                                   "dataAddress": address, "properties": {"keyword": ["k"]}})
    node.ok("POST", "/v1/management/policies", json={"id": f"{asset_id}-p", "policy": policy})
    node.ok("POST", "/v1/management/offers", json={"id": f"{asset_id}-o", "assetId": asset_id,
                                                   "policyId": f"{asset_id}-p"})


def wait_state(node: Node, path: str, states: set[str], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    process: dict[str, Any] = {}
    while time.monotonic() < deadline:
        process = node.ok("GET", path)
        if process["state"] in states:
            return process
        time.sleep(0.05)
    raise AssertionError(f"{path} stuck in {process.get('state')}: {process.get('reason')}")


def negotiate(space: LiveSpace, asset_id: str) -> dict[str, Any]:
    provider, consumer = space.connectors["provider"], space.connectors["consumer"]
    catalog = consumer.ok("POST", "/v1/management/catalog/request", json={"providerUrl": provider.url})
    dataset = next(d for d in catalog["dataset"] if d["@id"] == asset_id)
    started = consumer.ok("POST", "/v1/management/negotiations",
                          json={"providerUrl": provider.url, "offer": dataset["hasPolicy"][0], "datasetId": asset_id})
    return wait_state(consumer, f"/v1/management/negotiations/{started['id']}", {"FINALIZED", "TERMINATED"})


def test_negotiate_then_pull_and_push(live_space: LiveSpace, tmp_path: Path) -> None:
    provider, consumer = live_space.connectors["provider"], live_space.connectors["consumer"]
    source = tmp_path / "data.bin"
    source.write_bytes(bytes(range(256)) * 4000)
    publish(provider, "file-asset", {"type": "file", "path": str(source)})

    negotiation = negotiate(live_space, "file-asset")
    assert negotiation["state"] == "FINALIZED", negotiation
    agreement = consumer.ok("GET", f"/v1/management/agreements/{negotiation['agreementId']}")
    assert agreement["document"]["target"] == "file-asset"
    provider_side = provider.ok("GET", "/v1/management/agreements")
    assert [a["id"] for a in provider_side] == [agreement["id"]]

    for kind in ("HttpData-PULL", "HttpData-PUSH"):
        started = consumer.ok("POST", "/v1/management/transfers",
                              json={"agreementId": agreement["id"], "transferType": kind})
        done = wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED", "TERMINATED"})
        assert done["state"] == "COMPLETED", done
        received = consumer.received(done)
        assert hashlib.sha256(received).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()


def test_sql_source_pulled_as_csv(live_space: LiveSpace, tmp_path: Path) -> None:
    provider, consumer = live_space.connectors["provider"], live_space.connectors["consumer"]
    db = tmp_path / "src.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(2000)])
    publish(provider, "sql-asset", {"type": "sql", "url": f"sqlite:///{db}", "query": "SELECT * FROM t",
                                    "format": "csv"})
    negotiation = negotiate(live_space, "sql-asset")
    started = consumer.ok("POST", "/v1/management/transfers",
                          json={"agreementId": negotiation["agreementId"], "transferType": "HttpData-PULL"})
    done = wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED", "TERMINATED"})
    assert done["state"] == "COMPLETED", done
    assert len(consumer.received(done).decode().splitlines()) == 2001


def test_policy_refusal_terminates_with_reason(live_space: LiveSpace, tmp_path: Path) -> None:
    provider = live_space.connectors["provider"]
    (tmp_path / "x").write_text("x")
    publish(provider, "gov-only", {"type": "file", "path": str(tmp_path / "x")},
            {"permission": [{"action": "use", "constraint": [
                {"leftOperand": "trustspace:space", "operator": "eq", "rightOperand": "another-space"}]}]})
    negotiation = negotiate(live_space, "gov-only")
    assert negotiation["state"] == "TERMINATED"
    assert "policy not satisfied" in negotiation["reason"]


def test_events_stream_lists_state_changes(live_space: LiveSpace, tmp_path: Path) -> None:
    provider, consumer = live_space.connectors["provider"], live_space.connectors["consumer"]
    (tmp_path / "y").write_text("y")
    publish(provider, "e-asset", {"type": "file", "path": str(tmp_path / "y")})
    negotiate(live_space, "e-asset")
    stream = consumer.manage("GET", "/v1/management/events", params={"follow": "false"})
    assert stream.headers["content-type"].startswith("text/event-stream")
    states = [line.split('"state": "')[1].split('"')[0] for line in stream.text.splitlines()
              if line.startswith("data:")]
    assert states[0] == "REQUESTED" and states[-1] == "FINALIZED" and "AGREED" in states
