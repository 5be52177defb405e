"""Errors of the evidence ledger.

Each class has a stable ``slug`` (the RFC 9457 problem ``type`` at HTTP boundaries). Input that does not
parse or does not prove what it claims is the sender's mistake (``ValidationFailed``, ``Unauthenticated``,
``Conflict``); a log operator that shows two views of its log is a remote party breaking its promise
(``PeerError``), and the error carries the evidence so the shell can keep it.

Detail strings name what failed; they never include key material.
"""

from __future__ import annotations

from dataclasses import dataclass

from trustspace.core.errors import CallerError, Conflict, NotFound, PeerError, Unauthenticated, ValidationFailed


@dataclass(frozen=True, slots=True)
class SplitViewEvidence:
    """Two checkpoints of one origin, both signed by the log, that this witness could not reconcile.

    ``provable`` is True when the sizes are equal and the roots differ: anyone holding the log's key can
    check that from the two notes alone. Otherwise the evidence is the failed ``proof`` the log supplied.
    """

    origin: str
    known_note: str
    known_size: int
    conflicting_note: str
    conflicting_size: int
    proof: tuple[bytes, ...]
    provable: bool


class InvalidMerkleProof(ValidationFailed):
    """An inclusion or consistency proof does not prove the claimed relation (RFC 9162 §2.1.3.2, §2.1.4.2)."""

    slug = "invalid-merkle-proof"
    title = "Merkle proof does not verify"


class InvalidProofRequest(CallerError):
    """A proof was asked for coordinates that do not exist (index beyond the tree, sizes out of order)."""

    slug = "invalid-proof-request"
    title = "No such proof"


class InvalidStatement(ValidationFailed):
    """An evidence statement has the wrong shape; ``field`` names the offending property."""

    slug = "invalid-statement"
    title = "Evidence statement is malformed"


class StatementTooLarge(InvalidStatement):
    """A signed statement is above the entry size limit: large payloads go in by digest only."""

    slug = "statement-too-large"
    status = 413
    title = "Evidence statement is too large"


class InvalidStatementSignature(Unauthenticated):
    """A statement's signature is missing, malformed, from the wrong party, or does not verify."""

    slug = "invalid-statement-signature"
    title = "Evidence statement signature is invalid"


class MalformedNote(ValidationFailed):
    """Text that breaks the C2SP signed-note, tlog-checkpoint or vkey format."""

    slug = "malformed-note"
    title = "Signed note is malformed"


class MissingNoteSignature(Unauthenticated):
    """No signature line of the expected key (name and key id) is on the note."""

    slug = "missing-note-signature"
    title = "Signed note lacks the expected signature"


class BadNoteSignature(Unauthenticated):
    """A signature line names a known key but does not verify: the note is rejected as a whole."""

    slug = "bad-note-signature"
    title = "Signed note signature does not verify"


class UnknownLogOrigin(NotFound):
    """A witness was shown a checkpoint of a log it was not configured to witness."""

    slug = "unknown-log-origin"
    title = "Unknown log origin"


class CheckpointRollback(Conflict):
    """A checkpoint smaller than one already witnessed: a replay or a truncated log. Nothing is cosigned."""

    slug = "checkpoint-rollback"
    title = "Checkpoint is older than the one already witnessed"


class StaleOldSize(Conflict):
    """The caller's consistency proof starts from a size other than the witness's latest; ``size`` is that."""

    slug = "stale-old-size"
    title = "Consistency proof starts from the wrong size"

    def __init__(self, detail: str, *, size: int) -> None:
        super().__init__(detail, hint=f"send a consistency proof from size {size}")
        self.size = size


class InvalidQuorum(CallerError):
    """A cosignature quorum that can never be met (k < 1, or more than the configured witnesses)."""

    slug = "invalid-quorum"
    title = "Invalid cosignature quorum"


class QuorumNotMet(Unauthenticated):
    """A checkpoint lacks the cosignatures of enough distinct trusted witnesses to count as final."""

    slug = "cosignature-quorum-not-met"
    title = "Checkpoint is not final: too few witness cosignatures"


class SplitView(PeerError):
    """The log showed this witness two checkpoints that cannot both be true; ``evidence`` holds both."""

    slug = "split-view"
    status = 409
    title = "Log presented a split view"

    def __init__(self, evidence: SplitViewEvidence) -> None:
        super().__init__(
            f"log {evidence.origin!r} is inconsistent: size {evidence.known_size} was witnessed, "
            f"size {evidence.conflicting_size} conflicts with it; cosigning is halted for this origin",
            hint="keep the evidence, alert the space operator, and reset the witness only after investigation",
        )
        self.evidence = evidence


class CosigningHalted(PeerError):
    """The witness refuses to cosign an origin for which it holds split-view evidence, until reset."""

    slug = "cosigning-halted"
    status = 409
    title = "Cosigning halted after a split view"

    def __init__(self, evidence: SplitViewEvidence) -> None:
        super().__init__(
            f"cosigning for log {evidence.origin!r} is halted since a split view was detected",
            hint="reset the witness for this origin after investigating the kept evidence",
        )
        self.evidence = evidence
