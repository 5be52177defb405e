"""Wires the operator: database, keys, identity checks, routes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from trustspace.client.fetch import get_object
from trustspace.core.clock import Clock, SystemClock
from trustspace.core.keys import SigningKey
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
from trustspace.operator.ledger.routes import build_ledger_router
from trustspace.operator.ledger.service import LedgerConfig, LedgerService
from trustspace.operator.membership import MembershipService
from trustspace.operator.registry import Registry
from trustspace.operator.routes import build_router
from trustspace.operator.settings import OperatorSettings
from trustspace.operator.template_routes import build_template_router
from trustspace.store.db import Database, database_url, open_database
from trustspace.store.keystore import load_or_create_keystore, write_secret_file
from trustspace.store.ledger.sql import SqlLedgerStore
from trustspace.store.membership.interfaces import OperatorStore
from trustspace.store.membership.sql import SqlOperatorStore
from trustspace.web.app import database_ready, service_app
from trustspace.web.auth import Authenticator, hash_api_key
from trustspace.web.observability import ServiceMetrics

log = logging.getLogger("trustspace.operator")


def ensure_admin_key(store: OperatorStore, settings: OperatorSettings, clock: Clock) -> None:
    """At first start, create the administrator API key, keep only its hash, and write the key once to a
    file only the owner can read."""
    if store.has_api_key():
        return
    key = "tsk_" + secrets.token_urlsafe(32)
    store.add_api_key("admin", hash_api_key(key), clock.now())
    write_secret_file(settings.admin_key_path, key)
    log.info("administrator API key created and written to %s (shown nowhere else)", settings.admin_key_path)


def create_app(
    settings: OperatorSettings, *, clock: Clock | None = None, resolver: DidResolver | None = None,
    fetch: Callable[[str], dict[str, Any]] = get_object,
) -> FastAPI:
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database("operator", settings.database_url or database_url("operator", settings.data_dir))
    store = SqlOperatorStore(db)
    key = load_or_create_keystore(settings.keystore_path)
    ensure_admin_key(store, settings, clock)
    did = did_web(settings.public_url)
    method = verification_method_id(did)
    resolver = resolver or DidResolver(fetch)
    resolver.seed(did, did_document(did, key.public))
    membership = MembershipService(store, key, did, method, settings, clock)
    auth = _authenticator(store, membership, resolver, settings, clock, fetch)
    ledger = _ledger(db, key, did, method, resolver, settings, clock)
    if settings.log_membership_decisions:
        membership.record = ledger.record

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ledger.start()  # the sequencer thread: integrates receipted statements into the log
        try:
            yield
        finally:
            ledger.stop()

    app = service_app(
        title="TrustSpace operator", service="operator",
        did_document=lambda: did_document(did, key.public),
        ready=lambda: database_ready(db), metrics=auth.metrics, max_body_bytes=settings.max_body_bytes,
        lifespan=lifespan,
    )
    app.include_router(build_router(auth, membership, Registry(store, clock), store, settings))
    app.include_router(build_ledger_router(auth, ledger))
    app.include_router(build_template_router())
    app.state.did = did
    app.state.store = store
    app.state.db = db
    app.state.ledger = ledger
    return app


def _ledger(
    db: Database, key: SigningKey, did: str, method: str, resolver: DidResolver, settings: OperatorSettings,
    clock: Clock,
) -> LedgerService:
    config = LedgerConfig(
        origin=settings.ledger_log_origin, quorum=settings.ledger_quorum, max_delay=settings.ledger_max_delay,
        batch_interval=settings.ledger_batch_interval, batch_size=settings.ledger_batch_size,
        witnesses=settings.ledger_witnesses,
    )
    return LedgerService(SqlLedgerStore(db), key, did, method, resolver.key_for, config, clock)


def _authenticator(
    store: SqlOperatorStore, membership: MembershipService, resolver: DidResolver,
    settings: OperatorSettings, clock: Clock, fetch: Callable[[str], dict[str, Any]],
) -> Authenticator:
    metrics = ServiceMetrics("operator")
    foreign_lists = StatusListCache(fetch, resolver.key_for, clock, settings.status_list_ttl)

    def revoked(credential: dict[str, Any]) -> bool:
        if credential.get("issuer") == membership.did:
            return membership.is_revoked(credential)
        return foreign_lists.revoked(credential)

    def decided(issuer: str, subject: str, accepted: bool) -> None:
        reason = "issuer on trust list" if accepted else "issuer not on trust list"
        store.log_trust_decision(issuer, subject, accepted, reason, clock.now())
        log.info("cross-domain credential of %s from %s %s", subject, issuer, "accepted" if accepted else "refused")

    proof = ProofValid(resolver.key_for)
    rules: list[MembershipRule] = [
        WithinValidity(clock),
        IssuerTrusted(membership.did, store.is_trusted_issuer, decided),
        proof,
        NotRevoked(revoked),
    ]

    def known(did: str) -> bool:
        return did == membership.did or store.is_trusted_issuer(did) or store.get_member(did) is not None

    def trusted(issuer: str) -> bool:
        return issuer == membership.did or store.is_trusted_issuer(issuer)

    admit = admit_members(known, trusted, proof)
    verifier = TokenVerifier(membership.did, authentication_key(resolver), store, clock, admit)
    return Authenticator(verifier, lambda: rules, store, metrics)
