"""Pull and push over real sockets (uvicorn on 127.0.0.1): digests verified end to end, resumption after an
interruption, mismatches caught, the HTTP proxy source, and memory that stays flat for a 64 MiB file."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from live import free_port, serve
from trustspace.connector.dataplane.client import PullResult, pull, push
from trustspace.connector.dataplane.errors import DownloadCorrupt, TransferInterrupted, TransferRefused
from trustspace.connector.dataplane.gate import InMemoryGate
from trustspace.connector.dataplane.inbox import Inbox
from trustspace.connector.dataplane.server import data_router
from trustspace.connector.dataplane.sources import FileSource, HttpSource, open_source
from trustspace.connector.dataplane.tokens import PULL_SCOPE, PUSH_SCOPE, issue_access_token
from trustspace.core.clock import SystemClock
from trustspace.core.keys import SigningKey
from trustspace.web.problems import install_problem_handlers

PROVIDER, CONSUMER = "did:web:provider.example", "did:web:consumer.example"
MiB = 1024 * 1024


@dataclass
class Live:
    url: str
    key: SigningKey
    gate: InMemoryGate
    inbox: Inbox
    file: Path
    content: bytes

    def token(self, transfer: str = "t1", scope: str = PULL_SCOPE) -> str:
        issuer, audience = (PROVIDER, CONSUMER) if scope == PULL_SCOPE else (CONSUMER, PROVIDER)
        return issue_access_token(self.key, issuer=issuer, audience=audience, transfer_id=transfer,
                                  agreement_id="a1", now=SystemClock().now(), scope=scope)

    def pull(self, destination: Path, transfer: str = "t1", **kwargs: Any) -> PullResult:
        return pull(f"{self.url}/data/{transfer}", self.token(transfer), destination, **kwargs)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    key, gate = SigningKey.generate(), InMemoryGate()
    content = os.urandom(3 * MiB + 17)
    file = tmp_path / "provider" / "data.bin"
    file.parent.mkdir()
    file.write_bytes(content)
    gate.start("t1", "a1", FileSource(file))
    inbox = Inbox(tmp_path / "inbox", key.public, gate)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(data_router(gate, key.public, SystemClock(), inbox=inbox))
    with serve(app, free_port()) as url:
        yield Live(url, key, gate, inbox, file, content)


def recording_client(statuses: list[int]) -> httpx.Client:
    return httpx.Client(timeout=10, event_hooks={"response": [lambda r: statuses.append(r.status_code)]})


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_pull_end_to_end(live: Live, tmp_path: Path) -> None:
    destination = tmp_path / "got" / "data.bin"
    result = live.pull(destination, expected_sha256=hashlib.sha256(live.content).hexdigest())
    assert destination.read_bytes() == live.content
    assert result.size == len(live.content) and result.resumed_from == 0
    assert result.sha256 == hashlib.sha256(live.content).hexdigest()
    assert leftovers(destination.parent) == []


def test_resume_after_an_interrupted_pull(live: Live, tmp_path: Path) -> None:
    destination = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(live.content[:MiB + 3])
    statuses: list[int] = []
    with recording_client(statuses) as client:
        result = live.pull(destination, client=client)
    assert statuses == [206] and result.resumed_from == MiB + 3
    assert destination.read_bytes() == live.content and leftovers(tmp_path) == []


def test_resume_of_a_changed_representation_starts_over(live: Live, tmp_path: Path) -> None:
    destination = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"old version bytes")
    (tmp_path / "data.bin.part.validator").write_text(json.dumps({"etag": '"old"', "sha256": "00" * 32}))
    statuses: list[int] = []
    with recording_client(statuses) as client:
        result = live.pull(destination, client=client)
    assert statuses == [200] and result.resumed_from == 0
    assert destination.read_bytes() == live.content


def test_resume_of_foreign_bytes_fails_the_digest_then_fetches_afresh(live: Live, tmp_path: Path) -> None:
    destination = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)
    statuses: list[int] = []
    with recording_client(statuses) as client:
        live.pull(destination, client=client)
    assert statuses == [206, 200] and destination.read_bytes() == live.content


def test_complete_but_unrenamed_partial_is_fetched_again(live: Live, tmp_path: Path) -> None:
    destination = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(live.content)
    statuses: list[int] = []
    with recording_client(statuses) as client:
        live.pull(destination, client=client)
    assert statuses == [416, 200] and destination.read_bytes() == live.content


def flaky_app(content: bytes) -> FastAPI:
    """Breaks the first download half-way, then serves ranges properly."""
    app = FastAPI()
    digest = hashlib.sha256(content).digest()
    headers = {"ETag": f'"{digest.hex()}"', "Repr-Digest": f"sha-256=:{base64.b64encode(digest).decode()}:"}

    @app.get("/flaky")
    def flaky(request: Request) -> Response:
        spec = request.headers.get("range")
        if spec is None:
            def broken() -> Iterator[bytes]:
                yield content[: len(content) // 2]
                raise RuntimeError("connection lost")
            return StreamingResponse(broken(), headers={**headers, "Content-Length": str(len(content))})
        start = int(spec.removeprefix("bytes=").removesuffix("-"))
        return Response(content[start:], status_code=206,
                        headers={**headers, "Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}"})

    return app


def test_broken_connection_keeps_the_partial_for_the_next_pull(live: Live, tmp_path: Path) -> None:
    destination = tmp_path / "data.bin"
    with serve(flaky_app(live.content), free_port()) as url:
        with pytest.raises(TransferInterrupted):
            pull(f"{url}/flaky", "any", destination, attempts=1)
        kept = (tmp_path / "data.bin.part").stat().st_size
        assert 0 < kept <= len(live.content) // 2 and not destination.exists()
        result = pull(f"{url}/flaky", "any", destination)
    assert result.resumed_from == kept and destination.read_bytes() == live.content


def test_wrong_digest_header_is_caught(tmp_path: Path) -> None:
    app = FastAPI()
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()

    @app.get("/bad")
    def bad() -> Response:
        return Response(b"payload", headers={"Repr-Digest": f"sha-256=:{wrong}:"})

    destination = tmp_path / "bad.bin"
    with serve(app, free_port()) as url, pytest.raises(DownloadCorrupt) as caught:
        pull(f"{url}/bad", "any", destination)
    assert caught.value.slug == "download-digest-mismatch"
    assert not destination.exists() and leftovers(tmp_path) == []


def test_file_rewritten_in_place_is_caught_by_the_client(live: Live, tmp_path: Path) -> None:
    before = live.file.stat()
    with live.file.open("r+b") as handle:
        handle.write(b"tampered")
    # Same size, inode and mtime: the server cannot tell, only the digest of the bytes can.
    os.utime(live.file, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(DownloadCorrupt):
        live.pull(tmp_path / "data.bin")
    assert leftovers(tmp_path) == []


def test_expected_digest_other_than_announced(live: Live, tmp_path: Path) -> None:
    with pytest.raises(DownloadCorrupt):
        live.pull(tmp_path / "data.bin", expected_sha256="00" * 32)
    assert not (tmp_path / "data.bin").exists()


def test_refusal_carries_the_problem_type(live: Live, tmp_path: Path) -> None:
    live.gate.suspend("t1")
    with pytest.raises(TransferRefused) as caught:
        live.pull(tmp_path / "data.bin")
    assert caught.value.remote_status == 403
    assert str(caught.value.remote_type).endswith("transfer-suspended")


def test_push_end_to_end(live: Live) -> None:
    live.gate.start("in1", "a1")
    prepared = FileSource(live.file).prepare("p1")
    result = push(prepared, f"{live.url}/inbox/in1", live.token("in1", PUSH_SCOPE))
    assert (result.status, result.size) == (201, len(live.content))
    assert live.inbox.path_for("in1").read_bytes() == live.content
    with pytest.raises(TransferRefused) as caught:
        push(prepared, f"{live.url}/inbox/in1", live.token("in1"))
    assert caught.value.remote_status == 401


def upstream_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1")
    def root() -> dict[str, bool]:
        return {"root": True}

    @app.get("/v1/items/{item}")
    def item(item: str, request: Request) -> dict[str, object]:
        return {"item": item, "query": dict(request.query_params), "apiKey": request.headers.get("x-api-key"),
                "authorization": request.headers.get("authorization")}

    return app


def test_http_source_is_proxied_behind_the_token(live: Live) -> None:
    with serve(upstream_app(), free_port()) as upstream:
        live.gate.start("h1", "a1", HttpSource(f"{upstream}/v1", {"X-Api-Key": "k-123"}))
        auth = {"Authorization": f"Bearer {live.token('h1')}"}
        got = httpx.get(f"{live.url}/data/h1/items/7?x=1&y=two", headers=auth)
        assert got.status_code == 200 and "repr-digest" not in got.headers
        assert got.json() == {"item": "7", "query": {"x": "1", "y": "two"}, "apiKey": "k-123", "authorization": None}
        assert httpx.get(f"{live.url}/data/h1", headers=auth).json() == {"root": True}
        assert httpx.get(f"{live.url}/data/h1/nothing", headers=auth).status_code == 404
        climbing = httpx.get(f"{live.url}/data/h1/%2E%2E/secret", headers=auth)
        assert climbing.status_code == 400 and climbing.json()["type"].endswith("proxy-path-refused")
        assert httpx.get(f"{live.url}/data/h1/items/7").status_code == 401
        live.gate.suspend("h1")
        assert httpx.get(f"{live.url}/data/h1/items/7", headers=auth).status_code == 403


def test_unreachable_upstream(live: Live) -> None:
    live.gate.start("h2", "a1", HttpSource(f"http://127.0.0.1:{free_port()}/v1"))
    got = httpx.get(f"{live.url}/data/h2/x", headers={"Authorization": f"Bearer {live.token('h2')}"})
    assert got.status_code == 502 and got.json()["type"].endswith("peer-unreachable")


def test_memory_stays_flat_for_a_large_pull(live: Live, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with big.open("wb") as handle:
        for _ in range(64):
            block = os.urandom(MiB)
            digest.update(block)
            handle.write(block)
    live.gate.start("big", "a1", FileSource(big))
    destination = tmp_path / "big-copy.bin"
    tracemalloc.start()
    try:
        result = live.pull(destination, "big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.sha256 == digest.hexdigest() and result.size == 64 * MiB
    assert peak < 16 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


def test_sql_transfer_pulled_as_parquet(live: Live, tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    rows = [(i, f"item-{i}", i * 0.25) for i in range(3000)]
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE items (id INTEGER, name TEXT, price REAL)")
        db.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)
    address = {"type": "sql", "url": f"sqlite:///{database}", "query": "SELECT * FROM items ORDER BY id",
               "format": "parquet"}
    live.gate.start("s1", "a1", open_source(address, tmp_path / "spool"))
    result = live.pull(tmp_path / "items.parquet", "s1")
    assert [tuple(r.values()) for r in pq.read_table(result.path).to_pylist()] == rows
