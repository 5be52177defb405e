"""Witness cosigning (C2SP tlog-cosignature) and the witness state machine, named after the attacks they stop."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from ledger_fakes import FakeLog, entries

from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import (
    Checkpoint,
    Note,
    NoteSignature,
    NoteSigner,
    key_id,
    open_checkpoint,
    sign_checkpoint,
)
from trustspace.ledger.errors import (
    BadNoteSignature,
    CheckpointRollback,
    CosigningHalted,
    InvalidMerkleProof,
    InvalidQuorum,
    MalformedNote,
    MissingNoteSignature,
    QuorumNotMet,
    SplitView,
    StaleOldSize,
    UnknownLogOrigin,
)
from trustspace.ledger.witness import (
    Accepted,
    Cosignature,
    CosignatureVerifier,
    Cosigner,
    Forked,
    Witness,
    WitnessState,
    cosigned_message,
    open_final_checkpoint,
    quorum_met,
    witness_step,
)

MakeLog = Callable[..., FakeLog]
C2SP_COSIGNATURE_LINE = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def cosigner(n: int) -> Cosigner:
    return Cosigner(f"witness{n}.example", SigningKey.from_seed(bytes([n]) * 32))


def witness(log: FakeLog, n: int = 1, clock: FixedClock | None = None) -> Witness:
    return Witness(cosigner(n), {log.origin: log.verifier}, clock or FixedClock())


def test_cosigned_message_is_header_time_line_and_body() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosigned_message(body, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    with pytest.raises(MalformedNote):
        cosigned_message(body, 2**63)


def test_c2sp_example_cosignature_has_key_id_timestamp_signature_layout() -> None:
    line = NoteSignature.parse(C2SP_COSIGNATURE_LINE)
    cosignature = Cosignature.from_note_signature(line)
    assert cosignature.timestamp == 1679315147  # the time in the spec's example message
    assert len(cosignature.signature) == 64
    assert cosignature.line() == C2SP_COSIGNATURE_LINE + "\n"


def test_cosignature_key_id_uses_type_0x04_and_vkeys_round_trip() -> None:
    verifier = cosigner(1).verifier
    assert verifier.key_id == key_id(verifier.name, 0x04, verifier.key.raw)
    assert verifier.key_id != NoteSigner(verifier.name, cosigner(1).key).verifier.key_id
    assert CosignatureVerifier.from_vkey(verifier.vkey) == verifier
    assert base64.b64decode(verifier.vkey.split("+", 2)[2])[0] == 0x04
    with pytest.raises(MalformedNote):
        CosignatureVerifier.from_vkey(NoteSigner(verifier.name, cosigner(1).key).verifier.vkey)


def test_witness_cosigns_a_growing_log(make_log: MakeLog) -> None:
    log = make_log(count=3)
    clock = FixedClock()
    w = witness(log, clock=clock)
    first = w.observe(log.checkpoint())
    assert first.timestamp == int(clock.now().timestamp())
    assert w.verifier.verify(Note.parse(log.checkpoint()).text, first)
    for grow in (1, 5, 8):
        old = w.latest_size(log.origin)
        log.append(*entries("more", grow))
        clock.advance(60)
        cosignature = w.observe(log.checkpoint(), log.proof(old), old_size=old)
        assert w.verifier.verify(Note.parse(log.checkpoint()).text, cosignature)
        assert cosignature.timestamp == int(clock.now().timestamp())
    assert w.latest_size(log.origin) == 17


def test_same_checkpoint_again_is_cosigned_again(make_log: MakeLog) -> None:
    log = make_log(count=4)
    w = witness(log)
    w.observe(log.checkpoint())
    state = w.state
    w.observe(log.checkpoint())
    assert w.state == state
    with pytest.raises(InvalidMerkleProof):
        w.observe(log.checkpoint(), [bytes(32)])


def test_forged_operator_signature_is_not_cosigned(make_log: MakeLog) -> None:
    log = make_log(count=3)
    note = Note.parse(log.checkpoint())
    good = note.signatures[0]
    forged = Note(note.text, (NoteSignature(good.name, good.key_id, bytes(64)),))
    w = witness(log)
    with pytest.raises(BadNoteSignature):
        w.observe(forged.format())
    impostor = FakeLog(log.origin, SigningKey.from_seed(b"\x66" * 32)).append(b"x")
    with pytest.raises(MissingNoteSignature):
        w.observe(impostor.checkpoint())
    assert w.state == WitnessState()


def test_unknown_origin_is_not_cosigned(make_log: MakeLog) -> None:
    log = make_log(count=1)
    other = make_log(origin="other.example/log", count=1)
    with pytest.raises(UnknownLogOrigin):
        witness(log).observe(other.checkpoint())


def test_truncated_log_rollback_is_refused(make_log: MakeLog) -> None:
    log = make_log(count=10)
    w = witness(log)
    w.observe(log.checkpoint())
    truncated = log.fork(6).append(b"rewritten")
    with pytest.raises(CheckpointRollback):
        w.observe(truncated.checkpoint())
    assert w.latest_size(log.origin) == 10
    assert w.evidence(log.origin) is None


def test_replayed_old_checkpoint_is_refused(make_log: MakeLog) -> None:
    log = make_log(count=5)
    w = witness(log)
    old_note = log.checkpoint()
    w.observe(old_note)
    log.append(b"new")
    w.observe(log.checkpoint(), log.proof(5))
    with pytest.raises(CheckpointRollback):
        w.observe(old_note)
    assert w.latest_size(log.origin) == 6


def test_forked_log_shown_to_two_witnesses(make_log: MakeLog) -> None:
    log = make_log(count=8)
    w1, w2 = witness(log, 1), witness(log, 2)
    common = log.checkpoint()
    w1.observe(common)
    w2.observe(common)

    fork_a = log.fork(8).append(*entries("a", 4))
    fork_b = log.fork(8).append(*entries("b", 5))
    note_a = Note.parse(fork_a.checkpoint()).with_signatures(
        w1.observe(fork_a.checkpoint(), fork_a.proof(8)).note_signature()
    )
    note_b = Note.parse(fork_b.checkpoint()).with_signatures(
        w2.observe(fork_b.checkpoint(), fork_b.proof(8)).note_signature()
    )

    # Neither view is final under a 2-of-2 quorum: each witness saw only its own branch.
    keys = [w1.verifier, w2.verifier]
    assert not quorum_met(note_a, keys, 2)
    assert not quorum_met(note_b, keys, 2)

    # The log now shows w1 the other branch, with the best proof it can make from size 12.
    with pytest.raises(SplitView) as caught:
        w1.observe(fork_b.append(b"b-extra").checkpoint(), fork_b.proof(12), old_size=12)
    evidence = caught.value.evidence
    assert evidence.origin == log.origin
    assert Note.parse(evidence.known_note).text == note_a.text
    assert Note.parse(evidence.conflicting_note).text == Note.parse(fork_b.checkpoint()).text
    assert evidence.proof == tuple(fork_b.proof(12))
    assert (evidence.known_size, evidence.conflicting_size, evidence.provable) == (12, 14, False)
    assert caught.value.status == 409 and caught.value.slug == "split-view"
    # Both checkpoints still carry the log's valid signature: the evidence stands on its own.
    assert open_checkpoint(evidence.known_note, log.verifier).size == 12
    assert open_checkpoint(evidence.conflicting_note, log.verifier).size == 14

    # From now on w1 cosigns nothing for this origin, not even the branch it had been following.
    fork_a.append(b"a-next")
    with pytest.raises(CosigningHalted) as halted:
        w1.observe(fork_a.checkpoint(), fork_a.proof(12))
    assert halted.value.evidence == evidence
    assert w1.evidence(log.origin) == evidence


def test_same_size_different_root_is_a_provable_split_view(make_log: MakeLog) -> None:
    log = make_log(count=4)
    w = witness(log)
    w.observe(log.append(b"x").checkpoint())
    twin = log.fork(4).append(b"y")
    with pytest.raises(SplitView) as caught:
        w.observe(twin.checkpoint())
    assert caught.value.evidence.provable
    assert caught.value.evidence.known_size == caught.value.evidence.conflicting_size == 5


def test_fork_is_pure_data_the_old_state_is_untouched(make_log: MakeLog) -> None:
    log = make_log(count=4)
    logs = {log.origin: log.verifier}
    first = witness_step(WitnessState(), logs, log.checkpoint())
    assert isinstance(first, Accepted)
    fork = log.fork(3).append(b"other", b"more")
    outcome = witness_step(first.state, logs, fork.checkpoint(), fork.proof(4))
    assert isinstance(outcome, Forked)
    assert first.state.origins[log.origin].halted is None
    assert outcome.state.origins[log.origin].halted == outcome.evidence


def test_stale_old_size_is_answered_not_taken_for_a_fork(make_log: MakeLog) -> None:
    log = make_log(count=4)
    w = witness(log)
    w.observe(log.checkpoint())
    log.append(b"x", b"y")
    with pytest.raises(StaleOldSize) as caught:
        w.observe(log.checkpoint(), log.proof(3), old_size=3)
    assert caught.value.size == 4
    assert w.evidence(log.origin) is None
    w.observe(log.checkpoint(), log.proof(4), old_size=4)


def test_first_checkpoint_is_trusted_on_first_use_with_an_empty_proof(make_log: MakeLog) -> None:
    log = make_log(count=3)
    w = witness(log)
    with pytest.raises(InvalidMerkleProof):
        w.observe(log.checkpoint(), [bytes(32)])
    with pytest.raises(StaleOldSize):
        w.observe(log.checkpoint(), old_size=2)
    w.observe(log.checkpoint(), old_size=0)
    assert w.latest_size(log.origin) == 3


def test_empty_tree_then_growth_needs_no_proof(make_log: MakeLog) -> None:
    log = make_log()
    w = witness(log)
    w.observe(log.checkpoint())
    log.append(b"first")
    with pytest.raises(InvalidMerkleProof):
        w.observe(log.checkpoint(), [bytes(32)])
    w.observe(log.checkpoint())
    assert w.latest_size(log.origin) == 1


def test_reset_lifts_the_halt_and_hands_back_the_evidence(make_log: MakeLog) -> None:
    log = make_log(count=4)
    w = witness(log)
    w.observe(log.append(b"x").checkpoint())
    twin = log.fork(4).append(b"y")
    with pytest.raises(SplitView):
        w.observe(twin.checkpoint())
    evidence = w.reset(log.origin, trusted=twin.checkpoint())
    assert evidence is not None and evidence.provable
    assert w.evidence(log.origin) is None
    twin.append(b"z")
    w.observe(twin.checkpoint(), twin.proof(5))
    assert w.reset(log.origin) is None
    assert w.latest_size(log.origin) == 0
    with pytest.raises(UnknownLogOrigin):
        w.reset("other.example/log", trusted=twin.checkpoint())


def cosigned(log: FakeLog, *witnesses: Cosigner) -> Note:
    note = Note.parse(log.checkpoint())
    return note.with_signatures(*(c.cosign(note.text, 1_700_000_000).note_signature() for c in witnesses))


def test_quorum_counts_distinct_witnesses(make_log: MakeLog) -> None:
    log = make_log(count=3)
    keys = [cosigner(n).verifier for n in (1, 2, 3)]
    note = cosigned(log, cosigner(1), cosigner(2))
    assert quorum_met(note, keys, 2)
    assert quorum_met(note.format(), keys, 1)
    assert not quorum_met(note, keys, 3)
    assert open_final_checkpoint(note.format(), log.verifier, keys, 2).size == 3
    with pytest.raises(QuorumNotMet):
        open_final_checkpoint(note, log.verifier, keys, 3)


def test_quorum_with_duplicate_cosignatures_of_one_witness_counts_once(make_log: MakeLog) -> None:
    log = make_log(count=3)
    one = cosigner(1)
    note = Note.parse(log.checkpoint())
    lines = [one.cosign(note.text, t).note_signature() for t in (1_700_000_000, 1_700_000_001)]
    doubled = note.with_signatures(*lines, lines[0])
    assert len(Note.parse(doubled.format() + lines[0].line()).signatures) == 4
    keys = [one.verifier, cosigner(2).verifier]
    assert not quorum_met(doubled.format() + lines[0].line(), keys, 2)
    # One key configured under two names is still one witness: the v1 message does not bind the name.
    alias = CosignatureVerifier("alias.example", one.key.public)
    relabelled = Cosigner("alias.example", one.key).cosign(note.text, 1_700_000_000).note_signature()
    with pytest.raises(InvalidQuorum):
        quorum_met(note.with_signatures(lines[0], relabelled), [one.verifier, alias], 2)
    assert not quorum_met(note.with_signatures(lines[0], relabelled), [one.verifier, alias, cosigner(2).verifier], 2)


def test_quorum_with_a_forged_cosignature_is_not_met(make_log: MakeLog) -> None:
    log = make_log(count=3)
    note = cosigned(log, cosigner(1), cosigner(2))
    real = Cosignature.from_note_signature(note.signatures[1])
    replayed_time = Cosignature(real.name, real.key_id, real.timestamp + 3600, real.signature)  # moved in time
    forged = Note(note.text, (*note.signatures[:1], replayed_time.note_signature(), note.signatures[2]))
    keys = [cosigner(n).verifier for n in (1, 2)]
    assert quorum_met(note, keys, 2)
    assert not quorum_met(forged, keys, 1)
    other_checkpoint = cosigned(log.append(b"new"), cosigner(3))
    moved = Note(other_checkpoint.text, (*other_checkpoint.signatures, note.signatures[1]))  # cosig of another head
    assert not quorum_met(moved, keys, 1)
    truncated = Note(note.text, (*note.signatures[:1], NoteSignature(real.name, real.key_id, b"\x00" * 40)))
    with pytest.raises(BadNoteSignature):
        open_final_checkpoint(truncated, log.verifier, keys, 1)


def test_impossible_quorums_are_caller_errors(make_log: MakeLog) -> None:
    note = cosigned(make_log(count=1), cosigner(1))
    for k in (0, 2):
        with pytest.raises(InvalidQuorum):
            quorum_met(note, [cosigner(1).verifier], k)


def test_cosignature_timestamps_beyond_int63_never_verify(make_log: MakeLog) -> None:
    note = Note.parse(make_log(count=1).checkpoint())
    real = cosigner(1).cosign(note.text, 5)
    assert cosigner(1).verifier.verify(note.text, real)
    assert not cosigner(1).verifier.verify(note.text, Cosignature(real.name, real.key_id, 2**63, real.signature))


def test_reset_refuses_a_trusted_checkpoint_of_another_origin(make_log: MakeLog) -> None:
    log = make_log(count=2)
    w = witness(log)
    misfiled = sign_checkpoint(Checkpoint("other.example/log", 2, log.tree.root()), log.signer)
    with pytest.raises(MalformedNote):
        w.reset(log.origin, trusted=misfiled)
