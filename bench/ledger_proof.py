"""Inclusion proofs served per second and their latency with 10^6 entries in the log, and proofs verified per
second in Python (issue: ledger_proof; targets: p99 <= 2 ms per proof served, >= 20,000 verifications/s).

The log is filled to BENCH_LOG_SIZE (1,000,000) real signed statements through pending rows and the
sequencer (see ``_ledger_fill``), on SQLite as the operator configures it (WAL, ``synchronous=FULL``). Then:

* served, in-process: ``LedgerService.inclusion(index=i)`` for uniformly random ``i``, one caller, each call
  timed: the latest tree size, the O(log n) stored nodes read from the database, the proof assembled. This is
  the figure the targets apply to. BENCH_PROOFS (20,000) calls, or as many as fit in BENCH_PROOF_SECONDS (30).
* served over HTTP: ``GET /v1/ledger/proofs/inclusion?index=i`` on a real operator process
  (``python -m trustspace operator start``, uvicorn) opened on the same database file, by two client threads
  with one httpx connection each, for BENCH_HTTP_SECONDS (15); client and server share the machine's cores.
  A failed request is counted and its time kept among the latencies (a caller waited that long); the
  exceptions the operator logged are printed.
* verified: ``merkle.verify_inclusion`` of the proofs served in-process against the latest checkpoint's root,
  cycled to at least 20,000 verifications. Every proof served over HTTP is verified too (untimed).

Baseline: one primary-key read of one tree node row (random level and index) in one store transaction on
the same ``Database`` (same engine, pragmas and ``BEGIN IMMEDIATE``), the floor of any store call; an
inclusion proof costs two such transactions (tree size, then the nodes). ratio = proofs/s / reads/s. The same
read through the bare ``sqlite3`` module is printed for reference.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import tempfile
import time
from base64 import b64decode
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _ledger_fill import LOG_KEY, LOG_SIZE, ORIGIN, Filled, fill, generated, open_ledger
from _space import cores, load_average, percentile, processes
from sqlalchemy import select

from trustspace.core.clock import SystemClock
from trustspace.demo.processes import free_port
from trustspace.identity.did import did_key, verification_method_id
from trustspace.ledger.merkle import verify_inclusion
from trustspace.operator.ledger.service import Inclusion, LedgerConfig, LedgerService
from trustspace.store.db import Database
from trustspace.store.ledger.models import LedgerNodeRow
from trustspace.store.ledger.sql import SqlLedgerStore

PROOFS = int(os.environ.get("BENCH_PROOFS", "20000"))
PROOF_SECONDS = float(os.environ.get("BENCH_PROOF_SECONDS", "30"))
HTTP_SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "15"))
HTTP_CLIENTS = 2
VERIFICATIONS = 20_000
WARM_UP = 200
WARM_UP_SECONDS = 2.0
TARGET_P99_MS = 2.0
TARGET_VERIFY = 20_000
SEED = 9162


@dataclass
class Timed:
    """Calls made in a loop: each call's latency (s), the wall time of the loop, what the calls returned, and
    how many failed (their latency counts too: a caller waited that long)."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    results: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Successful calls per second."""
        return len(self.results) / self.seconds

    def ms(self, q: float) -> float:
        return 1000 * percentile(self.latencies, q)


def timed_calls(call: Callable[[random.Random], Any], count: int, budget: float, seed: int = SEED) -> Timed:
    """Up to ``count`` timed calls, stopping early after ``budget`` seconds, after a warm-up of WARM_UP calls
    or WARM_UP_SECONDS, whichever ends first."""
    rng = random.Random(seed)
    warm_until = time.perf_counter() + WARM_UP_SECONDS
    for _ in range(WARM_UP):
        call(rng)
        if time.perf_counter() > warm_until:
            break
    run = Timed()
    began = time.perf_counter()
    deadline = began + budget
    while len(run.latencies) < count and time.perf_counter() < deadline:
        started = time.perf_counter()
        run.results.append(call(rng))
        run.latencies.append(time.perf_counter() - started)
    run.seconds = time.perf_counter() - began
    return run


# --- in-process ------------------------------------------------------------------------------------------------
def ledger_service(store: SqlLedgerStore) -> LedgerService:
    did = did_key(LOG_KEY.public)
    return LedgerService(store, LOG_KEY, did, verification_method_id(did), lambda _: LOG_KEY.public,
                         LedgerConfig(ORIGIN), SystemClock())


def served(service: LedgerService, size: int) -> Timed:
    return timed_calls(lambda rng: service.inclusion(index=rng.randrange(size)), PROOFS, PROOF_SECONDS)


