"""The ledger repository on SQLite and PostgreSQL.

Reads and submissions are one short transaction each. Integration goes through ``sequencing()``: one
transaction that holds the sequencer lock (PostgreSQL advisory lock; SQLite's ``BEGIN IMMEDIATE`` already
serialises writers), so two operator replicas sharing a database never hand out the same index.

Integration copies pending rows into the log with ``INSERT ... SELECT`` (index = pending id shifted, or
``row_number()`` when the ids have gaps): the statement text never makes a round trip through Python, which
only needs the leaf hashes to extend the tree. What a batch costs at 10^6 entries is in bench/RESULTS.md
(ledger_append).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Row,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustspace.store.base import UtcDateTime
from trustspace.store.db import Database
from trustspace.store.ledger.models import (
    LEAF_KEY_BYTES,
    LedgerCheckpointRow,
    LedgerCosignatureRow,
    LedgerEntryRow,
    LedgerNodeRow,
    LedgerPendingRow,
    leaf_key,
)
from trustspace.store.ledger.records import (
    EntryQuery,
    LedgerEntry,
    NewEntry,
    PendingBacklog,
    PendingLeaf,
    StoredCheckpoint,
    StoredCosignature,
    Submitted,
)

Node = tuple[int, int]

# Arbitrary constant: the PostgreSQL advisory lock that lets one sequencer at a time extend the log.
_SEQUENCER_LOCK_ID = 0x6C65_6467_6572
# Columns a pending row and a log entry share, in the order INSERT ... SELECT copies them.
_COPIED = ("leaf_hash", "entry", "submitter", "event_type", "participant", "agreement", "process", "product",
           "statement_time", "received_at")
_ENTRY = cast(Table, LedgerEntryRow.__table__)
_PENDING = cast(Table, LedgerPendingRow.__table__)
_NODE = cast(Table, LedgerNodeRow.__table__)


def _entry(row: Row[Any] | Any) -> LedgerEntry:
    return LedgerEntry(
        index=row.idx, leaf_hash=bytes(row.leaf_hash), entry=row.entry, submitter=row.submitter,
        event_type=row.event_type, participant=row.participant, agreement=row.agreement, process=row.process,
        product=row.product, statement_time=row.statement_time, received_at=row.received_at,
        integrated_at=row.integrated_at,
    )


def _checkpoint(row: LedgerCheckpointRow) -> StoredCheckpoint:
    return StoredCheckpoint(row.size, bytes(row.root_hash), row.note, row.created_at)


def _cosignature(row: LedgerCosignatureRow) -> StoredCosignature:
    return StoredCosignature(row.checkpoint_size, row.witness, row.vkey, bytes(row.public_key), row.signature_line,
                             row.created_at)


def _read_nodes(session: Session, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """At most two round trips for all O(log n) nodes of a proof, each found through a primary key.

    Plain SQL through the driver: building the statement with SQLAlchemy (a new ``text()`` and two bound
    parameters per node for every proof) cost more than the reads themselves."""
    wanted = sorted(set(nodes))
    leaves = [idx for level, idx in wanted if level == 0]
    inner = [node for node in wanted if node[0] > 0]
    found: dict[Node, bytes] = {}
    connection = session.connection()
    mark = _placeholder(connection)
    if leaves:
        marks = ", ".join([mark] * len(leaves))
        by_index = f"SELECT idx, leaf_hash FROM ledger_entries WHERE idx IN ({marks})"  # noqa: S608 - placeholders
        found.update(((0, idx), bytes(hashed)) for idx, hashed in connection.exec_driver_sql(by_index, tuple(leaves)))
    if inner:
        # One OR of primary-key equalities: SQLite plans ``(level, idx) IN (VALUES ...)`` as a full table scan
        # (85 ms at 10^6 nodes), while each ``level = ? AND idx = ?`` term is an index lookup on both engines.
        terms = " OR ".join([f"(level = {mark} AND idx = {mark})"] * len(inner))
        by_node = f"SELECT level, idx, hash FROM ledger_nodes WHERE {terms}"  # noqa: S608 - only placeholders
        params = tuple(number for node in inner for number in node)
        found.update(((level, idx), bytes(hashed))
                     for level, idx, hashed in connection.exec_driver_sql(by_node, params))
    return found


def _placeholder(connection: Connection) -> str:
    """The driver's positional parameter marker, for statements given to it as they are."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _logged_leaf(hashed: bytes | ColumnElement[bytes]) -> ColumnElement[bool]:
    """``ledger_entries.leaf_hash = hashed``, found through the index on the hash's first 8 bytes."""
    e = LedgerEntryRow
    key = hashed[:LEAF_KEY_BYTES] if isinstance(hashed, bytes) else leaf_key(hashed)
    return and_(leaf_key(e.leaf_hash) == key, e.leaf_hash == hashed)


