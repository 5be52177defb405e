"""Usage counters in SQL (SQLite and PostgreSQL), exact under concurrency.

``SqlUsageCounters.use`` decides and counts in ONE transaction with the agreement's counter row locked: on
PostgreSQL an insert-if-missing (``ON CONFLICT DO NOTHING``) then ``SELECT ... FOR UPDATE``, so every access to
one agreement waits for the one before it to commit and then reads its count; on SQLite the process's writer
lock and ``BEGIN IMMEDIATE`` (``Database.writing()``) make every transaction the only writer. (The insert and
the lock are one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``: one round trip instead of two; a pull from
byte 0 is even counted in that statement, and rolled back if the decision denies it.) The decision is
made with the totals read under that lock and the use is added only if it permits, so 100 parallel reads
against a count of 10 get exactly 10 permits, and a crash before the commit leaves neither a use nor a served
byte (the data plane serves only after ``use`` returned).

Statements are prebuilt Core (the data plane calls this on every request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Insert, Row, Table, bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from trustspace.store.db import Database
from trustspace.store.usage.counter_models import UsageCounterRow
from trustspace.store.usage.counter_records import DAY, HOUR, MINUTE, Access, Counted, UsageTotals, bucket

# Called under the lock with the totals so far and whether the access continues a counted download.
Decide = Callable[[UsageTotals, bool], bool]
# What else a permit writes in the same transaction (its evidence), on the same database.
Also = Callable[[Connection], None]

_COUNTERS = cast(Table, UsageCounterRow.__table__)
_ZERO = {"uses": 0, "bytes": 0, "records": 0, "minute_bucket": 0, "minute_uses": 0, "hour_bucket": 0,
         "hour_uses": 0, "day_bucket": 0, "day_uses": 0}
_READ_COUNTER = select(_COUNTERS).where(_COUNTERS.c.agreement_id == bindparam("agreement"))
_ADD_USE = update(_COUNTERS).where(_COUNTERS.c.agreement_id == bindparam("agreement")).values(
    {name: bindparam(f"new_{name}") for name in (*_ZERO, "last_transfer", "last_validator", "last_start",
                                                 "updated_at")})
_CONTINUE = update(_COUNTERS).where(_COUNTERS.c.agreement_id == bindparam("agreement")).values(
    last_start=bindparam("start"), updated_at=bindparam("at"))


class UsageCounterStore(Protocol):
    def use(self, access: Access, decide: Decide, also: Also | None = None) -> Counted:
        """Decide ``access`` with the agreement's totals so far and, if permitted and counted, add it, atomically;
        a permit also runs ``also`` in the same transaction."""

    def totals(self, agreement_id: str) -> UsageTotals:
        """The totals as last committed (windows as stored, whatever the time now)."""


def _insert(dialect: str, table: Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _continues(row: Row[Any], access: Access) -> bool:
    """Does ``access`` continue the agreement's latest counted download? Only forward: the same start again (or
    an earlier one) re-reads bytes already sent, and another transfer's download in between ends the chance."""
    return (access.validator is not None and access.start > 0 and row.last_transfer == access.transfer_id
            and row.last_validator == access.validator and access.start > int(row.last_start))


def _window(row: Row[Any], name: str, now_bucket: int) -> int:
    return int(getattr(row, f"{name}_uses")) if int(getattr(row, f"{name}_bucket")) == now_bucket else 0


class _Refused(Exception):
    """Raised inside the transaction to roll back a use counted before its decision denied it."""

    def __init__(self, counted: Counted) -> None:
        super().__init__("refused")
        self.counted = counted


def _count_first(dialect: str) -> Insert:
    """Insert-or-add one use and return the row: the conflict's update takes the row lock, and each window
    starts again at 1 when its calendar bucket has moved on (the SET side reads the row as it was)."""
    insert = _insert(dialect, _COUNTERS).values(
        agreement_id=bindparam("agreement"), uses=1, bytes=bindparam("size"), records=bindparam("records"),
        minute_bucket=bindparam("minute"), minute_uses=1, hour_bucket=bindparam("hour"), hour_uses=1,
        day_bucket=bindparam("day"), day_uses=1, last_transfer=bindparam("transfer"),
        last_validator=bindparam("validator"), last_start=bindparam("start"), updated_at=bindparam("at"))
    old, new = _COUNTERS.c, insert.excluded
    windows = {}
    for name in ("minute", "hour", "day"):
        windows[f"{name}_uses"] = case((old[f"{name}_bucket"] == new[f"{name}_bucket"], old[f"{name}_uses"] + 1),
                                       else_=1)
        windows[f"{name}_bucket"] = new[f"{name}_bucket"]
    added: Insert = insert.on_conflict_do_update(
        index_elements=[old.agreement_id],
        set_={"uses": old.uses + 1, "bytes": old.bytes + new.bytes, "records": old.records + new.records, **windows,
              "last_transfer": new.last_transfer, "last_validator": new.last_validator,
              "last_start": new.last_start, "updated_at": new.updated_at}).returning(*_COUNTERS.c)
    return added


