"""Witness cosignatures (c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1``) and the witness state machine.

Cosignature format. A cosignature is a signed-note signature line on the checkpoint,
``— <witness name> base64(key id || timestamp || signature)``, where
- key id = ``SHA-256(witness name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]`` (type byte 0x04,
  "timestamped Ed25519 witness cosignature"), and the witness's vkey carries the same type byte;
- timestamp = the POSIX time of cosigning as a big-endian uint64, at most 2**63 - 1;
- signature = Ed25519 over ``"cosignature/v1\\n" || "time " || <timestamp in decimal> || "\\n" || <checkpoint
  note text>`` (the whole body with its final newline, no signature lines).
That message does not name the witness, so one public key must never serve two witness names; quorum
counting therefore counts distinct public keys, not names.

Witnessing. ``witness_step`` is the pure transition: given the state (the latest checkpoint per origin, and
any split-view evidence) and a checkpoint note with a consistency proof from the latest size, it returns the
next state and either the checkpoint to cosign or the evidence of a fork. ``Witness`` wraps it with a key and
a clock and turns a fork into ``SplitView``. A cosignature means: as of its timestamp, this is the largest
tree of the origin this witness has seen, and it is consistent with every earlier one it cosigned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import ClassVar

from trustspace.core.clock import Clock
from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import (
    Checkpoint,
    NamedKey,
    Note,
    NoteSignature,
    NoteVerifier,
    check_key_name,
    open_checkpoint,
    verify_note,
)
from trustspace.ledger.errors import (
    BadNoteSignature,
    CheckpointRollback,
    CosigningHalted,
    InvalidMerkleProof,
    InvalidQuorum,
    MalformedNote,
    QuorumNotMet,
    SplitView,
    SplitViewEvidence,
    StaleOldSize,
    UnknownLogOrigin,
)
from trustspace.ledger.merkle import verify_consistency

__all__ = [
    "COSIGNATURE_TYPE",
    "Accepted",
    "Cosignature",
    "CosignatureVerifier",
    "Cosigner",
    "Forked",
    "OriginState",
    "SplitViewEvidence",
    "Witness",
    "WitnessState",
    "cosigned_message",
    "open_final_checkpoint",
    "quorum_met",
    "valid_cosigners",
    "witness_step",
]

COSIGNATURE_TYPE = 0x04
_MAX_TIMESTAMP = 2**63 - 1


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The exact bytes a ``cosignature/v1`` signature covers."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise MalformedNote(f"cosignature timestamp {timestamp} is outside 0..2**63-1")
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True, slots=True)
class Cosignature:
    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def note_signature(self) -> NoteSignature:
        return NoteSignature(self.name, self.key_id, self.timestamp.to_bytes(8, "big") + self.signature)

    def line(self) -> str:
        return self.note_signature().line()

    @classmethod
    def from_note_signature(cls, signature: NoteSignature) -> Cosignature:
        raw = signature.signature
        if len(raw) != 8 + 64:
            raise MalformedNote(f"a cosignature of {signature.name!r} is an 8-byte timestamp and 64-byte signature")
        return cls(signature.name, signature.key_id, int.from_bytes(raw[:8], "big"), raw[8:])


@dataclass(frozen=True, slots=True)
class CosignatureVerifier(NamedKey):
    """A trusted witness: its name and Ed25519 public key (type 0x04)."""

    TYPE: ClassVar[int] = COSIGNATURE_TYPE
    KIND: ClassVar[str] = "cosignature key"

    def verify(self, body: str, cosignature: Cosignature) -> bool:
        if cosignature.timestamp > _MAX_TIMESTAMP:
            return False
        return self.key.verify(cosignature.signature, cosigned_message(body, cosignature.timestamp))


@dataclass(frozen=True, slots=True)
class Cosigner:
    """A witness's signing key under its name."""

    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.key.public)

    def cosign(self, body: str, timestamp: int) -> Cosignature:
        signature = self.key.sign(cosigned_message(body, timestamp))
        return Cosignature(self.name, self.verifier.key_id, timestamp, signature)


