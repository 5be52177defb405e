"""A whole-log audit: recompute every leaf hash and every root, and check every checkpoint against them.

Pure: the caller streams the entries (in index order) and the checkpoint notes from wherever it reads them
(the operator's API, or a copy of its database), and gets a report naming each failure exactly. What it reads
is evidence to judge, not trusted input: a row the reader could not decode arrives carrying its ``error``, and
an entry that is not a JSON object, or a note that is not a signed checkpoint, becomes a failure line naming
it, never an exception.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trustspace.core.errors import TrustSpaceError
from trustspace.ledger.checkpoint import Note, NoteVerifier, open_checkpoint
from trustspace.ledger.merkle import HASH_SIZE, MemoryTree, leaf_hash
from trustspace.ledger.statements import leaf_data

MAX_FAILURES = 50
# Stands in, in the recomputed tree, for a leaf whose hash cannot be recomputed or read: the entry is reported
# already, and every later checkpoint still lines up with the index it signs.
_UNKNOWN_LEAF = bytes(HASH_SIZE)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


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
            self.failures.append(_printable(message))


@dataclass(frozen=True)
class StoredEntry:
    """One log entry as read: ``entry`` is the decoded JSON (any JSON value: a statement should be an
    object), or ``error`` says why the stored row could not be decoded at all."""

    index: int
    leaf_hash: bytes
    entry: Any
    error: str | None = None


@dataclass(frozen=True)
class StoredNote:
    """One checkpoint note as read, with the size it was stored or listed under (``None``: unknown), or the
    ``error`` that kept it from being read."""

    text: str
    size: int | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return "checkpoint" if self.size is None else f"checkpoint stored as size {self.size}"


def audit(entries: Iterable[StoredEntry], checkpoints: Iterable[str | StoredNote],
          log_key: NoteVerifier) -> AuditReport:
    report = AuditReport()
    by_size = _signed_roots(report, checkpoints, log_key)
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


def _signed_roots(report: AuditReport, checkpoints: Iterable[str | StoredNote],
                  log_key: NoteVerifier) -> dict[int, bytes]:
    """The root each tree size was signed with, from every checkpoint that opens with the log's key."""
    by_size: dict[int, bytes] = {}
    for item in checkpoints:
        stored = item if isinstance(item, StoredNote) else StoredNote(item)
        if stored.error is not None:
            report.fail(f"{stored.name} could not be read: {stored.error}")
            continue
        try:
            checkpoint = open_checkpoint(Note.parse(stored.text), log_key)
        except TrustSpaceError as exc:
            report.fail(f"{stored.name} not valid: {exc.detail}")
            continue
        if stored.size is not None and stored.size != checkpoint.size:
            report.fail(f"{stored.name} holds a signed checkpoint of size {checkpoint.size}")
        known = by_size.setdefault(checkpoint.size, checkpoint.root_hash)
        if known != checkpoint.root_hash:
            report.fail(f"two checkpoints of size {checkpoint.size} sign different roots, {_b64(known)} and "
                        f"{_b64(checkpoint.root_hash)} (a split view)")
    return by_size


def _check_entry(report: AuditReport, tree: MemoryTree, stored: StoredEntry) -> None:
    if stored.index != tree.size:
        report.fail(f"entry index {stored.index} where {tree.size} was expected (a gap, a duplicate or a reorder)")
    recorded = stored.leaf_hash if len(stored.leaf_hash) == HASH_SIZE else None
    if recorded is None:
        report.fail(f"entry {stored.index} has a recorded leaf hash of {len(stored.leaf_hash)} bytes, "
                    f"not {HASH_SIZE}")
    computed = _recomputed(report, stored)
    if computed is not None and recorded is not None and computed != recorded:
        report.fail(f"entry {stored.index} was changed: its content hashes to {_hex(computed)}, "
                    f"the log recorded {_hex(recorded)}")
    tree.append(computed or recorded or _UNKNOWN_LEAF)


def _recomputed(report: AuditReport, stored: StoredEntry) -> bytes | None:
    """The entry's leaf hash from its content, or None (and a failure naming it) if it has none."""
    if stored.error is not None:
        report.fail(f"entry {stored.index} could not be read: {stored.error}")
        return None
    if not isinstance(stored.entry, Mapping):
        report.fail(f"entry {stored.index} is not a valid statement: it is JSON {type(stored.entry).__name__}, "
                    "not an object")
        return None
    try:
        return leaf_hash(leaf_data(stored.entry))
    except TrustSpaceError as exc:
        report.fail(f"entry {stored.index} is not a valid statement: {exc.detail}")
    except RecursionError:
        report.fail(f"entry {stored.index} is not a valid statement: nested too deeply to canonicalize")
    return None


def _check_root(report: AuditReport, tree: MemoryTree, by_size: dict[int, bytes]) -> None:
    known = by_size.get(tree.size)
    if known is None:
        return
    report.checkpoints += 1
    if tree.root() != known:
        report.fail(f"checkpoint of size {tree.size} signs root {_b64(known)}, but the entries give "
                    f"{_b64(tree.root())}")


def _printable(message: str) -> str:
    """A failure line safe to print: it may quote the audited data, which can hold lone surrogates (no
    terminal encodes them) or control characters (which could rewrite what a terminal shows)."""
    encodable = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", encodable)


def _hex(data: bytes) -> str:
    return data.hex()[:16] + "…"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()[:16] + "…"
