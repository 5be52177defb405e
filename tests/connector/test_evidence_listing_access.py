"""Product listings and data-plane access decisions reach the operator's ledger, signed by the connector that
made them: one listing per published offer, a permit for every pull and push admitted, a deny for a token that
is expired, for another transfer, or for a transfer that has ended."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from test_dsp_flow import negotiate, publish, wait_state
from test_evidence_flow import drained

from conftest import LiveSpace, Node
from trustspace.connector.dataplane.tokens import issue_access_token, read_data_address
from trustspace.connector.evidence import listing_document
from trustspace.core.canonical import canonicalize
from trustspace.ledger.statements import digest_payload, verify_statement


def entries(space: LiveSpace, **query: str) -> list[dict[str, Any]]:
    found = space.admin("GET", "/v1/ledger/entries", params={"limit": 1000, **query}).json()["entries"]
    return [e["entry"] for e in found]


def transfer(consumer: Node, agreement: str, kind: str) -> dict[str, Any]:
    started = consumer.ok("POST", "/v1/management/transfers", json={"agreementId": agreement, "transferType": kind})
    done = wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED", "TERMINATED"})
    assert done["state"] == "COMPLETED", done
    return done


def test_listings_and_access_decisions_reach_the_ledger(live_space: LiveSpace, tmp_path: Path) -> None:
    provider, consumer = live_space.connectors["provider"], live_space.connectors["consumer"]
    (tmp_path / "f").write_bytes(b"listed" * 1000)
    publish(provider, "la-asset", {"type": "file", "path": str(tmp_path / "f")})
    agreement = negotiate(live_space, "la-asset")["agreementId"]
    pulled = transfer(consumer, agreement, "HttpData-PULL")
    pushed = transfer(consumer, agreement, "HttpData-PUSH")

    # The pull's own token, now that the transfer has ended; one expired; one for another transfer.
    plane = provider.app.state.dsp.data_plane
    endpoint, token = read_data_address(pulled["dataAddress"])
    old = issue_access_token(plane.key, issuer=plane.did, audience=consumer.app.state.did,
                             transfer_id=pulled["providerPid"], agreement_id=agreement,
                             now=plane.clock.now() - timedelta(hours=2), lifetime=600)
    foreign = issue_access_token(plane.key, issuer=plane.did, audience=consumer.app.state.did,
                                 transfer_id="elsewhere", agreement_id=agreement, now=plane.clock.now())
    for bearer, status in ((token, 403), (old, 401), (foreign, 401)):
        assert httpx.get(endpoint, headers={"Authorization": f"Bearer {bearer}"}).status_code == status
    drained(live_space)

    provider_did, consumer_did = provider.app.state.did, consumer.app.state.did
    store = provider.app.state.dsp.store
    [listing] = [e for e in entries(live_space) if e["type"] == "product-listing"]
    statement = verify_statement(listing, lambda _: plane.key.public)
    offer = store.get_offer("la-asset-o")
    document = listing_document(offer, store.get_asset("la-asset"), store.get_policy("la-asset-p"), provider_did)
    assert statement.submitter == provider_did and statement.subjects.product == "la-asset"
    assert statement.payload_digest == digest_payload(canonicalize(document))
    assert statement.details == {"offer": "la-asset-o", "policy": "la-asset-p"}
    assert provider.ok("GET", "/v1/management/ledger/receipts", params={"processId": "listing:la-asset-o"})

    served = [(e["submitter"], e["details"]["decision"], e["details"]["reason"])
              for e in entries(live_space, process=pulled["providerPid"]) if e["type"] == "access-decision"]
    assert served[0] == (provider_did, "permit", "transfer-started")
    assert [s for s in served if s[1] == "deny"] == [(provider_did, "deny", "transfer-ended"),
                                                     (provider_did, "deny", "data-token-expired"),
                                                     (provider_did, "deny", "data-token-foreign")]
    admitted = [e for e in entries(live_space, process=pushed["id"]) if e["type"] == "access-decision"]
    assert [(e["submitter"], e["details"]["decision"], e["details"]["method"]) for e in admitted] == [
        (consumer_did, "permit", "PUT")]
    assert all(token not in str(e) and old not in str(e) for e in entries(live_space))
