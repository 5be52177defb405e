"""Operator settings. Every value has a flag in the CLI and a TRUSTSPACE_* environment variable twin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OperatorSettings:
    data_dir: Path
    public_url: str
    space: str = "trustspace-demo"
    database_url: str | None = None
    credential_validity_days: int = 365
    heartbeat_interval: float = 10.0
    status_list_ttl: float = 30.0
    max_body_bytes: int = 1024 * 1024

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / "operator.key.json"

    @property
    def admin_key_path(self) -> Path:
        return self.data_dir / "admin-api-key"

    @property
    def status_list_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/v1/status-lists/revocation"
