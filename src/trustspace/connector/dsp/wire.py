"""Outgoing Dataspace Protocol messages and where they go. Every message is validated against its schema
before it is queued: we never send what we would refuse to receive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from trustspace.protocol.errors import InvalidMessage
from trustspace.protocol.schemas import validate
from trustspace.store.dsp.records import Negotiation, NewOutboxMessage, TransferRecord

DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DSP_PATH = "/dsp"
CALLBACK_PATH = "/dsp/callback"

SCHEMAS = {
    "ContractRequestMessage": "negotiation/contract-request-message-schema.json",
    "ContractOfferMessage": "negotiation/contract-offer-message-schema.json",
    "ContractAgreementMessage": "negotiation/contract-agreement-message-schema.json",
    "ContractAgreementVerificationMessage": "negotiation/contract-agreement-verification-message-schema.json",
    "ContractNegotiationEventMessage": "negotiation/contract-negotiation-event-message-schema.json",
    "ContractNegotiationTerminationMessage": "negotiation/contract-negotiation-termination-message-schema.json",
    "ContractNegotiation": "negotiation/contract-negotiation-schema.json",
    "ContractNegotiationError": "negotiation/contract-negotiation-error-schema.json",
    "TransferRequestMessage": "transfer/transfer-request-message-schema.json",
    "TransferStartMessage": "transfer/transfer-start-message-schema.json",
    "TransferSuspensionMessage": "transfer/transfer-suspension-message-schema.json",
    "TransferCompletionMessage": "transfer/transfer-completion-message-schema.json",
    "TransferTerminationMessage": "transfer/transfer-termination-message-schema.json",
    "TransferProcess": "transfer/transfer-process-schema.json",
    "TransferError": "transfer/transfer-error-schema.json",
    "CatalogRequestMessage": "catalog/catalog-request-message-schema.json",
    "CatalogError": "catalog/catalog-error-schema.json",
}
PID_FIELDS = ("consumerPid", "providerPid")
# A pid an error must carry but the failing request never let us learn (decision 0009): no real pid is empty.
UNKNOWN_PID = ""


def message(kind: str, **fields: Any) -> dict[str, Any]:
    body = {"@context": [DSP_CONTEXT], "@type": kind, **{k: v for k, v in fields.items() if v is not None}}
    validate(body, SCHEMAS[kind])
    return body


def error(kind: str, code: str, reason: str, pids: Mapping[str, str]) -> dict[str, Any]:
    """The error body the binding prescribes. The process errors' schemas require both pids; a catalog error
    has none to give."""
    fields: dict[str, Any] = {"code": code, "reason": [reason]}
    if kind != "CatalogError":
        fields.update({name: pids.get(name, UNKNOWN_PID) for name in PID_FIELDS})
    return message(kind, **fields)


def check_pids(process: Negotiation | TransferRecord, body: dict[str, Any]) -> None:
    """A message names its process by both pids: each one we know must be this process's."""
    for field, ours in (("consumerPid", process.consumer_pid), ("providerPid", process.provider_pid)):
        if ours is not None and body.get(field) != ours:
            raise InvalidMessage(f"{body.get(field)!r} is not this process's {field} ({ours})", field=field)


def dsp_base(connector_url: str) -> str:
    return connector_url.rstrip("/") + DSP_PATH


def callback_base(connector_url: str) -> str:
    return connector_url.rstrip("/") + CALLBACK_PATH


def join(base: str, *parts: str) -> str:
    # The binding asks us to cope with callback addresses with or without a trailing slash.
    return "/".join([base.rstrip("/"), *parts])


def to_negotiation_peer(n: Negotiation, path: str, body: dict[str, Any]) -> NewOutboxMessage:
    """A message to the other side of a negotiation, at the path its role's binding prescribes."""
    if n.role == "consumer":
        url = join(n.counter_party_address, "negotiations", str(n.provider_pid), path)
    else:
        url = join(n.counter_party_address, "negotiations", n.consumer_pid, path)
    return NewOutboxMessage("negotiation", n.id, url, n.counter_party, body)


def to_transfer_peer(t: TransferRecord, path: str, body: dict[str, Any]) -> NewOutboxMessage:
    if t.role == "consumer":
        url = join(t.counter_party_address, "transfers", str(t.provider_pid), path)
    else:
        url = join(t.counter_party_address, "transfers", t.consumer_pid, path)
    return NewOutboxMessage("transfer", t.id, url, t.counter_party, body)


def negotiation_ack(n: Negotiation) -> dict[str, Any]:
    return message("ContractNegotiation", consumerPid=n.consumer_pid, providerPid=n.provider_pid or n.id,
                   state=n.state)


def transfer_ack(t: TransferRecord) -> dict[str, Any]:
    return message("TransferProcess", consumerPid=t.consumer_pid, providerPid=t.provider_pid or t.id, state=t.state)


def endpoint_properties(token: str) -> list[dict[str, str]]:
    return [{"@type": "EndpointProperty", "name": "authorization", "value": token},
            {"@type": "EndpointProperty", "name": "authType", "value": "bearer"}]


def data_address(endpoint: str, token: str) -> dict[str, Any]:
    return {"@type": "DataAddress", "endpointType": "https://w3id.org/idsa/v4.1/HTTP", "endpoint": endpoint,
            "endpointProperties": endpoint_properties(token)}


def read_data_address(address: dict[str, Any]) -> tuple[str, str | None]:
    """(endpoint, bearer token) of a DataAddress."""
    token = None
    for prop in address.get("endpointProperties", []) or []:
        if isinstance(prop, dict) and prop.get("name") == "authorization":
            token = str(prop.get("value"))
    return str(address.get("endpoint", "")), token


def problem_text(response: httpx.Response) -> str:
    """A counter-party's refusal in a few words: the DSP reason, or the problem's detail or title."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        reason = body.get("reason") or body.get("detail") or body.get("title")
        return "; ".join(map(str, reason)) if isinstance(reason, list) else str(reason)
    return str(body)[:300]
