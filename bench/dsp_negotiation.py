"""Completed contract negotiations per second between two connector processes on 127.0.0.1, on SQLite and
then on PostgreSQL, against the HTTP floor of this machine measured in the same run (issue: dsp_negotiation;
target ratio >= 0.4).

One negotiation, as measured here, is what the Dataspace Protocol needs to reach an agreement both sides hold:
the owner's management call ``POST /v1/management/negotiations`` on the consumer, then four protocol POSTs
between the connectors, each signed with a fresh service token and verified with the sender's membership
credential, each recorded in a committed transaction before it is answered:

    consumer -> provider  ContractRequestMessage             (provider: REQUESTED)
    provider -> consumer  ContractAgreementMessage           (consumer: AGREED)
    consumer -> provider  ContractAgreementVerificationMessage (provider: VERIFIED)
    provider -> consumer  ContractNegotiationEventMessage FINALIZED (consumer: FINALIZED)

Latency of one negotiation runs from just before the management call to the moment the consumer records
FINALIZED. That moment is the ``at`` of the consumer's FINALIZED event, read from its event stream
``GET /v1/management/events?follow=false&after=<cursor>``: one request returns only the events new since the
last read, for every process at once, so completions are learnt without per-process polling, and the clock
is the connector's (the same machine clock as ours), so the polling interval adds nothing to the figure. The
stream is read every BENCH_POLL_MS milliseconds (default 20; each read is one more request the consumer
serves, so reading more often slows what is measured). The time at which this client saw the event is
printed beside it.

1. Sequential: BENCH_N (30) negotiations, one at a time, after 3 for warm-up -> p50 and p95 of the latency;
   1 / p50 is the sequential rate compared with the floor.
2. Throughput: BENCH_TOTAL (100) negotiations with BENCH_IN_FLIGHT (16) in flight at once -> completed per
   second, from the first management call to the last FINALIZED.

Baseline (the HTTP floor): a bare Starlette app in its own uvicorn process (same uvicorn settings as the
connectors), one ``POST /echo`` that parses a JSON body as large as the real ContractRequestMessage and answers
a small JSON acknowledgement. Four sequential POSTs over one keep-alive httpx client (as the connector's
worker uses) are one "floor negotiation"; floor negotiations/s = 1 / median time of four POSTs. The floor
carries no service token, no signature, no database: it is what this machine's HTTP stack costs alone.
ratio = sequential negotiations/s (1 / p50) / floor negotiations/s. Throughput is reported on its own.

A second floor, measured beside the first (alternating, best of two each), tells how high that ratio can go
here at all. The required-work floor is one negotiation's work that the issue itself makes necessary, against
a bare app (``bench/_space.py work``) that does that and nothing else: the owner's management call (API key
checked, the new negotiation committed before 201), then the four messages, each validated against its DSP
schema by its sender and by its receiver, each carrying a fresh Ed25519 token that the receiver verifies and
whose jti it refuses if replayed, each committed with that jti in one durable SQLite transaction (WAL,
synchronous=FULL, as the connectors run) before it is answered. It leaves out the rest of a negotiation (the
membership credential, the state machine, the outbox and the sender's own records, evidence, thread hops), so
ceiling = HTTP floor / required-work floor is an upper bound on the ratio of any connector that validates,
authenticates and persists what it acknowledges, on this machine and stack.

PostgreSQL is reached at postgresql://postgres@127.0.0.1:5432 (two fresh databases trustspace_bench_<hex>,
dropped afterwards); if it is unreachable that half is skipped and the reason printed.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _space import (
    WORK_AUDIENCE,
    WORK_ISSUER,
    WORK_SCHEMA,
    BenchSkip,
    EventReader,
    Space,
    catalog_offer,
    close_space,
    cores,
    load_average,
    percentile,
    postgres_databases,
    processes,
    publish,
    start_bare,
    start_negotiation,
    start_space,
)

from trustspace.core.keys import SigningKey
from trustspace.identity.tokens import issue_token
from trustspace.protocol.schemas import validate

N = int(os.environ.get("BENCH_N", "30"))
WARMUP = 3
TOTAL = int(os.environ.get("BENCH_TOTAL", "100"))
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "16"))
POLL = float(os.environ.get("BENCH_POLL_MS", "20")) / 1000
FLOOR_ROUNDS = 300
ASSET = "bench-negotiation-asset"
TERMINAL = {"FINALIZED", "TERMINATED"}


@dataclass(frozen=True)
class Half:
    label: str
    p50: float
    p95: float
    seen_p50: float
    rate: float
    loaded_p50: float
    loaded_p95: float

    @property
    def sequential_rate(self) -> float:
        return 1 / self.p50


# --- the floor -----------------------------------------------------------------------------------------------
def contract_request_body(offer: dict[str, Any], callback: str) -> dict[str, Any]:
    """A ContractRequestMessage as the consumer sends it, for the floor's body size."""
    from trustspace.connector.dsp import wire

    return wire.message("ContractRequestMessage", consumerPid="urn:uuid:00000000-0000-4000-8000-000000000000",
                        offer=offer, callbackAddress=wire.callback_base(callback))


