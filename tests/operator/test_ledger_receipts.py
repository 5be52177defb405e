"""Receipts are checked offline with ``verify_receipt``: any change to any member, another key, or a
malformed receipt is refused. And the sequencer's in-memory tree edge agrees with the core's tree."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from trustspace.core.keys import SigningKey
from trustspace.ledger.merkle import EMPTY_ROOT, MemoryTree, leaf_hash
from trustspace.operator.ledger.frontier import Frontier
from trustspace.operator.ledger.receipts import (
    InvalidReceipt,
    new_receipt,
    receipt_leaf_hash,
    sign_receipt,
    verify_receipt,
)

KEY = SigningKey.from_seed(bytes(32))
LEAF = leaf_hash(b"statement")
WHEN = datetime(2026, 5, 4, 3, 2, 1, 987, tzinfo=UTC)


def receipt() -> dict[str, Any]:
    body = new_receipt("ledger.example/ledger", LEAF, WHEN, 5, "did:web:ledger.example", "did:web:ledger.example#key-1")
    return sign_receipt(body, KEY)


def test_receipt_round_trip() -> None:
    signed = receipt()
    verify_receipt(signed, KEY.public)
    assert signed["receivedAt"] == "2026-05-04T03:02:01Z"
    assert receipt_leaf_hash(signed) == LEAF == base64.b64decode(signed["leafHash"])
    assert signed == receipt(), "Ed25519 is deterministic: the same facts give the same receipt"


@pytest.mark.parametrize(("member", "value"), [
    ("logOrigin", "other.example/ledger"),
    ("leafHash", base64.b64encode(leaf_hash(b"another")).decode()),
    ("receivedAt", "2026-05-04T03:02:02Z"),
    ("maxDelaySeconds", 3600),
    ("operator", "did:web:other.example"),
    ("verificationMethod", "did:web:ledger.example#key-2"),
])
def test_any_changed_member_breaks_the_signature(member: str, value: Any) -> None:
    with pytest.raises(InvalidReceipt, match="does not verify"):
        verify_receipt({**receipt(), member: value}, KEY.public)


def test_another_key_is_refused() -> None:
    with pytest.raises(InvalidReceipt):
        verify_receipt(receipt(), SigningKey.generate().public)


@pytest.mark.parametrize("broken", [
    {"extra": 1},
    {"maxDelaySeconds": -1},
    {"maxDelaySeconds": True},
    {"leafHash": "AAAA"},
    {"receivedAt": "yesterday"},
    {"signature": "A" * 85},
    {"operator": ""},
])
def test_malformed_receipts_are_refused(broken: dict[str, Any]) -> None:
    with pytest.raises(InvalidReceipt):
        verify_receipt({**receipt(), **broken}, KEY.public)


def test_missing_signature_and_non_canonical_signature_are_refused() -> None:
    signed = receipt()
    with pytest.raises(InvalidReceipt):
        verify_receipt({k: v for k, v in signed.items() if k != "signature"}, KEY.public)
    last = signed["signature"][-1]
    # 64 bytes in 86 base64url characters leave 4 unused bits in the last one: another spelling, same bytes.
    sibling = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = sibling[sibling.index(last) ^ 1]
    with pytest.raises(InvalidReceipt):
        verify_receipt({**signed, "signature": signed["signature"][:-1] + respelled}, KEY.public)


def test_frontier_matches_the_core_tree_at_every_size() -> None:
    frontier, tree = Frontier(), MemoryTree()
    assert frontier.root() == EMPTY_ROOT
    for n in range(70):
        hashed = leaf_hash(n.to_bytes(2, "big"))
        completed = frontier.append(hashed)
        tree.append(hashed)
        assert frontier.root() == tree.root()
        assert all(tree.node(level, index) == node for level, index, node in completed)
        assert len(completed) == 1 + (n + 1 ^ n).bit_length() - 1, "the leaf plus one node per carry"
    reloaded = Frontier.load(70, lambda nodes: {node: tree.node(*node) for node in nodes})
    assert reloaded.root() == tree.root()
    with pytest.raises(LookupError):
        Frontier.load(70, lambda nodes: {})


@pytest.mark.parametrize("start", [0, 1, 6, 7, 64])
def test_frontier_extend_is_append_for_a_whole_batch(start: int) -> None:
    hashes = [leaf_hash(n.to_bytes(2, "big")) for n in range(start + 50)]
    one_by_one, batched = Frontier(), Frontier()
    for hashed in hashes[:start]:
        one_by_one.append(hashed)
        batched.append(hashed)
    appended = [node for hashed in hashes[start:] for node in one_by_one.append(hashed) if node[0] > 0]
    assert batched.extend(hashes[start:]) == appended
    assert (batched.size, batched.root()) == (one_by_one.size, one_by_one.root())
    assert batched.extend([]) == [] and batched.size == start + 50
