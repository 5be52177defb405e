"""C2SP signed notes (c2sp.org/signed-note) and transparency-log checkpoints (c2sp.org/tlog-checkpoint).

A signed note is a text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(key id || signature)>`` (U+2014 EM DASH, a space, the name, a space, standard padded
base64, a newline). The text is separated from the signatures by the *last* blank line. Notes are UTF-8 and
contain no control characters except newline. Key names are non-empty and contain no Unicode space and no
``+``.

Key id (signed-note, "Signatures"): the first four bytes, read as a big-endian uint32, of
``SHA-256(key name || 0x0A || signature type || public key)``. For Ed25519 note signatures the type byte is
``0x01`` and the public key its 32 RFC 8032 bytes, so ``key id = SHA-256(name || "\\n" || 0x01 || pk)[:4]``
and the signature is Ed25519 over the note text (final newline included, blank line excluded). Witness
cosignatures use type ``0x04`` (see ``witness.py``).

Verifier keys ("vkeys", as golang.org/x/mod/sumdb/note writes them): ``<name>+<key id as 8 hex digits>+
<base64(type byte || public key)>``. The key material may itself contain ``+``, so only the first two split.

Verification follows the spec: signatures from unknown keys (a different name *or* key id) are ignored;
a signature from the expected key that fails to verify rejects the whole note; no valid signature from the
expected key rejects it too.

A checkpoint's note text is ``<origin>\\n<tree size in decimal, no leading zeros>\\n<base64 root hash>\\n``
followed by optional non-empty extension lines. The log's key name SHOULD equal the origin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import ClassVar, Self

from trustspace.core.keys import SigningKey, VerifyingKey
from trustspace.ledger.errors import BadNoteSignature, MalformedNote, MissingNoteSignature
from trustspace.ledger.merkle import EMPTY_ROOT, HASH_SIZE

__all__ = [
    "ED25519_TYPE",
    "EM_DASH",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "check_key_name",
    "format_vkey",
    "key_id",
    "open_checkpoint",
    "parse_vkey",
    "sign_checkpoint",
    "verify_note",
]

EM_DASH = "\u2014"
ED25519_TYPE = 0x01
# The spec asks verifiers to accept at least 16 signatures and to cap them; 100 leaves room for many witnesses.
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 256 * 1024
_MAX_TREE_SIZE = 2**64 - 1  # tree sizes are uint64 everywhere in the tlog ecosystem
_TREE_SIZE = re.compile(r"^(?:0|[1-9][0-9]{0,19})$")  # 2**64 - 1 has 20 digits
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX_KEY_ID = re.compile(r"^[0-9a-fA-F]{8}$")


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """The 4-byte key id: ``SHA-256(name || 0x0A || type || public key)[:4]``."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


