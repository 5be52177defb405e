"""An in-memory replay store, for benchmarks and single-process tools. Services use the SQL one, whose
memory survives a restart."""

from __future__ import annotations

import threading
from datetime import datetime

from trustspace.store.membership.interfaces import ReplayStore


class InMemoryReplayStore(ReplayStore):
    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def remember_jti(self, jti: str, issuer: str, expires_at: datetime, now: datetime) -> bool:
        with self._lock:
            seen = self._seen.get(jti)
            if seen is not None and seen > now:
                return False
            self._seen[jti] = expires_at
            return True
