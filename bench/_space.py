"""Shared parts of the connector benchmarks: a live space of real processes on 127.0.0.1 (an operator and two
member connectors started with ``python -m trustspace``), throw-away PostgreSQL databases, a reader of a
connector's event stream, and the bare Starlette apps the baselines are measured against.

Run as ``python bench/_space.py <floor|file> <port>`` it serves one of those bare apps with uvicorn, configured
as the connectors are (``uvicorn.run(app, log_config=None, access_log=False)``, same event loop and HTTP parser).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from trustspace.connector.settings import init_connector
from trustspace.core.errors import TrustSpaceError, Unauthenticated, ValidationFailed
from trustspace.core.ids import credit_code_check_char
from trustspace.core.keys import SigningKey
from trustspace.demo.processes import Service, Supervisor, free_port
from trustspace.store.membership.interfaces import ReplayStore
from trustspace.web.problems import error_body

FLOOR_ACK = {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "ContractNegotiation",
             "consumerPid": "urn:uuid:0", "providerPid": "urn:uuid:1", "state": "REQUESTED"}
POLICY = {"permission": [{"action": "use", "constraint": [
    {"leftOperand": "trustspace:role", "operator": "isAnyOf", "rightOperand": ["consumer"]}]}]}
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


class BenchSkip(Exception):
    """A part of a benchmark cannot run on this machine; the message says why."""


# --- processes -----------------------------------------------------------------------------------------------
@dataclass
class Connector:
    name: str
    url: str
    data_dir: Path
    pid: int
    client: httpx.Client

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, self.url + path, **kwargs)
        if response.status_code >= 300:
            raise RuntimeError(f"{self.name}: {method} {path} answered {response.status_code}: {response.text}")
        return response.json()


@dataclass
class Space:
    operator_url: str
    provider: Connector
    consumer: Connector
    clients: list[httpx.Client] = field(default_factory=list)


@contextmanager
def processes(workdir: Path) -> Iterator[Supervisor]:
    """A ``trustspace.demo.processes.Supervisor`` whose processes are always stopped on the way out."""
    supervisor = Supervisor(workdir)
    try:
        yield supervisor
    finally:
        supervisor.stop_all()


def start_bare(supervisor: Supervisor, kind: str, env: dict[str, str] | None = None) -> str:
    """Start ``python bench/_space.py <kind> <port>`` under the supervisor; returns its URL once ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = supervisor.workdir / "logs" / f"bare-{kind}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # our interpreter and this file
            [sys.executable, str(Path(__file__).resolve()), kind, str(port)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **(env or {})})
    service = Service(f"bare-{kind}", url, log_path, process)
    supervisor.services.append(service)
    supervisor.wait_ready(service)
    return url


def start_space(supervisor: Supervisor, database_urls: tuple[str | None, str | None] = (None, None)) -> Space:
    """Operator plus provider and consumer connectors, both members (roles provider and consumer).
    ``database_urls`` are the connectors' databases; None is SQLite in the connector's folder."""
    workdir = supervisor.workdir
    port = free_port()
    operator_url = f"http://127.0.0.1:{port}"
    operator = supervisor.start("operator", operator_url, [
        "operator", "start", "--data-dir", str(workdir / "operator"), "--port", str(port),
        "--database-url", f"sqlite:///{workdir / 'operator' / 'operator.db'}", "--space", "bench"])
    supervisor.wait_ready(operator)
    admin = httpx.Client(timeout=30, headers={"X-API-Key": _secret(workdir / "operator" / "admin-api-key")})
    provider = _connector(supervisor, "provider", operator_url, database_urls[0])
    space = Space(operator_url, provider, _connector(supervisor, "consumer", operator_url, database_urls[1]))
    space.clients += [admin, space.provider.client, space.consumer.client]
    for connector in (space.provider, space.consumer):
        _join(connector, admin, operator_url)
    return space


def close_space(space: Space) -> None:
    for client in space.clients:
        client.close()


def _secret(path: Path) -> str:
    return path.read_text().strip()


def _connector(supervisor: Supervisor, name: str, operator_url: str, database: str | None) -> Connector:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = supervisor.workdir / name
    init_connector(folder, url, operator_url, name)
    service = supervisor.start(name, url, [
        "connector", "start", "--data-dir", str(folder),
        "--database-url", database or f"sqlite:///{folder / 'connector.db'}"])
    supervisor.wait_ready(service)
    client = httpx.Client(timeout=60, headers={"X-API-Key": _secret(folder / "management-api-key")})
    return Connector(name, url, folder, service.process.pid, client)


