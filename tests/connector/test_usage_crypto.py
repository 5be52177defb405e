"""Encryption at rest: chunks authenticate one by one, and none can be changed, swapped, dropped or moved."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from trustspace.connector.usage.crypto import KeyWrapper, ProtectedDataCorrupt, open_sealed, seal_file
from trustspace.core.keys import SigningKey

CHUNK = 64
HEADER = 9
RECORD = 12 + CHUNK + 16


def sealed(tmp_path: Path, content: bytes, item: str = "item_a", key: bytes | None = None) -> tuple[Path, bytes]:
    data_key = key or KeyWrapper.new_data_key()
    source = tmp_path / f"{item}.plain"
    source.write_bytes(content)
    target = tmp_path / f"{item}.sealed"
    seal_file(source, target, data_key, item, CHUNK)
    return target, data_key


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7])
def test_round_trip_in_chunks(tmp_path: Path, size: int) -> None:
    content = bytes(i % 251 for i in range(size))
    path, key = sealed(tmp_path, content)
    assert b"".join(open_sealed(path, key, "item_a")) == content


def test_sealed_file_holds_no_plaintext(tmp_path: Path) -> None:
    content = b"taxpayer,income\n" * 50
    path, _ = sealed(tmp_path, content)
    assert b"taxpayer" not in path.read_bytes()


def test_tampered_ciphertext_refused(tmp_path: Path) -> None:
    path, key = sealed(tmp_path, b"x" * (3 * CHUNK))
    data = bytearray(path.read_bytes())
    data[HEADER + RECORD + 20] ^= 1  # a byte of the second chunk
    path.write_bytes(bytes(data))
    with pytest.raises(ProtectedDataCorrupt, match="chunk 1"):
        b"".join(open_sealed(path, key, "item_a"))


def test_chunk_swap_refused(tmp_path: Path) -> None:
    path, key = sealed(tmp_path, b"a" * CHUNK + b"b" * CHUNK + b"c" * 10)
    data = path.read_bytes()
    first, second = data[HEADER:HEADER + RECORD], data[HEADER + RECORD:HEADER + 2 * RECORD]
    path.write_bytes(data[:HEADER] + second + first + data[HEADER + 2 * RECORD:])
    with pytest.raises(ProtectedDataCorrupt, match="chunk 0"):
        next(open_sealed(path, key, "item_a"))


def test_dropped_tail_refused(tmp_path: Path) -> None:
    path, key = sealed(tmp_path, b"z" * (3 * CHUNK))
    path.write_bytes(path.read_bytes()[:HEADER + 2 * RECORD])
    with pytest.raises(ProtectedDataCorrupt):
        b"".join(open_sealed(path, key, "item_a"))


def test_chunk_from_another_item_refused(tmp_path: Path) -> None:
    key = KeyWrapper.new_data_key()
    one, _ = sealed(tmp_path, b"1" * CHUNK, "item_one", key)
    two, _ = sealed(tmp_path, b"2" * CHUNK, "item_two", key)
    one.write_bytes(two.read_bytes())  # same agreement key, same position, other item
    with pytest.raises(ProtectedDataCorrupt):
        next(open_sealed(one, key, "item_one"))


def test_changed_chunk_size_header_refused(tmp_path: Path) -> None:
    path, key = sealed(tmp_path, b"q" * (2 * CHUNK))
    data = path.read_bytes()
    path.write_bytes(data[:5] + struct.pack(">I", CHUNK // 2) + data[HEADER:])
    with pytest.raises(ProtectedDataCorrupt):
        b"".join(open_sealed(path, key, "item_a"))


def test_wrapped_key_is_bound_to_its_agreement_and_connector() -> None:
    connector = KeyWrapper(SigningKey.generate())
    data_key = KeyWrapper.new_data_key()
    wrapped = connector.wrap("agr-1", data_key)
    assert connector.unwrap("agr-1", wrapped) == data_key
    assert data_key not in wrapped
    with pytest.raises(ProtectedDataCorrupt, match="agr-2"):
        connector.unwrap("agr-2", wrapped)
    with pytest.raises(ProtectedDataCorrupt):
        KeyWrapper(SigningKey.generate()).unwrap("agr-1", wrapped)


def test_key_wrapper_never_shows_its_keys() -> None:
    wrapper = KeyWrapper(SigningKey.generate())
    assert repr(wrapper) == "KeyWrapper(<keys hidden>)"
    assert wrapper.watermark_key.hex() not in repr(wrapper)
