"""Merkle hashing and proofs against the RFC 9162 recursive definitions, for every small tree.

The reference functions below transcribe RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1
(PROOF/SUBPROOF) recursively, as the RFC writes them; the module under test is iterative and reads nodes
through coordinates, so agreement between the two is the check.
"""

from __future__ import annotations

import hashlib

import pytest

from trustspace.ledger.errors import InvalidMerkleProof, InvalidProofRequest
from trustspace.ledger.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_nodes,
    root,
    root_from_nodes,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 64
LEAVES = [leaf_hash(f"leaf {i}".encode()) for i in range(MAX_SIZE)]


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _split(len(hashes))
    if m < k:
        return [*path(m, hashes[:k]), mth(hashes[k:])]
    return [*path(m - k, hashes[k:]), mth(hashes[:k])]


def subproof(m: int, hashes: list[bytes], complete: bool) -> list[bytes]:
    if m == len(hashes):
        return [] if complete else [mth(hashes)]
    k = _split(len(hashes))
    if m <= k:
        return [*subproof(m, hashes[:k], complete), mth(hashes[k:])]
    return [*subproof(m - k, hashes[k:], False), mth(hashes[:k])]


def test_hashes_use_the_rfc_9162_domain_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_known_root_of_the_rfc_6962_test_tree() -> None:
    # The eight-leaf tree used across CT implementations (leaves 0x, 0x00, 0x10, ... as in RFC 6962 tests).
    data = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43", b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]  # fmt: skip
    expected = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert root([leaf_hash(item) for item in data]).hex() == expected


@pytest.mark.parametrize("size", range(MAX_SIZE + 1))
def test_root_equals_the_recursive_definition(size: int) -> None:
    leaves = LEAVES[:size]
    assert root(leaves) == mth(leaves)
    assert MemoryTree(leaves).root() == mth(leaves)


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_inclusion_proof_matches_path_and_verifies(size: int) -> None:
    leaves = LEAVES[:size]
    tree = MemoryTree(leaves)
    head = mth(leaves)
    for index in range(size):
        proof = inclusion_proof(index, size, tree.node)
        assert proof == path(index, leaves)
        assert inclusion_proof(index, size, leaves) == proof
        verify_inclusion(index, size, leaves[index], proof, head)


@pytest.mark.parametrize("size2", range(1, MAX_SIZE + 1))
def test_every_consistency_proof_matches_subproof_and_verifies(size2: int) -> None:
    leaves = LEAVES[:size2]
    tree = MemoryTree(leaves)
    for size1 in range(1, size2 + 1):
        proof = consistency_proof(size1, size2, tree.node)
        assert proof == subproof(size1, leaves, True)
        verify_consistency(size1, size2, mth(leaves[:size1]), mth(leaves), proof)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 31, 32, 33, 64])
def test_any_change_to_an_inclusion_claim_is_rejected(size: int) -> None:
    leaves = LEAVES[:size]
    head = mth(leaves)
    for index in range(size):
        proof = path(index, leaves)
        other = LEAVES[(index + 1) % MAX_SIZE]
        for bad_index, leaf, bad_proof, bad_root in (
            (index, other, proof, head),  # another leaf
            (index, leaves[index], proof, LEAVES[0] if head != LEAVES[0] else LEAVES[1]),  # another root
            (index, leaves[index], [*proof, head], head),  # one hash too many
            (index, leaves[index], proof[:-1], head) if proof else (size, leaves[index], proof, head),
            (index ^ 1, leaves[index], proof, head) if size > 1 and index ^ 1 < size else (size, other, proof, head),
        ):
            with pytest.raises(InvalidMerkleProof):
                verify_inclusion(bad_index, size, leaf, bad_proof, bad_root)
        for position in range(len(proof)):
            flipped = list(proof)
            flipped[position] = bytes([proof[position][0] ^ 1]) + proof[position][1:]
            with pytest.raises(InvalidMerkleProof):
                verify_inclusion(index, size, leaves[index], flipped, head)


@pytest.mark.parametrize("size2", [2, 3, 5, 8, 12, 33, 64])
def test_any_change_to_a_consistency_claim_is_rejected(size2: int) -> None:
    leaves = LEAVES[:size2]
    for size1 in range(1, size2):
        proof = subproof(size1, leaves, True)
        old, new = mth(leaves[:size1]), mth(leaves)
        for args in (
            (size1, size2, new, old, proof),  # swapped roots
            (size1, size2, old, new, proof[:-1]),  # truncated
            (size1, size2, old, new, [*proof, new]),  # padded
            (size1 + 1, size2, old, new, proof),
            (size2, size1, new, old, proof),  # sizes out of order
        ):
            # Not listed: the same proof and roots under a larger size2. Where the path shape happens to be
            # the same, RFC 9162 verification cannot tell; the claimed root2 is what binds the new tree.
            with pytest.raises(InvalidMerkleProof):
                verify_consistency(*args)
        for position in range(len(proof)):
            flipped = list(proof)
            flipped[position] = bytes([proof[position][0] ^ 1]) + proof[position][1:]
            with pytest.raises(InvalidMerkleProof):
                verify_consistency(size1, size2, old, new, flipped)