def valid_cosigners(note: Note | str | bytes, witness_keys: Iterable[CosignatureVerifier]) -> frozenset[bytes]:
    """Public keys of the given witnesses whose cosignature on ``note`` verifies.

    A signature line that names a known witness (name and key id) but does not verify rejects the note, as
    signed-note asks: ``BadNoteSignature``. Lines of unknown keys are ignored.
    """
    parsed = note if isinstance(note, Note) else Note.parse(note)
    signed: set[bytes] = set()
    for verifier in witness_keys:
        for line in parsed.signatures_of(verifier.name, verifier.key_id):
            try:
                cosignature = Cosignature.from_note_signature(line)
            except MalformedNote:
                raise BadNoteSignature(f"the cosignature of {verifier.name!r} is malformed") from None
            if not verifier.verify(parsed.text, cosignature):
                raise BadNoteSignature(f"the cosignature of {verifier.name!r} does not verify")
            signed.add(verifier.key.raw)
    return frozenset(signed)


def _check_quorum(witness_keys: Sequence[CosignatureVerifier], k: int) -> None:
    distinct = len({verifier.key.raw for verifier in witness_keys})
    if not 1 <= k <= distinct:
        raise InvalidQuorum(f"a quorum of {k} cannot be met by {distinct} distinct witness keys")


def quorum_met(note: Note | str | bytes, witness_keys: Iterable[CosignatureVerifier], k: int) -> bool:
    """Whether at least ``k`` distinct witnesses (distinct public keys) validly cosigned ``note``.

    Repeated lines of one witness, or one key listed under two names, count once. A forged line in the name
    of a known witness makes the answer False. This checks cosignatures only: the log's own signature is
    ``open_checkpoint``'s job, or use ``open_final_checkpoint`` for both.
    """
    keys = list(witness_keys)
    _check_quorum(keys, k)
    try:
        return len(valid_cosigners(note, keys)) >= k
    except BadNoteSignature:
        return False


def open_final_checkpoint(
    note: Note | str | bytes, log: NoteVerifier, witness_keys: Iterable[CosignatureVerifier], k: int
) -> Checkpoint:
    """The checkpoint, if the log signed it and a quorum of ``k`` witnesses cosigned it."""
    parsed = note if isinstance(note, Note) else Note.parse(note)
    checkpoint = open_checkpoint(parsed, log)
    keys = list(witness_keys)
    _check_quorum(keys, k)
    count = len(valid_cosigners(parsed, keys))
    if count < k:
        raise QuorumNotMet(f"checkpoint of {checkpoint.origin!r} has {count} of the {k} cosignatures it needs")
    return checkpoint


@dataclass(frozen=True, slots=True)
class OriginState:
    """What the witness knows of one log: the latest checkpoint it cosigned, and evidence if it forked."""

    note: str
    size: int
    root_hash: bytes
    halted: SplitViewEvidence | None = None


