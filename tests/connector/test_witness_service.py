"""The connector as a witness: it cosigns checkpoints that extend what it saw; shown a split view it keeps
the evidence, raises the alarm (metric and status) and refuses to cosign again, also after a restart."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from trustspace.connector.witness import WitnessService
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from trustspace.ledger.errors import CosigningHalted, SplitView
from trustspace.ledger.merkle import MemoryTree, consistency_proof, leaf_hash
from trustspace.store.db import open_database
from trustspace.store.membership.sql import SqlConnectorStore
from trustspace.web.observability import ServiceMetrics

ORIGIN = "127.0.0.1:9400/ledger"


class FakeLog:
    """An operator's ledger endpoints, able to lie: ``fork`` replaces history from an index on."""

    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.signer = NoteSigner(ORIGIN, self.key)
        self.tree = MemoryTree([])
        self.cosignatures: list[dict[str, Any]] = []
        self.base_url = "http://fake"
        self.http = self

    def add(self, n: int, tag: str = "") -> None:
        for i in range(n):
            self.tree.append(leaf_hash(f"{tag}{self.tree.size}-{i}".encode()))

    def note(self) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, self.tree.size, self.tree.root()), self.signer).format()

    # what WitnessService calls ------------------------------------------------------------------------------
    def get(self, url: str, timeout: float) -> Any:
        log = self

        class Response:
            text = log.note()

            def raise_for_status(self) -> None:
                return None

        return Response()

    def request(self, method: str, path: str, json: Any = None, params: Any = None) -> Any:
        if path == "/v1/ledger/key":
            return {"vkey": NoteVerifier(ORIGIN, self.key.public).vkey}
        if path == "/v1/ledger/proofs/consistency":
            proof = consistency_proof(int(params["first"]), int(params["second"]), self.tree.node)
            return {"proof": [base64.b64encode(p).decode() for p in proof]}
        self.cosignatures.append(json)
        return {}


def service(tmp_path: Path, log: FakeLog) -> tuple[WitnessService, ServiceMetrics]:
    db = open_database("connector", f"sqlite:///{tmp_path / 'connector.db'}")
    metrics = ServiceMetrics("connector")
    witness = WitnessService(SqlConnectorStore(db), SigningKey.from_seed(b"w" * 32), "did:web:witness.example",
                             log, FixedClock(), metrics)  # type: ignore[arg-type]
    return witness, metrics


def test_cosigns_a_growing_log(tmp_path: Path) -> None:
    log = FakeLog()
    log.add(3)
    witness, _ = service(tmp_path, log)
    assert witness.tick()["cosigned"] is True
    assert witness.tick()["cosigned"] is False, "the same checkpoint is not cosigned twice"
    log.add(5)
    assert witness.tick() == {"origin": ORIGIN, "size": 8, "cosigned": True}
    assert len(log.cosignatures) == 2 and log.cosignatures[-1]["signatureLine"].startswith("— did:web:witness")


def test_split_view_is_kept_alarmed_and_refused_after_restart(tmp_path: Path) -> None:
    log = FakeLog()
    log.add(4)
    witness, metrics = service(tmp_path, log)
    witness.tick()
    forked = FakeLog()
    forked.key, forked.signer = log.key, log.signer  # the same operator key, another history
    forked.add(4, tag="rewritten")
    witness.operator = forked  # type: ignore[assignment]
    with pytest.raises(SplitView):
        witness.tick()
    status = witness.status()["origins"][ORIGIN]
    assert status["halted"] and status["evidence"]["provable"] is True
    assert b'trustspace_ledger_split_view{origin="127.0.0.1:9400/ledger"} 1.0' in generate_latest(metrics.registry)
    restarted, _ = service(tmp_path, log)
    with pytest.raises(CosigningHalted):
        restarted.tick()
    assert len(log.cosignatures) == 1, "nothing was cosigned after the fork"


def test_rollback_is_refused(tmp_path: Path) -> None:
    log = FakeLog()
    log.add(6)
    witness, _ = service(tmp_path, log)
    witness.tick()
    shorter = FakeLog()
    shorter.key, shorter.signer = log.key, log.signer
    shorter.add(3)
    witness.operator = shorter  # type: ignore[assignment]
    with pytest.raises(Exception, match="below the witnessed size"):
        witness.tick()
