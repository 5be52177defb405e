"""The management event stream holds no thread while idle, notices a client that left, caps the streams of a
key, and ends when the service stops: against a connector on a real socket (and, for SIGTERM, a real
connector process), and the generator itself for its rounds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from live import free_port, serve, wait_until
from trustspace.connector.app import create_app
from trustspace.connector.dsp import events_stream
from trustspace.connector.dsp.events_stream import KEEP_ALIVE, EventStreams, event_stream
from trustspace.connector.dsp.management import view
from trustspace.connector.settings import ConnectorSettings, init_connector
from trustspace.store.dsp.core import add_event
from trustspace.store.dsp.records import ProcessEvent

EVENTS = "/v1/management/events"
# anyio's default threadpool, which sync routes such as /healthz run in, has 40 threads.
THREADPOOL = 40
AT = datetime(2026, 12, 3, tzinfo=UTC)


@contextmanager
def connector(tmp_path: Path, per_key: int) -> Iterator[tuple[httpx.Client, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init_connector(tmp_path / "c", url, f"http://127.0.0.1:{free_port()}", "streams")
    app = create_app(ConnectorSettings.load(tmp_path / "c", witness_interval=0, event_streams_per_key=per_key))
    key = (tmp_path / "c" / "management-api-key").read_text().strip()
    with serve(app, port), httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=10,
                                        limits=httpx.Limits(max_connections=THREADPOOL * 2)) as client:
        yield client, app


def follow(client: httpx.Client, stack: ExitStack) -> httpx.Response:
    response = stack.enter_context(client.stream("GET", EVENTS, params={"timeout": 120}))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    return response


def test_many_idle_streams_do_not_delay_healthz(tmp_path: Path) -> None:
    idle = THREADPOOL + 4
    with connector(tmp_path, per_key=idle) as (client, app), ExitStack() as stack:
        for _ in range(idle):
            follow(client, stack)
        wait_until(lambda: app.state.event_streams.open_streams() == idle)
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert client.get("/v1/management/assets").status_code == 200


def test_the_cap_answers_429_naming_the_limit(tmp_path: Path) -> None:
    with connector(tmp_path, per_key=2) as (client, _), ExitStack() as stack:
        follow(client, stack)
        follow(client, stack)
        refused = client.get(EVENTS, params={"timeout": 120})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) > 0
        problem = refused.json()
        assert problem["type"].endswith("too-many-streams") and problem["field"] == "X-API-Key"
        assert "limit of 2 open event streams" in problem["detail"]


def test_a_client_that_disconnects_frees_its_slot(tmp_path: Path) -> None:
    with connector(tmp_path, per_key=2) as (client, app), ExitStack() as stack:
        key = client.headers["X-API-Key"]
        follow(client, stack)
        with ExitStack() as leaving:
            follow(client, leaving)
            assert client.get(EVENTS, params={"timeout": 120}).status_code == 429
        # The client closed its connection without reading to the end; the server counts it out.
        wait_until(lambda: app.state.event_streams.open_streams(key) == 1)
        follow(client, stack)
        assert app.state.event_streams.open_streams(key) == 2


def test_a_following_stream_sends_a_new_event_in_the_same_format(tmp_path: Path) -> None:
    with connector(tmp_path, per_key=2) as (client, app), ExitStack() as stack:
        response = follow(client, stack)
        with app.state.dsp.store._db.writing() as connection:
            add_event(connection, "negotiation", "n-1", "REQUESTED", "queued", AT)
        lines = response.iter_lines()
        assert next(lines).startswith("id: ")
        assert next(lines) == "event: state"
        data = json.loads(next(lines).removeprefix("data: "))
        assert data["processId"] == "n-1" and data["processKind"] == "negotiation" and data["state"] == "REQUESTED"


@pytest.mark.system
def test_sigterm_with_open_streams_exits_promptly(tmp_path: Path) -> None:
    port = free_port()
    url, data = f"http://127.0.0.1:{port}", tmp_path / "c"
    init_connector(data, url, f"http://127.0.0.1:{free_port()}", "streams")
    process = subprocess.Popen(
        [sys.executable, "-m", "trustspace", "connector", "start", "--data-dir", str(data), "--witness-interval", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ready(url, process)
        key = (data / "management-api-key").read_text().strip()
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=20) as client, ExitStack() as stack:
            streams = [follow(client, stack) for _ in range(3)]
            process.send_signal(signal.SIGTERM)
            for stream in streams:
                stream.read()  # each ends cleanly: the body completes, the connection is not cut
            # uvicorn stops gracefully, then re-raises the signal it caught, as an unhandled one would end it.
            assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("connector did not start")


class Quiet:
    """A store with no events, counting its reads."""

    def __init__(self) -> None:
        self.reads = 0

    def events(self, after_id: int = 0, process_id: str | None = None, limit: int = 100) -> list[ProcessEvent]:
        self.reads += 1
        return []


def first_chunks(count: int, **options: Any) -> list[str]:
    async def collect() -> list[str]:
        chunks: list[str] = []
        async for chunk in event_stream(Quiet().events, view, 0, None, True, 60, **options):
            chunks.append(chunk)
            if len(chunks) == count:
                break
        return chunks

    return anyio.run(collect)


def test_an_idle_stream_sends_keep_alive_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_stream, "KEEP_ALIVE_SECONDS", 0.0)
    assert first_chunks(2) == [KEEP_ALIVE, KEEP_ALIVE]


def test_a_following_stream_ends_when_the_client_has_left() -> None:
    async def gone() -> bool:
        return True

    assert first_chunks(1, disconnected=gone) == []


def test_a_following_stream_ends_when_the_streams_are_closed() -> None:
    streams = EventStreams()
    streams.close()
    assert first_chunks(1, streams=streams) == []
    streams.reopen()
    assert not streams.closed