@dataclass(frozen=True, slots=True)
class WitnessState:
    origins: Mapping[str, OriginState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "origins", MappingProxyType(dict(self.origins)))

    def with_origin(self, origin: str, state: OriginState | None) -> WitnessState:
        origins = {name: known for name, known in self.origins.items() if name != origin}
        if state is not None:
            origins[origin] = state
        return WitnessState(origins)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The checkpoint is consistent with everything seen before: cosign ``note``."""

    state: WitnessState
    note: Note
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class Forked:
    """The log showed a split view: ``state`` halts the origin and keeps ``evidence``."""

    state: WitnessState
    evidence: SplitViewEvidence


def _fork(state: WitnessState, known: OriginState, note: Note, new: Checkpoint, proof: Sequence[bytes]) -> Forked:
    evidence = SplitViewEvidence(
        origin=new.origin,
        known_note=known.note,
        known_size=known.size,
        conflicting_note=note.format(),
        conflicting_size=new.size,
        proof=tuple(proof),
        provable=new.size == known.size,
    )
    return Forked(state.with_origin(new.origin, replace(known, halted=evidence)), evidence)


def witness_step(
    state: WitnessState,
    logs: Mapping[str, NoteVerifier],
    note: Note | str | bytes,
    proof: Sequence[bytes] = (),
    old_size: int | None = None,
) -> Accepted | Forked:
    """One witnessing decision; refusals that change nothing raise, a fork returns ``Forked``.

    ``logs`` maps each witnessed origin to the log's checkpoint key. ``proof`` is the consistency proof from
    the latest size this witness holds for the origin (``old_size``, if given, must say so; as in
    c2sp.org/tlog-witness a mismatch is answered with the witness's size, not taken for a fork). The first
    checkpoint of an origin is trusted on first use, unless the state was seeded with one.
    """
    parsed = note if isinstance(note, Note) else Note.parse(note)
    new = Checkpoint.from_body(parsed.text)
    verifier = logs.get(new.origin)
    if verifier is None:
        raise UnknownLogOrigin(f"this witness does not witness the log {new.origin!r}")
    verify_note(parsed, verifier)
    known = state.origins.get(new.origin)
    if known is not None and known.halted is not None:
        raise CosigningHalted(known.halted)
    known_size = 0 if known is None else known.size
    if new.size < known_size:
        raise CheckpointRollback(f"checkpoint size {new.size} is below the witnessed size {known_size}")
    if old_size is not None and old_size != known_size:
        raise StaleOldSize(f"the latest witnessed size is {known_size}, not {old_size}", size=known_size)
    accepted = Accepted(
        state.with_origin(new.origin, OriginState(parsed.format(), new.size, new.root_hash)), parsed, new
    )
    if known is None or known.size == 0:
        if proof:
            raise InvalidMerkleProof("every tree extends the empty one: send an empty consistency proof")
        return accepted
    if new.size == known.size and new.root_hash != known.root_hash:
        return _fork(state, known, parsed, new, proof)
    if new.size == known.size:
        if proof:
            raise InvalidMerkleProof("sizes are equal, so the consistency proof must be empty")
        return Accepted(state, parsed, new)  # nothing new: keep the first note as the record
    try:
        verify_consistency(known.size, new.size, known.root_hash, new.root_hash, proof)
    except InvalidMerkleProof:
        return _fork(state, known, parsed, new, proof)
    return accepted


class Witness:
    """A witness with its key and clock; it keeps its ``state`` (plain data) between observations."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, NoteVerifier],
        clock: Clock,
        state: WitnessState | None = None,
    ) -> None:
        self._cosigner = cosigner
        self._logs = dict(logs)
        self._clock = clock
        self._state = state or WitnessState()

    @property
    def state(self) -> WitnessState:
        return self._state

    @property
    def verifier(self) -> CosignatureVerifier:
        return self._cosigner.verifier

    def latest_size(self, origin: str) -> int:
        known = self._state.origins.get(origin)
        return 0 if known is None else known.size

    def evidence(self, origin: str) -> SplitViewEvidence | None:
        known = self._state.origins.get(origin)
        return None if known is None else known.halted

    def observe(
        self, note: Note | str | bytes, proof: Sequence[bytes] = (), *, old_size: int | None = None
    ) -> Cosignature:
        """Verify ``note`` against everything seen before and cosign it, or raise (``SplitView`` on a fork)."""
        outcome = witness_step(self._state, self._logs, note, proof, old_size)
        self._state = outcome.state
        if isinstance(outcome, Forked):
            raise SplitView(outcome.evidence)
        timestamp = int(self._clock.now().timestamp())
        return self._cosigner.cosign(outcome.note.text, timestamp)

    def reset(self, origin: str, trusted: Note | str | bytes | None = None) -> SplitViewEvidence | None:
        """Lift a halt after investigation; return the evidence so the caller can archive it.

        With ``trusted`` the origin restarts from that (log-signed) checkpoint; without, from the next one seen.
        """
        evidence = self.evidence(origin)
        restart: OriginState | None = None
        if trusted is not None:
            parsed = trusted if isinstance(trusted, Note) else Note.parse(trusted)
            verifier = self._logs.get(origin)
            if verifier is None:
                raise UnknownLogOrigin(f"this witness does not witness the log {origin!r}")
            checkpoint = open_checkpoint(parsed, verifier)
            if checkpoint.origin != origin:
                raise MalformedNote(f"the trusted checkpoint is of {checkpoint.origin!r}, not {origin!r}")
            restart = OriginState(parsed.format(), checkpoint.size, checkpoint.root_hash)
        self._state = self._state.with_origin(origin, restart)
        return evidence
