"""A foreign consumer (tests/connector/foreign_peer.py) against our provider: it discovers our <base> from our
version metadata, negotiates to FINALIZED with its own pids and callback path, starts a pull transfer, pulls
from our data plane with the DataAddress we sent, and completes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from foreign_peer import ForeignPeer
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
