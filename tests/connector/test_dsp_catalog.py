"""The catalog binding over real HTTP: filters, ``Link`` header pagination in both directions, a dataset by id,
continuation tokens that are not ours, and the management API gathering every page of a provider's catalog.
A hostile provider (a simulator behind httpx's transport) cannot steer the gathering elsewhere or forever."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from test_dsp_faults import World, dsp, make_world
from test_dsp_flow import publish

from conftest import start_space
from trustspace.client.http import SignedClient, Signer
from trustspace.connector import catalog
from trustspace.connector.dsp.management import MAX_CATALOG_PAGES, whole_catalog
from trustspace.core.clock import SystemClock
from trustspace.core.errors import PeerError
from trustspace.core.keys import SigningKey
from trustspace.identity.did import did_key, did_web, verification_method_id
from trustspace.protocol.schemas import validate

SHELF = [f"shelf-{n}" for n in range(5)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("catalog")
    with ExitStack() as stack:
        made = make_world(start_space(folder, ("provider", "consumer"), stack), stack, folder)
        for asset in SHELF:
            publish(made.provider, asset, {"type": "file", "path": str(folder / "a.bin")})
        yield made


@pytest.fixture
def pages_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "PAGE_SIZE", 2)


def walk(world: World, request: dict[str, Any]) -> list[httpx.Response]:
    """Every page, following ``rel="next"`` from the first answer as a consumer would."""
    pages = [world.hand.post(world.provider, "/catalog/request", request)]
    while "next" in pages[-1].links:
        assert pages[-1].status_code == 200, pages[-1].text
        url = pages[-1].links["next"]["url"]
        pages.append(httpx.post(url, json=request, headers=world.hand.signer.headers(_audience(world))))
    return pages


def _audience(world: World) -> str:
    return did_web(world.provider.url)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    validate(response.json(), "catalog/catalog-schema.json")
    return [d["@id"] for d in response.json().get("dataset", [])]


def test_pages_link_forward_and_back_and_hold_every_dataset_once(world: World, pages_of_two: None) -> None:
    pages = walk(world, dsp("CatalogRequestMessage"))
    assert [len(ids(p)) for p in pages] == [2, 2, 2]
    assert sorted(i for p in pages for i in ids(p)) == sorted(["a", *SHELF])
    assert "previous" not in pages[0].links
    assert set(pages[1].links) == {"previous", "next"}
    assert set(pages[2].links) == {"previous"}
    back = httpx.post(pages[2].links["previous"]["url"], json=dsp("CatalogRequestMessage"),
                      headers=world.hand.signer.headers(_audience(world)))
    assert ids(back) == ids(pages[1])


def test_filters_select_and_stay_with_the_pages(world: World, pages_of_two: None) -> None:
    shelf = walk(world, dsp("CatalogRequestMessage", filter=[{"keyword": "SHELF"}]))
    assert sorted(i for p in shelf for i in ids(p)) == SHELF
    assert ids(world.hand.post(world.provider, "/catalog/request",
                               dsp("CatalogRequestMessage", filter=[{"id": "shelf-3"}]))) == ["shelf-3"]
    assert ids(world.hand.post(world.provider, "/catalog/request",
                               dsp("CatalogRequestMessage", filter=[{"keyword": "nowhere"}]))) == []


def test_a_dataset_by_id_carries_its_offer(world: World) -> None:
    answer = world.hand.get(world.provider, "/catalog/datasets/shelf-2")
    assert answer.status_code == 200, answer.text
    validate(answer.json(), "catalog/dataset-schema.json")
    assert answer.json()["@id"] == "shelf-2"
    assert [offer["@id"] for offer in answer.json()["hasPolicy"]] == ["shelf-2-o"]


@pytest.mark.parametrize("token", [
    "not-base64-json",
    base64.urlsafe_b64encode(json.dumps({"p": -1, "f": []}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"p": "1", "f": []}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"p": 1, "f": "keyword"}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
])
def test_a_continuation_token_we_never_issued_is_refused_naming_it(world: World, token: str) -> None:
    answer = httpx.post(f"{world.provider.url}/dsp/catalog/request", params={"continuationToken": token},
                        json=dsp("CatalogRequestMessage"), headers=world.hand.signer.headers(_audience(world)))
    assert answer.status_code == 422, answer.text
    validate(answer.json(), "catalog/catalog-error-schema.json")
    assert "continuationToken" in answer.json()["reason"][0]


def test_management_catalog_request_gathers_every_page(world: World, pages_of_two: None) -> None:
    gathered = world.consumer.ok("POST", "/v1/management/catalog/request", json={"providerUrl": world.provider.url})
    validate(gathered, "catalog/catalog-schema.json")
    assert sorted(d["@id"] for d in gathered["dataset"]) == sorted(["a", *SHELF])
    filtered = world.consumer.ok("POST", "/v1/management/catalog/request", json={
        "providerUrl": world.provider.url, "filter": [{"keyword": "shelf"}]})
    assert sorted(d["@id"] for d in filtered["dataset"]) == SHELF


# --- a hostile provider ----------------------------------------------------------------------------------------
BASE = "http://provider.test/dsp"


def hostile(answer: Any) -> tuple[SignedClient, list[httpx.Request]]:
    """A client whose provider is ``answer(request, number) -> httpx.Response``; the requests it got."""
    key = SigningKey.generate()
    signer = Signer(key, did_key(key.public), verification_method_id(did_key(key.public)), SystemClock())
    client, seen = SignedClient(BASE, "did:web:provider.test", signer), []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request, len(seen))  # type: ignore[no-any-return]

    client.http = httpx.Client(transport=httpx.MockTransport(handle))
    return client, seen


def page(number: int, link: str | None) -> httpx.Response:
    headers = {"Link": f'<{link}>; rel="next"'} if link else {}
    return httpx.Response(200, headers=headers, json={"@type": "Catalog", "dataset": [
        {"@id": f"d{number}"}, {"@id": "everywhere"}]})


def test_a_next_link_to_another_host_is_not_followed() -> None:
    client, seen = hostile(lambda _, n: page(n, "http://attacker.test/dsp/catalog/request?continuationToken=x"))
    with pytest.raises(PeerError, match="not a continuation"):
        whole_catalog(client, dsp("CatalogRequestMessage"))
    assert [str(r.url) for r in seen] == [f"{BASE}/catalog/request"]


def test_a_next_link_to_another_path_of_the_provider_is_not_followed() -> None:
    client, seen = hostile(lambda _, n: page(n, f"{BASE}/negotiations/x/termination?continuationToken=x"))
    with pytest.raises(PeerError, match="not a continuation"):
        whole_catalog(client, dsp("CatalogRequestMessage"))
    assert len(seen) == 1


def test_a_catalog_that_never_ends_stops_at_the_page_limit() -> None:
    client, seen = hostile(lambda _, n: page(n, f"{BASE}/catalog/request?continuationToken=p{n}"))
    with pytest.raises(PeerError, match=f"more than {MAX_CATALOG_PAGES} pages"):
        whole_catalog(client, dsp("CatalogRequestMessage"))
    assert len(seen) == MAX_CATALOG_PAGES
    assert seen[1].url.params["continuationToken"] == "p1"


def test_pages_are_merged_once_per_dataset_and_only_our_token_is_sent() -> None:
    def answer(request: httpx.Request, number: int) -> httpx.Response:
        return page(number, f"{BASE}/catalog/request?continuationToken=p{number}&extra=1" if number < 3 else None)

    client, seen = hostile(answer)
    gathered = whole_catalog(client, dsp("CatalogRequestMessage"))
    assert [d["@id"] for d in gathered["dataset"]] == ["d1", "everywhere", "d2", "d3"]
    assert [dict(r.url.params) for r in seen] == [{}, {"continuationToken": "p1"}, {"continuationToken": "p2"}]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"dataset": {"@id": "x"}}', b'{"dataset": [{"id": 1}]}'])
def test_a_page_that_is_not_a_catalog_is_a_peer_error(body: bytes) -> None:
    client, _ = hostile(lambda _, n: httpx.Response(200, content=body))
    with pytest.raises(PeerError, match="not a catalog"):
        whole_catalog(client, dsp("CatalogRequestMessage"))
