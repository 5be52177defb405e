"""The gate between a valid token and the bytes: the transfer process must be STARTED right now.

Tokens live minutes; suspension must bite at once. So every data-plane request, after its token passed,
asks the gate, and the gate answers from the transfer process's current state:

    STARTED    -> what to serve (a ``Prepared``)
    REQUESTED  -> 403 transfer-not-started
    SUSPENDED  -> 403 transfer-suspended (suspend stops access at once; resume restores it)
    COMPLETED  -> 403 transfer-ended
    TERMINATED -> 403 transfer-ended
    unknown    -> 404 transfer-not-found

The connector implements ``TransferGate`` over its transfer-process store (``require_started`` maps a
stored DSP state name to the answer above); ``InMemoryGate`` is the same contract for tests and demos.

After the gate, a ``UsageGate`` (the connector's ``enforcement.UsageEnforcer``) decides the access against the
agreement's usage policy and counts it; it raises to refuse.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Protocol

from trustspace.connector.dataplane.decisions import JoinedPermit
from trustspace.connector.dataplane.errors import (
    AccessTokenForeign,
    TransferEnded,
    TransferNotFound,
    TransferNotStarted,
    TransferSuspended,
)
from trustspace.connector.dataplane.sources import Prepared, PreparedFile, ProxyTarget, Source, release
from trustspace.connector.dataplane.tokens import AccessClaims
from trustspace.core.errors import Conflict

REQUESTED, STARTED, SUSPENDED, COMPLETED, TERMINATED = "REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED"
_ENDED = {COMPLETED, TERMINATED}


class TransferGate(Protocol):
    """Provider side: what transfer ``transfer_id`` serves now, if its state allows access at all."""

    def check(self, transfer_id: str, agreement_id: str) -> Prepared: ...


@dataclass(frozen=True)
class Asked:
    """What a pull request itself says, as far as usage control cares: never its token or body."""

    client: str | None  # the peer's IP address as the server saw it
    byte_range: str | None = None
    if_range: str | None = None


class UsageGate(Protocol):
    """Provider side, after the gate: may this access happen under the agreement, counted? Raises when not.

    With ``permit`` (the permit's evidence as a write on a connection) it may write it in the transaction that
    counts the use, and answers True if it did; False leaves recording the permit to the caller."""

    def enforce(self, transfer_id: str, claims: AccessClaims, prepared: Prepared, asked: Asked,
                permit: JoinedPermit | None = None) -> bool: ...


class InboxGate(Protocol):
    """Consumer side: may the provider push into transfer ``transfer_id`` now? Raises when not."""

    def admit(self, transfer_id: str, agreement_id: str) -> None: ...


def require_started(transfer_id: str, state: str | None) -> None:
    """Raise the data plane's answer for a transfer in DSP state ``state`` (None: no such transfer)."""
    if state is None:
        raise TransferNotFound(f"no transfer process {transfer_id!r}")
    if state == STARTED:
        return
    if state == SUSPENDED:
        raise TransferSuspended("the transfer is suspended; access resumes when it is started again")
    if state in _ENDED:
        raise TransferEnded(f"the transfer is {state.lower()}; request a new transfer to get the data again")
    raise TransferNotStarted(f"the transfer is {state}, not STARTED")


@dataclass(frozen=True)
class _Entry:
    agreement_id: str
    state: str
    prepared: Prepared | None


class InMemoryGate:
    """Transfer states in a dict, with the DSP moves that change them. Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def start(self, transfer_id: str, agreement_id: str, source: Source | Prepared | None = None) -> None:
        """Start a transfer, preparing ``source`` once (a SQL source is materialised here).

        ``source`` may be omitted for a consumer-side (push inbox) transfer, which serves nothing.
        """
        prepared: Prepared | None
        if source is None or isinstance(source, PreparedFile | ProxyTarget):
            prepared = source
        else:
            prepared = source.prepare(transfer_id)
        with self._lock:
            existing = self._entries.get(transfer_id)
            if existing is not None:
                raise Conflict(f"transfer {transfer_id!r} exists already; use resume()")
            self._entries[transfer_id] = _Entry(agreement_id, STARTED, prepared)

    def suspend(self, transfer_id: str) -> None:
        self._move(transfer_id, {STARTED}, SUSPENDED)

    def resume(self, transfer_id: str) -> None:
        self._move(transfer_id, {SUSPENDED}, STARTED)

    def complete(self, transfer_id: str) -> None:
        self._release(self._move(transfer_id, {STARTED}, COMPLETED))

    def terminate(self, transfer_id: str) -> None:
        self._release(self._move(transfer_id, {REQUESTED, STARTED, SUSPENDED}, TERMINATED))

    def state(self, transfer_id: str) -> str | None:
        with self._lock:
            entry = self._entries.get(transfer_id)
        return None if entry is None else entry.state

    def check(self, transfer_id: str, agreement_id: str) -> Prepared:
        entry = self._admitted(transfer_id, agreement_id)
        if entry.prepared is None:
            raise TransferNotFound(f"transfer {transfer_id!r} has nothing to serve")
        return entry.prepared

    def admit(self, transfer_id: str, agreement_id: str) -> None:
        self._admitted(transfer_id, agreement_id)

    def _admitted(self, transfer_id: str, agreement_id: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(transfer_id)
        require_started(transfer_id, None if entry is None else entry.state)
        assert entry is not None
        if entry.agreement_id != agreement_id:
            raise AccessTokenForeign("the access token names another agreement than this transfer's")
        return entry

    def _move(self, transfer_id: str, allowed: set[str], target: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(transfer_id)
            if entry is None:
                raise TransferNotFound(f"no transfer process {transfer_id!r}")
            if entry.state not in allowed:
                raise Conflict(f"transfer {transfer_id!r} is {entry.state}; it cannot become {target}")
            moved = replace(entry, state=target)
            self._entries[transfer_id] = moved
        return moved

    @staticmethod
    def _release(entry: _Entry) -> None:
        if entry.prepared is not None:
            release(entry.prepared)