def _join(connector: Connector, admin: httpx.Client, operator_url: str) -> None:
    first17 = "9133010" + f"{secrets.randbelow(10**10):010d}"
    applied = connector.ok("POST", "/v1/management/membership/apply", json={
        "displayName": connector.name, "creditCode": first17 + credit_code_check_char(first17),
        "roles": ["provider", "consumer"]})
    approved = admin.post(f"{operator_url}/v1/membership/applications/{applied['id']}/approve", json={})
    if approved.status_code != 200:
        raise RuntimeError(f"approval of {connector.name} failed: {approved.text}")
    if connector.ok("POST", "/v1/management/membership/refresh")["membership"]["member"] is not True:
        raise RuntimeError(f"{connector.name} is not a member after approval")


# --- PostgreSQL ----------------------------------------------------------------------------------------------
@contextmanager
def postgres_databases(count: int) -> Iterator[list[str]]:
    """``count`` fresh databases ``trustspace_bench_<hex>``, dropped on the way out. BenchSkip if unreachable."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # any failure to connect: skip, say why
        raise BenchSkip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc.__class__.__name__}: {exc}") from exc
    names = [f"trustspace_bench_{secrets.token_hex(6)}" for _ in range(count)]
    try:
        for name in names:
            admin.execute(f"CREATE DATABASE {name}")  # the name is ours: hex only
        yield [f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}" for name in names]
    finally:
        for name in names:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


# --- the management API --------------------------------------------------------------------------------------
def publish(provider: Connector, asset_id: str, address: dict[str, Any]) -> None:
    provider.ok("POST", "/v1/management/assets", json={"id": asset_id, "title": f"bench {asset_id}",
                                                       "dataAddress": address, "properties": {"keyword": ["bench"]}})
    provider.ok("POST", "/v1/management/policies", json={"id": f"{asset_id}-policy", "policy": POLICY})
    provider.ok("POST", "/v1/management/offers", json={"id": f"{asset_id}-offer", "assetId": asset_id,
                                                       "policyId": f"{asset_id}-policy"})


def catalog_offer(space: Space, asset_id: str) -> dict[str, Any]:
    """The offer of ``asset_id`` as the consumer reads it in the provider's catalog."""
    catalog = space.consumer.ok("POST", "/v1/management/catalog/request", json={"providerUrl": space.provider.url})
    dataset = next(d for d in catalog["dataset"] if d["@id"] == asset_id)
    offer: dict[str, Any] = dataset["hasPolicy"][0]
    return offer


def start_negotiation(space: Space, offer: dict[str, Any], asset_id: str) -> str:
    started = space.consumer.ok("POST", "/v1/management/negotiations", json={
        "providerUrl": space.provider.url, "offer": offer, "datasetId": asset_id})
    return str(started["id"])


@dataclass(frozen=True)
class Event:
    id: int
    process_id: str
    state: str
    detail: str
    at: float  # POSIX seconds, the connector's clock (the same machine clock as ours)


class EventReader:
    """Reads a connector's state changes from ``/v1/management/events?follow=false&after=<cursor>``: one
    cheap request returns only what is new since the last read, for every process at once."""

    def __init__(self, connector: Connector, after: int = 0) -> None:
        self.connector, self.after = connector, after

    def read(self) -> list[Event]:
        return self._page()  # with follow=false the endpoint returns every event after the cursor

    def _page(self) -> list[Event]:
        response = self.connector.client.get(f"{self.connector.url}/v1/management/events",
                                             params={"after": self.after, "follow": "false"})
        response.raise_for_status()
        events = []
        for line in response.text.splitlines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
                events.append(Event(int(data["id"]), data["processId"], data["state"], data["detail"],
                                    datetime.fromisoformat(data["at"]).timestamp()))
        if events:
            self.after = events[-1].id
        return events

    def skip_to_now(self) -> None:
        self.read()


def wait_for(reader: EventReader, process_id: str, states: set[str], timeout: float,
             interval: float = 0.005) -> list[Event]:
    """Every event of ``process_id`` until one reaches ``states`` (polled every ``interval`` seconds)."""
    seen: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += [e for e in reader.read() if e.process_id == process_id]
        if any(e.state in states for e in seen):
            return seen
        time.sleep(interval)
    raise RuntimeError(f"{process_id} did not reach {states} in {timeout:.0f} s; saw {[e.state for e in seen]}")


