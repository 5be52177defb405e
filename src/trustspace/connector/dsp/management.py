"""Management API for the connector's owner (plain JSON; JSON-LD stays at the protocol boundary): data
products, policies, offers, remote catalogs, negotiations, agreements, transfers, and a server-sent event
stream of every state change."""

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from trustspace.client.http import SignedClient, Signer
from trustspace.connector import responses as c
from trustspace.connector.dsp import wire
from trustspace.connector.dsp.discovery import Discovery
from trustspace.connector.dsp.events_stream import EventStreams, add_events_route
from trustspace.connector.dsp.negotiations import Negotiations
from trustspace.connector.dsp.transfers import Transfers
from trustspace.connector.usage.transmit import check_carried, origin_of
from trustspace.core.clock import Clock
from trustspace.core.errors import NotFound, PeerError, PeerUnreachable, TrustSpaceError, ValidationFailed
from trustspace.identity.did import did_web
from trustspace.policy import PolicyInvalid, parse_policy
from trustspace.protocol.errors import InvalidMessage
from trustspace.protocol.transfer import TransferMessage
from trustspace.store.dsp.interfaces import CatalogStore, ProcessStore
from trustspace.store.dsp.records import Asset, OfferRecord, PolicyRecord
from trustspace.web.auth import Authenticator
from trustspace.web.models import answers
from trustspace.web.openapi import problems

log = logging.getLogger("trustspace.connector.management")
CATALOG_PATH = "/catalog/request"
# A catalog of 50 datasets a page (ours) stops at 10,000 datasets; a larger one needs a filter.
MAX_CATALOG_PAGES = 200
ID = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:~@/-]+$")


def whole_catalog(client: SignedClient, message: dict[str, Any]) -> dict[str, Any]:
    """The provider's catalog with the datasets of every page, following its ``Link: rel="next"`` answers.
    Only the continuation token is taken from a link, and only from one that names the catalog endpoint we
    asked: a provider cannot send us elsewhere. Datasets seen on an earlier page are not repeated."""
    endpoint = httpx.URL(client.base_url + CATALOG_PATH)
    response = client.send("POST", CATALOG_PATH, json=message)
    catalog = _catalog_page(response)
    seen = {d.get("@id") for d in catalog["dataset"]}
    for _ in range(MAX_CATALOG_PAGES - 1):
        link = response.links.get("next", {}).get("url")
        if link is None:
            return catalog
        following = httpx.URL(link)
        token = following.params.get("continuationToken")
        if following.copy_with(query=None) != endpoint or not token:
            raise PeerError(f"the provider's next catalog page {link!r} is not a continuation of {endpoint}",
                            hint="the provider's public URL may differ from the one given in providerUrl")
        response = client.send("POST", CATALOG_PATH, json=message, params={"continuationToken": token})
        for dataset in _catalog_page(response)["dataset"]:
            if dataset.get("@id") not in seen:
                seen.add(dataset.get("@id"))
                catalog["dataset"].append(dataset)
    raise PeerError(f"the provider's catalog has more than {MAX_CATALOG_PAGES} pages",
                    hint="narrow the request with a filter, e.g. {\"keyword\": ...}")


def _catalog_page(response: httpx.Response) -> dict[str, Any]:
    """A page as far as gathering needs it: an object whose datasets are objects with a string ``@id``."""
    try:
        page = response.json()
    except ValueError:
        page = None
    if isinstance(page, dict):
        datasets = page.setdefault("dataset", [])
        if isinstance(datasets, list) and all(isinstance(d, dict) and isinstance(d.get("@id"), str)
                                              for d in datasets):
            return page
    raise PeerError("the provider's catalog page is not a catalog: a JSON object whose datasets each have an @id",
                    field="dataset")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AssetIn(In):
    id: str | None = ID
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=5000)
    data_address: dict[str, Any] = Field(alias="dataAddress")
    properties: dict[str, Any] = Field(default_factory=dict)


class PolicyIn(In):
    id: str | None = ID
    policy: dict[str, Any]


class OfferIn(In):
    id: str | None = ID
    asset_id: str = Field(alias="assetId", min_length=1, max_length=200)
    policy_id: str = Field(alias="policyId", min_length=1, max_length=200)


