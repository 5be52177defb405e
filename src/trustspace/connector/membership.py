"""The connector's side of membership: apply, collect the credential, check it before keeping it."""

from __future__ import annotations

import json
import logging
from typing import Any

from trustspace.client.http import SignedClient
from trustspace.core.errors import Conflict, PeerError
from trustspace.identity import credentials as vc
from trustspace.identity.did import DidResolver
from trustspace.identity.membership import read_membership
from trustspace.store.membership.interfaces import ConnectorStore

log = logging.getLogger("trustspace.connector.membership")
APPLICATION = "membership.application_id"
CREDENTIAL = "membership.credential"


class MembershipHolder:
    def __init__(self, store: ConnectorStore, did: str, operator_did: str, resolver: DidResolver) -> None:
        self.store = store
        self.did = did
        self.operator_did = operator_did
        self.resolver = resolver
        self._credential: dict[str, Any] | None = None

    def credential(self) -> dict[str, Any] | None:
        if self._credential is None:
            stored = self.store.get_setting(CREDENTIAL)
            self._credential = json.loads(stored) if stored else None
        return self._credential

    def apply(self, operator: SignedClient, body: dict[str, Any]) -> dict[str, Any]:
        application: dict[str, Any] = operator.request("POST", "/v1/membership/applications", json=body)
        self.store.set_setting(APPLICATION, application["id"])
        return application

    def refresh(self, operator: SignedClient) -> dict[str, Any]:
        application_id = self.store.get_setting(APPLICATION)
        if application_id is None:
            raise Conflict("this connector has not applied for membership yet",
                           hint="POST /v1/management/membership/apply first")
        application: dict[str, Any] = operator.request("GET", f"/v1/membership/applications/{application_id}")
        credential = application.get("credential")
        if application.get("status") == "approved" and isinstance(credential, dict):
            self._accept(credential)
        return application

    def _accept(self, credential: dict[str, Any]) -> None:
        # Never keep a credential we could not defend: it must be ours, from our operator, and verify.
        membership = read_membership(credential)
        if membership.did != self.did or membership.issuer != self.operator_did:
            raise PeerError("the operator returned a credential for another subject or from another issuer")
        vc.verify(credential, self.resolver.key_for)
        self.store.set_setting(CREDENTIAL, json.dumps(credential))
        self._credential = credential
        log.info("membership credential %s stored", credential.get("id"))

    def status(self) -> dict[str, Any]:
        credential = self.credential()
        membership = read_membership(credential) if credential else None
        return {
            "applicationId": self.store.get_setting(APPLICATION),
            "member": membership is not None,
            "space": membership.space if membership else None,
            "roles": list(membership.roles) if membership else [],
            "validUntil": membership.valid_until.isoformat() if membership and membership.valid_until else None,
            "credentialId": membership.credential_id if membership else None,
        }
