"""The Dataspace Protocol 2025-1 JSON Schemas, validated offline.

The schemas ship in the ``schemas/`` data folder beside this module (see its README for origin and licence).
They ``$ref`` each other by absolute ``$id`` under ``https://w3id.org/dspace/2025/1/``; the registry built here
answers every such URI from the shipped copies and refuses any other, so validation never touches the network
(a schema fetched at run time would let whoever serves it decide what we accept).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

# jsonschema ships no type information (no py.typed, no stubs in the lock); its objects are Any to mypy.
from jsonschema import Draft201909Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT201909

from trustspace.protocol.errors import InvalidMessage

BASE_URI = "https://w3id.org/dspace/2025/1/"
DSP_CONTEXT = f"{BASE_URI}context.jsonld"
ODRL_PROFILE_CONTEXT = f"{BASE_URI}odrl-profile.jsonld"

_SCHEMA_FOLDERS = ("catalog", "common", "negotiation", "transfer")
_CONTEXT_FILES = {DSP_CONTEXT: "context/dspace.jsonld", ODRL_PROFILE_CONTEXT: "context/odrl.jsonld"}
# jsonschema messages quote whole instances; a detail longer than this is cut so errors stay readable.
_MAX_DETAIL = 240


def _folder() -> Traversable:
    return resources.files("trustspace.protocol").joinpath("schemas")


def _read_json(path: Traversable) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _fix_ref(ref: str) -> str:
    """Repair ``#definitions/X`` into the JSON Pointer ``#/definitions/X``.

    Published defect in DSP 2025-1: ``transfer-termination-message``, ``transfer-suspension-message`` and
    ``transfer-error`` write their ``$ref`` fragments without the leading slash. Java validators tolerate it;
    ``referencing`` reads such a fragment as an anchor name and fails. An anchor can never contain ``/``, so
    a slash-bearing fragment without the leading slash can only be this mistake.
    """
    base, hash_sign, fragment = ref.partition("#")
    if hash_sign and "/" in fragment and not fragment.startswith("/"):
        return f"{base}#/{fragment}"
    return ref


def _fix_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _fix_ref(value) if key == "$ref" else _fix_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_fix_refs(item) for item in node]
    return node


def _schema_files() -> Iterator[tuple[str, Traversable]]:
    for folder in _SCHEMA_FOLDERS:
        for path in _folder().joinpath(folder).iterdir():
            if path.name.endswith("-schema.json"):
                yield f"{folder}/{path.name}", path


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    """Every shipped schema, by short name (``negotiation/contract-schema.json``), with its refs repaired."""
    return {name: _fix_refs(_read_json(path)) for name, path in sorted(_schema_files())}


def schema_names() -> tuple[str, ...]:
    """The short names :func:`validate` accepts."""
    return tuple(_schemas())


def shipped_schema(name: str) -> dict[str, Any]:
    """The shipped schema ``name`` (a short name), refs repaired; the caller must not change it."""
    return _schemas()[name]


# referencing declares its classes with a wrapped attrs decorator mypy cannot see through, so the keyword
# arguments below (documented public API) need the two call-arg ignores.


def _refuse(uri: str) -> Resource[Any]:
    # Anything not shipped is an error, never a download.
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@cache
def registry() -> Registry[Any]:
    """A registry holding every shipped schema under its ``$id`` and under the URL of its file."""
    entries: list[tuple[str, Resource[Any]]] = []
    for name, contents in _schemas().items():
        resource = Resource.from_contents(contents, default_specification=DRAFT201909)
        uris = {f"{BASE_URI}{name}", contents.get("$id", f"{BASE_URI}{name}")}
        entries.extend((uri, resource) for uri in sorted(uris))
    return Registry(retrieve=_refuse).with_resources(entries).crawl()  # type: ignore[call-arg]


@cache
def _validator(schema: str) -> Any:
    contents = _schemas().get(schema)
    if contents is None:
        raise KeyError(f"no DSP schema named {schema!r}; known: {', '.join(schema_names())}")
    # The dialect the schema's own $schema names; all of 2025-1 say draft 2019-09.
    cls = validator_for(contents, default=Draft201909Validator)
    return cls(contents, registry=registry())


def json_path(parts: Iterable[str | int]) -> str:
    """``("offer", "permission", 0, "action")`` -> ``offer.permission[0].action``."""
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _missing(error: ValidationError) -> str | None:
    """The first required property the instance lacks, for a ``required`` error."""
    if error.validator != "required" or not isinstance(error.instance, dict):
        return None
    return next((name for name in error.validator_value if name not in error.instance), None)


def _alternatives(error: ValidationError) -> tuple[list[str], bool]:
    """For ``oneOf``/``anyOf`` over ``{required: [...]}`` branches: the property names, and whether the
    failure is a clash (``oneOf`` matched more than one branch) rather than none of them being present."""
    branches = error.validator_value if error.validator in ("oneOf", "anyOf") else []
    if not branches or not all(isinstance(branch, dict) and set(branch) == {"required"} for branch in branches):
        return [], False
    names = [name for branch in branches for name in branch["required"]]
    if error.context:
        return names, False
    present = [name for name in names if isinstance(error.instance, dict) and name in error.instance]
    return present, True


def _field(error: ValidationError) -> str | None:
    parts: list[str | int] = list(error.absolute_path)
    extra = _missing(error) or next(iter(_alternatives(error)[0]), None)
    if extra is not None:
        parts.append(extra)
    return json_path(parts) or None


def _reason(error: ValidationError) -> str:
    missing = _missing(error)
    names, clash = _alternatives(error)
    quoted = ", ".join(map(repr, names))
    if missing is not None:
        return f"required property {missing!r} is missing"
    if names:
        return f"only one of {quoted} may be present" if clash else f"one of {quoted} is required"
    if error.validator == "const":
        return f"must be {error.validator_value!r}"
    if error.validator == "contains" and list(error.absolute_path)[-1:] == ["@context"]:
        return f"must include {DSP_CONTEXT!r}"
    return str(error.message)


def _detail(error: ValidationError, schema: str) -> str:
    reason = _reason(error)
    if len(reason) > _MAX_DETAIL:
        reason = reason[: _MAX_DETAIL - 3] + "..."
    return f"{reason} (schema {schema})"


def validate(document: Mapping[str, Any], schema: str) -> None:
    """Check ``document`` against the DSP schema ``schema`` (a short name such as
    ``"negotiation/contract-request-message-schema.json"``).

    Raises :class:`InvalidMessage` naming the JSON path of the most relevant error (jsonschema's
    ``best_match``: the shallowest, most specific one) in ``field``; ``KeyError`` for an unknown schema name.
    """
    error = best_match(_validator(schema).iter_errors(document))
    if error is not None:
        raise InvalidMessage(_detail(error, schema), field=_field(error))


def load_context(url: str) -> dict[str, Any]:
    """The shipped JSON-LD context for ``url`` (DSP or its ODRL profile), freshly parsed; never fetched."""
    name = _CONTEXT_FILES.get(url)
    if name is None:
        raise KeyError(f"no shipped JSON-LD context for {url!r}; known: {', '.join(_CONTEXT_FILES)}")
    return _read_json(_folder().joinpath(name))
