"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs, and their verification (SHA-256).

Hashes: a leaf is ``SHA-256(0x00 || data)``, an inner node ``SHA-256(0x01 || left || right)``, the empty
tree ``SHA-256("")`` (RFC 9162 §2.1.1). The tree over ``n`` leaves splits at ``k``, the largest power of two
below ``n``, so every left subtree is complete and only the right edge can be ragged.

Coordinates. A *node* ``(level, index)`` is the complete subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. Those never change once
written, so a store can keep them forever. A proof element is the hash of a *range* of leaves, which for
ranges touching the right edge of the tree is not one stored node but a right fold of a few of them:
``inclusion_nodes`` / ``consistency_nodes`` list the nodes a proof needs (O(log n)), and
``inclusion_proof`` / ``consistency_proof`` assemble the proof from a ``get_node(level, index)`` callback.

Verification raises ``InvalidMerkleProof`` naming the reason and returns ``None`` when the proof holds; it
follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, with the edge cases made explicit (index beyond size,
wrong proof length, sizes out of order, equal sizes with a non-empty proof, a consistency check from the
empty tree). It is written for speed: one local SHA-256 constructor, integer bit tricks instead of inner
loops, no intermediate lists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from trustspace.ledger.errors import InvalidMerkleProof, InvalidProofRequest

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryTree",
    "Node",
    "NodeReader",
    "consistency_nodes",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_nodes",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_nodes",
    "root",
    "root_from_nodes",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
