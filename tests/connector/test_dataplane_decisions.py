"""The data plane's access decisions as evidence: every permit before the bytes, a refusal only for a token we
signed and at most once a minute per (transfer, scope, reason), and no access when a permit cannot be kept."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from trustspace.connector.dataplane.decisions import AccessDecision, AccessRecorder
from trustspace.connector.dataplane.gate import InMemoryGate
from trustspace.connector.dataplane.inbox import Inbox
from trustspace.connector.dataplane.server import data_router
from trustspace.connector.dataplane.sources import FileSource
from trustspace.connector.dataplane.tokens import PUSH_SCOPE, issue_access_token
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.web.problems import install_problem_handlers

PROVIDER, CONSUMER = "did:web:provider.example", "did:web:consumer.example"
CONTENT = b"evidence" * 500


@dataclass
class Sink:
    kept: list[AccessDecision] = field(default_factory=list)
    broken: bool = False

    def record_access(self, decision: AccessDecision) -> None:
        if self.broken:
            raise RuntimeError("database down")
        self.kept.append(decision)

    def verdicts(self) -> list[tuple[str, str, str]]:
        return [(d.attempt.transfer_id, d.decision, d.reason) for d in self.kept]


@dataclass
class Plane:
    key: SigningKey
    clock: FixedClock
    gate: InMemoryGate
    sink: Sink
    http: TestClient

    def token(self, transfer: str = "t1", *, scope: str = "data:read", audience: str = CONSUMER,
              lifetime: int = 600) -> str:
        return issue_access_token(self.key, issuer=PROVIDER, audience=audience, transfer_id=transfer,
                                  agreement_id="a1", now=self.clock.now(), scope=scope, lifetime=lifetime)

    def get(self, transfer: str = "t1", token: str | None = None, **headers: str) -> httpx.Response:
        response: httpx.Response = self.http.get(
            f"/data/{transfer}", headers={"Authorization": f"Bearer {token or self.token(transfer)}", **headers})
        return response


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    key, clock, gate, sink = SigningKey.generate(), FixedClock(), InMemoryGate(), Sink()
    (tmp_path / "f.bin").write_bytes(CONTENT)
    gate.start("t1", "a1", FileSource(tmp_path / "f.bin"))
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(data_router(gate, key.public, clock, inbox=Inbox(tmp_path / "inbox", key.public, gate),
                                   decisions=AccessRecorder(sink, clock)))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield Plane(key, clock, gate, sink, http)


def test_every_pull_and_range_resume_is_a_permit(plane: Plane) -> None:
    assert plane.get().status_code == 200
    assert plane.get(Range="bytes=100-").status_code == 206
    assert plane.sink.verdicts() == [("t1", "permit", "transfer-started")] * 2
    first, resumed = plane.sink.kept
    assert (first.caller, first.agreement_id, first.attempt.method, first.attempt.scope) == (
        CONSUMER, "a1", "GET", "data:read")
    assert first.attempt.byte_range is None and resumed.attempt.byte_range == "bytes=100-"


def test_expired_and_foreign_tokens_are_denied_with_their_reason(plane: Plane) -> None:
    plane.gate.start("t2", "a1")
    foreign = plane.get("t1", token=plane.token("t2"))
    expired = plane.token(lifetime=60)
    plane.clock.advance(120)
    assert plane.get(token=expired).status_code == foreign.status_code == 401
    assert plane.sink.verdicts() == [("t1", "deny", "data-token-foreign"), ("t1", "deny", "data-token-expired")]
    assert plane.sink.kept[0].token_transfer == "t2"


def test_gate_refusals_are_denied(plane: Plane) -> None:
    plane.gate.suspend("t1")
    assert plane.get().status_code == 403
    plane.gate.resume("t1")
    plane.gate.complete("t1")
    assert plane.get().status_code == 403
    assert plane.sink.verdicts() == [("t1", "deny", "transfer-suspended"), ("t1", "deny", "transfer-ended")]


def test_requests_without_a_token_of_ours_are_not_recorded(plane: Plane) -> None:
    forged = issue_access_token(SigningKey.generate(), issuer=PROVIDER, audience=CONSUMER, transfer_id="t1",
                                agreement_id="a1", now=plane.clock.now())
    assert plane.http.get("/data/t1").status_code == 401
    assert plane.get(token="not-a-jwt").status_code == 401
    assert plane.get(token=forged).status_code == 401
    assert plane.sink.kept == []


def test_one_refusal_per_transfer_and_reason_per_minute(plane: Plane) -> None:
    plane.gate.suspend("t1")
    for _ in range(5):
        assert plane.get().status_code == 403
    plane.clock.advance(30)
    plane.get()
    assert plane.get("t1", token=plane.token("t9")).status_code == 401  # another reason counts apart
    plane.clock.advance(31)
    plane.get()
    assert plane.sink.verdicts() == [("t1", "deny", "transfer-suspended"), ("t1", "deny", "data-token-foreign"),
                                     ("t1", "deny", "transfer-suspended")]


def test_no_bytes_without_a_recorded_permit(plane: Plane) -> None:
    plane.sink.broken = True
    response = plane.get()
    assert response.status_code == 500 and CONTENT not in response.content
    plane.gate.suspend("t1")
    assert plane.get().status_code == 403  # a refusal stands even when it cannot be recorded


def test_push_admissions_are_decisions_too(plane: Plane) -> None:
    plane.gate.start("in1", "a1")
    digest = base64.b64encode(hashlib.sha256(CONTENT).digest()).decode()

    def push(token: str) -> int:
        headers = {"Authorization": f"Bearer {token}", "Repr-Digest": f"sha-256=:{digest}:"}
        return plane.http.put("/inbox/in1", content=CONTENT, headers=headers).status_code

    pusher = plane.token("in1", scope=PUSH_SCOPE, audience=PROVIDER)
    assert push(pusher) == 201
    assert push(plane.token("in1")) == 401  # a pull token is for another scope
    plane.gate.suspend("in1")
    assert push(pusher) == 403
    assert plane.sink.verdicts() == [("in1", "permit", "transfer-started"), ("in1", "deny", "data-token-foreign"),
                                     ("in1", "deny", "transfer-suspended")]
    assert {(d.attempt.method, d.caller) for d in plane.sink.kept} == {("PUT", PROVIDER), ("PUT", CONSUMER)}
