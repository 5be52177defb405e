"""Connector registry (register, heartbeat, health, deregister) and logical spaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator import OperatorUnderTest, Party, operator


@pytest.fixture
def op(tmp_path: Path) -> Iterator[OperatorUnderTest]:
    with operator(tmp_path / "operator") as running:
        yield running


def test_connector_lifecycle_and_health(op: OperatorUnderTest) -> None:
    grid = Party("电网公司")
    op.admit(grid)
    headers = lambda: grid.headers(op.did, op.clock)  # noqa: E731 - a fresh token per request
    created = op.client.post("/v1/connectors", json={"url": "http://127.0.0.1:8501/"}, headers=headers())
    assert created.status_code == 201
    connector = created.json()
    assert connector["health"] == "healthy" and connector["url"] == "http://127.0.0.1:8501"
    again = op.client.post("/v1/connectors", json={"url": "http://127.0.0.1:8501"}, headers=headers())
    assert again.json()["id"] == connector["id"], "re-registering the same URL is a restart"

    op.clock.advance(25)  # more than 2 heartbeat intervals of 10 s
    assert op.client.get(f"/v1/connectors/{connector['id']}", headers=op.admin).json()["health"] == "late"
    op.clock.advance(60)
    assert op.client.get(f"/v1/connectors/{connector['id']}", headers=op.admin).json()["health"] == "gone"
    beat = op.client.post(f"/v1/connectors/{connector['id']}/heartbeat", headers=headers())
    assert beat.json()["health"] == "healthy"

    removed = op.client.delete(f"/v1/connectors/{connector['id']}", headers=headers())
    assert removed.json()["health"] == "gone"
    late_beat = op.client.post(f"/v1/connectors/{connector['id']}/heartbeat", headers=headers())
    assert late_beat.status_code == 409


def test_only_the_owner_heartbeats_its_connector(op: OperatorUnderTest) -> None:
    owner, other = Party("owner"), Party("other")
    op.admit(owner)
    op.admit(other)
    connector = op.client.post("/v1/connectors", json={"url": "http://127.0.0.1:8502"},
                               headers=owner.headers(op.did, op.clock)).json()
    stolen = op.client.post(f"/v1/connectors/{connector['id']}/heartbeat", headers=other.headers(op.did, op.clock))
    assert stolen.status_code == 404
    listing = op.client.get("/v1/connectors", headers=other.headers(op.did, op.clock))
    assert [c["id"] for c in listing.json()] == [connector["id"]]


def test_registration_needs_membership_and_a_url(op: OperatorUnderTest) -> None:
    stranger = Party("stranger")
    response = op.client.post("/v1/connectors", json={"url": "http://127.0.0.1:1"},
                              headers=stranger.headers(op.did, op.clock, with_credential=False))
    assert response.status_code == 403
    member = Party("m")
    op.admit(member)
    bad = op.client.post("/v1/connectors", json={"url": "ftp://x"}, headers=member.headers(op.did, op.clock))
    assert bad.status_code == 422 and bad.json()["field"] == "url"
    assert op.client.get("/v1/connectors", headers=op.admin).json() == []


def test_logical_spaces(op: OperatorUnderTest) -> None:
    member = Party("m")
    op.admit(member)
    created = op.client.post("/v1/spaces", json={"name": "金融数据空间", "description": "credit"}, headers=op.admin)
    assert created.status_code == 201
    space = created.json()
    duplicate = op.client.post("/v1/spaces", json={"name": "金融数据空间"}, headers=op.admin)
    assert duplicate.status_code == 409
    added = op.client.post(f"/v1/spaces/{space['id']}/members", json={"did": member.did}, headers=op.admin)
    assert added.json()["members"] == [member.did]
    twice = op.client.post(f"/v1/spaces/{space['id']}/members", json={"did": member.did}, headers=op.admin)
    assert twice.status_code == 409
    outsider = op.client.post(f"/v1/spaces/{space['id']}/members", json={"did": Party("x").did}, headers=op.admin)
    assert outsider.status_code == 409 and outsider.json()["field"] == "did"
    listing = op.client.get("/v1/spaces", headers=member.headers(op.did, op.clock))
    assert [s["name"] for s in listing.json()] == ["金融数据空间"]
    assert op.client.get("/v1/spaces/space_missing", headers=op.admin).status_code == 404


def test_service_endpoints(op: OperatorUnderTest) -> None:
    assert op.client.get("/healthz").json()["status"] == "ok"
    assert op.client.get("/readyz").json()["status"] == "ready"
    did = op.client.get("/.well-known/did.json")
    assert did.json()["id"] == op.did and did.headers["content-type"].startswith("application/did+json")
    response = op.client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len(op.client.get("/healthz").headers["x-request-id"]) == 16
    assert "trustspace_http_requests_total" in op.client.get("/metrics").text
    missing = op.client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["type"] == "urn:trustspace:problem:not-found"
