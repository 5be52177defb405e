"""Evidence statements: the entries of the ledger, signed by the participant that submits them.

A statement says what happened (``type``), to what (``subjects``: participant, agreement, process, product
ids), when (``time``, XML Schema dateTime in UTC), who says so (``submitter``, a DID) and, for anything
large, only a SHA-256 digest of it (``payloadDigest``): the ledger keeps facts, never the data. Small
structured facts (a new state, a decision) may go in ``details``.

Signed form: the statement's JSON object plus a ``signature`` member::

    {"type": ..., "subjects": {...}, "time": ..., "submitter": ..., ...,
     "signature": {"alg": "Ed25519", "verificationMethod": "<submitter DID>#<key>", "value": "<base64url>"}}

Signing input, exactly: the UTF-8 bytes ``trustspace.ledger.statement/v1`` and a newline (0x0A), followed by
the RFC 8785 canonical JSON of the signed form with ``signature.value`` removed. The prefix separates these
signatures from every other Ed25519 signature the same key makes (credentials, tokens); covering ``alg`` and
``verificationMethod`` stops a signature being re-attributed to another key. ``value`` is the 64-byte
Ed25519 signature in base64url without padding (RFC 4648 §5).

The ledger leaf is ``leaf_data(signed)``: the canonical JSON of the whole signed form, at most
``MAX_ENTRY_BYTES``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from trustspace.core.canonical import canonicalize
from trustspace.core.clock import from_xsd, to_xsd
from trustspace.core.errors import ValidationFailed
from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.ledger.errors import InvalidStatement, InvalidStatementSignature, StatementTooLarge

__all__ = [
    "MAX_ENTRY_BYTES",
    "SIGNATURE_ALG",
    "SIGNING_PREFIX",
    "EventType",
    "Statement",
    "Subjects",
    "digest_payload",
    "leaf_data",
    "new_statement",
    "sign_statement",
    "signing_input",
    "verify_statement",
]

MAX_ENTRY_BYTES = 16 * 1024
SIGNATURE_ALG = "Ed25519"
SIGNING_PREFIX = b"trustspace.ledger.statement/v1\n"


class EventType(StrEnum):
    """The events the issue names. ``Statement.type`` is open: any name of the same shape is accepted."""

    MEMBERSHIP_DECISION = "membership-decision"
    PRODUCT_LISTING = "product-listing"
    NEGOTIATION_STATE_CHANGE = "negotiation-state-change"
    TRANSFER_STATE_CHANGE = "transfer-state-change"
    AGREEMENT = "agreement"
    CONTRACT_FILING = "contract-filing"
    CONTRACT_TERMINATION = "contract-termination"
    ACCESS_DECISION = "access-decision"
    USAGE_DECISION = "usage-decision"
    OBLIGATION_FULFILMENT = "obligation-fulfilment"
    DESTRUCTION_CERTIFICATE = "destruction-certificate"
    METERING_RECORD = "metering-record"
    SETTLEMENT = "settlement"


# Lower-case words joined by '-' or '.', so extensions can namespace themselves ("acme.audit-note").
_EVENT_TYPE = r"^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$"
# W3C DID syntax: did:<method>:<method-specific-id>, idchar = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded.
_IDCHAR = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
_DID = re.compile(rf"^did:[a-z0-9]+:(?:{_IDCHAR}*:)*{_IDCHAR}+$")
# UTC only, so two statements about the same instant never differ in their bytes by an offset.
_UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z$"
_B64URL_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{86}$")  # 64 bytes, unpadded
_MAX_SAFE_INTEGER = 2**53 - 1  # beyond this JSON numbers lose precision in other implementations

EventTypeName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_EVENT_TYPE)]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
DetailKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
DetailValue = bool | int | Annotated[str, StringConstraints(max_length=1024)]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class Subjects(_Frozen):
    """What a statement is about; at least one id, since evidence about nothing cannot be found again."""

    participant: Identifier | None = None
    agreement: Identifier | None = None
    process: Identifier | None = None
    product: Identifier | None = None

    @model_validator(mode="after")
    def _names_something(self) -> Self:
        if not any((self.participant, self.agreement, self.process, self.product)):
            raise ValueError("subjects must name at least one of participant, agreement, process, product")
        return self


class Statement(_Frozen):
    """One evidence statement, unsigned. ``to_json`` is its wire form (absent fields are left out)."""

    type: EventTypeName
    subjects: Subjects
    time: Annotated[str, StringConstraints(pattern=_UTC_TIME)]
    submitter: Annotated[str, StringConstraints(max_length=2048)]
    payload_digest: Sha256Hex | None = Field(default=None, alias="payloadDigest")
    details: Annotated[dict[DetailKey, DetailValue], Field(max_length=32)] | None = None

    @field_validator("submitter")
    @classmethod
    def _is_did(cls, value: str) -> str:
        if not _DID.match(value):
            raise ValueError(f"submitter must be a DID, got {value[:80]!r}")
        return value

    @field_validator("time")
    @classmethod
    def _is_a_real_time(cls, value: str) -> str:
        try:
            from_xsd(value)
        except ValueError as exc:
            raise ValueError(f"time is not a valid date and time: {exc}") from None
        return value

    @field_validator("details")
    @classmethod
    def _integers_are_exact(cls, value: dict[str, bool | int | str] | None) -> dict[str, bool | int | str] | None:
        for key, item in (value or {}).items():
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > _MAX_SAFE_INTEGER:
                raise ValueError(f"details.{key} is beyond the integers JSON carries exactly (2^53 - 1)")
        return value

    @property
    def at(self) -> datetime:
        return from_xsd(self.time)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", exclude_none=True)
        return data


def digest_payload(data: bytes) -> str:
    """The ``payloadDigest`` of a payload: SHA-256, lower-case hex."""
    return hashlib.sha256(data).hexdigest()


def new_statement(
    event_type: str,
    submitter: str,
    when: datetime,
    *,
    participant: str | None = None,
    agreement: str | None = None,
    process: str | None = None,
    product: str | None = None,
    payload_digest: str | None = None,
    details: Mapping[str, bool | int | str] | None = None,
) -> Statement:
    """Build a statement, with ``when`` taken from the caller's (injected) clock."""
    fields: dict[str, Any] = {
        "type": event_type,
        "subjects": {"participant": participant, "agreement": agreement, "process": process, "product": product},
        "time": to_xsd(when),
        "submitter": submitter,
        "payloadDigest": payload_digest,
        "details": dict(details) if details is not None else None,
    }
    return _parse_statement({key: value for key, value in fields.items() if value is not None})