def _tree_size(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(LedgerCheckpointRow.size), 0))) or 0)


# Built once: a submission runs them for every statement, and building them per call cost more than running them.
_LOGGED = select(_ENTRY.c.idx, _ENTRY.c.received_at).where(
    leaf_key(_ENTRY.c.leaf_hash) == bindparam("leaf_key", type_=_ENTRY.c.leaf_hash.type),
    _ENTRY.c.leaf_hash == bindparam("leaf_hash"))
_FIRST_PENDING = select(_PENDING.c.received_at).where(_PENDING.c.leaf_hash == bindparam("leaf_hash"))
_ADD_PENDING = {
    name: dialect.insert(_PENDING).on_conflict_do_nothing(index_elements=["leaf_hash"]).returning(_PENDING.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _add_pending(connection: Connection, new: NewEntry) -> Submitted:
    leaf = {"leaf_hash": new.leaf_hash, "leaf_key": new.leaf_hash[:LEAF_KEY_BYTES]}
    found = connection.execute(_LOGGED, leaf).first()
    if found is not None:
        return Submitted(found.received_at, created=False, index=found.idx)
    values = {name: getattr(new, name) for name in _COPIED}
    added = connection.execute(_ADD_PENDING[connection.dialect.name], values).first()
    if added is not None:
        return Submitted(new.received_at, created=True)
    first = connection.execute(_FIRST_PENDING, {"leaf_hash": new.leaf_hash}).scalar()
    if first is None:  # integrated between our two statements (PostgreSQL, read committed)
        first = connection.execute(_LOGGED, leaf).first()[1]  # type: ignore[index]
    assert first is not None
    return Submitted(first, created=False)


def _insert_ignoring(session: Session, table: Any, values: Mapping[str, Any], key: str) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING``: a racing duplicate is skipped, not an error."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])


# SQLite settings for the statements of one batch, restored before its commit (the pooled connection goes back
# as it came):
_BATCH_PRAGMAS = {
    # A batch at 10^6 entries dirties some 50 MB of pages (its rows, and scattered pages of the leaf-key index):
    # the default 2 MB cache spilled them to the WAL in the middle of the transaction and read them back.
    "cache_size": -64 * 1024,
    # SQLite built with SECURE_DELETE (Debian's is) zeroes and writes every page that deleting the integrated
    # pending rows frees: one more page of WAL per page of statements. Those rows are copies of entries every
    # member can read; FAST still clears them in pages written anyway, and skips the extra writes.
    "secure_delete": "FAST",
}


@contextmanager
def _batch_pragmas(session: Session) -> Iterator[None]:
    saved = {name: session.execute(text(f"PRAGMA {name}")).scalar_one() for name in _BATCH_PRAGMAS}
    for name, value in _BATCH_PRAGMAS.items():
        session.execute(text(f"PRAGMA {name} = {value}"))
    try:
        yield
    finally:
        for name, value in saved.items():
            session.execute(text(f"PRAGMA {name} = {value}"))


def _contiguous(ids: Sequence[int]) -> bool:
    """Whether the ascending ``ids`` have no gap."""
    return ids[-1] - ids[0] + 1 == len(ids)


class Sequencing:
    """The sequencer's view of the database inside its one transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    def tree_size(self) -> int:
        return _tree_size(self._session)

    def nodes(self, nodes: Iterable[Node]) -> dict[Node, bytes]:
        return _read_nodes(self._session, nodes)

    def pending(self, limit: int) -> list[PendingLeaf]:
        """The oldest pending rows, each marked if its leaf is already logged (a submission that raced an
        earlier batch on PostgreSQL can queue one: it must be dropped, never logged twice)."""
        oldest = (select(_PENDING.c.id, _PENDING.c.leaf_hash).order_by(_PENDING.c.id).limit(limit)
                  .subquery("oldest"))
        # A correlated EXISTS: one leaf-key index probe per pending row. As a join, PostgreSQL (which cannot
        # know that the leaf key is as selective as the hash) hashed the whole log instead, 1.5 s at 10^6 entries.
        logged = select(_ENTRY.c.idx).where(_logged_leaf(oldest.c.leaf_hash)).exists()
        query = select(oldest.c.id, oldest.c.leaf_hash, logged).order_by(oldest.c.id)
        # Core on the connection: the ORM's result wrapping would cost more than the query, once per row.
        return [PendingLeaf(row_id, bytes(hashed), bool(found))
                for row_id, hashed, found in self._session.connection().execute(query).all()]

    def drop_pending(self, ids: Sequence[int]) -> None:
        """Delete some pending rows (rare, and few: those found already logged)."""
        self._session.execute(_PENDING.delete().where(_PENDING.c.id.in_(ids)))

    def _among(self, ids: Sequence[int]) -> ColumnElement[bool]:
        """``pending.id IN ids`` for a batch, without binding thousands of parameters.

        Contiguous ids (the rule on SQLite, whose new rowid is the largest plus one): their range, which can
        hold no other row. Otherwise PostgreSQL gets one array parameter (a submission that commits during the
        batch may have taken an id inside the range), and SQLite still the range, which holds exactly the batch
        because the batch is the oldest pending rows (minus any dropped before) and ``BEGIN IMMEDIATE`` keeps
        other writers out until commit. ``append`` checks the count it moved all the same.
        """
        if self._postgres and not _contiguous(ids):
            return _PENDING.c.id == any_(bindparam("ids", list(ids), type_=postgresql.ARRAY(BigInteger)))
        return _PENDING.c.id.between(ids[0], ids[-1])

    def append(self, base: int, ids: Sequence[int], integrated_at: datetime) -> None:
        """Move the pending rows ``ids`` (ascending) into the log at indices ``base, base + 1, ...``."""
        if _contiguous(ids):
            # The index is the id shifted: no window over the batch (SQLite sorted every row, statement text
            # included, into a temporary table to number them).
            index = (_PENDING.c.id + literal(base - ids[0], BigInteger())).label("idx")
        else:
            index = (literal(base) + func.row_number().over(order_by=_PENDING.c.id) - 1).label("idx")
        when = literal(integrated_at, UtcDateTime()).label("integrated_at")
        among = self._among(ids)
        rows = select(index, *(_PENDING.c[name] for name in _COPIED), when).where(among)
        self._session.execute(insert(_ENTRY).from_select(["idx", *_COPIED, "integrated_at"], rows))
        # Not the rowcount (psycopg reports -1 for INSERT ... SELECT): the log's new end, one primary-key lookup.
        end = self._session.scalar(select(func.max(LedgerEntryRow.idx)))
        if end is None or end + 1 != base + len(ids):
            # Someone took or added rows under the lock: better no batch than a gap or a stray entry.
            raise RuntimeError(f"expected the log to end at {base + len(ids) - 1} after this batch, not at {end}")
        self._session.execute(_PENDING.delete().where(among))

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store completed subtrees; level 0 is skipped, as the leaf hashes are already in the entries."""
        rows = [node for node in nodes if node[0] > 0]
        if rows:
            # The driver's executemany with plain tuples: SQLAlchemy's per-row parameter processing cost three
            # times the insert itself (integers and bytes need no conversion on either driver).
            connection = self._session.connection()
            mark = _placeholder(connection)
            connection.exec_driver_sql(
                f"INSERT INTO ledger_nodes (level, idx, hash) VALUES ({mark}, {mark}, {mark})", rows)  # noqa: S608

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        self._session.execute(insert(LedgerCheckpointRow).values(
            size=checkpoint.size, root_hash=checkpoint.root_hash, note=checkpoint.note,
            created_at=checkpoint.created_at))


class SqlLedgerStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def dialect(self) -> str:
        return self._db.engine.dialect.name

    # --- submissions ----------------------------------------------------------------------------------------

    def add_pending(self, new: NewEntry) -> Submitted:
        """Queue a statement for integration, or say when the same leaf was first received."""
        with self._db.writing() as connection:
            return _add_pending(connection, new)

    def add_pending_many(self, entries: Sequence[NewEntry]) -> list[Submitted]:
        """``add_pending`` for each, in order, in one transaction (one commit for a whole batch)."""
        with self._db.writing() as connection:
            return [_add_pending(connection, new) for new in entries]

    def backlog(self) -> PendingBacklog:
        with self._db.reading() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(LedgerPendingRow.received_at))).one()
            return PendingBacklog(int(count), oldest)

    # --- integration ----------------------------------------------------------------------------------------

    @contextmanager
    def sequencing(self) -> Iterator[Sequencing]:
        """One transaction holding the sequencer lock; commits when the block ends, rolls back if it raises."""
        with self._db.transaction() as session:
            if self.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SEQUENCER_LOCK_ID})
                yield Sequencing(session)
            else:
                with _batch_pragmas(session):
                    yield Sequencing(session)

    def add_first_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store the checkpoint of the empty log if the log has none yet (every replica may try at start)."""
        values = {"size": 0, "root_hash": checkpoint.root_hash, "note": checkpoint.note,
                  "created_at": checkpoint.created_at}
        with self._db.transaction() as session:
            session.execute(_insert_ignoring(session, LedgerCheckpointRow, values, "size"))

    # --- reads ----------------------------------------------------------------------------------------------

    def tree_size(self) -> int:
        with self._db.reading() as session:
            return _tree_size(session)

    def nodes(self, nodes: Iterable[Node]) -> dict[Node, bytes]:
        with self._db.reading() as session:
            return _read_nodes(session, nodes)

    def entry(self, index: int) -> LedgerEntry | None:
        with self._db.reading() as session:
            row = session.get(LedgerEntryRow, index)
            return None if row is None else _entry(row)

    def entry_by_leaf(self, leaf_hash: bytes) -> LedgerEntry | None:
        with self._db.reading() as session:
            row = session.scalar(select(LedgerEntryRow).where(_logged_leaf(leaf_hash)))
            return None if row is None else _entry(row)

    def search(self, query: EntryQuery) -> list[LedgerEntry]:
        e = LedgerEntryRow
        wanted = select(_ENTRY).order_by(e.idx).limit(query.limit)
        for column, value in ((e.participant, query.participant), (e.agreement, query.agreement),
                              (e.process, query.process)):
            if value is not None:
                wanted = wanted.where(column == value)
        if query.since is not None:
            wanted = wanted.where(e.statement_time >= query.since)
        if query.until is not None:
            wanted = wanted.where(e.statement_time < query.until)
        if query.after is not None:
            wanted = wanted.where(e.idx > query.after)
        with self._db.reading() as session:
            return [_entry(row) for row in session.execute(wanted)]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._db.reading() as session:
            row = session.scalar(select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.size.desc()).limit(1))
            return None if row is None else _checkpoint(row)

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        with self._db.reading() as session:
            row = session.get(LedgerCheckpointRow, size)
            return None if row is None else _checkpoint(row)

    def checkpoints(self, after: int | None, limit: int) -> list[StoredCheckpoint]:
        c = LedgerCheckpointRow
        wanted = select(c).order_by(c.size).limit(limit)
        if after is not None:
            wanted = wanted.where(c.size > after)
        with self._db.reading() as session:
            return [_checkpoint(row) for row in session.scalars(wanted)]

    # --- witnesses ------------------------------------------------------------------------------------------

    def add_cosignature(self, cosignature: StoredCosignature) -> tuple[StoredCosignature, bool]:
        """Keep a cosignature; if this key or witness already cosigned the checkpoint, return the one kept
        and False."""
        c = LedgerCosignatureRow
        values = {"checkpoint_size": cosignature.checkpoint_size, "witness": cosignature.witness,
                  "vkey": cosignature.vkey, "public_key": cosignature.public_key,
                  "signature_line": cosignature.signature_line, "created_at": cosignature.created_at}
        try:
            with self._db.transaction() as session:
                session.execute(insert(c).values(**values))
            return cosignature, True
        except IntegrityError:
            with self._db.transaction() as session:
                kept = session.scalar(select(c).where(
                    c.checkpoint_size == cosignature.checkpoint_size,
                    or_(c.public_key == cosignature.public_key, c.witness == cosignature.witness)).limit(1))
            if kept is None:  # the constraint that fired was not ours to explain: let it surface
                raise
            return _cosignature(kept), False

    def cosignatures(self, size: int) -> list[StoredCosignature]:
        c = LedgerCosignatureRow
        with self._db.reading() as session:
            return [_cosignature(row) for row in session.scalars(
                select(c).where(c.checkpoint_size == size).order_by(c.id))]

    def witnesses(self) -> list[tuple[str, str]]:
        """Every (witness name, vkey) that ever cosigned, in order of first cosignature."""
        c = LedgerCosignatureRow
        first = func.min(c.id).label("first_id")
        query = select(c.witness, c.vkey, first).group_by(c.witness, c.vkey).order_by(first)
        with self._db.reading() as session:
            return [(name, vkey) for name, vkey, _ in session.execute(query)]
