"""Response models for the OpenAPI document only: routes declare them with ``responses={200: {"model": ...}}``
and go on returning their plain dicts, so nothing they answer is filtered or re-validated on the way out.
Each allows extra members: answers may grow fields (``warnings``, say) without breaking a client's check."""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(Out):
    status: str
    service: str


def record_model(record: type[Any], name: str, doc: str) -> type[BaseModel]:
    """The answer a connector's management API gives for a stored ``record``: every field, camelCased, times as
    ISO 8601 text (the ``view`` of ``connector/dsp/management.py``)."""
    hints = get_type_hints(record)
    members: dict[str, Any] = {_camel(f.name): (hints[f.name], ...) for f in dataclasses.fields(record)}
    model: type[BaseModel] = create_model(name, __base__=Out, __doc__=doc, **members)
    return model


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)



def answers(model: type[BaseModel], status: int = 200, description: str | None = None, *,
            many: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` documenting a route's answer (``many``: a JSON array of them) without making it the
    route's response model, which would filter and re-validate what it returns."""
    answer: dict[str, Any] = {"model": list[model] if many else model}  # type: ignore[valid-type]
    if description is not None:
        answer["description"] = description
    return {status: answer}
