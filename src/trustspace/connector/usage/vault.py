"""The protected store's files: received data is sealed here as soon as it lands, and its plaintext removed.

Files are named by item id under ``<data dir>/protected`` (mode 0700); nothing in a name or a file tells
what the data is. Reading them directly gives ciphertext only: the plaintext leaves through ``open`` alone,
which the usage API calls after its guard permitted and the use is logged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from trustspace.connector.usage.crypto import KeyWrapper, open_sealed, seal_file
from trustspace.core.clock import Clock
from trustspace.core.errors import Conflict
from trustspace.core.files import fsync_dir
from trustspace.core.ids import new_id
from trustspace.store.usage.interfaces import UsageStore
from trustspace.store.usage.records import ProtectedItem

SUFFIX = ".sealed"


class ProtectedStore:
    def __init__(self, store: UsageStore, wrapper: KeyWrapper, directory: Path, clock: Clock,
                 chunk_size: int | None = None) -> None:
        self.store, self.wrapper, self.directory, self.clock = store, wrapper, directory, clock
        self.chunk_size = chunk_size

    def path_of(self, item_id: str) -> Path:
        return self.directory / f"{item_id}{SUFFIX}"

    def protect(self, agreement_id: str, transfer_id: str, plaintext: Path, file_name: str | None = None
                ) -> ProtectedItem:
        """Seal ``plaintext`` under the agreement's key, record the item, then remove the plaintext.

        The plaintext goes only once the item is committed: a crash in between leaves a sealed orphan (never
        readable without its row) or the plaintext still in place, never neither."""
        data_key = self._data_key(agreement_id)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        item_id = new_id("item")
        target = self.path_of(item_id)
        partial = target.with_name(f".{target.name}.part")
        try:
            sealed = (seal_file(plaintext, partial, data_key, item_id) if self.chunk_size is None
                      else seal_file(plaintext, partial, data_key, item_id, self.chunk_size))
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        item = ProtectedItem(id=item_id, agreement_id=agreement_id, transfer_id=transfer_id,
                             file_name=file_name or plaintext.name, size=sealed.size, sha256=sealed.sha256,
                             nonce_info=sealed.nonce_info(), created_at=self.clock.now())
        try:
            self.store.add_item(item)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        plaintext.unlink()
        fsync_dir(plaintext.parent)
        fsync_dir(self.directory)
        return item

    def open(self, item: ProtectedItem) -> Iterator[bytes]:
        """The item's plaintext chunks, authenticated one by one. Only the usage service calls this."""
        if item.deleted_at is not None:
            raise Conflict(f"protected item {item.id} was destroyed", field="itemId")
        stored = self.store.get_key(item.agreement_id)
        if stored is None or stored.wrapped_key is None:
            raise Conflict(f"the data key of agreement {item.agreement_id} was destroyed", field="agreementId")
        data_key = self.wrapper.unwrap(item.agreement_id, stored.wrapped_key)
        return open_sealed(self.path_of(item.id), data_key, item.id)

    def shred(self, items: list[ProtectedItem]) -> None:
        """Remove the items' ciphertext files (a file already gone is fine: a destruction resumed)."""
        for item in items:
            with suppress(FileNotFoundError):
                self.path_of(item.id).unlink()
        if self.directory.is_dir():
            fsync_dir(self.directory)

    def _data_key(self, agreement_id: str) -> bytes:
        stored = self.store.get_key(agreement_id)
        if stored is None:
            fresh = KeyWrapper.new_data_key()
            stored = self.store.add_key(agreement_id, self.wrapper.wrap(agreement_id, fresh), self.clock.now())
        if stored.wrapped_key is None:
            raise Conflict(f"the data of agreement {agreement_id} was destroyed; nothing more is kept under it",
                           field="agreementId")
        return self.wrapper.unwrap(agreement_id, stored.wrapped_key)
