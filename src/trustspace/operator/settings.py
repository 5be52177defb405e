"""Operator settings. Every value has a flag in the CLI and a TRUSTSPACE_* environment variable twin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


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
    # Evidence ledger: the checkpoint origin (None: derived from public_url), how many distinct witness
    # cosignatures make a checkpoint final, the delay promised in receipts (s), how often the sequencer runs
    # (s), and the DIDs allowed to cosign (empty: every member may witness).
    ledger_origin: str | None = None
    ledger_quorum: int = 1
    log_membership_decisions: bool = True
    ledger_max_delay: int = 5
    ledger_batch_interval: float = 0.2
    ledger_batch_size: int = 20_000  # measured best at 10^6 entries (bench/RESULTS.md, ledger_append)
    ledger_witnesses: tuple[str, ...] = ()

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / "operator.key.json"

    @property
    def admin_key_path(self) -> Path:
        return self.data_dir / "admin-api-key"

    @property
    def ledger_log_origin(self) -> str:
        """``ledger_origin``, or ``<host>[:port][/path]/ledger`` of the public URL (a checkpoint origin has no
        scheme, and names the log so that no two logs share it)."""
        if self.ledger_origin:
            return self.ledger_origin
        parts = urlsplit(self.public_url)
        host_port = parts.netloc.rpartition("@")[2].lower()  # never user info in a public name
        return f"{host_port}{parts.path.rstrip('/')}/ledger"

    @property
    def status_list_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/v1/status-lists/revocation"
