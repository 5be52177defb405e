"""A whole-log audit: recompute every leaf hash and every root, and check every checkpoint against them.

Pure: the caller streams the entries (in index order) and the checkpoint notes from wherever it reads them
(the operator's API, or a copy of its database), and gets a report naming each failure exactly.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trustspace.core.errors import TrustSpaceError
from trustspace.ledger.checkpoint import Note, NoteVerifier, open_checkpoint
from trustspace.ledger.merkle import MemoryTree, leaf_hash
from trustspace.ledger.statements import leaf_data

MAX_FAILURES = 50


@dataclass
class AuditReport:
    entries: int = 0
    checkpoints: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, message: str) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(message)


@dataclass(frozen=True)
class StoredEntry:
    index: int
    leaf_hash: bytes
    entry: dict[str, Any]


def audit(entries: Iterable[StoredEntry], checkpoints: Iterable[str], log_key: NoteVerifier) -> AuditReport:
    report = AuditReport()
    by_size: dict[int, tuple[str, bytes]] = {}
    for text in checkpoints:
        try:
            checkpoint = open_checkpoint(Note.parse(text), log_key)
        except TrustSpaceError as exc:
            report.fail(f"checkpoint not valid: {exc.detail}")
            continue
        by_size[checkpoint.size] = (text, checkpoint.root_hash)
    tree = MemoryTree([])
    for stored in entries:
        _check_entry(report, tree, stored)
        _check_root(report, tree, by_size)
    for size in sorted(s for s in by_size if s > tree.size):
        report.fail(f"checkpoint of size {size} is beyond the {tree.size} entries the log holds (truncated log?)")
    if 0 in by_size:
        _check_root(report, MemoryTree([]), {0: by_size[0]})
    report.entries = tree.size
    return report


def _check_entry(report: AuditReport, tree: MemoryTree, stored: StoredEntry) -> None:
    if stored.index != tree.size:
        report.fail(f"entry index {stored.index} where {tree.size} was expected (a gap, a duplicate or a reorder)")
    try:
        computed = leaf_hash(leaf_data(stored.entry))
    except TrustSpaceError as exc:
        report.fail(f"entry {stored.index} is not a valid statement: {exc.detail}")
        computed = stored.leaf_hash
    if computed != stored.leaf_hash:
        report.fail(f"entry {stored.index} was changed: its content hashes to {_hex(computed)}, "
                    f"the log recorded {_hex(stored.leaf_hash)}")
    tree.append(computed)


def _check_root(report: AuditReport, tree: MemoryTree, by_size: dict[int, tuple[str, bytes]]) -> None:
    known = by_size.get(tree.size)
    if known is None:
        return
    report.checkpoints += 1
    if tree.root() != known[1]:
        report.fail(f"checkpoint of size {tree.size} signs root {_b64(known[1])}, but the entries give "
                    f"{_b64(tree.root())}")


def _hex(data: bytes) -> str:
    return data.hex()[:16] + "…"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()[:16] + "…"
