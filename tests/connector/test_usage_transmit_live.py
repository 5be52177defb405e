"""policyTransmit across two live connectors: the consumer exports data it received under an agreement with the
duty, then tries to offer the export under a weaker policy; its own connector refuses the offer."""

from __future__ import annotations

from pathlib import Path

from test_dsp_flow import negotiate, publish, wait_state

from conftest import LiveSpace

PURPOSE = {"leftOperand": "purpose", "operator": "eq", "rightOperand": "credit assessment"}
TERMS = {"permission": [{"action": "use", "constraint": [PURPOSE], "duty": [{"action": "policyTransmit"}]}],
         "prohibition": [{"action": "sell"}]}


def test_a_derived_dataset_republished_without_its_policy_is_refused(live_space: LiveSpace, tmp_path: Path) -> None:
    provider, consumer = live_space.connectors["provider"], live_space.connectors["consumer"]
    source = tmp_path / "rows.csv"
    source.write_text("taxpayer,income\nA,1\nB,2\n")
    publish(provider, "rows", {"type": "file", "path": str(source)}, TERMS)
    agreement = negotiate(live_space, "rows")
    assert agreement["state"] == "FINALIZED", agreement
    started = consumer.ok("POST", "/v1/management/transfers",
                          json={"agreementId": agreement["agreementId"], "transferType": "HttpData-PULL"})
    assert wait_state(consumer, f"/v1/management/transfers/{started['id']}", {"COMPLETED", "TERMINATED"})[
        "state"] == "COMPLETED"
    export = consumer.manage("POST", "/v1/usage/export", json={
        "agreementId": agreement["agreementId"], "purpose": "credit assessment", "application": "tests"})
    assert export.status_code == 200, export.text
    derived = tmp_path / "derived.csv"
    derived.write_bytes(export.content)

    consumer.ok("POST", "/v1/management/assets", json={"id": "derived", "title": "derived",
                                                       "dataAddress": {"type": "file", "path": str(derived)}})
    consumer.ok("POST", "/v1/management/policies", json={"id": "weaker", "policy": {
        "permission": [{"action": "use"}]}})
    refused = consumer.manage("POST", "/v1/management/offers", json={"id": "o1", "assetId": "derived",
                                                                     "policyId": "weaker"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"].startswith("policy-not-transmitted") and "sell" in refused.json()["detail"]
    consumer.ok("POST", "/v1/management/policies", json={"id": "same", "policy": TERMS})
    consumer.ok("POST", "/v1/management/offers", json={"id": "o2", "assetId": "derived", "policyId": "same"})
    assert [o["id"] for o in consumer.ok("GET", "/v1/management/offers")] == ["o2"]
