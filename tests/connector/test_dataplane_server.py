"""The data-plane router through FastAPI's TestClient: file serving with digests and ranges, the token and
gate checks on every request, and the consumer's push inbox."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from trustspace.connector.dataplane.gate import InMemoryGate
from trustspace.connector.dataplane.inbox import Inbox
from trustspace.connector.dataplane.server import data_router
from trustspace.connector.dataplane.sources import FileSource
from trustspace.connector.dataplane.tokens import PUSH_SCOPE, issue_access_token
from trustspace.core.clock import FixedClock
from trustspace.core.keys import SigningKey
from trustspace.web.problems import install_problem_handlers

PROVIDER, CONSUMER = "did:web:provider.example", "did:web:consumer.example"
CONTENT = bytes(range(256)) * 40 + b"tail"


@dataclass
class Plane:
    key: SigningKey
    clock: FixedClock
    gate: InMemoryGate
    inbox: Inbox
    http: TestClient
    file: Path

    def token(self, transfer: str = "t1", agreement: str = "a1", **kwargs: Any) -> str:
        return issue_access_token(self.key, issuer=PROVIDER, audience=CONSUMER, transfer_id=transfer,
                                  agreement_id=agreement, now=self.clock.now(), **kwargs)

    def get(self, transfer: str = "t1", token: str | None = None, **headers: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token or self.token(transfer)}"}
        response: httpx.Response = self.http.get(f"/data/{transfer}", headers={**auth, **headers})
        return response


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    key, clock, gate = SigningKey.generate(), FixedClock(), InMemoryGate()
    file = tmp_path / "report.bin"
    file.write_bytes(CONTENT)
    gate.start("t1", "a1", FileSource(file))
    inbox = Inbox(tmp_path / "inbox", key.public, gate, max_bytes=1024 * 1024)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(data_router(gate, key.public, clock, inbox=inbox, chunk_size=1000))
    with TestClient(app) as http:
        yield Plane(key, clock, gate, inbox, http, file)


def problem_type(response: httpx.Response) -> str:
    return str(response.json()["type"]).rsplit(":", 1)[-1]


def test_file_with_digest_etag_and_length(plane: Plane) -> None:
    response = plane.get()
    digest = hashlib.sha256(CONTENT).digest()
    assert response.status_code == 200 and response.content == CONTENT
    headers = response.headers
    assert headers["content-length"] == str(len(CONTENT))
    assert headers["etag"] == f'"{digest.hex()}"'
    assert headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-type"] == "application/octet-stream"


N = len(CONTENT)


@pytest.mark.parametrize(("spec", "first", "last"), [
    ("bytes=0-9", 0, 9), ("bytes=100-", 100, N - 1), ("bytes=-5", N - 5, N - 1), ("bytes=10-99999", 10, N - 1),
    ("bytes=-99999", 0, N - 1), (f"bytes={N - 1}-{N - 1}", N - 1, N - 1),
])
def test_single_ranges(plane: Plane, spec: str, first: int, last: int) -> None:
    response = plane.get(Range=spec)
    assert response.status_code == 206
    assert response.content == CONTENT[first:last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{N}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.headers["repr-digest"].startswith("sha-256=:")


@pytest.mark.parametrize("spec", [f"bytes={N}-", f"bytes={N + 5}-{N + 9}", "bytes=-0"])
def test_unsatisfiable_ranges(plane: Plane, spec: str) -> None:
    response = plane.get(Range=spec)
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{N}"
    assert problem_type(response) == "range-not-satisfiable"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-1", "bytes=9-3", "bytes=x-"])
def test_ranges_we_ignore_get_the_whole_file(plane: Plane, spec: str) -> None:
    response = plane.get(Range=spec)
    assert response.status_code == 200 and response.content == CONTENT


def test_if_range_only_resumes_the_same_representation(plane: Plane) -> None:
    validator = plane.get().headers["etag"]
    assert plane.get(Range="bytes=10-", **{"If-Range": validator}).status_code == 206
    stale = plane.get(Range="bytes=10-", **{"If-Range": '"0000"'})
    assert stale.status_code == 200 and stale.content == CONTENT


def test_missing_token(plane: Plane) -> None:
    response = plane.http.get("/data/t1")
    assert response.status_code == 401 and problem_type(response) == "data-token-missing"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert plane.http.get("/data/t1", headers={"Authorization": "Basic abc"}).status_code == 401


def test_expired_token(plane: Plane) -> None:
    issued = plane.token(lifetime=60)
    plane.clock.advance(66)
    response = plane.get(token=issued)
    assert response.status_code == 401 and problem_type(response) == "data-token-expired"


def test_token_of_another_transfer(plane: Plane) -> None:
    plane.gate.start("t2", "a1", FileSource(plane.file))
    response = plane.get("t1", token=plane.token("t2"))
    assert response.status_code == 401 and problem_type(response) == "data-token-foreign"


def test_token_signed_by_someone_else(plane: Plane) -> None:
    forged = issue_access_token(SigningKey.generate(), issuer=PROVIDER, audience=CONSUMER, transfer_id="t1",
                                agreement_id="a1", now=plane.clock.now())
    response = plane.get(token=forged)
    assert response.status_code == 401 and problem_type(response) == "data-token-bad-signature"


def test_token_for_another_agreement(plane: Plane) -> None:
    response = plane.get(token=plane.token(agreement="a-other"))
    assert response.status_code == 401 and problem_type(response) == "data-token-foreign"


def test_suspension_stops_access_at_once_and_resume_restores_it(plane: Plane) -> None:
    issued = plane.token()
    assert plane.get(token=issued).status_code == 200
    plane.gate.suspend("t1")
    response = plane.get(token=issued)
    assert response.status_code == 403 and problem_type(response) == "transfer-suspended"
    plane.gate.resume("t1")
    assert plane.get(token=issued).status_code == 200


@pytest.mark.parametrize("end", ["complete", "terminate"])
def test_ended_transfers_refuse(plane: Plane, end: str) -> None:
    getattr(plane.gate, end)("t1")
    response = plane.get()
    assert response.status_code == 403 and problem_type(response) == "transfer-ended"


def test_unknown_transfer(plane: Plane) -> None:
    response = plane.get("nope")
    assert response.status_code == 404 and problem_type(response) == "transfer-not-found"


def test_file_changed_after_start_is_refused(plane: Plane) -> None:
    plane.file.write_bytes(CONTENT + b"more")
    response = plane.get()
    assert response.status_code == 409 and problem_type(response) == "source-changed"


def test_file_transfer_has_no_sub_paths(plane: Plane) -> None:
    response = plane.http.get("/data/t1/x", headers={"Authorization": f"Bearer {plane.token()}"})
    assert response.status_code == 404 and problem_type(response) == "not-a-proxy"


# --- the push inbox (consumer side) ------------------------------------------------------------------------


def push(plane: Plane, body: bytes, *, digest_of: bytes | None = None, transfer: str = "in1",
         token: str | None = None) -> httpx.Response:
    if plane.gate.state(transfer) is None:
        plane.gate.start(transfer, "a1")
    issued = token or issue_access_token(plane.key, issuer=CONSUMER, audience=PROVIDER, transfer_id=transfer,
                                         agreement_id="a1", now=plane.clock.now(), scope=PUSH_SCOPE)
    declared = base64.b64encode(hashlib.sha256(body if digest_of is None else digest_of).digest()).decode()
    headers = {"Authorization": f"Bearer {issued}", "Repr-Digest": f"sha-256=:{declared}:"}
    response: httpx.Response = plane.http.put(f"/inbox/{transfer}", content=iter([body[:7], body[7:]]),
                                              headers=headers)
    return response


def inbox_files(plane: Plane) -> list[str]:
    return sorted(os.listdir(plane.inbox.directory)) if plane.inbox.directory.exists() else []


def test_push_is_kept_when_it_matches_its_digest(plane: Plane) -> None:
    response = push(plane, CONTENT)
    assert response.status_code == 201
    assert response.json() == {"transferId": "in1", "size": N,
                               "sha256": hashlib.sha256(CONTENT).hexdigest()}
    assert plane.inbox.path_for("in1").read_bytes() == CONTENT
    assert push(plane, b"second").status_code == 200
    assert plane.inbox.path_for("in1").read_bytes() == b"second"
    assert inbox_files(plane) == [plane.inbox.path_for("in1").name]


def test_push_with_wrong_digest_keeps_nothing(plane: Plane) -> None:
    response = push(plane, CONTENT, digest_of=b"something else")
    assert response.status_code == 422 and problem_type(response) == "digest-mismatch"
    assert inbox_files(plane) == []


def test_push_needs_a_declared_digest(plane: Plane) -> None:
    plane.gate.start("in1", "a1")
    issued = issue_access_token(plane.key, issuer=CONSUMER, audience=PROVIDER, transfer_id="in1",
                                agreement_id="a1", now=plane.clock.now(), scope=PUSH_SCOPE)
    response = plane.http.put("/inbox/in1", content=b"x", headers={"Authorization": f"Bearer {issued}"})
    assert response.status_code == 422 and response.json()["field"] == "Repr-Digest"


def test_push_larger_than_the_inbox_allows(plane: Plane) -> None:
    response = push(plane, b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413 and problem_type(response) == "inbox-body-too-large"
    assert inbox_files(plane) == []


def test_push_with_a_pull_token_is_refused(plane: Plane) -> None:
    response = push(plane, CONTENT, token=plane.token("in1"))
    assert response.status_code == 401 and problem_type(response) == "data-token-foreign"


def test_push_into_a_suspended_transfer(plane: Plane) -> None:
    plane.gate.start("in1", "a1")
    plane.gate.suspend("in1")
    response = push(plane, CONTENT)
    assert response.status_code == 403 and problem_type(response) == "transfer-suspended"
