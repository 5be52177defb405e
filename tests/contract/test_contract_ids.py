"""The 47-character contractId (TC609-6-2025-14 table C.1) with the GB/T 17710 MOD 37-2 check character that
NDI-TR-2025-04 prescribes for identifiers: generated, parsed, and refused when invalid, naming why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trustspace.contract.ids import LENGTH, InvalidContractId, check_character, new_contract_id, parse_contract_id
from trustspace.core.ids import credit_code_check_char

FIRST17 = "91330100MA2GXXXX0"
SUBJECT = FIRST17 + credit_code_check_char(FIRST17)
WHEN = datetime(2026, 12, 3, 8, 30, 15, tzinfo=UTC)


def test_the_check_character_is_iso_7064_mod_37_2() -> None:
    assert check_character("G123498654321") == "H"  # the worked example of ISO/IEC 7064 for MOD 37-2


def test_a_new_identifier_has_47_characters_and_parses_back_to_its_parts() -> None:
    made = new_contract_id(SUBJECT, "3301", WHEN)
    text = str(made)
    assert len(text) == LENGTH == 47
    assert parse_contract_id(text) == made
    assert text[2:20] == SUBJECT and text[20:24] == "3301" and text[24:38] == "20261203083015"


def test_two_identifiers_of_the_same_second_differ() -> None:
    assert str(new_contract_id(SUBJECT, "3301", WHEN)) != str(new_contract_id(SUBJECT, "3301", WHEN))


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1],  # length
    lambda t: t + "0",
    lambda t: t[:30] + ("1" if t[30] != "1" else "2") + t[31:],  # one character changed: the check fails
    lambda t: t[:40] + t[41] + t[40] + t[42:],  # two neighbours swapped
    lambda t: t.lower(),
])
def test_a_mangled_identifier_is_refused(mangle: object) -> None:
    text = str(new_contract_id(SUBJECT, "3301", WHEN))
    broken = mangle(text)  # type: ignore[operator]
    if broken == text:
        pytest.skip("the swap changed nothing")
    with pytest.raises(InvalidContractId) as refused:
        parse_contract_id(broken)
    assert refused.value.field == "contractId"


def body_with(**parts: str) -> str:
    values = {"type": "C", "node": "5", "subject": SUBJECT, "area": "3301", "time": "20261203083015",
              "random": "A1B2C3D4", **parts}
    body = "".join(values[k] for k in ("type", "node", "subject", "area", "time", "random"))
    return body + check_character(body)


@pytest.mark.parametrize(("parts", "says"), [
    ({"node": "9"}, "node type"),
    ({"subject": "91330100MA2GXXXX0" + "A"}, "credit code"),
    ({"time": "20261303083015"}, "time code"),
])
def test_unknown_codes_are_refused_even_with_a_right_check(parts: dict[str, str], says: str) -> None:
    with pytest.raises(InvalidContractId, match=says):
        parse_contract_id(body_with(**parts))


def test_a_new_identifier_needs_a_valid_subject_and_area() -> None:
    with pytest.raises(Exception, match="credit"):
        new_contract_id("91330100MA2GXXXX0A", "3301", WHEN)
    with pytest.raises(InvalidContractId):
        new_contract_id(SUBJECT, "33", WHEN)