def floor_seconds(url: str, body: dict[str, Any]) -> float:
    """Median time of four sequential POST round trips to the bare endpoint."""
    with httpx.Client(timeout=10) as client:
        return _median_round(lambda: [client.post(f"{url}/echo", json=body).raise_for_status() for _ in range(4)])


def required_work_seconds(url: str, body: dict[str, Any], key: SigningKey, api_key: str) -> float:
    """Median time of one negotiation's required work against the bare ``work`` app: the management call,
    then four messages, each validated by its sender (the issue validates what is sent, too) and carrying a
    freshly signed token."""
    start = {"providerUrl": url, "offer": body["offer"], "datasetId": ASSET}

    def negotiation() -> None:
        client.post(f"{url}/start", json=start, headers={"X-API-Key": api_key}).raise_for_status()
        for _ in range(4):
            validate(body, WORK_SCHEMA)
            token = issue_token(key, issuer=WORK_ISSUER, verification_method=f"{WORK_ISSUER}#key-1",
                                audience=WORK_AUDIENCE, now=datetime.now(UTC))
            client.post(f"{url}/hop", json=body, headers={"Authorization": f"Bearer {token}"}).raise_for_status()

    with httpx.Client(timeout=10) as client:
        return _median_round(negotiation)


def _median_round(round_trip: Callable[[], object]) -> float:
    rounds = []
    for index in range(FLOOR_ROUNDS + 20):
        started = time.perf_counter()
        round_trip()
        if index >= 20:
            rounds.append(time.perf_counter() - started)
    return statistics.median(rounds)


@dataclass(frozen=True)
class Floors:
    http: float  # four bare POSTs (the issue's baseline)
    required: float  # one negotiation's work that no connector may skip

    @property
    def ceiling(self) -> float:
        """The highest ratio anything that does the required work could reach here."""
        return self.http / self.required


def measure_floors(workdir: Path, body: dict[str, Any]) -> Floors:
    """Both floors in one supervisor, alternating, the best of each kept, so other work on the machine weighs
    on both alike (and neither is taken at its worst)."""
    key, api_key = SigningKey.generate(), secrets.token_urlsafe(24)
    env = {"BENCH_SEED": key.export_seed().hex(), "BENCH_API_KEY": api_key,
           "BENCH_WORK_DB": str(workdir / "required-work.db")}
    with processes(workdir) as supervisor:
        http_url, work_url = start_bare(supervisor, "floor"), start_bare(supervisor, "work", env)
        http, required = [], []
        for _ in range(2):
            http.append(floor_seconds(http_url, body))
            required.append(required_work_seconds(work_url, body, key, api_key))
    return Floors(min(http), min(required))


# --- negotiations --------------------------------------------------------------------------------------------
class Driver:
    """Starts negotiations on the consumer and learns their end from its event stream."""

    def __init__(self, space: Space, offer: dict[str, Any]) -> None:
        self.space, self.offer = space, offer
        self.reader = EventReader(space.consumer)
        self.reader.read()
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.seen: dict[str, float] = {}

    def start(self) -> None:
        began = time.time()
        self.started[start_negotiation(self.space, self.offer, ASSET)] = began

    def collect(self) -> None:
        for event in self.reader.read():
            if event.process_id in self.started and event.state in TERMINAL:
                if event.state != "FINALIZED":
                    raise RuntimeError(f"negotiation {event.process_id} ended {event.state}: {event.detail}")
                self.ended[event.process_id] = event.at
                self.seen[event.process_id] = time.time()

    def run(self, total: int, in_flight: int, timeout: float = 120) -> tuple[float, list[float], list[float]]:
        """Keep ``in_flight`` negotiations going until ``total`` ended; (elapsed, latencies, seen latencies)."""
        self.started, self.ended, self.seen = {}, {}, {}
        deadline = time.monotonic() + timeout
        while len(self.ended) < total:
            while len(self.started) < total and len(self.started) - len(self.ended) < in_flight:
                self.start()
            time.sleep(POLL)
            self.collect()
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.ended)} of {total} negotiations ended in {timeout:.0f} s")
        elapsed = max(self.ended.values()) - min(self.started.values())
        latencies = [self.ended[pid] - began for pid, began in self.started.items()]
        seen = [self.seen[pid] - began for pid, began in self.started.items()]
        return elapsed, latencies, seen


