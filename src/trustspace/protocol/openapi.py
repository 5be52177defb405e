"""The shipped DSP schemas as OpenAPI components, so that the connector's document describes the protocol
messages it takes and answers (and a fuzzer can write them).

Each schema file becomes ``dsp-<file>`` and each of its definitions ``dsp-<file>-<definition>``; every
``$ref`` (to another file by its ``$id`` URL, or to a definition of its own) is rewritten to point at them.
Validation still uses the schemas themselves (``schemas.validate``); this is their published description.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from trustspace.protocol.schemas import BASE_URI, schema_names, shipped_schema

COMPONENTS = "#/components/schemas/"
_DROPPED = ("definitions", "$id", "$schema")


def component(schema: str, definition: str | None = None) -> str:
    """The component name of a shipped schema (its short name) or of one of its definitions."""
    stem = schema.rsplit("/", 1)[-1].removesuffix(".json")
    return f"dsp-{stem}" + (f"-{definition}" if definition else "")


def ref(schema: str) -> dict[str, str]:
    return {"$ref": COMPONENTS + component(schema)}


@cache
def components() -> dict[str, Any]:
    """Every shipped schema and definition, by component name, with its refs rewritten."""
    found: dict[str, Any] = {}
    for name in schema_names():
        document = shipped_schema(name)
        found[component(name)] = _rewritten({k: v for k, v in document.items() if k not in _DROPPED}, name)
        for definition, schema in document.get("definitions", {}).items():
            found[component(name, definition)] = _rewritten(schema, name)
    return found


def _rewritten(node: Any, schema: str) -> Any:
    if isinstance(node, dict):
        return {key: _target(value, schema) if key == "$ref" and isinstance(value, str) else _rewritten(value, schema)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_rewritten(item, schema) for item in node]
    return node


def _target(reference: str, schema: str) -> str:
    location, _, fragment = reference.partition("#")
    name = location.removeprefix(BASE_URI) if location else schema
    if fragment.startswith("/definitions/"):
        definition, _, rest = fragment.removeprefix("/definitions/").partition("/")
        return COMPONENTS + component(name, definition) + (f"/{rest}" if rest else "")
    return COMPONENTS + component(name) + fragment
