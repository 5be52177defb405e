"""Runs a service under uvicorn so that a stop request (SIGTERM, Ctrl-C) never waits on its clients.

uvicorn stops in this order: it stops accepting, waits for every open connection to finish its answer, and
only then runs the app's lifespan shutdown. Long-lived answers (the connector's event streams) would keep it
waiting for as long as their clients stay, so the app is told to end them first (``closing``), and whatever
still runs after ``GRACE_SECONDS`` is cancelled.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

GRACE_SECONDS = 3
STARTUP_FAILURE = 3  # uvicorn's exit status when it could not start


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, closing: Callable[[], None] = lambda: None) -> None:
        super().__init__(config)
        self.closing = closing

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.closing()
        await super().shutdown(sockets)


def config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    # Our request middleware writes the access log (with the request id); uvicorn's would repeat it.
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                          timeout_graceful_shutdown=GRACE_SECONDS)


def run(app: ASGIApp, host: str, port: int, closing: Callable[[], None] = lambda: None) -> None:
    """Serve until stopped; ``closing`` is called as soon as the server is asked to stop."""
    server = Server(config(app, host, port), closing)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
