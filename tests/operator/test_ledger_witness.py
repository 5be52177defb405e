"""Witness cosignatures on the operator's checkpoints: a member cosigns as itself, with its own DID key, over
the very checkpoint it names; anything else is refused. A checkpoint is final once the quorum is met."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ledger_api import integrated, ledger_operator, log_verifier, statement, submit

from simulator import OperatorUnderTest, Party
from trustspace.core.keys import SigningKey
from trustspace.ledger.checkpoint import Note, open_checkpoint
from trustspace.ledger.errors import QuorumNotMet
from trustspace.ledger.witness import CosignatureVerifier, Cosigner, Witness, open_final_checkpoint


@pytest.fixture
def op(tmp_path: Path) -> Iterator[OperatorUnderTest]:
    with ledger_operator(tmp_path / "operator") as running:
        yield running


def grown(op: OperatorUnderTest, party: Party, count: int = 1) -> str:
    """Log ``count`` statements of ``party`` and return the latest checkpoint note."""
    for n in range(count):
        submit(op, party, statement(party, op, n))
    integrated(op, count)
    return str(op.client.get("/v1/ledger/checkpoint").text)


def post(op: OperatorUnderTest, party: Party, size: int, line: str, vkey: str, **token: Any) -> Any:
    return op.client.post(f"/v1/ledger/checkpoints/{size}/cosignatures", json={"signatureLine": line, "vkey": vkey},
                          headers=party.headers(op.did, op.clock, **token))


def cosign(op: OperatorUnderTest, party: Party, size: int, *, cosigner: Cosigner | None = None,
           body: str | None = None) -> Any:
    """``party`` posts a cosignature of checkpoint ``size`` (or of ``body``), by default as itself."""
    signer = cosigner or Cosigner(party.did, party.key)
    text = body if body is not None else Note.parse(op.client.get(f"/v1/ledger/checkpoints/{size}").text).text
    line = signer.cosign(text, int(op.clock.now().timestamp())).line()
    return post(op, party, size, line, signer.verifier.vkey)


def test_member_cosigns_with_its_own_key_and_the_checkpoint_becomes_final(op: OperatorUnderTest) -> None:
    grid = Party("grid")
    op.admit(grid)
    note = grown(op, grid, 3)
    # The witness as the core implements it: checks the log's signature and its history, then cosigns.
    witness = Witness(Cosigner(grid.did, grid.key), {"127.0.0.1:9400/ledger": log_verifier(op)}, op.clock)
    line = witness.observe(note).line()
    response = post(op, grid, 3, line, witness.verifier.vkey)
    assert response.status_code == 201, response.text
    assert response.json()["witness"] == grid.did

    cosigned = op.client.get("/v1/ledger/checkpoint").text
    assert cosigned == note + line, "the cosignature line is appended to the note"
    final = open_final_checkpoint(cosigned, log_verifier(op), [witness.verifier], 1)
    assert final.size == 3
    status = op.client.get("/v1/ledger/checkpoints/latest.json").json()
    assert status["final"] is True and status["cosigners"] == [grid.did] and status["quorum"] == 1
    assert status["note"] == cosigned
    assert op.client.get("/v1/ledger/witnesses").json() == {
        "witnesses": [{"name": grid.did, "vkey": witness.verifier.vkey}], "quorum": 1}
    again = post(op, grid, 3, line, witness.verifier.vkey)
    assert again.status_code == 200 and op.client.get("/v1/ledger/checkpoint").text == cosigned


def test_cosignature_with_a_key_not_the_callers_is_refused(op: OperatorUnderTest) -> None:
    grid, other = Party("grid"), Party("other")
    op.admit(grid)
    op.admit(other)
    grown(op, grid)
    foreign_key = cosign(op, grid, 1, cosigner=Cosigner(grid.did, SigningKey.generate()))
    assert foreign_key.status_code == 403 and foreign_key.json()["type"].endswith("witness-key-not-yours")
    as_other = cosign(op, grid, 1, cosigner=Cosigner(other.did, other.key))  # other's name and key, grid's token
    assert as_other.status_code == 403
    assert op.client.get("/v1/ledger/checkpoints/latest.json").json()["cosigners"] == []


def test_cosignature_over_another_body_is_refused(op: OperatorUnderTest) -> None:
    grid = Party("grid")
    op.admit(grid)
    grown(op, grid, 2)
    empty_body = Note.parse(op.client.get("/v1/ledger/checkpoints/0").text).text
    response = cosign(op, grid, 2, body=empty_body)
    assert response.status_code == 422 and response.json()["type"].endswith("invalid-cosignature")
    vkey = Cosigner(grid.did, grid.key).verifier.vkey
    assert post(op, grid, 2, "— garbage", vkey).status_code == 422
    assert post(op, grid, 2, "not a line", "not+a+vkey").status_code == 422
    other_name = Cosigner("did:key:z6MkOther", grid.key).cosign(empty_body, 0).line()
    assert post(op, grid, 2, other_name, vkey).status_code == 422, "the line names another key than the vkey"
    assert cosign(op, grid, 99, body=empty_body).status_code == 404


def test_cosignature_from_a_non_member_is_refused(op: OperatorUnderTest) -> None:
    grid, stranger = Party("grid"), Party("stranger")
    op.admit(grid)
    note = grown(op, grid)
    line = Cosigner(stranger.did, stranger.key).cosign(Note.parse(note).text, 0).line()
    response = post(op, stranger, 1, line, Cosigner(stranger.did, stranger.key).verifier.vkey, with_credential=False)
    assert response.status_code == 403


def test_quorum_of_two_needs_two_distinct_members(tmp_path: Path) -> None:
    with ledger_operator(tmp_path / "operator", ledger_quorum=2) as op:
        first, second = Party("first"), Party("second")
        op.admit(first)
        op.admit(second)
        grown(op, first)
        assert cosign(op, first, 1).status_code == 201
        status = op.client.get("/v1/ledger/checkpoints/latest.json").json()
        assert status["final"] is False and status["quorum"] == 2
        verifiers = [CosignatureVerifier(p.did, p.key.public) for p in (first, second)]
        with pytest.raises(QuorumNotMet):
            open_final_checkpoint(op.client.get("/v1/ledger/checkpoint").text, log_verifier(op), verifiers, 2)
        assert cosign(op, second, 1).status_code == 201
        status = op.client.get("/v1/ledger/checkpoints/latest.json").json()
        assert status["final"] is True and sorted(status["cosigners"]) == sorted([first.did, second.did])
        note = op.client.get("/v1/ledger/checkpoint").text
        assert open_final_checkpoint(note, log_verifier(op), verifiers, 2) == open_checkpoint(note, log_verifier(op))


def test_configured_witness_list_limits_who_may_cosign(tmp_path: Path) -> None:
    chosen, other = Party("chosen"), Party("other")
    with ledger_operator(tmp_path / "operator", ledger_witnesses=(chosen.did,)) as op:
        op.admit(chosen)
        op.admit(other)
        grown(op, chosen)
        refused = cosign(op, other, 1)
        assert refused.status_code == 403 and refused.json()["type"].endswith("not-a-witness")
        assert cosign(op, chosen, 1).status_code == 201
