"""Usage control at the provider's data plane, named after the attacks it stops.

The data-plane router in process (FastAPI's TestClient) with a real counter store on SQLite in a file and on
PostgreSQL: every pull is decided against the agreement's policy with the provider's clock, and counted."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, make_url, text

from trustspace.connector.dataplane.decisions import AccessDecision, AccessRecorder
from trustspace.connector.dataplane.gate import InMemoryGate
from trustspace.connector.dataplane.server import data_router
from trustspace.connector.dataplane.sources import FileSource
from trustspace.connector.dataplane.tokens import issue_access_token
from trustspace.connector.enforcement import UsageEnforcer, needs_counters
from trustspace.connector.evidence import EvidenceRecorder, EvidencingDspStore
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.store.db import Database, open_database
from trustspace.store.dsp.records import Agreement, TransferRecord
from trustspace.store.usage.counter_records import Access, Counted
from trustspace.store.usage.counter_sql import Also, Decide, SqlUsageCounters
from trustspace.web.problems import install_problem_handlers

PROVIDER, CONSUMER = "did:web:provider.example", "did:web:bank.example"
ASSET, AGREEMENT, TRANSFER = "urn:dataset:tax-2025", "urn:agreement:1", "urn:transfer:1"
CONTENT = bytes(range(256)) * 8
START = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)
WINDOW = "2026-05-01T00:00:00Z/2026-05-08T00:00:00Z"


def agreement_document(*constraints: dict[str, Any]) -> dict[str, Any]:
    return {"@type": "Agreement", "@id": AGREEMENT, "assigner": PROVIDER, "assignee": CONSUMER, "target": ASSET,
            "permission": [{"action": "read", "constraint": list(constraints)}]}


def count_at_most(n: int) -> dict[str, Any]:
    return {"leftOperand": "tc609:count", "operator": "lteq", "rightOperand": n}


@dataclass
class Agreements:
    document: dict[str, Any]
    roles: list[str] = field(default_factory=lambda: ["consumer"])

    def get_agreement(self, agreement_id: str) -> Agreement | None:
        if agreement_id != AGREEMENT:
            return None
        return Agreement(AGREEMENT, "n1", ASSET, PROVIDER, CONSUMER, self.document, START)

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        return TransferRecord(transfer_id, "provider", "STARTED", "c1", transfer_id, AGREEMENT, CONSUMER, "http://c",
                              "HttpData-PULL", START, START, details={"assetId": ASSET, "context": {
                                  "consumer": CONSUMER, "roles": self.roles, "space": "space-1"}})


class Sink:
    def __init__(self) -> None:
        self.decisions: list[AccessDecision] = []
        self.fail_permits = False
        self._lock = threading.Lock()

    def record_access(self, decision: AccessDecision) -> None:
        if self.fail_permits and decision.decision == "permit":
            raise RuntimeError("evidence store down")
        with self._lock:
            self.decisions.append(decision)

    def reasons(self) -> list[tuple[str, str]]:
        return [(d.decision, d.reason) for d in self.decisions]


@dataclass
class Provider:
    key: SigningKey
    clock: FixedClock
    counters: SqlUsageCounters
    sink: Sink
    http: TestClient

    def token(self) -> str:
        return issue_access_token(self.key, issuer=PROVIDER, audience=CONSUMER, transfer_id=TRANSFER,
                                  agreement_id=AGREEMENT, now=self.clock.now(), lifetime=3600)

    def pull(self, token: str | None = None, **headers: str) -> httpx.Response:
        response: httpx.Response = self.http.get(
            f"/data/{TRANSFER}", headers={"Authorization": f"Bearer {token or self.token()}", **headers})
        return response


def _postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    base = request.getfixturevalue("postgres_url")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    schema = f"t_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite-file":
        db = open_database("connector", f"sqlite:///{tmp_path / 'provider.db'}")
        yield db
        db.dispose()
        return
    urls = _postgres_url(request)
    db = open_database("connector", next(urls))
    yield db
    db.dispose()
    next(urls, None)


def provider(database: Database, tmp_path: Path, agreements: Agreements, *, raise_errors: bool = True,
             client: tuple[str, int] = ("192.0.2.10", 50000), counters: SqlUsageCounters | None = None,
             sink: Sink | None = None) -> Iterator[Provider]:
    key, clock, gate, sink = SigningKey.generate(), FixedClock(START), InMemoryGate(), sink or Sink()
    file = tmp_path / "tax.bin"
    file.write_bytes(CONTENT)
    gate.start(TRANSFER, AGREEMENT, FileSource(file))
    counters = counters or SqlUsageCounters(database)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(data_router(gate, key.public, clock, decisions=AccessRecorder(sink, clock),
                                   usage=UsageEnforcer(agreements, counters, clock)))
    with TestClient(app, raise_server_exceptions=raise_errors, client=client) as http:
        yield Provider(key, clock, counters, sink, http)


@pytest.fixture
def count_of_10(database: Database, tmp_path: Path) -> Iterator[Provider]:
    yield from provider(database, tmp_path, Agreements(agreement_document(count_at_most(10))))


def slug(response: httpx.Response) -> str:
    return str(response.json()["type"]).rsplit(":", 1)[-1]


def test_100_parallel_pulls_against_a_count_of_10_get_exactly_10(count_of_10: Provider) -> None:
    token = count_of_10.token()
    barrier = threading.Barrier(100)
    statuses: list[int] = []
    lock = threading.Lock()

    def pull() -> None:
        barrier.wait()
        status = count_of_10.pull(token).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=pull, daemon=True) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [200] * 10 + [403] * 90
    assert count_of_10.counters.totals(AGREEMENT).uses == 10
    permits = [d for d in count_of_10.sink.decisions if d.decision == "permit"]
    assert len(permits) == 10
    # 90 refusals for one reason within the throttle's interval: recorded once.
    assert count_of_10.sink.reasons().count(("deny", "usage-denied")) == 1


def test_a_token_replayed_after_the_count_is_spent_is_denied(database: Database, tmp_path: Path) -> None:
    for plane in provider(database, tmp_path, Agreements(agreement_document(count_at_most(2)))):
        token = plane.token()
        assert [plane.pull(token).status_code for _ in range(2)] == [200, 200]
        replayed = plane.pull(token)
        assert replayed.status_code == 403 and slug(replayed) == "usage-denied"
        assert replayed.headers["content-type"] == "application/problem+json"
        body = replayed.json()
        assert "number of uses" in body["detail"] and "use number 3" in body["detail"] and "≤ 2" in body["detail"]
        assert body["field"] == "/agreement/permission/0/constraint/0"
        assert CONTENT not in replayed.content
        # A fresh token changes nothing: the count belongs to the agreement, not to the token.
        plane.clock.advance(5)
        assert plane.pull().status_code == 403


def test_a_read_after_the_agreement_time_window_is_denied_with_the_explanation(database: Database,
                                                                              tmp_path: Path) -> None:
    window = {"leftOperand": "tc609:time", "operator": "isPartOf", "rightOperand": WINDOW}
    for plane in provider(database, tmp_path, Agreements(agreement_document(window, count_at_most(100)))):
        assert plane.pull().status_code == 200
        plane.clock.set(datetime(2026, 5, 8, 0, 0, 1, tzinfo=UTC))
        late = plane.pull()  # with a token valid now: the agreement, not the token, has expired
        assert late.status_code == 403 and slug(late) == "usage-denied"
        detail = late.json()["detail"]
        assert "2026-05-08T00:00:01Z" in detail and "NOT satisfied" in detail and "2026-05-01" in detail
        assert plane.counters.totals(AGREEMENT).uses == 1  # a deny is not a use


def test_clock_skew_the_decision_uses_the_provider_clock_never_the_consumers(database: Database,
                                                                          tmp_path: Path) -> None:
    window = {"leftOperand": "tc609:time", "operator": "isPartOf", "rightOperand": WINDOW}
    for plane in provider(database, tmp_path, Agreements(agreement_document(window))):
        inside = "Mon, 04 May 2026 10:30:00 GMT"
        plane.clock.set(datetime(2026, 5, 9, tzinfo=UTC))  # the provider's clock is past the window
        claimed = plane.pull(Date=inside, **{"X-Request-Time": "2026-05-04T10:30:00Z"})
        assert claimed.status_code == 403 and "2026-05-09T00:00:00Z" in claimed.json()["detail"]
        plane.clock.set(START)  # and the other way round: a consumer clock past the window changes nothing
        assert plane.pull(Date="Sat, 09 May 2026 00:00:00 GMT").status_code == 200


def test_a_crash_between_use_and_counter_update_never_grants_an_extra_use(database: Database,
                                                                         tmp_path: Path) -> None:
    for plane in provider(database, tmp_path, Agreements(agreement_document(count_at_most(1))),
                          raise_errors=False):
        plane.sink.fail_permits = True  # the use is counted, then the request fails before any byte leaves
        failed = plane.pull()
        assert failed.status_code == 500 and CONTENT not in failed.content
        plane.sink.fail_permits = False
        assert plane.counters.totals(AGREEMENT).uses == 1
        again = plane.pull()
        assert again.status_code == 403 and "use number 2" in again.json()["detail"]


class CrashAfterCommit(SqlUsageCounters):
    """Counts, then fails as the request would if it died right after the commit: before serving.
    (A process killed there is tests/store/test_usage_counters.py's crash test.)"""

    def use(self, access: Access, decide: Decide, also: Also | None = None) -> Counted:
        super().use(access, decide, also)
        raise RuntimeError("died after the count")


def test_a_failure_after_the_count_is_seen_by_the_next_read(database: Database, tmp_path: Path) -> None:
    agreements = Agreements(agreement_document(count_at_most(1)))
    for plane in provider(database, tmp_path, agreements, counters=CrashAfterCommit(database), raise_errors=False):
        failed = plane.pull()
        assert failed.status_code == 500 and CONTENT not in failed.content
    for plane in provider(database, tmp_path, agreements):
        assert plane.counters.totals(AGREEMENT).uses == 1
        assert plane.pull().status_code == 403


def test_a_range_continuing_a_started_download_is_not_a_new_use(database: Database, tmp_path: Path) -> None:
    for plane in provider(database, tmp_path, Agreements(agreement_document(count_at_most(1)))):
        first = plane.pull()
        assert first.status_code == 200
        validator = first.headers["etag"]
        resumed = plane.pull(Range="bytes=1000-", **{"If-Range": validator})
        assert resumed.status_code == 206 and resumed.content == CONTENT[1000:]
        assert plane.counters.totals(AGREEMENT).uses == 1
        # Further on (If-Range is optional: the transfer serves one version) is still the same download...
        assert plane.pull(Range="bytes=1500-").status_code == 206
        # ...the same start again, one further back, or a whole new read is a new use: refused.
        assert plane.pull(Range="bytes=1500-", **{"If-Range": validator}).status_code == 403
        assert plane.pull(Range="bytes=10-").status_code == 403
        assert plane.pull().status_code == 403
        assert plane.counters.totals(AGREEMENT).uses == 1


def test_a_read_from_outside_the_agreed_network_is_denied(database: Database, tmp_path: Path) -> None:
    network = {"leftOperand": "tc609:networkAddress", "operator": "isPartOf", "rightOperand": "10.0.0.0/8"}
    agreements = Agreements(agreement_document(network))
    for plane in provider(database, tmp_path, agreements, client=("10.1.2.3", 4000)):
        assert plane.pull().status_code == 200
    for plane in provider(database, tmp_path, agreements):
        outside = plane.pull(**{"X-Forwarded-For": "10.1.2.3"})  # what the client claims is not its address
        assert outside.status_code == 403 and "192.0.2.10" in outside.json()["detail"]


def test_a_frequency_limit_resets_with_its_window(database: Database, tmp_path: Path) -> None:
    frequency = {"leftOperand": "tc609:frequency", "operator": "lteq", "rightOperand": 2, "unit": "minute"}
    for plane in provider(database, tmp_path, Agreements(agreement_document(frequency))):
        assert [plane.pull().status_code for _ in range(3)] == [200, 200, 403]
        plane.clock.advance(60)
        assert plane.pull().status_code == 200


def test_reads_beyond_the_agreed_data_size_are_denied(database: Database, tmp_path: Path) -> None:
    size = {"leftOperand": "tc609:dataSize", "operator": "lteq", "rightOperand": 2 * len(CONTENT), "unit": "B"}
    for plane in provider(database, tmp_path, Agreements(agreement_document(size))):
        assert [plane.pull().status_code for _ in range(3)] == [200, 200, 403]
        assert plane.counters.totals(AGREEMENT).bytes == 2 * len(CONTENT)


def test_roles_proven_at_the_transfer_request_decide_each_access(database: Database, tmp_path: Path) -> None:
    role = {"leftOperand": "trustspace:role", "operator": "isAnyOf", "rightOperand": ["consumer"]}
    for plane in provider(database, tmp_path, Agreements(agreement_document(role), roles=["observer"])):
        assert plane.pull().status_code == 403


def test_a_prohibited_read_is_denied(database: Database, tmp_path: Path) -> None:
    document = {**agreement_document(), "permission": [{"action": "use"}], "prohibition": [{"action": "read"}],
                "conflict": "prohibit"}
    for plane in provider(database, tmp_path, Agreements(document)):
        denied = plane.pull()
        assert denied.status_code == 403 and "prohibited" in denied.json()["detail"]


def test_an_unknown_agreement_is_denied(database: Database, tmp_path: Path) -> None:
    for plane in provider(database, tmp_path, Agreements(agreement_document())):
        plane.clock.advance(1)
        token = issue_access_token(plane.key, issuer=PROVIDER, audience=CONSUMER, transfer_id=TRANSFER,
                                   agreement_id="urn:agreement:other", now=plane.clock.now())
        assert plane.pull(token).status_code == 401  # the gate: the token names another agreement


def test_an_agreement_without_counted_constraints_is_decided_without_the_store(database: Database,
                                                                            tmp_path: Path) -> None:
    window = {"leftOperand": "tc609:time", "operator": "isPartOf", "rightOperand": WINDOW}
    for plane in provider(database, tmp_path, Agreements(agreement_document(window))):
        assert [plane.pull().status_code for _ in range(3)] == [200, 200, 200]
        assert plane.counters.totals(AGREEMENT).uses == 0
        assert len([d for d in plane.sink.decisions if d.decision == "permit"]) == 3  # still every permit recorded


def test_counted_operands_are_found_at_any_depth() -> None:
    nested = {"permission": [{"action": {"rdf:value": {"@id": "read"}, "refinement": [
        {"and": [{"leftOperand": {"@id": "tc609:frequency"}, "operator": "lteq", "rightOperand": 1}]}]}}]}
    assert needs_counters(nested)
    assert needs_counters({"obligation": [{"action": "delete", "constraint": [count_at_most(1)]}]})
    assert not needs_counters(agreement_document({"leftOperand": "purpose", "operator": "eq", "rightOperand": "x"}))


class JoinedSink(Sink):
    """A sink on the counters' database, as the connector's store is: permits join the counting transaction."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.store = EvidencingDspStore(db, EvidenceRecorder(SigningKey.generate(), PROVIDER, f"{PROVIDER}#key-1",
                                                             "http://operator.example", "did:web:operator.example",
                                                             FixedClock(START)))
        self.joined = 0

    def record_access(self, decision: AccessDecision) -> None:
        self.store.record_access(decision)

    def record_access_on(self, connection: Connection, decision: AccessDecision) -> None:
        if self.fail_permits:
            raise RuntimeError("evidence store down")
        self.store.record_access_on(connection, decision)
        self.joined += 1


def test_a_permit_and_its_use_commit_together_or_not_at_all(database: Database, tmp_path: Path) -> None:
    sink = JoinedSink(database)
    for plane in provider(database, tmp_path, Agreements(agreement_document(count_at_most(2))), raise_errors=False,
                          sink=sink):
        assert plane.pull().status_code == 200
        assert sink.joined == 1 and not sink.decisions  # recorded in the counting transaction, not again after it
        assert len(sink.store.pending_evidence()) == 1 and plane.counters.totals(AGREEMENT).uses == 1
        sink.fail_permits = True  # the evidence cannot be written: the use is not counted either, nothing served
        failed = plane.pull()
        assert failed.status_code == 500 and CONTENT not in failed.content
        assert len(sink.store.pending_evidence()) == 1 and plane.counters.totals(AGREEMENT).uses == 1
        sink.fail_permits = False
        assert [plane.pull().status_code for _ in range(2)] == [200, 403]
        assert len(sink.store.pending_evidence()) == 3  # two permits and the refusal


def test_the_consumers_statements_and_duties_are_left_to_its_usage_api(database: Database, tmp_path: Path) -> None:
    purpose = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "credit assessment"}
    document = {**agreement_document(purpose, count_at_most(1)), "obligation": [{"action": "delete"}]}
    for plane in provider(database, tmp_path, Agreements(document)):
        assert plane.pull().status_code == 200  # no purpose travels with a pull; the delete duty is the consumer's
        assert plane.pull().status_code == 403  # the count, which the data plane observes, still holds
