"""Verifications per second of a service token with its membership credential, against raw Ed25519
verifications per second measured in the same run (issue: the spine; target ratio >= 0.4).

What one token verification does here is what a service does per request: parse the JWS, resolve the
caller's key (did:key, cached document), check the signature and claims, remember the jti, read the
membership credential, and apply the rules (validity, issuer trust, proof, revocation). The credential travels
beside the token and is bound to it by digest; its proof is verified once and then recognised by that
digest, which is why the ratio can exceed 0.5 (two signatures are not checked per request, one is).
A second figure uses the durable SQLite replay store (one committed write per token), for reference.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from trustspace.core.clock import SystemClock, to_xsd
from trustspace.core.keys import SigningKey
from trustspace.identity import credentials as vc
from trustspace.identity.did import DidResolver, authentication_key, did_key, verification_method_id
from trustspace.identity.membership import (
    AllOf,
    IssuerTrusted,
    MembershipCache,
    NotRevoked,
    ProofValid,
    SubjectIs,
    WithinValidity,
)
from trustspace.identity.tokens import TokenVerifier, encode_credential, issue_token
from trustspace.store.db import open_database
from trustspace.store.membership.interfaces import ReplayStore
from trustspace.store.membership.memory import InMemoryReplayStore
from trustspace.store.membership.sql import SqlConnectorStore

N = int(os.environ.get("BENCH_N", "5000"))


def credential_for(issuer_key: SigningKey, subject: str) -> dict[str, Any]:
    issuer = did_key(issuer_key.public)
    now = SystemClock().now()
    document = {
        "@context": [vc.VC_V2_CONTEXT],
        "id": "urn:uuid:bench",
        "type": ["VerifiableCredential", "MembershipCredential"],
        "issuer": issuer,
        "validFrom": to_xsd(now),
        "validUntil": to_xsd(now.replace(year=now.year + 1)),
        "credentialSubject": {"id": subject, "space": "bench", "roles": ["consumer"]},
    }
    return vc.sign(document, issuer_key, verification_method_id(issuer), to_xsd(now))


def raw_ed25519_rate(n: int) -> float:
    key = SigningKey.generate()
    message = os.urandom(200)
    signature = key.sign(message)
    started = time.perf_counter()
    for _ in range(n):
        key.public.verify(signature, message)
    return n / (time.perf_counter() - started)


def token_rate(n: int, replay: ReplayStore) -> float:
    clock = SystemClock()
    operator_key, caller_key = SigningKey.generate(), SigningKey.generate()
    operator, caller = did_key(operator_key.public), did_key(caller_key.public)
    credential = credential_for(operator_key, caller)
    audience = "did:web:127.0.0.1%3A8500"
    header = encode_credential(credential)
    tokens = [issue_token(caller_key, issuer=caller, verification_method=verification_method_id(caller),
                          audience=audience, now=clock.now(), credential_header=header) for _ in range(n)]
    resolver = DidResolver()
    verifier = TokenVerifier(audience, authentication_key(resolver), replay, clock)
    memberships = MembershipCache()
    rules = [WithinValidity(clock), IssuerTrusted(operator, lambda _: False), ProofValid(resolver.key_for),
             NotRevoked(lambda _: False)]
    started = time.perf_counter()
    for token in tokens:
        # The same steps as web.auth.Authenticator.member, minus the HTTP framing.
        verified = verifier.verify(token, header)
        assert verified.credential is not None
        document, membership = memberships.read(verified.credential.digest, verified.credential.document)
        AllOf([SubjectIs(verified.issuer), *rules]).check(document, membership)
    return n / (time.perf_counter() - started)


def main() -> None:
    cores = os.cpu_count()
    raw_ed25519_rate(500)  # warm up
    raw = raw_ed25519_rate(N)
    memory = token_rate(N, InMemoryReplayStore())
    with tempfile.TemporaryDirectory() as folder:
        db = open_database("connector", f"sqlite:///{Path(folder) / 'replay.db'}")
        durable = token_rate(min(N, 2000), SqlConnectorStore(db))
        db.dispose()
    print(f"cores: {cores}, tokens: {N}")
    print(f"raw Ed25519 verifications:                       {raw:10.0f} /s")
    print(f"token + membership credential (in-memory replay): {memory:10.0f} /s  ratio {memory / raw:.2f}")
    print(f"token + membership credential (SQLite replay):    {durable:10.0f} /s  ratio {durable / raw:.2f}")
    print(json.dumps({"bench": "identity", "value": round(memory), "unit": "verifications/s",
                      "baseline": round(raw), "baseline_unit": "raw Ed25519 verifications/s",
                      "ratio": round(memory / raw, 3), "target_ratio": 0.4,
                      "durable_replay_value": round(durable), "durable_replay_ratio": round(durable / raw, 3),
                      "cores": cores}))


if __name__ == "__main__":
    main()
