"""DIDs: did:key, did:web mapping, DID documents and the caching resolver."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from trustspace.core.clock import FixedClock
from trustspace.core.errors import ValidationFailed
from trustspace.core.keys import SigningKey, multibase_b58_encode
from trustspace.identity.did import (
    DidResolver,
    did_document,
    did_key,
    did_web,
    did_web_url,
    key_from_did_key,
    verification_method_id,
)
from trustspace.identity.errors import UnknownVerificationMethod, UnresolvableDid, UnsupportedDid

KEY = SigningKey.from_seed(b"\x11" * 32).public
OTHER_KEY = SigningKey.from_seed(b"\x22" * 32).public
WEB = "did:web:operator.example"


# ---------------------------------------------------------------- did:key


def test_did_key_round_trip() -> None:
    did = did_key(KEY)
    assert did == "did:key:" + KEY.multibase
    assert did.startswith("did:key:z6Mk")
    assert key_from_did_key(did) == KEY


@pytest.mark.parametrize(
    "did",
    [
        "did:web:example.com",
        "did:key:",
        f"did:key:{KEY.multibase}#{KEY.multibase}",
        f"did:key:1.0:{KEY.multibase}",
        "did:key:" + KEY.multibase[1:],
        "did:key:z" + "0" * 40,
        "did:key:" + multibase_b58_encode(b"\xe7\x01" + b"\x02" * 33),
        "did:key:" + multibase_b58_encode(b"\xed\x01" + b"\x02" * 31),
    ],
)
def test_key_from_did_key_refuses(did: str) -> None:
    with pytest.raises(UnsupportedDid) as raised:
        key_from_did_key(did)
    assert raised.value.field == "did"


# ---------------------------------------------------------------- did:web


@pytest.mark.parametrize(
    ("url", "did"),
    [
        ("http://127.0.0.1:8001", "did:web:127.0.0.1%3A8001"),
        ("http://127.0.0.1:8001/", "did:web:127.0.0.1%3A8001"),
        ("http://127.0.0.1:8001/a/b", "did:web:127.0.0.1%3A8001:a:b"),
        ("https://example.com", "did:web:example.com"),
        ("https://Example.COM:8443/user/alice/", "did:web:example.com%3A8443:user:alice"),
        ("http://localhost:9000/spaces/demo", "did:web:localhost%3A9000:spaces:demo"),
        ("http://[::1]:8001", "did:web:%5B%3A%3A1%5D%3A8001"),
        ("https://example.com/a%3Ab", "did:web:example.com:a%3Ab"),
    ],
)
def test_did_web_from_url(url: str, did: str) -> None:
    assert did_web(url) == did


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://10.0.0.5:8000",
        "ftp://example.com",
        "example.com",
        "https://example.com/?q=1",
        "https://example.com/#top",
        "https://user:pw@example.com",
        "https://example.com/a//b",
        "https://example.com/a/../b",
        "https://example.com/a%2Fb",
        "https://example.com:99999",
        "http://[::1",
        "https://exa mple.com",
        "https://under_score.example",
    ],
)
def test_did_web_refuses(url: str) -> None:
    with pytest.raises(UnsupportedDid) as raised:
        did_web(url)
    assert raised.value.field == "base_url"


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:w3c-ccg.github.io", "https://w3c-ccg.github.io/.well-known/did.json"),
        ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
        ("did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"),
        ("did:web:127.0.0.1%3A8001", "http://127.0.0.1:8001/.well-known/did.json"),
        ("did:web:127.0.0.1%3A8001:a:b", "http://127.0.0.1:8001/a/b/did.json"),
        ("did:web:127.9.8.7", "http://127.9.8.7/.well-known/did.json"),
        ("did:web:localhost%3A8001", "http://localhost:8001/.well-known/did.json"),
        ("did:web:%5B%3A%3A1%5D%3A8001", "http://[::1]:8001/.well-known/did.json"),
        ("did:web:127.0.0.1.example.com", "https://127.0.0.1.example.com/.well-known/did.json"),
        ("did:web:localhost.example.com", "https://localhost.example.com/.well-known/did.json"),
        ("did:web:128.0.0.1", "https://128.0.0.1/.well-known/did.json"),
        ("did:web:example.com:a%3Ab", "https://example.com/a%3Ab/did.json"),
    ],
)
def test_did_web_url(did: str, url: str) -> None:
    assert did_web_url(did) == url


@pytest.mark.parametrize(
    "did",
    [
        "did:web:",
        "did:key:z6Mk",
        "did:web:example.com#key-1",
        "did:web:example.com/path",
        "did:web:example.com%2F@evil.example",
        "did:web:example.com%40evil.example",
        "did:web:example.com:..:secret",
        "did:web:example.com::a",
        "did:web:example.com:a%2Fb",
        "did:web:example.com%3A99999",
        "did:web:-bad-.example",
    ],
)
def test_did_web_url_refuses(did: str) -> None:
    with pytest.raises(UnsupportedDid):
        did_web_url(did)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8001", "https://example.com:8443/a/b", "http://localhost/x", "http://[::1]:9"]
)
def test_url_to_did_and_back(url: str) -> None:
    assert did_web_url(did_web(url)).removesuffix("/did.json").removesuffix("/.well-known") == url


# ---------------------------------------------------------------- documents


def test_verification_method_ids() -> None:
    assert verification_method_id(did_key(KEY)) == f"{did_key(KEY)}#{KEY.multibase}"
    assert verification_method_id(WEB) == f"{WEB}#key-1"
    with pytest.raises(UnsupportedDid):
        verification_method_id("did:example:123")


def test_did_document_shape() -> None:
    document = did_document(WEB, KEY)
    method = f"{WEB}#key-1"
    assert document == {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": WEB,
        "verificationMethod": [
            {"id": method, "type": "Multikey", "controller": WEB, "publicKeyMultibase": KEY.multibase}
        ],
        "authentication": [method],
        "assertionMethod": [method],
    }


def test_did_document_with_service() -> None:
    document = did_document(WEB, KEY, "https://operator.example/.well-known/dspace-version")
    assert document["service"] == [
        {
            "id": f"{WEB}#data-service",
            "type": "DataService",
            "serviceEndpoint": "https://operator.example/.well-known/dspace-version",
        }
    ]


def test_did_key_document_must_use_its_own_key() -> None:
    assert did_document(did_key(KEY), KEY)["verificationMethod"][0]["publicKeyMultibase"] == KEY.multibase
    with pytest.raises(ValidationFailed):
        did_document(did_key(KEY), OTHER_KEY)


# ---------------------------------------------------------------- resolver


class FakeWeb:
    """Serves DID documents from a dict and counts fetches."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, url: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append(url)
        if url not in self.documents:
            raise httpx.ConnectError(f"no route to {url}")
        return copy.deepcopy(self.documents[url])


