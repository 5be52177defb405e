"""The DSP store's schema, catalog and processes, on SQLite in memory, SQLite in a file and PostgreSQL.

The outbox and the event history are in ``test_dsp_outbox.py``; racing threads in ``test_dsp_concurrency.py``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from dsp_factories import CONSUMER, PROVIDER, agreement, at, message, negotiation, transfer, written
from sqlalchemy import inspect

from trustspace.core.clock import FixedClock
from trustspace.core.errors import Conflict, NotFound, ValidationFailed
from trustspace.protocol.negotiation import NegotiationState
from trustspace.protocol.roles import Role
from trustspace.store.db import _alembic_config
from trustspace.store.dsp import core as dsp_core
from trustspace.store.dsp.records import Asset, Change, OfferRecord, PolicyRecord
from trustspace.store.dsp.sql import SqlDspStore
from trustspace.store.schema import CONNECTOR_METADATA

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend

BEIJING = timezone(timedelta(hours=8))
DSP_TABLES = {"assets", "policies", "offers", "negotiations", "agreements", "transfers", "outbox", "process_events"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(10))


@pytest.fixture
def store(backend: Backend, clock: FixedClock) -> SqlDspStore:
    return SqlDspStore(backend.open("connector"), clock)


class TestDspRepositories:
    # --- schema -----------------------------------------------------------------------------------------

    def test_dsp_revision_downgrades_and_upgrades_again(self, backend: Backend) -> None:
        db = backend.open("connector")
        config = _alembic_config("connector")
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "connector_0001")
        assert not set(inspect(db.engine).get_table_names()) & DSP_TABLES
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, CONNECTOR_METADATA) == []

    # --- catalog ----------------------------------------------------------------------------------------

    def test_assets(self, store: SqlDspStore) -> None:
        b = store.add_asset(Asset("a-b", "B", "second", {"type": "HttpData", "url": "https://x"}, {"k": 1}, at(2)))
        a = store.add_asset(Asset("a-a", "A", "first", {"type": "File"}, {}, at(1)))
        assert store.get_asset("a-b") == b
        assert store.get_asset("nope") is None
        assert store.list_assets() == [a, b]
        with pytest.raises(Conflict):
            store.add_asset(Asset("a-a", "again", "", {}, {}, at(3)))

    def test_policies(self, store: SqlDspStore) -> None:
        policy = store.add_policy(PolicyRecord("pol-1", {"permission": [{"action": "use"}]}, at(1)))
        assert store.get_policy("pol-1") == policy
        assert store.get_policy("nope") is None
        assert store.list_policies() == [policy]
        with pytest.raises(Conflict):
            store.add_policy(PolicyRecord("pol-1", {}, at(2)))

    def test_offers_need_their_asset_and_policy(self, store: SqlDspStore) -> None:
        store.add_asset(Asset("a-1", "A", "", {}, {}, at(0)))
        store.add_asset(Asset("a-2", "B", "", {}, {}, at(0)))
        store.add_policy(PolicyRecord("pol-1", {}, at(0)))
        with pytest.raises(NotFound) as missing_asset:
            store.add_offer(OfferRecord("o-1", "a-9", "pol-1", at(1)))
        with pytest.raises(NotFound) as missing_policy:
            store.add_offer(OfferRecord("o-1", "a-1", "pol-9", at(1)))
        assert (missing_asset.value.field, missing_policy.value.field) == ("assetId", "policyId")
        one = store.add_offer(OfferRecord("o-1", "a-1", "pol-1", at(1)))
        two = store.add_offer(OfferRecord("o-2", "a-2", "pol-1", at(2)))
        with pytest.raises(Conflict):
            store.add_offer(OfferRecord("o-1", "a-2", "pol-1", at(3)))
        assert store.get_offer("o-1") == one
        assert store.get_offer("nope") is None
        assert store.list_offers() == [one, two]
        assert store.list_offers(asset_id="a-2") == [two]

    def test_documents_must_be_json_on_every_backend(self, store: SqlDspStore) -> None:
        with pytest.raises(ValidationFailed, match="policy"):
            store.add_policy(PolicyRecord("pol-1", {"limit": float("nan")}, at(0)))  # PostgreSQL refuses NaN
        with pytest.raises(ValidationFailed, match="properties"):
            store.add_asset(Asset("a-1", "A", "", {}, {"when": at(0)}, at(0)))
        with pytest.raises(ValidationFailed, match="offer"):
            store.create_negotiation(negotiation(offer={"x": object()}), [], "requested")
        assert store.list_policies() == [] and store.list_assets() == [] and store.list_negotiations() == []

    # --- creating processes -----------------------------------------------------------------------------

    def test_create_negotiation_writes_process_outbox_and_event(self, store: SqlDspStore) -> None:
        created, is_new = store.create_negotiation(negotiation(), [message("c-1", 0), message("c-1", 1)], "sent")
        assert is_new and created == negotiation()
        assert store.get_negotiation("c-1") == created
        assert store.get_negotiation("nope") is None
        outbox = store.pending_outbox("c-1")
        assert [(m.url, m.body, m.attempts, m.next_attempt_at) for m in outbox] == [
            ("https://peer.example/dsp/0", {"n": 0}, 0, at(10)),
            ("https://peer.example/dsp/1", {"n": 1}, 0, at(10)),
        ]
        [event] = store.events()
        assert (event.process_kind, event.process_id, event.state, event.detail, event.at) == (
            "negotiation", "c-1", "REQUESTED", "sent", at(10),
        )  # fmt: skip

    def test_create_is_idempotent_per_counter_party_and_consumer_pid(self, store: SqlDspStore) -> None:
        first, is_new = store.create_negotiation(negotiation("p-1", "provider", CONSUMER), [message("p-1")], "in")
        assert is_new
        # The consumer repeats its request; the provider made up a new pid for it, but the first one wins.
        again, is_new = store.create_negotiation(negotiation("p-2", "provider", CONSUMER), [message("p-2")], "in")
        assert (again, is_new) == (first, False)
        assert store.get_negotiation("p-2") is None
        assert len(store.pending_outbox()) == 1 and len(store.events()) == 1
        # The same consumer_pid from another consumer is another negotiation.
        other, is_new = store.create_negotiation(negotiation("p-3", "provider", "did:web:other.example"), [], "in")
        assert is_new and other.id == "p-3"

    def test_create_with_a_taken_id_conflicts(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation("c-1", counter_party=PROVIDER), [], "sent")
        with pytest.raises(Conflict):
            store.create_negotiation(negotiation("c-1", counter_party="did:web:other.example"), [], "sent")
        store.create_transfer(transfer("tc-1"), [], "sent")
        with pytest.raises(Conflict):
            store.create_transfer(transfer("tc-1", counter_party="did:web:other.example"), [], "sent")

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"role": "PROVIDER"}, "role"),
            ({"id": "not-the-consumer-pid"}, "id"),
            ({"created_at": datetime(2026, 1, 1)}, "created_at"),
            ({"deadline_at": datetime(2026, 1, 1)}, "deadline_at"),
        ],
    )
    def test_new_processes_are_checked(self, store: SqlDspStore, fields: dict[str, Any], field: str) -> None:
        with pytest.raises(ValidationFailed) as caught:
            store.create_negotiation(replace(negotiation(), **fields), [], "sent")
        assert caught.value.field == field
        with pytest.raises(ValidationFailed, match="id must equal its provider_pid"):
            store.create_transfer(transfer("tp-1", "provider", provider_pid="other"), [], "sent")
        with pytest.raises(ValidationFailed):
            store.create_negotiation(negotiation(), [message("c-1", kind="contract")], "sent")
        assert store.list_negotiations() == [] and store.list_transfers() == []

    def test_role_and_state_members_are_stored_as_text(self, store: SqlDspStore) -> None:
        record = negotiation("p-1", Role.PROVIDER, CONSUMER, state=NegotiationState.REQUESTED)
        created, _ = store.create_negotiation(record, [], "in")
        moved = store.transition_negotiation(
            "p-1", NegotiationState.REQUESTED, NegotiationState.OFFERED, Change(), [], ""
        )
        stored = store.get_negotiation("p-1")
        assert stored is not None and (stored.role, stored.state) == ("provider", "OFFERED")
        for value in (created.role, created.state, moved.state, stored.role, stored.state, store.events()[-1].state):
            assert type(value) is str
        assert store.find_negotiation(Role.PROVIDER, provider_pid="p-1") == stored

    def test_find_and_list_negotiations(self, store: SqlDspStore) -> None:
        mine, _ = store.create_negotiation(negotiation("c-1", provider_pid="p-remote"), [], "sent")
        theirs, _ = store.create_negotiation(negotiation("p-1", "provider", CONSUMER, created_at=at(1)), [], "in")
        store.transition_negotiation("p-1", "REQUESTED", "OFFERED", Change(), [], "offered")
        assert store.find_negotiation("consumer", consumer_pid="c-1") == mine
        assert store.find_negotiation("consumer", provider_pid="p-remote") == mine
        assert store.find_negotiation("consumer", consumer_pid="c-1", provider_pid="p-remote") == mine
        assert store.find_negotiation("consumer", consumer_pid="c-1", provider_pid="p-other") is None
        assert store.find_negotiation("provider", consumer_pid="c-1") is None
        found = store.find_negotiation("provider", provider_pid="p-1")
        assert found is not None and found.id == theirs.id
        with pytest.raises(ValidationFailed):
            store.find_negotiation("consumer")
        with pytest.raises(ValidationFailed):
            store.find_negotiation("buyer", consumer_pid="c-1")
        assert [n.id for n in store.list_negotiations()] == ["c-1", "p-1"]
        assert [n.id for n in store.list_negotiations(role="provider")] == ["p-1"]
        assert [n.id for n in store.list_negotiations(state="OFFERED")] == ["p-1"]
        assert store.list_negotiations(role="consumer", state="OFFERED") == []

    # --- transitions ------------------------------------------------------------------------------------

    def test_transition_applies_the_change(self, store: SqlDspStore, clock: FixedClock) -> None:
        store.create_negotiation(negotiation(details={"a": 1, "b": 1}), [], "sent")
        clock.set(at(20))
        change = Change(
            provider_pid="p-9", reason="waiting", details={"b": 2, "c": 3}, deadline_at=at(100), agreement_id="agr-7"
        )
        moved = store.transition_negotiation("c-1", "REQUESTED", "OFFERED", change, [message("c-1")], "offer in")
        assert (moved.state, moved.provider_pid, moved.reason) == ("OFFERED", "p-9", "waiting")
        assert (moved.deadline_at, moved.agreement_id) == (at(100), "agr-7")
        assert (moved.details, moved.updated_at, moved.created_at) == ({"a": 1, "b": 2, "c": 3}, at(20), at(0))
        assert store.get_negotiation("c-1") == moved
        [queued] = store.pending_outbox("c-1")
        assert (queued.attempts, queued.created_at, queued.next_attempt_at) == (0, at(20), at(20))
        assert [(e.state, e.detail, e.at) for e in store.events()] == [
            ("REQUESTED", "sent", at(10)), ("OFFERED", "offer in", at(20)),
        ]  # fmt: skip

    def test_none_leaves_fields_and_clear_deadline_clears(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation(provider_pid="p-1", reason="r", deadline_at=at(50)), [], "sent")
        kept = store.transition_negotiation("c-1", "REQUESTED", "OFFERED", Change(), [], "offered")
        assert (kept.provider_pid, kept.reason, kept.deadline_at) == ("p-1", "r", at(50))
        cleared = store.transition_negotiation("c-1", "OFFERED", "ACCEPTED", Change(clear_deadline=True), [], "ok")
        assert (cleared.deadline_at, cleared.reason) == (None, "r")
        with pytest.raises(ValidationFailed):
            store.transition_negotiation(
                "c-1", "ACCEPTED", "AGREED", Change(deadline_at=at(1), clear_deadline=True), [], ""
            )

    def test_stale_expected_state_conflicts_and_writes_nothing(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation(), [], "sent")
        store.transition_negotiation("c-1", "REQUESTED", "OFFERED", Change(), [], "offered")
        before = written(store, "c-1")
        with pytest.raises(Conflict, match=r"OFFERED.*REQUESTED"):
            store.transition_negotiation("c-1", "REQUESTED", "TERMINATED", Change(reason="x"), [message("c-1")], "")
        assert written(store, "c-1") == before
        with pytest.raises(NotFound):
            store.transition_negotiation("nope", "REQUESTED", "OFFERED", Change(), [], "")
        with pytest.raises(NotFound):
            store.transition_transfer("nope", "REQUESTED", "STARTED", Change(), [], "")

    def test_agreement_is_stored_with_the_agreed_transition(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation("p-1", "provider", CONSUMER), [], "in")
        agreed = store.transition_negotiation(
            "p-1", "REQUESTED", "AGREED", Change(agreement=agreement("p-1")), [message("p-1")], "agreed"
        )
        assert agreed.agreement_id == "agr-1"
        assert store.get_agreement("agr-1") == agreement("p-1")
        assert store.get_agreement("nope") is None
        assert store.list_agreements() == [agreement("p-1")]
        with pytest.raises(ValidationFailed):  # the agreement names another negotiation
            store.transition_negotiation("p-1", "AGREED", "VERIFIED", Change(agreement=agreement("p-2")), [], "")
        with pytest.raises(ValidationFailed):
            store.transition_negotiation(
                "p-1", "AGREED", "VERIFIED", Change(agreement=agreement("p-1"), agreement_id="x"), [], ""
            )

    def test_a_second_agreement_rolls_the_whole_transition_back(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation("p-1", "provider", CONSUMER), [], "in")
        store.transition_negotiation("p-1", "REQUESTED", "AGREED", Change(agreement=agreement("p-1")), [], "agreed")
        before = written(store, "p-1")
        # Fails at the agreement insert, after the new state was written: nothing of it may remain.
        change = Change(agreement=agreement("p-1", "agr-2"), reason="again")
        with pytest.raises(Conflict):
            store.transition_negotiation("p-1", "AGREED", "VERIFIED", change, [message("p-1")], "verified")
        assert written(store, "p-1") == before

    def test_a_failure_after_the_outbox_insert_writes_nothing(
        self, store: SqlDspStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store.create_negotiation(negotiation("p-1", "provider", CONSUMER), [], "in")
        before = written(store, "p-1")

        def crash(*args: object) -> None:
            raise RuntimeError("crash between the outbox insert and the event")

        monkeypatch.setattr(dsp_core, "add_event", crash)
        change = Change(agreement=agreement("p-1"), details={"x": 1})
        with pytest.raises(RuntimeError):
            store.transition_negotiation("p-1", "REQUESTED", "AGREED", change, [message("p-1")], "agreed")
        assert written(store, "p-1") == before

    def test_an_unserialisable_body_writes_nothing(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation(), [], "sent")
        before = written(store, "c-1")
        messages = [message("c-1", 0), message("c-1", 1, body={"at": object()})]
        with pytest.raises(ValidationFailed, match=r"outbox\.body"):
            store.transition_negotiation("c-1", "REQUESTED", "OFFERED", Change(), messages, "offered")
        assert written(store, "c-1") == before

    def test_change_fields_of_the_other_kind_are_refused(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation(), [], "sent")
        store.create_transfer(transfer(), [], "sent")
        with pytest.raises(ValidationFailed):
            store.transition_negotiation("c-1", "REQUESTED", "OFFERED", Change(data_address={"u": 1}), [], "")
        with pytest.raises(ValidationFailed):
            store.transition_transfer("tc-1", "REQUESTED", "STARTED", Change(agreement=agreement()), [], "")
        with pytest.raises(ValidationFailed):
            store.transition_transfer("tc-1", "REQUESTED", "STARTED", Change(agreement_id="agr-2"), [], "")

    # --- transfers --------------------------------------------------------------------------------------

    def test_transfers(self, store: SqlDspStore, clock: FixedClock) -> None:
        created, is_new = store.create_transfer(transfer(), [message("tc-1", kind="transfer")], "requested")
        assert is_new and created == transfer()
        assert store.create_transfer(transfer(details={"ignored": True}), [], "again") == (created, False)
        store.create_transfer(transfer("tp-1", "provider", CONSUMER, agreement_id="agr-2", created_at=at(1)), [], "in")
        clock.set(at(30))
        address = {"endpoint": "https://provider.example/data", "token": "t"}
        change = Change(provider_pid="tp-remote", data_address=address, details={"bytes": 10})
        started = store.transition_transfer("tc-1", "REQUESTED", "STARTED", change, [], "started")
        assert (started.state, started.data_address, started.details, started.updated_at) == (
            "STARTED", address, {"bytes": 10}, at(30),
        )  # fmt: skip
        more = store.transition_transfer("tc-1", "STARTED", "STARTED", Change(details={"files": 2}), [], "progress")
        assert (more.details, more.data_address) == ({"bytes": 10, "files": 2}, address)
        assert store.get_transfer("tc-1") == more and store.get_transfer("nope") is None
        assert store.find_transfer("consumer", consumer_pid="tc-1") == more
        assert store.find_transfer("consumer", provider_pid="tp-remote") == more
        assert store.find_transfer("provider", provider_pid="tp-1") == store.get_transfer("tp-1")
        assert [t.id for t in store.list_transfers()] == ["tc-1", "tp-1"]
        assert [t.id for t in store.list_transfers(role="provider")] == ["tp-1"]
        assert [t.id for t in store.list_transfers(state="STARTED")] == ["tc-1"]
        assert [t.id for t in store.list_transfers(agreement_id="agr-2")] == ["tp-1"]
        with pytest.raises(Conflict, match=r"STARTED.*REQUESTED"):
            store.transition_transfer("tc-1", "REQUESTED", "TERMINATED", Change(), [], "")

    # --- problems and deadlines -------------------------------------------------------------------------

    def test_note_problem_sets_and_clears_the_reason(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation(), [], "sent")
        store.create_transfer(transfer(), [], "sent")
        store.note_problem("negotiation", "c-1", "provider unreachable", at(40))
        store.note_problem("transfer", "tc-1", "slow", at(41))
        problem = store.get_negotiation("c-1")
        assert problem is not None and (problem.state, problem.reason, problem.updated_at) == (
            "REQUESTED", "provider unreachable", at(40),
        )  # fmt: skip
        store.note_problem("negotiation", "c-1", None, at(50))
        cleared = store.get_negotiation("c-1")
        assert cleared is not None and (cleared.state, cleared.reason) == ("REQUESTED", None)
        assert [(e.process_id, e.state, e.detail, e.at) for e in store.events(after_id=2)] == [
            ("c-1", "REQUESTED", "provider unreachable", at(40)),
            ("tc-1", "REQUESTED", "slow", at(41)),
            ("c-1", "REQUESTED", "problem cleared", at(50)),
        ]
        with pytest.raises(NotFound):
            store.note_problem("transfer", "c-1", "wrong kind", at(60))
        with pytest.raises(ValidationFailed):
            store.note_problem("contract", "c-1", "x", at(60))

    def test_overdue_lists_live_processes_past_their_deadline(self, store: SqlDspStore) -> None:
        store.create_negotiation(negotiation("c-late", deadline_at=at(50)), [], "sent")
        store.create_negotiation(negotiation("c-later", deadline_at=at(60)), [], "sent")
        store.create_negotiation(negotiation("c-future", deadline_at=at(500)), [], "sent")
        store.create_negotiation(negotiation("c-none"), [], "sent")
        store.create_negotiation(negotiation("c-done", state="FINALIZED", deadline_at=at(1)), [], "done")
        store.create_transfer(transfer("tc-late", deadline_at=at(55)), [], "sent")
        store.create_transfer(transfer("tc-done", state="COMPLETED", deadline_at=at(1)), [], "done")
        store.create_transfer(transfer("tc-gone", deadline_at=at(1)), [], "sent")
        store.transition_transfer("tc-gone", "REQUESTED", "TERMINATED", Change(), [], "terminated")
        assert store.overdue(at(100)) == [
            ("negotiation", "c-late"),
            ("transfer", "tc-late"),
            ("negotiation", "c-later"),
        ]
        assert store.overdue(at(50)) == []  # strictly past

    # --- time -----------------------------------------------------------------------------------------------

    def test_datetimes_come_back_aware_utc(self, store: SqlDspStore) -> None:
        local = at(0).astimezone(BEIJING)
        created, _ = store.create_negotiation(
            negotiation(created_at=local, updated_at=local, deadline_at=local), [], ""
        )
        stored = store.get_negotiation("c-1")
        assert stored is not None and stored == created
        for stamp in (stored.created_at, stored.updated_at, stored.deadline_at):
            assert stamp == at(0) and stamp is not None and stamp.tzinfo is UTC