def measure(label: str, space: Space, offer: dict[str, Any]) -> Half:
    driver = Driver(space, offer)
    driver.run(WARMUP, 1)
    sequential, seen = [], []
    for _ in range(N):
        _, latency, seen_latency = driver.run(1, 1)
        sequential += latency
        seen += seen_latency
    elapsed, loaded, _ = driver.run(TOTAL, IN_FLIGHT)
    return Half(label, percentile(sequential, 50), percentile(sequential, 95), percentile(seen, 50),
                TOTAL / elapsed, percentile(loaded, 50), percentile(loaded, 95))


def run_half(workdir: Path, label: str, databases: tuple[str | None, str | None]) -> tuple[Half, dict[str, Any]]:
    with processes(workdir) as supervisor:
        space = start_space(supervisor, databases)
        try:
            (workdir / "asset.txt").write_text("negotiated, never moved\n")
            publish(space.provider, ASSET, {"type": "file", "path": str(workdir / "asset.txt")})
            offer = catalog_offer(space, ASSET)
            return measure(label, space, offer), contract_request_body(offer, space.consumer.url)
        finally:
            close_space(space)


def postgres_half(workdir: Path) -> Half | str:
    try:
        with postgres_databases(2) as urls:
            return run_half(workdir, "PostgreSQL", (urls[0], urls[1]))[0]
    except BenchSkip as skip:
        return str(skip)


# --- report --------------------------------------------------------------------------------------------------
def show(half: Half, floor: float) -> None:
    print(f"{half.label}:")
    print(f"  one at a time ({N}):  p50 {half.p50 * 1000:6.1f} ms  p95 {half.p95 * 1000:6.1f} ms  "
          f"(seen by the client, p50 {half.seen_p50 * 1000:.1f} ms)  -> {half.sequential_rate:6.1f} negotiations/s  "
          f"ratio {half.sequential_rate * floor:.3f}")
    print(f"  {IN_FLIGHT} in flight ({TOTAL}):  {half.rate:6.1f} negotiations/s  "
          f"latency p50 {half.loaded_p50 * 1000:.1f} ms  p95 {half.loaded_p95 * 1000:.1f} ms")


def summary(half: Half | str, floor: float) -> dict[str, Any]:
    if isinstance(half, str):
        return {"skipped": half}
    return {"sequential_per_s": round(half.sequential_rate, 2), "p50_ms": round(half.p50 * 1000, 1),
            "p95_ms": round(half.p95 * 1000, 1), "ratio": round(half.sequential_rate * floor, 3),
            "throughput_per_s": round(half.rate, 2), "loaded_p50_ms": round(half.loaded_p50 * 1000, 1),
            "loaded_p95_ms": round(half.loaded_p95 * 1000, 1)}


def main() -> None:
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="trustspace-bench-") as folder:
        workdir = Path(folder)
        sqlite, body = run_half(workdir / "sqlite", "SQLite", (None, None))
        floors = measure_floors(workdir / "floor", body)
        floor = floors.http
        postgres = postgres_half(workdir / "postgres")
    size = len(json.dumps(body).encode())
    print(f"cores: {cores()}, sequential negotiations: {N}, throughput: {TOTAL} with {IN_FLIGHT} in flight, "
          f"event stream read every {POLL * 1000:.0f} ms, load average at start {load}")
    print(f"floor: 4 sequential POSTs of {size} B to bare Starlette/uvicorn: {floor * 1000:.2f} ms "
          f"-> {1 / floor:.1f} floor negotiations/s")
    print(f"required-work floor: the management call and 4 messages, each validated by sender and receiver, "
          f"signed, verified, refused if replayed and committed durably: {floors.required * 1000:.2f} ms "
          f"-> ceiling ratio {floors.ceiling:.3f} for any connector doing that work on this machine")
    show(sqlite, floor)
    if isinstance(postgres, str):
        print(f"PostgreSQL: skipped: {postgres}")
    else:
        show(postgres, floor)
    print(json.dumps({"bench": "dsp_negotiation", "value": round(sqlite.sequential_rate, 2),
                      "unit": "negotiations/s (sequential, SQLite, 1/p50)", "baseline": round(1 / floor, 1),
                      "baseline_unit": "floor negotiations/s (4 sequential POSTs, bare Starlette)",
                      "ratio": round(sqlite.sequential_rate * floor, 3), "target_ratio": 0.4,
                      "sqlite": summary(sqlite, floor), "postgresql": summary(postgres, floor),
                      "floor_4_posts_ms": round(floor * 1000, 2),
                      "required_work_ms": round(floors.required * 1000, 2),
                      "ceiling_ratio": round(floors.ceiling, 3),
                      "ratio_to_required_work": round(sqlite.sequential_rate * floors.required, 3),
                      "body_bytes": size, "n": N, "total": TOTAL,
                      "in_flight": IN_FLIGHT, "cores": cores(), "load_average": load}))


if __name__ == "__main__":
    main()
