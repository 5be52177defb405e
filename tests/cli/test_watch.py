"""``trustspace connector processes [--watch]`` against a live connector: the list, the live stream of state
changes (as its own process, stopped with Ctrl-C), and a refused stream failing at once with the server's
reason instead of reconnecting for ever."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from typer.testing import CliRunner

from live import free_port, serve
from trustspace.cli.main import app
from trustspace.cli.services import init_connector
from trustspace.connector.app import create_app
from trustspace.connector.settings import ConnectorSettings

runner = CliRunner()
OFFER = {"@id": "offer-1", "@type": "Offer", "permission": [{"action": "use"}]}


@pytest.fixture(scope="module")
def connector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A connector whose one negotiation asks a provider that is not there: (url, api key, negotiation id)."""
    folder = tmp_path_factory.mktemp("watch") / "consumer"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init_connector(folder, url, f"http://127.0.0.1:{free_port()}", "consumer")
    with serve(create_app(ConnectorSettings.load(folder, worker_poll=0.2)), port):
        key = (folder / "management-api-key").read_text().strip()
        absent = f"http://127.0.0.1:{free_port()}"  # a DSP base given directly: nothing to discover first
        started = httpx.post(f"{url}/v1/management/negotiations", headers={"X-API-Key": key}, json={
            "counterPartyAddress": absent + "/dsp", "counterPartyId": "did:web:absent.example", "offer": OFFER,
            "datasetId": "tax-records"})
        assert started.status_code == 201, started.text
        yield url, key, started.json()["id"]


def test_the_list_shows_the_negotiation(connector: tuple[str, str, str]) -> None:
    url, key, negotiation = connector
    result = runner.invoke(app, ["connector", "processes", "--url", url, "--api-key", key, "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(n["id"], n["state"]) for n in listed["negotiations"]] == [(negotiation, "REQUESTED")]
    assert listed["transfers"] == []


def next_event(stream: IO[str]) -> dict[str, Any]:
    """The next JSON document the watcher printed (each spans several lines)."""
    text = ""
    while line := stream.readline():
        text += line
        try:
            event: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError:
            continue
        return event
    raise AssertionError(f"the watcher stopped printing; last output: {text!r}")


CTRL_C_AS_ON_A_TERMINAL = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                           "sys.argv[0] = 'trustspace'; runpy.run_module('trustspace', run_name='__main__')")


def test_watch_prints_each_state_change_until_ctrl_c(connector: tuple[str, str, str]) -> None:
    url, key, negotiation = connector
    # Ctrl-C on a terminal: SIGINT means KeyboardInterrupt, even when this test runs in a background job (whose
    # children start with SIGINT ignored, which Python keeps).
    command = [sys.executable, "-c", CTRL_C_AS_ON_A_TERMINAL, "connector", "processes", "--watch", "--json",
               "--url", url, "--process", negotiation]
    watcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TRUSTSPACE_MANAGEMENT_API_KEY": key})
    stop_anyway = threading.Timer(30, watcher.kill)  # a silent watcher fails the test instead of hanging it
    stop_anyway.start()
    try:
        assert watcher.stdout is not None
        first = next_event(watcher.stdout)
        assert (first["processId"], first["state"], first["detail"]) == (negotiation, "REQUESTED",
                                                                          "contract request queued")
        # The worker cannot reach the provider: the reason shows up live on the same stream.
        problem = next_event(watcher.stdout)
        assert problem["processId"] == negotiation and "cannot reach" in problem["detail"]
    finally:
        watcher.send_signal(signal.SIGINT)
        _, errors = watcher.communicate(timeout=10)
        stop_anyway.cancel()
    assert watcher.returncode == 0, errors
    assert "Traceback" not in errors


def test_a_refused_watch_fails_at_once_with_the_reason(connector: tuple[str, str, str]) -> None:
    url, _, _ = connector
    # Its own process with a deadline: the old watcher reconnected for ever on a refusal, silently.
    result = subprocess.run([sys.executable, "-m", "trustspace", "connector", "processes", "--watch", "--url", url,
                             "--api-key", "wrong"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "API key" in result.stdout + result.stderr


def test_watch_without_a_key_says_where_to_find_it(connector: tuple[str, str, str], tmp_path: Path) -> None:
    url, _, _ = connector
    result = runner.invoke(app, ["connector", "processes", "--watch", "--url", url],
                           env={"TRUSTSPACE_MANAGEMENT_API_KEY": ""})
    assert result.exit_code == 1
    assert "management-api-key" in result.output