def web_did(n: int) -> str:
    return f"did:web:site{n}.example"


def fake_web(*dids: str) -> FakeWeb:
    return FakeWeb({did_web_url(did): did_document(did, KEY) for did in dids})


def test_did_key_resolves_without_fetching() -> None:
    web = FakeWeb({})
    resolver = DidResolver(web)
    assert resolver.resolve(did_key(KEY)) == did_document(did_key(KEY), KEY)
    assert resolver.key_for(verification_method_id(did_key(KEY))) == KEY
    assert web.calls == []


def test_did_web_fetches_the_mapped_url_once_within_ttl() -> None:
    clock = FixedClock()
    web = fake_web(WEB)
    resolver = DidResolver(web, ttl_seconds=60, clock=clock)
    assert resolver.resolve(WEB)["id"] == WEB
    clock.advance(59)
    assert resolver.key_for(f"{WEB}#key-1") == KEY
    assert web.calls == ["https://operator.example/.well-known/did.json"]
    clock.advance(2)
    resolver.resolve(WEB)
    assert len(web.calls) == 2


def test_key_rotation_is_seen_after_ttl_or_invalidate() -> None:
    clock = FixedClock()
    web = fake_web(WEB)
    resolver = DidResolver(web, ttl_seconds=60, clock=clock)
    assert resolver.key_for(f"{WEB}#key-1") == KEY
    web.documents[did_web_url(WEB)] = did_document(WEB, OTHER_KEY)
    assert resolver.key_for(f"{WEB}#key-1") == KEY
    resolver.invalidate(WEB)
    assert resolver.key_for(f"{WEB}#key-1") == OTHER_KEY
    assert len(web.calls) == 2


