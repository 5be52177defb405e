"""The MUST statements of W3C VC Data Model 2.0 that a verifier can check on the JSON of a credential.

Each rule raises ``InvalidCredential`` whose ``field`` is the JSON path of the offending property, so an
API or the CLI can say exactly what to fix. Which reading of the specification each rule follows is in
docs/decisions/0013-vc-data-model-rules.md.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from trustspace.core.clock import from_xsd
from trustspace.identity.contexts import VC_V2_CONTEXT, ActiveContext
from trustspace.identity.errors import InvalidCredential

# XML Schema dateTimeStamp: the extended form with a mandatory offset. datetime.fromisoformat alone would
# also take ISO 8601 basic forms (20230101T000000Z) that other VC implementations reject.
_DATE_TIME_STAMP = re.compile(
    r"^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")

# Properties whose every value must be an object with a type, and whose id (if any) must be one URL.
TYPED_PROPERTIES = ("credentialStatus", "credentialSchema", "refreshService", "termsOfUse", "evidence", "proof")
_LANGUAGE_KEYS = frozenset({"@value", "@language", "@direction"})
_NOT_CLAIMS = frozenset({"id", "@id", "@context"})


def parse_date_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not _DATE_TIME_STAMP.match(value):
        return None
    try:
        return from_xsd(value)
    except ValueError:
        return None


def date_time(credential: dict[str, Any], name: str) -> datetime | None:
    if name not in credential:
        return None
    parsed = parse_date_time(credential[name])
    if parsed is None:
        raise InvalidCredential(
            f"{name} must be an XML Schema dateTime with a time zone offset, e.g. 2026-01-01T00:00:00Z",
            field=name,
        )
    return parsed


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _path(name: str, index: int, count: int) -> str:
    return f"{name}[{index}]" if count > 1 else name


def active_context(credential: dict[str, Any]) -> ActiveContext:
    """The credential's active context: the VC 2.0 context first, then URLs we ship or inline objects."""
    context = credential.get("@context")
    entries = _items(context)
    if not entries or entries[0] != VC_V2_CONTEXT:
        raise InvalidCredential(f"@context must be a list whose first entry is {VC_V2_CONTEXT}", field="@context")
    if not all(isinstance(entry, str | dict) for entry in entries):
        raise InvalidCredential("every @context entry must be a URL or a context object", field="@context")
    return ActiveContext().apply(entries)


def _check_types(node: dict[str, Any], active: ActiveContext, field: str, *, required: bool) -> ActiveContext:
    """Every value of ``node``'s type must expand to a URL. Returns the context for the node's properties,
    with the type-scoped contexts of its types applied (JSON-LD 1.1, lexicographic order)."""
    if "type" not in node:
        if required:
            raise InvalidCredential(f"{field} needs a type", field=f"{field}.type" if field else "type")
        return active
    where = f"{field}.type" if field else "type"
    if isinstance(node.get("@context"), list | dict):
        active = active.apply(node["@context"], field=f"{field}.@context" if field else "@context")
    names = _items(node["type"])
    if not names or not all(isinstance(name, str) and name for name in names):
        raise InvalidCredential("type must be a string or a non-empty list of strings", field=where)
    scoped = active
    for name in sorted(names):
        local = active.scoped(name)
        if local is not None:
            scoped = scoped.apply(local, field=where)
    for name in names:
        if scoped.expand(name, where) is None:
            raise InvalidCredential(
                f"type {name!r} does not map to a URL: no @context in the credential defines it (and the "
                "VC 2.0 context has no @vocab); define it in a context, or use an absolute URL",
                field=where,
            )
    return scoped


def _check_id(node: dict[str, Any], field: str, *, required: bool = False) -> None:
    where = f"{field}.id" if field else "id"
    if "id" not in node:
        if required:
            raise InvalidCredential(f"{field} needs an id, the URL of the schema", field=where)
        return
    value = node["id"]
    if not (isinstance(value, str) and URL.match(value)):
        raise InvalidCredential(f"{where} must be a single URL, e.g. urn:uuid:... or https://...", field=where)


def _check_credential_type(credential: dict[str, Any], active: ActiveContext) -> ActiveContext:
    names = _items(credential.get("type"))
    if not all(isinstance(name, str) for name in names) or "VerifiableCredential" not in names:
        raise InvalidCredential("type must be a list of strings that includes VerifiableCredential", field="type")
    return _check_types(credential, active, "", required=True)


