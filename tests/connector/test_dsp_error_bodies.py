"""Every error body a DSP endpoint sends is the binding's error and valid against its packaged 2025-1 schema,
which requires both pids of a process error. Each failure path is driven over real HTTP; the pids an error
carries are the ones the failing request named (path first, then body), and ``""`` for one it never named
(decision 0009), never one learnt from our records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from test_dsp_faults import ERRORS, World, acknowledged, as_node, dsp, join_by_hand, make_world, ok, until
from test_dsp_flow import wait_state

from conftest import Node, start_space
from trustspace.client.http import Signer
from trustspace.connector.dsp import routes, wire
from trustspace.core.clock import SystemClock
from trustspace.core.keys import SigningKey
from trustspace.identity.did import did_key, did_web, verification_method_id
from trustspace.protocol.errors import InvalidMessage
from trustspace.protocol.schemas import validate
from trustspace.web.problems import PROBLEM_MEDIA_TYPE

KINDS = {**ERRORS, "catalog": "CatalogError"}


def pids(consumer: str = "", provider: str = "") -> dict[str, str]:
    return {"consumerPid": consumer, "providerPid": provider}


@dataclass
class Collected:
    """Answers to failing requests, each with what its error must be."""

    cases: list[tuple[str, httpx.Response, int, str, dict[str, str] | None, str | None]] = field(
        default_factory=list)

    def add(self, what: str, response: httpx.Response, status: int, kind: str,
            expected: dict[str, str] | None = None, code: str | None = None) -> None:
        self.cases.append((what, response, status, kind, expected, code))

    def problems(self) -> Iterator[str]:
        for what, response, status, kind, expected, code in self.cases:
            body = response.json() if response.content else None
            if response.status_code != status:
                yield f"{what}: status {response.status_code}, expected {status}: {response.text}"
            elif not isinstance(body, dict) or body.get("@type") != KINDS[kind]:
                yield f"{what}: not a {KINDS[kind]}: {response.text}"
            elif code is not None and body.get("code") != code:
                yield f"{what}: code {body.get('code')!r}, expected {code!r}"
            elif expected is not None and {k: body.get(k) for k in expected} != expected:
                yield f"{what}: pids {[body.get(k) for k in expected]}, expected {list(expected.values())}"
            else:
                try:
                    validate(body, wire.SCHEMAS[KINDS[kind]])
                except InvalidMessage as exc:  # reported with the rest, not alone
                    yield f"{what}: {exc} in {body}"

    def check(self) -> None:
        assert self.cases
        assert not (found := list(self.problems())), "\n".join(found)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("error-bodies")
    with ExitStack() as stack:
        yield make_world(start_space(folder, ("provider", "consumer"), stack), stack, folder)


def raw(signer: Signer, node: Node, path: str, content: bytes) -> httpx.Response:
    headers = {**signer.headers(did_web(node.url)), "Content-Type": "application/json"}
    return httpx.post(f"{node.url}/dsp{path}", content=content, headers=headers)


def unreadable(got: Collected, signer: Signer, node: Node, kind: str, path: str, named: dict[str, str]) -> None:
    """Bodies that are not a JSON object: nothing but the path names a pid."""
    got.add(f"{path} not JSON", raw(signer, node, path, b"{not json"), 400, kind, named, "malformed-json")
    got.add(f"{path} a JSON array", raw(signer, node, path, b'["x"]'), 400, kind, named, "invalid-message")
    got.add(f"{path} no body", raw(signer, node, path, b""), 422, kind, named, "validation-failed")


def test_provider_negotiation_errors_are_schema_valid(world: World) -> None:
    hand, provider, got = world.hand, world.provider, Collected()
    stranger = join_by_hand(world.space, hand.callback)
    cpid, ppid, _ = world.finalized()
    nowhere, someone = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    [(terminate_path, terminate)] = world.moves(f"/negotiations/{ppid}", cpid, ppid, "terminate")

    got.add("unknown GET", hand.get(provider, f"/negotiations/{nowhere}"), 404, "negotiation", pids("", nowhere))
    got.add("unknown POST", hand.post(provider, f"/negotiations/{nowhere}/termination", {**terminate, **pids(
        someone, nowhere)}), 404, "negotiation", pids(someone, nowhere))
    # The stranger is told only the pids it sent: the consumerPid stays unknown to it.
    got.add("foreign GET", stranger.get(provider, f"/negotiations/{ppid}"), 404, "negotiation", pids("", ppid))
    got.add("foreign POST", stranger.post(provider, terminate_path, terminate), 404, "negotiation", pids(cpid, ppid))
    got.add("no such endpoint", hand.post(provider, f"/negotiations/{ppid}/nonsense", terminate), 404,
            "negotiation", pids(cpid, ppid))
    for path, body in world.moves(f"/negotiations/{ppid}", cpid, ppid, "verify accept request"):
        got.add(f"illegal {path}", hand.post(provider, path, body), 400, "negotiation", pids(cpid, ppid))

    request = dsp("ContractRequestMessage", consumerPid=someone, offer=world.offer, callbackAddress=hand.callback)
    for what, body, named in (
        ("no consumerPid", {k: v for k, v in request.items() if k != "consumerPid"}, pids()),
        ("consumerPid not a string", {**request, "consumerPid": 7}, pids()),
        ("no offer", {k: v for k, v in request.items() if k != "offer"}, pids(someone)),
        ("wrong @context", {**request, "@context": ["https://example.com/not-dsp.jsonld"]}, pids(someone)),
        ("offer never made", {**request, "offer": {**world.offer, "@id": "no-such-offer"}}, pids(someone)),
    ):
        got.add(f"initial request, {what}", hand.post(provider, "/negotiations/request", body), 400, "negotiation",
                named)
    for what, body, named in (
        ("wrong @context", {**terminate, "@context": ["https://example.com/not-dsp.jsonld"]}, pids(cpid, ppid)),
        ("empty reason", {**terminate, "reason": []}, pids(cpid, ppid)),
        ("consumerPid not a string", {**terminate, "consumerPid": ["x"]}, pids("", ppid)),
        ("another process's consumerPid", {**terminate, "consumerPid": someone}, pids(someone, ppid)),
    ):
        got.add(f"termination, {what}", hand.post(provider, terminate_path, body), 400, "negotiation", named)
    unreadable(got, hand.signer, provider, "negotiation", "/negotiations/request", pids())
    unreadable(got, hand.signer, provider, "negotiation", terminate_path, pids("", ppid))
    got.check()


def test_provider_transfer_errors_are_schema_valid(world: World) -> None:
    hand, provider, got = world.hand, world.provider, Collected()
    stranger = join_by_hand(world.space, hand.callback)
    _, _, agreement = world.finalized()
    cpid, ppid = world.transfer(agreement)
    nowhere, someone = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    [(stop_path, stop)] = world.moves(f"/transfers/{ppid}", cpid, ppid, "stop")

    got.add("unknown GET", hand.get(provider, f"/transfers/{nowhere}"), 404, "transfer", pids("", nowhere))
    got.add("unknown POST", hand.post(provider, f"/transfers/{nowhere}/termination", {**stop, **pids(
        someone, nowhere)}), 404, "transfer", pids(someone, nowhere))
    got.add("foreign GET", stranger.get(provider, f"/transfers/{ppid}"), 404, "transfer", pids("", ppid))
    got.add("foreign POST", stranger.post(provider, stop_path, stop), 404, "transfer", pids(cpid, ppid))
    got.add("no such endpoint", hand.post(provider, f"/transfers/{ppid}/nonsense", stop), 404, "transfer",
            pids(cpid, ppid))
    got.add("wrong @context", hand.post(provider, stop_path, {**stop, "@context": ["https://example.com/x"]}), 400,
            "transfer", pids(cpid, ppid))
    got.add("empty reason", hand.post(provider, stop_path, {**stop, "reason": []}), 400, "transfer",
            pids(cpid, ppid))
    ok(hand.post(provider, stop_path, stop))
    for path, body in world.moves(f"/transfers/{ppid}", cpid, ppid, "start suspend complete stop"):
        got.add(f"illegal {path}", hand.post(provider, path, body), 400, "transfer", pids(cpid, ppid))

    request = dsp("TransferRequestMessage", consumerPid=someone, agreementId=agreement, format="HttpData-PULL",
                  callbackAddress=hand.callback)
    for what, body, named in (
        ("no consumerPid", {k: v for k, v in request.items() if k != "consumerPid"}, pids()),
        ("no agreementId", {k: v for k, v in request.items() if k != "agreementId"}, pids(someone)),
        ("wrong @context", {**request, "@context": ["https://example.com/not-dsp.jsonld"]}, pids(someone)),
        ("unknown agreement", {**request, "agreementId": "urn:uuid:none"}, pids(someone)),
        ("unknown format", {**request, "format": "FTP-PULL"}, pids(someone)),
    ):
        got.add(f"transfer request, {what}", hand.post(provider, "/transfers/request", body), 400, "transfer",
                named)
    unreadable(got, hand.signer, provider, "transfer", "/transfers/request", pids())
    unreadable(got, hand.signer, provider, "transfer", stop_path, pids("", ppid))
    got.check()


def test_consumer_callback_errors_are_schema_valid(world: World) -> None:
    provider, consumer, got = world.provider, world.consumer, Collected()
    as_provider, stranger, nowhere = as_node(provider), world.hand, f"urn:uuid:{uuid.uuid4()}"
    cpid, ppid = acknowledged(world, "negotiation", {"providerUrl": provider.url, "offer": world.offer})
    agreement = wait_state(consumer, f"/v1/management/negotiations/{cpid}", {"FINALIZED"})["agreementId"]
    tcpid, tppid = acknowledged(world, "transfer", {"agreementId": agreement, "transferType": "HttpData-PULL"})
    wait_state(consumer, f"/v1/management/transfers/{tcpid}", {"COMPLETED"})
    until(lambda: not consumer.app.state.dsp.store.pending_outbox(tcpid), "the consumer's outbox to drain")

    for kind, cp, pp, moves in (("negotiation", cpid, ppid, "offer agree accept finalize"),
                                ("transfer", tcpid, tppid, "start suspend complete")):
        base = f"/callback/{kind}s"
        got.add(f"unknown {kind} GET", as_provider.get(consumer, f"{base}/{nowhere}"), 404, kind, pids(nowhere))
        got.add(f"foreign {kind} GET", stranger.get(consumer, f"{base}/{cp}"), 404, kind, pids(cp))
        for path, body in world.moves(f"{base}/{cp}", cp, pp, moves):
            got.add(f"illegal {path}", as_provider.post(consumer, path, body), 400, kind, pids(cp, pp))
            got.add(f"foreign {path}", stranger.post(consumer, path, body), 404, kind, pids(cp, pp))
            got.add(f"{path} without providerPid", as_provider.post(consumer, path, {
                k: v for k, v in body.items() if k != "providerPid"}), 400, kind, pids(cp))
        unreadable(got, as_provider.signer, consumer, kind, f"{base}/{cp}/termination", pids(cp))
    got.check()


def test_catalog_errors_are_schema_valid(world: World) -> None:
    got = Collected()
    request = dsp("CatalogRequestMessage", filter=[{"unsupported": True}])
    got.add("unsupported filter", world.hand.post(world.provider, "/catalog/request", request), 422, "catalog")
    got.add("unknown dataset", world.hand.get(world.provider, "/catalog/datasets/nope"), 404, "catalog")
    unreadable(got, world.hand.signer, world.provider, "catalog", "/catalog/request", {})
    got.check()


def test_refusals_before_any_dsp_route_runs_are_dsp_errors_too(world: World) -> None:
    """"If an error body is returned, it MUST be a Contract Negotiation Error" (and likewise for transfers and
    the catalog): whoever has not proven who it is (401, with its WWW-Authenticate challenge), a stranger to
    the space (403), a method or path no route takes (405/404), and the request guard's refusals (413 too
    large, 415 not JSON) all get the binding's error, naming only the pid the path names."""
    key = SigningKey.generate()
    did = did_key(key.public)
    outsider = Signer(key, did, verification_method_id(did), SystemClock(), lambda: None)
    provider, got = world.provider.url, Collected()
    for path, kind, named in (("/negotiations/urn:uuid:x", "negotiation", pids("", "urn:uuid:x")),
                              ("/transfers/urn:uuid:x", "transfer", pids("", "urn:uuid:x")),
                              ("/callback/negotiations/urn:uuid:x", "negotiation", pids("urn:uuid:x", "")),
                              ("/catalog/datasets/x", "catalog", None)):
        for status, headers in ((401, {}), (403, outsider.headers(did_web(provider)))):
            answer = httpx.get(f"{provider}/dsp{path}", headers=headers)
            got.add(f"{status} GET {path}", answer, status, kind, named)
            assert answer.headers.get("www-authenticate", "").startswith("Bearer") or status != 401, answer.headers
    signed = world.hand.signer.headers(did_web(provider))
    got.add("405", httpx.delete(f"{provider}/dsp/negotiations/urn:uuid:x", headers=signed), 405, "negotiation",
            pids("", "urn:uuid:x"))
    got.add("404", httpx.post(f"{provider}/dsp/transfers/urn:uuid:y/a/b", headers=signed, json={}), 404,
            "transfer", pids("", "urn:uuid:y"))
    oversized = b'{"x": "' + b"a" * (2 << 20) + b'"}'
    got.add("413", httpx.post(f"{provider}/dsp/negotiations/request", headers={**signed, "Content-Type":
                              "application/json"}, content=oversized), 413, "negotiation", pids(), "body-too-large")
    got.add("415", httpx.post(f"{provider}/dsp/callback/transfers/urn:uuid:z/start",
                              headers={**signed, "Content-Type": "text/plain"}, content=b"x"), 415, "transfer",
            pids("urn:uuid:z", ""), "unsupported-media-type")
    got.check()