def test_document_with_another_id_is_refused_and_not_fetched_again_at_once() -> None:
    web = FakeWeb({did_web_url(WEB): did_document(web_did(9), KEY)})
    resolver = DidResolver(web)
    with pytest.raises(UnresolvableDid) as raised:
        resolver.resolve(WEB)
    assert "id differs" in raised.value.detail
    with pytest.raises(UnresolvableDid):
        resolver.resolve(WEB)  # the negative cache answers: no second fetch
    assert len(web.calls) == 1
    resolver.invalidate(WEB)
    with pytest.raises(UnresolvableDid):
        resolver.resolve(WEB)
    assert len(web.calls) == 2


def test_repeated_failures_at_a_dead_host_fetch_once() -> None:
    calls: list[str] = []

    def fetch(url: str) -> dict[str, Any]:
        calls.append(url)
        raise httpx.ConnectTimeout("never answers")

    resolver = DidResolver(fetch)
    for _ in range(120):
        with pytest.raises(UnresolvableDid):
            resolver.resolve(WEB)
    assert len(calls) == 1


def test_open_and_closed_ports_give_the_same_error_text() -> None:
    def refused(url: str) -> dict[str, Any]:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    def not_a_did_server(url: str) -> dict[str, Any]:
        raise httpx.HTTPStatusError("404 Not Found", request=httpx.Request("GET", url),
                                    response=httpx.Response(404))

    details = []
    for fetch in (refused, not_a_did_server):
        with pytest.raises(UnresolvableDid) as raised:
            DidResolver(fetch).resolve(WEB)
        details.append(raised.value.detail)
    assert details[0] == details[1] and "refused" not in details[0] and "404" not in details[0]


def test_resolution_beyond_the_concurrency_limit_is_refused_at_once_not_queued() -> None:
    import threading

    from trustspace.identity.did import MAX_CONCURRENT_FETCHES

    release, entered = threading.Event(), threading.Semaphore(0)

    def slow(url: str) -> dict[str, Any]:
        entered.release()
        release.wait(10)
        raise httpx.ReadTimeout("slow")

    resolver = DidResolver(slow)

    def hold(n: int) -> None:
        with pytest.raises(UnresolvableDid):
            resolver.resolve(web_did(n))

    holders = [threading.Thread(target=hold, args=(i,)) for i in range(MAX_CONCURRENT_FETCHES)]
    for thread in holders:
        thread.start()
    for _ in holders:
        assert entered.acquire(timeout=10)
    with pytest.raises(UnresolvableDid) as raised:
        resolver.resolve(web_did(99))
    assert "too many" in raised.value.detail
    release.set()
    for thread in holders:
        thread.join(10)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        OSError("unreachable"),
        ValueError("not JSON"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_fetch_failures_become_unresolvable(failure: Exception) -> None:
    def fetch(url: str) -> dict[str, Any]:
        raise failure

    with pytest.raises(UnresolvableDid) as raised:
        DidResolver(fetch).resolve(WEB)
    assert raised.value.field == "did"
    assert "https://operator.example/.well-known/did.json" in raised.value.detail
    assert raised.value.status == 401


def test_non_object_document_is_refused() -> None:
    with pytest.raises(UnresolvableDid):
        DidResolver(lambda url: ["not", "a", "document"]).resolve(WEB)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    "did", ["did:example:123", "did:web:", "did:web:bad%2Fhost", "did:key:zzz", "nonsense"]
)
def test_unresolvable_dids(did: str) -> None:
    with pytest.raises(UnresolvableDid):
        DidResolver(FakeWeb({})).resolve(did)


