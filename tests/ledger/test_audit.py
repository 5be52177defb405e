"""The whole-log audit, named after the attacks it must catch in a copy of the operator's log."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from trustspace.core.keys import SigningKey
from trustspace.identity.did import did_key, verification_method_id
from trustspace.ledger.audit import StoredEntry, audit
from trustspace.ledger.checkpoint import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from trustspace.ledger.merkle import MemoryTree, leaf_hash
from trustspace.ledger.statements import leaf_data, new_statement, sign_statement

ORIGIN = "audit.example/ledger"


@pytest.fixture(scope="module")
def log() -> tuple[list[StoredEntry], list[str], NoteVerifier]:
    """Eight signed statements with a signed checkpoint after each, as the operator stores them."""
    operator, member = SigningKey.generate(), SigningKey.generate()
    did = did_key(member.public)
    signer = NoteSigner(ORIGIN, operator)
    tree, stored, notes = MemoryTree([]), [], []
    for n in range(8):
        statement = new_statement("transfer-state-change", did, datetime(2026, 1, 1, tzinfo=UTC),
                                  process=f"urn:uuid:p{n}", details={"state": "COMPLETED"})
        signed = sign_statement(statement, member, verification_method_id(did))
        hashed = leaf_hash(leaf_data(signed))
        tree.append(hashed)
        stored.append(StoredEntry(n, hashed, signed))
        notes.append(sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), signer).format())
    return stored, notes, NoteVerifier(ORIGIN, operator.public)


def test_honest_log_passes(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    report = audit(*log)
    assert report.ok and report.entries == 8 and report.checkpoints == 8


def test_changed_entry(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    changed = [*entries]
    forged = {**entries[3].entry, "details": {"state": "TERMINATED"}}
    changed[3] = replace(entries[3], entry=forged)
    report = audit(changed, notes, key)
    assert not report.ok and report.failures[0].startswith("entry 3 was changed")


def test_changed_entry_with_its_leaf_hash_rewritten_too(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    forged = {**entries[3].entry, "details": {"state": "TERMINATED"}}
    changed = [*entries]
    changed[3] = StoredEntry(3, leaf_hash(leaf_data(forged)), forged)
    report = audit(changed, notes, key)
    assert not report.ok
    assert any("checkpoint of size 4 signs root" in f for f in report.failures), "the signed roots give it away"


def test_deleted_entry(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    report = audit(entries[:5] + entries[6:], notes, key)
    assert any("entry index 6 where 5 was expected" in f for f in report.failures)


def test_reordered_log(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    swapped = [*entries]
    swapped[2], swapped[5] = replace(entries[5], index=2), replace(entries[2], index=5)
    report = audit(swapped, notes, key)
    assert not report.ok and any("checkpoint of size 3" in f for f in report.failures)


def test_truncated_log(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    report = audit(entries[:6], notes, key)
    assert any("checkpoint of size 8 is beyond the 6 entries" in f for f in report.failures)


def test_checkpoint_with_forged_signature(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, _ = log
    impostor = NoteVerifier(ORIGIN, SigningKey.generate().public)
    report = audit(entries, notes, impostor)
    assert not report.ok and report.failures[0].startswith("checkpoint not valid")