def verify_rate(proofs: list[Inclusion], root: bytes) -> float:
    cycled = [proofs[k % len(proofs)] for k in range(max(VERIFICATIONS, len(proofs)))]
    began = time.perf_counter()
    for proof in cycled:
        verify_inclusion(proof.index, proof.tree_size, proof.leaf_hash, proof.proof, root)
    return len(cycled) / (time.perf_counter() - began)


def random_node(rng: random.Random, size: int) -> tuple[int, int]:
    level = rng.randrange(1, size.bit_length())
    return level, rng.randrange(size >> level)


def node_reads(db: Database, size: int) -> Timed:
    """The baseline: one primary-key SELECT of one node row, one store transaction each."""
    n = LedgerNodeRow

    def read(rng: random.Random) -> bytes:
        level, index = random_node(rng, size)
        with db.transaction() as session:
            return bytes(session.execute(select(n.hash).where(n.level == level, n.idx == index)).scalar_one())

    return timed_calls(read, PROOFS, PROOF_SECONDS / 3)


def raw_node_reads(path: Path, size: int) -> Timed:
    connection = sqlite3.connect(path)
    try:
        def read(rng: random.Random) -> bytes:
            level, index = random_node(rng, size)
            row = connection.execute("SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?", (level, index))
            return bytes(row.fetchone()[0])

        return timed_calls(read, PROOFS, PROOF_SECONDS / 3)
    finally:
        connection.close()


# --- over HTTP -------------------------------------------------------------------------------------------------
def http_client(url: str, size: int, seconds: float, seed: int) -> Timed:
    """One client, one connection, requests back to back; a failed request is counted and timed, not fatal."""
    rng, run = random.Random(seed), Timed()
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(10):  # warm-up: the connection and the server's first requests
            client.get("/v1/ledger/proofs/inclusion", params={"index": rng.randrange(size)})
        began = time.perf_counter()
        deadline = began + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = client.get("/v1/ledger/proofs/inclusion", params={"index": rng.randrange(size)})
            except httpx.HTTPError as exc:
                run.errors.append(f"{exc.__class__.__name__}: {exc}")
            else:
                if response.status_code == 200:
                    run.results.append(response.json())
                else:
                    run.errors.append(f"HTTP {response.status_code}")
            run.latencies.append(time.perf_counter() - started)
        run.seconds = time.perf_counter() - began
    return run


def server_errors(log_path: Path) -> list[str]:
    """The distinct exception lines (``SomeError: message``) in a service's log, for the report."""
    pattern = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception): .+$")
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    return sorted({line for line in lines if pattern.match(line)})


def check_http_proofs(answers: list[dict[str, Any]], root: bytes, size: int) -> None:
    for answer in answers:
        if answer["treeSize"] != size:
            raise RuntimeError(f"an HTTP proof is for tree size {answer['treeSize']}, not {size}")
        verify_inclusion(answer["index"], size, b64decode(answer["leafHash"]),
                         [b64decode(h) for h in answer["proof"]], root)


def over_http(folder: Path, database: Path, size: int, root: bytes) -> tuple[Timed, list[str]]:
    """Two clients against a real operator process on the filled database; every answer verified. Returns the
    joined run and the exceptions the operator logged."""
    with processes(folder / "processes") as supervisor:
        port = free_port()
        operator = supervisor.start("operator", f"http://127.0.0.1:{port}", [
            "operator", "start", "--data-dir", str(folder / "operator"), "--port", str(port),
            "--database-url", f"sqlite:///{database}", "--space", "bench"])
        supervisor.wait_ready(operator, timeout=120)
        with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
            runs = list(pool.map(lambda k: http_client(operator.url, size, HTTP_SECONDS, SEED + k),
                                 range(HTTP_CLIENTS)))
    joined = Timed([t for run in runs for t in run.latencies], max(run.seconds for run in runs),
                   [answer for run in runs for answer in run.results], [e for run in runs for e in run.errors])
    check_http_proofs(joined.results, root, size)
    return joined, server_errors(operator.log_path)


# --- report ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Http:
    run: Timed | None
    server_errors: list[str]
    failure: str | None = None
    """Why the HTTP figures are missing altogether, if they are."""


@dataclass(frozen=True)
class Results:
    size: int
    filled: Filled
    service: Timed
    verify_per_s: float
    baseline: Timed
    raw: Timed
    http: Http


