"""Service-token attacks against the operator, each named after the attack. A refused request changes
nothing: the jti of a refused token is not even remembered."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator import FakeWeb, OperatorUnderTest, Party, operator
from trustspace.core.keys import SigningKey
from trustspace.identity.tokens import CREDENTIAL_HEADER, encode_credential, issue_token


@pytest.fixture
def op(tmp_path: Path) -> Iterator[OperatorUnderTest]:
    with operator(tmp_path / "operator") as running:
        yield running


@pytest.fixture
def member(op: OperatorUnderTest) -> Party:
    party = Party("member")
    op.admit(party)
    return party


def refused(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"urn:trustspace:problem:{slug}"
    if status == 401:
        assert "Bearer" in response.headers["www-authenticate"]


def whoami(op: OperatorUnderTest, headers: dict[str, str]) -> Any:
    return op.client.get("/v1/whoami", headers=headers)


def test_expired_token(op: OperatorUnderTest, member: Party) -> None:
    headers = member.headers(op.did, op.clock, lifetime=60)
    op.clock.advance(120)
    refused(whoami(op, headers), 401, "token-expired")


def test_token_lifetime_over_five_minutes(op: OperatorUnderTest, member: Party) -> None:
    refused(whoami(op, member.headers(op.did, op.clock, lifetime=301)), 401, "token-invalid")


def test_token_for_another_audience(op: OperatorUnderTest, member: Party) -> None:
    refused(whoami(op, member.headers("did:web:elsewhere.example", op.clock)), 401, "token-wrong-audience")


def test_replayed_token(op: OperatorUnderTest, member: Party) -> None:
    headers = member.headers(op.did, op.clock)
    assert whoami(op, headers).status_code == 200
    refused(whoami(op, headers), 401, "token-replayed")


def test_replayed_token_after_restart(tmp_path: Path) -> None:
    party = Party("member")
    with operator(tmp_path / "op", web=FakeWeb()) as first:
        first.admit(party)
        headers = party.headers(first.did, first.clock)
        assert whoami(first, headers).status_code == 200
        clock = first.clock
    with operator(tmp_path / "op", web=FakeWeb(), clock=clock) as second:
        refused(whoami(second, headers), 401, "token-replayed")


def test_signature_by_the_wrong_key(op: OperatorUnderTest, member: Party) -> None:
    refused(whoami(op, member.headers(op.did, op.clock, key=SigningKey.generate())), 401, "token-invalid")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_unknown_did_method_is_refused_before_any_resolution(op: OperatorUnderTest, member: Party) -> None:
    token = issue_token(member.key, issuer="did:example:123", verification_method="did:example:123#k",
                        audience=op.did, now=op.clock.now())
    refused(whoami(op, bearer(token)), 401, "issuer-unknown")


def test_did_web_of_a_stranger_is_refused_without_fetching_it(op: OperatorUnderTest, member: Party) -> None:
    web = op.web
    did = "did:web:127.0.0.1%3A1"
    token = issue_token(member.key, issuer=did, verification_method=f"{did}#key-1", audience=op.did,
                        now=op.clock.now())
    before = len(web.requests)
    refused(whoami(op, bearer(token)), 401, "issuer-unknown")
    assert len(web.requests) == before


def test_stranger_applying_for_membership_is_resolved_and_refused_without_its_error_text(
        op: OperatorUnderTest, member: Party) -> None:
    did = "did:web:127.0.0.1%3A1"
    token = issue_token(member.key, issuer=did, verification_method=f"{did}#key-1", audience=op.did,
                        now=op.clock.now())
    answer = op.client.post("/v1/membership/applications", headers=bearer(token),
                            json={"displayName": "x", "creditCode": "91330100MA2B3C4D5X", "roles": ["consumer"]})
    refused(answer, 401, "unresolvable-did")
    assert "nothing answers" not in answer.text


def test_iss_differs_from_signing_did(op: OperatorUnderTest, member: Party) -> None:
    other = Party("other")
    token = issue_token(member.key, issuer=other.did, verification_method=f"{member.did}#x", audience=op.did,
                        now=op.clock.now())
    assert whoami(op, bearer(token)).status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "Bearer not.a.jwt", "Bearer a.b", "Bearer ..."])
def test_malformed_authorization(op: OperatorUnderTest, header: str) -> None:
    response = op.client.get("/v1/whoami", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json()["type"] in {"urn:trustspace:problem:unauthenticated", "urn:trustspace:problem:token-invalid"}


def test_unsigned_alg_none_token(op: OperatorUnderTest, member: Party) -> None:
    import jwt

    token = jwt.encode({"iss": member.did, "aud": op.did}, key=None, algorithm="none",
                       headers={"kid": f"{member.did}#x"})
    refused(whoami(op, bearer(token)), 401, "token-invalid")


def test_credential_swapped_after_signing(op: OperatorUnderTest, member: Party) -> None:
    """A token signed over one credential does not carry another one (the vcd claim binds them)."""
    other = Party("other")
    op.admit(other)
    headers = member.headers(op.did, op.clock)
    headers[CREDENTIAL_HEADER] = encode_credential(other.credential or {})
    refused(whoami(op, headers), 401, "token-invalid")


def test_credential_without_binding_claim(op: OperatorUnderTest, member: Party) -> None:
    headers = member.headers(op.did, op.clock, with_credential=False)
    headers[CREDENTIAL_HEADER] = encode_credential(member.credential or {})
    refused(whoami(op, headers), 401, "token-invalid")


def test_credential_header_not_base64_or_not_json(op: OperatorUnderTest, member: Party) -> None:
    for raw in ("!!!", base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("=")):
        token = issue_token(member.key, issuer=member.did, verification_method=f"{member.did}#{member.did[8:]}",
                            audience=op.did, now=op.clock.now(), credential_header=raw if raw != "!!!" else "AA")
        response = whoami(op, {**bearer(token), CREDENTIAL_HEADER: raw})
        assert response.status_code == 401
        assert response.json()["field"] == CREDENTIAL_HEADER


def test_refused_token_is_not_remembered(op: OperatorUnderTest, member: Party) -> None:
    headers = member.headers("did:web:elsewhere.example", op.clock)
    refused(whoami(op, headers), 401, "token-wrong-audience")
    assert whoami(op, member.headers(op.did, op.clock)).status_code == 200


def test_auth_failures_are_counted(op: OperatorUnderTest, member: Party) -> None:
    whoami(op, member.headers("did:web:elsewhere.example", op.clock))
    metrics = op.client.get("/metrics").text
    assert 'trustspace_auth_failures_total{reason="token-wrong-audience",service="operator"} 1.0' in metrics