"""``(level, index)`` of a complete subtree."""
NodeReader = Callable[[int, int], bytes]
"""Returns the hash of the complete subtree ``(level, index)``; a storage layer implements it."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of the leaf hashes, in O(n) time and O(log n) memory."""
    stack: list[bytes] = []
    for count, hashed in enumerate(leaf_hashes, start=1):
        stack.append(hashed)
        # Every trailing zero bit of the running count closes one complete subtree.
        while not count & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            count >>= 1
    return _fold_right(stack) if stack else EMPTY_ROOT


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    # Complete subtrees of decreasing size, left to right, hash together right to left (RFC 9162 split rule).
    result = hashes[-1]
    for hashed in reversed(hashes[:-1]):
        result = node_hash(hashed, result)
    return result


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees, left to right, that make up the tree range ``[start, end)``.

    The range must be one an RFC 9162 tree can have: ``start`` aligned to the next power of two at or above
    its length (every range in a proof is such a range).
    """
    length = end - start
    if start < 0 or length < 1 or start & ((1 << (length - 1).bit_length()) - 1):
        raise InvalidProofRequest(f"[{start}, {end}) is not a subtree range of a Merkle tree")
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def subtree_hash(start: int, end: int, get_node: NodeReader) -> bytes:
    """Hash of the tree range ``[start, end)`` from at most log2(end - start) + 1 node reads."""
    return _fold_right([get_node(level, index) for level, index in perfect_nodes(start, end)])


def root_from_nodes(size: int, get_node: NodeReader) -> bytes:
    """Root of the tree of ``size`` leaves from O(log size) stored nodes."""
    return subtree_hash(0, size, get_node) if size else EMPTY_ROOT


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the inclusion proof of leaf ``index`` (RFC 9162 §2.1.3.1), in order."""
    if not 0 <= index < size:
        raise InvalidProofRequest(f"leaf index {index} is outside a tree of size {size}")
    siblings: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _largest_power_below(end - start)
        if index < middle:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            start = middle
    siblings.reverse()  # the descent finds the top sibling first; the proof starts at the leaf
    return siblings


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the consistency proof from ``size1`` to ``size2`` (RFC 9162 §2.1.4.1)."""
    if not 0 < size1 <= size2:
        raise InvalidProofRequest(f"no consistency proof from size {size1} to size {size2}: need 0 < size1 <= size2")
    siblings: list[tuple[int, int]] = []
    start, end, old = 0, size2, size1  # ``old`` counts leaves of the old tree inside [start, end)
    on_left_edge = True  # SUBPROOF's flag b: the old root is known to the verifier only on the left edge
    while old != end - start:
        middle = start + _largest_power_below(end - start)
        if old <= middle - start:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            old -= middle - start
            start = middle
            on_left_edge = False
    if not on_left_edge:
        siblings.append((start, end))
    siblings.reverse()
    return siblings


def inclusion_nodes(index: int, size: int) -> list[Node]:
    """Every stored node an inclusion proof needs: at most 2·log2(size) reads."""
    return [node for start, end in inclusion_ranges(index, size) for node in perfect_nodes(start, end)]


def consistency_nodes(size1: int, size2: int) -> list[Node]:
    """Every stored node a consistency proof needs: O(log size2) reads."""
    return [node for start, end in consistency_ranges(size1, size2) for node in perfect_nodes(start, end)]


def _reader(nodes: NodeReader | Sequence[bytes], size: int) -> NodeReader:
    if callable(nodes):
        return nodes
    if len(nodes) < size:
        raise InvalidProofRequest(f"{len(nodes)} leaf hashes cannot answer for a tree of size {size}")
    return MemoryTree(nodes[:size]).node


def inclusion_proof(index: int, size: int, nodes: NodeReader | Sequence[bytes]) -> list[bytes]:
    """Inclusion proof of leaf ``index`` in the tree of ``size``; ``nodes`` is a node reader or the leaf hashes."""
    get_node = _reader(nodes, size)
    return [subtree_hash(start, end, get_node) for start, end in inclusion_ranges(index, size)]


def consistency_proof(size1: int, size2: int, nodes: NodeReader | Sequence[bytes]) -> list[bytes]:
    """Consistency proof between tree sizes ``size1`` and ``size2`` (0 < size1 <= size2)."""
    get_node = _reader(nodes, size2)
    return [subtree_hash(start, end, get_node) for start, end in consistency_ranges(size1, size2)]


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise InvalidMerkleProof(f"leaf index {index} is outside a tree of size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise InvalidMerkleProof(f"a leaf hash has {HASH_SIZE} bytes, got {len(leaf_hash)}")
    sha256, prefix = _sha256, NODE_PREFIX
    fn, sn, hashed = index, size - 1, leaf_hash
    for sibling in proof:
        if sn == 0:
            raise InvalidMerkleProof("inclusion proof is longer than the path to the root")
        if len(sibling) != HASH_SIZE:
            raise InvalidMerkleProof(f"a proof hash has {HASH_SIZE} bytes, got {len(sibling)}")
        if fn & 1 or fn == sn:
            hashed = sha256(prefix + sibling + hashed).digest()
            if not fn & 1:
                # Right edge: climb past the levels where this node had no right sibling (fn > 0 here).
                skip = (fn & -fn).bit_length() - 1
                fn >>= skip
                sn >>= skip
        else:
            hashed = sha256(prefix + hashed + sibling).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidMerkleProof("inclusion proof is shorter than the path to the root")
    if hashed != root:
        raise InvalidMerkleProof("inclusion proof leads to a different root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1`` with ``root1`` (§2.1.4.2).

    Equal sizes need an empty proof and equal roots. ``size1 == 0`` is refused: every tree extends the empty
    one, so such a check proves nothing and a caller asking for it has mixed up its sizes.
    """
    if size1 < 0 or size2 < size1:
        raise InvalidMerkleProof(f"tree sizes go backwards: {size1} then {size2}")
    if size1 == 0:
        raise InvalidMerkleProof("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise InvalidMerkleProof("sizes are equal, so the consistency proof must be empty")
        if root1 != root2:
            raise InvalidMerkleProof(f"two different roots for the same tree size {size1}")
        return
    if not proof:
        raise InvalidMerkleProof("consistency proof is empty but the tree grew")
    for hashed in proof:
        if len(hashed) != HASH_SIZE:
            raise InvalidMerkleProof(f"a proof hash has {HASH_SIZE} bytes, got {len(hashed)}")
    _check_consistency_chain(size1, size2, root1, root2, proof)


def _check_consistency_chain(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    sha256, prefix = _sha256, NODE_PREFIX
    rest = iter(proof)
    # A power-of-two old tree is itself a node on the new tree's path, so the proof leaves it out (step 2).
    seed = root1 if size1 & (size1 - 1) == 0 else next(rest)
    fn, sn = size1 - 1, size2 - 1
    ones = (fn ^ (fn + 1)).bit_length() - 1  # step 4: skip the levels where the old tree was complete
    fn >>= ones
    sn >>= ones
    old, new = seed, seed
    for sibling in rest:
        if sn == 0:
            raise InvalidMerkleProof("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            old = sha256(prefix + sibling + old).digest()
            new = sha256(prefix + sibling + new).digest()
            if not fn & 1:
                skip = (fn & -fn).bit_length() - 1
                fn >>= skip
                sn >>= skip
        else:
            new = sha256(prefix + new + sibling).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidMerkleProof("consistency proof is shorter than the path to the root")
    if old != root1:
        raise InvalidMerkleProof("consistency proof does not lead to the old root")
    if new != root2:
        raise InvalidMerkleProof("consistency proof does not lead to the new root")


class MemoryTree:
    """Every complete-subtree hash of a list of leaves, kept level by level: an in-memory node store.

    ``node`` is a ``NodeReader``; ``append`` adds a leaf and the nodes it completes in O(log n).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for hashed in leaf_hashes:
            self.append(hashed)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, hashed: bytes) -> int:
        """Add a leaf hash and return its index."""
        if len(hashed) != HASH_SIZE:
            raise InvalidProofRequest(f"a leaf hash has {HASH_SIZE} bytes, got {len(hashed)}")
        index = self.size
        self._levels[0].append(hashed)
        level, position = 0, index
        while position & 1:  # a right child completes its parent
            below = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(node_hash(below[position - 1], below[position]))
            level, position = level + 1, position >> 1
        return index

    def node(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or level >= len(self._levels) or index >= len(self._levels[level]):
            raise InvalidProofRequest(f"node ({level}, {index}) is not a complete subtree of this tree")
        return self._levels[level][index]

    def root(self) -> bytes:
        return root_from_nodes(self.size, self.node)