def test_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    web = fake_web(web_did(1), web_did(2), web_did(3))
    resolver = DidResolver(web, max_entries=2)
    resolver.resolve(web_did(1))
    resolver.resolve(web_did(2))
    resolver.resolve(web_did(1))
    resolver.resolve(web_did(3))
    assert len(web.calls) == 3
    resolver.resolve(web_did(1))
    assert len(web.calls) == 3
    resolver.resolve(web_did(2))
    assert len(web.calls) == 4


def test_resolve_returns_a_copy() -> None:
    resolver = DidResolver(fake_web(WEB))
    resolver.resolve(WEB)["verificationMethod"].clear()
    assert resolver.key_for(f"{WEB}#key-1") == KEY


def test_seeded_documents_need_no_fetch_and_do_not_expire() -> None:
    clock = FixedClock()
    web = FakeWeb({})
    resolver = DidResolver(web, ttl_seconds=1, clock=clock)
    document = did_document(WEB, KEY)
    resolver.seed(WEB, document)
    document["verificationMethod"].clear()
    clock.advance(3600)
    assert resolver.key_for(f"{WEB}#key-1") == KEY
    assert web.calls == []
    resolver.invalidate(WEB)
    with pytest.raises(UnresolvableDid):
        resolver.resolve(WEB)


def test_seed_checks_the_id_and_ignores_did_key() -> None:
    resolver = DidResolver(FakeWeb({}))
    with pytest.raises(ValidationFailed):
        resolver.seed(WEB, did_document(web_did(2), KEY))
    did = did_key(KEY)
    resolver.seed(did, {"id": did, "verificationMethod": []})
    assert resolver.key_for(verification_method_id(did)) == KEY


def document_with(method: dict[str, Any], **relationships: Any) -> dict[str, Any]:
    return {"id": WEB, "verificationMethod": [method], "assertionMethod": [method["id"]], **relationships}


@pytest.mark.parametrize(
    "document",
    [
        did_document(WEB, KEY),
        document_with({"id": "#key-1", "type": "Multikey", "publicKeyMultibase": KEY.multibase}),
        document_with(
            {"id": f"{WEB}#key-1", "type": "Ed25519VerificationKey2020", "publicKeyMultibase": KEY.multibase}
        ),
        {
            "id": WEB,
            "assertionMethod": [
                {"id": f"{WEB}#key-1", "type": "Multikey", "publicKeyMultibase": KEY.multibase}
            ],
        },
    ],
    ids=["ours", "relative-id", "ed25519-2020", "embedded"],
)
def test_key_for_accepts_multibase_ed25519_methods(document: dict[str, Any]) -> None:
    resolver = DidResolver(FakeWeb({}))
    resolver.seed(WEB, document)
    assert resolver.key_for(f"{WEB}#key-1") == KEY


