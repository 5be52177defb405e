"""A consumer's usage control on its own, without a data space: a SQLite file, a fixed clock, stored agreements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trustspace.connector.evidence import EvidenceRecorder
from trustspace.connector.usage.assembly import UsageParts, build_usage
from trustspace.connector.usage.service import UsageAsk, UsageService
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.store.db import Database, open_database
from trustspace.store.dsp.records import Agreement
from trustspace.store.usage.records import ProtectedItem

DID = "did:web:consumer.example"
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def policy(*constraints: dict[str, Any], duty: list[dict[str, Any]] | None = None,
           prohibition: list[dict[str, Any]] | None = None, conflict: str | None = None) -> dict[str, Any]:
    permission: dict[str, Any] = {"action": "use", "constraint": list(constraints)}
    if duty:
        permission["duty"] = duty
    document: dict[str, Any] = {"@id": "agr-1", "target": "tax-data", "permission": [permission]}
    if prohibition:
        document["prohibition"] = prohibition
    if conflict:
        document["conflict"] = conflict
    return document


PURPOSE = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "credit assessment"}


@dataclass
class Harness:
    tmp: Path
    db: Database
    clock: FixedClock
    key: SigningKey
    parts: UsageParts
    agreements: dict[str, Agreement] = field(default_factory=dict)

    @property
    def service(self) -> UsageService:
        return self.parts.service

    def agree(self, document: dict[str, Any], agreement_id: str = "agr-1") -> Agreement:
        agreement = Agreement(agreement_id, f"neg-{agreement_id}", "tax-data", "did:web:provider.example", DID,
                              {**document, "@id": agreement_id}, START)
        self.agreements[agreement_id] = agreement
        return agreement

    def land(self, content: bytes, agreement_id: str = "agr-1", transfer_id: str = "tr-1",
             name: str = "received.csv") -> ProtectedItem:
        received = self.tmp / "received"
        received.mkdir(exist_ok=True)
        path = received / name
        path.write_bytes(content)
        return self.service.vault.protect(agreement_id, transfer_id, path)

    def ask(self, action: str = "read", purpose: str = "credit assessment", agreement_id: str = "agr-1",
            reader: str = "alice") -> UsageAsk:
        return UsageAsk(agreement_id, purpose, "risk-app", reader, action)

    def read(self, **kwargs: Any) -> bytes:
        return b"".join(self.service.use(self.ask(**kwargs)).body)


def harness(tmp_path: Path, *, chunk_size: int | None = None, ledger: bool = True) -> Harness:
    db = open_database("connector", f"sqlite:///{tmp_path / 'connector.db'}")
    clock = FixedClock(START)
    key = SigningKey.generate()
    holder: dict[str, Agreement] = {}
    recorder = EvidenceRecorder(key, DID, f"{DID}#key-1", "http://operator.example", "did:web:operator.example",
                                clock) if ledger else None
    parts = build_usage(db=db, key=key, did=DID, verification_method=f"{DID}#key-1", data_dir=tmp_path / "data",
                        clock=clock, agreements=holder.get, recorder=recorder, sweep_interval=0)
    if chunk_size is not None:
        parts.service.vault.chunk_size = chunk_size
    return Harness(tmp_path, db, clock, key, parts, holder)
