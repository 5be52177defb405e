"""External check: every RFC 9162 proof vector of transparency-dev/merkle (../shared/vectors/rfc9162-merkle).

The verifier must accept exactly the cases marked ``wantErr: false`` and reject all others. Files are
``inclusion/**/<case>.json`` (leafIdx, treeSize, root, leafHash, proof, wantErr) and
``consistency/**/<case>.json`` (size1, size2, root1, root2, proof, wantErr); hashes are base64 and a
``null`` proof means an empty one. A missing folder fails the test rather than skipping it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from trustspace.ledger.errors import InvalidMerkleProof
from trustspace.ledger.merkle import verify_consistency, verify_inclusion


def _cases(vectors_dir: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    folder = vectors_dir / "rfc9162-merkle" / kind
    if not folder.is_dir():
        pytest.fail(f"vector folder {folder} is missing", pytrace=False)
    files = sorted(folder.rglob("*.json"))
    if not files:
        pytest.fail(f"vector folder {folder} has no cases", pytrace=False)
    return [(str(path.relative_to(folder)), json.loads(path.read_text())) for path in files]


def _hashes(values: list[str] | None) -> list[bytes]:
    return [base64.b64decode(value) for value in values or []]


def _accepts(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except InvalidMerkleProof:
        return False
    return True


def test_inclusion_vectors_accepted_exactly_when_want_err_is_false(vectors_dir: Path) -> None:
    cases = _cases(vectors_dir, "inclusion")
    wrong = []
    for name, case in cases:
        accepted = _accepts(
            verify_inclusion,
            case["leafIdx"],
            case["treeSize"],
            base64.b64decode(case["leafHash"]),
            _hashes(case["proof"]),
            base64.b64decode(case["root"]),
        )
        if accepted == case["wantErr"]:
            wrong.append(f"{name} ({case['desc']}): wantErr {case['wantErr']}, accepted {accepted}")
    assert not wrong, "\n".join(wrong)
    assert len(cases) >= 98
    assert {case["wantErr"] for _, case in cases} == {True, False}


def test_consistency_vectors_accepted_exactly_when_want_err_is_false(vectors_dir: Path) -> None:
    cases = _cases(vectors_dir, "consistency")
    wrong = []
    for name, case in cases:
        accepted = _accepts(
            verify_consistency,
            case["size1"],
            case["size2"],
            base64.b64decode(case["root1"]),
            base64.b64decode(case["root2"]),
            _hashes(case["proof"]),
        )
        if accepted == case["wantErr"]:
            wrong.append(f"{name} ({case['desc']}): wantErr {case['wantErr']}, accepted {accepted}")
    assert not wrong, "\n".join(wrong)
    assert len(cases) >= 98
    assert {case["wantErr"] for _, case in cases} == {True, False}


def test_every_vector_folder_is_present(vectors_dir: Path) -> None:
    root = vectors_dir / "rfc9162-merkle"
    expected = {f"inclusion/{n}" for n in ("0", "1", "2", "3", "4", "additional", "single-entry")}
    expected |= {f"consistency/{n}" for n in ("0", "1", "2", "3", "4", "additional")}
    missing = sorted(name for name in expected if not (root / name).is_dir())
    assert not missing, f"vector folders missing: {missing}"
