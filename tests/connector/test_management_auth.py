"""A refused management call says what this service wants (issue 15, finding 10): the connector's management key
in X-API-Key, not a bearer token, and not the operator's administrator key."""

from __future__ import annotations

import httpx

from conftest import LiveSpace


def test_a_bad_management_key_is_told_what_this_service_wants(live_space: LiveSpace) -> None:
    provider = live_space.connectors["provider"]
    for headers in ({"X-API-Key": "wrong"}, {}):
        answer = httpx.get(provider.url + "/v1/management/assets", headers=headers, timeout=10)
        assert answer.status_code == 401
        assert "management key" in answer.json()["detail"] and "administrator" not in answer.json()["detail"]
        assert not answer.headers["www-authenticate"].startswith("Bearer")
        assert "X-API-Key" in answer.headers["www-authenticate"]


def test_a_bad_administrator_key_at_the_operator_names_the_administrator_key(live_space: LiveSpace) -> None:
    answer = httpx.get(live_space.operator.url + "/v1/members", headers={"X-API-Key": "wrong"}, timeout=10)
    assert answer.status_code == 401
    assert "administrator key" in answer.json()["detail"]
    assert "X-API-Key" in answer.headers["www-authenticate"]
