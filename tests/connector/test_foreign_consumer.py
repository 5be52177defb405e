"""A foreign consumer (tests/connector/foreign_peer.py) against our provider: it discovers our <base> from our
version metadata, negotiates to FINALIZED with its own pids and callback path, starts a pull transfer, pulls
from our data plane with the DataAddress we sent, and completes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from foreign_peer import CALLBACK, ForeignPeer, message
from test_dsp_flow import publish
from test_foreign_provider import foreign

from conftest import LiveSpace, start_space
from live import wait_until
from trustspace.identity.did import did_web


@pytest.fixture
def with_foreign(tmp_path: Path) -> Iterator[tuple[LiveSpace, ForeignPeer]]:
    with ExitStack() as stack:
        space = start_space(tmp_path, ("provider",), stack)
        yield space, foreign(space, stack, "/api/v1/dsp")


def test_foreign_consumer_negotiates_and_pulls_from_our_provider(
        with_foreign: tuple[LiveSpace, ForeignPeer], tmp_path: Path) -> None:
    space, peer = with_foreign
    provider = space.connectors["provider"]
    source = tmp_path / "rows.csv"
    source.write_bytes(b"id,value\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(500)))
    publish(provider, "rows", {"type": "file", "path": str(source)})

    base = peer.discover(provider.url)
    assert base == provider.url + "/dsp"
    provider_id = did_web(provider.url)
    catalog = peer.request_catalog(base, provider_id)
    assert catalog["participantId"] == provider_id
    dataset = next(d for d in catalog["dataset"] if d["@id"] == "rows")
    negotiation = peer.negotiate(base, provider_id, {**dataset["hasPolicy"][0], "target": "rows"})
    wait_until(lambda: negotiation.state in ("FINALIZED", "TERMINATED"), timeout=20)
    assert negotiation.state == "FINALIZED"
    agreement = negotiation.detail["agreement"]
    assert agreement["assignee"] == peer.did and agreement["assigner"] == provider_id
    ours = provider.ok("GET", f"/v1/management/negotiations/{negotiation.their_pid}")
    assert ours["state"] == "FINALIZED" and ours["counterParty"] == peer.did
    assert ours["counterPartyAddress"] == peer.root + "/callbacks/dsp"

    transfer = peer.transfer(base, provider_id, agreement["@id"])
    wait_until(lambda: transfer.pid in peer.received or "pull_error" in transfer.detail, timeout=20)
    assert peer.received[transfer.pid] == source.read_bytes(), transfer.detail
    wait_until(lambda: provider.ok("GET", f"/v1/management/transfers/{transfer.their_pid}")["state"] == "COMPLETED",
               timeout=20)
    wait_until(lambda: transfer.state == "COMPLETED", timeout=10)


def test_a_contract_request_that_quietly_weakens_the_offer_is_refused(
        with_foreign: tuple[LiveSpace, ForeignPeer], tmp_path: Path) -> None:
    space, peer = with_foreign
    provider = space.connectors["provider"]
    source = tmp_path / "rows.csv"
    source.write_bytes(b"id\n1\n")
    purpose = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "credit assessment"}
    publish(provider, "rows", {"type": "file", "path": str(source)},
            {"permission": [{"action": "read", "constraint": [purpose]}], "prohibition": [{"action": "distribute"}]})
    base, provider_id = peer.discover(provider.url), did_web(provider.url)
    offer = next(d for d in peer.request_catalog(base, provider_id)["dataset"] if d["@id"] == "rows")["hasPolicy"][0]
    no_purpose = {**offer, "permission": [{"action": "read"}]}
    no_prohibition = {k: v for k, v in offer.items() if k != "prohibition"}
    for weaker in (no_purpose, no_prohibition):
        answer = httpx.post(f"{base}/negotiations/request", headers=peer.headers(provider_id), timeout=10,
                            json=message("ContractRequestMessage", consumerPid=peer.new_pid("cneg"),
                                         offer={**weaker, "target": "rows"}, callbackAddress=peer.root + CALLBACK))
        assert answer.status_code == 400, answer.text
        assert answer.json()["@type"] == "ContractNegotiationError"
    assert provider.ok("GET", "/v1/management/negotiations") == []
