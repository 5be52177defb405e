"""A token must earn a DID resolution (issue 15, finding 1): nothing unsigned, foreign or from a stranger makes a
service open a connection to the host and port its ``kid`` names."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from trustspace.core.clock import FixedClock
from trustspace.core.errors import Unauthenticated
from trustspace.core.keys import SigningKey
from trustspace.identity.did import DidResolver, authentication_key
from trustspace.identity.tokens import IssuerNotAdmitted, TokenVerifier, issue_token
from trustspace.store.membership.memory import InMemoryReplayStore

AUDIENCE = "did:web:connector.example"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A port that accepts connections and records each one (and never answers)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield int(server.getsockname()[1]), accepted
    stop.set()
    thread.join(2)
    server.close()


def verifier(admit: object = None) -> TokenVerifier:
    resolver = DidResolver()  # the real HTTP fetch
    if admit is None:
        return TokenVerifier(AUDIENCE, authentication_key(resolver), InMemoryReplayStore(), FixedClock(NOW),
                             lambda issuer, credential: False)
    return TokenVerifier(AUDIENCE, authentication_key(resolver), InMemoryReplayStore(), FixedClock(NOW),
                         admit)  # type: ignore[arg-type]


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def stranger(port: int) -> str:
    return f"did:web:127.0.0.1%3A{port}"


def test_unsigned_garbage_token_naming_a_port_causes_no_connection(listener: tuple[int, list[object]]) -> None:
    port, accepted = listener
    did = stranger(port)
    now = int(NOW.timestamp())
    header = b64({"alg": "EdDSA", "kid": f"{did}#key-1"})
    claims = b64({"iss": did, "sub": did, "aud": AUDIENCE, "iat": now, "exp": now + 60, "jti": "x"})
    unsigned = f"{header}.{claims}.c2lnbmF0dXJl"  # a well-formed token whose signature is nonsense
    for token in (unsigned, f"{header}.e30.eA", f"{header}.bm90IGpzb24.eA", "a.b.c"):
        with pytest.raises(Unauthenticated):
            verifier().verify(token)
    assert accepted == []


def test_signed_token_of_a_non_member_causes_no_connection(listener: tuple[int, list[object]]) -> None:
    port, accepted = listener
    did = stranger(port)
    token = issue_token(SigningKey.generate(), issuer=did, verification_method=f"{did}#key-1", audience=AUDIENCE,
                        now=NOW)
    for _ in range(120):
        with pytest.raises(IssuerNotAdmitted) as refused:
            verifier().verify(token)
    assert accepted == []
    assert str(port) not in refused.value.detail  # nothing about the host is said back


def test_expired_or_misaddressed_token_is_refused_before_admission_is_asked() -> None:
    asked: list[str] = []

    def admit(issuer: str, credential: object) -> bool:
        asked.append(issuer)
        return True

    key = SigningKey.generate()
    did = "did:web:127.0.0.1%3A9"
    for audience, now in ((AUDIENCE, datetime(2026, 1, 1, tzinfo=UTC)), ("did:web:elsewhere", NOW)):
        token = issue_token(key, issuer=did, verification_method=f"{did}#key-1", audience=audience, now=now)
        with pytest.raises(Unauthenticated):
            verifier(admit).verify(token)
    assert asked == []


def test_application_path_may_hear_from_a_stranger_but_only_through_the_bounded_resolver(
        listener: tuple[int, list[object]]) -> None:
    port, accepted = listener
    did = stranger(port)
    token = issue_token(SigningKey.generate(), issuer=did, verification_method=f"{did}#key-1", audience=AUDIENCE,
                        now=NOW)
    with pytest.raises(Unauthenticated) as refused:
        verifier().verify(token, admit_unknown=True)
    assert len(accepted) == 1  # one bounded attempt...
    assert "timed out" not in refused.value.detail.lower()
    with pytest.raises(Unauthenticated):
        verifier().verify(token, admit_unknown=True)  # a new verifier, a new resolver: its own single attempt
