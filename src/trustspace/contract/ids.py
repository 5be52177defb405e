"""The 47-character contract identifier (``contractId``) of TC609-6-2025-14, table C.1.

Its parts, in order: type code (1), business-node type code (1), the business node's subject code (18: its
unified social credit code), region/industry code (4), time code (14, ``YYYYMMDDHHMMSS``), random code (8)
and check character (1). The standard names the parts but not the check algorithm; NDI-TR-2025-04 (the data
infrastructure identifiers, which table C.1 points to for subject identifiers) computes every identifier's check
character with GB/T 17710 MOD 37-2 (ISO/IEC 7064): characters 0-9 and A-Z count 0-35, ``*`` 36; weighted by
2^(i-1) mod 37 from the right, the check character included, the sum is 1 mod 37. We use the same system for
the contract identifier, so one checker serves every identifier of the space.

The node type codes are NDI-TR-2025-04's (1 national, 2 regional and 3 industry function nodes, 4 business node,
5 connector). The type code's values are not listed anywhere we can read; an uppercase letter or digit is
accepted, and contracts this connector issues use ``C``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from trustspace.core.errors import ValidationFailed
from trustspace.core.ids import validate_credit_code

LENGTH = 47
CONTRACT_TYPE = "C"
NODE_TYPES = {"1": "national function node", "2": "regional function node", "3": "industry function node",
              "4": "business node", "5": "connector"}
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_PARTS = re.compile(r"(?P<type>[0-9A-Z])(?P<node>[0-9A-Z])(?P<subject>[0-9A-Z]{18})(?P<area>[0-9A-Z]{4})"
                    r"(?P<time>[0-9]{14})(?P<random>[0-9A-Z]{8})(?P<check>[0-9A-Z*])")


class InvalidContractId(ValidationFailed):
    slug = "invalid-contract-id"
    title = "Not a valid contract identifier"


def check_character(body: str) -> str:
    """GB/T 17710 MOD 37-2: the character that makes ``body`` + it sum to 1 (mod 37) with weights 2^(i-1)."""
    total = 0
    for position, char in enumerate(reversed(body), start=2):  # the check character is position 1
        total += _ALPHABET.index(char) * pow(2, position - 1, 37)
    return _ALPHABET[(1 - total) % 37]


@dataclass(frozen=True)
class ContractId:
    type_code: str
    node_type: str
    subject: str  # the business node's unified social credit code
    area: str  # region or industry code
    issued: datetime
    random: str

    def __str__(self) -> str:
        body = (f"{self.type_code}{self.node_type}{self.subject}{self.area}"
                f"{self.issued.astimezone(UTC).strftime('%Y%m%d%H%M%S')}{self.random}")
        return body + check_character(body)


def new_contract_id(subject: str, area: str, when: datetime, node_type: str = "5") -> ContractId:
    """A fresh identifier for a contract this node issues (``node_type`` 5: a connector)."""
    validate_credit_code(subject)
    if not re.fullmatch(r"[0-9A-Z]{4}", area):
        raise InvalidContractId("the region/industry code is 4 digits or capital letters", field="area")
    if node_type not in NODE_TYPES:
        raise InvalidContractId(f"unknown node type {node_type!r}", field="nodeType")
    random = "".join(secrets.choice(_ALPHABET[:36]) for _ in range(8))
    return ContractId(CONTRACT_TYPE, node_type, subject, area, when.astimezone(UTC).replace(microsecond=0), random)


def parse_contract_id(text: str) -> ContractId:
    """The parts of ``text``, or ``InvalidContractId`` naming what is wrong (length, a part, the check)."""
    if not isinstance(text, str) or len(text) != LENGTH:
        raise InvalidContractId(f"a contract identifier has {LENGTH} characters, not "
                                f"{len(text) if isinstance(text, str) else 'a ' + type(text).__name__}",
                                field="contractId")
    found = _PARTS.fullmatch(text)
    if found is None:
        raise InvalidContractId("a contract identifier is capital letters and digits, its time code 14 digits",
                                field="contractId")
    if found["check"] != check_character(text[:-1]):
        raise InvalidContractId("the check character does not match (GB/T 17710 MOD 37-2): a character was "
                                "changed or mistyped", field="contractId")
    if found["node"] not in NODE_TYPES:
        raise InvalidContractId(f"unknown node type code {found['node']!r}", field="contractId")
    try:
        validate_credit_code(found["subject"])
        issued = datetime.strptime(found["time"], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValidationFailed as exc:
        raise InvalidContractId(f"the subject code is not a unified social credit code: {exc.detail}",
                                field="contractId") from None
    except ValueError:
        raise InvalidContractId(f"the time code {found['time']} is not a date and time", field="contractId") from None
    return ContractId(found["type"], found["node"], found["subject"], found["area"], issued, found["random"])
