"""The p99 that usage enforcement adds to a data-plane pull (issue 11: target <= 2 ms), measured in the same run
against the same request without enforcement.

Two data-plane apps in one process, the same file (4 KiB), the same gate, the same token check: one without a
usage gate, one with the connector's ``UsageEnforcer`` over a counter store (SQLite in a file, as a connector
has by default; and PostgreSQL when it is reachable). Requests go through FastAPI's TestClient (ASGI in
process, no sockets, so the HTTP stack's noise is as small as it gets) and alternate between the two apps so a
busy moment hits both alike. The agreement has five constraints the data plane decides on every pull (count,
frequency per minute, time window, network address, data size), each satisfied: every pull is a permit that is
counted, the path that writes. Besides the two p99s, the enforcement step itself is timed inside each request.

Two configurations: ``connector``, as the connector runs, with evidence: both apps record every permit through
the connector's store on the same database (without enforcement in a transaction of its own; with it, in the
transaction that counts the use); and ``bare``, without evidence, where enforcement's commit is all extra.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _space import BenchSkip, cores, load_average, percentile, postgres_databases
from fastapi import FastAPI
from fastapi.testclient import TestClient

from trustspace.connector.dataplane.decisions import AccessRecorder, JoinedPermit
from trustspace.connector.dataplane.gate import Asked, InMemoryGate
from trustspace.connector.dataplane.server import data_router
from trustspace.connector.dataplane.sources import FileSource, Prepared
from trustspace.connector.dataplane.tokens import AccessClaims, issue_access_token
from trustspace.connector.enforcement import UsageEnforcer
from trustspace.connector.evidence import EvidenceRecorder, EvidencingDspStore
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.store.db import open_database
from trustspace.store.dsp.records import Agreement, TransferRecord
from trustspace.store.usage.counter_sql import SqlUsageCounters
from trustspace.web.problems import install_problem_handlers

N = int(os.environ.get("BENCH_N", "3000"))
PROVIDER, CONSUMER, ASSET, AGREEMENT, TRANSFER = ("did:web:tax.example", "did:web:bank.example",
                                                  "urn:dataset:tax-2025", "urn:agreement:bench", "urn:transfer:bench")
NOW = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)
DOCUMENT = {
    "@type": "Agreement", "@id": AGREEMENT, "assigner": PROVIDER, "assignee": CONSUMER, "target": ASSET,
    "permission": [{"action": "read", "constraint": [
        {"leftOperand": "tc609:count", "operator": "lteq", "rightOperand": 1_000_000_000},
        {"leftOperand": "tc609:frequency", "operator": "lteq", "rightOperand": 1_000_000_000, "unit": "minute"},
        {"leftOperand": "tc609:time", "operator": "isPartOf",
         "rightOperand": "2026-05-01T00:00:00Z/2026-05-08T00:00:00Z"},
        {"leftOperand": "tc609:networkAddress", "operator": "isPartOf", "rightOperand": "10.20.0.0/16"},
        {"leftOperand": "tc609:dataSize", "operator": "lteq", "rightOperand": 1000, "unit": "GB"}]}],
}


class Timed:
    """The enforcer, with the time of each of its decisions kept: the part of a request enforcement adds."""

    def __init__(self, inner: UsageEnforcer) -> None:
        self.inner, self.times = inner, []  # type: list[float]

    def enforce(self, transfer_id: str, claims: AccessClaims, prepared: Prepared, asked: Asked,
                permit: JoinedPermit | None = None) -> bool:
        started = time.perf_counter()
        joined = self.inner.enforce(transfer_id, claims, prepared, asked, permit)
        self.times.append((time.perf_counter() - started) * 1000)
        return joined


class Agreements:
    def get_agreement(self, agreement_id: str) -> Agreement | None:
        return Agreement(AGREEMENT, "n", ASSET, PROVIDER, CONSUMER, DOCUMENT, NOW)

    def get_transfer(self, transfer_id: str) -> TransferRecord | None:
        return TransferRecord(transfer_id, "provider", "STARTED", "c", transfer_id, AGREEMENT, CONSUMER, "http://c",
                              "HttpData-PULL", NOW, NOW, details={"assetId": ASSET, "context": {"roles": []}})


@contextmanager
def clients(url: str, folder: Path, evidence: bool) -> Iterator[tuple[TestClient, TestClient, str, Timed]]:
    key, clock, gate = SigningKey.generate(), FixedClock(NOW), InMemoryGate()
    file = folder / "data.bin"
    file.write_bytes(os.urandom(4096))
    gate.start(TRANSFER, AGREEMENT, FileSource(file))
    db = open_database("connector", url)
    enforcer = Timed(UsageEnforcer(Agreements(), SqlUsageCounters(db), clock))
    recorder = None
    if evidence:
        store = EvidencingDspStore(db, EvidenceRecorder(key, PROVIDER, f"{PROVIDER}#key-1", "http://operator.example",
                                                        "did:web:operator.example", clock))
        recorder = AccessRecorder(store, clock)
    apps = []
    for usage in (None, enforcer):
        app = FastAPI()
        install_problem_handlers(app)
        app.include_router(data_router(gate, key.public, clock, usage=usage, decisions=recorder))
        apps.append(app)
    token = issue_access_token(key, issuer=PROVIDER, audience=CONSUMER, transfer_id=TRANSFER, agreement_id=AGREEMENT,
                               now=NOW, lifetime=3600)
    with ExitStack() as stack:
        plain, enforced = (stack.enter_context(TestClient(app, client=("10.20.3.4", 40000))) for app in apps)
        yield plain, enforced, token, enforcer
    db.dispose()


def timed(client: TestClient, token: str) -> float:
    started = time.perf_counter()
    response = client.get(f"/data/{TRANSFER}", headers={"Authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"pull answered {response.status_code}: {response.text[:300]}")
    return elapsed * 1000


def measure(url: str, folder: Path, evidence: bool) -> dict[str, Any]:
    with clients(url, folder, evidence) as (plain, enforced, token, enforcer):
        for _ in range(200):  # warm up: caches, connection pools, the compiled policy
            timed(plain, token), timed(enforced, token)
        enforcer.times.clear()
        without, with_ = [], []
        for _ in range(N):
            without.append(timed(plain, token))
            with_.append(timed(enforced, token))
    p50 = (percentile(without, 50), percentile(with_, 50))
    p99 = (percentile(without, 99), percentile(with_, 99))
    return {"p50_without_ms": round(p50[0], 3), "p50_with_ms": round(p50[1], 3),
            "p99_without_ms": round(p99[0], 3), "p99_with_ms": round(p99[1], 3),
            "added_p50_ms": round(p50[1] - p50[0], 3), "added_p99_ms": round(p99[1] - p99[0], 3),
            "step_p50_ms": round(percentile(enforcer.times, 50), 3),
            "step_p99_ms": round(percentile(enforcer.times, 99), 3)}


def main() -> None:
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for evidence in (True, False):
            kind = "connector" if evidence else "bare"
            results[f"{kind}_sqlite"] = measure(f"sqlite:///{folder}/provider-{kind}.db", Path(folder), evidence)
        try:
            with postgres_databases(2) as urls:
                for evidence, url in zip((True, False), urls, strict=True):
                    kind = "connector" if evidence else "bare"
                    results[f"{kind}_postgresql"] = measure(url, Path(folder), evidence)
        except BenchSkip as skip:
            print(f"PostgreSQL skipped: {skip}")
    print(f"cores: {cores()}, load average {load_average()}, N={N} pulls each way, 4 KiB file")
    for name, r in results.items():
        print(f"{name}: p50 {r['p50_without_ms']:.3f} -> {r['p50_with_ms']:.3f} ms (+{r['added_p50_ms']:.3f}); "
              f"p99 {r['p99_without_ms']:.3f} -> {r['p99_with_ms']:.3f} ms (+{r['added_p99_ms']:.3f}); "
              f"the enforcement step alone p50 {r['step_p50_ms']:.3f}, p99 {r['step_p99_ms']:.3f} ms")
    sqlite = results["connector_sqlite"]
    print(json.dumps({"bench": "enforcement", "value": sqlite["added_p99_ms"], "unit": "ms added at p99",
                      "baseline": sqlite["p99_without_ms"],
                      "ratio": round(sqlite["p99_with_ms"] / sqlite["p99_without_ms"], 3), "cores": cores(),
                      **{f"{name}_{k}": v for name, r in results.items() for k, v in r.items()}}))


if __name__ == "__main__":
    main()