def test_consistency_edge_cases() -> None:
    a, b = LEAVES[0], LEAVES[1]
    verify_consistency(3, 3, a, a, [])
    for args in ((3, 3, a, b, []), (3, 3, a, a, [a]), (0, 0, EMPTY_ROOT, EMPTY_ROOT, []), (0, 5, EMPTY_ROOT, a, [])):
        with pytest.raises(InvalidMerkleProof):
            verify_consistency(*args)
    with pytest.raises(InvalidMerkleProof, match="empty"):
        verify_consistency(1, 2, a, b, [])
    with pytest.raises(InvalidMerkleProof, match="bytes"):
        verify_consistency(1, 2, a, b, [b"short"])


def test_inclusion_edge_cases() -> None:
    leaf = LEAVES[0]
    verify_inclusion(0, 1, leaf, [], leaf)
    no_proof: list[bytes] = []
    for index, size, hashed, head in (
        (1, 1, leaf, leaf),
        (0, 0, leaf, EMPTY_ROOT),
        (-1, 1, leaf, leaf),
        (0, 1, b"", b""),
    ):
        with pytest.raises(InvalidMerkleProof):
            verify_inclusion(index, size, hashed, no_proof, head)
    with pytest.raises(InvalidMerkleProof, match="bytes"):
        verify_inclusion(0, 2, leaf, [b"x" * 31], leaf)


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_proofs_read_exactly_the_listed_nodes_and_only_complete_subtrees(size: int) -> None:
    tree = MemoryTree(LEAVES[:size])
    reads: list[tuple[int, int]] = []

    def get_node(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, "a node that is not a complete subtree was read"
        reads.append((level, index))
        return tree.node(level, index)

    budget = 2 * max(1, (size - 1).bit_length())
    for index in range(size):
        reads.clear()
        inclusion_proof(index, size, get_node)
        assert reads == inclusion_nodes(index, size)
        assert len(reads) <= budget
    for size1 in range(1, size + 1):
        reads.clear()
        consistency_proof(size1, size, get_node)
        assert reads == consistency_nodes(size1, size)
        assert len(reads) <= budget + 1


def test_node_coordinates_of_a_seven_leaf_tree() -> None:
    # Leaf 0 of 7: sibling leaf 1, node over leaves 2-3, and the ragged range 4-7 = node (1, 2) + leaf 6.
    assert inclusion_nodes(0, 7) == [(0, 1), (1, 1), (1, 2), (0, 6)]
    assert inclusion_nodes(6, 7) == [(1, 2), (2, 0)]
    # From 3 to 7 (RFC 9162 example shape): leaf 2, leaf 3, node 0-1, then the range 4-7.
    assert consistency_nodes(3, 7) == [(0, 2), (0, 3), (1, 0), (1, 2), (0, 6)]
    assert consistency_nodes(4, 7) == [(1, 2), (0, 6)]
    assert perfect_nodes(0, 7) == [(2, 0), (1, 2), (0, 6)]


def test_root_from_nodes_reads_log_n_nodes() -> None:
    tree = MemoryTree(LEAVES[:45])
    for size in range(46):
        assert root_from_nodes(size, tree.node) == mth(LEAVES[:size])
    assert subtree_hash(32, 45, tree.node) == mth(LEAVES[32:45])


def test_bad_proof_requests_are_caller_errors() -> None:
    tree = MemoryTree(LEAVES[:5])
    for call in (
        lambda: inclusion_proof(5, 5, tree.node),
        lambda: inclusion_proof(-1, 5, tree.node),
        lambda: consistency_proof(0, 5, tree.node),
        lambda: consistency_proof(6, 5, tree.node),
        lambda: inclusion_proof(0, 6, LEAVES[:5]),
        lambda: perfect_nodes(1, 3),  # not aligned: no tree has such a subtree
        lambda: perfect_nodes(3, 3),
        lambda: tree.node(0, 5),
        lambda: tree.node(0, -1),
        lambda: tree.node(3, 0),
        lambda: tree.append(b"short"),
    ):
        with pytest.raises(InvalidProofRequest):
            call()


def test_memory_tree_append_keeps_every_root() -> None:
    tree = MemoryTree()
    for size, hashed in enumerate(LEAVES[:40], start=1):
        assert tree.append(hashed) == size - 1
        assert tree.size == size
        assert tree.root() == mth(LEAVES[:size])


def test_larger_tree_sample() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(1000)]
    tree = MemoryTree(leaves)
    head = root(leaves)
    for index in (0, 1, 511, 512, 767, 998, 999):
        verify_inclusion(index, 1000, leaves[index], inclusion_proof(index, 1000, tree.node), head)
    for size1 in (1, 2, 3, 500, 512, 513, 999, 1000):
        verify_consistency(size1, 1000, root(leaves[:size1]), head, consistency_proof(size1, 1000, tree.node))
