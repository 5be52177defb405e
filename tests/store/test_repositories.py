"""One contract, three backends: every test here runs on SQLite in memory, SQLite in a file and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect

from trustspace.core.errors import Conflict, NotFound, ValidationFailed
from trustspace.store.db import Database, _alembic_config, migrate
from trustspace.store.membership.records import (
    Application,
    ConnectorRecord,
    IssuedCredential,
    MembershipStatus,
    Space,
    TrustedIssuer,
)
from trustspace.store.membership.sql import SqlConnectorStore, SqlOperatorStore
from trustspace.store.schema import CONNECTOR_METADATA, OPERATOR_METADATA

if TYPE_CHECKING:  # tests are not a package; pytest loads this folder's conftest for the fixtures
    from conftest import Backend

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))
OPERATOR_ONLY = {"applications", "status_index_counter", "trusted_issuers", "trust_decisions", "connectors"}
DSP_TABLES = {"assets", "policies", "offers", "negotiations", "agreements", "transfers", "outbox", "process_events",
              "ledger_receipts"}
USAGE_TABLES = {"usage_keys", "protected_items", "usage_log", "destruction_certificates"}
PROVIDER_USAGE_TABLES = {"usage_counters"}

T = TypeVar("T")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def application(app_id: str = "app-1", did: str = "did:web:a.example", applied: float = 0) -> Application:
    return Application(
        id=app_id,
        did=did,
        display_name="Alpha Ltd",
        credit_code="91110000600037341L",
        roles=("provider",),
        status=MembershipStatus.PENDING,
        applied_at=at(applied),
    )


def issuer_for(did: str = "did:web:a.example") -> Callable[[int], IssuedCredential]:
    def issue(index: int) -> IssuedCredential:
        credential = {"id": f"urn:uuid:{did}:{index}", "credentialStatus": {"statusListIndex": str(index)}}
        return IssuedCredential(credential, f"urn:uuid:{did}:{index}", at(86400), ("provider", "consumer"))

    return issue


def approved(store: SqlOperatorStore, app_id: str, did: str, applied: float = 0) -> Application:
    store.add_application(application(app_id, did, applied))
    return store.approve_application(app_id, at(applied + 1), issuer_for(did))


def run_together(count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Start ``count`` threads at the same instant; each returns its result or the exception it raised."""
    barrier = threading.Barrier(count)
    results: list[T | Exception] = [RuntimeError("did not run")] * count

    def worker(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as error:
            results[n] = error

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def datetimes_in(record: Any) -> list[datetime]:
    return [value for value in vars(record).values() if isinstance(value, datetime)]


class TestRepositories:
    # --- schema and migrations ------------------------------------------------------------------------

    @pytest.mark.parametrize("component", ["operator", "connector"])
    def test_migrate_twice_is_a_no_op(self, backend: Backend, component: Any) -> None:
        db = backend.open(component)
        migrate(db.engine, component)
        migrate(db.engine, component)
        head = ScriptDirectory.from_config(_alembic_config(component)).get_current_head()
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head

    @pytest.mark.parametrize(("component", "metadata"), [("operator", OPERATOR_METADATA),
                                                         ("connector", CONNECTOR_METADATA)])
    def test_migrations_create_exactly_the_models(self, backend: Backend, component: Any, metadata: Any) -> None:
        db = backend.open(component)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []

    def test_connector_database_has_no_operator_tables(self, backend: Backend) -> None:
        db = backend.open("connector")
        tables = set(inspect(db.engine).get_table_names())
        assert tables == {"alembic_version", "seen_tokens", "api_keys", "settings", *DSP_TABLES, *USAGE_TABLES,
                          *PROVIDER_USAGE_TABLES}
        assert not tables & OPERATOR_ONLY

    def test_operator_migrations_refuse_a_connector_database(self, durable_backend: Backend) -> None:
        url = durable_backend.new_url()
        durable_backend.open("connector", url)
        with pytest.raises(CommandError, match="connector_0"):
            durable_backend.open("operator", url)

    def test_services_starting_together_migrate_once(self, durable_backend: Backend) -> None:
        url = durable_backend.new_url()
        results = run_together(4, lambda n: durable_backend.open("operator", url))
        assert all(isinstance(result, Database) for result in results), results
        store = SqlOperatorStore(durable_backend.open("operator", url))
        assert approved(store, "app-1", "did:web:a.example").status_index == 0

    # --- replay guard ---------------------------------------------------------------------------------

    def test_same_jti_twice_is_a_replay(self, operator_store: SqlOperatorStore) -> None:
        assert operator_store.remember_jti("jti-1", "did:web:a", at(60), at(0)) is True
        assert operator_store.remember_jti("jti-1", "did:web:a", at(60), at(30)) is False
        assert operator_store.remember_jti("jti-2", "did:web:a", at(60), at(30)) is True

    def test_jti_is_accepted_again_once_expired(self, operator_store: SqlOperatorStore) -> None:
        assert operator_store.remember_jti("jti-1", "did:web:a", at(60), at(0))
        assert operator_store.remember_jti("jti-1", "did:web:a", at(120), at(60))
        assert not operator_store.remember_jti("jti-1", "did:web:a", at(180), at(119))

    def test_expiry_of_one_token_keeps_the_others(self, operator_store: SqlOperatorStore) -> None:
        assert operator_store.remember_jti("short", "did:web:a", at(10), at(0))
        assert operator_store.remember_jti("long", "did:web:a", at(100), at(0))
        assert operator_store.remember_jti("other", "did:web:a", at(100), at(50))
        assert not operator_store.remember_jti("long", "did:web:a", at(100), at(50))

    def test_connector_has_its_own_replay_guard(self, connector_store: SqlConnectorStore) -> None:
        assert connector_store.remember_jti("jti-1", "did:web:op", at(60), at(0))
        assert not connector_store.remember_jti("jti-1", "did:web:op", at(60), at(1))

    def test_replay_guard_survives_reopening(self, durable_backend: Backend) -> None:
        url = durable_backend.new_url()
        first = durable_backend.open("operator", url)
        assert SqlOperatorStore(first).remember_jti("jti-1", "did:web:a", at(60), at(0))
        first.dispose()
        again = SqlOperatorStore(durable_backend.open("operator", url))
        assert not again.remember_jti("jti-1", "did:web:a", at(60), at(1))

    def test_racing_replays_let_exactly_one_through(self, durable_backend: Backend) -> None:
        store = SqlOperatorStore(durable_backend.open("operator"))
        results = run_together(6, lambda n: store.remember_jti("jti-raced", "did:web:a", at(60), at(0)))
        assert sorted(results, key=str) == [False] * 5 + [True]

    # --- API keys and settings ------------------------------------------------------------------------

    @pytest.mark.parametrize("make_store", [SqlOperatorStore, SqlConnectorStore])
    def test_api_keys(self, backend: Backend, make_store: Any) -> None:
        store = make_store(backend.open("operator" if make_store is SqlOperatorStore else "connector"))
        assert not store.has_api_key()
        store.add_api_key("key-1", "hash-1", at(0))
        assert store.has_api_key()
        assert store.api_key_exists("hash-1")
        assert not store.api_key_exists("hash-2")
        with pytest.raises(Conflict):
            store.add_api_key("key-1", "hash-2", at(1))
        with pytest.raises(Conflict):
            store.add_api_key("key-2", "hash-1", at(1))
        store.add_api_key("key-2", "hash-2", at(1))
        assert store.api_key_exists("hash-2")

    def test_settings_upsert(self, connector_store: SqlConnectorStore) -> None:
        assert connector_store.get_setting("membership") is None
        connector_store.set_setting("membership", "v1")
        connector_store.set_setting("registration", "conn-1")
        connector_store.set_setting("membership", "v2")
        assert connector_store.get_setting("membership") == "v2"
        assert connector_store.get_setting("registration") == "conn-1"

    # --- membership -----------------------------------------------------------------------------------

    def test_add_and_get_application(self, operator_store: SqlOperatorStore) -> None:
        stored = operator_store.add_application(application())
        assert stored == application()
        assert operator_store.get_application("app-1") == stored
        assert operator_store.get_application("nope") is None

    def test_new_application_must_be_pending(self, operator_store: SqlOperatorStore) -> None:
        app = application()
        with pytest.raises(ValidationFailed):
            operator_store.add_application(Application(**{**vars(app), "status": MembershipStatus.APPROVED}))

    def test_second_pending_application_conflicts(self, operator_store: SqlOperatorStore) -> None:
        operator_store.add_application(application("app-1"))
        with pytest.raises(Conflict):
            operator_store.add_application(application("app-2", applied=5))
        with pytest.raises(Conflict):
            operator_store.add_application(application("app-1", did="did:web:b.example"))

    def test_application_while_approved_conflicts(self, operator_store: SqlOperatorStore) -> None:
        approved(operator_store, "app-1", "did:web:a.example")
        with pytest.raises(Conflict):
            operator_store.add_application(application("app-2", applied=5))

    def test_reapply_after_rejection_or_revocation(self, operator_store: SqlOperatorStore) -> None:
        operator_store.add_application(application("app-1"))
        operator_store.reject_application("app-1", at(1), "incomplete")
        approved(operator_store, "app-2", "did:web:a.example", applied=10)
        operator_store.revoke_member("did:web:a.example", at(20), "left")
        operator_store.add_application(application("app-3", applied=30))
        assert operator_store.get_member("did:web:a.example") == application("app-3", applied=30)

    def test_approve_stores_the_issued_credential(self, operator_store: SqlOperatorStore) -> None:
        operator_store.add_application(application())
        result = operator_store.approve_application("app-1", at(5), issuer_for())
        assert result.status is MembershipStatus.APPROVED
        assert result.status_index == 0
        assert result.decided_at == at(5)
        assert result.credential == {"id": "urn:uuid:did:web:a.example:0", "credentialStatus": {"statusListIndex": "0"}}
        assert result.credential_id == "urn:uuid:did:web:a.example:0"
        assert result.valid_until == at(86400)
        assert result.roles == ("provider", "consumer")
        assert operator_store.get_application("app-1") == result

    def test_status_indices_count_up_from_zero(self, operator_store: SqlOperatorStore) -> None:
        indices = [approved(operator_store, f"app-{n}", f"did:web:{n}.example").status_index for n in range(3)]
        assert indices == [0, 1, 2]

    def test_failed_issue_rolls_the_approval_back(self, operator_store: SqlOperatorStore) -> None:
        operator_store.add_application(application())

        def broken(index: int) -> IssuedCredential:
            raise RuntimeError("signing key unavailable")

        with pytest.raises(RuntimeError):
            operator_store.approve_application("app-1", at(1), broken)
        assert operator_store.get_application("app-1") == application()
        assert operator_store.approve_application("app-1", at(2), issuer_for()).status_index == 0

    def test_approve_unknown_or_decided(self, operator_store: SqlOperatorStore) -> None:
        with pytest.raises(NotFound):
            operator_store.approve_application("nope", at(1), issuer_for())
        approved(operator_store, "app-1", "did:web:a.example")
        with pytest.raises(Conflict):
            operator_store.approve_application("app-1", at(2), issuer_for())
        operator_store.add_application(application("app-2", did="did:web:b.example"))
        operator_store.reject_application("app-2", at(1), "no")
        with pytest.raises(Conflict):
            operator_store.approve_application("app-2", at(2), issuer_for())

    def test_reject(self, operator_store: SqlOperatorStore) -> None:
        operator_store.add_application(application())
        result = operator_store.reject_application("app-1", at(3), "credit code does not match")
        assert result.status is MembershipStatus.REJECTED
        assert (result.reason, result.decided_at) == ("credit code does not match", at(3))
        assert result.status_index is None
        assert operator_store.get_application("app-1") == result

    def test_reject_unknown_or_decided(self, operator_store: SqlOperatorStore) -> None:
        with pytest.raises(NotFound):
            operator_store.reject_application("nope", at(1), "x")
        approved(operator_store, "app-1", "did:web:a.example")
        with pytest.raises(Conflict):
            operator_store.reject_application("app-1", at(2), "too late")

    def test_get_member_is_the_latest_application(self, operator_store: SqlOperatorStore) -> None:
        assert operator_store.get_member("did:web:a.example") is None
        operator_store.add_application(application("app-old", applied=0))
        operator_store.reject_application("app-old", at(1), "no")
        operator_store.add_application(application("app-new", applied=100))
        member = operator_store.get_member("did:web:a.example")
        assert member is not None and member.id == "app-new"

    def test_list_applications(self, operator_store: SqlOperatorStore) -> None:
        operator_store.add_application(application("app-b", did="did:web:b.example", applied=2))
        operator_store.add_application(application("app-a", did="did:web:a.example", applied=1))
        operator_store.reject_application("app-b", at(3), "no")
        assert [a.id for a in operator_store.list_applications()] == ["app-a", "app-b"]
        assert [a.id for a in operator_store.list_applications("pending")] == ["app-a"]
        assert [a.id for a in operator_store.list_applications("rejected")] == ["app-b"]
        assert operator_store.list_applications("revoked") == []
        with pytest.raises(ValidationFailed):
            operator_store.list_applications("bogus")

    def test_revoke_member(self, operator_store: SqlOperatorStore) -> None:
        approved(operator_store, "app-1", "did:web:a.example")
        approved(operator_store, "app-2", "did:web:b.example")
        result = operator_store.revoke_member("did:web:b.example", at(10), "breach of contract")
        assert result.status is MembershipStatus.REVOKED
        assert (result.reason, result.decided_at) == ("breach of contract", at(10))
        assert result.credential_id == "urn:uuid:did:web:b.example:1"
        assert operator_store.revoked_status_indices() == [1]
        assert operator_store.is_status_revoked(1)
        assert not operator_store.is_status_revoked(0)  # approved, not revoked
        assert not operator_store.is_status_revoked(7)  # never handed out
        assert operator_store.get_member("did:web:b.example") == result

    def test_revoke_unknown_or_not_approved(self, operator_store: SqlOperatorStore) -> None:
        with pytest.raises(NotFound):
            operator_store.revoke_member("did:web:nobody", at(1), "x")
        operator_store.add_application(application())
        with pytest.raises(Conflict):
            operator_store.revoke_member("did:web:a.example", at(1), "pending")
        operator_store.approve_application("app-1", at(2), issuer_for())
        operator_store.revoke_member("did:web:a.example", at(3), "first")
        with pytest.raises(Conflict):
            operator_store.revoke_member("did:web:a.example", at(4), "twice")
        assert operator_store.revoked_status_indices() == [0]

    def test_concurrent_approvals_get_distinct_indices(self, durable_backend: Backend) -> None:
        store = SqlOperatorStore(durable_backend.open("operator"))
        for n in range(8):
            store.add_application(application(f"app-{n}", f"did:web:{n}.example"))
        results = run_together(8, lambda n: store.approve_application(f"app-{n}", at(1), issuer_for(f"d{n}")))
        indices = [r.status_index for r in results if isinstance(r, Application)]
        assert sorted(i for i in indices if i is not None) == list(range(8)), results

    def test_concurrent_approvals_of_one_application(self, durable_backend: Backend) -> None:
        store = SqlOperatorStore(durable_backend.open("operator"))
        store.add_application(application())
        results = run_together(4, lambda n: store.approve_application("app-1", at(n), issuer_for()))
        assert sum(isinstance(r, Application) for r in results) == 1, results
        assert sum(isinstance(r, Conflict) for r in results) == 3, results

    # --- trust list -----------------------------------------------------------------------------------

    def test_trusted_issuers(self, operator_store: SqlOperatorStore) -> None:
        b = operator_store.add_trusted_issuer(TrustedIssuer("did:web:b.example", "Beta space", at(2)))
        a = operator_store.add_trusted_issuer(TrustedIssuer("did:web:a.example", "Alpha space", at(1)))
        assert operator_store.list_trusted_issuers() == [a, b]
        assert operator_store.is_trusted_issuer("did:web:a.example")
        assert not operator_store.is_trusted_issuer("did:web:c.example")
        with pytest.raises(Conflict):
            operator_store.add_trusted_issuer(TrustedIssuer("did:web:a.example", "again", at(3)))
        assert operator_store.remove_trusted_issuer("did:web:a.example") is True
        assert operator_store.remove_trusted_issuer("did:web:a.example") is False
        assert operator_store.list_trusted_issuers() == [b]

    def test_trust_decision_log(self, operator_store: SqlOperatorStore) -> None:
        logged = [
            operator_store.log_trust_decision("did:web:x", f"did:web:s{n}", n % 2 == 0, f"reason {n}", at(n))
            for n in range(4)
        ]
        assert [d.id for d in logged] == sorted({d.id for d in logged})
        assert operator_store.list_trust_decisions() == logged[::-1]
        assert operator_store.list_trust_decisions(limit=2) == logged[:1:-1]
        assert logged[0].accepted and not logged[1].accepted
        with pytest.raises(ValidationFailed):
            operator_store.list_trust_decisions(limit=0)

    # --- connector registry ---------------------------------------------------------------------------

    def test_register_and_list_connectors(self, operator_store: SqlOperatorStore) -> None:
        two = operator_store.register_connector(ConnectorRecord("c2", "did:web:b", "https://b", at(2), at(2)))
        one = operator_store.register_connector(ConnectorRecord("c1", "did:web:a", "https://a", at(1), at(1)))
        assert operator_store.list_connectors() == [one, two]
        assert operator_store.get_connector("c1") == one
        assert operator_store.get_connector("nope") is None
        with pytest.raises(Conflict):
            operator_store.register_connector(ConnectorRecord("c1", "did:web:a", "https://a2", at(3), at(3)))
        with pytest.raises(ValidationFailed):
            operator_store.register_connector(ConnectorRecord("c3", "did:web:c", "https://c", at(1), at(1), at(1)))

    def test_heartbeat_and_deregister(self, operator_store: SqlOperatorStore) -> None:
        operator_store.register_connector(ConnectorRecord("c1", "did:web:a", "https://a", at(0), at(0)))
        assert operator_store.heartbeat_connector("c1", at(10)).last_heartbeat == at(10)
        gone = operator_store.deregister_connector("c1", at(20))
        assert gone.deregistered_at == at(20) and gone.last_heartbeat == at(10)
        assert operator_store.get_connector("c1") == gone
        with pytest.raises(Conflict):
            operator_store.heartbeat_connector("c1", at(30))
        with pytest.raises(Conflict):
            operator_store.deregister_connector("c1", at(30))
        with pytest.raises(NotFound):
            operator_store.heartbeat_connector("nope", at(30))
        with pytest.raises(NotFound):
            operator_store.deregister_connector("nope", at(30))

    # --- logical spaces -------------------------------------------------------------------------------

    def test_create_get_and_list_spaces(self, operator_store: SqlOperatorStore) -> None:
        health = operator_store.create_space(Space("s2", "health", "hospitals", at(2), ("did:web:h",)))
        energy = operator_store.create_space(Space("s1", "energy", "grid data", at(1)))
        assert health.members == ("did:web:h",)
        assert operator_store.get_space("s2") == health
        assert operator_store.get_space("nope") is None
        assert operator_store.list_spaces() == [energy, health]

    def test_space_name_and_id_are_unique(self, operator_store: SqlOperatorStore) -> None:
        operator_store.create_space(Space("s1", "energy", "grid data", at(1)))
        with pytest.raises(Conflict):
            operator_store.create_space(Space("s2", "energy", "again", at(2)))
        with pytest.raises(Conflict):
            operator_store.create_space(Space("s1", "other", "same id", at(2)))
        assert [s.name for s in operator_store.list_spaces()] == ["energy"]

    def test_space_members_in_order_of_adding(self, operator_store: SqlOperatorStore) -> None:
        operator_store.create_space(Space("s1", "energy", "grid data", at(0)))
        operator_store.add_space_member("s1", "did:web:late", at(20))
        operator_store.add_space_member("s1", "did:web:early", at(10))
        result = operator_store.add_space_member("s1", "did:web:same-instant", at(20))
        assert result.members == ("did:web:early", "did:web:late", "did:web:same-instant")
        assert operator_store.get_space("s1") == result
        with pytest.raises(Conflict):
            operator_store.add_space_member("s1", "did:web:late", at(30))
        with pytest.raises(NotFound):
            operator_store.add_space_member("nope", "did:web:a", at(30))

    # --- time -----------------------------------------------------------------------------------------

    def test_every_datetime_comes_back_aware_utc(self, operator_store: SqlOperatorStore) -> None:
        local = T0.astimezone(BEIJING)
        app = Application(**{**vars(application()), "applied_at": local})
        written = [
            operator_store.add_application(app),
            operator_store.approve_application("app-1", local, issuer_for()),
            operator_store.add_trusted_issuer(TrustedIssuer("did:web:t", "T", local)),
            operator_store.log_trust_decision("did:web:t", "did:web:s", True, "ok", local),
            operator_store.register_connector(ConnectorRecord("c1", "did:web:a", "https://a", local, local)),
            operator_store.deregister_connector("c1", local),
            operator_store.create_space(Space("s1", "energy", "grid", local)),
            operator_store.add_space_member("s1", "did:web:a", local),
        ]
        read = [
            operator_store.get_application("app-1"),
            operator_store.list_trusted_issuers()[0],
            operator_store.list_trust_decisions()[0],
            operator_store.get_connector("c1"),
            operator_store.get_space("s1"),
        ]
        stamps = [stamp for record in written + read for stamp in datetimes_in(record)]
        assert len(stamps) >= 15
        for stamp in stamps:
            assert stamp.tzinfo is UTC, stamp
            assert stamp in (T0, at(86400))

    def test_naive_datetimes_are_refused(self, operator_store: SqlOperatorStore) -> None:
        naive = datetime(2026, 1, 1, 12, 0)
        with pytest.raises(ValidationFailed):
            operator_store.remember_jti("jti", "did:web:a", naive, at(0))
        with pytest.raises(ValidationFailed):
            operator_store.add_application(Application(**{**vars(application()), "applied_at": naive}))
        with pytest.raises(ValidationFailed):
            operator_store.add_trusted_issuer(TrustedIssuer("did:web:t", "T", naive))
