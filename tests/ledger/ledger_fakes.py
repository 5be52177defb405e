"""An in-memory log operator for the ledger tests: leaves, signed checkpoints, consistency proofs."""

from __future__ import annotations

from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from trustspace.ledger.merkle import MemoryTree, consistency_proof, leaf_hash


class FakeLog:
    """An operator that can be made to misbehave: it is just a tree and a key, so tests can fork it."""

    def __init__(self, origin: str, key: SigningKey) -> None:
        self.origin = origin
        self.signer = NoteSigner(origin, key)
        self.tree = MemoryTree()

    @property
    def verifier(self) -> NoteVerifier:
        return self.signer.verifier

    def append(self, *entries: bytes) -> FakeLog:
        for entry in entries:
            self.tree.append(leaf_hash(entry))
        return self

    def fork(self, size: int) -> FakeLog:
        """Another view of this log sharing its first ``size`` leaves and its key."""
        other = FakeLog(self.origin, self.signer.key)
        for index in range(size):
            other.tree.append(self.tree.node(0, index))
        return other

    def checkpoint(self) -> str:
        head = Checkpoint(self.origin, self.tree.size, self.tree.root())
        return sign_checkpoint(head, self.signer).format()

    def proof(self, old_size: int) -> list[bytes]:
        if old_size == 0:
            return []
        return consistency_proof(old_size, self.tree.size, self.tree.node)


def entries(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}-{i}".encode() for i in range(count)]
