"""The right edge of the Merkle tree: what the sequencer keeps in memory to extend the log cheaply.

For a tree of ``size`` leaves the frontier is the list of complete subtrees ``perfect_nodes(0, size)``, left to
right, one per set bit of ``size``. Appending a leaf merges it with the equal-sized subtrees at the end (as a
binary counter carries), which yields exactly the nodes the new leaf completes: the rows to store. The root is
the right fold of the frontier (RFC 9162's split rule). So appending costs O(1) amortised hashes and the
frontier holds at most 64 hashes, whatever the size of the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from trustspace.ledger.merkle import EMPTY_ROOT, HASH_SIZE, NODE_PREFIX, node_hash, perfect_nodes

StoredNode = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete subtree, as the node table stores it."""


class Frontier:
    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count() or any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes of {HASH_SIZE} bytes")
        self.size = size
        self._hashes = list(hashes)

    @classmethod
    def load(cls, size: int, get_nodes: Callable[[list[tuple[int, int]]], dict[tuple[int, int], bytes]]) -> Frontier:
        """The frontier of a stored tree, from the ``popcount(size)`` nodes of its right edge."""
        wanted = perfect_nodes(0, size) if size else []
        found = get_nodes(wanted)
        missing = [node for node in wanted if node not in found]
        if missing:
            raise LookupError(f"the stored tree of size {size} lacks its edge nodes {missing}")
        return cls(size, [found[node] for node in wanted])

    def copy(self) -> Frontier:
        return Frontier(self.size, self._hashes)

    def append(self, leaf_hash: bytes) -> list[StoredNode]:
        """Add a leaf; return the nodes it completes, starting with the leaf itself at level 0."""
        position, level, hashed = self.size, 0, leaf_hash
        completed = [(0, position, hashed)]
        while position & 1:  # a right child: it closes its parent with the subtree just left of it
            hashed = node_hash(self._hashes.pop(), hashed)
            level, position = level + 1, position >> 1
            completed.append((level, position, hashed))
        self._hashes.append(hashed)
        self.size += 1
        return completed

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[StoredNode]:
        """Add leaves; return the nodes above the leaves that they complete (what a batch stores), in order.

        ``append`` for a whole batch, with the loop's lookups hoisted: it runs once per logged entry."""
        hashes, position = self._hashes, self.size
        completed: list[StoredNode] = []
        pop, push, keep, prefix, sha256 = hashes.pop, hashes.append, completed.append, NODE_PREFIX, hashlib.sha256
        for hashed in leaf_hashes:
            level, index = 0, position
            while index & 1:
                hashed = sha256(prefix + pop() + hashed).digest()
                level, index = level + 1, index >> 1
                keep((level, index, hashed))
            push(hashed)
            position += 1
        self.size = position
        return completed

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        result = self._hashes[-1]
        for hashed in reversed(self._hashes[:-1]):
            result = node_hash(hashed, result)
        return result
