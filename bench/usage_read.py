"""The p99 that usage control adds to a consumer's usage-API read (issue 11), measured in the same run.

A 64 KiB item sealed in the protected store under an agreement with a purpose, a validity window and a
notify-on-use duty (the store's own SQLite file, as a connector has it). Baseline: decrypting and reading the
item straight from the vault, no decision. Measured: ``UsageService.use`` as the usage API calls it: the ODRL
guard's decision in the transaction that locks the agreement and logs the use, the notice queued for the
ledger, then the same decryption. The figure is the difference of the two p99s, in milliseconds.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from trustspace.connector.evidence import EvidenceRecorder
from trustspace.connector.usage.assembly import build_usage
from trustspace.connector.usage.service import UsageAsk
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.store.db import open_database
from trustspace.store.dsp.records import Agreement

N = int(os.environ.get("BENCH_N", "2000"))
DID = "did:web:bank.example"
START = datetime(2027, 1, 2, 9, 0, tzinfo=UTC)
POLICY = {"@id": "agr-bench", "@type": "Agreement", "target": "tax", "assigner": "did:web:tax.example",
          "assignee": DID, "permission": [{"action": "use", "constraint": [
              {"leftOperand": "purpose", "operator": "eq", "rightOperand": "credit assessment"},
              {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2027-01-09T00:00:00Z"}],
              "duty": [{"action": "inform"}]}]}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(run: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-usage-"))
    db = open_database("connector", f"sqlite:///{folder / 'connector.db'}")
    key, clock = SigningKey.generate(), FixedClock(START)
    agreement = Agreement("agr-bench", "neg-bench", "tax", "did:web:tax.example", DID, POLICY, START)
    recorder = EvidenceRecorder(key, DID, f"{DID}#key-1", "http://operator.example", "did:web:operator.example",
                                clock)
    parts = build_usage(db=db, key=key, did=DID, verification_method=f"{DID}#key-1", data_dir=folder / "data",
                        clock=clock, agreements={"agr-bench": agreement}.get, recorder=recorder, sweep_interval=0)
    received = folder / "received.csv"
    received.write_bytes(os.urandom(64 * 1024))
    item = parts.service.vault.protect("agr-bench", "tr-bench", received)
    ask = UsageAsk("agr-bench", "credit assessment", "risk-app", "analyst", "read")

    def bare() -> bytes:
        return b"".join(parts.service.vault.open(item))

    def controlled() -> bytes:
        return b"".join(parts.service.use(ask).body)

    bare_ms, controlled_ms = [], []
    for _ in range(5):  # taking turns, so both see the same machine
        bare_ms += timed(bare, N // 5)
        controlled_ms += timed(controlled, N // 5)
    added = percentile(controlled_ms, 0.99) - percentile(bare_ms, 0.99)
    print(f"{N} reads of 64 KiB each way, {os.cpu_count()} cores")
    print(f"vault only (baseline): p50 {statistics.median(bare_ms):.3f} ms, p99 {percentile(bare_ms, 0.99):.3f} ms")
    print(f"usage API path:        p50 {statistics.median(controlled_ms):.3f} ms, "
          f"p99 {percentile(controlled_ms, 0.99):.3f} ms")
    print(json.dumps({"bench": "usage_read", "value": round(added, 3), "unit": "ms added at p99",
                      "baseline": round(percentile(bare_ms, 0.99), 3),
                      "ratio": round(percentile(controlled_ms, 0.99) / percentile(bare_ms, 0.99), 2)}))


if __name__ == "__main__":
    main()
