"""What a member or an owner can send that once broke a connector for good (issue 15, findings 2 and 6): deeply
nested JSON, ``null`` protocol messages, and data stored before the limits existed."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from conftest import LiveSpace
from trustspace.store.dsp.records import Asset
from trustspace.web.jsondepth import MAX_JSON_DEPTH, DepthScanner


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_body_nested_400_deep_is_refused_naming_the_limit(live_space: LiveSpace) -> None:
    provider = live_space.connectors["provider"]
    answer = provider.manage("POST", "/v1/management/assets", json={
        "title": "deep", "dataAddress": {"type": "http", "baseUrl": "https://example.org"},
        "properties": nested(400)})
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"].endswith("body-too-deep") and str(MAX_JSON_DEPTH) in answer.json()["detail"]
    assert "deep" not in provider.manage("GET", "/v1/management/assets").text


def test_a_deep_protocol_message_gets_the_dsp_error_body(live_space: LiveSpace) -> None:
    consumer = live_space.connectors["consumer"]
    answer = httpx.post(consumer.url + "/dsp/negotiations/request", timeout=10,
                        content=json.dumps({"offer": nested(400)}), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["@type"] == "ContractNegotiationError"


def test_listings_survive_deep_data_stored_before_the_limit(live_space: LiveSpace) -> None:
    provider = live_space.connectors["provider"]
    store = provider.app.state.dsp.store
    store.add_asset(Asset("deep-asset", "deep", "", {"type": "http", "baseUrl": "https://example.org"},
                          {"nested": nested(400)}, datetime.now(UTC)))
    answer = provider.manage("GET", "/v1/management/assets")
    assert answer.status_code == 200 and "deep-asset" in answer.text


@pytest.mark.parametrize("path", ["/dsp/negotiations/some-pid/events", "/dsp/callback/negotiations/some-pid/events",
                                  "/dsp/transfers/some-pid/start"])
def test_a_null_protocol_message_is_a_400_not_a_500(live_space: LiveSpace, path: str) -> None:
    consumer, provider = live_space.connectors["consumer"], live_space.connectors["provider"]
    signer = consumer.app.state.dsp.worker.signer
    answer = httpx.post(provider.url + path, content="null", timeout=10,
                        headers={"Content-Type": "application/json", **signer.headers(provider.app.state.did)})
    assert answer.status_code == 400, answer.text
    assert answer.json()["@type"].endswith("Error")


def test_the_depth_scanner_ignores_brackets_in_strings_and_escapes_across_chunks() -> None:
    scanner = DepthScanner(2)
    assert scanner.feed(b'{"a": "[[[[\\') and scanner.feed(b'"]]]]", "b": [1]}')
    assert not DepthScanner(2).feed(b'{"a": [[1]]}')


def test_an_unexpected_error_is_one_log_line_with_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    from trustspace.web.problems import internal_error

    caplog.set_level(logging.ERROR, logger="trustspace.web")
    internal_error("GET", "/x", RecursionError("maximum recursion depth exceeded\n" * 3000))
    lines = [r for r in caplog.records if r.name == "trustspace.web"]
    assert len(lines) == 1 and "\n" not in lines[0].getMessage() and lines[0].exc_info is None


def test_the_connectors_push_inbox_has_a_size_limit(live_space: LiveSpace) -> None:
    """Decision 0007: the inbox enforces its own limit (the request guard exempts it); it was built without one."""
    from trustspace.connector.settings import ConnectorSettings

    consumer = live_space.connectors["consumer"]
    inbox = consumer.app.state.dsp.data_plane.inbox
    assert inbox.max_bytes == ConnectorSettings.inbox_max_bytes
    assert inbox.max_bytes is not None and inbox.max_bytes > 0