class PeerIn(In):
    """Where the counter-party is: its root (``providerUrl``; ``<base>`` is discovered from its version
    metadata) or its DSP ``<base>`` itself (``counterPartyAddress``, EDC's name for it): exactly one. And who
    it is (``counterPartyId``, its participant id), when known beforehand."""

    provider_url: HttpUrl | None = Field(default=None, alias="providerUrl")
    counter_party_address: HttpUrl | None = Field(default=None, alias="counterPartyAddress")
    counter_party_id: str | None = Field(default=None, alias="counterPartyId", min_length=1, max_length=500)

    @model_validator(mode="after")
    def one_address(self) -> "PeerIn":
        if (self.provider_url is None) == (self.counter_party_address is None):
            raise ValueError("give exactly one of providerUrl (the peer's root) and counterPartyAddress (its "
                             "DSP base)")
        return self


class CatalogRequestIn(PeerIn):
    filter: list[dict[str, Any]] = Field(default_factory=list)


class NegotiationIn(PeerIn):
    offer: dict[str, Any]
    dataset_id: str | None = Field(
        default=None,
        alias="datasetId",
        min_length=1,
        max_length=500,
        description="the dataset the offer was listed under (its target)",
    )


class TransferIn(In):
    agreement_id: str = Field(alias="agreementId", min_length=1, max_length=200)
    transfer_type: Literal["HttpData-PULL", "HttpData-PUSH"] = Field(alias="transferType")


class ReasonIn(In):
    reason: str = Field(default="by request of the owner", min_length=1, max_length=1000)


