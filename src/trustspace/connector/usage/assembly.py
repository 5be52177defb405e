"""Puts the consumer's usage control together: store, vault, guard, service, landing hook, routes, sweep."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from trustspace.connector.evidence import LEDGER_PATH, LEDGER_PREFIX, EvidenceRecorder
from trustspace.connector.usage import certificate
from trustspace.connector.usage.crypto import KeyWrapper
from trustspace.connector.usage.guard import UsageGuard
from trustspace.connector.usage.odrl_guard import OdrlUsageGuard
from trustspace.connector.usage.routes import usage_router
from trustspace.connector.usage.service import LogNotifier, Signer, UsageNotifier, UsageService
from trustspace.connector.usage.vault import ProtectedStore
from trustspace.core.clock import Clock
from trustspace.core.keys import SigningKey
from trustspace.ledger.statements import EventType, new_statement, sign_statement
from trustspace.store.db import Database
from trustspace.store.dsp.records import Agreement, NewOutboxMessage
from trustspace.store.usage.records import UsageEntry
from trustspace.store.usage.sql import SqlUsageStore
from trustspace.web.auth import Authenticator

PROTECTED_DIR = "protected"

log = logging.getLogger("trustspace.connector.usage")


class ProtectedLanding:
    """The data plane's landing hook: a received file goes into the protected store the moment it lands."""

    def __init__(self, vault: ProtectedStore) -> None:
        self.vault = vault

    def land(self, transfer_id: str, agreement_id: str, path: Path) -> dict[str, Any]:
        try:
            item = self.vault.protect(agreement_id, transfer_id, path)
        except BaseException:
            # Data that cannot be protected (its agreement's data destroyed, the store down) is not kept in
            # the clear either: a pull is fetched again, a push refused.
            path.unlink(missing_ok=True)
            raise
        return {"protectedItem": item.id, "sha256": item.sha256, "bytes": item.size}

    def landed(self, transfer_id: str) -> dict[str, Any]:
        item = self.vault.store.item_for_transfer(transfer_id)
        return {} if item is None else {"protectedItem": item.id, "sha256": item.sha256, "bytes": item.size}


def _lane(agreement_id: str) -> str:
    return f"{LEDGER_PREFIX}usage:{agreement_id}"


def use_message(recorder: EvidenceRecorder) -> Callable[[Agreement, UsageEntry], NewOutboxMessage]:
    """Notify on use, through the ledger: a signed ``usage-decision`` statement about the agreement."""

    def message(agreement: Agreement, entry: UsageEntry) -> NewOutboxMessage:
        details: dict[str, str | int | bool] = {"decision": entry.decision, "action": entry.action,
                                                "entry": entry.id}
        details.update({k: v for k, v in (("purpose", entry.purpose), ("application", entry.application)) if v})
        statement = new_statement(EventType.USAGE_DECISION.value, recorder.did, entry.at,
                                  participant=agreement.provider, agreement=agreement.id,
                                  product=agreement.asset_id, details=details)
        body = sign_statement(statement, recorder.key, recorder.verification_method)
        return NewOutboxMessage("transfer", _lane(agreement.id), recorder.operator_url.rstrip("/") + LEDGER_PATH,
                                recorder.operator_did, body)

    return message


def ledger_message(recorder: EvidenceRecorder) -> Callable[[Agreement | None, dict[str, Any]], NewOutboxMessage]:
    """A destruction certificate's ledger statement: its digest, under the agreement, as other evidence goes."""

    def message(agreement: Agreement | None, signed: dict[str, Any]) -> NewOutboxMessage:
        statement = new_statement(EventType.DESTRUCTION_CERTIFICATE.value, recorder.did, recorder.clock.now(),
                                  participant=agreement.provider if agreement else None,
                                  agreement=str(signed["agreement"]), product=agreement.asset_id if agreement else None,
                                  payload_digest=certificate.digest(signed),
                                  details={"certificate": str(signed["id"]), "items": len(signed["items"]),
                                           "reason": str(signed["reason"])})
        body = sign_statement(statement, recorder.key, recorder.verification_method)
        return NewOutboxMessage("transfer", _lane(str(signed["agreement"])),
                                recorder.operator_url.rstrip("/") + LEDGER_PATH, recorder.operator_did, body)

    return message


@dataclass
class UsageParts:
    service: UsageService
    landing: ProtectedLanding
    sweep_interval: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        if self.sweep_interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="usage-sweep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.sweep_interval):
            try:
                self.service.sweep()
            except Exception:
                # A database that is away now may be back at the next round; the sweep must outlive it.
                log.exception("the sweep for expired agreements failed")


def build_usage(*, db: Database, key: SigningKey, did: str, verification_method: str, data_dir: Path,
                clock: Clock, agreements: Callable[[str], Agreement | None], recorder: EvidenceRecorder | None,
                guard: UsageGuard | None = None, notifier: UsageNotifier | None = None,
                sweep_interval: float = 60.0) -> UsageParts:
    store = SqlUsageStore(db)
    vault = ProtectedStore(store, KeyWrapper(key), data_dir / PROTECTED_DIR, clock)
    signer = Signer(key, did, verification_method, None if recorder is None else ledger_message(recorder))
    guard = guard or OdrlUsageGuard(lambda agreement_id: _destroyed(store, agreement_id))
    notifier = notifier or LogNotifier(store, None if recorder is None else use_message(recorder))
    service = UsageService(store, vault, agreements, guard, signer, clock, notifier)
    return UsageParts(service, ProtectedLanding(vault), sweep_interval)


def install_usage(app: FastAPI, auth: Authenticator, parts: UsageParts) -> None:
    app.include_router(usage_router(auth, parts.service))


def _destroyed(store: SqlUsageStore, agreement_id: str) -> bool:
    stored = store.get_key(agreement_id)
    return stored is not None and stored.destroyed_at is not None
