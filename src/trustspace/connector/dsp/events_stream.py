"""The management API's server-sent event stream of every state change, and the registry of open streams.

A stream is mostly idle, so it must not hold a worker thread while it waits: it is an async generator that
borrows a thread only for each short store read (through a small limiter of its own, so streams cannot starve
the threadpool sync routes such as ``/healthz`` run in) and sleeps on the event loop between reads. It ends
when the client leaves, when its timeout passes, or when the registry is closed (the service is stopping).
An SSE comment every ``KEEP_ALIVE_SECONDS`` makes a write reach the socket, so a peer that vanished without
closing its connection is found too. Each API key may hold at most ``per_key`` streams at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from trustspace.store.dsp.interfaces import ProcessStore
from trustspace.store.dsp.records import ProcessEvent
from trustspace.web.auth import API_KEY_HEADER, hash_api_key
from trustspace.web.openapi import problems
from trustspace.web.problems import problem

EVENT_PAGE = 200
POLL_SECONDS = 0.2
KEEP_ALIVE_SECONDS = 15.0
KEEP_ALIVE = ": keep-alive\n\n"
DEFAULT_PER_KEY = 8
# Store reads of all streams together use at most this many threads; the rest wait on the event loop.
READ_THREADS = 4
RETRY_AFTER_SECONDS = 5

ReadEvents = Callable[[int, str | None, int], list[ProcessEvent]]
# The JSON view of an event (management.view: the same fields as the API's other answers).
Render = Callable[[ProcessEvent], dict[str, Any]]


class EventStreams:
    """The open event streams: how many each API key holds (by the key's hash, never the key), and the
    signal that ends them all when the service stops."""

    def __init__(self, per_key: int = DEFAULT_PER_KEY, read_threads: int = READ_THREADS) -> None:
        self.per_key = per_key
        self.readers = anyio.CapacityLimiter(read_threads)
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def reopen(self) -> None:
        """Take streams again (at startup: an app may be started again after a shutdown, as tests do)."""
        self._closed.clear()

    def close(self) -> None:
        """End every open stream at its next round (within ``POLL_SECONDS``), and take no new one. Thread-safe:
        the server calls it when asked to stop, before it waits for open connections to finish."""
        self._closed.set()

    def acquire(self, holder: str) -> bool:
        with self._lock:
            if self._open.get(holder, 0) >= self.per_key:
                return False
            self._open[holder] = self._open.get(holder, 0) + 1
            return True

    def release(self, holder: str) -> None:
        with self._lock:
            left = self._open.get(holder, 0) - 1
            if left > 0:
                self._open[holder] = left
            else:
                self._open.pop(holder, None)

    def open_streams(self, api_key: str | None = None) -> int:
        """Streams open now: those of one key, or of all."""
        with self._lock:
            if api_key is None:
                return sum(self._open.values())
            return self._open.get(hash_api_key(api_key), 0)


class EventStreamResponse(StreamingResponse):
    """A stream that gives its slot back however it ends: completed, cancelled by a disconnect, or failed."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def sse_event(event: ProcessEvent, render: Render) -> str:
    return f"id: {event.id}\nevent: state\ndata: {json.dumps(render(event), ensure_ascii=False)}\n\n"


async def _never() -> bool:
    return False


async def event_stream(
    read: ReadEvents,
    render: Render,
    after: int,
    process_id: str | None,
    follow: bool,
    timeout: float,
    *,
    disconnected: Callable[[], Awaitable[bool]] = _never,
    streams: EventStreams | None = None,
) -> AsyncIterator[str]:
    """Every event after ``after`` (of one process, if given), page by page; following, new ones as they come,
    until ``timeout`` seconds have passed, the client has left, or ``streams`` is closed."""
    streams = streams or EventStreams()
    deadline = time.monotonic() + timeout
    last, quiet_since = after, time.monotonic()
    while True:
        page = await anyio.to_thread.run_sync(read, last, process_id, EVENT_PAGE, limiter=streams.readers)
        for event in page:
            last = event.id
            yield sse_event(event, render)
        if page:
            quiet_since = time.monotonic()
        if len(page) == EVENT_PAGE:
            continue  # more are waiting already
        if not follow or time.monotonic() > deadline or streams.closed or await disconnected():
            return
        if time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield KEEP_ALIVE
        await anyio.sleep(POLL_SECONDS)


def _refusal(status: int, slug: str, title: str, detail: str, hint: str) -> Response:
    response = problem(status, slug, title, detail, field=API_KEY_HEADER if status == 429 else None, hint=hint)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def open_stream(streams: EventStreams, request: Request, processes: ProcessStore, render: Render, after: int,
                process_id: str | None, follow: bool, timeout: float) -> Response:
    """The stream, if the caller's key has a slot left and the service is not stopping; else the refusal."""
    if streams.closed:
        return _refusal(503, "shutting-down", "Service stopping", "the connector is shutting down",
                        "reconnect with 'after' set to the last event id once it is back")
    holder = hash_api_key(request.headers.get(API_KEY_HEADER.lower(), ""))
    if not streams.acquire(holder):
        return _refusal(429, "too-many-streams", "Too many event streams",
                        f"this API key already holds the limit of {streams.per_key} open event streams",
                        "close a stream you no longer read, or retry after the seconds in Retry-After")
    content = event_stream(processes.events, render, after, process_id, follow, timeout,
                           disconnected=request.is_disconnected, streams=streams)
    return EventStreamResponse(content, lambda: streams.release(holder))


# Each server-sent event, for the OpenAPI document: its id, the event name and the state change as JSON.
EVENT_SCHEMA = {"type": "object", "required": ["id", "event", "data"],
                "properties": {"id": {"type": "string"}, "event": {"const": "state"},
                               "data": {"type": "string", "contentMediaType": "application/json"}}}


def add_events_route(router: APIRouter, processes: ProcessStore, streams: EventStreams, render: Render) -> None:
    @router.get("/events", response_model=None, response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}}}, **problems(429)})
    async def events(
        request: Request,
        after: int = Query(default=0, ge=0),
        process_id: str | None = Query(default=None, alias="processId"),
        follow: bool = Query(default=True),
        timeout: float = Query(default=300, gt=0, le=3600),
    ) -> Response:
        """State changes as server-sent events, each with its id. ``follow=false``: every event after ``after``,
        then the stream ends; otherwise it goes on with new events until ``timeout`` seconds have passed
        (comments ``: keep-alive`` keep an idle stream's connection checked). At most the configured number of
        streams per API key are open at once (429 with Retry-After beyond)."""
        return open_stream(streams, request, processes, render, after, process_id, follow, timeout)
