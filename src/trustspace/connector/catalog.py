"""DCAT catalog views of the connector's assets and offers, in the Dataspace Protocol's compacted form."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from trustspace.core.errors import ValidationFailed
from trustspace.protocol.schemas import validate
from trustspace.store.dsp.interfaces import CatalogStore
from trustspace.store.dsp.records import Asset, OfferRecord, PolicyRecord

DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
PULL, PUSH = "HttpData-PULL", "HttpData-PUSH"
# The terms an offer carries from its policy, into the catalog, the negotiation and the agreement: the rules,
# and ODRL's conflict strategy, which changes what they mean together (a prohibition overriding a permission).
POLICY_KEYS = ("permission", "prohibition", "obligation", "conflict")
PAGE_SIZE = 50


def offer_document(offer: OfferRecord, policy: PolicyRecord, provider: str) -> dict[str, Any]:
    # In a catalog the dataset is the offer's target; the schema forbids repeating it inside the offer.
    document: dict[str, Any] = {"@id": offer.id, "@type": "Offer", "assigner": provider}
    for key in POLICY_KEYS:
        if key in policy.policy:
            document[key] = policy.policy[key]
    return document


@dataclass(frozen=True)
class CatalogView:
    store: CatalogStore
    provider: str
    endpoint_url: str

    @property
    def service_id(self) -> str:
        return f"{self.provider}#dsp"

    def dataset(self, asset: Asset) -> dict[str, Any] | None:
        offers = []
        for offer in self.store.list_offers(asset.id):
            policy = self.store.get_policy(offer.policy_id)
            if policy is not None:
                offers.append(offer_document(offer, policy, self.provider))
        if not offers:
            return None  # an asset without an offer is not in the catalog
        dataset: dict[str, Any] = {
            "@id": asset.id, "@type": "Dataset", "hasPolicy": offers,
            "distribution": [{"@type": "Distribution", "format": f, "accessService": self.service_id}
                             for f in (PULL, PUSH)],
        }
        if asset.title:
            dataset["title"] = asset.title
        if asset.description:
            dataset["description"] = asset.description
        for key in ("keyword", "theme", "mediaType"):
            if key in asset.properties:
                dataset[key] = asset.properties[key]
        return dataset

    def catalog(self, filters: list[Any], page: int) -> tuple[dict[str, Any], bool]:
        """One page of the catalog and whether there is a next page."""
        matching = [d for a in self.store.list_assets() if _matches(a, filters) and (d := self.dataset(a))]
        start = page * PAGE_SIZE
        catalog = {
            "@context": [DSP_CONTEXT], "@id": f"{self.provider}#catalog", "@type": "Catalog",
            "participantId": self.provider,
            "service": [{"@id": self.service_id, "@type": "DataService", "endpointURL": self.endpoint_url}],
        }
        if datasets := matching[start:start + PAGE_SIZE]:
            catalog["dataset"] = datasets  # the schema allows no empty list: a catalog with nothing to offer has none
        validate(catalog, "catalog/catalog-schema.json")
        return catalog, start + PAGE_SIZE < len(matching)


def _matches(asset: Asset, filters: list[Any]) -> bool:
    """Supported filter expressions: ``{"keyword": "..."}`` (substring of title, description or keywords)
    and ``{"id": "..."}``. Anything else is refused with 400, as the catalog binding requires."""
    for expression in filters:
        if not isinstance(expression, dict) or not set(expression) <= {"keyword", "id"}:
            raise ValidationFailed("unsupported filter expression; use {\"keyword\": ...} or {\"id\": ...}",
                                   field="filter")
        if "id" in expression and asset.id != expression["id"]:
            return False
        if "keyword" in expression:
            needle = str(expression["keyword"]).lower()
            haystack = " ".join([asset.title, asset.description, *map(str, asset.properties.get("keyword", []))])
            if needle not in haystack.lower():
                return False
    return True


def page_token(page: int, filters: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"p": page, "f": filters}).encode()).decode().rstrip("=")


def read_page_token(token: str) -> tuple[int, list[Any]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        page, filters = data["p"], data["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed("continuationToken is not one this catalog issued", field="continuationToken") from exc
    if not isinstance(page, int) or isinstance(page, bool) or page < 0 or not isinstance(filters, list):
        raise ValidationFailed("continuationToken is not one this catalog issued", field="continuationToken")
    return page, filters
