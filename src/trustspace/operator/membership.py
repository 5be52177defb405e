"""Membership decisions and the credentials they produce. The HTTP layer only translates to and from this."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from trustspace.core.clock import Clock, to_xsd
from trustspace.core.errors import Conflict, NotFound
from trustspace.core.ids import new_id, urn_uuid
from trustspace.core.keys import SigningKey
from trustspace.identity import credentials as vc
from trustspace.identity.contexts import TRUSTSPACE_CONTEXT
from trustspace.identity.membership import MEMBERSHIP_TYPE
from trustspace.identity.status_list import StatusList, status_entry, status_list_credential
from trustspace.operator.schemas import ApplicationIn
from trustspace.operator.settings import OperatorSettings
from trustspace.store.membership.interfaces import OperatorStore
from trustspace.store.membership.records import Application, IssuedCredential, MembershipStatus

log = logging.getLogger("trustspace.operator.membership")
STATUS_LIST_SIZE = 131072


class StatusListFull(Conflict):
    slug = "status-list-full"
    title = "Status list full"


class MembershipService:
    def __init__(
        self, store: OperatorStore, key: SigningKey, did: str, verification_method: str,
        settings: OperatorSettings, clock: Clock,
    ) -> None:
        # Set once the ledger is up: every membership decision becomes a statement in the log.
        self.record: Callable[..., object] = lambda *args, **kwargs: None
        self.store = store
        self.key = key
        self.did = did
        self.verification_method = verification_method
        self.settings = settings
        self.clock = clock

    def apply(self, did: str, body: ApplicationIn) -> Application:
        application = Application(
            id=new_id("app"), did=did, display_name=body.display_name, credit_code=body.credit_code,
            roles=tuple(dict.fromkeys(body.roles)), status=MembershipStatus.PENDING, applied_at=self.clock.now(),
        )
        stored = self.store.add_application(application)
        log.info("membership application %s from %s", stored.id, did)
        for warning in self.warnings(stored):
            log.warning("membership application %s: %s", stored.id, warning)
        return stored

    def get(self, application_id: str) -> Application:
        application = self.store.get_application(application_id)
        if application is None:
            raise NotFound(f"no membership application {application_id}", field="applicationId")
        return application

    def warnings(self, application: Application) -> list[str]:
        """What an administrator must know before deciding: another DID already approved under this credit code
        (the same organisation with a second identity, or someone claiming to be it)."""
        if application.status is not MembershipStatus.PENDING:
            return []
        others = sorted({a.did for a in self.store.list_applications(MembershipStatus.APPROVED.value)
                         if a.credit_code == application.credit_code and a.did != application.did})
        return [f"credit code {application.credit_code} already holds an approved membership under another DID: "
                f"{did}" for did in others]

    def approve(self, application_id: str, valid_days: int | None, confirm: bool = False) -> Application:
        days = valid_days or self.settings.credential_validity_days
        application = self.get(application_id)
        if not confirm and (warnings := self.warnings(application)):
            raise Conflict(warnings[0] + "; approving issues a second credential for that organisation",
                           field="confirm", hint="check the applicant, then approve with {\"confirm\": true} "
                                                 "(trustspace member approve --confirm)")

        def issue(index: int) -> IssuedCredential:
            if index >= STATUS_LIST_SIZE:
                raise StatusListFull("the revocation status list is full; no more credentials can be issued")
            return self._issue(application, index, days)

        decided = self.store.approve_application(application_id, self.clock.now(), issue)
        log.info("membership of %s approved, credential %s", decided.did, decided.credential_id)
        self._log_decision(decided, "approved")
        return decided

    def _log_decision(self, application: Application, decision: str) -> None:
        self.record("membership-decision", participant=application.did,
                    details={"decision": decision, "applicationId": application.id})

    def _issue(self, application: Application, index: int, days: int) -> IssuedCredential:
        now = self.clock.now()
        until = now + timedelta(days=days)
        document: dict[str, Any] = {
            "@context": [vc.VC_V2_CONTEXT, TRUSTSPACE_CONTEXT],
            "id": urn_uuid(),
            "type": ["VerifiableCredential", MEMBERSHIP_TYPE],
            "issuer": self.did,
            "validFrom": to_xsd(now),
            "validUntil": to_xsd(until),
            "credentialSubject": {
                "id": application.did,
                "space": self.settings.space,
                "roles": list(application.roles),
                "displayName": application.display_name,
                "creditCode": application.credit_code,
            },
            "credentialStatus": status_entry(self.settings.status_list_url, index),
        }
        signed = vc.sign(document, self.key, self.verification_method, to_xsd(now))
        return IssuedCredential(signed, document["id"], until, application.roles)

    def reject(self, application_id: str, reason: str) -> Application:
        rejected = self.store.reject_application(application_id, self.clock.now(), reason)
        self._log_decision(rejected, "rejected")
        return rejected

    def revoke(self, did: str, reason: str) -> Application:
        revoked = self.store.revoke_member(did, self.clock.now(), reason)
        log.info("membership of %s revoked: %s", did, reason)
        self._log_decision(revoked, "revoked")
        return revoked

    def is_revoked(self, credential: dict[str, Any]) -> bool:
        status = credential.get("credentialStatus")
        if not isinstance(status, dict):
            return False
        try:
            index = int(status.get("statusListIndex", -1))
        except (TypeError, ValueError):
            return True
        return self.store.is_status_revoked(index)

    def status_list_credential(self) -> dict[str, Any]:
        bits = StatusList(STATUS_LIST_SIZE)
        for index in self.store.revoked_status_indices():
            bits.set(index, True)
        now = to_xsd(self.clock.now())
        document = status_list_credential(self.did, self.settings.status_list_url, bits, now)
        return vc.sign(document, self.key, self.verification_method, now)
