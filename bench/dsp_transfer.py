"""MB/s of a 1 GiB HttpData-PULL through the connectors' data plane, digest checked, against the same file
served by a bare Starlette FileResponse and read with httpx in the same run (issue: dsp_transfer; target ratio
>= 0.8 and a peak RSS of each connector process <= 200 MB during the transfer).

The file (BENCH_SIZE_MB MiB, default 1024) is real data, not sparse: a 1 MiB random block repeated, with each
copy's first 8 bytes set to its index so no two MiB are alike. It is written and fsync'ed before anything is
timed, so both reads come from the page cache and neither pays for the other's write-back.

Connectors: an operator and two member connectors as processes (SQLite), the file published on the provider as
a ``file`` asset, a contract negotiated, then ``POST /v1/management/transfers`` (HttpData-PULL) on the consumer.
Times are the ``at`` of the connectors' own events (``/v1/management/events``, read every 50 ms):

* data: consumer STARTED -> consumer COMPLETED. The consumer's worker GETs /data/<id> from the provider,
  streams the body to ``<dest>.part`` while hashing it, fsyncs, checks the digest the provider announced
  (Repr-Digest) and renames the file into place. This is the figure compared with the baseline.
* end to end: the management call -> consumer COMPLETED, which adds the control plane and the provider's
  first SHA-256 of the file (it digests the file before it announces the data address; shown apart as
  provider REQUESTED -> STARTED).

Baseline: the same file served by a bare Starlette ``FileResponse`` in its own uvicorn process (uvicorn as the
connectors run it), read with an httpx stream (``iter_raw`` in 256 KiB chunks, as the consumer) into a file
while hashing it with SHA-256, then fsync'ed: the consumer's work without the protocol.
ratio = data-plane MB/s / baseline MB/s, MB = 10^6 bytes.

One untimed baseline read comes first: on this virtual machine the first GiB written after boot-time idle
runs at about half speed (fresh guest memory for the page cache), whichever side meets it. Then baseline and
data plane run in turn, BENCH_ROUNDS (3) times each under one agreement, and the best of each is compared, so
that other work on the machine weighs on both alike; every round is printed. From the second
transfer on the provider finds the file's digest in its cache, which is why end to end is shown for the first.

Digests: the sha256 in the transfer's details, and a re-read of the received file, must equal the source's.
Memory: VmRSS of both connector processes read from /proc every 20 ms during the transfers (max reported),
and VmHWM (the kernel's lifetime peak) after them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _space import (
    Event,
    EventReader,
    Space,
    catalog_offer,
    close_space,
    cores,
    load_average,
    processes,
    publish,
    start_bare,
    start_negotiation,
    start_space,
    wait_for,
)

SIZE_MIB = int(os.environ.get("BENCH_SIZE_MB", "1024"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MIB = 1024 * 1024
CHUNK = 256 * 1024
ASSET = "bench-transfer-file"
MEMORY_LIMIT_MB = 200


# --- the file ------------------------------------------------------------------------------------------------
def write_source(path: Path, size_mib: int) -> str:
    """Write ``size_mib`` MiB of non-repeating data, fsync it, and return its SHA-256."""
    block = bytearray(os.urandom(MIB))
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for index in range(size_mib):
            block[:8] = index.to_bytes(8, "big")
            digest.update(block)
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


# --- memory --------------------------------------------------------------------------------------------------
def proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


@contextmanager
def rss_sampler(pids: list[int], interval: float = 0.02) -> Iterator[dict[int, int]]:
    """The highest VmRSS (KiB) seen for each pid while the block runs."""
    peaks = {pid: proc_status_kib(pid, "VmRSS") for pid in pids}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            for pid in pids:
                peaks[pid] = max(peaks[pid], proc_status_kib(pid, "VmRSS"))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join()


# --- baseline ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    seconds: float
    fsync: float


def baseline_read(url: str, destination: Path, expected: str) -> Baseline:
    """Stream ``url`` into ``destination`` while hashing, fsync; as the consumer's pull does."""
    digest = hashlib.sha256()
    started = time.perf_counter()
    with httpx.Client(timeout=60) as client, client.stream("GET", f"{url}/file") as response:
        response.raise_for_status()
        with destination.open("wb") as handle:
            for chunk in response.iter_raw(CHUNK):
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            synced = time.perf_counter()
            os.fsync(handle.fileno())
    ended = time.perf_counter()
    if digest.hexdigest() != expected:
        raise RuntimeError("the baseline read a different file")
    destination.unlink()
    return Baseline(ended - started, ended - synced)