@pytest.mark.parametrize(
    ("document", "reference"),
    [
        (did_document(WEB, KEY), f"{WEB}#key-2"),
        (did_document(WEB, KEY), WEB),
        (did_document(WEB, KEY), f"{WEB}#"),
        (document_with({"id": f"{WEB}#key-1", "type": "JsonWebKey2020", "publicKeyJwk": {}}), f"{WEB}#key-1"),
        (document_with({"id": f"{WEB}#key-1", "type": "Multikey"}), f"{WEB}#key-1"),
        (
            document_with({"id": f"{WEB}#key-1", "type": "Multikey", "publicKeyMultibase": "zzz"}),
            f"{WEB}#key-1",
        ),
        (
            document_with(
                {
                    "id": f"{WEB}#key-1",
                    "type": "Multikey",
                    "publicKeyMultibase": multibase_b58_encode(b"\xe7\x01" + b"\x02" * 33),
                }
            ),
            f"{WEB}#key-1",
        ),
        ({**did_document(WEB, KEY), "assertionMethod": []}, f"{WEB}#key-1"),
        ({**did_document(WEB, KEY), "assertionMethod": "not-a-list"}, f"{WEB}#key-1"),
        ({**did_document(WEB, KEY), "assertionMethod": [f"{WEB}#key-1", f"{WEB}#key-2"]}, f"{WEB}#key-2"),
        ({**did_document(WEB, KEY), "assertionMethod": [{"id": ["x"]}, 5]}, f"{WEB}#key-1"),
        ({**did_document(WEB, KEY), "verificationMethod": True}, f"{WEB}#key-1"),
        (
            document_with({"id": f"{WEB}#key-1", "type": ["Multikey"], "publicKeyMultibase": KEY.multibase}),
            f"{WEB}#key-1",
        ),
    ],
    ids=[
        "unknown",
        "no-fragment",
        "empty-fragment",
        "jwk",
        "no-key",
        "bad-key",
        "not-ed25519",
        "not-authorised",
        "bad-list",
        "listed-but-missing",
        "junk-entries",
        "methods-not-a-list",
        "type-not-a-string",
    ],
)
def test_key_for_refuses(document: dict[str, Any], reference: str) -> None:
    resolver = DidResolver(FakeWeb({}))
    resolver.seed(WEB, document)
    with pytest.raises(UnknownVerificationMethod) as raised:
        resolver.key_for(reference)
    assert raised.value.field == "verificationMethod"
    assert KEY.multibase not in raised.value.detail


def test_key_for_checks_the_requested_relationship() -> None:
    resolver = DidResolver(FakeWeb({}))
    resolver.seed(WEB, {**did_document(WEB, KEY), "authentication": []})
    assert resolver.key_for(f"{WEB}#key-1") == KEY
    assert resolver.key_for(f"{WEB}#key-1", None) == KEY
    with pytest.raises(UnknownVerificationMethod):
        resolver.key_for(f"{WEB}#key-1", "authentication")


def test_concurrent_resolution_is_consistent() -> None:
    dids = [web_did(n) for n in range(20)]
    web = fake_web(*dids)
    # Eight threads missing the cache at once may all fetch: give them the slots (the default bound is 4).
    resolver = DidResolver(web, max_entries=8, max_concurrent_fetches=8)
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for step in range(200):
                did = dids[(offset + step) % len(dids)]
                assert resolver.key_for(f"{did}#key-1") == KEY
                assert resolver.resolve(did)["id"] == did
        except BaseException as exc:  # collected so the main thread can fail the test
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


# ---------------------------------------------------------------- default fetch, against a loopback server


@pytest.fixture
def site() -> Iterator[tuple[str, dict[str, tuple[int, bytes, dict[str, str]]]]]:
    routes: dict[str, tuple[int, bytes, dict[str, str]]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, headers = routes.get(self.path, (404, b"{}", {}))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield did_web(f"http://127.0.0.1:{server.server_port}"), routes
    finally:
        server.shutdown()
        server.server_close()


def test_default_fetch_reads_the_well_known_document(site: tuple[str, dict[str, Any]]) -> None:
    did, routes = site
    routes["/.well-known/did.json"] = (200, json.dumps(did_document(did, KEY)).encode(), {})
    assert DidResolver().key_for(verification_method_id(did)) == KEY


def test_default_fetch_follows_no_redirect(site: tuple[str, dict[str, Any]]) -> None:
    did, routes = site
    routes["/.well-known/did.json"] = (302, b"", {"Location": "/elsewhere/did.json"})
    routes["/elsewhere/did.json"] = (200, json.dumps(did_document(did, KEY)).encode(), {})
    with pytest.raises(UnresolvableDid):
        DidResolver().resolve(did)


@pytest.mark.parametrize(
    "response",
    [(404, b"{}"), (500, b"{}"), (200, b"not json"), (200, b"[1, 2]"), (200, b" " * (300 * 1024) + b"{}")],
    ids=["404", "500", "not-json", "not-object", "too-large"],
)
def test_default_fetch_failures(site: tuple[str, dict[str, Any]], response: tuple[int, bytes]) -> None:
    did, routes = site
    routes["/.well-known/did.json"] = (*response, {})
    with pytest.raises(UnresolvableDid):
        DidResolver().resolve(did)
