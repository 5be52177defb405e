"""The ledger's HTTP API as members, strangers and auditors meet it: receipts, replays, forged and oversized
statements, entries and search, and proofs that verify against signed checkpoints with the core verifier."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulator import FakeWeb, OperatorUnderTest, Party
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.identity.did import DidResolver, verification_method_id
from trustspace.ledger.checkpoint import Checkpoint, NoteVerifier, open_checkpoint
from trustspace.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from trustspace.ledger.statements import MAX_ENTRY_BYTES, leaf_data, new_statement, sign_statement
from trustspace.operator.app import create_app
from trustspace.operator.ledger.receipts import verify_receipt
from trustspace.operator.settings import OperatorSettings

URL = "http://127.0.0.1:9400"


@contextmanager
def ledger_operator(data_dir: Path, **ledger: Any) -> Iterator[OperatorUnderTest]:
    """The simulator's operator, with ledger settings (quorum, witnesses...) of the test's choosing."""
    web, clock = FakeWeb(), FixedClock()
    # These tests number the log's entries themselves, so the operator's own membership statements stay out.
    ledger = {"log_membership_decisions": False, **ledger}
    settings = OperatorSettings(data_dir=data_dir, public_url=URL, space="test-space", **ledger)
    app = create_app(settings, clock=clock, resolver=DidResolver(web.fetch), fetch=web.fetch)
    with TestClient(app, base_url=URL) as client:
        web.add(URL, client)
        yield OperatorUnderTest(client, settings, clock, web)
    app.state.db.dispose()


@pytest.fixture
def op(tmp_path: Path) -> Iterator[OperatorUnderTest]:
    with ledger_operator(tmp_path / "operator") as running:
        yield running


@pytest.fixture
def member(op: OperatorUnderTest) -> Party:
    party = Party("电网公司")
    op.admit(party)
    return party


def statement(party: Party, op: OperatorUnderTest, n: int = 0, *, submitter: str | None = None,
              key: SigningKey | None = None, **subjects: Any) -> dict[str, Any]:
    did = submitter or party.did
    made = new_statement("agreement", did, op.clock.now(), process=f"urn:process:{n}", **subjects)
    return sign_statement(made, key or party.key, verification_method_id(did))


def submit(op: OperatorUnderTest, party: Party, body: Any, **token: Any) -> Any:
    return op.client.post("/v1/ledger/entries", json=body, headers=party.headers(op.did, op.clock, **token))


def integrated(op: OperatorUnderTest, size: int, timeout: float = 5.0) -> dict[str, Any]:
    """The latest checkpoint once the log has ``size`` entries; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        latest: dict[str, Any] = op.client.get("/v1/ledger/checkpoints/latest.json").json()
        if latest["size"] >= size:
            return latest
        assert time.monotonic() < deadline, f"log still at size {latest['size']}, waited for {size}"
        time.sleep(0.02)


def log_verifier(op: OperatorUnderTest) -> NoteVerifier:
    return NoteVerifier.from_vkey(op.client.get("/v1/ledger/key").json()["vkey"])


def operator_key(op: OperatorUnderTest) -> VerifyingKey:
    document = op.client.get("/.well-known/did.json").json()
    return VerifyingKey.from_multibase(document["verificationMethod"][0]["publicKeyMultibase"])


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def proven(op: OperatorUnderTest, checkpoint: Checkpoint, **where: Any) -> int:
    """Fetch an inclusion proof and check it against ``checkpoint``; return the proven index."""
    proof = op.client.get("/v1/ledger/proofs/inclusion", params={**where, "treeSize": checkpoint.size}).json()
    verify_inclusion(proof["index"], proof["treeSize"], b64(proof["leafHash"]), [b64(h) for h in proof["proof"]],
                     checkpoint.root_hash)
    return int(proof["index"])


# --- submissions and receipts ------------------------------------------------------------------------------