def view(record: Any) -> dict[str, Any]:
    """A record's fields, camelCased, one level only: ``dataclasses.asdict`` deep-copies every value and recursed
    to death on a member's deeply nested offer or asset properties, so the listing broke for good."""
    values = ((f.name, getattr(record, f.name)) for f in fields(record))
    return {_camel(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values}


def listing(records: Iterable[Any]) -> JSONResponse:
    """Records as a JSON array, encoded directly: FastAPI's response encoding walks values recursively, in Python."""
    return JSONResponse([view(r) for r in records])


def check_policy(document: dict[str, Any]) -> None:
    """Valid ODRL of the TC609 profile, and in the shape the Dataspace Protocol's schemas give an offer (a
    number as ``rightOperand`` is not: the schema wants a string, object or array), so that it fails here and
    not in a catalog or a negotiation later."""
    try:
        parse_policy(document)
    except PolicyInvalid as exc:
        raise exc.under("/policy") from None
    offer = {**document, "@id": "urn:policy-check", "@type": "Offer", "target": "urn:policy-check"}
    try:
        wire.message("ContractOfferMessage", providerPid="urn:policy-check", offer=offer,
                     callbackAddress="https://policy-check.invalid")  # validated against its schema
    except InvalidMessage as exc:
        where = "/policy" + "".join(f"/{part}" for part in re.findall(r"[^.\[\]]+", (exc.field or "offer")[5:]))
        raise PolicyInvalid("not-a-dsp-offer", where, exc.detail,
                            hint="write numbers as strings (\"rightOperand\": \"3\"): the Dataspace Protocol's "
                                 "schema takes a string, an object or an array") from None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _new_id(given: str | None, prefix: str) -> str:
    return given or f"{prefix}-{uuid.uuid4()}"


def build_management_router(
    auth: Authenticator,
    catalog: CatalogStore,
    processes: ProcessStore,
    negotiations: Negotiations,
    transfers: Transfers,
    signer: Signer,
    clock: Clock,
    discovery: Discovery | None = None,
    check_address: Callable[[dict[str, Any]], list[str]] = lambda address: [],
    streams: EventStreams | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/v1/management", tags=["management"], dependencies=[Depends(auth.admin)])

    @router.post("/assets", status_code=201, responses=answers(c.AssetOut, 201))
    def add_asset(body: AssetIn) -> dict[str, Any]:
        try:
            warnings = check_address(body.data_address)  # refused now, naming the field, not at transfer time
        except TrustSpaceError as exc:
            exc.field = f"dataAddress.{exc.field}" if exc.field else "dataAddress"
            raise
        asset = Asset(
            _new_id(body.id, "asset"), body.title, body.description, body.data_address, body.properties, clock.now()
        )
        added = view(catalog.add_asset(asset))
        for warning in warnings:
            log.warning("asset %s: %s", added["id"], warning)
        return {**added, "warnings": warnings} if warnings else added

    @router.get("/assets", responses=answers(c.AssetOut, many=True))
    def assets() -> JSONResponse:
        return listing(catalog.list_assets())

    @router.post("/policies", status_code=201, responses=answers(c.PolicyOut, 201))
    def add_policy(body: PolicyIn) -> dict[str, Any]:
        """Refused with 422 naming the rule and a JSON pointer if the policy is not valid ODRL of the
        TC609 profile: no invalid policy is ever stored, to fail late in a negotiation."""
        check_policy(body.policy)
        return view(catalog.add_policy(PolicyRecord(_new_id(body.id, "policy"), body.policy, clock.now())))

    @router.get("/policies", responses=answers(c.PolicyOut, many=True))
    def policies() -> JSONResponse:
        return listing(catalog.list_policies())

    @router.post("/offers", status_code=201, responses=answers(c.OfferOut, 201))
    def add_offer(body: OfferIn) -> dict[str, Any]:
        asset, policy = catalog.get_asset(body.asset_id), catalog.get_policy(body.policy_id)
        origin = origin_of(asset.data_address, processes.get_agreement) if asset is not None else None
        if origin is not None and policy is not None:
            check_carried(policy.policy, origin)  # data derived under a policyTransmit duty keeps its policy
        offer = OfferRecord(_new_id(body.id, "offer"), body.asset_id, body.policy_id, clock.now())
        return view(catalog.add_offer(offer))

    @router.get("/offers", responses=answers(c.OfferOut, many=True))
    def offers() -> JSONResponse:
        return listing(catalog.list_offers())

    peers = Peers(discovery or Discovery(), signer)

    @router.post("/catalog/request", responses=problems(502))
    def remote_catalog(body: CatalogRequestIn) -> Any:
        return peers.catalog(body, body.filter)[0]

    _process_routes(router, processes, negotiations, transfers, peers)
    add_events_route(router, processes, streams or EventStreams(), view)
    return router


class Peers:
    """Finds a counter-party's ``<base>`` and participant id for the management API (decision 0014)."""

    def __init__(self, discovery: Discovery, signer: Signer) -> None:
        self.discovery, self.signer = discovery, signer

    def base(self, peer: PeerIn, fresh: bool = False) -> str:
        if peer.counter_party_address is not None:
            return str(peer.counter_party_address).rstrip("/")
        root = str(peer.provider_url)
        return self.discovery.refresh(root) if fresh else self.discovery.base(root)

    def catalog(self, peer: PeerIn, filters: list[dict[str, Any]]) -> tuple[dict[str, Any], str, str]:
        """(catalog, base, participant id). The token's audience is ``counterPartyId``; without one, the
        did:web of the root is tried, and the catalog's ``participantId`` must confirm whichever was used."""
        if peer.counter_party_id is None and peer.provider_url is None:
            raise ValidationFailed("with counterPartyAddress, give counterPartyId too: a DSP base does not tell "
                                   "the peer's participant id", field="counterPartyId")
        audience = peer.counter_party_id or did_web(str(peer.provider_url).rstrip("/"))
        message = wire.message("CatalogRequestMessage", filter=filters or None)
        base = self.base(peer)
        try:
            catalog = self._whole(base, audience, message)
        except PeerError as exc:
            if peer.provider_url is None or not _stale(exc):
                raise
            base = self.base(peer, fresh=True)  # the peer may have moved its endpoints: ask once more
            catalog = self._whole(base, audience, message)
        participant = catalog.get("participantId")
        if participant is not None and participant != audience:
            raise PeerError(f"the catalog names participant {participant!r}, not {audience!r}",
                            field="participantId", hint="pass the peer's participant id as counterPartyId")
        return catalog, base, audience

    def _whole(self, base: str, audience: str, message: dict[str, Any]) -> dict[str, Any]:
        client = SignedClient(base, audience, self.signer)
        try:
            return whole_catalog(client, message)
        finally:
            client.close()

    def provider(self, peer: NegotiationIn) -> tuple[str, str]:
        """(participant id, base) of the provider of an offer: ``counterPartyId``, else the offer's
        ``assigner``, else the ``participantId`` of its catalog."""
        assigner = peer.offer.get("assigner")
        if peer.counter_party_id and assigner and assigner != peer.counter_party_id:
            raise ValidationFailed(f"the offer's assigner {assigner!r} is not counterPartyId", field="offer.assigner")
        known = peer.counter_party_id or (assigner if isinstance(assigner, str) and assigner else None)
        if known is not None:
            return known, self.base(peer)
        _, base, participant = self.catalog(peer, [])
        return participant, base


def _stale(exc: PeerError) -> bool:
    """A failure that a moved ``<base>`` explains: unreachable, or no such endpoint."""
    status = getattr(exc, "remote_status", None)
    return isinstance(exc, PeerUnreachable) or status == 404


def _process_routes(
    router: APIRouter, processes: ProcessStore, negotiations: Negotiations, transfers: Transfers, peers: Peers
) -> None:
    @router.post("/negotiations", status_code=201, responses={**answers(c.NegotiationOut, 201), **problems(502)})
    def start_negotiation(body: NegotiationIn) -> dict[str, Any]:
        offer = {**body.offer, "target": body.offer.get("target", body.dataset_id)}
        provider, base = peers.provider(body)
        return view(negotiations.start(provider, base, offer))

    @router.get("/negotiations", responses=answers(c.NegotiationOut, many=True))
    def list_negotiations(state: str | None = Query(default=None, max_length=20)) -> JSONResponse:
        return listing(processes.list_negotiations(None, state))

    @router.post("/negotiations/{negotiation_id:path}/terminate", responses=answers(c.NegotiationOut))
    def terminate_negotiation(negotiation_id: str, body: ReasonIn) -> dict[str, Any]:
        return view(negotiations.terminate(negotiation_id, body.reason))

    @router.get("/negotiations/{negotiation_id:path}", responses=answers(c.NegotiationOut))
    def get_negotiation(negotiation_id: str) -> dict[str, Any]:
        return view(negotiations.get(negotiation_id))

    @router.get("/agreements", responses=answers(c.AgreementOut, many=True))
    def agreements() -> JSONResponse:
        return listing(processes.list_agreements())

    @router.get("/agreements/{agreement_id:path}", responses=answers(c.AgreementOut))
    def agreement(agreement_id: str) -> dict[str, Any]:
        found = processes.get_agreement(agreement_id)
        if found is None:
            raise NotFound(f"no agreement {agreement_id}", field="agreementId")
        return view(found)

    @router.post("/transfers", status_code=201, responses={**answers(c.TransferOut, 201), **problems(502)})
    def start_transfer(body: TransferIn) -> dict[str, Any]:
        return view(transfers.start(body.agreement_id, body.transfer_type))

    @router.get("/transfers", responses=answers(c.TransferOut, many=True))
    def list_transfers(state: str | None = Query(default=None, max_length=20)) -> JSONResponse:
        return listing(processes.list_transfers(None, state))

    actions = {
        "suspend": TransferMessage.SUSPENSION,
        "resume": TransferMessage.START,
        "complete": TransferMessage.COMPLETION,
        "terminate": TransferMessage.TERMINATION,
    }

    @router.post("/transfers/{transfer_id:path}/{action}", responses=answers(c.TransferOut))
    def act(
        transfer_id: str, action: Literal["suspend", "resume", "complete", "terminate"], body: ReasonIn | None = None
    ) -> dict[str, Any]:
        return view(transfers.act(transfer_id, actions[action], body.reason if body else None))

    @router.get("/transfers/{transfer_id:path}", responses=answers(c.TransferOut))
    def get_transfer(transfer_id: str) -> dict[str, Any]:
        return view(transfers.get(transfer_id))
