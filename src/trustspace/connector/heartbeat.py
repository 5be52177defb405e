"""Registration with the operator and the heartbeat that keeps the registry's view of us fresh."""

from __future__ import annotations

import logging
import threading

from trustspace.client.http import SignedClient
from trustspace.core.errors import TrustSpaceError
from trustspace.store.membership.interfaces import ConnectorStore

log = logging.getLogger("trustspace.connector.heartbeat")
REGISTRATION = "registry.connector_id"


class Heartbeat:
    def __init__(self, store: ConnectorStore, operator: SignedClient, public_url: str, interval: float) -> None:
        self.store = store
        self.operator = operator
        self.public_url = public_url
        self.interval = interval
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def connector_id(self) -> str | None:
        return self.store.get_setting(REGISTRATION)

    def register(self) -> dict[str, object]:
        record: dict[str, object] = self.operator.request("POST", "/v1/connectors", json={"url": self.public_url})
        self.store.set_setting(REGISTRATION, str(record["id"]))
        self.start()
        return record

    def beat(self) -> dict[str, object] | None:
        connector_id = self.connector_id
        if connector_id is None:
            return None
        try:
            record: dict[str, object] = self.operator.request("POST", f"/v1/connectors/{connector_id}/heartbeat")
        except TrustSpaceError as exc:
            self.last_error = exc.detail
            log.warning("heartbeat to operator failed: %s", exc.detail)
            return None
        self.last_error = None
        return record

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
