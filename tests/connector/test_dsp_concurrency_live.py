"""Many negotiations at once between the same two live connectors: each one finishes, each on its own."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from test_dsp_flow import publish

from conftest import LiveSpace

COUNT = 50


def test_fifty_negotiations_started_at_once_all_finalize_with_distinct_agreements(
    live_space: LiveSpace, tmp_path: Path
) -> None:
    provider, consumer = live_space.connectors["provider"], live_space.connectors["consumer"]
    (tmp_path / "data").write_text("many at once")
    publish(provider, "many", {"type": "file", "path": str(tmp_path / "data")})
    catalog = consumer.ok("POST", "/v1/management/catalog/request", json={"providerUrl": provider.url})
    offer = next(d for d in catalog["dataset"] if d["@id"] == "many")["hasPolicy"][0]

    def start(_: int) -> str:
        body = {"providerUrl": provider.url, "offer": offer, "datasetId": "many"}
        return str(consumer.ok("POST", "/v1/management/negotiations", json=body)["id"])

    with ThreadPoolExecutor(COUNT) as pool:
        ids = list(pool.map(start, range(COUNT)))
    assert len(set(ids)) == COUNT

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        mine = [n for n in consumer.ok("GET", "/v1/management/negotiations") if n["id"] in ids]
        if all(n["state"] in ("FINALIZED", "TERMINATED") for n in mine):
            break
        time.sleep(0.2)
    states = {n["id"]: (n["state"], n["reason"]) for n in mine}
    assert all(state == "FINALIZED" for state, _ in states.values()), states

    theirs = provider.ok("GET", "/v1/management/negotiations")
    assert sorted(n["consumerPid"] for n in theirs) == sorted(ids)
    assert all(n["state"] == "FINALIZED" for n in theirs), [(n["state"], n["reason"]) for n in theirs]
    agreements = {n["agreementId"] for n in mine}
    assert len(agreements) == COUNT and None not in agreements
    assert {a["id"] for a in consumer.ok("GET", "/v1/management/agreements")} == agreements
    assert {a["id"] for a in provider.ok("GET", "/v1/management/agreements")} == agreements
    assert {a["negotiationId"] for a in consumer.ok("GET", "/v1/management/agreements")} == set(ids)
