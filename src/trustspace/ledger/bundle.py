"""Offline verification of an evidence bundle: everything needed to prove, later and without trusting the
operator, that a statement is in the ledger and that the ledger has only grown.

A bundle holds the signed statement, the DID document its submitter had, the operator's receipt (optional),
an inclusion proof into a checkpoint, that checkpoint note, and consistency proofs from it to later
checkpoints. The caller supplies the log's key (pinned beforehand) and the later checkpoints it holds.
Every check either passes or says exactly what failed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trustspace.core.errors import TrustSpaceError, ValidationFailed
from trustspace.core.keys import VerifyingKey
from trustspace.ledger.checkpoint import Checkpoint, Note, NoteVerifier, open_checkpoint
from trustspace.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from trustspace.ledger.statements import leaf_data, verify_statement


@dataclass
class Report:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and bool(self.passed)

    def check(self, label: str, action: Callable[[], object]) -> bool:
        try:
            action()
        except (TrustSpaceError, ValueError, KeyError, TypeError) as exc:
            self.failed.append(f"{label}: {getattr(exc, 'detail', exc)}")
            return False
        self.passed.append(label)
        return True


def _b64(text: str) -> bytes:
    """Hashes arrive as base64 or base64url, padded or not; both spell the same bytes."""
    standard = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)


def verify_bundle(bundle: dict[str, Any], log_key: NoteVerifier, later: Sequence[str],
                  key_for: Callable[[str], VerifyingKey],
                  receipt_check: Callable[[dict[str, Any]], None] | None = None) -> Report:
    report = Report()
    entry, proof = bundle["entry"], bundle["inclusion"]
    checkpoint_holder: list[Checkpoint] = []
    report.check("statement signature by its submitter", lambda: verify_statement(entry, key_for))
    computed = leaf_hash(leaf_data(entry))
    report.check("leaf hash of the statement", lambda: _same(computed, _b64(proof["leafHash"]), "leaf hash"))
    report.check("checkpoint signed by the log",
                 lambda: checkpoint_holder.append(open_checkpoint(Note.parse(bundle["checkpoint"]), log_key)))
    if checkpoint_holder:
        checkpoint = checkpoint_holder[0]
        report.check(f"inclusion at index {proof['index']} in the tree of size {checkpoint.size}",
                     lambda: verify_inclusion(int(proof["index"]), checkpoint.size, computed,
                                              [_b64(p) for p in proof["proof"]], checkpoint.root_hash))
        for text in later:
            _check_later(report, bundle, checkpoint, text, log_key)
    if bundle.get("receipt") is not None and receipt_check is not None:
        report.check("receipt signed by the operator", lambda: receipt_check(bundle["receipt"]))
        report.check("receipt is for this statement",
                     lambda: _same(computed, _b64(bundle["receipt"]["leafHash"]), "receipt leaf hash"))
    return report


def _check_later(report: Report, bundle: dict[str, Any], first: Checkpoint, text: str, log_key: NoteVerifier) -> None:
    holder: list[Checkpoint] = []
    if not report.check("later checkpoint signed by the log", lambda: holder.append(open_checkpoint(Note.parse(text),
                                                                                                   log_key))):
        return
    second = holder[0]
    proofs = {int(p["second"]): p for p in bundle.get("consistency", [])}

    def consistent() -> None:
        if second.size < first.size:
            raise ValidationFailed(f"checkpoint of size {second.size} is older than the bundle's ({first.size})")
        if second.size == first.size:
            _same(first.root_hash, second.root_hash, "roots of two checkpoints of the same size")
            return
        found = proofs.get(second.size)
        if found is None:
            raise ValidationFailed(f"the bundle has no consistency proof to size {second.size}; "
                                   "make it with 'trustspace ledger prove --against <checkpoint>'")
        verify_consistency(first.size, second.size, first.root_hash, second.root_hash,
                           [_b64(p) for p in found["proof"]])

    report.check(f"log only grew from size {first.size} to {second.size}", consistent)


def _same(a: bytes, b: bytes, what: str) -> None:
    if a != b:
        raise ValidationFailed(f"{what} differs")
