"""Transfer process messages of DSP 2025-1, and the data address a push or pull transfer hands over."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

from pydantic import Field

from trustspace.protocol.messages_base import DspDocument, DspMessage, DspModel

TransferStateName: TypeAlias = Literal["REQUESTED", "STARTED", "TERMINATED", "COMPLETED", "SUSPENDED"]


class EndpointProperty(DspModel):
    """One name/value pair of a data address, e.g. ``authorization`` -> a bearer token."""

    type: Literal["EndpointProperty"] = Field(default="EndpointProperty", alias="@type")
    name: str
    value: str


class DataAddress(DspDocument):
    """Where data is pushed to (in a request) or pulled from (in a start message).

    A document of its own only because the schema has its own file; inside messages it carries no @context.
    ``endpoint_properties`` usually hold credentials (``authorization``), so they are left out of ``repr``;
    still, never log a DataAddress's JSON.
    """

    SCHEMA: ClassVar[str] = "transfer/data-address-schema.json"
    type: Literal["DataAddress"] = Field(default="DataAddress", alias="@type")
    endpoint_type: str = Field(alias="endpointType")
    endpoint: str | None = None
    endpoint_properties: tuple[EndpointProperty, ...] | None = Field(
        default=None, alias="endpointProperties", repr=False
    )

    def endpoint_property(self, name: str) -> str | None:
        """The value of the endpoint property ``name``, if present."""
        return next((item.value for item in self.endpoint_properties or () if item.name == name), None)


class TransferRequestMessage(DspMessage):
    """Consumer -> provider: start a transfer under an agreement; ``data_address`` only for push formats."""

    SCHEMA: ClassVar[str] = "transfer/transfer-request-message-schema.json"
    type: Literal["TransferRequestMessage"] = Field(default="TransferRequestMessage", alias="@type")
    consumer_pid: str = Field(alias="consumerPid")
    agreement_id: str = Field(alias="agreementId")
    format: str
    data_address: DataAddress | None = Field(default=None, alias="dataAddress")
    callback_address: str = Field(alias="callbackAddress")


class TransferStartMessage(DspMessage):
    """Provider -> consumer; ``data_address`` is required by the spec for pull transfers."""

    SCHEMA: ClassVar[str] = "transfer/transfer-start-message-schema.json"
    type: Literal["TransferStartMessage"] = Field(default="TransferStartMessage", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    data_address: DataAddress | None = Field(default=None, alias="dataAddress")


class TransferCompletionMessage(DspMessage):
    SCHEMA: ClassVar[str] = "transfer/transfer-completion-message-schema.json"
    type: Literal["TransferCompletionMessage"] = Field(default="TransferCompletionMessage", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")


class _CodedTransferMessage(DspMessage):
    """The schema's AbstractTransferCodeMessage: both process ids, an optional code and reasons."""

    # Declared here (narrowed by each subclass) so ``@type`` is written second, as in the spec's examples.
    type: str = Field(alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    code: str | None = None
    reason: tuple[Any, ...] | None = None


class TransferSuspensionMessage(_CodedTransferMessage):
    SCHEMA: ClassVar[str] = "transfer/transfer-suspension-message-schema.json"
    type: Literal["TransferSuspensionMessage"] = Field(default="TransferSuspensionMessage", alias="@type")


class TransferTerminationMessage(_CodedTransferMessage):
    SCHEMA: ClassVar[str] = "transfer/transfer-termination-message-schema.json"
    type: Literal["TransferTerminationMessage"] = Field(default="TransferTerminationMessage", alias="@type")


class TransferError(_CodedTransferMessage):
    """The ERROR body of the transfer endpoints."""

    SCHEMA: ClassVar[str] = "transfer/transfer-error-schema.json"
    type: Literal["TransferError"] = Field(default="TransferError", alias="@type")


class TransferProcess(DspMessage):
    """The ACK body of every transfer endpoint: the process's current state."""

    SCHEMA: ClassVar[str] = "transfer/transfer-process-schema.json"
    type: Literal["TransferProcess"] = Field(default="TransferProcess", alias="@type")
    provider_pid: str = Field(alias="providerPid")
    consumer_pid: str = Field(alias="consumerPid")
    state: TransferStateName
