"""The ledger service: what the HTTP routes (and the operator's own code) call.

Submissions are checked and receipted synchronously and integrated later by the ``Sequencer``; proofs are
assembled from stored complete-subtree nodes, O(log n) reads each; checkpoints carry the witnesses'
cosignatures, and one counts as *final* once ``quorum`` distinct witness keys cosigned it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trustspace.core.clock import Clock
from trustspace.core.errors import TrustSpaceError
from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.ledger.checkpoint import Checkpoint, Note, NoteSignature, NoteSigner
from trustspace.ledger.errors import InvalidProofRequest, InvalidQuorum
from trustspace.ledger.merkle import (
    EMPTY_ROOT,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
)
from trustspace.ledger.statements import leaf_data, new_statement, sign_statement, verify_statement
from trustspace.ledger.witness import CosignatureVerifier, quorum_met
from trustspace.operator.ledger.errors import NotIntegrated, NotYourStatement, UnknownCheckpoint
from trustspace.operator.ledger.receipts import new_receipt, sign_receipt
from trustspace.operator.ledger.sequencer import DEFAULT_BATCH_SIZE, Sequencer
from trustspace.operator.ledger.witnesses import check_cosignature
from trustspace.store.ledger.records import (
    EntryQuery,
    LedgerEntry,
    NewEntry,
    StoredCheckpoint,
    StoredCosignature,
    Submitted,
)
from trustspace.store.ledger.sql import Node, SqlLedgerStore

log = logging.getLogger("trustspace.operator.ledger")


@dataclass(frozen=True)
class LedgerConfig:
    origin: str
    quorum: int = 1
    max_delay: int = 5
    batch_interval: float = 0.2
    batch_size: int = DEFAULT_BATCH_SIZE
    witnesses: tuple[str, ...] = ()
    """DIDs allowed to cosign; empty: every member may witness."""


@dataclass(frozen=True)
class Submission:
    """The answer to one statement of a batch: 201 new or 200 repeated, with the receipt; or the refusal."""

    status: int
    receipt: dict[str, Any] | None
    refusal: TrustSpaceError | None


@dataclass(frozen=True)
class Inclusion:
    index: int
    tree_size: int
    leaf_hash: bytes
    proof: list[bytes]


@dataclass(frozen=True)
class CheckpointStatus:
    checkpoint: StoredCheckpoint
    note: str
    cosigners: list[str]
    final: bool
    quorum: int


class LedgerService:
    def __init__(
        self, store: SqlLedgerStore, key: SigningKey, did: str, verification_method: str,
        key_for: Callable[[str], VerifyingKey], config: LedgerConfig, clock: Clock,
    ) -> None:
        self.store, self.did, self.verification_method = store, did, verification_method
        self.config, self.clock = config, clock
        self._key, self._key_for = key, key_for
        self.signer = NoteSigner(config.origin, key)
        self.sequencer = Sequencer(store, self.signer, clock, batch_size=config.batch_size,
                                   interval=config.batch_interval)
        empty = Checkpoint(config.origin, 0, EMPTY_ROOT)
        note = Note(empty.body(), (self.signer.sign(empty.body()),)).format()
        # Every log starts with a signed empty checkpoint, so /checkpoint always has an answer.
        store.add_first_checkpoint(StoredCheckpoint(0, EMPTY_ROOT, note, clock.now()))

    @property
    def origin(self) -> str:
        return self.config.origin

    @property
    def vkey(self) -> str:
        """The checkpoint verifier key (C2SP vkey): what witnesses and auditors are configured with."""
        return self.signer.verifier.vkey

    def start(self) -> None:
        self.sequencer.start()

    def stop(self) -> None:
        self.sequencer.stop()

    # --- submissions ----------------------------------------------------------------------------------------

    def submit(self, signed: Mapping[str, Any], caller: str) -> tuple[dict[str, Any], bool]:
        """Check a signed statement from ``caller`` and queue it; return its receipt and whether it is new.

        Submitting the same statement again returns the same receipt (Ed25519 signing is deterministic and
        the first ``receivedAt`` is kept) and queues nothing.
        """
        new = self._checked(signed, caller)
        submitted = self.store.add_pending(new)
        self._queued([new], [submitted])
        return self.receipt(new.leaf_hash, submitted.received_at), submitted.created

    def submit_many(self, statements: Sequence[Mapping[str, Any]], caller: str) -> list[Submission]:
        """Each statement checked and receipted as ``submit`` does, in order, all queued in one transaction;
        a statement the caller got wrong is answered alone and does not refuse the others. Anything else (the
        database down) fails them all."""
        checked: list[NewEntry | TrustSpaceError] = []
        for signed in statements:
            try:
                checked.append(self._checked(signed, caller))
            except TrustSpaceError as exc:
                if exc.status >= 500:
                    raise
                checked.append(exc)
        fresh = [item for item in checked if isinstance(item, NewEntry)]
        submitted = self.store.add_pending_many(fresh) if fresh else []
        outcomes = iter(submitted)
        results: list[Submission] = []
        for item in checked:
            if isinstance(item, TrustSpaceError):
                results.append(Submission(item.status, None, item))
                continue
            done = next(outcomes)
            results.append(Submission(201 if done.created else 200, self.receipt(item.leaf_hash, done.received_at),
                                      None))
        self._queued(fresh, submitted)
        return results

    def _checked(self, signed: Mapping[str, Any], caller: str) -> NewEntry:
        data = leaf_data(signed)  # size limit first: no signature work for a body that cannot go in
        if signed.get("submitter") != caller:
            # Before signature checks, so a member cannot make the operator resolve other parties' DIDs.
            raise NotYourStatement(f"the statement's submitter must be you ({caller})", field="submitter")
        statement = verify_statement(signed, self._key_for)
        subjects = statement.subjects
        return NewEntry(
            leaf_hash=leaf_hash(data), entry=data.decode("utf-8"), submitter=statement.submitter,
            event_type=statement.type, participant=subjects.participant, agreement=subjects.agreement,
            process=subjects.process, product=subjects.product, statement_time=statement.at,
            received_at=self.clock.now(),
        )

    def _queued(self, entries: Sequence[NewEntry], outcomes: Sequence[Submitted]) -> None:
        created = [entry for entry, outcome in zip(entries, outcomes, strict=True) if outcome.created]
        if created:
            self.sequencer.wake()
            for entry in created:
                log.info("ledger statement %s from %s receipted", entry.event_type, entry.submitter)

    def submit_local(self, signed: Mapping[str, Any]) -> dict[str, Any]:
        """Queue a statement the operator signed itself (membership decisions...); returns its receipt."""
        return self.submit(signed, self.did)[0]

    def record(self, event_type: str, **fields: Any) -> dict[str, Any]:
        """Sign a statement as the operator, timed by its clock, and queue it: ``new_statement``'s keyword
        arguments (participant, agreement, process, product, payload_digest, details)."""
        statement = new_statement(event_type, self.did, self.clock.now(), **fields)
        return self.submit_local(sign_statement(statement, self._key, self.verification_method))

    def receipt(self, hashed: bytes, received_at: datetime) -> dict[str, Any]:
        body = new_receipt(self.origin, hashed, received_at, self.config.max_delay, self.did,
                           self.verification_method)
        return sign_receipt(body, self._key)

    # --- entries and proofs ---------------------------------------------------------------------------------

    def entry(self, index: int) -> LedgerEntry:
        found = self.store.entry(index)
        if found is None:
            raise NotIntegrated(f"no ledger entry at index {index} (yet)", field="index")
        return found

    def search(self, query: EntryQuery) -> list[LedgerEntry]:
        return self.store.search(query)

    def _read(self, nodes: Iterable[Node]) -> Callable[[int, int], bytes]:
        found = self.store.nodes(nodes)

        def get_node(level: int, index: int) -> bytes:
            return found[(level, index)]  # a KeyError here is a corrupt store: let it be a 500

        return get_node

    def _tree_size(self, requested: int | None, latest: int) -> int:
        if requested is None:
            return latest
        if requested > latest:
            raise InvalidProofRequest(f"tree size {requested} is beyond the log's latest checkpoint ({latest})",
                                      field="treeSize")
        return requested

    def inclusion(self, *, index: int | None = None, leaf: bytes | None = None,
                  tree_size: int | None = None) -> Inclusion:
        """Inclusion proof of the entry at ``index`` or with leaf hash ``leaf``, in the tree of ``tree_size``
        (default: the latest checkpoint)."""
        if leaf is not None:
            entry = self.store.entry_by_leaf(leaf)
            if entry is None:
                raise NotIntegrated("no ledger entry has that leaf hash (yet)", field="leafHash")
            index = entry.index
        if index is None:
            raise InvalidProofRequest("give index or leafHash", field="index")
        latest = self.store.tree_size()  # read after the entry: its checkpoint committed with it
        if index >= latest:
            raise NotIntegrated(f"no ledger entry at index {index} (yet)", field="index")
        size = self._tree_size(tree_size, latest)
        if index >= size:
            raise InvalidProofRequest(f"index {index} is not in a tree of size {size}", field="index")
        get_node = self._read([*inclusion_nodes(index, size), (0, index)])
        return Inclusion(index, size, get_node(0, index), inclusion_proof(index, size, get_node))

    def consistency(self, first: int, second: int) -> list[bytes]:
        latest = self.store.tree_size()
        self._tree_size(second, latest)
        if not 0 < first <= second:
            raise InvalidProofRequest(f"no consistency proof from {first} to {second}: need 0 < first <= second",
                                      field="first")
        return consistency_proof(first, second, self._read(consistency_nodes(first, second)))

    # --- checkpoints and witnesses --------------------------------------------------------------------------

    def checkpoint(self, size: int | None = None) -> StoredCheckpoint:
        found = self.store.latest_checkpoint() if size is None else self.store.checkpoint(size)
        if found is None:
            raise UnknownCheckpoint(f"no checkpoint of size {size}", field="size")
        return found

    def checkpoints(self, after: int | None, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` stored checkpoints by size, those larger than ``after`` (all: None)."""
        return self.store.checkpoints(after, limit)

    def note(self, checkpoint: StoredCheckpoint) -> str:
        """The checkpoint note with every cosignature line appended."""
        lines = [NoteSignature.parse(c.signature_line) for c in self.store.cosignatures(checkpoint.size)]
        return Note.parse(checkpoint.note).with_signatures(*lines).format()

    def status(self, size: int | None = None) -> CheckpointStatus:
        checkpoint = self.checkpoint(size)
        cosignatures = self.store.cosignatures(checkpoint.size)
        note = self.note(checkpoint)
        verifiers = [CosignatureVerifier.from_vkey(vkey) for _, vkey in self.witnesses()]
        try:
            final = quorum_met(note, verifiers, self.config.quorum)
        except InvalidQuorum:  # fewer witnesses known than the quorum: nothing can be final yet
            final = False
        return CheckpointStatus(checkpoint, note, [c.witness for c in cosignatures], final, self.config.quorum)

    def cosign(self, size: int, caller: str, signature_line: str, vkey: str) -> tuple[StoredCosignature, bool]:
        """Keep ``caller``'s cosignature of checkpoint ``size``; False if it (or its key) had cosigned it already."""
        checkpoint = self.checkpoint(size)
        verifier, line = check_cosignature(Note.parse(checkpoint.note).text, caller, signature_line, vkey,
                                           self._key_for, self.config.witnesses)
        kept, created = self.store.add_cosignature(StoredCosignature(
            size, verifier.name, verifier.vkey, verifier.key.raw, line, self.clock.now()))
        if created:
            log.info("checkpoint %d cosigned by %s", size, caller)
        return kept, created

    def witnesses(self) -> list[tuple[str, str]]:
        """(name, vkey) of every witness whose cosignatures count: all that cosigned, or the configured ones."""
        known = self.store.witnesses()
        if self.config.witnesses:
            known = [(name, vkey) for name, vkey in known if name in self.config.witnesses]
        return known