class SqlUsageCounters:
    """``UsageCounterStore`` over the connector's database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        insert = _insert(db.engine.dialect.name, _COUNTERS).values(
            agreement_id=bindparam("agreement"), updated_at=bindparam("at"), last_start=0, **_ZERO)
        # Insert-if-missing and lock in one round trip: the no-op update of a conflict takes the row lock (until
        # commit) and RETURNING hands back the row as last committed, like SELECT ... FOR UPDATE would.
        self._lock: Insert = insert.on_conflict_do_update(
            index_elements=[_COUNTERS.c.agreement_id],
            set_={"agreement_id": insert.excluded.agreement_id}).returning(*_COUNTERS.c)
        self._count = _count_first(db.engine.dialect.name)

    def use(self, access: Access, decide: Decide, also: Also | None = None) -> Counted:
        if access.counted and access.start == 0:
            return self._use_counted_first(access, decide, also)
        with self._db.writing() as connection:
            row = connection.execute(self._lock, {"agreement": access.agreement_id, "at": access.at}).one()
            buckets = {"minute": bucket(access.at, MINUTE), "hour": bucket(access.at, HOUR),
                       "day": bucket(access.at, DAY)}
            totals = UsageTotals(int(row.uses), int(row.bytes), int(row.records),
                                 *(_window(row, name, now) for name, now in buckets.items()))
            continuation = _continues(row, access)
            if not decide(totals, continuation):
                return Counted(False, totals, continuation, False)
            added = access.counted and not continuation
            if continuation:
                connection.execute(_CONTINUE, {"agreement": access.agreement_id, "start": access.start,
                                               "at": access.at})
            elif added:
                connection.execute(_ADD_USE, self._added(access, totals, buckets))
            if also is not None:
                also(connection)
            return Counted(True, totals, continuation, added)

    def _use_counted_first(self, access: Access, decide: Decide, also: Also | None) -> Counted:
        """A pull from byte 0 cannot continue a download: count it at once, in the statement that takes the lock
        (one round trip fewer), derive the totals before it, and roll it back if the decision denies."""
        params = {"agreement": access.agreement_id, "size": access.size, "records": access.records,
                  "minute": bucket(access.at, MINUTE), "hour": bucket(access.at, HOUR), "day": bucket(access.at, DAY),
                  "transfer": access.transfer_id, "validator": access.validator, "start": 0, "at": access.at}
        try:
            with self._db.writing() as connection:
                row = connection.execute(self._count, params).one()
                totals = UsageTotals(int(row.uses) - 1, int(row.bytes) - access.size,
                                     int(row.records) - access.records, int(row.minute_uses) - 1,
                                     int(row.hour_uses) - 1, int(row.day_uses) - 1)
                if not decide(totals, False):
                    raise _Refused(Counted(False, totals, False, False))
                if also is not None:
                    also(connection)
                return Counted(True, totals, False, True)
        except _Refused as refused:
            return refused.counted

    @staticmethod
    def _added(access: Access, totals: UsageTotals, buckets: dict[str, int]) -> dict[str, Any]:
        return {
            "agreement": access.agreement_id, "new_uses": totals.uses + 1, "new_bytes": totals.bytes + access.size,
            "new_records": totals.records + access.records,
            "new_minute_bucket": buckets["minute"], "new_minute_uses": totals.per_minute + 1,
            "new_hour_bucket": buckets["hour"], "new_hour_uses": totals.per_hour + 1,
            "new_day_bucket": buckets["day"], "new_day_uses": totals.per_day + 1,
            "new_last_transfer": access.transfer_id, "new_last_validator": access.validator,
            "new_last_start": access.start, "new_updated_at": access.at,
        }

    def totals(self, agreement_id: str) -> UsageTotals:
        with self._db.snapshot() as connection:
            row = connection.execute(_READ_COUNTER, {"agreement": agreement_id}).first()
        if row is None:
            return UsageTotals()
        return UsageTotals(int(row.uses), int(row.bytes), int(row.records), int(row.minute_uses),
                           int(row.hour_uses), int(row.day_uses))
