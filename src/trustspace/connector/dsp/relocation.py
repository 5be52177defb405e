"""A provider that moved its endpoints: a running process follows it instead of failing.

The base of a provider's endpoints was discovered when the process began (discovery.py) and its messages
were addressed under it. When a message to the provider cannot be delivered (no answer, or 404), its
version metadata is read again: common.protocol.md has the peer publish "the ``path`` [...] to be appended
to ``<root>``", so a peer that changed ``path`` tells us where it now is. If that base differs, the process
and its unsent messages move there in one transaction and the message goes again at once.

Only messages *we* address by discovery are followed: the consumer's messages to the provider. The
provider answers at the ``callbackAddress`` the consumer gave, which no discovery stands behind. The root
is the one the base was discovered from when this process still remembers it, else the base's origin
(where RFC 8615 puts ``/.well-known``).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from trustspace.connector.dsp.discovery import Discovery
from trustspace.core.errors import TrustSpaceError
from trustspace.protocol.roles import Role
from trustspace.store.dsp.interfaces import ProcessStore
from trustspace.store.dsp.records import Negotiation, OutboxMessage, TransferRecord

log = logging.getLogger("trustspace.connector.worker")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Relocation:
    def __init__(self, discovery: Discovery, store: ProcessStore) -> None:
        self.discovery, self.store = discovery, store

    def follow(self, message: OutboxMessage, process: Negotiation | TransferRecord | None) -> bool:
        """True if the provider now serves elsewhere and ``message`` was moved there (and released)."""
        if process is None or process.role != Role.CONSUMER.value:
            return False
        old = process.counter_party_address.rstrip("/")
        if not message.url.startswith(old + "/"):
            return False
        root = self.discovery.root_of(old) or origin(old)
        try:
            new = self.discovery.refresh(root)
        except TrustSpaceError as exc:
            log.info("%s %s: %s could not be asked where it serves now: %s", message.process_kind,
                     message.process_id, root, exc.detail)
            return False
        if new == old or not self.store.readdress(message.process_kind, message.process_id, old, new):
            return False
        log.warning("%s %s: the provider moved its endpoints from %s to %s; following it", message.process_kind,
                    message.process_id, old, new)
        self.store.release_outbox([message.id])
        return True
