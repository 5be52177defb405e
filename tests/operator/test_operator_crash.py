"""A crash loses nothing that was acknowledged: the operator process is killed with SIGKILL right after it
answered, restarted on the same data, and everything it confirmed is still there (including the replay
memory of the tokens it accepted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from live import free_port
from trustspace.client.http import Signer
from trustspace.core.clock import SystemClock
from trustspace.core.keys import SigningKey
from trustspace.identity.did import did_key, did_web, verification_method_id


def start(data: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "trustspace", "operator", "start", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("operator did not start")


@pytest.mark.system
def test_sigkill_after_acknowledgement_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    url, data = f"http://127.0.0.1:{port}", tmp_path / "op"
    key = SigningKey.generate()
    did = did_key(key.public)
    signer = Signer(key, did, verification_method_id(did), SystemClock())
    process = start(data, port)
    try:
        admin = {"X-API-Key": (data / "admin-api-key").read_text().strip()}
        headers = signer.headers(did_web(url))
        applied = httpx.post(f"{url}/v1/membership/applications", headers=headers, json={
            "displayName": "p", "creditCode": "91350100M000100Y43", "roles": ["consumer"]})
        assert applied.status_code == 201
        approved = httpx.post(f"{url}/v1/membership/applications/{applied.json()['id']}/approve", headers=admin)
        assert approved.status_code == 200
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

        process = start(data, port)
        after = httpx.get(f"{url}/v1/members", params={"did": did}, headers=admin).json()
        assert after[0]["status"] == "approved"
        assert after[0]["credential"] == approved.json()["credential"]
        replay = httpx.post(f"{url}/v1/membership/applications", headers=headers, json={
            "displayName": "p", "creditCode": "91350100M000100Y43", "roles": ["consumer"]})
        assert replay.status_code == 401 and replay.json()["type"].endswith("token-replayed")
        assert (data / "admin-api-key").read_text().strip() == admin["X-API-Key"], "the key is not regenerated"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
