"""Ledger receipts kept with the outbox: marked sent and kept in one transaction, one row each, in order; on
SQLite in memory, in a file and PostgreSQL. The move of receipts kept by older versions is here too."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from alembic import command
from dsp_factories import at, message
from sqlalchemy import text

from trustspace.core.clock import FixedClock
from trustspace.store.db import _alembic_config, make_engine
from trustspace.store.dsp.records import Receipted
from trustspace.store.dsp.sql import SqlDspStore

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend


@pytest.fixture
def store(backend: Backend) -> SqlDspStore:
    return SqlDspStore(backend.open("connector"), FixedClock(at(0)))


def queued(store: SqlDspStore, lane: str, count: int) -> list[int]:
    store.queue_outbox([message(lane, n) for n in range(count)])
    return [m.id for m in store.pending_outbox(lane)]


class TestReceipts:
    def test_receipted_messages_are_sent_and_their_receipts_kept_in_order(self, store: SqlDspStore) -> None:
        first, second = queued(store, "ledger:c-1", 2)
        store.mark_receipted([Receipted(first, "c-1", {"n": 1}), Receipted(second, "c-1", {"n": 2})], at(5))
        assert store.pending_outbox("ledger:c-1") == []
        assert store.receipts("c-1") == [{"n": 1}, {"n": 2}]
        assert store.receipts("c-2") == []

    def test_a_repeat_after_a_lost_lease_keeps_one_receipt(self, store: SqlDspStore) -> None:
        (only,) = queued(store, "ledger:c-1", 1)
        store.mark_receipted([Receipted(only, "c-1", {"n": 1})], at(5))
        store.mark_receipted([Receipted(only, "c-1", {"n": 1})], at(6))
        assert store.receipts("c-1") == [{"n": 1}]

    def test_dropping_one_message_leaves_the_rest_of_its_lane(self, store: SqlDspStore) -> None:
        first, second = queued(store, "ledger:c-1", 2)
        assert store.drop_message(first) is True
        assert store.drop_message(first) is False
        assert [m.id for m in store.pending_outbox("ledger:c-1")] == [second]


    def test_released_messages_are_claimable_at_once_without_an_attempt(self, store: SqlDspStore) -> None:
        first, second = queued(store, "ledger:c-1", 2)
        assert [m.id for m in store.claim_outbox(at(0), at(30))] == [first, second]
        store.release_outbox([second])
        assert [(m.id, m.attempts) for m in store.claim_outbox(at(1), at(30))] == [(second, 0)]
        store.release_outbox([])


def test_receipts_kept_as_settings_by_older_versions_move_into_rows(durable_backend: Backend) -> None:
    url = durable_backend.new_url()
    engine = make_engine(url)
    try:
        config = _alembic_config("connector")
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "connector_0002")
            connection.execute(text("INSERT INTO settings (key, value) VALUES (:k, :v)"),
                               {"k": "ledger.receipts.c-1", "v": json.dumps([{"n": 1}, {"n": 2}])})
            command.upgrade(config, "head")
            left = connection.execute(text("SELECT count(*) FROM settings WHERE key LIKE 'ledger.%'")).scalar()
    finally:
        engine.dispose()
    assert left == 0
    assert SqlDspStore(durable_backend.open("connector", url)).receipts("c-1") == [{"n": 1}, {"n": 2}]