# --- small statistics ----------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def cores() -> int:
    return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average: other work on this machine skews every figure here."""
    return round(os.getloadavg()[0], 2)


# --- the bare apps of the baselines --------------------------------------------------------------------------
def bare_app(kind: str) -> Starlette:
    """``floor``: POST /echo parses a JSON body and answers a small JSON acknowledgement, as a DSP endpoint
    does. ``work``: POST /start and POST /hop do the work a negotiation may not skip (see ``RequiredWork``).
    ``file``: GET /file is a FileResponse of the file named by BENCH_FILE."""

    async def ready(_: Request) -> Response:
        return JSONResponse({"status": "ready"})

    async def echo(request: Request) -> Response:
        await request.json()
        return JSONResponse(FLOOR_ACK, status_code=201)

    async def file(_: Request) -> Response:
        return FileResponse(os.environ["BENCH_FILE"], media_type="application/octet-stream")

    if kind == "floor":
        route = Route("/echo", echo, methods=["POST"])
    elif kind == "work":
        work = RequiredWork(Path(os.environ["BENCH_WORK_DB"]))
        return Starlette(routes=[Route("/readyz", ready), Route("/start", work.start, methods=["POST"]),
                                 Route("/hop", work.hop, methods=["POST"])])
    else:
        route = Route("/file", file)
    return Starlette(routes=[Route("/readyz", ready), route])


WORK_SCHEMA = "negotiation/contract-request-message-schema.json"
WORK_AUDIENCE = "did:web:bench-floor"
WORK_ISSUER = "did:web:bench-sender"


def work_secrets() -> tuple[SigningKey, str]:
    """One run's throw-away sender key and owner API key for the required-work floor, handed to the bare app
    in BENCH_SEED and BENCH_API_KEY by the benchmark that generated them."""
    return SigningKey.from_seed(bytes.fromhex(os.environ["BENCH_SEED"])), os.environ["BENCH_API_KEY"]


class _SqliteReplay(ReplayStore):
    """Remembers token ids in the same transaction as the message (the most a real hop could save)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def remember_jti(self, jti: str, issuer: str, expires_at: datetime, now: datetime) -> bool:
        try:
            self.connection.execute("INSERT INTO jti VALUES (?, ?)", (jti, expires_at.isoformat()))
        except sqlite3.IntegrityError:
            return False
        return True


class RequiredWork:
    """The bare app ``work``: what a negotiation cannot skip on the receiving side, and nothing more.

    ``POST /start`` is the owner's management call: the API key is checked (against its SHA-256, as the
    connectors store it) and the new negotiation committed before 201. ``POST /hop`` is one protocol message:
    the sender's Ed25519-signed token is verified and a replayed jti refused, the message is validated against
    its DSP schema, and jti and message are committed in one durable transaction before 201. SQLite in WAL
    mode with synchronous=FULL, as the connectors run it; the work runs on the event loop (a thread hop is not
    required), so this is a lower bound."""

    def __init__(self, database: Path) -> None:
        from trustspace.core.clock import SystemClock
        from trustspace.identity.tokens import TokenVerifier

        self.connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for statement in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                          "CREATE TABLE IF NOT EXISTS jti (jti TEXT PRIMARY KEY, expires_at TEXT)",
                          "CREATE TABLE IF NOT EXISTS message (id INTEGER PRIMARY KEY, body TEXT)"):
            self.connection.execute(statement)
        key, api_key = work_secrets()
        self.api_key_hash = hashlib.sha256(api_key.encode()).digest()
        self.verifier = TokenVerifier(WORK_AUDIENCE, lambda _kid: key.public, _SqliteReplay(self.connection),
                                      SystemClock())

    def commit(self, raw: bytes, token: str | None = None) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            if token is not None:
                self.verifier.verify(token)
            self.connection.execute("INSERT INTO message (body) VALUES (?)", (raw.decode(),))
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    async def start(self, request: Request) -> Response:
        presented = hashlib.sha256(request.headers.get("x-api-key", "").encode()).digest()
        if not hmac.compare_digest(presented, self.api_key_hash):
            return _refused(Unauthenticated("a wrong or missing management API key", field="X-API-Key"))
        return await self._answer(request, token=None)

    async def hop(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return _refused(Unauthenticated("a protocol message needs a bearer token", field="Authorization"))
        return await self._answer(request, token=authorization.removeprefix("Bearer "))

    async def _answer(self, request: Request, token: str | None) -> Response:
        from trustspace.protocol.schemas import validate

        raw = await request.body()
        try:
            body = json.loads(raw)
            if token is not None:
                validate(body, WORK_SCHEMA)
            self.commit(raw, token)
        except ValueError:
            return _refused(ValidationFailed("the request body is not JSON", field="body"))
        except TrustSpaceError as exc:  # a replayed or bad token, a message failing its schema
            return _refused(exc)
        return JSONResponse(FLOOR_ACK, status_code=201)


def _refused(exc: TrustSpaceError) -> Response:
    return JSONResponse(error_body(exc), status_code=exc.status, media_type="application/problem+json")


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(bare_app(kind), host="127.0.0.1", port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