def test_refusals_elsewhere_stay_problem_documents(world: World) -> None:
    for path in ("/v1/management/negotiations", "/.well-known/nothing-here"):
        answer = httpx.get(f"{world.provider.url}{path}")
        assert answer.status_code in (401, 404), answer.text
        assert answer.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), answer.headers


def test_path_pids_name_only_what_the_path_names() -> None:
    assert routes.path_pids("/dsp/negotiations/p-1/termination") == {"providerPid": "p-1"}
    assert routes.path_pids("/dsp/callback/transfers/c-1/start") == {"consumerPid": "c-1"}
    assert routes.path_pids("/dsp/negotiations/request") == {}
    assert routes.path_pids("/dsp/catalog/datasets/d-1") == {}
    assert routes.path_pids("/v1/management/negotiations/x") == {}


@pytest.mark.parametrize(("path", "kind"), [
    ("/dsp/negotiations/{pid}", "ContractNegotiationError"),
    ("/dsp/callback/negotiations/{pid}/{path:path}", "ContractNegotiationError"),
    ("/dsp/transfers/request", "TransferError"),
    ("/dsp/callback/transfers/{pid}/{path}", "TransferError"),
    ("/dsp/catalog/datasets/{dataset_id:path}", "CatalogError"),
    ("/.well-known/dspace-version", None),
    ("/dspx/negotiations/x", None),
    ("/v1/management/negotiations", None),
])
def test_error_kind_follows_the_path(path: str, kind: str | None) -> None:
    assert routes.error_kind(path) == kind


def test_named_pids_prefer_the_path_and_ignore_what_is_not_a_string() -> None:
    assert routes.named_pids({"consumerPid": "c", "providerPid": "b"}, {"providerPid": "p"}) == pids("c", "p")
    assert routes.named_pids({"consumerPid": 7, "providerPid": None}, {}) == {}
    assert routes.named_pids(["consumerPid"], routes.at("consumer", "c")) == {"consumerPid": "c"}


def test_every_error_kind_is_valid_with_unknown_pids() -> None:
    for kind in ("ContractNegotiationError", "TransferError", "CatalogError"):
        body: dict[str, Any] = wire.error(kind, "x", "why", {})
        validate(body, wire.SCHEMAS[kind])
        assert all(body.get(name) == wire.UNKNOWN_PID for name in wire.PID_FIELDS) or kind == "CatalogError"