# --- through the connectors ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pulled:
    data: float
    end_to_end: float
    provider_digest: float
    peak_rss_kib: dict[str, int]
    details: dict[str, Any]


def agree(space: Space) -> str:
    """Negotiate the file's offer; returns the agreement id."""
    reader = EventReader(space.consumer)
    reader.read()
    negotiation = start_negotiation(space, catalog_offer(space, ASSET), ASSET)
    events = wait_for(reader, negotiation, {"FINALIZED", "TERMINATED"}, timeout=60)
    if events[-1].state != "FINALIZED":
        raise RuntimeError(f"negotiation ended {events[-1].state}: {events[-1].detail}")
    agreement = space.consumer.ok("GET", f"/v1/management/negotiations/{negotiation}")["agreementId"]
    return str(agreement)


def first_at(events: list[Event], state: str) -> float:
    return next(e.at for e in events if e.state == state)


def pull(space: Space, agreement: str, expected: str) -> Pulled:
    """One HttpData-PULL under ``agreement``; the received file is checked against ``expected`` and removed."""
    consumer_events, provider_events = EventReader(space.consumer), EventReader(space.provider)
    consumer_events.read()
    provider_events.read()
    pids = {"provider": space.provider.pid, "consumer": space.consumer.pid}
    with rss_sampler(list(pids.values())) as peaks:
        began = time.time()
        transfer = space.consumer.ok("POST", "/v1/management/transfers",
                                     json={"agreementId": agreement, "transferType": "HttpData-PULL"})["id"]
        events = wait_for(consumer_events, transfer, {"COMPLETED", "TERMINATED"}, timeout=600, interval=0.05)
    if events[-1].state != "COMPLETED":
        raise RuntimeError(f"transfer ended {events[-1].state}: {events[-1].detail}")
    provider_side = provider_events.read()
    details = space.consumer.ok("GET", f"/v1/management/transfers/{transfer}")["details"]
    received = Path(str(details.get("path")))
    if details.get("sha256") != expected or file_sha256(received) != expected:
        raise RuntimeError(f"digest mismatch: source {expected}, transfer details {details}")
    received.unlink()
    started, completed = first_at(events, "STARTED"), first_at(events, "COMPLETED")
    return Pulled(completed - started, completed - began,
                  first_at(provider_side, "STARTED") - first_at(provider_side, "REQUESTED"),
                  {name: peaks[pid] for name, pid in pids.items()}, details)


@dataclass(frozen=True)
class Run:
    baselines: list[Baseline]
    pulls: list[Pulled]
    hwm_kib: dict[str, int]


def measure(workdir: Path, source: Path, expected: str) -> Run:
    """Baseline and data plane in turn, ROUNDS times each, so both meet the same state of the machine."""
    with processes(workdir / "baseline") as bare, processes(workdir / "space") as connectors:
        url = start_bare(bare, "file", {"BENCH_FILE": str(source)})
        space = start_space(connectors)
        try:
            publish(space.provider, ASSET, {"type": "file", "path": str(source),
                                            "mediaType": "application/octet-stream"})
            agreement = agree(space)
            baseline_read(url, workdir / "baseline.out", expected)  # warm-up, see the docstring
            baselines, pulls = [], []
            for _ in range(ROUNDS):
                baselines.append(baseline_read(url, workdir / "baseline.out", expected))
                pulls.append(pull(space, agreement, expected))
            pids = {"provider": space.provider.pid, "consumer": space.consumer.pid}
            return Run(baselines, pulls, {name: proc_status_kib(pid, "VmHWM") for name, pid in pids.items()})
        finally:
            close_space(space)