def _parse_statement(body: Mapping[str, Any]) -> Statement:
    try:
        return Statement.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"]) or None
        raise InvalidStatement(f"statement is malformed: {first['msg']}", field=path) from None


def _check_method(statement: Statement, verification_method: str) -> None:
    did, hash_sign, fragment = verification_method.partition("#")
    if did != statement.submitter or not hash_sign or not fragment:
        raise InvalidStatementSignature(
            "the verification method must be a key of the submitter (<submitter DID>#<key id>)",
            field="signature.verificationMethod",
        )


def _canonical(value: Any) -> bytes:
    try:
        return canonicalize(value)
    except ValidationFailed as exc:
        raise InvalidStatement(exc.detail) from None


def signing_input(signed: Mapping[str, Any]) -> bytes:
    """The exact bytes the signature covers (see the module docstring)."""
    block = signed.get("signature")
    if not isinstance(block, Mapping):
        raise InvalidStatementSignature("signature must be an object", field="signature")
    signature = {key: value for key, value in block.items() if key != "value"}
    return SIGNING_PREFIX + _canonical({**signed, "signature": signature})


def sign_statement(statement: Statement, key: SigningKey, verification_method: str) -> dict[str, Any]:
    """The signed form of ``statement``, signed by ``key`` named as ``verification_method``."""
    _check_method(statement, verification_method)
    unsigned: dict[str, Any] = {
        **statement.to_json(),
        "signature": {"alg": SIGNATURE_ALG, "verificationMethod": verification_method},
    }
    value = base64.urlsafe_b64encode(key.sign(signing_input(unsigned))).rstrip(b"=").decode("ascii")
    signed = {**unsigned, "signature": {**unsigned["signature"], "value": value}}
    leaf_data(signed)  # refuse now, at the submitter, what the ledger would refuse later
    return signed


def _signature_block(signed: Mapping[str, Any]) -> tuple[str, bytes]:
    block = signed.get("signature")
    if not isinstance(block, dict) or set(block) != {"alg", "verificationMethod", "value"}:
        raise InvalidStatementSignature(
            "signature must be an object with exactly alg, verificationMethod and value", field="signature"
        )
    if block["alg"] != SIGNATURE_ALG:
        raise InvalidStatementSignature(f"signature alg must be {SIGNATURE_ALG!r}", field="signature.alg")
    method, value = block["verificationMethod"], block["value"]
    if not isinstance(method, str):
        raise InvalidStatementSignature("verificationMethod must be a string", field="signature.verificationMethod")
    if not isinstance(value, str) or not _B64URL_SIGNATURE.match(value):
        raise InvalidStatementSignature(
            "signature value must be 64 bytes in unpadded base64url", field="signature.value"
        )
    raw = base64.urlsafe_b64decode(value + "==")
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != value:
        # Non-zero padding bits would give one signature several spellings, hence several leaf hashes.
        raise InvalidStatementSignature("signature value is not canonical base64url", field="signature.value")
    return method, raw


def verify_statement(signed: Mapping[str, Any], key_for: Callable[[str], VerifyingKey]) -> Statement:
    """Check shape, size and signature of a signed statement and return the statement.

    ``key_for`` maps a verification method id to its public key (a DID resolver's ``key_for``); its own
    errors pass through unchanged.
    """
    if not isinstance(signed, Mapping):
        raise InvalidStatement("a signed statement is a JSON object")
    leaf_data(signed)
    method, signature = _signature_block(signed)
    body = {key: value for key, value in signed.items() if key != "signature"}
    statement = _parse_statement(body)
    if statement.to_json() != body:
        raise InvalidStatement("statement carries explicit nulls; leave absent fields out")
    _check_method(statement, method)
    if not key_for(method).verify(signature, signing_input(signed)):
        raise InvalidStatementSignature("statement signature does not verify", field="signature.value")
    return statement


def leaf_data(signed: Mapping[str, Any]) -> bytes:
    """The bytes hashed into the ledger for a signed statement: its canonical JSON, size-checked."""
    data = _canonical(dict(signed))
    if len(data) > MAX_ENTRY_BYTES:
        raise StatementTooLarge(
            f"a ledger entry is at most {MAX_ENTRY_BYTES} bytes, this one has {len(data)}",
            hint="put a digest of large content in payloadDigest instead of the content itself",
        )
    return data
