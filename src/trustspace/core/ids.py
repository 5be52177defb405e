"""Identifiers: random ids for our own records and the unified social credit code (GB 32100-2015).

The credit code rules live only here so that a correction to the standard's reading is one edit
(see docs/decisions/0004-identifiers.md).
"""

from __future__ import annotations

import secrets
import uuid

from trustspace.core.errors import ValidationFailed

# GB 32100-2015 §4: the code alphabet is the digits and the capital letters without I, O, S, V, Z.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Weight of position i (1-based) is 3^(i-1) mod 31.
_CREDIT_CODE_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def new_id(prefix: str) -> str:
    """A short random id with a readable prefix, e.g. ``app_3f9c...``."""
    return f"{prefix}_{secrets.token_hex(12)}"


def urn_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code, computed from the first 17."""
    total = 0
    for position, char in enumerate(first17):
        value = CREDIT_CODE_ALPHABET.find(char)
        if value < 0:
            raise ValidationFailed(
                f"character {char!r} at position {position + 1} is not allowed in a unified social credit code",
                field="creditCode",
            )
        total += value * _CREDIT_CODE_WEIGHTS[position]
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(code: str) -> str:
    """Return the code if it is a well-formed 18-character unified social credit code, else raise."""
    if len(code) != 18:
        raise ValidationFailed(
            f"a unified social credit code has 18 characters, this one has {len(code)}", field="creditCode"
        )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValidationFailed(
            f"check character of unified social credit code is {code[17]!r}, expected {expected!r}; "
            "check the code for a typing error",
            field="creditCode",
        )
    return code