# --- report --------------------------------------------------------------------------------------------------
def mb_per_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def show_rounds(size: int, run: Run) -> None:
    for index, (base, pulled) in enumerate(zip(run.baselines, run.pulls, strict=True), start=1):
        print(f"  round {index}: baseline {mb_per_s(size, base.seconds):7.1f} MB/s ({base.seconds:.2f} s, fsync "
              f"{base.fsync:.2f} s), data plane {mb_per_s(size, pulled.data):7.1f} MB/s ({pulled.data:.2f} s), "
              f"end to end {pulled.end_to_end:.2f} s, provider digest {pulled.provider_digest:.2f} s")


def report(size: int, run: Run, load: float) -> None:
    base = min(run.baselines, key=lambda b: b.seconds)
    best = min(run.pulls, key=lambda p: p.data)
    cold = run.pulls[0]
    data, base_rate = mb_per_s(size, best.data), mb_per_s(size, base.seconds)
    peak_mb = {name: max(p.peak_rss_kib[name] for p in run.pulls) / 1024 for name in ("provider", "consumer")}
    hwm_mb = {name: kib / 1024 for name, kib in run.hwm_kib.items()}
    within = all(value <= MEMORY_LIMIT_MB for value in (*peak_mb.values(), *hwm_mb.values()))
    print(f"cores: {cores()}, file: {SIZE_MIB} MiB ({size} bytes), {ROUNDS} rounds (best shown), SHA-256 checked "
          f"(details and re-read), load average at start {load}")
    show_rounds(size, run)
    print(f"baseline: bare Starlette FileResponse -> httpx, hash, fsync: {base.seconds:6.2f} s  {base_rate:8.1f} MB/s")
    print(f"data plane (consumer STARTED -> COMPLETED):        {best.data:6.2f} s  {data:8.1f} MB/s  "
          f"ratio {data / base_rate:.3f}")
    print(f"end to end, first transfer (management call -> COMPLETED): {cold.end_to_end:6.2f} s  "
          f"{mb_per_s(size, cold.end_to_end):8.1f} MB/s (provider's first digest of the file: "
          f"{cold.provider_digest:.2f} s)")
    for name in ("provider", "consumer"):
        print(f"{name} memory: peak VmRSS during the transfers {peak_mb[name]:6.1f} MB, "
              f"VmHWM (lifetime) {hwm_mb[name]:6.1f} MB (limit {MEMORY_LIMIT_MB} MB)")
    print(json.dumps({"bench": "dsp_transfer", "value": round(data, 1), "unit": "MB/s (data plane, pull)",
                      "baseline": round(base_rate, 1), "baseline_unit": "MB/s (bare FileResponse + httpx)",
                      "ratio": round(data / base_rate, 3), "target_ratio": 0.8,
                      "data_seconds": round(best.data, 3), "baseline_seconds": round(base.seconds, 3),
                      "baseline_fsync_seconds": round(base.fsync, 3),
                      "first_end_to_end_seconds": round(cold.end_to_end, 3),
                      "first_end_to_end_mb_s": round(mb_per_s(size, cold.end_to_end), 1),
                      "provider_first_digest_seconds": round(cold.provider_digest, 3),
                      "peak_rss_mb": {k: round(v, 1) for k, v in peak_mb.items()},
                      "vmhwm_mb": {k: round(v, 1) for k, v in hwm_mb.items()},
                      "memory_limit_mb": MEMORY_LIMIT_MB, "memory_within_limit": within, "rounds": ROUNDS,
                      "size_bytes": size, "cores": cores(), "load_average": load}))


def main() -> None:
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="trustspace-bench-") as folder:
        workdir = Path(folder)
        source = workdir / "source.bin"
        expected = write_source(source, SIZE_MIB)
        run = measure(workdir, source, expected)
        report(source.stat().st_size, run, load)


if __name__ == "__main__":
    main()
