"""The management event stream without following: every event after the cursor, however many, then the end."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio

from trustspace.connector.dsp.events_stream import EVENT_PAGE, event_stream
from trustspace.connector.dsp.management import view
from trustspace.store.dsp.records import ProcessEvent

AT = datetime(2026, 11, 27, tzinfo=UTC)


class History:
    def __init__(self, count: int) -> None:
        self.all = [ProcessEvent(n, "negotiation", f"n-{n}", "REQUESTED", "queued", AT) for n in range(1, count + 1)]
        self.pages = 0

    def events(self, after_id: int = 0, process_id: str | None = None, limit: int = 100) -> list[ProcessEvent]:
        self.pages += 1
        return [e for e in self.all if e.id > after_id][:limit]


def sent(history: History, after: int) -> list[str]:
    async def collect() -> list[str]:
        return [chunk async for chunk in event_stream(history.events, view, after, None, False, 10)]

    return anyio.run(collect)


def ids(lines: list[str]) -> list[int]:
    return [int(line.split("\n", 1)[0].removeprefix("id: ")) for line in lines]


def test_not_following_returns_every_event_after_the_cursor_across_pages() -> None:
    history = History(2 * EVENT_PAGE + 7)
    assert ids(sent(history, 5)) == list(range(6, 2 * EVENT_PAGE + 8))
    assert history.pages == 3


def test_an_empty_history_ends_at_once() -> None:
    assert sent(History(0), 0) == []
