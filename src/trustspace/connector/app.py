"""Wires the connector: keystore, database, identity checks, the operator client, routes, heartbeat."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from trustspace.client.fetch import get_json, get_object
from trustspace.client.http import SignedClient, Signer
from trustspace.connector.conformance import (
    ConformanceAuthenticator,
    ScriptedStrategy,
    Seed,
    apply_seed,
    conformance_router,
    load_seed,
)
from trustspace.connector.dsp.assembly import DspParts, install_dsp
from trustspace.connector.dsp.events_stream import EventStreams
from trustspace.connector.dsp.routes import error_for_path
from trustspace.connector.evidence import EvidenceRecorder
from trustspace.connector.heartbeat import Heartbeat
from trustspace.connector.ledger_routes import ledger_router
from trustspace.connector.membership import MembershipHolder
from trustspace.connector.routes import build_router
from trustspace.connector.settings import ConnectorSettings
from trustspace.connector.usage.assembly import build_usage, install_usage
from trustspace.connector.witness import WitnessService
from trustspace.core.clock import Clock, SystemClock
from trustspace.identity.did import (
    DidResolver,
    authentication_key,
    did_document,
    did_web,
    verification_method_id,
)
from trustspace.identity.membership import (
    IssuerTrusted,
    MembershipRule,
    NotRevoked,
    ProofValid,
    StatusListCache,
    WithinValidity,
    admit_members,
)
from trustspace.identity.tokens import TokenVerifier
from trustspace.protocol.openapi import components as dsp_components
from trustspace.store.db import database_url, open_database
from trustspace.store.keystore import load_keystore, write_secret_file
from trustspace.store.membership.interfaces import ConnectorStore
from trustspace.store.membership.sql import SqlConnectorStore
from trustspace.web.app import database_ready, service_app
from trustspace.web.auth import Authenticator, hash_api_key
from trustspace.web.observability import ServiceMetrics
from trustspace.web.openapi import add_schemas

log = logging.getLogger("trustspace.connector")


def ensure_management_key(store: ConnectorStore, settings: ConnectorSettings, clock: Clock) -> None:
    if store.has_api_key():
        return
    key = "tsm_" + secrets.token_urlsafe(32)
    store.add_api_key("management", hash_api_key(key), clock.now())
    write_secret_file(settings.management_key_path, key)
    log.info("management API key created and written to %s", settings.management_key_path)


class TrustListCache:
    """The operator's trust list, fetched at most once per ``ttl`` seconds."""

    def __init__(self, url: str, fetch: Callable[[str], Any], clock: Clock, ttl: float) -> None:
        self.url, self.fetch, self.clock, self.ttl = url, fetch, clock, ttl
        self._at = float("-inf")
        self._dids: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def is_trusted(self, did: str) -> bool:
        now = self.clock.now().timestamp()
        with self._lock:
            if now - self._at >= self.ttl:
                entries = self.fetch(self.url)
                self._dids = frozenset(e["did"] for e in entries if isinstance(e, dict))
                self._at = now
            return did in self._dids


