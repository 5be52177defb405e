"""Ed25519 keys (via ``cryptography``) and their multibase/multicodec encodings.

A ``SigningKey`` never prints its secret: repr and str show only the public part, so a key that ends up in a
log line or an exception message leaks nothing.
"""

from __future__ import annotations

from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from trustspace.core.errors import ValidationFailed

# Multicodec prefixes (varint encoded): ed25519-pub 0xed, ed25519-priv 0x1300.
ED25519_PUB_PREFIX = b"\xed\x01"
ED25519_PRIV_PREFIX = b"\x80\x26"


def multibase_b58_encode(data: bytes) -> str:
    return "z" + base58.b58encode(data).decode("ascii")


def multibase_b58_decode(text: str) -> bytes:
    if not text.startswith("z"):
        raise ValidationFailed(f"multibase value must use base58btc ('z' prefix), got {text[:1]!r}")
    try:
        return bytes(base58.b58decode(text[1:]))
    except ValueError as exc:
        raise ValidationFailed(f"invalid base58btc value: {exc}") from exc


class VerifyingKey:
    """An Ed25519 public key."""

    __slots__ = ("_key", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ValidationFailed(f"an Ed25519 public key has 32 bytes, got {len(raw)}")
        self.raw = raw
        self._key = Ed25519PublicKey.from_public_bytes(raw)

    @property
    def crypto_key(self) -> Ed25519PublicKey:
        return self._key

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @property
    def multibase(self) -> str:
        """Multikey form: base58btc of the multicodec-prefixed key (as in did:key)."""
        return multibase_b58_encode(ED25519_PUB_PREFIX + self.raw)

    @classmethod
    def from_multibase(cls, text: str) -> VerifyingKey:
        data = multibase_b58_decode(text)
        if not data.startswith(ED25519_PUB_PREFIX):
            raise ValidationFailed("multikey is not an Ed25519 public key (multicodec 0xed)")
        return cls(data[len(ED25519_PUB_PREFIX) :])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyingKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"VerifyingKey({self.multibase})"


class SigningKey:
    """An Ed25519 private key. Its secret is reachable only through explicit export methods."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = VerifyingKey(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise ValidationFailed("an Ed25519 seed has 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_multibase(cls, text: str) -> SigningKey:
        data = multibase_b58_decode(text)
        if not data.startswith(ED25519_PRIV_PREFIX):
            raise ValidationFailed("multikey is not an Ed25519 private key (multicodec 0x1300)")
        return cls.from_seed(data[len(ED25519_PRIV_PREFIX) :])

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def export_seed(self) -> bytes:
        """The 32-byte secret seed. Only the keystore should call this."""
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def export_multibase(self) -> str:
        return multibase_b58_encode(ED25519_PRIV_PREFIX + self.export_seed())

    @property
    def crypto_key(self) -> Ed25519PrivateKey:
        """The ``cryptography`` key object, for libraries (PyJWT) that sign with it directly."""
        return self._key

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public.multibase}, secret=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("SigningKey cannot be pickled: keys leave the process only through the keystore")
