"""Unified social credit code (GB 32100-2015) validation."""

from __future__ import annotations

import pytest

from trustspace.core.errors import ValidationFailed
from trustspace.core.ids import CREDIT_CODE_ALPHABET, credit_code_check_char, validate_credit_code

# Codes as printed on published business licences (the first is the example commonly quoted for the standard).
PUBLISHED_CODES = [
    "91350100M000100Y43",
    "91330100716105852F",
    "9144030071526726XG",
    "914403001922038216",
    "91110000802100433B",
    "91110108551385082Q",
]
SAMPLE = PUBLISHED_CODES[0]


@pytest.mark.parametrize("code", PUBLISHED_CODES)
def test_published_codes_pass(code: str) -> None:
    assert validate_credit_code(code) == code


@pytest.mark.parametrize("code", ["", SAMPLE[:17], SAMPLE + "0", SAMPLE * 2])
def test_wrong_length_fails_naming_the_field(code: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_credit_code(code)
    assert raised.value.field == "creditCode"
    assert "18 characters" in raised.value.detail


@pytest.mark.parametrize("bad", ["I", "O", "S", "V", "Z", "a", "-", " ", "中"])
def test_characters_outside_the_alphabet_fail(bad: str) -> None:
    code = SAMPLE[:5] + bad + SAMPLE[6:]
    with pytest.raises(ValidationFailed) as raised:
        validate_credit_code(code)
    assert raised.value.field == "creditCode"
    assert "position 6" in raised.value.detail


def test_wrong_check_character_fails_and_names_the_expected_one() -> None:
    code = SAMPLE[:17] + "4"
    with pytest.raises(ValidationFailed) as raised:
        validate_credit_code(code)
    assert raised.value.field == "creditCode"
    assert "'3'" in raised.value.detail


@pytest.mark.parametrize("position", range(17))
def test_every_single_character_typo_is_detected(position: int) -> None:
    # Weights 3^i mod 31 are never 0 and 31 is prime, so any one substitution changes the checksum.
    for char in CREDIT_CODE_ALPHABET:
        if char == SAMPLE[position]:
            continue
        typo = SAMPLE[:position] + char + SAMPLE[position + 1 :]
        with pytest.raises(ValidationFailed):
            validate_credit_code(typo)


def test_check_character_is_in_the_alphabet() -> None:
    assert credit_code_check_char(SAMPLE[:17]) in CREDIT_CODE_ALPHABET