def test_member_submission_gets_a_receipt_the_operator_signed(op: OperatorUnderTest, member: Party) -> None:
    signed = statement(member, op, participant=member.did)
    response = submit(op, member, signed)
    assert response.status_code == 201, response.text
    receipt = response.json()
    verify_receipt(receipt, operator_key(op))
    assert b64(receipt["leafHash"]) == leaf_hash(leaf_data(signed))
    key = op.client.get("/v1/ledger/key").json()
    assert receipt["logOrigin"] == key["origin"] == "127.0.0.1:9400/ledger"
    assert receipt["operator"] == op.did and receipt["maxDelaySeconds"] == 5
    assert receipt["receivedAt"] == "2026-01-01T00:00:00Z"


def test_replayed_submission_gets_the_same_receipt_and_one_entry(op: OperatorUnderTest, member: Party) -> None:
    signed = statement(member, op)
    first = submit(op, member, signed).json()
    op.clock.advance(30)
    again = submit(op, member, signed)
    assert again.status_code == 200 and again.json() == first
    integrated(op, 1)
    after = submit(op, member, signed)
    assert after.status_code == 200 and after.json() == first, "still the same promise once it is kept"
    time.sleep(0.3)  # a sequencer round: nothing new to integrate
    assert op.client.get("/v1/ledger/checkpoints/latest.json").json()["size"] == 1


def test_submission_by_a_non_member_is_refused(op: OperatorUnderTest) -> None:
    stranger = Party("stranger")
    response = submit(op, stranger, statement(stranger, op), with_credential=False)
    assert response.status_code == 403
    assert op.client.app.state.ledger.store.backlog().count == 0  # type: ignore[attr-defined]


def test_statement_of_another_party_is_refused(op: OperatorUnderTest, member: Party) -> None:
    other = Party("other")
    op.admit(other)
    theirs = submit(op, member, statement(other, op))
    assert theirs.status_code == 403 and theirs.json()["type"].endswith("statement-not-yours")
    forged = submit(op, member, statement(member, op, key=other.key))  # names the member, signed by other
    assert forged.status_code == 401 and forged.json()["type"].endswith("invalid-statement-signature")


def test_oversized_statement_is_refused_before_any_signature_check(op: OperatorUnderTest, member: Party) -> None:
    signed = statement(member, op)
    signed["details"] = {f"k{n}": "x" * 1024 for n in range(20)}
    assert len(json.dumps(signed)) > MAX_ENTRY_BYTES
    response = submit(op, member, signed)
    assert response.status_code == 413 and response.json()["type"].endswith("statement-too-large")


def test_tampered_or_malformed_statements_are_refused(op: OperatorUnderTest, member: Party) -> None:
    signed = statement(member, op, agreement="urn:agreement:1")
    tampered = {**signed, "subjects": {**signed["subjects"], "agreement": "urn:agreement:2"}}
    assert submit(op, member, tampered).status_code == 401
    flipped = {**signed, "signature": {**signed["signature"], "value": "A" * 86}}
    assert submit(op, member, flipped).status_code == 401
    unsigned = {k: v for k, v in signed.items() if k != "signature"}
    assert submit(op, member, unsigned).status_code == 401
    nameless = {k: v for k, v in signed.items() if k != "type"}
    response = submit(op, member, nameless)
    assert response.status_code == 422 and response.json()["field"] == "type"
    assert submit(op, member, ["not", "an", "object"]).status_code == 422


def submit_batch(op: OperatorUnderTest, party: Party, statements: list[Any]) -> Any:
    return op.client.post("/v1/ledger/entries/batch", json={"statements": statements},
                          headers=party.headers(op.did, op.clock))


def test_a_batch_gets_one_receipt_per_statement_in_order(op: OperatorUnderTest, member: Party) -> None:
    signed = [statement(member, op, n) for n in range(3)]
    first = submit(op, member, signed[0]).json()
    response = submit_batch(op, member, signed)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 201, 201], "the first was a replay"
    assert results[0]["receipt"] == first
    for one, result in zip(signed, results, strict=True):
        verify_receipt(result["receipt"], operator_key(op))
        assert b64(result["receipt"]["leafHash"]) == leaf_hash(leaf_data(one))
    integrated(op, 3)


