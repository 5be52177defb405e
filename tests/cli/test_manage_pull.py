"""``trustspace transfer pull`` from a provider's data plane, while the transfer is STARTED and its data not
yet moved. A live consumer connector moves the data itself at once, so this window cannot be held open with
real connectors: a stand-in connector answers the management API and serves the data plane."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Header, Response
from fastapi.responses import JSONResponse
from manage_space import runner, wide_console

from live import free_port, serve
from trustspace.cli.main import app
from trustspace.connector.dataplane.digest import repr_digest
from trustspace.connector.dataplane.tokens import dsp_data_address

DATA = b"region,total\nnorth,10\n" * 1000
TOKEN = "data-plane-token"

@pytest.fixture(autouse=True)
def _wide() -> Iterator[None]:
    with wide_console():
        yield



def stand_in(url: str, state: dict[str, Any]) -> FastAPI:
    """A connector holding one STARTED pull transfer ``t-1`` whose provider data plane it serves too."""
    stub = FastAPI()

    @stub.get("/v1/management/transfers/{transfer_id}")
    def transfer(transfer_id: str, x_api_key: str = Header(default="")) -> JSONResponse:
        if x_api_key != "key":
            return JSONResponse({"detail": "missing or unknown API key"}, status_code=401)
        return JSONResponse({"id": transfer_id, "role": "consumer", "state": state["state"],
                             "transferType": "HttpData-PULL", "agreementId": "a-1", "details": {},
                             "dataAddress": dsp_data_address(f"{url}/data/{transfer_id}", TOKEN)})

    @stub.get("/data/{transfer_id}")
    def data(transfer_id: str, authorization: str = Header(default="")) -> Response:
        if authorization != f"Bearer {TOKEN}":
            return JSONResponse({"type": "urn:trustspace:problem:data-token-missing", "detail": "no token"},
                                status_code=401)
        return Response(DATA, media_type="text/csv",
                        headers={"Repr-Digest": repr_digest(hashlib.sha256(DATA).hexdigest())})

    return stub


@pytest.fixture
def connector() -> Iterator[tuple[str, dict[str, Any]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    state = {"state": "STARTED"}
    with serve(stand_in(url, state), port):
        yield url, state


def test_pull_fetches_from_the_data_plane_while_started(connector: tuple[str, dict[str, Any]],
                                                        tmp_path: Path) -> None:
    url, _ = connector
    output = tmp_path / "data.csv"
    result = runner.invoke(app, ["transfer", "pull", "t-1", "--output", str(output), "--connector-url", url,
                                 "--api-key", "key", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["via"] == "data-plane" and answer["verified"] is True
    assert answer["sha256"] == hashlib.sha256(DATA).hexdigest() and output.read_bytes() == DATA
    plain = runner.invoke(app, ["transfer", "pull", "t-1", "-o", str(output), "--force", "--connector-url", url,
                                "--api-key", "key"])
    assert plain.exit_code == 0 and "from the provider's data plane" in plain.output


def test_pull_of_a_terminated_transfer_says_so(connector: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    url, state = connector
    state["state"] = "TERMINATED"
    result = runner.invoke(app, ["transfer", "pull", "t-1", "--output", str(tmp_path / "x"), "--connector-url", url,
                                 "--api-key", "key"])
    assert result.exit_code == 1 and "the transfer was terminated" in result.output
    assert "trustspace transfer start --agreement a-1" in result.output and not (tmp_path / "x").exists()


def test_pull_gives_up_after_its_timeout(connector: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    url, state = connector
    state["state"] = "REQUESTED"
    result = runner.invoke(app, ["transfer", "pull", "t-1", "--output", str(tmp_path / "x"), "--timeout", "1",
                                 "--connector-url", url, "--api-key", "key"])
    assert result.exit_code == 1 and "still REQUESTED" in result.output and "--timeout" in result.output
    assert "trustspace transfer status t-1" in result.output
