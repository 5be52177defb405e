"""Our consumer against a foreign provider (tests/connector/foreign_peer.py): other paths, other ids, its own
pids and data endpoint. Catalog, negotiation to FINALIZED, pull transfer to COMPLETED with the data checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from foreign_peer import DATA, ForeignPeer
from test_dsp_flow import wait_state

from conftest import LiveSpace, Node, start_space
from live import free_port, serve, wait_until
from trustspace.core.ids import credit_code_check_char
from trustspace.identity.did import did_web


def foreign(space: LiveSpace, stack: ExitStack, path: str) -> ForeignPeer:
    port = free_port()
    peer = ForeignPeer(port, path)
    stack.enter_context(serve(peer.app, port))  # type: ignore[arg-type]

    def approve(application_id: str) -> None:
        answer = space.admin("POST", f"/v1/membership/applications/{application_id}/approve")
        assert answer.status_code == 200, answer.text

    first17 = "9133010" + f"{port % 10**10:010d}"
    peer.join(space.operator.url, did_web(space.operator.url), first17 + credit_code_check_char(first17), approve)
    return peer


@pytest.fixture(params=["/api/v1/dsp", "/"], ids=["base-under-api-v1-dsp", "base-at-root"])
def with_foreign(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveSpace, ForeignPeer]]:
    with ExitStack() as stack:
        space = start_space(tmp_path, ("consumer", "other"), stack)
        yield space, foreign(space, stack, request.param)


def negotiate(consumer: Node, peer: ForeignPeer, **where: str) -> dict[str, Any]:
    return wait_state(consumer, f"/v1/management/negotiations/{start(consumer, peer, **where)}",
                      {"FINALIZED", "TERMINATED"})


def start(consumer: Node, peer: ForeignPeer, **where: str) -> str:
    catalog = consumer.ok("POST", "/v1/management/catalog/request", json={**where, "counterPartyId": peer.did})
    assert catalog["participantId"] == peer.did
    offer = catalog["dataset"][0]["hasPolicy"][0]
    started = consumer.ok("POST", "/v1/management/negotiations",
                          json={**where, "offer": offer, "datasetId": "acme-ds-1"})
    assert started["counterParty"] == peer.did  # from the offer's assigner, not from the URL
    return str(started["id"])


def test_consumer_negotiates_and_pulls_from_a_foreign_provider_at_its_discovered_base(
        with_foreign: tuple[LiveSpace, ForeignPeer]) -> None:
    space, peer = with_foreign
    consumer = space.connectors["consumer"]
    negotiation = negotiate(consumer, peer, providerUrl=peer.root)
    assert negotiation["state"] == "FINALIZED", negotiation
    assert negotiation["counterPartyAddress"] == peer.base
    assert negotiation["providerPid"].startswith("acme-neg-")
    started = consumer.ok("POST", "/v1/management/transfers",
                          json={"agreementId": negotiation["agreementId"], "transferType": "HttpData-PULL"})
    transfer = wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED", "TERMINATED"})
    assert transfer["state"] == "COMPLETED", transfer
    assert consumer.received(transfer) == DATA
    assert transfer["details"]["verified"] is False  # the foreign data plane announced no digest
    wait_until(lambda: peer.processes[transfer["providerPid"]].state == "COMPLETED", timeout=10)


def test_consumer_reaches_a_foreign_provider_at_a_base_given_directly(
        with_foreign: tuple[LiveSpace, ForeignPeer]) -> None:
    space, peer = with_foreign
    negotiation = negotiate(space.connectors["consumer"], peer, counterPartyAddress=peer.base)
    assert negotiation["state"] == "FINALIZED", negotiation


def test_a_provider_that_moves_its_endpoints_mid_negotiation_is_followed(tmp_path: Path) -> None:
    with ExitStack() as stack:
        space = start_space(tmp_path, ("consumer",), stack)
        peer = foreign(space, stack, "/api/v1/dsp")
        peer.move_to = "/api/v2/dsp"  # after our request: our verification finds the old base gone (404)
        consumer = space.connectors["consumer"]
        negotiation = negotiate(consumer, peer, providerUrl=peer.root)
        assert negotiation["state"] == "FINALIZED", negotiation
        assert negotiation["counterPartyAddress"] == peer.root + "/api/v2/dsp"
        history = consumer.manage("GET", "/v1/management/events",
                                  params={"processId": negotiation["id"], "follow": "false"}).text
        assert "endpoints moved from" in history, history


def test_a_data_endpoint_answering_301_is_tried_a_bounded_number_of_times_then_the_transfer_ends(
        tmp_path: Path) -> None:
    with ExitStack() as stack:
        space = start_space(tmp_path, ("consumer",), stack)
        peer = foreign(space, stack, "/api/v1/dsp")
        peer.data_redirect = "http://127.0.0.1:9/elsewhere"  # never followed: the token would go along
        consumer = space.connectors["consumer"]
        negotiation = negotiate(consumer, peer, providerUrl=peer.root)
        started = consumer.ok("POST", "/v1/management/transfers",
                              json={"agreementId": negotiation["agreementId"], "transferType": "HttpData-PULL"})
        transfer = wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED", "TERMINATED"},
                              timeout=60)
        assert transfer["state"] == "TERMINATED", transfer
        assert "301" in transfer["reason"], transfer
        assert peer.data_requests == 5  # worker.MAX_DATA_ATTEMPTS, 1, 2, 4 and 8 s apart: not every 2 s for 10 min
        wait_until(lambda: peer.processes[transfer["providerPid"]].state == "TERMINATED", timeout=10)


def test_a_tampered_agreement_whose_rules_differ_from_the_offer_is_refused(
        with_foreign: tuple[LiveSpace, ForeignPeer]) -> None:
    space, peer = with_foreign
    peer.agreement_terms = {"permission": [{"action": "use"}, {"action": "distribute"}]}
    consumer = space.connectors["consumer"]
    started = start(consumer, peer, providerUrl=peer.root)
    wait_until(lambda: any(status == 400 and "differ from the offer" in text for _, status, text in peer.refusals),
               timeout=10)
    process = consumer.ok("GET", f"/v1/management/negotiations/{started}")
    assert process["state"] == "REQUESTED" and not process.get("agreementId"), process
    assert consumer.ok("GET", "/v1/management/agreements") == []


@pytest.mark.parametrize("party", ["assigner", "assignee"])
def test_agreement_whose_assigner_is_not_the_catalogs_participant_is_refused(
        with_foreign: tuple[LiveSpace, ForeignPeer], party: str) -> None:
    space, peer = with_foreign
    consumer = space.connectors["consumer"]
    setattr(peer, party, did_web(space.connectors["other"].url))
    negotiation_id = start(consumer, peer, providerUrl=peer.root)
    wait_until(lambda: any(url.endswith("/agreement") for url, _, _ in peer.refusals), timeout=10)
    _, status, body = next(r for r in peer.refusals if r[0].endswith("/agreement"))
    assert status == 400 and f"agreement.{party}" in body
    assert consumer.ok("GET", f"/v1/management/negotiations/{negotiation_id}")["state"] == "REQUESTED"
    assert consumer.ok("GET", "/v1/management/agreements") == []


def test_callback_signed_by_another_member_than_the_counter_party_is_refused_with_404(
        with_foreign: tuple[LiveSpace, ForeignPeer]) -> None:
    space, peer = with_foreign
    consumer, other = space.connectors["consumer"], space.connectors["other"]
    negotiation = negotiate(consumer, peer, providerUrl=peer.root)
    signer = other.app.state.dsp.worker.signer
    body = {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
            "@type": "ContractNegotiationTerminationMessage", "consumerPid": negotiation["consumerPid"],
            "providerPid": negotiation["providerPid"], "code": "x"}
    answer = httpx.post(f"{consumer.url}/dsp/callback/negotiations/{negotiation['consumerPid']}/termination",
                        json=body, headers=signer.headers(did_web(consumer.url)), timeout=10)
    assert answer.status_code == 404, answer.text
    assert answer.json()["@type"] == "ContractNegotiationError"
    assert consumer.ok("GET", f"/v1/management/negotiations/{negotiation['id']}")["state"] == "FINALIZED"
