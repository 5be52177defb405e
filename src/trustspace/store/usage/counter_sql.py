"""Usage counters in SQL (SQLite and PostgreSQL), exact under concurrency.

``SqlUsageCounters.use`` decides and counts in ONE transaction with the agreement's counter row locked: on
PostgreSQL an insert-if-missing (``ON CONFLICT DO NOTHING``) then ``SELECT ... FOR UPDATE``, so every access to
one agreement waits for the one before it to commit and then reads its count; on SQLite the process's writer
lock and ``BEGIN IMMEDIATE`` (``Database.writing()``) make every transaction the only writer. The decision is
made with the totals read under that lock and the use is added only if it permits, so 100 parallel reads
against a count of 10 get exactly 10 permits, and a crash before the commit leaves neither a use nor a served
byte (the data plane serves only after ``use`` returned).

Statements are prebuilt Core (the data plane calls this on every request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Insert, Row, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from trustspace.store.db import Database
from trustspace.store.usage.counter_models import UsageCounterRow, UsageDownloadRow
from trustspace.store.usage.counter_records import DAY, HOUR, MINUTE, Access, Counted, UsageTotals, bucket

# Called under the lock with the totals so far and whether the access continues a counted download.
Decide = Callable[[UsageTotals, bool], bool]

_COUNTERS = cast(Table, UsageCounterRow.__table__)
_DOWNLOADS = cast(Table, UsageDownloadRow.__table__)
_ZERO = {"uses": 0, "bytes": 0, "records": 0, "minute_bucket": 0, "minute_uses": 0, "hour_bucket": 0,
         "hour_uses": 0, "day_bucket": 0, "day_uses": 0}
_LOCK_COUNTER = select(_COUNTERS).where(_COUNTERS.c.agreement_id == bindparam("agreement")).with_for_update()
_READ_COUNTER = select(_COUNTERS).where(_COUNTERS.c.agreement_id == bindparam("agreement"))
_READ_DOWNLOAD = select(_DOWNLOADS).where(_DOWNLOADS.c.transfer_id == bindparam("transfer"))
_UPDATE_COUNTER = update(_COUNTERS).where(_COUNTERS.c.agreement_id == bindparam("agreement")).values(
    {name: bindparam(f"new_{name}") for name in (*_ZERO, "updated_at")})
_MOVE_DOWNLOAD = update(_DOWNLOADS).where(_DOWNLOADS.c.transfer_id == bindparam("transfer")).values(
    last_start=bindparam("start"))


class UsageCounterStore(Protocol):
    def use(self, access: Access, decide: Decide) -> Counted:
        """Decide ``access`` with the agreement's totals so far and, if permitted and counted, add it, atomically."""

    def totals(self, agreement_id: str) -> UsageTotals:
        """The totals as last committed (windows as stored, whatever the time now)."""


def _insert(dialect: str, table: Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _window(row: Row[Any], name: str, now_bucket: int) -> int:
    return int(getattr(row, f"{name}_uses")) if int(getattr(row, f"{name}_bucket")) == now_bucket else 0


class SqlUsageCounters:
    """``UsageCounterStore`` over the connector's database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        dialect = db.engine.dialect.name
        self._ensure: Insert = _insert(dialect, _COUNTERS).values(
            agreement_id=bindparam("agreement"), updated_at=bindparam("at"), **_ZERO).on_conflict_do_nothing()
        insert = _insert(dialect, _DOWNLOADS).values(
            transfer_id=bindparam("transfer"), agreement_id=bindparam("agreement"), validator=bindparam("validator"),
            last_start=bindparam("start"), counted_at=bindparam("at"))
        # A new full download of the same transfer starts the continuation over from its own first byte.
        self._mark_download: Insert = insert.on_conflict_do_update(
            index_elements=[_DOWNLOADS.c.transfer_id],
            set_={"validator": insert.excluded.validator, "last_start": insert.excluded.last_start,
                  "counted_at": insert.excluded.counted_at})

    def use(self, access: Access, decide: Decide) -> Counted:
        with self._db.writing() as connection:
            connection.execute(self._ensure, {"agreement": access.agreement_id, "at": access.at})
            row = connection.execute(_LOCK_COUNTER, {"agreement": access.agreement_id}).one()
            buckets = {"minute": bucket(access.at, MINUTE), "hour": bucket(access.at, HOUR),
                       "day": bucket(access.at, DAY)}
            totals = UsageTotals(int(row.uses), int(row.bytes), int(row.records),
                                 *(_window(row, name, now) for name, now in buckets.items()))
            continuation = self._continues(connection, access)
            if not decide(totals, continuation):
                return Counted(False, totals, continuation, False)
            if not access.counted:
                return Counted(True, totals, continuation, False)
            if continuation:
                connection.execute(_MOVE_DOWNLOAD, {"transfer": access.transfer_id, "start": access.start})
                return Counted(True, totals, True, False)
            connection.execute(_UPDATE_COUNTER, self._added(access, totals, buckets))
            if access.validator is not None:
                connection.execute(self._mark_download, {
                    "transfer": access.transfer_id, "agreement": access.agreement_id, "validator": access.validator,
                    "start": access.start, "at": access.at})
            return Counted(True, totals, False, True)

    @staticmethod
    def _continues(connection: Connection, access: Access) -> bool:
        if access.validator is None or access.start <= 0:
            return False
        found = connection.execute(_READ_DOWNLOAD, {"transfer": access.transfer_id}).first()
        # Only forward: the same start again (or an earlier one) is a new read of bytes already sent.
        return (found is not None and found.agreement_id == access.agreement_id
                and found.validator == access.validator and access.start > int(found.last_start))

    @staticmethod
    def _added(access: Access, totals: UsageTotals, buckets: dict[str, int]) -> dict[str, Any]:
        return {
            "agreement": access.agreement_id, "new_uses": totals.uses + 1, "new_bytes": totals.bytes + access.size,
            "new_records": totals.records + access.records,
            "new_minute_bucket": buckets["minute"], "new_minute_uses": totals.per_minute + 1,
            "new_hour_bucket": buckets["hour"], "new_hour_uses": totals.per_hour + 1,
            "new_day_bucket": buckets["day"], "new_day_uses": totals.per_day + 1,
            "new_updated_at": access.at,
        }

    def totals(self, agreement_id: str) -> UsageTotals:
        with self._db.snapshot() as connection:
            row = connection.execute(_READ_COUNTER, {"agreement": agreement_id}).first()
        if row is None:
            return UsageTotals()
        return UsageTotals(int(row.uses), int(row.bytes), int(row.records), int(row.minute_uses),
                           int(row.hour_uses), int(row.day_uses))
