"""Connector registry health and logical spaces."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from trustspace.core.clock import Clock
from trustspace.core.errors import Conflict, NotFound
from trustspace.core.ids import new_id
from trustspace.store.membership.interfaces import OperatorStore
from trustspace.store.membership.records import ConnectorRecord, MembershipStatus, Space

# A connector is late after missing LATE_AFTER heartbeats and gone after GONE_AFTER.
LATE_AFTER = 2
GONE_AFTER = 6


class Health(StrEnum):
    HEALTHY = "healthy"
    LATE = "late"
    GONE = "gone"


def health(record: ConnectorRecord, now: datetime, interval: float) -> Health:
    if record.deregistered_at is not None:
        return Health.GONE
    silent = (now - record.last_heartbeat).total_seconds()
    if silent <= LATE_AFTER * interval:
        return Health.HEALTHY
    return Health.LATE if silent <= GONE_AFTER * interval else Health.GONE


class Registry:
    def __init__(self, store: OperatorStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def register(self, owner: str, url: str) -> ConnectorRecord:
        for existing in self.store.list_connectors():
            # Registering the same URL again is a restart, not a second connector.
            if existing.owner_did == owner and existing.url == url and existing.deregistered_at is None:
                return self.store.heartbeat_connector(existing.id, self.clock.now())
        now = self.clock.now()
        return self.store.register_connector(ConnectorRecord(new_id("conn"), owner, url, now, now))

    def owned(self, connector_id: str, caller: str | None) -> ConnectorRecord:
        """The connector, if the caller owns it (None means an administrator). Someone else's connector
        answers as unknown, so ids cannot be probed."""
        record = self.store.get_connector(connector_id)
        if record is None or (caller is not None and record.owner_did != caller):
            raise NotFound(f"no connector {connector_id} registered by you", field="connectorId")
        return record

    def heartbeat(self, connector_id: str, caller: str) -> ConnectorRecord:
        self.owned(connector_id, caller)
        return self.store.heartbeat_connector(connector_id, self.clock.now())

    def deregister(self, connector_id: str, caller: str | None) -> ConnectorRecord:
        self.owned(connector_id, caller)
        return self.store.deregister_connector(connector_id, self.clock.now())

    def create_space(self, name: str, description: str) -> Space:
        return self.store.create_space(Space(new_id("space"), name, description, self.clock.now()))

    def space(self, space_id: str) -> Space:
        found = self.store.get_space(space_id)
        if found is None:
            raise NotFound(f"no logical space {space_id}", field="spaceId")
        return found

    def add_member(self, space_id: str, did: str) -> Space:
        self.space(space_id)
        member = self.store.get_member(did)
        if member is None or member.status != MembershipStatus.APPROVED:
            raise Conflict(f"{did} is not an approved member of this data space", field="did",
                           hint="approve its membership application first")
        return self.store.add_space_member(space_id, did, self.clock.now())