def show_http(http: Http) -> None:
    run = http.run
    if run is None:
        print(f"inclusion proofs, HTTP: not measured, {http.failure}")
        return
    print(f"inclusion proofs, HTTP x{HTTP_CLIENTS}:    {run.rate:9,.0f} /s   p50 {run.ms(50):7.2f} ms   "
          f"p99 {run.ms(99):7.2f} ms   max {1000 * max(run.latencies):7.2f} ms   ({len(run.results):,} answers, "
          f"all verified; {len(run.errors)} failed requests, in the latencies)")
    for error in sorted(set(run.errors)):
        print(f"  client saw {run.errors.count(error)} x {error}")
    for line in http.server_errors:
        print(f"  operator logged: {line}")


def show(r: Results) -> None:
    print(f"log filled to {r.size:,} entries in {r.filled.seconds:.0f} s ({r.filled.rate:,.0f} entries/s)")
    print(f"inclusion proofs, in-process:  {r.service.rate:9,.0f} /s   p50 {r.service.ms(50):7.2f} ms   "
          f"p99 {r.service.ms(99):7.2f} ms   max {1000 * max(r.service.latencies):7.2f} ms   "
          f"({len(r.service.latencies):,} proofs in {r.service.seconds:.1f} s; target p99 <= {TARGET_P99_MS} ms)")
    show_http(r.http)
    print(f"proofs verified (verify_inclusion): {r.verify_per_s:9,.0f} /s   (target >= {TARGET_VERIFY:,})")
    print(f"baseline, one-row primary-key read per store transaction: {r.baseline.rate:9,.0f} /s   "
          f"p99 {r.baseline.ms(99):.2f} ms   ratio {r.service.rate / r.baseline.rate:.3f}")
    print(f"reference, the same read through bare sqlite3:            {r.raw.rate:9,.0f} /s")


def http_summary(http: Http) -> dict[str, Any]:
    run = http.run
    if run is None:
        return {"http_value": None, "http_p50_ms": None, "http_p99_ms": None, "http_errors": None,
                "http_failure": http.failure}
    return {"http_value": round(run.rate), "http_p50_ms": round(run.ms(50), 3), "http_p99_ms": round(run.ms(99), 3),
            "http_errors": len(run.errors), "http_server_errors": http.server_errors}


def summary(r: Results) -> dict[str, Any]:
    return {
        "bench": "ledger_proof", "value": round(r.service.rate), "unit": "inclusion proofs/s",
        "p50_ms": round(r.service.ms(50), 3), "p99_ms": round(r.service.ms(99), 3),
        "target_p99_ms": TARGET_P99_MS, "verify_per_s": round(r.verify_per_s), "target_verify_per_s": TARGET_VERIFY,
        "baseline": round(r.baseline.rate),
        "baseline_unit": "one-row primary-key reads/s, one store transaction each, same database",
        "ratio": round(r.service.rate / r.baseline.rate, 3), "raw_sqlite_read_per_s": round(r.raw.rate),
        "proofs": len(r.service.latencies), "log_size": r.size, "http_clients": HTTP_CLIENTS,
        **http_summary(r.http), "cores": cores(), "load_average": load_average(),
    }


def measure_http(folder: Path, database: Path, root: bytes) -> Http:
    try:
        run, logged = over_http(folder, database, LOG_SIZE, root)
    except Exception as exc:  # the in-process figures stand on their own; say why this one is missing
        return Http(None, [], f"{exc.__class__.__name__}: {exc}")
    return Http(run, logged)


def measure(folder: Path) -> Results:
    database = folder / "operator.db"
    ledger = open_ledger(f"sqlite:///{database}")
    try:
        filled = fill(ledger, generated(0, LOG_SIZE), "SQLite")
        checkpoint = ledger.store.latest_checkpoint()
        assert checkpoint is not None and checkpoint.size == LOG_SIZE
        service = served(ledger_service(ledger.store), LOG_SIZE)
        verify_per_s = verify_rate(service.results, checkpoint.root_hash)
        baseline = node_reads(ledger.db, LOG_SIZE)
        raw = raw_node_reads(database, LOG_SIZE)
    finally:
        ledger.db.dispose()
    http = measure_http(folder, database, checkpoint.root_hash)
    return Results(LOG_SIZE, filled, service, verify_per_s, baseline, raw, http)


def main() -> None:
    print(f"cores: {cores()}, log size: {LOG_SIZE:,}, proofs: up to {PROOFS:,} or {PROOF_SECONDS:.0f} s, "
          f"SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as folder:
        results = measure(Path(folder))
    show(results)
    print(json.dumps(summary(results)))


if __name__ == "__main__":
    main()