def test_a_bad_statement_in_a_batch_is_refused_alone_and_named(op: OperatorUnderTest, member: Party) -> None:
    good, other = statement(member, op, 1), Party("other")
    op.admit(other)
    oversized = {**statement(member, op, 2), "details": {f"k{n}": "x" * 1024 for n in range(20)}}
    nameless = {k: v for k, v in statement(member, op, 3).items() if k != "type"}
    results = submit_batch(op, member, [statement(other, op, 0), good, oversized, nameless]).json()["results"]
    assert [r["status"] for r in results] == [403, 201, 413, 422]
    assert results[0]["problem"]["type"].endswith("statement-not-yours")
    assert results[0]["problem"]["field"] == "statements[0].submitter"
    assert results[3]["problem"]["field"] == "statements[3].type"
    integrated(op, 1)


def test_a_batch_needs_a_member_and_a_bounded_list(op: OperatorUnderTest, member: Party) -> None:
    stranger = Party("stranger")
    refused = op.client.post("/v1/ledger/entries/batch", json={"statements": [statement(stranger, op)]},
                             headers=stranger.headers(op.did, op.clock, with_credential=False))
    assert refused.status_code == 403
    assert submit_batch(op, member, []).status_code == 422
    not_objects = submit_batch(op, member, [statement(member, op), "text"])
    assert not_objects.status_code == 422 and not_objects.json()["field"].startswith("statements.1")
    unlisted = op.client.post("/v1/ledger/entries/batch", json={"statement": []},
                              headers=member.headers(op.did, op.clock))
    assert unlisted.status_code == 422
    too_many = submit_batch(op, member, [statement(member, op, n) for n in range(51)])
    assert too_many.status_code == 422 and too_many.json()["field"] == "statements"
    assert op.client.app.state.ledger.store.backlog().count == 0  # type: ignore[attr-defined]


# --- entries and search ------------------------------------------------------------------------------------


def test_entries_are_read_by_members_and_the_administrator_only(op: OperatorUnderTest, member: Party) -> None:
    signed = statement(member, op, agreement="urn:agreement:7")
    submit(op, member, signed)
    integrated(op, 1)
    entry = op.get("/v1/ledger/entries/0", member).json()
    assert entry["entry"] == signed and entry["index"] == 0
    assert b64(entry["leafHash"]) == leaf_hash(leaf_data(signed))
    assert op.client.get("/v1/ledger/entries/0", headers=op.admin).json() == entry
    assert op.client.get("/v1/ledger/entries/0").status_code == 401
    stranger = Party("stranger")
    assert op.get("/v1/ledger/entries/0", stranger, with_credential=False).status_code == 403
    assert op.get("/v1/ledger/entries/1", member).status_code == 404


def test_search_filters_by_subject_and_time_and_pages(op: OperatorUnderTest, member: Party) -> None:
    for n in range(7):
        op.clock.advance(60)
        submit(op, member, statement(member, op, n, participant=f"did:key:z{n % 2}", agreement=f"urn:a:{n % 3}"))
    integrated(op, 7)

    def found(**query: Any) -> list[int]:
        page = op.client.get("/v1/ledger/entries", params=query, headers=op.admin).json()
        return [e["index"] for e in page["entries"]]

    assert found(participant="did:key:z1") == [1, 3, 5]
    assert found(participant="did:key:z0", agreement="urn:a:0") == [0, 6]
    assert found(process="urn:process:4") == [4]
    assert found(since="2026-01-01T00:03:00Z", until="2026-01-01T00:05:00Z") == [2, 3]
    first = op.client.get("/v1/ledger/entries", params={"limit": 4}, headers=op.admin).json()
    assert [e["index"] for e in first["entries"]] == [0, 1, 2, 3] and first["next"] == 3
    assert found(after=first["next"], limit=4) == [4, 5, 6]
    assert op.client.get("/v1/ledger/entries", params={"limit": 1001}, headers=op.admin).status_code == 422
    assert op.client.get("/v1/ledger/entries", params={"since": "yesterday"}, headers=op.admin).status_code == 422


