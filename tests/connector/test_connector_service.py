"""A real operator and real connectors on 127.0.0.1 sockets: membership, registration, heartbeats,
connector-to-connector calls, revocation, and secrets kept out of logs and answers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from live import free_port, serve, wait_until
from trustspace.connector.app import create_app as connector_app
from trustspace.connector.settings import ConnectorSettings, init_connector
from trustspace.operator.app import create_app as operator_app
from trustspace.operator.settings import OperatorSettings


@dataclass
class Node:
    url: str
    data_dir: Path

    def key(self, name: str) -> dict[str, str]:
        return {"X-API-Key": (self.data_dir / name).read_text().strip()}


@dataclass
class Space:
    operator: Node
    connectors: list[Node]

    def call(self, node: Node, method: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.request(method, node.url + path, headers=node.key("management-api-key"), timeout=10,
                             **kwargs)  # type: ignore[arg-type]

    def admin(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return httpx.request(method, self.operator.url + path, headers=self.operator.key("admin-api-key"),
                             timeout=10, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    op_port = free_port()
    op_url = f"http://127.0.0.1:{op_port}"
    settings = OperatorSettings(data_dir=tmp_path / "operator", public_url=op_url, heartbeat_interval=0.2,
                                status_list_ttl=0.0)
    with serve(operator_app(settings), op_port):
        nodes, stack = [], []
        for name in ("tax", "bank"):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            init_connector(tmp_path / name, url, op_url, name)
            app = connector_app(ConnectorSettings.load(tmp_path / name, heartbeat_interval=0.2, status_list_ttl=0.0))
            cm = serve(app, port)
            cm.__enter__()
            stack.append(cm)
            nodes.append(Node(url, tmp_path / name))
        try:
            yield Space(Node(op_url, tmp_path / "operator"), nodes)
        finally:
            for cm in reversed(stack):
                cm.__exit__(None, None, None)


def join(space: Space, node: Node, code: str) -> None:
    applied = space.call(node, "POST", "/v1/management/membership/apply",
                         json={"displayName": node.data_dir.name, "creditCode": code, "roles": ["consumer"]})
    assert applied.status_code == 201, applied.text
    approved = space.admin("POST", f"/v1/membership/applications/{applied.json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    refreshed = space.call(node, "POST", "/v1/management/membership/refresh")
    assert refreshed.json()["membership"]["member"] is True
    assert space.call(node, "POST", "/v1/management/registration").status_code == 201


def test_join_register_heartbeat_and_call_a_peer(space: Space, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tax, bank = space.connectors
    before = space.call(bank, "POST", "/v1/management/registration")
    assert before.status_code == 409, "registration needs membership first"
    join(space, tax, "91350100M000100Y43")
    join(space, bank, "91330100MA2B3C4D5" + _check("91330100MA2B3C4D5"))

    def beating() -> bool:
        rows = space.admin("GET", "/v1/connectors").json()
        return len(rows) == 2 and all(r["lastHeartbeat"] != r["registeredAt"] for r in rows)

    wait_until(beating)
    ping = space.call(bank, "POST", "/v1/management/peers/ping", json={"url": tax.url})
    assert ping.status_code == 200, ping.text
    assert ping.json()["caller"].startswith("did:web:127.0.0.1")

    status = space.call(bank, "GET", "/v1/management/status").json()
    assert status["membership"]["member"] and status["registration"]["connectorId"]

    bank_did = status["did"]
    space.admin("POST", "/v1/members/revoke", json={"did": bank_did, "reason": "test"})
    refused = space.call(bank, "POST", "/v1/management/peers/ping", json={"url": tax.url})
    assert refused.status_code == 502
    assert "revoked" in refused.json()["detail"]

    _assert_no_secret_leaks(space, caplog)


def test_management_api_refuses_without_key(space: Space) -> None:
    tax = space.connectors[0]
    response = httpx.get(tax.url + "/v1/management/status")
    assert response.status_code == 401 and response.json()["field"] == "X-API-Key"
    unknown_peer = space.call(tax, "POST", "/v1/management/peers/ping", json={"url": "not a url"})
    assert unknown_peer.status_code == 422 and unknown_peer.json()["field"] == "url"


def test_keystore_is_private(space: Space) -> None:
    for node in space.connectors:
        assert (node.data_dir / "connector.key.json").stat().st_mode & 0o077 == 0


def _assert_no_secret_leaks(space: Space, caplog: pytest.LogCaptureFixture) -> None:
    import json

    secrets = []
    for node in [space.operator, *space.connectors]:
        for name in ("connector.key.json", "operator.key.json"):
            path = node.data_dir / name
            if path.exists():
                secrets.append(json.loads(path.read_text())["privateKeyMultibase"])
    assert secrets
    answers = [space.call(n, "GET", "/v1/management/status").text for n in space.connectors]
    answers += [httpx.get(n.url + "/.well-known/did.json").text for n in space.connectors]
    for secret in secrets:
        assert secret not in caplog.text
        assert secret[1:] not in caplog.text
        assert all(secret not in answer for answer in answers)


def _check(first17: str) -> str:
    from trustspace.core.ids import credit_code_check_char

    return credit_code_check_char(first17)