def _check_subjects(credential: dict[str, Any], active: ActiveContext) -> None:
    subjects = _items(credential.get("credentialSubject"))
    if not subjects or not all(isinstance(item, dict) for item in subjects):
        raise InvalidCredential(
            "credentialSubject must be an object, or a non-empty list of objects, describing the holder",
            field="credentialSubject",
        )
    for index, subject in enumerate(subjects):
        field = _path("credentialSubject", index, len(subjects))
        if not set(subject) - _NOT_CLAIMS:
            raise InvalidCredential(
                f"{field} makes no claim: each subject must carry at least one claim besides its id",
                field=field,
            )
        _check_id(subject, field)
        _check_types(subject, active, field, required=False)


def _check_typed_properties(credential: dict[str, Any], active: ActiveContext) -> None:
    for name in TYPED_PROPERTIES:
        if name not in credential:
            continue
        entries = _items(credential[name])
        if not entries or not all(isinstance(entry, dict) for entry in entries):
            raise InvalidCredential(f"{name} must be an object with a type, or a list of them", field=name)
        for index, entry in enumerate(entries):
            field = _path(name, index, len(entries))
            _check_types(entry, active, field, required=True)
            _check_id(entry, field, required=name == "credentialSchema")


def _check_language_value(value: Any, field: str) -> None:
    if isinstance(value, dict) and (_LANGUAGE_KEYS & set(value) - {"@value"} or set(value) == {"@value"}):
        if set(value) - _LANGUAGE_KEYS or not isinstance(value.get("@value"), str):
            raise InvalidCredential(
                "a language value object holds only a string @value, @language and @direction",
                field=field,
            )
        if "@direction" in value and value["@direction"] not in ("ltr", "rtl"):
            raise InvalidCredential("@direction must be 'ltr' or 'rtl'", field=f"{field}.@direction")
        if "@language" in value and not isinstance(value["@language"], str):
            raise InvalidCredential("@language must be a BCP 47 language tag", field=f"{field}.@language")


def _walk_language_values(value: Any, field: str) -> None:
    """Language value objects may appear as the value of any property (name, description, claims)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _walk_language_values(item, f"{field}[{index}]")
    elif isinstance(value, dict):
        _check_language_value(value, field)
        for key, item in value.items():
            if key != "@context":
                _walk_language_values(item, f"{field}.{key}" if field else key)


def _check_names(node: dict[str, Any], field: str) -> None:
    for name in ("name", "description"):
        where = f"{field}.{name}" if field else name
        for value in _items(node.get(name, "")):
            if not (isinstance(value, str) or (isinstance(value, dict) and "@value" in value)):
                raise InvalidCredential(f"{where} must be a string or a language value object", field=where)


def check_data_model(credential: dict[str, Any]) -> None:
    """Raise ``InvalidCredential`` naming the first property that breaks the VC 2.0 data model."""
    if not isinstance(credential, dict):
        raise InvalidCredential("a credential must be a JSON object")
    active = active_context(credential)
    node_context = _check_credential_type(credential, active)
    _check_id(credential, "")
    issuer_url(credential)
    _check_subjects(credential, active)
    valid_from = date_time(credential, "validFrom")
    valid_until = date_time(credential, "validUntil")
    if valid_from is not None and valid_until is not None and valid_from > valid_until:
        raise InvalidCredential("validUntil is earlier than validFrom", field="validUntil")
    _check_typed_properties(credential, node_context)
    _check_names(credential, "")
    if isinstance(credential.get("issuer"), dict):
        _check_names(credential["issuer"], "issuer")
    _walk_language_values({k: v for k, v in credential.items() if k != "@context"}, "")


def issuer_url(credential: dict[str, Any]) -> str:
    """The issuer's URL (usually a DID), whether ``issuer`` is a string or an object with ``id``."""
    issuer = credential.get("issuer")
    value = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(value, str) or not URL.match(value):
        raise InvalidCredential(
            "issuer must be a URL (such as a DID) or an object whose id is one",
            field="issuer.id" if isinstance(issuer, dict) else "issuer",
        )
    return value
