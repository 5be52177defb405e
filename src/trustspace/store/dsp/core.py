"""Prebuilt Core statements for the paths every protocol message takes, and rows to records for them.

Each statement is built once, here, so SQLAlchemy compiles it once per dialect and afterwards only binds
values; executed on a ``Database.writing()`` / ``snapshot()`` connection they skip the ORM's session, identity
map and unit of work. The tables and column types are still ``models``' (so JSON and aware timestamps
are converted exactly as the ORM converts them), and the records are still ``records``'.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from trustspace.store.dsp import mapping as rows
from trustspace.store.dsp.interfaces import Lanes, StateOf
from trustspace.store.dsp.models import (
    AgreementRow,
    NegotiationRow,
    OutboxRow,
    ProcessEventRow,
    TransferRow,
)
from trustspace.store.dsp.records import NewOutboxMessage, OutboxMessage

R = TypeVar("R")
# A row as a mapping (SQLAlchemy's ``RowMapping``), or a plain dict with the same keys.
Fields = Mapping[Any, Any]

NEGOTIATIONS: Table = NegotiationRow.__table__  # type: ignore[assignment]
TRANSFERS: Table = TransferRow.__table__  # type: ignore[assignment]
AGREEMENTS: Table = AgreementRow.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxRow.__table__  # type: ignore[assignment]
EVENTS: Table = ProcessEventRow.__table__  # type: ignore[assignment]
PROCESS_TABLES: dict[str, Table] = {"negotiation": NEGOTIATIONS, "transfer": TRANSFERS}

# Arbitrary constant shared by every replica: the advisory lock that makes event ids visible in order.
EVENT_ORDER_LOCK_ID = 0x7473_6576_7473
_EVENT_ORDER_LOCK = text("SELECT pg_advisory_xact_lock(:id)")


def record(kind: type[R], row: Fields) -> R:
    """The record dataclass ``kind`` from a row's mapping (or any mapping with its field names)."""
    return kind(**{field.name: row[field.name] for field in dataclasses.fields(kind)})  # type: ignore[arg-type]


# --- processes -----------------------------------------------------------------------------------------------


def _by_id(table: Table, lock: bool) -> Select[Any]:
    query = select(table).where(table.c.id == bindparam("process_id"))
    # PostgreSQL: the row stays locked until commit. SQLite renders no FOR UPDATE; its writer lock is held.
    return query.with_for_update() if lock else query


_GET = {kind: _by_id(table, lock=False) for kind, table in PROCESS_TABLES.items()}
_LOCK = {kind: _by_id(table, lock=True) for kind, table in PROCESS_TABLES.items()}
# Keys other than column names: SQLAlchemy keeps column-named parameters for the SET clause.
_MOVE = {kind: update(table).where(table.c.id == bindparam("process_id"))
         for kind, table in PROCESS_TABLES.items()}


def get_process(connection: Connection, kind: str, process_id: str, lock: bool = False) -> Fields | None:
    """The process row (locked until commit if ``lock``), or None."""
    found = connection.execute((_LOCK if lock else _GET)[kind], {"process_id": process_id}).first()
    return None if found is None else found._mapping


def _by_key(table: Table) -> Select[Any]:
    return select(table).where(table.c.role == bindparam("role"), table.c.counter_party == bindparam("counter_party"),
                               table.c.consumer_pid == bindparam("consumer_pid"))


_BY_KEY = {kind: _by_key(table) for kind, table in PROCESS_TABLES.items()}
_INSERT_PROCESS = {kind: insert(table) for kind, table in PROCESS_TABLES.items()}


def find_by_key(connection: Connection, kind: str, values: Fields) -> Fields | None:
    """The process with the receiver's idempotency key (role, counter_party, consumer_pid) of ``values``."""
    key = {name: values[name] for name in ("role", "counter_party", "consumer_pid")}
    found = connection.execute(_BY_KEY[kind], key).first()
    return None if found is None else found._mapping


@functools.lru_cache(maxsize=16)
def _by_pids(kind: str, by_consumer: bool, by_provider: bool) -> Select[Any]:
    table = PROCESS_TABLES[kind]
    query = select(table).where(table.c.role == bindparam("role"))
    if by_consumer:
        query = query.where(table.c.consumer_pid == bindparam("consumer_pid"))
    if by_provider:
        query = query.where(table.c.provider_pid == bindparam("provider_pid"))
    # A consumer_pid is only unique per counter-party; should two collide, the answer is still stable.
    return query.order_by(table.c.created_at, table.c.id).limit(1)


