"""The connector's data plane, joined to its control plane: the provider's gate reads the transfer's state
from the process store on every request (suspend stops access at once; complete and terminate revoke every
token), and the consumer's inbox admits pushes only for its own STARTED transfers. With a ``UsageGate`` every pull
is also decided against the agreement's policy and counted (``connector/enforcement.py``). With a
``DecisionLog`` every answer of either is kept as evidence (``dataplane/decisions.py``)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter

from trustspace.connector.dataplane.client import pull, push
from trustspace.connector.dataplane.decisions import AccessRecorder, DecisionLog
from trustspace.connector.dataplane.errors import AccessTokenForeign, TransferNotFound
from trustspace.connector.dataplane.gate import UsageGate, require_started
from trustspace.connector.dataplane.inbox import Inbox
from trustspace.connector.dataplane.server import data_router
from trustspace.connector.dataplane.sources import (
    DataRoots,
    Prepared,
    PreparedFile,
    SqlSource,
    open_source,
    release,
)
from trustspace.connector.dataplane.tokens import (
    PUSH_SCOPE,
    dsp_data_address,
    issue_access_token,
    read_data_address,
)
from trustspace.core.clock import Clock
from trustspace.core.errors import Conflict
from trustspace.core.keys import SigningKey
from trustspace.store.dsp.interfaces import CatalogStore, ProcessStore
from trustspace.store.dsp.records import TransferRecord

PULL_TOKEN_LIFETIME = 3600


class Landing(Protocol):
    """Where received data goes as soon as it lands (the protected store): ``land`` takes the file (and
    removes its plaintext), both answer the details a transfer records."""

    def land(self, transfer_id: str, agreement_id: str, path: Path) -> dict[str, Any]: ...

    def landed(self, transfer_id: str) -> dict[str, Any]: ...


class ConnectorDataPlane:
    def __init__(self, catalog: CatalogStore, processes: ProcessStore, key: SigningKey, did: str, public_url: str,
                 data_dir: Path, clock: Clock, decisions: DecisionLog | None = None,
                 data_roots: tuple[Path, ...] = (), inbox_max_bytes: int | None = None,
                 landing: Landing | None = None, usage: UsageGate | None = None) -> None:
        self.catalog, self.processes, self.key, self.did, self.clock = catalog, processes, key, did, clock
        self.usage = usage
        self.decisions = None if decisions is None else AccessRecorder(decisions, clock)
        self.public_url = public_url.rstrip("/")
        self.spool_dir, self.received_dir = data_dir / "spool", data_dir / "received"
        self.landing = landing
        self.inbox = Inbox(data_dir / "inbox", key.public, self, max_bytes=inbox_max_bytes,
                           land=None if landing is None else self._land_push)
        self.roots = DataRoots.of_connector(data_dir, data_roots)
        self._prepared: dict[str, Prepared] = {}
        self._lock = threading.Lock()

    # --- gates (called by the data-plane server on every request) ------------------------------------------
    def check(self, transfer_id: str, agreement_id: str) -> Prepared:
        transfer = self._own(transfer_id, "provider", agreement_id)
        require_started(transfer_id, transfer.state)
        return self._prepare(transfer)

    def admit(self, transfer_id: str, agreement_id: str) -> None:
        transfer = self._own(transfer_id, "consumer", agreement_id)
        require_started(transfer_id, transfer.state)

    def _own(self, transfer_id: str, role: str, agreement_id: str) -> TransferRecord:
        transfer = self.processes.get_transfer(transfer_id)
        if transfer is None or transfer.role != role:
            raise TransferNotFound(f"no transfer {transfer_id}", field="transferId")
        if transfer.agreement_id != agreement_id:
            raise AccessTokenForeign("this token was issued for another agreement")
        return transfer

    def _prepare(self, transfer: TransferRecord) -> Prepared:
        with self._lock:
            prepared = self._prepared.get(transfer.id)
        if prepared is not None:
            return prepared
        asset = self.catalog.get_asset(str(transfer.details.get("assetId", "")))
        if asset is None:
            raise Conflict(f"the dataset of transfer {transfer.id} is no longer offered", field="assetId")
        prepared = open_source(asset.data_address, self.spool_dir, roots=self.roots).prepare(transfer.id)
        with self._lock:
            self._prepared[transfer.id] = prepared
        return prepared

    def check_address(self, address: dict[str, Any]) -> list[str]:
        """Refuse, naming the field, a data address this connector could never serve (when an asset is added); a
        SQL source's query is dry-run. Returns warnings for its owner (a role that can do more than read)."""
        source = open_source(address, self.spool_dir, roots=self.roots)
        return source.check() if isinstance(source, SqlSource) else []

    def prepared(self, transfer_id: str) -> bool:
        with self._lock:
            return transfer_id in self._prepared

    def prepare(self, transfer: TransferRecord) -> None:
        self._prepare(transfer)

    def forget(self, transfer_id: str) -> None:
        with self._lock:
            prepared = self._prepared.pop(transfer_id, None)
        if prepared is not None:
            release(prepared)

    # --- what the control plane asks of us -----------------------------------------------------------------
    def pull_address(self, transfer: TransferRecord) -> dict[str, Any]:
        self._prepare(transfer)  # materialise (and digest) before announcing the address
        token = issue_access_token(self.key, issuer=self.did, audience=transfer.counter_party,
                                   transfer_id=transfer.id, agreement_id=transfer.agreement_id,
                                   now=self.clock.now(), lifetime=PULL_TOKEN_LIFETIME)
        return dsp_data_address(f"{self.public_url}/data/{transfer.id}", token)

    def inbox_address(self, transfer_id: str, provider: str, agreement_id: str) -> dict[str, Any]:
        token = issue_access_token(self.key, issuer=self.did, audience=provider, transfer_id=transfer_id,
                                   agreement_id=agreement_id, now=self.clock.now(), lifetime=PULL_TOKEN_LIFETIME,
                                   scope=PUSH_SCOPE)
        return dsp_data_address(f"{self.public_url}/inbox/{transfer_id}", token)

    def push(self, transfer: TransferRecord) -> dict[str, Any]:
        prepared = self._prepare(transfer)
        endpoint, token = read_data_address(transfer.data_address or {})
        result = push(prepared, endpoint, token)
        return {"sha256": result.sha256, "bytes": result.size}

    def pull(self, transfer: TransferRecord) -> dict[str, Any]:
        endpoint, token = read_data_address(transfer.data_address or {})
        destination = self.received_dir / hashlib.sha256(transfer.id.encode()).hexdigest()[:32]
        destination.parent.mkdir(parents=True, exist_ok=True)
        # A foreign provider may send no Repr-Digest (the DSP binds none): take the bytes, and say so.
        result = pull(endpoint, token, destination, unverified_ok=True)
        if self.landing is not None:
            return {**self.landing.land(transfer.id, transfer.agreement_id, result.path), "verified": result.verified}
        return {"path": str(result.path), "sha256": result.sha256, "bytes": result.size, "verified": result.verified}

    def received(self, transfer: TransferRecord) -> dict[str, Any]:
        """What a push left in our inbox (or our protected store), for the record of a completed push transfer."""
        if self.landing is not None:
            return self.landing.landed(transfer.id)
        path = self.inbox.path_for(transfer.id)
        if not path.is_file():
            return {}
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return {"path": str(path), "sha256": digest.hexdigest(), "bytes": path.stat().st_size}

    def _land_push(self, transfer_id: str, path: Path) -> None:
        transfer = self.processes.get_transfer(transfer_id)
        if transfer is None or self.landing is None:
            raise TransferNotFound(f"no transfer {transfer_id}", field="transferId")
        self.landing.land(transfer.id, transfer.agreement_id, path)

    def router(self) -> APIRouter:
        return data_router(self, self.key.public, self.clock, inbox=self.inbox, decisions=self.decisions,
                           usage=self.usage)


def prepared_digest(prepared: Prepared) -> str | None:
    return prepared.sha256 if isinstance(prepared, PreparedFile) else None
