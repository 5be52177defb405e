"""DSP 2025-1 message models: every published example in and out without loss, and every way in refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from trustspace.protocol import messages as m
from trustspace.protocol.errors import InvalidMessage
from trustspace.protocol.schemas import schema_names

# Every message or response example and the model it is (the two DID service entries are not DSP messages).
EXAMPLE_MODELS: dict[str, type[m.DspDocument]] = {
    "catalog/example/catalog-error.json": m.CatalogError,
    "catalog/example/catalog-request-message.json": m.CatalogRequestMessage,
    "catalog/example/catalog.json": m.Catalog,
    "catalog/example/dataset-request-message.json": m.DatasetRequestMessage,
    "catalog/example/dataset.json": m.Dataset,
    "catalog/example/nested-catalog.json": m.Catalog,
    "common/example/protocol-version.json": m.VersionResponse,
    "negotiation/example/contract-agreement-message-full.json": m.ContractAgreementMessage,
    "negotiation/example/contract-agreement-message.json": m.ContractAgreementMessage,
    "negotiation/example/contract-agreement-verification-message.json": m.ContractAgreementVerificationMessage,
    "negotiation/example/contract-negotiation-error.json": m.ContractNegotiationError,
    "negotiation/example/contract-negotiation-event-message.json": m.ContractNegotiationEventMessage,
    "negotiation/example/contract-negotiation-termination-message.json": m.ContractNegotiationTerminationMessage,
    "negotiation/example/contract-negotiation.json": m.ContractNegotiation,
    "negotiation/example/contract-offer-message.json": m.ContractOfferMessage,
    "negotiation/example/contract-offer-message_initial.json": m.ContractOfferMessage,
    "negotiation/example/contract-request-message.json": m.ContractRequestMessage,
    "negotiation/example/contract-request-message_initial.json": m.ContractRequestMessage,
    "transfer/example/transfer-completion-message.json": m.TransferCompletionMessage,
    "transfer/example/transfer-error.json": m.TransferError,
    "transfer/example/transfer-process.json": m.TransferProcess,
    "transfer/example/transfer-request-message.json": m.TransferRequestMessage,
    "transfer/example/transfer-start-message.json": m.TransferStartMessage,
    "transfer/example/transfer-suspension-message.json": m.TransferSuspensionMessage,
    "transfer/example/transfer-termination-message.json": m.TransferTerminationMessage,
}
NOT_MESSAGES = {"common/example/catalogservice-did-service.json", "common/example/dataservice-did-service.json"}
_MODELS: set[type[m.DspDocument]] = {*EXAMPLE_MODELS.values(), m.DataAddress}
DOCUMENT_MODELS = sorted(_MODELS, key=lambda model: model.__name__)


@pytest.fixture(scope="session")
def dsp_dir(vectors_dir: Path) -> Path:
    path = vectors_dir / "dsp-2025-1"
    if not path.is_dir():
        pytest.fail(f"DSP 2025-1 vectors not found at {path}", pytrace=False)
    return path


def _example(dsp_dir: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((dsp_dir / name).read_text(encoding="utf-8"))
    return document


def _extras(value: Any) -> list[str]:
    """Every property, anywhere in a model tree, that landed in extras instead of a declared field."""
    if isinstance(value, BaseModel):
        own = [f"{type(value).__name__}.{key}" for key in value.model_extra or {}]
        return own + [item for field in type(value).model_fields for item in _extras(getattr(value, field))]
    if isinstance(value, tuple):
        return [item for element in value for item in _extras(element)]
    return []


def test_every_example_is_covered(dsp_dir: Path) -> None:
    found = {path.relative_to(dsp_dir).as_posix() for path in dsp_dir.glob("*/example/*.json")}
    assert found == set(EXAMPLE_MODELS) | NOT_MESSAGES


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_example_round_trips_without_loss(dsp_dir: Path, name: str) -> None:
    document = _example(dsp_dir, name)
    message = m.parse(document, EXAMPLE_MODELS[name])
    assert m.emit(message) == document
    assert message.to_json() == document
    assert type(message).from_json(document) == message


@pytest.mark.parametrize("name", sorted(EXAMPLE_MODELS))
def test_example_fills_declared_fields_not_extras(dsp_dir: Path, name: str) -> None:
    # Guards against a wrong alias: the round trip alone would pass with every property kept as an extra.
    assert _extras(m.parse(_example(dsp_dir, name), EXAMPLE_MODELS[name])) == []


@pytest.mark.parametrize("model", DOCUMENT_MODELS, ids=lambda model: model.__name__)
def test_every_document_model_names_a_shipped_schema(model: type[m.DspDocument]) -> None:
    assert model.SCHEMA in schema_names()


def test_fields_read_as_python_names(dsp_dir: Path) -> None:
    request = m.parse(_example(dsp_dir, "transfer/example/transfer-request-message.json"), m.TransferRequestMessage)
    assert request.consumer_pid == "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833"
    assert request.callback_address == "https://example.com/callback"
    assert request.data_address is not None
    assert request.data_address.endpoint_type == "https://w3id.org/idsa/v4.1/HTTP"
    assert request.data_address.endpoint_property("authType") == "bearer"
    assert request.data_address.endpoint_property("nothing") is None
    catalog = m.parse(_example(dsp_dir, "catalog/example/catalog.json"), m.Catalog)
    assert catalog.dataset is not None and catalog.service is not None
    assert catalog.service[0].endpoint_url == "https://provider-a.com/connector"
    assert catalog.dataset[0].has_policy[0].permission is not None
    assert catalog.dataset[0].has_policy[0].permission[0].action == "use"


def test_data_address_repr_hides_credentials(dsp_dir: Path) -> None:
    start = m.parse(_example(dsp_dir, "transfer/example/transfer-start-message.json"), m.TransferStartMessage)
    assert "TOKEN-ABCDEFG" not in repr(start)
    assert "TOKEN-ABCDEFG" not in str(start)


def test_built_messages_carry_context_and_type() -> None:
    message = m.ContractNegotiationEventMessage(provider_pid="urn:p", consumer_pid="urn:c", event_type="ACCEPTED")
    assert m.emit(message) == {
        "@context": [m.DSP_CONTEXT],
        "@type": "ContractNegotiationEventMessage",
        "providerPid": "urn:p",
        "consumerPid": "urn:c",
        "eventType": "ACCEPTED",
    }


def test_built_request_emits_only_what_is_set() -> None:
    offer = m.Offer(id="urn:offer", target="urn:dataset", permission=(m.Permission(action="use"),))
    message = m.ContractRequestMessage(consumer_pid="urn:c", offer=offer, callback_address="https://c.example/cb")
    document = m.emit(message)
    assert "providerPid" not in document
    assert document["offer"] == {
        "@id": "urn:offer",
        "@type": "Offer",
        "target": "urn:dataset",
        "permission": [{"action": "use"}],
    }
    assert m.parse(document, m.ContractRequestMessage) == message


@pytest.mark.parametrize(
    ("name", "model", "field"),
    [
        ("negotiation/example/contract-request-message.json", m.ContractRequestMessage, "consumerPid"),
        ("negotiation/example/contract-offer-message.json", m.ContractOfferMessage, "providerPid"),
        ("negotiation/example/contract-agreement-message.json", m.ContractAgreementMessage, "agreement"),
        ("negotiation/example/contract-negotiation-event-message.json", m.ContractNegotiationEventMessage, "eventType"),
        ("negotiation/example/contract-negotiation.json", m.ContractNegotiation, "state"),
        ("transfer/example/transfer-request-message.json", m.TransferRequestMessage, "agreementId"),
        ("transfer/example/transfer-process.json", m.TransferProcess, "providerPid"),
        ("transfer/example/transfer-termination-message.json", m.TransferTerminationMessage, "consumerPid"),
        ("catalog/example/dataset-request-message.json", m.DatasetRequestMessage, "dataset"),
        ("catalog/example/catalog.json", m.Catalog, "participantId"),
        ("catalog/example/dataset.json", m.Dataset, "hasPolicy"),
        ("common/example/protocol-version.json", m.VersionResponse, "protocolVersions"),
    ],
)
def test_missing_required_field_is_named(dsp_dir: Path, name: str, model: type[m.DspDocument], field: str) -> None:
    document = _example(dsp_dir, name)
    del document[field]
    with pytest.raises(InvalidMessage) as caught:
        m.parse(document, model)
    assert caught.value.field == field
    assert field in caught.value.detail


def test_missing_nested_field_is_named_by_its_path(dsp_dir: Path) -> None:
    document = _example(dsp_dir, "negotiation/example/contract-offer-message.json")
    del document["offer"]["target"]
    with pytest.raises(InvalidMessage) as caught:
        m.parse(document, m.ContractOfferMessage)
    assert caught.value.field == "offer.target"


@pytest.mark.parametrize(
    "context",
    [None, [], ["https://w3id.org/dspace/2024/1/context.jsonld"], "https://example.com/ctx", [m.DSP_CONTEXT, 3], {}],
)
def test_message_without_the_dsp_context_is_refused(dsp_dir: Path, context: Any) -> None:
    document = _example(dsp_dir, "transfer/example/transfer-process.json")
    if context is None:
        del document["@context"]
    else:
        document["@context"] = context
    with pytest.raises(InvalidMessage) as caught:
        m.parse(document, m.TransferProcess)
    assert caught.value.field is not None and caught.value.field.startswith("@context")


def test_single_context_string_is_accepted_and_emitted_as_a_list(dsp_dir: Path) -> None:
    document = _example(dsp_dir, "transfer/example/transfer-process.json")
    document["@context"] = m.DSP_CONTEXT
    message = m.parse(document, m.TransferProcess)
    assert message.context == (m.DSP_CONTEXT,)
    assert m.emit(message)["@context"] == [m.DSP_CONTEXT]


def test_further_contexts_are_kept(dsp_dir: Path) -> None:
    document = _example(dsp_dir, "catalog/example/catalog.json")
    document["@context"] = ["https://w3id.org/dspace/2025/1/context.jsonld", "https://example.com/profile.jsonld"]
    assert m.emit(m.parse(document, m.Catalog)) == document


def test_building_with_a_foreign_context_fails() -> None:
    with pytest.raises(ValidationError, match="must include"):
        m.TransferCompletionMessage(context=("https://example.com/ctx",), provider_pid="urn:p", consumer_pid="urn:c")


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("negotiation/example/contract-agreement-verification-message.json", m.TransferCompletionMessage),
        ("transfer/example/transfer-termination-message.json", m.TransferSuspensionMessage),
        ("transfer/example/transfer-error.json", m.ContractNegotiationError),
        ("negotiation/example/contract-negotiation.json", m.TransferProcess),
    ],
)
def test_wrong_type_is_refused(dsp_dir: Path, name: str, model: type[m.DspDocument]) -> None:
    with pytest.raises(InvalidMessage) as caught:
        m.parse(_example(dsp_dir, name), model)
    assert caught.value.field in {"@type", "state"}
    if caught.value.field == "@type":
        assert model.__name__ in caught.value.detail


def test_wrong_type_the_schema_leaves_open_is_refused_by_the_model(dsp_dir: Path) -> None:
    document = _example(dsp_dir, "catalog/example/dataset.json")
    document["@type"] = "Catalog"  # the Dataset schema does not constrain @type; the model does
    with pytest.raises(InvalidMessage) as caught:
        m.parse(document, m.Dataset)
    assert caught.value.field == "@type"


def test_unknown_properties_survive_a_round_trip(dsp_dir: Path) -> None:
    document = _example(dsp_dir, "transfer/example/transfer-request-message.json")
    document["profile:priority"] = {"level": 3, "tags": ["a", None]}
    document["note"] = None
    document["consumer_pid"] = "a wire key that only looks like a Python name"
    document["dataAddress"]["region"] = "cn-east"
    document["dataAddress"]["endpointProperties"][0]["expires"] = "PT5M"
    message = m.parse(document, m.TransferRequestMessage)
    assert message.consumer_pid == "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833"
    assert m.emit(message) == document


def test_unknown_odrl_and_dcat_terms_survive_a_round_trip(dsp_dir: Path) -> None:
    document = _example(dsp_dir, "catalog/example/catalog.json")
    dataset = document["dataset"][0]
    dataset["title"] = "Air quality, hourly"
    dataset["keyword"] = ["air", "city"]
    dataset["hasPolicy"][0]["permission"][0]["duty"] = [{"action": "attribute"}]
    dataset["hasPolicy"][0]["assigner"] = "urn:example:DataProviderA"
    assert m.emit(m.parse(document, m.Catalog)) == document


def test_emit_refuses_an_offer_without_rules() -> None:
    message = m.ContractRequestMessage(
        consumer_pid="urn:c", offer=m.Offer(id="urn:offer", target="urn:d"), callback_address="https://c/cb"
    )
    with pytest.raises(InvalidMessage) as caught:
        m.emit(message)
    assert caught.value.field == "offer.permission"
    assert caught.value.detail.startswith("refusing to send an invalid ContractRequestMessage")


def test_emit_refuses_a_first_request_that_also_names_the_provider_process() -> None:
    offer = m.Offer(id="urn:offer", target="urn:d", permission=(m.Permission(action="use"),))
    message = m.ContractRequestMessage(
        consumer_pid="urn:c", provider_pid="urn:p", offer=offer, callback_address="https://c/cb"
    )
    with pytest.raises(InvalidMessage) as caught:
        m.emit(message)
    assert caught.value.field == "callbackAddress"


def test_emit_refuses_an_empty_property_list() -> None:
    address = m.DataAddress(endpoint_type="https://w3id.org/idsa/v4.1/HTTP", endpoint_properties=())
    message = m.TransferStartMessage(provider_pid="urn:p", consumer_pid="urn:c", data_address=address)
    with pytest.raises(InvalidMessage) as caught:
        m.emit(message)
    assert caught.value.field == "dataAddress.endpointProperties"


def test_emit_refuses_a_catalog_offer_with_a_target() -> None:
    offer = m.Offer(id="urn:offer", target="urn:d", permission=(m.Permission(action="use"),))
    distribution = m.Distribution(format="HttpData-PULL", access_service="urn:service")
    dataset = m.Dataset(id="urn:d", has_policy=(offer,), distribution=(distribution,))
    with pytest.raises(InvalidMessage) as caught:
        m.emit(dataset)
    assert caught.value.field == "hasPolicy[0]"


def test_messages_are_immutable() -> None:
    message = m.TransferCompletionMessage(provider_pid="urn:p", consumer_pid="urn:c")
    with pytest.raises(ValidationError):
        message.provider_pid = "urn:other"  # type: ignore[misc]


@pytest.mark.parametrize("document", [[], "ContractRequestMessage", None])
def test_non_object_is_refused(document: Any) -> None:
    with pytest.raises(InvalidMessage, match="must be a JSON object"):
        m.parse(document, m.ContractRequestMessage)


def test_public_names_exist() -> None:
    for name in m.__all__:
        assert hasattr(m, name), name
