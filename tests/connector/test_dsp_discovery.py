"""Discovery of a peer's DSP <base> from its version metadata (common.protocol.md, "HTTPS Binding")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from conftest import LiveSpace, start_space
from live import free_port, serve
from trustspace.connector.dsp.discovery import (
    MAX_VERSION_BYTES,
    Discovery,
    NoMatchingVersion,
    UnreachableVersion,
    base_of,
    fetch_version,
)

ROOT = "https://provider.example/path-to-root"


def versions(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"protocolVersions": list(entries)}


def test_base_is_the_root_plus_the_published_path_never_an_assumed_dsp() -> None:
    document = versions({"version": "2024-1", "path": "/some/path/2024-1", "binding": "HTTPS"},
                        {"version": "2025-1", "path": "/some/path/2025-1", "binding": "HTTPS"})
    assert base_of(ROOT + "/", document) == ROOT + "/some/path/2025-1"


def test_a_peer_serving_its_endpoints_at_the_root_has_the_root_as_base() -> None:
    assert base_of(ROOT, versions({"version": "2025-1", "path": "/", "binding": "HTTPS"})) == ROOT


def test_a_peer_without_2025_1_over_https_ends_the_communication() -> None:
    with pytest.raises(NoMatchingVersion, match="2024-1"):
        base_of(ROOT, versions({"version": "2024-1", "path": "/v2024", "binding": "HTTPS"}))


def test_version_metadata_that_is_not_a_version_response_is_refused() -> None:
    with pytest.raises(NoMatchingVersion):
        base_of(ROOT, {"versions": []})
    with pytest.raises(NoMatchingVersion, match="absolute"):
        base_of(ROOT, versions({"version": "2025-1", "path": "https://elsewhere.example/dsp", "binding": "HTTPS"}))


def test_base_is_cached_per_root_and_asked_again_after_its_ttl_or_a_refresh() -> None:
    asked: list[str] = []
    clock = [0.0]

    def fetch(root: str) -> dict[str, Any]:
        asked.append(root)
        return versions({"version": "2025-1", "path": f"/dsp{len(asked)}", "binding": "HTTPS"})

    discovery = Discovery(fetch, ttl=60, monotonic=lambda: clock[0])
    assert discovery.base(ROOT) == discovery.base(ROOT + "/") == ROOT + "/dsp1"
    assert asked == [ROOT]
    assert discovery.refresh(ROOT) == ROOT + "/dsp2"
    clock[0] = 61
    assert discovery.base(ROOT) == ROOT + "/dsp3"


@pytest.fixture
def peer_site() -> Iterator[tuple[str, dict[str, Any]]]:
    """A peer whose version metadata (and so its base) the test changes at will."""
    state: dict[str, Any] = {"path": "/one", "catalogs": 0}

    async def version(_: Request) -> Response:
        if state.get("redirect"):
            return RedirectResponse("http://127.0.0.1:9/elsewhere")
        if state.get("huge"):
            return Response(b"{" + b" " * (MAX_VERSION_BYTES + 10) + b"}", media_type="application/json")
        return JSONResponse(versions({"version": "2025-1", "path": state["path"], "binding": "HTTPS"}))

    async def catalog(request: Request) -> Response:
        if "/" + request.path_params["prefix"] != state["path"]:
            return JSONResponse({"code": "404"}, status_code=404)
        state["catalogs"] += 1
        return JSONResponse({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "Catalog",
                             "@id": "c", "participantId": "did:web:peer.example", "dataset": []})

    app = Starlette(routes=[Route("/.well-known/dspace-version", version),
                            Route("/{prefix:path}/catalog/request", catalog, methods=["POST"])])
    port = free_port()
    with serve(app, port) as url:  # type: ignore[arg-type]
        yield url, state


def test_version_metadata_is_read_without_following_redirects(peer_site: tuple[str, dict[str, Any]]) -> None:
    url, state = peer_site
    state["redirect"] = True
    with pytest.raises(UnreachableVersion, match="307"):
        fetch_version(url)


def test_oversized_version_metadata_is_not_read_to_its_end(peer_site: tuple[str, dict[str, Any]]) -> None:
    url, state = peer_site
    state["huge"] = True
    with pytest.raises(UnreachableVersion, match="more than"):
        fetch_version(url)


@pytest.fixture
def space(tmp_path: Path) -> Iterator[LiveSpace]:
    with ExitStack() as stack:
        yield start_space(tmp_path, ("consumer",), stack)


def test_a_cached_base_that_answers_404_is_discovered_again_once(
        space: LiveSpace, peer_site: tuple[str, dict[str, Any]]) -> None:
    url, state = peer_site
    consumer = space.connectors["consumer"]
    ask = {"providerUrl": url, "counterPartyId": "did:web:peer.example"}
    assert consumer.ok("POST", "/v1/management/catalog/request", json=ask)["participantId"] == "did:web:peer.example"
    state["path"] = "/two"  # the peer moved its endpoints; our cached base is stale
    consumer.ok("POST", "/v1/management/catalog/request", json=ask)
    assert state["catalogs"] == 2


def test_a_catalog_naming_another_participant_than_asked_is_refused(
        space: LiveSpace, peer_site: tuple[str, dict[str, Any]]) -> None:
    url, _ = peer_site
    answer = space.connectors["consumer"].manage("POST", "/v1/management/catalog/request",
                                                 json={"providerUrl": url, "counterPartyId": "did:web:other.example"})
    assert answer.status_code == 502 and answer.json()["field"] == "participantId", answer.text


def test_a_root_without_version_metadata_gets_a_clear_refusal(space: LiveSpace) -> None:
    answer = space.connectors["consumer"].manage("POST", "/v1/management/catalog/request",
                                                 json={"providerUrl": space.operator.url})
    assert answer.status_code == 502, answer.text
    assert "dspace-version" in answer.json()["detail"]


def test_exactly_one_of_provider_url_and_counter_party_address(space: LiveSpace) -> None:
    consumer = space.connectors["consumer"]
    both = consumer.manage("POST", "/v1/management/catalog/request",
                           json={"providerUrl": "http://127.0.0.1:9", "counterPartyAddress": "http://127.0.0.1:9/dsp"})
    neither = consumer.manage("POST", "/v1/management/negotiations", json={"offer": {"@id": "o", "target": "t"}})
    assert both.status_code == neither.status_code == 422
    base_only = consumer.manage("POST", "/v1/management/catalog/request",
                                json={"counterPartyAddress": "http://127.0.0.1:9/dsp"})
    assert base_only.status_code == 422 and base_only.json()["field"] == "counterPartyId", base_only.text