def check_key_name(name: str) -> str:
    if not name or "+" in name or any(char.isspace() for char in name) or _CONTROL.search(name):
        raise MalformedNote(f"key name {name[:80]!r} must be non-empty, without spaces, '+' or control characters")
    return name


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNote(f"{what} is not standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        # Non-canonical spellings would give one note several texts, and one checkpoint several bodies.
        raise MalformedNote(f"{what} is not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: who (name, key id) and the algorithm-specific signature bytes after the key id."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{EM_DASH} {self.name} {_b64encode(self.key_id + self.signature)}\n"

    @classmethod
    def parse(cls, line: str) -> NoteSignature:
        prefix = EM_DASH + " "
        if not line.startswith(prefix):
            raise MalformedNote("a signature line starts with an em dash (U+2014) and a space")
        name, space, encoded = line[len(prefix) :].partition(" ")
        if not space:
            raise MalformedNote("a signature line is '— <key name> <base64 signature>'")
        raw = _b64decode(encoded, f"signature of {check_key_name(name)!r}")
        if len(raw) < 5:
            raise MalformedNote(f"signature of {name!r} is shorter than a key id and one byte")
        return cls(name, raw[:4], raw[4:])


@dataclass(frozen=True, slots=True)
class Note:
    """A signed note: its text (with the final newline) and its signatures, in the order they appear."""

    text: str
    signatures: tuple[NoteSignature, ...] = ()

    @classmethod
    def parse(cls, data: str | bytes) -> Note:
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
        if len(raw) > MAX_NOTE_BYTES:  # checked before any decoding or scanning work
            raise MalformedNote(f"a signed note is at most {MAX_NOTE_BYTES} bytes here")
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNote("a signed note is UTF-8 text") from None
        if _CONTROL.search(data):
            raise MalformedNote("a signed note contains no control characters other than newline")
        split = data.rfind("\n\n")
        if split < 0 or not data.endswith("\n"):
            raise MalformedNote("a signed note is text, a blank line, then signature lines each ending in newline")
        lines = data[split + 2 : -1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise MalformedNote(f"a signed note carries at most {MAX_SIGNATURES} signatures here")
        return cls(data[: split + 1], tuple(NoteSignature.parse(line) for line in lines))

    def format(self) -> str:
        if not self.signatures:
            raise MalformedNote("a signed note needs at least one signature")
        return self.text + "\n" + "".join(signature.line() for signature in self.signatures)

    def __str__(self) -> str:
        return self.format()

    def with_signatures(self, *signatures: NoteSignature) -> Note:
        """This note with more signatures; an identical signature already present is not added twice."""
        kept = list(self.signatures)
        kept.extend(signature for signature in signatures if signature not in kept)
        return Note(self.text, tuple(kept))

    def signatures_of(self, name: str, key: bytes) -> tuple[NoteSignature, ...]:
        return tuple(s for s in self.signatures if s.name == name and s.key_id == key)


def parse_vkey(vkey: str) -> tuple[str, int, bytes]:
    """Split a vkey into (name, signature type, public key), checking its key id."""
    parts = vkey.split("+", 2)
    if len(parts) != 3 or not _HEX_KEY_ID.match(parts[1]):
        raise MalformedNote("a verifier key is <name>+<8 hex digit key id>+<base64 type and key>")
    name, hex_id, material = parts
    raw = _b64decode(material, "verifier key material")
    if len(raw) < 2:
        raise MalformedNote("verifier key material has a type byte and a key")
    if key_id(check_key_name(name), raw[0], raw[1:]) != bytes.fromhex(hex_id):
        raise MalformedNote(f"verifier key {name!r} has a key id that does not match its key")
    return name, raw[0], raw[1:]


def format_vkey(name: str, signature_type: int, public_key: bytes) -> str:
    hex_id = key_id(check_key_name(name), signature_type, public_key).hex()
    return f"{name}+{hex_id}+{_b64encode(bytes([signature_type]) + public_key)}"


@dataclass(frozen=True, slots=True)
class NamedKey:
    """An Ed25519 public key under a name, of the signature type ``TYPE`` (0x01 note keys, 0x04 cosigners)."""

    TYPE: ClassVar[int] = ED25519_TYPE
    KIND: ClassVar[str] = "note key"
    name: str
    key: VerifyingKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.TYPE, self.key.raw)

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, self.TYPE, self.key.raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        name, signature_type, public_key = parse_vkey(vkey)
        if signature_type != cls.TYPE or len(public_key) != 32:
            raise MalformedNote(f"verifier key {name!r} is not an Ed25519 {cls.KIND} (type 0x{cls.TYPE:02x}, 32 bytes)")
        return cls(name, VerifyingKey(public_key))


@dataclass(frozen=True, slots=True)
class NoteVerifier(NamedKey):
    """An Ed25519 (type 0x01) note key under a name, as a verifier is configured with it."""


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """An Ed25519 note signing key under a name (a log operator's checkpoint key)."""

    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key.public)

    def sign(self, text: str) -> NoteSignature:
        return NoteSignature(self.name, self.verifier.key_id, self.key.sign(text.encode("utf-8")))


def verify_note(note: Note, verifier: NoteVerifier) -> None:
    """Raise unless ``verifier`` signed ``note``; other keys' signatures are ignored."""
    mine = note.signatures_of(verifier.name, verifier.key_id)
    if not mine:
        raise MissingNoteSignature(f"the note carries no signature of {verifier.name!r} with its key id")
    message = note.text.encode("utf-8")
    for signature in mine:
        if len(signature.signature) != 64 or not verifier.key.verify(signature.signature, message):
            raise BadNoteSignature(f"the signature of {verifier.name!r} on the note does not verify")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash, and opaque extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for line in (self.origin, *self.extensions):
            if not line or "\n" in line or _CONTROL.search(line):
                raise MalformedNote("checkpoint lines are non-empty and contain no control characters")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise MalformedNote(f"checkpoint tree size {self.size} is not a uint64")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedNote(f"checkpoint root hash has {len(self.root_hash)} bytes, not {HASH_SIZE}")
        if self.size == 0 and self.root_hash != EMPTY_ROOT:
            raise MalformedNote("the empty tree's root hash is SHA-256 of the empty string")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in newline."""
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions)
        )

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise MalformedNote("checkpoint text ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedNote("a checkpoint has origin, tree size and root hash lines")
        origin, size, root_hash, *extensions = lines
        if not _TREE_SIZE.match(size):
            raise MalformedNote("checkpoint tree size is a decimal number without leading zeros")
        return cls(origin, int(size), _b64decode(root_hash, "checkpoint root hash"), tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> Note:
    body = checkpoint.body()
    return Note(body, (signer.sign(body),))


def open_checkpoint(note: Note | str | bytes, verifier: NoteVerifier) -> Checkpoint:
    """Verify the log's signature on a checkpoint note, then parse its body."""
    parsed = note if isinstance(note, Note) else Note.parse(note)
    verify_note(parsed, verifier)
    return Checkpoint.from_body(parsed.text)
