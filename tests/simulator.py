"""Stand-ins for the remote side, as python-tuf's repository simulator stands in for a TUF repository.

``FakeWeb`` answers the plain GETs a service makes (DID documents, status lists, trust lists) from in-process
apps, so the operator can be tested without sockets; ``Party`` is a participant with its own key that signs
tokens the way a connector does, and can also sign them wrongly on purpose.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from trustspace.core.clock import FixedClock
from trustspace.core.errors import PeerUnreachable
from trustspace.core.ids import credit_code_check_char
from trustspace.core.keys import SigningKey
from trustspace.identity.did import DidResolver, did_key, verification_method_id
from trustspace.identity.tokens import CREDENTIAL_HEADER, encode_credential, issue_token
from trustspace.operator.app import create_app
from trustspace.operator.settings import OperatorSettings


class FakeWeb:
    """Maps base URLs to in-process test clients."""

    def __init__(self) -> None:
        self.sites: dict[str, TestClient] = {}
        self.requests: list[str] = []

    def add(self, base_url: str, client: TestClient) -> None:
        self.sites[base_url.rstrip("/")] = client

    def fetch(self, url: str) -> Any:
        self.requests.append(url)
        parts = urlsplit(url)
        site = self.sites.get(f"{parts.scheme}://{parts.netloc}")
        if site is None:
            raise PeerUnreachable(f"nothing answers at {url}")
        response = site.get(parts.path)
        if response.status_code != 200:
            raise PeerUnreachable(f"GET {url} answered {response.status_code}")
        return response.json()


@dataclass
class Party:
    """A participant identified by did:key, signing its own tokens."""

    name: str
    key: SigningKey = field(default_factory=SigningKey.generate)
    credential: dict[str, Any] | None = None

    @property
    def did(self) -> str:
        return did_key(self.key.public)

    def headers(self, audience: str, clock: FixedClock, *, with_credential: bool = True, lifetime: int = 120,
                key: SigningKey | None = None, credential: dict[str, Any] | None = None) -> dict[str, str]:
        """Authorization (and credential) headers as a connector sends them; the keyword arguments
        let a test sign with the wrong key, present someone else's credential, and so on."""
        presented = credential if credential is not None else (self.credential if with_credential else None)
        encoded = encode_credential(presented) if presented is not None else None
        token = issue_token(key or self.key, issuer=self.did, verification_method=verification_method_id(self.did),
                            audience=audience, now=clock.now(), lifetime=lifetime, credential_header=encoded)
        headers = {"Authorization": f"Bearer {token}"}
        if encoded is not None:
            headers[CREDENTIAL_HEADER] = encoded
        return headers


def credit_code_of(name: str) -> str:
    """A valid unified social credit code of its own for each party name."""
    digits = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 10**9
    first17 = f"91350100M{digits:09d}"[:17]
    return first17 + credit_code_check_char(first17)


@dataclass
class OperatorUnderTest:
    client: TestClient
    settings: OperatorSettings
    clock: FixedClock
    web: FakeWeb

    @property
    def did(self) -> str:
        return str(self.client.app.state.did)  # type: ignore[attr-defined]

    @property
    def admin(self) -> dict[str, str]:
        return {"X-API-Key": self.settings.admin_key_path.read_text().strip()}

    def apply(self, party: Party, roles: list[str] | None = None, code: str | None = None) -> Any:
        # One organisation per party: a second DID under an approved credit code needs the admin's confirmation.
        body = {"displayName": party.name, "creditCode": code or credit_code_of(party.name),
                "roles": roles or ["consumer"]}
        response = self.client.post("/v1/membership/applications", json=body,
                                    headers=party.headers(self.did, self.clock, with_credential=False))
        assert response.status_code == 201, response.text
        return response.json()

    def admit(self, party: Party, **approve: Any) -> dict[str, Any]:
        """Apply and approve; the party then holds its credential."""
        application = self.apply(party)
        response = self.client.post(f"/v1/membership/applications/{application['id']}/approve", json=approve,
                                    headers=self.admin)
        assert response.status_code == 200, response.text
        party.credential = response.json()["credential"]
        return party.credential

    def get(self, path: str, party: Party, **token: Any) -> Any:
        return self.client.get(path, headers=party.headers(self.did, self.clock, **token))


@contextmanager
def operator(data_dir: Path, *, url: str = "http://127.0.0.1:9400", web: FakeWeb | None = None,
             clock: FixedClock | None = None, database_url: str | None = None) -> Iterator[OperatorUnderTest]:
    web = web or FakeWeb()
    clock = clock or FixedClock()
    settings = OperatorSettings(data_dir=data_dir, public_url=url, space="test-space", database_url=database_url)
    app = create_app(settings, clock=clock, resolver=DidResolver(web.fetch), fetch=web.fetch)
    with TestClient(app, base_url=url) as client:
        web.add(url, client)
        yield OperatorUnderTest(client, settings, clock, web)
    app.state.db.dispose()
