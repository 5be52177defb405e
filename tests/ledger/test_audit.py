"""The whole-log audit, named after the attacks it must catch in a copy of the operator's log."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from trustspace.core.keys import SigningKey
from trustspace.identity.did import did_key, verification_method_id
from trustspace.ledger.audit import StoredEntry, StoredNote, audit
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


# --- what a damaged copy of the log holds: reported by name, never raised ---------------------------------------


def test_entry_that_is_not_an_object_is_named(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    for value in ([1, 2], "text", 7, None):
        damaged = [*entries]
        damaged[2] = replace(entries[2], entry=value)
        report = audit(damaged, notes, key)
        assert report.failures == [f"entry 2 is not a valid statement: it is JSON {type(value).__name__}, "
                                   "not an object"], "the recorded hash stands in: every signed root still checks"
        assert report.checkpoints == 8


def test_entry_the_reader_could_not_decode_is_named_and_the_rest_still_checked(
        log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    damaged = [*entries]
    damaged[5] = StoredEntry(5, entries[5].leaf_hash, None, "not valid JSON: Expecting value")
    report = audit(damaged, notes, key)
    assert report.failures == ["entry 5 could not be read: not valid JSON: Expecting value"]
    assert report.entries == 8 and report.checkpoints == 8


def test_recorded_leaf_hash_of_the_wrong_length_is_named(
        log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    damaged = [*entries]
    damaged[1] = replace(entries[1], leaf_hash=b"\x01\x02")
    report = audit(damaged, notes, key)
    assert report.failures == ["entry 1 has a recorded leaf hash of 2 bytes, not 32"]


def test_entry_nested_too_deeply_is_named(log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    deep: dict[str, object] = {}
    for _ in range(100_000):
        deep = {"a": deep}
    damaged = [*entries]
    damaged[0] = replace(entries[0], entry=deep)
    report = audit(damaged, notes, key)
    assert report.failures[0].startswith("entry 0 is not a valid statement")


def test_two_checkpoints_of_one_size_with_different_roots_are_a_split_view(
        log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries = log[0]
    operator = SigningKey.generate()
    signer, key = NoteSigner(ORIGIN, operator), NoteVerifier(ORIGIN, operator.public)
    tree = MemoryTree([stored.leaf_hash for stored in entries])
    honest = sign_checkpoint(Checkpoint(ORIGIN, 8, tree.root()), signer).format()
    other = sign_checkpoint(Checkpoint(ORIGIN, 8, bytes(32)), signer).format()
    report = audit(entries, [honest, other], key)
    assert any(f.startswith("two checkpoints of size 8 sign different roots") for f in report.failures)


def test_note_stored_under_another_size_or_unreadable_is_named(
        log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    report = audit(entries, [StoredNote(notes[0], 5), StoredNote("", 6, "its note is NULL"), *notes[1:]], key)
    assert report.failures == ["checkpoint stored as size 5 holds a signed checkpoint of size 1",
                               "checkpoint stored as size 6 could not be read: its note is NULL"]


def test_failure_lines_quoting_the_log_are_safe_to_print(
        log: tuple[list[StoredEntry], list[str], NoteVerifier]) -> None:
    entries, notes, key = log
    damaged = [*entries]
    damaged[0] = StoredEntry(0, entries[0].leaf_hash, None, "\x1b[2J\ud800 gone")
    line = audit(damaged, notes, key).failures[0]
    assert line == "entry 0 could not be read: \\x1b[2J\\ud800 gone"
    line.encode("utf-8")  # no lone surrogate left: any terminal prints it