def find_by_pids(connection: Connection, kind: str, role: str, consumer_pid: str | None,
                 provider_pid: str | None) -> Fields | None:
    """The first process of ``role`` with these pids (a None pid is not compared)."""
    query = _by_pids(kind, consumer_pid is not None, provider_pid is not None)
    params = {"role": role, "consumer_pid": consumer_pid, "provider_pid": provider_pid}
    found = connection.execute(query, params).first()
    return None if found is None else found._mapping


def add_process(connection: Connection, kind: str, values: Fields) -> None:
    connection.execute(_INSERT_PROCESS[kind], dict(values))


def move_process(connection: Connection, kind: str, process_id: str, values: Mapping[str, Any]) -> None:
    connection.execute(_MOVE[kind], {"process_id": process_id, **values})


@functools.lru_cache(maxsize=64)
def in_states(kind: str, pairs: tuple[StateOf, ...]) -> Select[Any]:
    """Processes in any of ``pairs`` (role, state), oldest first; a None role matches both. The worker asks
    the same question every round, so the statement is built once."""
    table = PROCESS_TABLES[kind]
    wanted: list[ColumnElement[bool]] = [
        table.c.state == state if role is None else and_(table.c.role == rows.check_role(role), table.c.state == state)
        for role, state in pairs
    ]
    return select(table).where(or_(false(), *wanted)).order_by(table.c.created_at, table.c.id)


def add_agreement(connection: Connection, values: Mapping[str, Any]) -> None:
    connection.execute(insert(AGREEMENTS), dict(values))


# --- outbox --------------------------------------------------------------------------------------------------

_EARLIER = OUTBOX.alias("earlier")
# A process's messages go out in the order they were queued: one waiting for its retry holds back every later
# message of its process (the counter-party would otherwise see, say, a suspension before the start it
# suspends). Due ones are claimed together, oldest first, and sent in order.
_CLAIMABLE = (
    select(OUTBOX)
    .where(OUTBOX.c.sent_at.is_(None), OUTBOX.c.next_attempt_at <= bindparam("now"))
    .where(or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until < bindparam("now")))
    .where(~exists(
        select(_EARLIER.c.id)
        .where(_EARLIER.c.process_kind == OUTBOX.c.process_kind, _EARLIER.c.process_id == OUTBOX.c.process_id)
        .where(_EARLIER.c.id < OUTBOX.c.id, _EARLIER.c.sent_at.is_(None), _EARLIER.c.next_attempt_at > bindparam("now"))
    ))
    .order_by(OUTBOX.c.id)
    .limit(bindparam("limit"))
    # PostgreSQL: rows another replica is claiming right now are skipped, not waited for. SQLite renders no
    # FOR UPDATE; its writer lock lets one claimer at a time in.
    .with_for_update(skip_locked=True)
)
# The lane's prefix compared as it is: LIKE would need escaping and, on SQLite, ignores ASCII case.
_LANE_PREFIX = func.substr(OUTBOX.c.process_id, 1, bindparam("lane_length", type_=Integer()))
_LANE: BindParameter[str] = bindparam("lane", type_=String())
_CLAIMABLE_BY_LANE = {True: _CLAIMABLE.where(_LANE_PREFIX == _LANE), False: _CLAIMABLE.where(_LANE_PREFIX != _LANE)}
_UNSENT = OUTBOX.c.sent_at.is_(None)
_LEASE = update(OUTBOX).where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _UNSENT)
_SENT = update(OUTBOX).where(OUTBOX.c.id == bindparam("message_id"), _UNSENT)
_FAILED = _SENT.values(
    # attempts + 1 in SQL: two reports racing both count.
    attempts=OUTBOX.c.attempts + 1, last_error=bindparam("error", type_=OUTBOX.c.last_error.type),
    next_attempt_at=bindparam("retry_at", type_=OUTBOX.c.next_attempt_at.type), lease_until=None)
_DROP_ONE = delete(OUTBOX).where(OUTBOX.c.id == bindparam("message_id"), _UNSENT)
_DROP_PROCESS = delete(OUTBOX).where(OUTBOX.c.process_kind == bindparam("kind"),
                                     OUTBOX.c.process_id == bindparam("process_id"), _UNSENT)
