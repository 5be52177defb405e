"""A small live data space for connector tests: a real operator and connectors on 127.0.0.1 sockets, each
a member with its credential, registered and ready to talk the Dataspace Protocol."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from live import free_port, serve
from trustspace.connector.app import create_app as connector_app
from trustspace.connector.settings import ConnectorSettings, init_connector
from trustspace.core.ids import credit_code_check_char
from trustspace.operator.app import create_app as operator_app
from trustspace.operator.settings import OperatorSettings


@dataclass
class Node:
    name: str
    url: str
    data_dir: Path
    app: Any = None

    def key(self, name: str) -> dict[str, str]:
        return {"X-API-Key": (self.data_dir / name).read_text().strip()}

    def manage(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=self.key("management-api-key"), timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.manage(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def received(self, transfer: dict[str, Any], purpose: str = "test") -> bytes:
        """A completed transfer's data, as a local application gets it: sealed in the protected store and read
        through the usage API."""
        item = transfer["details"]["protectedItem"]
        answer = self.manage("POST", "/v1/usage/read", json={"agreementId": transfer["agreementId"], "itemId": item,
                                                             "purpose": purpose, "application": "tests"})
        assert answer.status_code == 200, answer.text
        return answer.content


@dataclass
class LiveSpace:
    operator: Node
    connectors: dict[str, Node]

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.operator.url + path, headers=self.operator.key("admin-api-key"),
                             timeout=10, **kwargs)

    def join(self, node: Node, roles: tuple[str, ...] = ("provider", "consumer")) -> None:
        first17 = "9133010" + f"{abs(hash(node.name)) % 10**10:010d}"
        applied = node.ok("POST", "/v1/management/membership/apply", json={
            "displayName": node.name, "creditCode": first17 + credit_code_check_char(first17), "roles": list(roles)})
        approved = self.admin("POST", f"/v1/membership/applications/{applied['id']}/approve")
        assert approved.status_code == 200, approved.text
        assert node.ok("POST", "/v1/management/membership/refresh")["membership"]["member"] is True


def start_space(tmp_path: Path, names: tuple[str, ...], stack: ExitStack,
                tune: Callable[[ConnectorSettings], ConnectorSettings] | None = None) -> LiveSpace:
    op_port = free_port()
    op_url = f"http://127.0.0.1:{op_port}"
    stack.enter_context(serve(operator_app(OperatorSettings(data_dir=tmp_path / "operator", public_url=op_url,
                                                            status_list_ttl=0.0)), op_port))
    nodes = {}
    for name in names:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        init_connector(tmp_path / name, url, op_url, name)
        settings = ConnectorSettings.load(tmp_path / name, status_list_ttl=5.0, worker_poll=0.2)
        app = connector_app(tune(settings) if tune else settings)
        stack.enter_context(serve(app, port))
        nodes[name] = Node(name, url, tmp_path / name, app)
    space = LiveSpace(Node("operator", op_url, tmp_path / "operator"), nodes)
    for node in nodes.values():
        space.join(node)
    return space


@pytest.fixture
def live_space(tmp_path: Path) -> Iterator[LiveSpace]:
    with ExitStack() as stack:
        yield start_space(tmp_path, ("provider", "consumer"), stack)
