"""Repository interfaces. One SQL implementation serves SQLite and PostgreSQL; tests run it on both.

Every method is one transaction: it either happens completely or not at all. Methods that move a record
from one state to another check the current state inside that transaction and raise ``Conflict`` rather
than overwrite a decision made concurrently.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime

from trustspace.store.membership.records import (
    Application,
    ConnectorRecord,
    IssuedCredential,
    Space,
    TrustDecision,
    TrustedIssuer,
)


class ReplayStore(ABC):
    """Token ids (``jti``) seen before, remembered until the token expires."""

    @abstractmethod
    def remember_jti(self, jti: str, issuer: str, expires_at: datetime, now: datetime) -> bool:
        """Record a token id. False if it was already recorded and has not expired (a replay)."""


class ApiKeyStore(ABC):
    """Hashes of administrator API keys. The key itself is shown once and never stored."""

    @abstractmethod
    def add_api_key(self, key_id: str, key_hash: str, created_at: datetime) -> None: ...

    @abstractmethod
    def has_api_key(self) -> bool: ...

    @abstractmethod
    def api_key_exists(self, key_hash: str) -> bool: ...


class OperatorStore(ReplayStore, ApiKeyStore, ABC):
    # membership
    @abstractmethod
    def add_application(self, application: Application) -> Application:
        """Store a pending application. Conflict if the DID has a pending or approved one already."""

    @abstractmethod
    def get_application(self, application_id: str) -> Application | None: ...

    @abstractmethod
    def approve_application(
        self, application_id: str, decided_at: datetime, issue: Callable[[int], IssuedCredential]
    ) -> Application:
        """Approve a pending application. ``issue`` is called inside the transaction with the freshly
        allocated status-list index and returns the signed credential to store with the decision."""

    @abstractmethod
    def reject_application(self, application_id: str, decided_at: datetime, reason: str) -> Application: ...

    @abstractmethod
    def get_member(self, did: str) -> Application | None:
        """The latest application of this DID, whatever its status."""

    @abstractmethod
    def list_applications(self, status: str | None = None) -> list[Application]: ...

    @abstractmethod
    def revoke_member(self, did: str, decided_at: datetime, reason: str) -> Application:
        """Approved -> revoked. NotFound if the DID has no membership, Conflict if it is not approved."""

    @abstractmethod
    def revoked_status_indices(self) -> list[int]: ...

    @abstractmethod
    def is_status_revoked(self, status_index: int) -> bool:
        """Is the membership holding this status-list index revoked? (Asked on every request.)"""

    # trust list (跨域互认)
    @abstractmethod
    def add_trusted_issuer(self, issuer: TrustedIssuer) -> TrustedIssuer: ...

    @abstractmethod
    def remove_trusted_issuer(self, did: str) -> bool: ...

    @abstractmethod
    def list_trusted_issuers(self) -> list[TrustedIssuer]: ...

    @abstractmethod
    def is_trusted_issuer(self, did: str) -> bool: ...

    @abstractmethod
    def log_trust_decision(
        self, issuer: str, subject: str, accepted: bool, reason: str, decided_at: datetime
    ) -> TrustDecision: ...

    @abstractmethod
    def list_trust_decisions(self, limit: int = 100) -> list[TrustDecision]: ...

    # connector registry
    @abstractmethod
    def register_connector(self, record: ConnectorRecord) -> ConnectorRecord: ...

    @abstractmethod
    def get_connector(self, connector_id: str) -> ConnectorRecord | None: ...

    @abstractmethod
    def heartbeat_connector(self, connector_id: str, at: datetime) -> ConnectorRecord:
        """NotFound if unknown, Conflict if deregistered."""

    @abstractmethod
    def deregister_connector(self, connector_id: str, at: datetime) -> ConnectorRecord: ...

    @abstractmethod
    def list_connectors(self) -> list[ConnectorRecord]: ...

    # logical spaces
    @abstractmethod
    def create_space(self, space: Space) -> Space:
        """Conflict if a space with that name exists."""

    @abstractmethod
    def get_space(self, space_id: str) -> Space | None: ...

    @abstractmethod
    def list_spaces(self) -> list[Space]: ...

    @abstractmethod
    def add_space_member(self, space_id: str, did: str, at: datetime) -> Space:
        """NotFound if the space is unknown, Conflict if the DID is a member already."""


class ConnectorStore(ReplayStore, ApiKeyStore, ABC):
    """A connector's own small state: settings (membership credential, registration) and replay guard."""

    @abstractmethod
    def get_setting(self, key: str) -> str | None: ...

    @abstractmethod
    def set_setting(self, key: str, value: str) -> None: ...
