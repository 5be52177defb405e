"""RFC 8785 (JCS) against the cyberphone/json-canonicalization test data.

Inputs are parsed with Python's ``json.loads``. For these vectors that is exact: every number in them is
either a small integer or a decimal literal (``333333333.33333329``, ``1E30``, ``4.50``, ``2e-3``,
``1e-27``), and ``json.loads`` turns decimal literals into the nearest IEEE-754 double, the same value an
ECMAScript parser produces, so the ES6 number serialisation in rfc8785 then yields the expected text.
The one place Python and JCS could disagree is integers: ``json.loads`` keeps integer literals as exact
``int``, which JSON-as-IEEE-double cannot represent beyond 2**53 - 1. rfc8785 refuses such integers instead of
silently rounding them (tested below), so a signature can never cover a number other parsers read differently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustspace.core.canonical import canonicalize, digest_hex
from trustspace.core.errors import ValidationFailed

JCS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "rfc8785-jcs"
EXPECTED_NAMES = {
    "arrays.json",
    "french.json",
    "structures.json",
    "unicode.json",
    "values.json",
    "weird.json",
}
# A missing folder must fail the run, not produce an empty (silently skipped) parametrisation.
NAMES = sorted(path.name for path in (JCS / "input").glob("*.json")) or ["<rfc8785-jcs/input is missing>"]


def test_vector_folder_is_complete() -> None:
    assert set(NAMES) >= EXPECTED_NAMES


@pytest.mark.parametrize("name", NAMES)
def test_canonical_form_matches_output(name: str) -> None:
    value = json.loads((JCS / "input" / name).read_text(encoding="utf-8"))
    assert canonicalize(value) == (JCS / "output" / name).read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_canonical_form_matches_outhex(name: str) -> None:
    value = json.loads((JCS / "input" / name).read_text(encoding="utf-8"))
    expected = bytes.fromhex((JCS / "outhex" / name.replace(".json", ".txt")).read_text(encoding="ascii"))
    assert canonicalize(value) == expected


@pytest.mark.parametrize("name", NAMES)
def test_canonical_form_is_a_fixed_point(name: str) -> None:
    once = canonicalize(json.loads((JCS / "input" / name).read_text(encoding="utf-8")))
    assert canonicalize(json.loads(once)) == once


@pytest.mark.parametrize("value", [2**53 - 1, -(2**53 - 1)])
def test_largest_exact_integers_are_accepted(value: int) -> None:
    assert canonicalize(value) == str(value).encode()


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30])
def test_integers_beyond_double_precision_are_refused(value: int) -> None:
    with pytest.raises(ValidationFailed):
        canonicalize(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: "non-string key"}, b"bytes"])
def test_values_outside_json_are_refused(value: object) -> None:
    with pytest.raises(ValidationFailed):
        canonicalize(value)


def test_digest_ignores_key_order_and_whitespace() -> None:
    assert digest_hex(json.loads('{"b": 1, "a": [1, 2.0]}')) == digest_hex({"a": [1, 2], "b": 1})
