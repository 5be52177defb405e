"""Puts the connector's Dataspace Protocol parts together: stores, strategy, services, worker, routers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from trustspace.client.http import Signer
from trustspace.connector.catalog import CatalogView
from trustspace.connector.conformance import ScriptedStrategy, Seed, apply_seed
from trustspace.connector.dsp import wire
from trustspace.connector.dsp.dataplane import ConnectorDataPlane, Landing
from trustspace.connector.dsp.discovery import Discovery
from trustspace.connector.dsp.events_stream import EventStreams
from trustspace.connector.dsp.management import build_management_router
from trustspace.connector.dsp.negotiations import Negotiations
from trustspace.connector.dsp.relocation import Relocation
from trustspace.connector.dsp.routes import build_dsp_router
from trustspace.connector.dsp.strategy import AutomaticStrategy, Strategy
from trustspace.connector.dsp.transfers import Transfers
from trustspace.connector.dsp.worker import Worker
from trustspace.connector.enforcement import UsageEnforcer
from trustspace.connector.evidence import EvidenceRecorder, EvidencingDspStore
from trustspace.core.clock import Clock
from trustspace.core.keys import SigningKey
from trustspace.policy.adapter import OdrlPolicyDecisionPoint
from trustspace.store.db import Database
from trustspace.store.dsp.sql import SqlDspStore
from trustspace.store.usage.counter_sql import SqlUsageCounters
from trustspace.web.auth import Authenticator


@dataclass
class DspParts:
    store: EvidencingDspStore
    negotiations: Negotiations
    transfers: Transfers
    worker: Worker
    data_plane: ConnectorDataPlane


def install_dsp(app: FastAPI, *, db: Database, auth: Authenticator, signer: Signer, key: SigningKey, did: str,
                public_url: str, data_dir: Path, clock: Clock, deadline_seconds: float,
                seed: Seed | None = None, poll: float = 1.0,
                evidence: EvidenceRecorder | None = None, data_roots: tuple[Path, ...] = (),
                inbox_max_bytes: int | None = None, event_streams: EventStreams | None = None,
                landing: Landing | None = None) -> DspParts:
    store = EvidencingDspStore(db, evidence)
    pdp = OdrlPolicyDecisionPoint(contract=True)
    strategy: Strategy = AutomaticStrategy(pdp, clock)
    if seed is not None:
        apply_seed(seed, store, did, clock)
        strategy = ScriptedStrategy(seed, strategy, lambda agreement_id: _agreement_asset(store, agreement_id))
    holder: list[Worker] = []

    def wake() -> None:
        if holder:
            holder[0].wake()

    catalog = CatalogView(store, did, wire.dsp_base(public_url))
    usage = UsageEnforcer(store, SqlUsageCounters(db), clock)
    data_plane = ConnectorDataPlane(store, store, key, did, public_url, data_dir, clock, decisions=store,
                                    data_roots=data_roots, inbox_max_bytes=inbox_max_bytes, landing=landing,
                                    usage=usage)
    negotiations = Negotiations(store, store, did, public_url, clock, strategy, wake, deadline_seconds)
    transfers = Transfers(store, store, did, public_url, clock, strategy, pdp, data_plane, wake, deadline_seconds)
    discovery = Discovery()  # one cache: what the management API discovered, the worker may refresh
    worker = Worker(store, negotiations, transfers, signer, clock, poll, relocation=Relocation(discovery, store))
    holder.append(worker)
    app.include_router(build_dsp_router(auth, catalog, negotiations, transfers, public_url))
    app.include_router(build_management_router(auth, store, store, negotiations, transfers, signer, clock,
                                               discovery, check_address=data_plane.check_address,
                                               streams=event_streams))
    app.include_router(data_plane.router())
    return DspParts(store, negotiations, transfers, worker, data_plane)


def _agreement_asset(store: SqlDspStore, agreement_id: str) -> str | None:
    agreement = store.get_agreement(agreement_id)
    return agreement.asset_id if agreement else None
