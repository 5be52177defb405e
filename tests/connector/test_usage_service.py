"""The consumer's usage service: ciphertext at rest, every use decided and logged before it is served."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from usage_harness import PURPOSE, Harness, harness, policy

from trustspace.connector.usage import certificate
from trustspace.connector.usage.crypto import ProtectedDataCorrupt
from trustspace.connector.usage.guard import GuardDecision, UsageRequest
from trustspace.connector.usage.service import UsageDenied
from trustspace.connector.usage.watermark import COLUMN, trace
from trustspace.core.errors import Conflict, NotFound
from trustspace.store.dsp.records import Agreement
from trustspace.store.dsp.sql import SqlDspStore

ROWS = b"taxpayer,income\nA123,1000\nB456,2000\nC789,3000\n"


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return harness(tmp_path, chunk_size=16)


def test_reading_the_store_files_directly_gives_ciphertext_only(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    item = h.land(ROWS)
    assert not (h.tmp / "received" / "received.csv").exists()  # the plaintext went as it landed
    files = [p for p in (h.tmp / "data").rglob("*") if p.is_file()]
    assert files and all(b"taxpayer" not in p.read_bytes() and b"A123" not in p.read_bytes() for p in files)
    assert item.sha256 == __import__("hashlib").sha256(ROWS).hexdigest() and item.size == len(ROWS)
    database = (h.tmp / "connector.db").read_bytes()
    assert b"A123" not in database


def test_read_permitted_streams_the_plaintext_and_logs_the_use(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    assert h.read() == ROWS
    log = h.service.store.usage_log("agr-1")
    assert [(e.action, e.decision) for e in log] == [("read", "permit"), ("notify", "notice")]
    assert log[0].purpose == "credit assessment" and log[0].application == "risk-app" and log[0].reader == "alice"


def test_wrong_purpose_denied_with_the_reason(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    with pytest.raises(UsageDenied, match="purpose") as denied:
        h.read(purpose="marketing")
    assert denied.value.field == "agreementId" and denied.value.status == 403
    assert h.service.store.usage_log("agr-1")[-1].decision == "deny"


def test_tampered_ciphertext_refused(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    item = h.land(ROWS)
    path = h.service.vault.path_of(item.id)
    data = bytearray(path.read_bytes())
    data[20] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(ProtectedDataCorrupt):
        h.read()


def test_chunk_swap_refused(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    item = h.land(ROWS)  # 16-byte chunks: four of them
    path = h.service.vault.path_of(item.id)
    data, record = path.read_bytes(), 12 + 16 + 16
    chunks = [data[9 + i * record:9 + (i + 1) * record] for i in range(2)]
    path.write_bytes(data[:9] + chunks[1] + chunks[0] + data[9 + 2 * record:])
    with pytest.raises(ProtectedDataCorrupt):
        h.read()


def test_read_after_expiry_denied_and_the_data_destroyed(h: Harness) -> None:
    h.agree(policy(PURPOSE, {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2026-06-08T12:00:00Z"}))
    item = h.land(ROWS)
    assert h.read() == ROWS
    h.clock.advance(8 * 86400)
    with pytest.raises(UsageDenied, match="expired"):
        h.read()
    assert not h.service.vault.path_of(item.id).exists()
    assert h.service.store.get_key("agr-1").wrapped_key is None  # type: ignore[union-attr]
    issued = h.service.store.certificates("agr-1")
    assert len(issued) == 1 and issued[0].certificate["reason"] == "expired"
    with pytest.raises(UsageDenied, match="destroyed"):
        h.read()


def test_sweep_destroys_expired_agreements(h: Harness) -> None:
    h.agree(policy(PURPOSE, {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-06-02T00:00:00Z"}))
    h.agree(policy(PURPOSE), "agr-2")
    h.land(ROWS)
    h.land(ROWS, "agr-2", "tr-2")
    assert h.service.sweep() == []
    h.clock.advance(86400)
    assert h.service.sweep() == ["agr-1"]
    assert h.service.store.agreements_held() == ["agr-2"]


def test_count_allows_exactly_that_many_reads(h: Harness) -> None:
    h.agree(policy(PURPOSE, {"leftOperand": "count", "operator": "lteq", "rightOperand": 3}))
    h.land(ROWS)
    for _ in range(3):
        assert h.read() == ROWS
    with pytest.raises(UsageDenied, match="actual use number 4, expected ≤ 3"):
        h.read()


def test_crash_after_the_log_write_never_grants_an_extra_use(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h.agree(policy(PURPOSE, {"leftOperand": "count", "operator": "lteq", "rightOperand": 1}))
    h.land(ROWS)

    def crash(*_: Any) -> Any:
        raise SystemExit("the connector died before serving")

    with monkeypatch.context() as patched:
        patched.setattr(h.service.vault, "open", crash)
        with pytest.raises(SystemExit):
            h.read()
    # The use was logged before anything was served: it is spent, though nothing left.
    with pytest.raises(UsageDenied, match="actual use number 2, expected ≤ 1"):
        h.read()


def test_a_use_that_cannot_be_logged_is_not_served(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    opened: list[str] = []
    monkeypatch.setattr(h.service.vault, "open", lambda item: opened.append(item.id) or iter([b""]))

    def log_fails(*_: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(h.service.store, "decide_use", log_fails)
    with pytest.raises(OSError):
        h.read()
    assert opened == []


def test_export_is_always_watermarked_and_traced(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    served = h.service.use(h.ask("export", reader="bob"))
    exported = b"".join(served.body).decode()
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0] == ["taxpayer", "income", COLUMN] and all(len(r) == 3 and r[2] for r in rows[1:])
    target = h.tmp / "export.csv"
    target.write_text(exported)
    found = trace(target)
    assert (found.agreement, found.reader, found.marked_rows, found.rows) == ("agr-1", "bob", 3, 3)
    key = h.service.vault.wrapper.watermark_key
    assert all(m.genuine(key) for m in found.marks)


def test_watermark_survives_a_re_save(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    exported = b"".join(h.service.use(h.ask("export", reader="bob")).body).decode()
    rows = list(csv.reader(io.StringIO(exported)))
    # A spreadsheet's re-save: mark column moved first and renamed, every cell quoted, CRLF, a row dropped.
    resaved = io.StringIO()
    writer = csv.writer(resaved, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(["note", *rows[0][:2]])
    for row in sorted(rows[2:], reverse=True):
        writer.writerow([row[2], *row[:2]])
    target = h.tmp / "resaved.csv"
    target.write_text(resaved.getvalue())
    found = trace(target)
    assert (found.agreement, found.reader, found.marked_rows) == ("agr-1", "bob", 2)
    assert all(m.genuine(h.service.vault.wrapper.watermark_key) for m in found.marks)


def test_forged_watermark_is_not_genuine(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    exported = b"".join(h.service.use(h.ask("export", reader="bob")).body).decode()
    forged = exported.replace(__import__("base64").urlsafe_b64encode(b"bob").rstrip(b"=").decode(), "Y2Fyb2w")
    target = h.tmp / "forged.csv"
    target.write_text(forged)
    found = trace(target)
    assert found.reader == "carol"
    assert not any(m.genuine(h.service.vault.wrapper.watermark_key) for m in found.marks)


def test_export_refused_when_copying_is_prohibited(h: Harness) -> None:
    h.agree(policy(PURPOSE, prohibition=[{"action": "reproduce"}], conflict="prohibit"))
    h.land(ROWS)
    with pytest.raises(UsageDenied, match="prohibition"):
        h.service.use(h.ask("export"))


def test_termination_destroys_with_a_certificate_that_verifies(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    item = h.land(ROWS)
    signed = h.service.destroy("agr-1", "terminated")
    assert not h.service.vault.path_of(item.id).exists()
    assert h.service.store.get_key("agr-1").wrapped_key is None  # type: ignore[union-attr]
    assert signed["items"][0]["sha256"] == item.sha256 and signed["agreement"] == "agr-1"
    assert certificate.verify(signed, h.key.public) == h.key.public
    assert h.service.destroy("agr-1", "terminated") == signed  # idempotent
    with pytest.raises(UsageDenied, match="destroyed"):
        h.read()
    pending = [m for m in SqlDspStore(h.db).pending_outbox() if m.process_id == "ledger:usage:agr-1"]
    assert len(pending) == 1 and pending[0].body["type"] == "destruction-certificate"
    assert pending[0].body["payloadDigest"] == certificate.digest(signed)


@pytest.mark.parametrize("change", [
    lambda c: c.update(agreement="agr-2"),
    lambda c: c["items"][0].update(sha256="0" * 64),
    lambda c: c.update(issuedAt="2030-01-01T00:00:00Z"),
    lambda c: c["items"].append({"id": "extra"}),
    lambda c: c["signature"].update(publicKeyMultibase=__import__(
        "trustspace.core.keys", fromlist=["SigningKey"]).SigningKey.generate().public.multibase),
])
def test_certificate_fails_after_any_change(h: Harness, change: Any) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    signed = __import__("copy").deepcopy(h.service.destroy("agr-1", "terminated"))
    change(signed)
    with pytest.raises(certificate.CertificateInvalid):
        certificate.verify(signed)


def test_delete_after_use_duty_destroys_once_served(h: Harness) -> None:
    h.agree(policy(PURPOSE, duty=[{"action": "delete"}]))
    h.land(ROWS)
    assert h.read() == ROWS
    assert h.service.store.certificates("agr-1")[0].certificate["reason"] == "used"


def test_no_data_no_read(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    with pytest.raises(NotFound) as missing:
        h.read()
    assert missing.value.field == "agreementId"


def test_the_guard_is_injectable(h: Harness) -> None:
    seen: list[UsageRequest] = []

    class Nobody:
        def decide(self, agreement: Agreement | None, request: UsageRequest) -> GuardDecision:
            seen.append(request)
            return GuardDecision(False, (), "closed today")

    h.service.guard = Nobody()
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    with pytest.raises(UsageDenied, match="closed today"):
        h.read()
    assert seen[0].purpose == "credit assessment" and seen[0].counts.of("read") == 0


def test_delete_after_use_also_when_the_reader_stops_early(h: Harness) -> None:
    h.agree(policy(PURPOSE, duty=[{"action": "delete"}]))
    h.land(ROWS)
    served = h.service.use(h.ask())
    next(served.body)
    served.body.close()  # type: ignore[attr-defined]
    assert h.service.store.get_key("agr-1").wrapped_key is None  # type: ignore[union-attr]


def test_an_export_without_a_watermark_is_refused(h: Harness) -> None:
    class Careless:
        def decide(self, agreement: Agreement | None, request: UsageRequest) -> GuardDecision:
            return GuardDecision(True, (), "fine, no mark needed")

    h.service.guard = Careless()
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    with pytest.raises(Conflict, match="always watermarked"):
        h.service.use(h.ask("export"))


def test_watermark_survives_conversion_to_parquet(h: Harness) -> None:
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    h.agree(policy(PURPOSE))
    h.land(ROWS)
    exported = h.tmp / "export.csv"
    exported.write_bytes(b"".join(h.service.use(h.ask("export", reader="bob")).body))
    converted = h.tmp / "export.parquet"
    pq.write_table(pacsv.read_csv(exported), converted)
    found = trace(converted)
    assert (found.agreement, found.reader, found.marked_rows) == ("agr-1", "bob", 3)


def test_notify_on_use_tells_the_provider_through_the_ledger(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    h.read()
    pending = [m.body for m in SqlDspStore(h.db).pending_outbox() if m.process_id == "ledger:usage:agr-1"]
    assert [b["type"] for b in pending] == ["usage-decision"]
    assert pending[0]["subjects"] == {"participant": "did:web:provider.example", "agreement": "agr-1",
                                      "product": "tax-data"}
    assert pending[0]["details"]["purpose"] == "credit assessment" and "alice" not in str(pending[0])


def test_data_that_cannot_be_protected_is_not_kept_in_the_clear(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    h.service.destroy("agr-1", "terminated")
    late = h.tmp / "late.csv"
    late.write_bytes(ROWS)
    with pytest.raises(Conflict, match="destroyed"):
        h.parts.landing.land("tr-2", "agr-1", late)
    assert not late.exists()


def test_the_background_sweep_destroys_what_expired(h: Harness) -> None:
    h.agree(policy(PURPOSE, {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2026-06-01T12:00:00Z"}))
    h.land(ROWS)
    h.parts.sweep_interval = 0.01
    h.parts.start()
    try:
        for _ in range(500):
            if h.service.store.certificates("agr-1"):
                break
            __import__("time").sleep(0.01)
    finally:
        h.parts.stop()
    assert h.service.store.certificates("agr-1")[0].certificate["reason"] == "expired"


def test_a_use_after_the_last_one_is_refused_with_the_agreements_reason_and_logged(h: Harness) -> None:
    h.agree({**policy(PURPOSE, {"leftOperand": "count", "operator": "lteq", "rightOperand": "2"}),
             "obligation": [{"action": "delete"}]})
    h.land(ROWS)
    assert h.read() == ROWS and h.read() == ROWS  # the second use is the last: the data is destroyed after it
    with pytest.raises(UsageDenied) as refused:
        h.read()
    assert "expected ≤ 2" in refused.value.detail and "destroyed" in refused.value.detail
    assert h.service.store.usage_log("agr-1")[-1].decision == "deny"


def test_a_parquet_export_carries_the_mark_in_every_row(h: Harness) -> None:
    h.agree(policy(PURPOSE))
    h.land(ROWS)
    served = h.service.use(replace(h.ask("export", reader="carol"), format="parquet"))
    assert served.media_type == "application/vnd.apache.parquet"
    target = h.tmp / "export.parquet"
    target.write_bytes(b"".join(served.body))
    assert target.read_bytes()[:4] == b"PAR1"
    found = trace(target)
    assert (found.agreement, found.reader, found.marked_rows, found.rows) == ("agr-1", "carol", 3, 3)