# --- proofs against signed checkpoints ---------------------------------------------------------------------


def test_inclusion_proofs_by_index_and_leaf_hash_verify(op: OperatorUnderTest, member: Party) -> None:
    receipts = [submit(op, member, statement(member, op, n)).json() for n in range(11)]
    integrated(op, 11)
    note = op.client.get("/v1/ledger/checkpoint")
    assert note.headers["content-type"] == "text/plain; charset=utf-8"
    checkpoint = open_checkpoint(note.text, log_verifier(op))
    assert checkpoint.size == 11
    for index, receipt in enumerate(receipts):
        hashed = b64(receipt["leafHash"])
        assert proven(op, checkpoint, index=index) == index
        assert proven(op, checkpoint, leafHash=base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()) == index
        assert proven(op, checkpoint, leafHash=hashed.hex()) == index
    older = open_checkpoint(op.client.get("/v1/ledger/checkpoints/0").text, log_verifier(op))
    assert older.size == 0, "every checkpoint is kept, the empty one included"


def test_inclusion_proof_refusals(op: OperatorUnderTest, member: Party) -> None:
    for n in range(3):
        submit(op, member, statement(member, op, n))
    integrated(op, 3)

    def status(**query: Any) -> int:
        return int(op.client.get("/v1/ledger/proofs/inclusion", params=query).status_code)

    assert status(index=3) == 404, "not integrated (yet)"
    assert status(leafHash=leaf_hash(b"never submitted").hex()) == 404
    assert status(index=2, treeSize=2) == 400
    assert status(index=0, treeSize=4) == 400, "beyond the log"
    assert status(index=0, leafHash="AA") == 422
    assert status() == 422
    assert status(leafHash="not-a-hash") == 422


def test_consistency_between_two_checkpoints_verifies(op: OperatorUnderTest, member: Party) -> None:
    for n in range(3):
        submit(op, member, statement(member, op, n))
    integrated(op, 3)
    verifier = log_verifier(op)
    old = open_checkpoint(op.client.get("/v1/ledger/checkpoints/3").text, verifier)
    for n in range(3, 8):
        submit(op, member, statement(member, op, n))
    integrated(op, 8)
    new = open_checkpoint(op.client.get("/v1/ledger/checkpoint").text, verifier)
    body = op.client.get("/v1/ledger/proofs/consistency", params={"first": 3, "second": 8}).json()
    assert body["first"] == 3 and body["second"] == 8
    verify_consistency(3, 8, old.root_hash, new.root_hash, [b64(h) for h in body["proof"]])
    assert op.client.get("/v1/ledger/checkpoints/3").text.startswith(old.body()), "old checkpoints are kept"
    same = op.client.get("/v1/ledger/proofs/consistency", params={"first": 8, "second": 8}).json()
    assert same["proof"] == []
    for bad in ({"first": 5, "second": 4}, {"first": 3, "second": 9}):
        assert op.client.get("/v1/ledger/proofs/consistency", params=bad).status_code == 400
    assert op.client.get("/v1/ledger/checkpoints/99").status_code == 404


def test_operator_logs_its_own_statements(op: OperatorUnderTest, member: Party) -> None:
    ledger = op.client.app.state.ledger  # type: ignore[attr-defined]
    receipt = ledger.record("membership-decision", participant=member.did, details={"decision": "approved"})
    verify_receipt(receipt, operator_key(op))
    integrated(op, 1)
    entry = op.client.get("/v1/ledger/entries/0", headers=op.admin).json()["entry"]
    assert entry["submitter"] == op.did and entry["details"] == {"decision": "approved"}
    with pytest.raises(Exception, match="submitter must be you"):
        ledger.submit_local(statement(member, op))
