"""The SQL Dataspace Protocol store (SQLite and PostgreSQL): ``SqlDspStore`` is the catalog and the processes.

Where the parts live:
- ``sql`` (here): the catalog (assets, policies, offers) and the combined store;
- ``process_sql``: negotiations, agreements, transfers, problems, deadlines;
- ``outbox_sql``: the outbox (claim, mark, drop) and the event history;
- ``models`` / ``mapping``: tables, and rows to records.

Every public method is one ``Database.transaction()`` (``reading()`` if it only reads). Uniqueness is the
schema's job (primary keys, the (role, counter_party, consumer_pid) constraints), so a racing request meets
the constraint rather than slipping between a check and an insert; the checks made first only give the clearer
message."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from trustspace.core.errors import Conflict, NotFound
from trustspace.store.dsp import core as core
from trustspace.store.dsp import mapping as rows
from trustspace.store.dsp.interfaces import CatalogStore
from trustspace.store.dsp.models import AssetRow, OfferRow, PolicyRow
from trustspace.store.dsp.outbox_sql import DspSqlBase
from trustspace.store.dsp.process_sql import SqlProcessStore
from trustspace.store.dsp.records import Asset, NewOutboxMessage, OfferRecord, PolicyRecord

__all__ = ["SqlCatalogStore", "SqlDspStore", "SqlProcessStore"]


def _get(model: type[AssetRow | PolicyRow | OfferRow]) -> Select[Any]:
    table = cast(Table, model.__table__)
    return select(table).where(table.c.id == bindparam("id"))


# A contract request reads its offer and the offer's policy: by prebuilt Core statements, as the processes.
_GET_ASSET, _GET_POLICY, _GET_OFFER = _get(AssetRow), _get(PolicyRow), _get(OfferRow)


@contextmanager
def _unique(message: str, field: str) -> Iterator[None]:
    """Turn a uniqueness violation (raised at flush or commit) into ``Conflict``."""
    try:
        yield
    except IntegrityError as error:
        raise Conflict(message, field=field) from error


class SqlCatalogStore(DspSqlBase, CatalogStore):
    def add_asset(self, asset: Asset) -> Asset:
        row = rows.asset_row(asset)
        with _unique(f"asset {asset.id} exists", "id"), self._db.transaction() as session:
            session.add(row)
        return rows.asset(row)

    def get_asset(self, asset_id: str) -> Asset | None:
        with self._db.snapshot() as connection:
            found = connection.execute(_GET_ASSET, {"id": asset_id}).first()
            return None if found is None else core.record(Asset, found._mapping)

    def list_assets(self) -> list[Asset]:
        query = select(AssetRow).order_by(AssetRow.created_at, AssetRow.id)
        with self._db.reading() as session:
            return [rows.asset(row) for row in session.scalars(query)]

    def add_policy(self, policy: PolicyRecord) -> PolicyRecord:
        """Conflict if the id exists."""
        row = rows.policy_row(policy)
        with _unique(f"policy {policy.id} exists", "id"), self._db.transaction() as session:
            session.add(row)
        return rows.policy(row)

    def get_policy(self, policy_id: str) -> PolicyRecord | None:
        with self._db.snapshot() as connection:
            found = connection.execute(_GET_POLICY, {"id": policy_id}).first()
            return None if found is None else core.record(PolicyRecord, found._mapping)

    def list_policies(self) -> list[PolicyRecord]:
        query = select(PolicyRow).order_by(PolicyRow.created_at, PolicyRow.id)
        with self._db.reading() as session:
            return [rows.policy(row) for row in session.scalars(query)]

    def add_offer(self, offer: OfferRecord, outbox: Sequence[NewOutboxMessage] = ()) -> OfferRecord:
        row = rows.offer_row(offer)
        now = self._now()
        queued = [core.outbox_values(message, now) for message in outbox]
        with _unique(f"offer {offer.id} exists", "id"), self._db.transaction() as session:
            # Checked first for the message naming the field; the foreign keys hold it anyway.
            if session.get(AssetRow, offer.asset_id) is None:
                raise NotFound(f"no asset {offer.asset_id}", field="assetId")
            if session.get(PolicyRow, offer.policy_id) is None:
                raise NotFound(f"no policy {offer.policy_id}", field="policyId")
            session.add(row)
            # A taken id fails at this flush, taking the queued evidence down with the offer.
            session.flush()
            core.queue(session.connection(), queued)
        return rows.offer(row)

    def get_offer(self, offer_id: str) -> OfferRecord | None:
        with self._db.snapshot() as connection:
            found = connection.execute(_GET_OFFER, {"id": offer_id}).first()
            return None if found is None else core.record(OfferRecord, found._mapping)

    def list_offers(self, asset_id: str | None = None) -> list[OfferRecord]:
        query = select(OfferRow).order_by(OfferRow.created_at, OfferRow.id)
        if asset_id is not None:
            query = query.where(OfferRow.asset_id == asset_id)
        with self._db.reading() as session:
            return [rows.offer(row) for row in session.scalars(query)]


class SqlDspStore(SqlCatalogStore, SqlProcessStore):
    """Both interfaces over one database: ``SqlDspStore(db)``, or ``SqlDspStore(db, clock)`` in tests.

    The clock stamps what the store writes on its own (transition times, outbox and event times).
    """
