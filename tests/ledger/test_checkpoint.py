"""Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint), named after the attacks they stop."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from ledger_fakes import FakeLog

from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import (
    Checkpoint,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    format_vkey,
    key_id,
    open_checkpoint,
    parse_vkey,
    sign_checkpoint,
    verify_note,
)
from trustspace.ledger.errors import BadNoteSignature, InvalidMerkleProof, MalformedNote, MissingNoteSignature
from trustspace.ledger.merkle import EMPTY_ROOT, MemoryTree, inclusion_proof, leaf_hash, verify_inclusion
from trustspace.ledger.statements import leaf_data, new_statement, sign_statement

# golang.org/x/mod/sumdb/note's published example key and note (its package documentation and tests).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# The example checkpoint of c2sp.org/tlog-checkpoint.
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)

MakeLog = Callable[..., FakeLog]


def go_signer() -> NoteSigner:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 0x01
    return NoteSigner("PeterNeumann", SigningKey.from_seed(raw[1:]))


def test_go_reference_key_id_vkey_and_signature_match_byte_for_byte() -> None:
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    signer = go_signer()
    assert signer.verifier == verifier
    assert verifier.vkey == GO_VKEY
    assert verifier.key_id.hex() == "c74f20a3"
    assert key_id("PeterNeumann", 0x01, verifier.key.raw) == bytes.fromhex("c74f20a3")
    note = Note(GO_TEXT, (signer.sign(GO_TEXT),))
    assert note.format() == GO_TEXT + "\n" + GO_SIGNATURE
    verify_note(Note.parse(GO_TEXT + "\n" + GO_SIGNATURE), verifier)


def test_c2sp_example_checkpoint_parses_and_formats_back_unchanged() -> None:
    note = Note.parse(C2SP_CHECKPOINT)
    checkpoint = Checkpoint.from_body(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.body() == note.text
    assert note.format() == C2SP_CHECKPOINT
    assert note.signatures[0].key_id.hex() == "033de0ae"


def test_signed_checkpoint_round_trips(make_log: MakeLog) -> None:
    log = make_log(count=5)
    checkpoint = open_checkpoint(log.checkpoint(), log.verifier)
    assert checkpoint == Checkpoint(log.origin, 5, log.tree.root())
    assert open_checkpoint(log.checkpoint().encode(), log.verifier) == checkpoint
    assert open_checkpoint(Note.parse(log.checkpoint()), log.verifier) == checkpoint


def test_extension_lines_are_kept_and_signed(make_log: MakeLog) -> None:
    log = make_log(count=2)
    head = Checkpoint(log.origin, 2, log.tree.root(), ("witnessed-by two", "more"))
    note = sign_checkpoint(head, log.signer).format()
    assert note.split("\n")[3:5] == ["witnessed-by two", "more"]
    assert open_checkpoint(note, log.verifier) == head


def test_forged_signature_is_rejected(make_log: MakeLog) -> None:
    note = Note.parse(make_log(count=3).checkpoint())
    original = note.signatures[0]
    forged = NoteSignature(original.name, original.key_id, bytes([original.signature[0] ^ 1]) + original.signature[1:])
    with pytest.raises(BadNoteSignature):
        verify_note(Note(note.text, (forged,)), make_log().verifier)


def test_changed_root_under_a_valid_signature_is_rejected(make_log: MakeLog) -> None:
    log = make_log(count=3)
    text = log.checkpoint()
    lines = text.split("\n")
    lines[2] = base64.b64encode(leaf_hash(b"something else")).decode()
    with pytest.raises(BadNoteSignature):
        open_checkpoint("\n".join(lines), log.verifier)


def test_forged_line_next_to_a_valid_one_rejects_the_whole_note(make_log: MakeLog) -> None:
    log = make_log(count=3)
    note = Note.parse(log.checkpoint())
    good = note.signatures[0]
    bad = NoteSignature(good.name, good.key_id, bytes(64))
    with pytest.raises(BadNoteSignature):
        verify_note(note.with_signatures(bad), log.verifier)


def test_missing_signature_is_rejected(make_log: MakeLog) -> None:
    log = make_log(count=3)
    impostor = NoteSigner(log.origin, SigningKey.from_seed(b"\x07" * 32))
    note = Note(Checkpoint(log.origin, 3, log.tree.root()).body(), (impostor.sign(log.tree.root().hex()),))
    with pytest.raises(MissingNoteSignature):
        verify_note(note, log.verifier)
    with pytest.raises(MalformedNote):
        Note.parse(Checkpoint(log.origin, 3, log.tree.root()).body() + "\n")


def test_wrong_key_name_is_not_the_log(make_log: MakeLog) -> None:
    log = make_log(count=3)
    renamed = NoteSigner("attacker.example/log", log.signer.key)  # right key, other name: other key id
    note = sign_checkpoint(Checkpoint(log.origin, 3, log.tree.root()), renamed)
    with pytest.raises(MissingNoteSignature):
        verify_note(note, log.verifier)
    # The log's real signature relabelled with another name is an unknown key too.
    real = Note.parse(log.checkpoint()).signatures[0]
    relabelled = Note(note.text, (NoteSignature("attacker.example/log", real.key_id, real.signature),))
    with pytest.raises(MissingNoteSignature):
        verify_note(relabelled, log.verifier)


def test_signatures_of_unknown_keys_are_ignored(make_log: MakeLog) -> None:
    log = make_log(count=3)
    stranger = NoteSigner("stranger.example", SigningKey.from_seed(b"\x09" * 32))
    colliding_name = NoteSignature(log.origin, b"\x00\x00\x00\x00", bytes(64))  # same name, other id
    note = Note.parse(log.checkpoint())
    extended = note.with_signatures(stranger.sign(note.text), colliding_name)
    assert open_checkpoint(extended.format(), log.verifier).size == 3
    assert len(extended.with_signatures(*extended.signatures).signatures) == 3


def test_receipt_checks_out_and_a_changed_or_reordered_entry_fails(make_log: MakeLog) -> None:
    key = SigningKey.from_seed(b"\x05" * 32)
    did = "did:web:consumer.example"
    when = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [
        sign_statement(new_statement("usage-decision", did, when, agreement=f"agr-{i}"), key, f"{did}#key-1")
        for i in range(6)
    ]
    leaves = [leaf_hash(leaf_data(entry)) for entry in entries]
    log = make_log()
    log.tree = MemoryTree(leaves)
    checkpoint = open_checkpoint(log.checkpoint(), log.verifier)

    index = 4
    proof = inclusion_proof(index, checkpoint.size, log.tree.node)
    verify_inclusion(index, checkpoint.size, leaf_hash(leaf_data(entries[index])), proof, checkpoint.root_hash)

    changed = {**entries[index], "subjects": {"agreement": "agr-999"}}
    with pytest.raises(InvalidMerkleProof):
        verify_inclusion(index, checkpoint.size, leaf_hash(leaf_data(changed)), proof, checkpoint.root_hash)

    reordered = MemoryTree([leaves[1], leaves[0], *leaves[2:]])
    assert reordered.root() != checkpoint.root_hash
    with pytest.raises(InvalidMerkleProof):  # a receipt from the reordered log does not match the checkpoint
        verify_inclusion(0, 6, leaves[1], inclusion_proof(0, 6, reordered.node), checkpoint.root_hash)
    with pytest.raises(InvalidMerkleProof):  # nor does moving an entry to another index
        verify_inclusion(0, 6, leaves[4], proof, checkpoint.root_hash)


@pytest.mark.parametrize(
    "text",
    [
        "origin\n1\nroot\n",  # no blank line, no signatures
        "origin\n1\n\n- origin AAAAAAA=\n",  # hyphen, not em dash
        "origin\n1\n\n— origin AAAAAAA=",  # no final newline
        "origin\n1\n\n— origin not*base64\n",
        "origin\n1\n\n— origin AAAAAAB=\n",  # non-canonical base64 padding bits
        "origin\n1\n\n— origin AAAA\n",  # shorter than a key id and a byte
        "origin\n1\n\n— ori+gin AAAAAAA=\n",  # '+' in a key name
        "origin\n1\n\n—  AAAAAAA=\n",  # empty key name
        "origin\x07\n1\n\n— origin AAAAAAA=\n",  # control character
        "origin\n1\n\n" + "— origin AAAAAAA=\n" * 101,  # too many signatures
    ],
)
def test_malformed_notes_are_rejected(text: str) -> None:
    with pytest.raises(MalformedNote):
        Note.parse(text)


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(MalformedNote):
        Note.parse(b"origin\n\xff\n\n\xe2\x80\x94 origin AAAAAAA=\n")


def test_note_text_may_contain_blank_lines_the_last_one_separates() -> None:
    note = Note.parse("a\n\nb\n\n— k AAAAAAA=\n")
    assert note.text == "a\n\nb\n"


@pytest.mark.parametrize(
    "body",
    [
        "origin\n1\n",  # no root line
        "origin\n01\n" + base64.b64encode(bytes(32)).decode() + "\n",  # leading zero
        "origin\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n18446744073709551616\n" + base64.b64encode(bytes(32)).decode() + "\n",  # > uint64
        "origin\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n",  # empty extension line
        "origin\n1\n" + base64.b64encode(bytes(32)).decode(),  # no final newline
        "\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",  # empty origin
        "origin\n0\n" + base64.b64encode(bytes(32)).decode() + "\n",  # empty tree with a non-empty root
    ],
)
def test_malformed_checkpoints_are_rejected(body: str) -> None:
    with pytest.raises(MalformedNote):
        Checkpoint.from_body(body)


def test_empty_tree_checkpoint() -> None:
    checkpoint = Checkpoint.from_body("origin\n0\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n")
    assert checkpoint.size == 0


def test_vkeys_round_trip_and_bad_ones_are_rejected() -> None:
    verifier = NoteVerifier("log.example/one", SigningKey.from_seed(bytes(32)).public)
    assert NoteVerifier.from_vkey(verifier.vkey) == verifier
    name, signature_type, public_key = parse_vkey(verifier.vkey)
    assert (name, signature_type, public_key) == ("log.example/one", 0x01, verifier.key.raw)
    wrong_id = verifier.vkey.replace(verifier.key_id.hex(), "00000000")
    cosigner_key = format_vkey("log.example/one", 0x04, verifier.key.raw)
    for bad in (wrong_id, cosigner_key, "log.example/one+c74f20a3", "no-plus-at-all", "a+zzzzzzzz+AQ==", "a+12345678+"):
        with pytest.raises(MalformedNote):
            NoteVerifier.from_vkey(bad)
    with pytest.raises(MalformedNote):
        NoteVerifier("bad name", verifier.key)


def test_oversized_or_unsigned_notes_are_rejected() -> None:
    with pytest.raises(MalformedNote):
        Note.parse("origin\n" + "x" * 300_000 + "\n\n— origin AAAAAAA=\n")
    with pytest.raises(MalformedNote):
        Note.parse("origin\n1\n\n— nameonly\n")
    with pytest.raises(MalformedNote):
        Note.parse("lone surrogate \ud800\n\n— origin AAAAAAA=\n")
    with pytest.raises(MalformedNote):
        Note("origin\n").format()
    note = Note.parse("a\n\n— k AAAAAAA=\n")
    assert str(note) == note.format()
