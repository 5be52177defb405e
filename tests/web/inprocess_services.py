"""The two services in process, without sockets, for the tests of what they publish and how they answer:
an operator (``simulator.operator``) and a connector that is a member of its space."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from simulator import FakeWeb, OperatorUnderTest
from trustspace.connector.app import create_app as connector_app
from trustspace.connector.settings import ConnectorSettings, init_connector
from trustspace.core.clock import Clock
from trustspace.identity.did import DidResolver

CONNECTOR_URL = "http://127.0.0.1:9511"


@dataclass
class ConnectorUnderTest:
    app: FastAPI
    settings: ConnectorSettings

    @property
    def did(self) -> str:
        return str(self.app.state.did)

    @property
    def management(self) -> dict[str, str]:
        return {"X-API-Key": self.settings.management_key_path.read_text().strip()}


@contextmanager
def connector(data_dir: Path, op: OperatorUnderTest | None = None, web: FakeWeb | None = None,
              clock: Clock | None = None) -> Iterator[ConnectorUnderTest]:
    """A connector whose operator is ``op`` (reached through ``web``, as the operator fetches documents);
    nothing of it runs in the background (no witness rounds, heartbeats only once registered)."""
    operator_url = op.settings.public_url if op is not None else "http://127.0.0.1:9400"
    init_connector(data_dir, CONNECTOR_URL, operator_url, "fuzzed")
    settings = ConnectorSettings.load(data_dir, witness_interval=0.0, worker_poll=0.2)
    web = web or (op.web if op is not None else FakeWeb())
    app = connector_app(settings, clock=clock or (op.clock if op is not None else None),
                        resolver=DidResolver(web.fetch), fetch=web.fetch)
    web.add(CONNECTOR_URL, TestClient(app, base_url=CONNECTOR_URL))
    yield ConnectorUnderTest(app, settings)
