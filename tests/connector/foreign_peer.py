"""A foreign Dataspace Protocol 2025-1 peer for interop tests, written from the spec text, not from our code.

It serves its endpoints under a ``<base>`` of its choosing (published in ``/.well-known/dspace-version``), uses
its own pid format (``acme-neg-1``), a participant id that is not the did:web of its root
(``did:web:127.0.0.1%3A<port>:participants:acme``, DID document at ``/participants/acme/did.json``), a callback
path of its own (``/callbacks/dsp``) and a data endpoint of its own that serves a plain body (no Repr-Digest)
behind a bearer token. Nothing of ``trustspace`` is imported: tokens are PyJWT, keys are ``cryptography``.

Authentication follows the space's overlay, since the spec leaves it open ("The semantics of such tokens are
not part of this specification"): a JWS signed by the caller's DID key, audience the callee's participant id,
and the caller's membership credential in ``X-Membership-Credential``, bound by the ``vcd`` claim.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
CALLBACK = "/callbacks/dsp"
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
DATA = b"acme rows: 1,2,3\n" * 100


def b58encode(raw: bytes) -> str:
    number, out = int.from_bytes(raw, "big"), ""
    while number:
        number, rest = divmod(number, 58)
        out = ALPHABET[rest] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + ALPHABET.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def did_url(did: str) -> str:
    """did:web resolution (W3C did:web method): host[:port] then path segments, http for 127.0.0.1."""
    host, *path = did.removeprefix("did:web:").split(":")
    where = "/".join(unquote(p) for p in path) if path else ".well-known"
    return f"http://{unquote(host)}/{where}/did.json"


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"@context": [CONTEXT], "@type": kind, **fields}


def error(kind: str, status: int, code: str, pids: dict[str, str]) -> JSONResponse:
    return JSONResponse(message(kind, code=code, reason=[code], **pids), status_code=status)


@dataclass
class Process:
    pid: str
    their_pid: str
    peer: str  # the counter-party's participant id: the issuer every later token must have
    address: str  # where its endpoints are: a callbackAddress (we provide) or a <base> (we consume)
    state: str
    detail: dict[str, Any] = field(default_factory=dict)


class ForeignPeer:
    def __init__(self, port: int, path: str = "/api/v1/dsp", name: str = "acme") -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.path, self.base = path, self.root + path.rstrip("/")
        self.did = f"did:web:{quote(f'127.0.0.1:{port}', safe='')}:participants:{name}"
        self.kid = f"{self.did}#key-1"
        self.key = Ed25519PrivateKey.generate()
        self.credential: dict[str, Any] | None = None
        self.processes: dict[str, Process] = {}
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        # Agreement parties other than the true ones (a misbehaving provider).
        self.assigner: str | None = None
        self.assignee: str | None = None
        self.data_tokens: dict[str, str] = {}
        self.received: dict[str, bytes] = {}
        self.seen_jti: set[str] = set()
        self.refusals: list[tuple[str, int, str]] = []  # (url, status, body) of our sends the peer refused
        self.move_to: str | None = None  # a path the peer moves its endpoints to once it takes a request
        self.data_redirect: str | None = None  # where the data endpoint redirects to, if it does
        self.data_requests = 0
        self.agreement_terms: dict[str, Any] | None = None  # rules an agreement carries instead of the offer's
        self.app = Starlette(routes=self._routes())

    def move(self, path: str) -> None:
        """Serve the endpoints under another path from now on, and publish it in the version metadata."""
        self.path, self.base = path, self.root + path.rstrip("/")
        self.app.router.routes[:] = self._routes()

    # --- identity -------------------------------------------------------------------------------------------
    def did_document(self) -> dict[str, Any]:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        method = {"id": self.kid, "type": "Multikey", "controller": self.did,
                  "publicKeyMultibase": "z" + b58encode(b"\xed\x01" + raw)}
        return {"@context": ["https://www.w3.org/ns/did/v1"], "id": self.did, "verificationMethod": [method],
                "authentication": [self.kid], "assertionMethod": [self.kid]}

    def headers(self, audience: str) -> dict[str, str]:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.did, "sub": self.did, "aud": audience, "iat": now, "exp": now + 60,
                                  "jti": secrets.token_urlsafe(16)}
        headers: dict[str, str] = {}
        if self.credential is not None:
            raw = json.dumps(self.credential, separators=(",", ":")).encode()
            claims["vcd"] = b64url(hashlib.sha256(raw).digest())
            headers["X-Membership-Credential"] = b64url(raw)
        token = jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})
        return {"Authorization": f"Bearer {token}", **headers}

    def join(self, operator_url: str, operator_did: str, credit_code: str, approve: Callable[[str], None]) -> None:
        """Apply to the space's operator with our own token, have the test's operator approve, keep the VC."""
        body = {"displayName": "Acme (foreign)", "creditCode": credit_code, "roles": ["provider", "consumer"]}
        applied = httpx.post(f"{operator_url}/v1/membership/applications", json=body,
                             headers=self.headers(operator_did), timeout=10)
        assert applied.status_code == 201, applied.text
        approve(applied.json()["id"])
        got = httpx.get(f"{operator_url}/v1/membership/applications/{applied.json()['id']}",
                        headers=self.headers(operator_did), timeout=10)
        self.credential = got.json()["credential"]

    def caller(self, request: Request) -> str | None:
        """The verified issuer of the request's token (audience us), or None."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            kid = jwt.get_unverified_header(token)["kid"]
            issuer = kid.partition("#")[0]
            document = httpx.get(did_url(issuer), timeout=5).json()
            method = next(m for m in document["verificationMethod"] if m["id"] == kid)
            raw = b58decode(method["publicKeyMultibase"][1:])[2:]
            claims = jwt.decode(token, Ed25519PublicKey.from_public_bytes(raw), algorithms=["EdDSA"],
                                audience=self.did, issuer=issuer, options={"require": ["exp", "jti"]})
        except (jwt.PyJWTError, httpx.HTTPError, KeyError, StopIteration, ValueError):
            return None
        with self.lock:
            if claims["jti"] in self.seen_jti:
                return None
            self.seen_jti.add(claims["jti"])
        return issuer

    # --- the double's own moves, sent after it has answered ---------------------------------------------------
    def later(self, url: str, body: dict[str, Any], audience: str, then: Callable[[], None] | None = None) -> None:
        """Send ``body`` from a thread of its own; ``then`` (the double's own state change) is made *before*
        the send, as a state machine with an outbox does: the counter-party may answer the message at once,
        before the send has even returned here."""
        if then is not None:
            then()

        def run() -> None:
            for _ in range(30):
                try:
                    answer = httpx.post(url, json=body, headers=self.headers(audience), timeout=10)
                except httpx.HTTPError:
                    return  # the test is over and its services gone
                if answer.status_code < 300:
                    return
                self.refusals.append((url, answer.status_code, answer.text))
                time.sleep(0.1)

        threading.Thread(target=run, daemon=True).start()

    def new_pid(self, kind: str) -> str:
        return f"acme-{kind}-{next(self.counter)}"

    # --- routes -------------------------------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        base, cb = self.path.rstrip("/"), CALLBACK
        return [
            Route("/.well-known/dspace-version", self.version),
            Route("/participants/acme/did.json", lambda _: JSONResponse(self.did_document())),
            Route(f"{base}/catalog/request", self.catalog, methods=["POST"]),
            Route(f"{base}/negotiations/request", self.negotiation_request, methods=["POST"]),
            Route(f"{base}/negotiations/{{pid}}", self.get_process, methods=["GET"]),
            Route(f"{base}/negotiations/{{pid}}/{{path:path}}", self.provider_negotiation, methods=["POST"]),
            Route(f"{base}/transfers/request", self.transfer_request, methods=["POST"]),
            Route(f"{base}/transfers/{{pid}}", self.get_process, methods=["GET"]),
            Route(f"{base}/transfers/{{pid}}/{{path}}", self.provider_transfer, methods=["POST"]),
            Route(f"{cb}/negotiations/{{pid}}/{{path:path}}", self.consumer_negotiation, methods=["POST"]),
            Route(f"{cb}/transfers/{{pid}}/{{path}}", self.consumer_transfer, methods=["POST"]),
            Route("/files/{pid}", self.data),
        ]

    def version(self, _: Request) -> JSONResponse:
        return JSONResponse({"protocolVersions": [
            {"version": "2024-1", "path": "/old/2024-1", "binding": "HTTPS"},
            {"version": "2025-1", "path": self.path, "binding": "HTTPS", "identifierType": "did:web"}]})

    def offer(self) -> dict[str, Any]:
        return {"@id": "acme-offer-1", "@type": "Offer", "assigner": self.did, "permission": [{"action": "use"}]}

    async def catalog(self, request: Request) -> Response:
        if self.caller(request) is None:
            return error("CatalogError", 401, "unauthorized", {})
        dataset = {"@id": "acme-ds-1", "@type": "Dataset", "hasPolicy": [self.offer()],
                   "distribution": [{"@type": "Distribution", "format": "HttpData-PULL",
                                     "accessService": {"@id": "acme-dsp", "@type": "DataService",
                                                       "endpointURL": self.base}}]}
        return JSONResponse(message("Catalog", **{"@id": "acme-catalog", "participantId": self.did,
                                                 "dataset": [dataset]}))

    def mine(self, request: Request, kind: str) -> tuple[Process | None, str | None]:
        """The process the path names, if the caller is its counter-party (404 otherwise, as the binding says)."""
        issuer = self.caller(request)
        process = self.processes.get(request.path_params["pid"])
        return (process if process is not None and process.peer == issuer else None), issuer

    async def get_process(self, request: Request) -> Response:
        process, _ = self.mine(request, "")
        kind, failure = (("ContractNegotiation", "ContractNegotiationError") if "/negotiations/" in request.url.path
                         else ("TransferProcess", "TransferError"))
        if process is None:
            return error(failure, 404, "not found", {"providerPid": request.path_params["pid"]})
        return JSONResponse(self.ack(kind, process))

    def ack(self, kind: str, p: Process) -> dict[str, Any]:
        consumer, provider = (p.their_pid, p.pid) if p.detail.get("role") == "provider" else (p.pid, p.their_pid)
        return message(kind, consumerPid=consumer, providerPid=provider, state=p.state)

    # provider role ------------------------------------------------------------------------------------------
    async def negotiation_request(self, request: Request) -> Response:
        issuer = self.caller(request)
        body = await request.json()
        if issuer is None:
            return error("ContractNegotiationError", 401, "unauthorized", {"consumerPid": body.get("consumerPid")})
        offer = body.get("offer", {})
        if offer.get("@id") != "acme-offer-1" or offer.get("target") != "acme-ds-1":
            return error("ContractNegotiationError", 400, "unknown offer", {"consumerPid": body["consumerPid"]})
        p = Process(self.new_pid("neg"), body["consumerPid"], issuer, body["callbackAddress"], "REQUESTED",
                    {"role": "provider"})
        self.processes[p.pid] = p
        agreement = {"@id": f"acme-agreement-{p.pid}", "@type": "Agreement", "target": "acme-ds-1",
                     "assigner": self.assigner or self.did, "assignee": self.assignee or issuer,
                     "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     **(self.agreement_terms or {"permission": [{"action": "use"}]})}
        p.detail["agreement"] = agreement
        if self.move_to:
            self.move(self.move_to)

        def agreed() -> None:
            p.state = "AGREED"

        self.later(f"{p.address.rstrip('/')}/negotiations/{p.their_pid}/agreement",
                   message("ContractAgreementMessage", consumerPid=p.their_pid, providerPid=p.pid,
                           agreement=agreement), issuer, agreed)
        return JSONResponse(self.ack("ContractNegotiation", p), status_code=201)

    async def provider_negotiation(self, request: Request) -> Response:
        p, _ = self.mine(request, "")
        path = request.path_params["path"]
        if p is None:
            return error("ContractNegotiationError", 404, "not found", {"providerPid": request.path_params["pid"]})
        if path == "agreement/verification" and p.state == "AGREED":
            p.state = "VERIFIED"

            def finalized() -> None:
                p.state = "FINALIZED"

            self.later(f"{p.address.rstrip('/')}/negotiations/{p.their_pid}/events",
                       message("ContractNegotiationEventMessage", consumerPid=p.their_pid, providerPid=p.pid,
                               eventType="FINALIZED"), p.peer, finalized)
            return Response(status_code=200)
        if path == "termination":
            p.state = "TERMINATED"
            return Response(status_code=200)
        return error("ContractNegotiationError", 400, "unexpected", {"providerPid": p.pid, "consumerPid": p.their_pid})

    async def transfer_request(self, request: Request) -> Response:
        issuer = self.caller(request)
        body = await request.json()
        agreed = [p for p in self.processes.values() if p.detail.get("agreement", {}).get("@id") == body.get(
            "agreementId") and p.state == "FINALIZED" and p.peer == issuer]
        if issuer is None or not agreed or body.get("format") != "HttpData-PULL":
            return error("TransferError", 400, "no such agreement", {"consumerPid": body.get("consumerPid")})
        p = Process(self.new_pid("tp"), body["consumerPid"], issuer, body["callbackAddress"], "REQUESTED",
                    {"role": "provider"})
        self.processes[p.pid] = p
        self.data_tokens[p.pid] = secrets.token_urlsafe(24)
        address = {"@type": "DataAddress", "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
                   "endpoint": f"{self.root}/files/{p.pid}",
                   "endpointProperties": [{"@type": "EndpointProperty", "name": "authorization",
                                           "value": self.data_tokens[p.pid]},
                                          {"@type": "EndpointProperty", "name": "authType", "value": "bearer"}]}

        def started() -> None:
            p.state = "STARTED"

        self.later(f"{p.address.rstrip('/')}/transfers/{p.their_pid}/start",
                   message("TransferStartMessage", consumerPid=p.their_pid, providerPid=p.pid, dataAddress=address),
                   issuer, started)
        return JSONResponse(self.ack("TransferProcess", p), status_code=201)

    async def provider_transfer(self, request: Request) -> Response:
        p, _ = self.mine(request, "")
        if p is None:
            return error("TransferError", 404, "not found", {"providerPid": request.path_params["pid"]})
        p.state = {"completion": "COMPLETED", "termination": "TERMINATED", "suspension": "SUSPENDED"}.get(
            request.path_params["path"], p.state)
        return Response(status_code=200)

    async def data(self, request: Request) -> Response:
        token = self.data_tokens.get(request.path_params["pid"])
        if token is None or request.headers.get("authorization") != f"Bearer {token}":
            return Response(status_code=401)
        self.data_requests += 1
        if self.data_redirect:
            return Response(status_code=301, headers={"Location": self.data_redirect})
        return Response(DATA, media_type="text/plain")

    # consumer role ------------------------------------------------------------------------------------------
    def discover(self, root: str) -> str:
        versions = httpx.get(f"{root.rstrip('/')}/.well-known/dspace-version", timeout=5).json()
        entry = next(v for v in versions["protocolVersions"] if v["version"] == "2025-1"
                     and v.get("binding", "HTTPS") == "HTTPS")
        return root.rstrip("/") + entry["path"].rstrip("/")

    def request_catalog(self, base: str, provider: str) -> dict[str, Any]:
        answer = httpx.post(f"{base}/catalog/request", json=message("CatalogRequestMessage"),
                            headers=self.headers(provider), timeout=10)
        assert answer.status_code == 200, answer.text
        catalog: dict[str, Any] = answer.json()
        return catalog

    def negotiate(self, base: str, provider: str, offer: dict[str, Any]) -> Process:
        pid = self.new_pid("cneg")
        p = Process(pid, "", provider, base, "REQUESTED", {"role": "consumer"})
        self.processes[pid] = p
        answer = httpx.post(f"{base}/negotiations/request", headers=self.headers(provider), timeout=10,
                            json=message("ContractRequestMessage", consumerPid=pid, offer=offer,
                                         callbackAddress=self.root + CALLBACK))
        assert answer.status_code == 201, answer.text
        p.their_pid = answer.json()["providerPid"]
        return p

    def transfer(self, base: str, provider: str, agreement_id: str) -> Process:
        pid = self.new_pid("ctp")
        p = Process(pid, "", provider, base, "REQUESTED", {"role": "consumer"})
        self.processes[pid] = p
        answer = httpx.post(f"{base}/transfers/request", headers=self.headers(provider), timeout=10,
                            json=message("TransferRequestMessage", consumerPid=pid, agreementId=agreement_id,
                                         format="HttpData-PULL", callbackAddress=self.root + CALLBACK))
        assert answer.status_code == 201, answer.text
        p.their_pid = answer.json()["providerPid"]
        return p

    async def consumer_negotiation(self, request: Request) -> Response:
        p, _ = self.mine(request, "")
        path = request.path_params["path"]
        if p is None:
            return error("ContractNegotiationError", 404, "not found", {"consumerPid": request.path_params["pid"]})
        body = await request.json()
        if path == "agreement":
            if body["agreement"].get("assigner") != p.peer or body["agreement"].get("assignee") != self.did:
                return error("ContractNegotiationError", 400, "agreement parties", {"consumerPid": p.pid})
            p.state, p.detail["agreement"] = "AGREED", body["agreement"]

            def verified() -> None:
                if p.state == "AGREED":
                    p.state = "VERIFIED"

            self.later(f"{p.address}/negotiations/{p.their_pid}/agreement/verification",
                       message("ContractAgreementVerificationMessage", consumerPid=p.pid, providerPid=p.their_pid),
                       p.peer, verified)
        elif path == "events" and body.get("eventType") == "FINALIZED":
            p.state = "FINALIZED"
        elif path == "termination":
            p.state = "TERMINATED"
        else:
            return error("ContractNegotiationError", 400, "unexpected", {"consumerPid": p.pid})
        return Response(status_code=200)

    async def consumer_transfer(self, request: Request) -> Response:
        p, _ = self.mine(request, "")
        path = request.path_params["path"]
        if p is None:
            return error("TransferError", 404, "not found", {"consumerPid": request.path_params["pid"]})
        body = await request.json()
        if path == "start":
            p.state = "STARTED"
            threading.Thread(target=self._pull, args=(p, body["dataAddress"]), daemon=True).start()
        elif path in ("completion", "termination", "suspension"):
            p.state = {"completion": "COMPLETED", "termination": "TERMINATED", "suspension": "SUSPENDED"}[path]
        return Response(status_code=200)

    def _pull(self, p: Process, address: dict[str, Any]) -> None:
        """Pull with the DataAddress the provider sent (its bearer token), then tell it we are done."""
        token = next(e["value"] for e in address["endpointProperties"] if e["name"] == "authorization")
        answer = httpx.get(address["endpoint"], headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if answer.status_code != 200:
            p.detail["pull_error"] = f"{answer.status_code}: {answer.text[:200]}"
            return
        self.received[p.pid] = answer.content

        def completed() -> None:
            p.state = "COMPLETED"

        self.later(f"{p.address}/transfers/{p.their_pid}/completion",
                   message("TransferCompletionMessage", consumerPid=p.pid, providerPid=p.their_pid), p.peer, completed)