_INSERT_OUTBOX = insert(OUTBOX)
_PROCESS_UNSENT = select(OUTBOX.c.id, OUTBOX.c.url).where(OUTBOX.c.process_kind == bindparam("kind"),
                                                         OUTBOX.c.process_id == bindparam("process_id"), _UNSENT)
_READDRESS = update(OUTBOX).where(OUTBOX.c.id == bindparam("message_id")).values(url=bindparam("new_url"))


def claim(connection: Connection, now: datetime, lease_until: datetime, limit: int,
          lanes: Lanes | None = None) -> list[OutboxMessage]:
    params: dict[str, Any] = {"now": now, "limit": rows.check_limit(limit)}
    query = _CLAIMABLE
    if lanes is not None:
        query = _CLAIMABLE_BY_LANE[lanes.inside]
        params.update(lane=lanes.prefix, lane_length=len(lanes.prefix))
    found = [record(OutboxMessage, row._mapping) for row in connection.execute(query, params)]
    if found:
        connection.execute(_LEASE, {"ids": [message.id for message in found], "lease_until": lease_until})
    return found


def lease(connection: Connection, message_ids: Sequence[int], until: datetime | None) -> None:
    connection.execute(_LEASE, {"ids": list(message_ids), "lease_until": until})


def mark_sent(connection: Connection, message_id: int, at: datetime) -> bool:
    """False if the message was sent already or is gone."""
    marked = connection.execute(_SENT, {"message_id": message_id, "sent_at": at, "lease_until": None})
    return bool(marked.rowcount)


def mark_failed(connection: Connection, message_id: int, error: str, retry_at: datetime) -> None:
    connection.execute(_FAILED, {"message_id": message_id, "error": error, "retry_at": retry_at})


def drop_message(connection: Connection, message_id: int) -> bool:
    return bool(connection.execute(_DROP_ONE, {"message_id": message_id}).rowcount)


def drop_process_outbox(connection: Connection, kind: str, process_id: str) -> int:
    return connection.execute(_DROP_PROCESS, {"kind": kind, "process_id": process_id}).rowcount


def readdress_outbox(connection: Connection, kind: str, process_id: str, old: str, new: str) -> int:
    """Unsent messages of a process whose URL lies under ``old`` now go under ``new``; how many."""
    found = connection.execute(_PROCESS_UNSENT, {"kind": kind, "process_id": process_id}).all()
    moved = [{"message_id": row.id, "new_url": new + row.url[len(old):]} for row in found
             if row.url == old or row.url.startswith(old + "/")]
    if moved:
        connection.execute(_READDRESS, moved)
    return len(moved)


def outbox_values(message: NewOutboxMessage, now: datetime) -> dict[str, Any]:
    """A new message's row: never tried, due at once (checked before any transaction starts)."""
    return {"process_kind": rows.check_kind(message.process_kind, "outbox.process_kind"),
            "process_id": message.process_id, "url": message.url, "audience": message.audience,
            "body": rows.document(message.body, "outbox.body"), "created_at": now, "attempts": 0,
            "next_attempt_at": now, "lease_until": None, "sent_at": None, "last_error": None}


def queue(connection: Connection, values: Sequence[Mapping[str, Any]]) -> None:
    if values:
        connection.execute(_INSERT_OUTBOX, [dict(value) for value in values])


# --- history -------------------------------------------------------------------------------------------------

_INSERT_EVENT = insert(EVENTS)


def add_event(connection: Connection, kind: str, process_id: str, state: str, detail: str, at: datetime) -> None:
    """Record one line of history. Call it last in the transaction.

    On PostgreSQL an id comes from a sequence when the row is inserted, but becomes visible at commit; two
    transactions could commit in the opposite order and a watcher reading ``after_id`` would skip the smaller
    id for good. The transaction-scoped lock hands out ids in commit order (it is held only from here to the
    commit). SQLite's single writer already does that.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_EVENT_ORDER_LOCK, {"id": EVENT_ORDER_LOCK_ID})
    connection.execute(_INSERT_EVENT, {"process_kind": kind, "process_id": process_id, "state": state,
                                       "detail": detail, "at": at})
