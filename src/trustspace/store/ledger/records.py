"""Plain immutable values the ledger repository takes and returns (no SQLAlchemy objects leave the store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A verified statement as a submission hands it to the store: the leaf bytes and the fields searched on."""

    leaf_hash: bytes
    entry: str
    submitter: str
    event_type: str
    participant: str | None
    agreement: str | None
    process: str | None
    product: str | None
    statement_time: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Submitted:
    """What the store holds for a leaf hash after a submission: when it was first received, and whether
    this submission added it (``created``) or found it already pending or integrated (``index`` then set)."""

    received_at: datetime
    created: bool
    index: int | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    index: int
    leaf_hash: bytes
    entry: str
    submitter: str
    event_type: str
    participant: str | None
    agreement: str | None
    process: str | None
    product: str | None
    statement_time: datetime
    received_at: datetime
    integrated_at: datetime


@dataclass(frozen=True, slots=True)
class EntryQuery:
    """A search: every given filter must match; ``after`` is the last index of the previous page."""

    participant: str | None = None
    agreement: str | None = None
    process: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None
    limit: int = 100


class PendingLeaf(NamedTuple):
    """A pending row as the sequencer sees it: arrival order, leaf hash, and whether that leaf is logged.
    A named tuple, not a frozen dataclass: a batch makes one per entry, and a tuple is made 5 times faster."""

    id: int
    leaf_hash: bytes
    logged: bool = False


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    checkpoint_size: int
    witness: str
    vkey: str
    public_key: bytes
    signature_line: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PendingBacklog:
    count: int
    oldest: datetime | None
