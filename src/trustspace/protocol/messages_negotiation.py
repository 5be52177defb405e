"""Contract negotiation messages of DSP 2025-1, and the ODRL policy shapes they (and the catalog) carry.

ODRL is modelled only as far as the DSP schema fixes it: policies, rules and their ``action``. Constraints
stay JSON objects (``{"leftOperand", "operator", "rightOperand"}`` or ``{"and" | "or" | "xone" |
"andSequence": [...]}``) validated by the schema; ``trustspace.policy`` interprets them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import Field

from trustspace.protocol.messages_base import DspMessage, DspModel

Constraint: TypeAlias = dict[str, Any]
NegotiationStateName: TypeAlias = Literal[
    "REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED", "TERMINATED"
]
NegotiationEventType: TypeAlias = Literal["ACCEPTED", "FINALIZED"]


class Rule(DspModel):
    """An ODRL rule: one action, optionally constrained. Further ODRL terms (``duty``...) are kept as extras."""

    action: str
    constraint: tuple[Constraint, ...] | None = None


class Permission(Rule):
    pass


class Prohibition(Rule):
    pass


class Duty(Rule):
    pass


class Policy(DspModel):
    """What Offer and Agreement share (the schema's PolicyClass)."""

    id: str = Field(alias="@id")
    profile: str | tuple[str, ...] | None = None
    permission: tuple[Permission, ...] | None = None
    prohibition: tuple[Prohibition, ...] | None = None
    obligation: tuple[Duty, ...] | None = None


class Offer(Policy):
    """An ODRL offer. ``target`` is required inside negotiation messages and forbidden inside a catalog."""

    type: Literal["Offer"] = Field(default="Offer", alias="@type")
    target: str | None = None


class Agreement(Policy):
    """The agreed policy; ``timestamp`` is kept in its lexical xsd:dateTime form so it round-trips exactly."""

    type: Literal["Agreement"] = Field(default="Agreement", alias="@type")
    target: str
    assigner: str
    assignee: str
    timestamp: str | None = None


class ContractRequestMessage(DspMessage):
    """Consumer -> provider. Without ``provider_pid`` it opens a negotiation and needs ``callback_address``."""

    SCHEMA: ClassVar[str] = "negotiation/contract-request-message-schema.json"
    type: Literal["ContractRequestMessage"] = Field(default="ContractRequestMessage", alias="@type")
    consumer_pid: str = Field(alias="consumerPid")
    provider_pid: str | None = Field(default=None, alias="providerPid")
    offer: Offer
    callback_address: str | None = Field(default=None, alias="callbackAddress")


class ContractOfferMessage(DspMessage):
    """Provider -> consumer. Without ``consumer_pid`` it opens a negotiation and needs ``callback_address``."""

    SCHEMA: ClassVar[str] = "negotiation/contract-offer-message-schema.json"
    type: Literal["ContractOfferMessage"] = Field(default="ContractOfferMessage", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str | None = Field(default=None, alias="consumerPid")
    offer: Offer
    callback_address: str | None = Field(default=None, alias="callbackAddress")


class ContractAgreementMessage(DspMessage):
    SCHEMA: ClassVar[str] = "negotiation/contract-agreement-message-schema.json"
    type: Literal["ContractAgreementMessage"] = Field(default="ContractAgreementMessage", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    agreement: Agreement


class ContractAgreementVerificationMessage(DspMessage):
    SCHEMA: ClassVar[str] = "negotiation/contract-agreement-verification-message-schema.json"
    type: Literal["ContractAgreementVerificationMessage"] = Field(
        default="ContractAgreementVerificationMessage", alias="@type"
    )
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")


class ContractNegotiationEventMessage(DspMessage):
    SCHEMA: ClassVar[str] = "negotiation/contract-negotiation-event-message-schema.json"
    type: Literal["ContractNegotiationEventMessage"] = Field(default="ContractNegotiationEventMessage", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    event_type: NegotiationEventType = Field(alias="eventType")


class ContractNegotiationTerminationMessage(DspMessage):
    SCHEMA: ClassVar[str] = "negotiation/contract-negotiation-termination-message-schema.json"
    type: Literal["ContractNegotiationTerminationMessage"] = Field(
        default="ContractNegotiationTerminationMessage", alias="@type"
    )
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    code: str | None = None
    reason: tuple[Any, ...] | None = None


class ContractNegotiation(DspMessage):
    """The ACK body of every negotiation endpoint: the negotiation's current state."""

    SCHEMA: ClassVar[str] = "negotiation/contract-negotiation-schema.json"
    type: Literal["ContractNegotiation"] = Field(default="ContractNegotiation", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    state: NegotiationStateName


class ContractNegotiationError(DspMessage):
    """The ERROR body of the negotiation endpoints."""

    SCHEMA: ClassVar[str] = "negotiation/contract-negotiation-error-schema.json"
    type: Literal["ContractNegotiationError"] = Field(default="ContractNegotiationError", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    code: str | None = None
    reason: tuple[Any, ...] | None = None
