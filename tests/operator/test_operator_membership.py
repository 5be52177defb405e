"""Membership over HTTP: the happy path, and each attack from the spine issue gets a clear problem and
changes nothing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator import OperatorUnderTest, Party, operator


@pytest.fixture
def op(tmp_path: Path) -> Iterator[OperatorUnderTest]:
    with operator(tmp_path / "operator") as running:
        yield running


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:trustspace:problem:{slug}", body
    assert body["status"] == status and body["detail"]
    return body


def applications(op: OperatorUnderTest) -> list[Any]:
    result: list[Any] = op.client.get("/v1/membership/applications", headers=op.admin).json()
    return result


def test_apply_approve_and_use_credential(op: OperatorUnderTest) -> None:
    bank = Party("城商银行")
    application = op.apply(bank, roles=["consumer", "provider"])
    assert application["status"] == "pending" and application["did"] == bank.did
    approved = op.client.post(f"/v1/membership/applications/{application['id']}/approve", json={"validDays": 30},
                              headers=op.admin).json()
    credential = approved["credential"]
    assert credential["issuer"] == op.did
    assert credential["credentialSubject"]["id"] == bank.did
    assert credential["credentialSubject"]["roles"] == ["consumer", "provider"]
    assert credential["credentialSubject"]["space"] == "test-space"
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    bank.credential = credential
    whoami = op.get("/v1/whoami", bank)
    assert whoami.status_code == 200 and whoami.json()["did"] == bank.did
    own = op.get(f"/v1/membership/applications/{application['id']}", bank, with_credential=False)
    assert own.json()["status"] == "approved"


def test_reject_then_reapply(op: OperatorUnderTest) -> None:
    party = Party("p")
    application = op.apply(party)
    rejected = op.client.post(f"/v1/membership/applications/{application['id']}/reject", json={"reason": "no"},
                              headers=op.admin)
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "no"
    again = op.client.post(f"/v1/membership/applications/{application['id']}/approve", headers=op.admin)
    problem(again, 409, "conflict")
    assert op.apply(party)["status"] == "pending"


def test_duplicate_application_conflicts(op: OperatorUnderTest) -> None:
    party = Party("p")
    op.apply(party)
    body = {"displayName": "p", "creditCode": "91350100M000100Y43", "roles": ["consumer"]}
    response = op.client.post("/v1/membership/applications", json=body,
                              headers=party.headers(op.did, op.clock, with_credential=False))
    problem(response, 409, "conflict")
    assert len(applications(op)) == 1


def test_other_party_cannot_read_an_application(op: OperatorUnderTest) -> None:
    application = op.apply(Party("a"))
    problem(op.get(f"/v1/membership/applications/{application['id']}", Party("b"), with_credential=False),
            404, "not-found")


def test_invalid_credit_code_names_the_field(op: OperatorUnderTest) -> None:
    party = Party("p")
    for code in ("91350100M000100Y44", "9135010OM000100Y43", "short"):
        body = {"displayName": "p", "creditCode": code, "roles": ["consumer"]}
        response = op.client.post("/v1/membership/applications", json=body,
                                  headers=party.headers(op.did, op.clock, with_credential=False))
        assert problem(response, 422, "validation-failed")["field"] == "creditCode"
    assert applications(op) == []


def test_unknown_fields_and_roles_are_refused(op: OperatorUnderTest) -> None:
    party = Party("p")
    for body, field in (
        ({"displayName": "p", "creditCode": "91350100M000100Y43", "roles": ["king"]}, "roles.0"),
        ({"displayName": "p", "creditCode": "91350100M000100Y43", "roles": ["consumer"], "admin": True}, "admin"),
        ({"creditCode": "91350100M000100Y43", "roles": ["consumer"]}, "displayName"),
    ):
        response = op.client.post("/v1/membership/applications", json=body,
                                  headers=party.headers(op.did, op.clock, with_credential=False))
        assert problem(response, 422, "validation-failed")["field"] == field
    assert applications(op) == []


def test_malformed_json_is_400(op: OperatorUnderTest) -> None:
    response = op.client.post("/v1/membership/applications", content=b'{"displayName": ',
                              headers={**Party("p").headers(op.did, op.clock, with_credential=False),
                                       "Content-Type": "application/json"})
    assert problem(response, 400, "malformed-json")["field"] == "body"
    assert applications(op) == []


def test_oversized_body_is_413(op: OperatorUnderTest) -> None:
    big = {"displayName": "x" * (2 * 1024 * 1024), "creditCode": "91350100M000100Y43", "roles": ["consumer"]}
    response = op.client.post("/v1/membership/applications", json=big,
                              headers=Party("p").headers(op.did, op.clock, with_credential=False))
    problem(response, 413, "body-too-large")
    assert applications(op) == []


def test_wrong_content_type_is_415(op: OperatorUnderTest) -> None:
    response = op.client.post("/v1/membership/applications", content=b"displayName=p",
                              headers={**Party("p").headers(op.did, op.clock, with_credential=False),
                                       "Content-Type": "application/x-www-form-urlencoded"})
    assert problem(response, 415, "unsupported-media-type")["field"] == "Content-Type"
    assert applications(op) == []


def test_admin_endpoints_need_the_api_key(op: OperatorUnderTest) -> None:
    application = op.apply(Party("p"))
    for headers in ({}, {"X-API-Key": "tsk_wrong"}):
        response = op.client.post(f"/v1/membership/applications/{application['id']}/approve", headers=headers)
        assert problem(response, 401, "unauthenticated")["field"] == "X-API-Key"
    assert applications(op)[0]["status"] == "pending"


def test_admin_key_is_stored_hashed(op: OperatorUnderTest) -> None:
    key = op.settings.admin_key_path.read_text().strip()
    assert oct(op.settings.admin_key_path.stat().st_mode & 0o777) == "0o600"
    database = (op.settings.data_dir / "operator.db").read_bytes()
    assert key.encode() not in database


def test_revoked_membership_is_refused(op: OperatorUnderTest) -> None:
    party = Party("p")
    op.admit(party)
    assert op.get("/v1/whoami", party).status_code == 200
    revoked = op.client.post("/v1/members/revoke", json={"did": party.did, "reason": "breach"}, headers=op.admin)
    assert revoked.json()["status"] == "revoked"
    problem(op.get("/v1/whoami", party), 403, "credential-revoked")
    status_list = op.client.get("/v1/status-lists/revocation").json()
    assert status_list["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    problem(op.client.post("/v1/members/revoke", json={"did": party.did, "reason": "again"}, headers=op.admin),
            409, "conflict")


def test_membership_needed_for_member_endpoints(op: OperatorUnderTest) -> None:
    problem(op.get("/v1/whoami", Party("stranger"), with_credential=False), 403, "membership-missing")


def test_expired_credential_is_refused(op: OperatorUnderTest) -> None:
    party = Party("p")
    op.admit(party, validDays=1)
    op.clock.advance(2 * 86400)
    problem(op.get("/v1/whoami", party), 403, "credential-expired")


def test_credential_not_yet_valid_is_refused(op: OperatorUnderTest) -> None:
    party = Party("p")
    op.admit(party)
    op.clock.advance(-3600)
    problem(op.get("/v1/whoami", party), 403, "credential-not-yet-valid")


def test_someone_elses_credential_is_refused(op: OperatorUnderTest) -> None:
    owner, thief = Party("owner"), Party("thief")
    op.admit(owner)
    problem(op.get("/v1/whoami", thief, credential=owner.credential), 403, "not-credential-subject")


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def test_tampered_credential_any_field_is_refused(op: OperatorUnderTest) -> None:
    party = Party("p")
    credential = op.admit(party)
    tampered_paths = 0
    for path, value in _leaves(credential):
        if not isinstance(value, str) or (path[-1] == "id" and path[0] == "credentialSubject"):
            continue  # the subject id must stay ours for the subject check not to fire first
        forged = copy.deepcopy(credential)
        target = forged
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value[:-1] + ("A" if value[-1:] != "A" else "B")
        response = op.get("/v1/whoami", party, credential=forged)
        assert response.status_code in (401, 403, 422), (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        tampered_paths += 1
    assert tampered_paths > 10
    assert op.get("/v1/whoami", party).status_code == 200


def test_forged_credential_signed_by_the_member_itself_is_refused(op: OperatorUnderTest) -> None:
    from trustspace.identity import credentials as vc
    from trustspace.identity.did import verification_method_id

    party = Party("p")
    credential = op.admit(party)
    unsigned = {k: v for k, v in credential.items() if k != "proof"}
    unsigned["credentialSubject"] = {**unsigned["credentialSubject"], "roles": ["provider", "consumer"]}
    forged = vc.sign(unsigned, party.key, verification_method_id(party.did), credential["proof"]["created"])
    response = op.get("/v1/whoami", party, credential=forged)
    assert response.status_code in (401, 403)


def test_second_did_under_an_approved_credit_code_is_flagged_and_needs_confirmation(op: OperatorUnderTest) -> None:
    first, second = Party("first"), Party("impostor")
    op.admit(first)
    code = op.client.get("/v1/members", headers=op.admin).json()[0]["creditCode"]
    applied = op.apply(second, code=code)
    assert "warnings" not in applied  # the applicant learns nothing about who else holds the code
    listed = op.client.get(f"/v1/membership/applications/{applied['id']}", headers=op.admin).json()
    assert first.did in listed["warnings"][0]
    refused = op.client.post(f"/v1/membership/applications/{applied['id']}/approve", headers=op.admin)
    assert refused.status_code == 409 and refused.json()["field"] == "confirm"
    assert op.client.get(f"/v1/membership/applications/{applied['id']}", headers=op.admin).json()["status"] == \
        "pending"
    confirmed = op.client.post(f"/v1/membership/applications/{applied['id']}/approve", headers=op.admin,
                               json={"confirm": True})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "approved"
