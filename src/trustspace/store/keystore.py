"""The keystore: one JSON file holding a service's Ed25519 key, readable only by its owner.

Like ssh, we refuse to use a key file that others can read: a key that may have leaked is not a key to
sign membership credentials or contracts with.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from trustspace.core.errors import CallerError, ValidationFailed
from trustspace.core.keys import SigningKey

KEYSTORE_FORMAT = "trustspace-keystore/1"


class KeystoreError(CallerError):
    slug = "keystore"
    status = 500
    title = "Keystore unusable"


def create_keystore(path: Path) -> SigningKey:
    """Generate a key and write it to a new file with mode 0600. Refuses to overwrite."""
    key = SigningKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"format": KEYSTORE_FORMAT, "privateKeyMultibase": key.export_multibase()})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeystoreError(f"keystore {path} exists already; refusing to overwrite a key") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_keystore(path: Path) -> SigningKey:
    if not path.exists():
        raise KeystoreError(f"no keystore at {path}", hint="run 'trustspace connector init' first")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeystoreError(
            f"keystore {path} is readable by others (mode {mode:o})",
            hint=f"run 'chmod 600 {path}', and rotate the key if it may have been copied",
        )
    try:
        data = json.loads(path.read_text())
        if data.get("format") != KEYSTORE_FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        return SigningKey.from_multibase(data["privateKeyMultibase"])
    except (ValueError, KeyError, TypeError, ValidationFailed) as exc:
        # Deliberately no file contents in the message: they are the secret.
        raise KeystoreError(f"keystore {path} is not a valid TrustSpace keystore ({type(exc).__name__})") from None


def load_or_create_keystore(path: Path) -> SigningKey:
    return load_keystore(path) if path.exists() else create_keystore(path)


def write_secret_file(path: Path, value: str) -> None:
    """Write a secret (an API key shown once) to a file only the owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
