"""跨域互认: credentials from another space's operator are accepted only once it is on the trust list,
every decision is logged, and the other operator's revocations are honoured."""

from __future__ import annotations

from pathlib import Path

from simulator import FakeWeb, Party, operator
from trustspace.core.clock import FixedClock


def test_credential_from_untrusted_then_trusted_operator(tmp_path: Path) -> None:
    web, clock = FakeWeb(), FixedClock()
    with operator(tmp_path / "a", url="http://127.0.0.1:9401", web=web, clock=clock) as here, \
            operator(tmp_path / "b", url="http://127.0.0.1:9402", web=web, clock=clock) as there:
        visitor = Party("visitor")
        there.admit(visitor)

        refused = here.get("/v1/whoami", visitor)
        assert refused.status_code == 403
        assert refused.json()["type"] == "urn:trustspace:problem:untrusted-issuer"
        assert "trust list" in refused.json()["hint"]

        added = here.client.post("/v1/trust-list", json={"did": there.did, "name": "邻省数据空间"}, headers=here.admin)
        assert added.status_code == 201
        accepted = here.get("/v1/whoami", visitor)
        assert accepted.status_code == 200 and accepted.json()["issuer"] == there.did

        decisions = here.client.get("/v1/trust-decisions", headers=here.admin).json()
        assert [(d["issuer"], d["subject"], d["accepted"]) for d in decisions] == [
            (there.did, visitor.did, True), (there.did, visitor.did, False)]

        there.client.post("/v1/members/revoke", json={"did": visitor.did, "reason": "gone"}, headers=there.admin)
        clock.advance(31)  # past the status list cache
        revoked = here.get("/v1/whoami", visitor)
        assert revoked.status_code == 403
        assert revoked.json()["type"] == "urn:trustspace:problem:credential-revoked"

        assert here.client.delete("/v1/trust-list", params={"did": there.did}, headers=here.admin).status_code == 204
        assert here.client.get("/v1/trust-list").json() == []


def test_trust_list_input_is_validated(tmp_path: Path) -> None:
    with operator(tmp_path / "a") as here:
        bad = here.client.post("/v1/trust-list", json={"did": "not a did", "name": "x"}, headers=here.admin)
        assert bad.status_code == 422 and bad.json()["field"] == "did"
        itself = here.client.post("/v1/trust-list", json={"did": here.did, "name": "me"}, headers=here.admin)
        assert itself.status_code == 409
        missing = here.client.delete("/v1/trust-list", params={"did": "did:web:nobody"}, headers=here.admin)
        assert missing.status_code == 404
        assert here.client.get("/v1/trust-list").json() == []
