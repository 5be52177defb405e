"""The connector as a witness of the operator's ledger (C2SP tlog-cosignature).

It fetches the latest checkpoint, checks it against the last one it cosigned with a consistency proof from the
log, and cosigns it. A split view (two checkpoints that cannot both be true) is kept as evidence, raised as an
alarm — an error log line, the ``trustspace_ledger_split_view`` metric and the management API — and the
witness refuses to cosign that log again until an operator of this connector resets it. State survives restarts.
The log's checkpoint key is pinned on first use.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import asdict
from typing import Any

import httpx
from prometheus_client import Gauge

from trustspace.client.http import SignedClient
from trustspace.core.clock import Clock
from trustspace.core.errors import TrustSpaceError
from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import Checkpoint, Note, NoteVerifier
from trustspace.ledger.errors import CosigningHalted, SplitView
from trustspace.ledger.witness import Cosigner, OriginState, SplitViewEvidence, Witness, WitnessState
from trustspace.store.membership.interfaces import ConnectorStore
from trustspace.web.observability import ServiceMetrics

log = logging.getLogger("trustspace.connector.witness")
STATE_KEY, LOG_KEY = "witness.state", "witness.log_vkey"


def _dump_state(state: WitnessState) -> str:
    def origin(o: OriginState) -> dict[str, Any]:
        halted = None
        if o.halted is not None:
            halted = {**asdict(o.halted), "proof": [base64.b64encode(p).decode() for p in o.halted.proof]}
        return {"note": o.note, "size": o.size, "root": base64.b64encode(o.root_hash).decode(), "halted": halted}

    return json.dumps({name: origin(o) for name, o in state.origins.items()})


def _load_state(text: str | None) -> WitnessState:
    if not text:
        return WitnessState()
    origins = {}
    for name, o in json.loads(text).items():
        halted = o.get("halted")
        evidence = None
        if halted:
            evidence = SplitViewEvidence(**{**halted, "proof": tuple(base64.b64decode(p) for p in halted["proof"])})
        origins[name] = OriginState(o["note"], o["size"], base64.b64decode(o["root"]), evidence)
    return WitnessState(origins)


class WitnessService:
    def __init__(self, store: ConnectorStore, key: SigningKey, did: str, operator: SignedClient, clock: Clock,
                 metrics: ServiceMetrics, interval: float = 2.0) -> None:
        self.store, self.did, self.operator, self.clock, self.interval = store, did, operator, clock, interval
        self.cosigner = Cosigner(did, key)
        self.split_view = Gauge("trustspace_ledger_split_view", "1 while this witness holds split-view evidence",
                                ["origin"], registry=metrics.registry)
        self.last_error: str | None = None
        self._witness: Witness | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _log_key(self) -> NoteVerifier:
        pinned = self.store.get_setting(LOG_KEY)
        if pinned is None:
            pinned = str(self.operator.request("GET", "/v1/ledger/key")["vkey"])
            self.store.set_setting(LOG_KEY, pinned)  # trust on first use, like the first checkpoint itself
        return NoteVerifier.from_vkey(pinned)

    def _get_witness(self) -> Witness:
        if self._witness is None:
            verifier = self._log_key()
            self._witness = Witness(self.cosigner, {verifier.name: verifier}, self.clock,
                                    _load_state(self.store.get_setting(STATE_KEY)))
        return self._witness

    def tick(self) -> dict[str, Any]:
        """Witness the latest checkpoint once; returns what happened."""
        with self._lock:
            witness = self._get_witness()
            note = Note.parse(self._get_text("/v1/ledger/checkpoint"))
            checkpoint = Checkpoint.from_body(note.text)
            known = witness.latest_size(checkpoint.origin)
            seen = witness.state.origins.get(checkpoint.origin)
            if seen is not None and seen.halted is None and (seen.size, seen.root_hash) == (
                    checkpoint.size, checkpoint.root_hash):
                # Already cosigned. A checkpoint of the same size with ANOTHER root goes on to observe(): a fork.
                return {"origin": checkpoint.origin, "size": known, "cosigned": False}
            proof: list[bytes] = []
            if 0 < known < checkpoint.size:
                answer = self.operator.request("GET", "/v1/ledger/proofs/consistency",
                                               params={"first": known, "second": checkpoint.size})
                proof = [base64.b64decode(p) for p in answer["proof"]]
            try:
                cosignature = witness.observe(note, proof, old_size=known)
            except SplitView as alarm:
                self._raise_alarm(alarm.evidence)
                raise
            finally:
                self.store.set_setting(STATE_KEY, _dump_state(witness.state))
            self.operator.request("POST", f"/v1/ledger/checkpoints/{checkpoint.size}/cosignatures",
                                  json={"signatureLine": cosignature.line(), "vkey": witness.verifier.vkey})
            return {"origin": checkpoint.origin, "size": checkpoint.size, "cosigned": True}

    def _get_text(self, path: str) -> str:
        response = self.operator.http.get(self.operator.base_url + path, timeout=10.0)
        response.raise_for_status()
        return response.text

    def _raise_alarm(self, evidence: SplitViewEvidence) -> None:
        self.split_view.labels(evidence.origin).set(1)
        log.error("SPLIT VIEW of ledger %s: the operator showed checkpoints of sizes %d and %d that are not "
                  "consistent; evidence kept, cosigning refused", evidence.origin, evidence.known_size,
                  evidence.conflicting_size)

    def status(self) -> dict[str, Any]:
        witness = self._get_witness()
        origins = {}
        for name, known in witness.state.origins.items():
            evidence = None
            if known.halted is not None:
                evidence = {"knownNote": known.halted.known_note, "conflictingNote": known.halted.conflicting_note,
                            "provable": known.halted.provable}
            origins[name] = {"size": known.size, "halted": known.halted is not None, "evidence": evidence}
        return {"witness": self.did, "vkey": witness.verifier.vkey, "origins": origins, "lastError": self.last_error}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="witness", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
                self.last_error = None
            except (SplitView, CosigningHalted) as exc:
                self.last_error = exc.detail
            except (TrustSpaceError, httpx.HTTPError, ValueError) as exc:
                self.last_error = str(getattr(exc, "detail", exc))
                log.debug("witnessing skipped: %s", self.last_error)  # every poll: visible in status, not the log
            except Exception as exc:
                if self._stop.is_set():
                    return  # shutting down: the operator client may be closed under us
                # A witness that dies unseen stops cosigning; keep going and say why in the status.
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                log.exception("witnessing failed; trying again next round")

    def stop(self) -> None:
        self._stop.set()
