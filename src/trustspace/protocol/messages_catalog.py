"""Catalog protocol messages of DSP 2025-1 (DCAT catalogs, datasets, distributions, data services), and the
version document every connector serves at ``/.well-known/dspace-version``.

The schema distinguishes a root Catalog/Dataset (a response body, with ``@context``) from the same object
nested in another (without it); :class:`Catalog` and :class:`Dataset` are the roots and extend
:class:`NestedCatalog` and :class:`NestedDataset`. DCAT terms the schema leaves open (``title``,
``description``, ``keyword``...) are kept as extra properties.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from trustspace.protocol.messages_base import DspDocument, DspMessage, DspModel
from trustspace.protocol.messages_negotiation import Offer


class DataService(DspModel):
    """A connector endpoint; ``endpoint_url`` is the base the negotiation and transfer paths extend."""

    id: str = Field(alias="@id")
    type: Literal["DataService"] = Field(default="DataService", alias="@type")
    endpoint_url: str = Field(alias="endpointURL")
    serves_dataset: tuple[NestedDataset, ...] | None = Field(default=None, alias="servesDataset")


class Distribution(DspModel):
    """One way to obtain a dataset: a transfer ``format`` through a data service (inline, or its ``@id``)."""

    type: Literal["Distribution"] = Field(default="Distribution", alias="@type")
    format: str
    access_service: str | DataService = Field(alias="accessService")
    has_policy: tuple[Offer, ...] | None = Field(default=None, alias="hasPolicy")


class NestedDataset(DspModel):
    """A dataset inside a catalog or data service: its offers (no ``target``) and distributions."""

    id: str = Field(alias="@id")
    type: Literal["Dataset"] = Field(default="Dataset", alias="@type")
    has_policy: tuple[Offer, ...] = Field(alias="hasPolicy")
    distribution: tuple[Distribution, ...]


class NestedCatalog(DspModel):
    """A catalog inside a catalog. A catalog carries no ``hasPolicy`` of its own (the schema forbids it)."""

    id: str = Field(alias="@id")
    type: Literal["Catalog"] = Field(default="Catalog", alias="@type")
    distribution: tuple[Distribution, ...] | None = None
    dataset: tuple[NestedDataset, ...] | None = None
    catalog: tuple[NestedCatalog, ...] | None = None
    service: tuple[DataService, ...] | None = None


class Dataset(NestedDataset, DspMessage):
    """ACK of a dataset request: one dataset as a response body."""

    SCHEMA: ClassVar[str] = "catalog/dataset-schema.json"


class Catalog(NestedCatalog, DspMessage):
    """ACK of a catalog request: the provider's root catalog."""

    SCHEMA: ClassVar[str] = "catalog/catalog-schema.json"
    participant_id: str = Field(alias="participantId")


class CatalogRequestMessage(DspMessage):
    """Consumer -> catalog service; ``filter`` is an implementation-specific query, passed through as JSON."""

    SCHEMA: ClassVar[str] = "catalog/catalog-request-message-schema.json"
    type: Literal["CatalogRequestMessage"] = Field(default="CatalogRequestMessage", alias="@type")
    filter: tuple[Any, ...] | None = None


class DatasetRequestMessage(DspMessage):
    SCHEMA: ClassVar[str] = "catalog/dataset-request-message-schema.json"
    type: Literal["DatasetRequestMessage"] = Field(default="DatasetRequestMessage", alias="@type")
    dataset: str


class CatalogError(DspMessage):
    """The ERROR body of the catalog endpoints."""

    SCHEMA: ClassVar[str] = "catalog/catalog-error-schema.json"
    type: Literal["CatalogError"] = Field(default="CatalogError", alias="@type")
    code: str | None = None
    reason: tuple[Any, ...] | None = None


class VersionAuth(DspModel):
    """How to authenticate to one protocol version's endpoints."""

    protocol: str
    version: str
    profile: tuple[str, ...] | None = None


class ProtocolVersion(DspModel):
    """One supported protocol version and binding, and where it is served."""

    version: str
    path: str
    binding: Literal["HTTPS"]
    identifier_type: str | None = Field(default=None, alias="identifierType")
    service_id: str | None = Field(default=None, alias="serviceId")
    auth: VersionAuth | None = None


class VersionResponse(DspDocument):
    """The body of ``/.well-known/dspace-version`` (plain JSON: no ``@context``, no ``@type``)."""

    SCHEMA: ClassVar[str] = "common/protocol-version-schema.json"
    protocol_versions: tuple[ProtocolVersion, ...] = Field(alias="protocolVersions")


DataService.model_rebuild()
