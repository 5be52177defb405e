"""What every DSP 2025-1 message model shares, and the two doors in and out: :func:`parse` and :func:`emit`.

Models hold the compacted JSON-LD form the spec's schemas define (plain JSON with ``@context``/``@type``),
not expanded RDF: the spec promises that compacted messages validate against the schemas, so a connector may
treat them as plain JSON. Python names are snake_case; each field's alias is the compacted term on the wire.
Unknown properties are kept (``extra="allow"``) because no 2025-1 schema closes its objects and profiles add
their own terms: dropping them would silently change what a peer said when we store or relay it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from trustspace.protocol.errors import InvalidMessage
from trustspace.protocol.schemas import DSP_CONTEXT, json_path, validate

__all__ = ["DSP_CONTEXT", "DspDocument", "DspMessage", "DspModel", "emit", "parse"]


class DspModel(BaseModel):
    """Any JSON object of the protocol: immutable, camelCase on the wire, unknown properties preserved.

    Immutability is shallow: open-schema parts (ODRL constraints, ``reason``, ``filter``, extra properties)
    stay plain JSON values; treat them as read-only.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        # Python code builds models by field name; the wire uses aliases (parse() turns names off).
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    @model_serializer(mode="wrap")
    def _absent_fields_are_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A declared field set to None is absent (the schemas allow no nulls), so it is not written; an unknown
        # property a peer sent as null is kept as null, which a blanket exclude_none would lose.
        data: dict[str, Any] = handler(self)
        kept = self.__pydantic_extra__ or {}
        return {key: value for key, value in data.items() if value is not None or key in kept}


class DspDocument(DspModel):
    """A top-level JSON document with its own schema file (``SCHEMA``, a short name under ``schemas/``)."""

    SCHEMA: ClassVar[str]

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        """Same as ``parse(document, cls)``."""
        return parse(document, cls)

    def to_json(self) -> dict[str, Any]:
        """Same as ``emit(self)``."""
        return emit(self)


class DspMessage(DspDocument):
    """A document that carries ``@context``; the DSP 2025-1 context must be among its entries."""

    context: tuple[str, ...] = Field(default=(DSP_CONTEXT,), alias="@context")

    @field_validator("context", mode="before")
    @classmethod
    def _one_context_is_a_list(cls, value: Any) -> Any:
        # A single context may be written as a bare string in JSON-LD (the spec's own HTTPS binding does so);
        # the schema only knows the array form, which is what we keep and emit.
        return (value,) if isinstance(value, str) else value

    @field_validator("context")
    @classmethod
    def _names_the_dsp_context(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if DSP_CONTEXT not in value:
            raise ValueError(f"must include {DSP_CONTEXT!r}")
        return value


D = TypeVar("D", bound=DspDocument)


def _context_as_list(document: Mapping[str, Any]) -> Mapping[str, Any]:
    context = document.get("@context")
    return {**document, "@context": [context]} if isinstance(context, str) else document


def _first_error(error: ValidationError) -> InvalidMessage:
    first = error.errors(include_url=False)[0]
    return InvalidMessage(first["msg"], field=json_path(first["loc"]) or None)


def parse(document: Mapping[str, Any], model: type[D]) -> D:
    """Read a received JSON document as ``model``: its schema first, then the model.

    Both failures become :class:`InvalidMessage` with ``field`` set to the JSON path of the first problem.
    """
    if not isinstance(document, Mapping):
        raise InvalidMessage(f"a {model.__name__} must be a JSON object, not {type(document).__name__}")
    document = _context_as_list(document)
    validate(document, model.SCHEMA)
    try:
        # by_name=False: on the wire only the compacted terms count; a "consumer_pid" key is just an extra.
        return model.model_validate(document, by_alias=True, by_name=False)
    except ValidationError as error:
        raise _first_error(error) from None


def emit(message: DspDocument) -> dict[str, Any]:
    """The compacted JSON of ``message``, checked against its schema: we never send what we would refuse.

    Absent optional properties (``None``) are left out; ``@context`` and ``@type`` are always written.
    Raises :class:`InvalidMessage` naming the offending field when the result breaks the schema.
    """
    document = message.model_dump(mode="json", by_alias=True)
    try:
        validate(document, message.SCHEMA)
    except InvalidMessage as error:
        detail = f"refusing to send an invalid {type(message).__name__}: {error.detail}"
        raise InvalidMessage(detail, field=error.field) from None
    return document
