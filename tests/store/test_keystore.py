"""The keystore: created 0600, never overwritten, refused when others can read it, secrets never echoed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustspace.store.keystore import KeystoreError, create_keystore, load_keystore


def test_created_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    key = create_keystore(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keystore(path).public == key.public
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        create_keystore(path)


def test_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    create_keystore(path)
    path.chmod(0o644)
    with pytest.raises(KeystoreError) as refused:
        load_keystore(path)
    assert refused.value.hint is not None and "chmod 600" in refused.value.hint


def test_corrupt_keystore_error_does_not_echo_contents(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    key = create_keystore(path)
    secret = json.loads(path.read_text())["privateKeyMultibase"]
    path.write_text(json.dumps({"format": "trustspace-keystore/1", "privateKeyMultibase": secret + "!"}))
    with pytest.raises(KeystoreError) as refused:
        load_keystore(path)
    assert secret not in str(refused.value) and secret not in repr(key)
    with pytest.raises(KeystoreError) as missing:
        load_keystore(tmp_path / "missing.json")
    assert missing.value.hint is not None and "connector init" in missing.value.hint
