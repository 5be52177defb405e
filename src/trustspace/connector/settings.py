"""Connector settings, persisted by ``trustspace connector init`` in ``connector.json`` in its data folder."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from trustspace.core.errors import CallerError
from trustspace.store.keystore import create_keystore

CONFIG_FILE = "connector.json"
KEYSTORE_FILE = "connector.key.json"


@dataclass(frozen=True)
class ConnectorSettings:
    data_dir: Path
    public_url: str
    operator_url: str
    name: str = "connector"
    database_url: str | None = None
    heartbeat_interval: float = 10.0
    status_list_ttl: float = 30.0
    trust_list_ttl: float = 60.0
    max_body_bytes: int = 1024 * 1024
    # The largest push the inbox takes (decision 0007): a provider cannot fill the consumer's disk.
    inbox_max_bytes: int = 16 * 1024**3
    process_deadline: float = 600.0
    worker_poll: float = 1.0
    witness_interval: float = 2.0
    conformance_mode: bool = False
    seed: Path | None = None
    # Folders file sources may be served from (TRUSTSPACE_DATA_ROOTS, os.pathsep-separated); none given: the
    # data/ folder inside data_dir (see docs/data-sources.md).
    data_roots: tuple[Path, ...] = ()
    # Management event streams one API key may hold open at once (each is a connection and a poll of the store).
    event_streams_per_key: int = 8
    # Received data goes into the encrypted protected store as it lands, readable only through the usage API
    # (docs/usage-consumer.md). TRUSTSPACE_PROTECTED_STORE=0 turns it off for a connector started from a folder
    # (then received files stay in the clear under received/, governed by nothing).
    protected_store: bool = True
    # How often the data of expired agreements is looked for and destroyed (seconds; 0: only on use).
    usage_sweep_interval: float = 60.0

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / KEYSTORE_FILE

    @property
    def management_key_path(self) -> Path:
        return self.data_dir / "management-api-key"

    def save(self) -> Path:
        path = self.data_dir / CONFIG_FILE
        runtime = {"data_dir", "database_url", "conformance_mode", "seed", "data_roots"}
        data = {k: v for k, v in asdict(self).items() if k not in runtime}
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        return path

    @classmethod
    def load(cls, data_dir: Path, **overrides: object) -> ConnectorSettings:
        path = data_dir / CONFIG_FILE
        if not path.exists():
            raise CallerError(f"{data_dir} is not a connector folder (no {CONFIG_FILE})",
                              hint=f"run 'trustspace connector init --data-dir {data_dir} ...' first")
        data = json.loads(path.read_text())
        data["data_roots"] = data_roots_from_env()
        chosen = os.environ.get("TRUSTSPACE_PROTECTED_STORE", "").strip().lower()
        if chosen in ("1", "true", "yes", "0", "false", "no"):
            data["protected_store"] = chosen in ("1", "true", "yes")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(data_dir=data_dir, **data)


def data_roots_from_env() -> tuple[Path, ...]:
    value = os.environ.get("TRUSTSPACE_DATA_ROOTS", "")
    return tuple(Path(part).expanduser().absolute() for part in value.split(os.pathsep) if part.strip())


def init_connector(data_dir: Path, public_url: str, operator_url: str, name: str) -> ConnectorSettings:
    """Create the key (mode 0600) and the configuration of a new connector."""
    data_dir.mkdir(parents=True, exist_ok=True)
    create_keystore(data_dir / KEYSTORE_FILE)
    (data_dir / "data").mkdir(exist_ok=True)
    settings = ConnectorSettings(data_dir=data_dir, public_url=public_url.rstrip("/"),
                                 operator_url=operator_url.rstrip("/"), name=name)
    settings.save()
    return settings