def create_app(
    settings: ConnectorSettings, *, clock: Clock | None = None, resolver: DidResolver | None = None,
    fetch: Callable[[str], dict[str, Any]] = get_object,
) -> FastAPI:
    clock = clock or SystemClock()
    key = load_keystore(settings.keystore_path)
    db = open_database("connector", settings.database_url or database_url("connector", settings.data_dir))
    store = SqlConnectorStore(db)
    ensure_management_key(store, settings, clock)
    did, operator_did = did_web(settings.public_url), did_web(settings.operator_url)
    resolver = resolver or DidResolver(fetch)
    resolver.seed(did, did_document(did, key.public))
    holder = MembershipHolder(store, did, operator_did, resolver)
    signer = Signer(key, did, verification_method_id(did), clock, holder.credential)
    operator = SignedClient(settings.operator_url, operator_did, signer)
    heartbeat = Heartbeat(store, operator, settings.public_url, settings.heartbeat_interval)
    statuses = StatusListCache(fetch, resolver.key_for, clock, settings.status_list_ttl)
    trust = TrustListCache(f"{settings.operator_url.rstrip('/')}/v1/trust-list", get_json, clock,
                           settings.trust_list_ttl)
    proof = ProofValid(resolver.key_for)
    rules: list[MembershipRule] = [
        WithinValidity(clock), IssuerTrusted(operator_did, trust.is_trusted), proof, NotRevoked(statuses.revoked),
    ]
    metrics = ServiceMetrics("connector")
    # A peer's DID is resolved only once its membership credential from our operator (or one it trusts) verifies.
    admit = admit_members(lambda peer: peer in (did, operator_did),
                          lambda issuer: issuer == operator_did or trust.is_trusted(issuer), proof)
    auth = Authenticator(TokenVerifier(did, authentication_key(resolver), store, clock, admit), lambda: rules, store,
                         metrics, key_name="management key (file management-api-key in the connector's data folder)")

    conformance = load_seed(settings.seed) if settings.conformance_mode and settings.seed else None
    if conformance is not None:
        auth = ConformanceAuthenticator(auth, conformance.counter_party)
    parts: list[DspParts] = []

    recorder = EvidenceRecorder(key, did, verification_method_id(did), settings.operator_url, operator_did, clock)
    witness = WitnessService(store, key, did, operator, clock, metrics, settings.witness_interval)
    streams = EventStreams(settings.event_streams_per_key)
    usage = build_usage(db=db, key=key, did=did, verification_method=verification_method_id(did),
                        data_dir=settings.data_dir, clock=clock,
                        agreements=lambda agreement_id: parts[0].store.get_agreement(agreement_id),
                        recorder=None if conformance is not None else recorder,
                        sweep_interval=settings.usage_sweep_interval)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if heartbeat.connector_id is not None and holder.credential() is not None:
            heartbeat.start()
        parts[0].worker.start()
        if settings.witness_interval > 0:
            witness.start()
        streams.reopen()
        usage.start()
        yield
        usage.stop()
        streams.close()
        witness.stop()
        parts[0].worker.stop()
        heartbeat.stop()
        operator.close()

    app = service_app(
        title=f"TrustSpace connector ({settings.name})", service="connector",
        did_document=lambda: did_document(did, key.public, settings.public_url), ready=lambda: database_ready(db),
        metrics=metrics, lifespan=lifespan, max_body_bytes=settings.max_body_bytes, streaming_prefixes=("/inbox/",),
        scoped_errors=error_for_path,
    )
    add_schemas(app, dsp_components)
    app.include_router(build_router(auth, holder, operator, heartbeat, signer, settings.public_url))
    parts.append(install_dsp(app, db=db, auth=auth, signer=signer, key=key, did=did, public_url=settings.public_url,
                             data_dir=settings.data_dir, clock=clock, deadline_seconds=settings.process_deadline,
                             poll=settings.worker_poll, seed=conformance,
                             evidence=None if conformance is not None else recorder,
                             data_roots=settings.data_roots, inbox_max_bytes=settings.inbox_max_bytes,
                             event_streams=streams, landing=usage.landing if settings.protected_store else None))
    if isinstance(auth, ConformanceAuthenticator):
        _install_conformance(app, auth, parts[0], did, clock)
    app.include_router(ledger_router(auth, parts[0].store, witness))
    install_usage(app, auth, usage)
    app.state.did = did
    app.state.store = store
    app.state.dsp = parts[0]
    app.state.event_streams = streams
    app.state.usage = usage
    return app


def _install_conformance(app: FastAPI, auth: ConformanceAuthenticator, dsp: DspParts, did: str, clock: Clock) -> None:
    """The management call that loads a seed at run time: records first, then the scripts, then who the
    counter-party is (its requests are only accepted once what they may name exists)."""
    strategy = dsp.negotiations.strategy

    def load(seed: Seed) -> None:
        apply_seed(seed, dsp.store, did, clock)
        if isinstance(strategy, ScriptedStrategy):
            strategy.load(seed)
        auth.counter_party = seed.counter_party
        dsp.worker.wake()

    app.include_router(conformance_router(auth, load))
