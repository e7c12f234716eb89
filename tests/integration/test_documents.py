"""The documents pipeline for real: the task on both databases (called in-process, no eager
mode), reconciliation against metered points by hand, and a real Celery worker that keeps
serving after bad files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.asgi import AppClient
from tests.documents_corpus import (
    ISSUERS,
    Spec,
    blank_pages,
    encrypted,
    image_only,
    png,
    render_pdf,
)
from tests.factories import DOCUMENT_DAY as DAY
from tests.factories import DOCUMENT_FPC as FPC
from tests.factories import DOCUMENT_METERED as METERED
from tests.factories import Tenant, invoice, upload_document, wait_for
from tests.factories import document_facility as setup_facility
from tests.factories import run_document_job as run
from tests.factories import submit_document as submit
from worker import processes
from worker.storage.db import session_scope
from worker.storage.jobs import create_job
from worker.storage.models import (
    Document,
    Event,
    FuelTransaction,
    Job,
)
from worker.storage.tenants import create_api_key

# --- documents -------------------------------------------------------------------------------


def ptd(quantity: float = 1000.0) -> bytes:
    issuer = next(i for i in ISSUERS if i.name == "Pacific Renewable Gas Inc")
    spec = Spec("p", "product_transfer_document", issuer, "label_left", "PRODUCT TRANSFER DOCUMENT")
    spec.header = [
        ("PTD No", "PRG-2025-0007"),
        ("Transaction Date", DAY),
        ("Transaction Type", "Sold with obligation"),
        ("Fuel Type", "Renewable Diesel R99"),
        ("Fuel Pathway Code", FPC),
        ("Carbon Intensity", "35.50 gCO2e/MJ"),
        ("Quantity", f"{quantity:,.2f} gallons"),
    ]
    spec.parties = [
        ("Transferor", issuer.name, issuer.address),
        ("Recipient", "Coastal Transit Co", "1 Commerce Blvd, Oakland, CA 94607"),
    ]
    spec.statements = ["The compliance obligation passes to the recipient."]
    return render_pdf(spec)


BAD = {
    "encrypted": lambda: encrypted(invoice(number="ENC-1")),
    "corrupt_pdf": lambda: invoice(number="CUT-1")[:600],
    "not_a_pdf": png,
    "needs_ocr": image_only,
    "too_many_pages": lambda: blank_pages(250),
}


# --- in-process: the task body on both databases ---------------------------------------------


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def events(db: str, kind: str) -> list[dict]:
    with session_scope(db) as s:
        return [e.payload["data"] for e in s.scalars(select(Event).where(Event.type == kind))]


@pytest.mark.parametrize(
    ("quantity", "status"),
    [(970.0, "pass"), (962.5, "pass"), (1000.0, "warn"), (1010.0, "warn"), (1100.0, "fail")],
)
def test_reconciliation_by_hand(db: str, quantity: float, status: str) -> None:
    tenant_id, fac = setup_facility(db)
    doc, job = run(db, submit(db, tenant_id, invoice(quantity), facility_id=fac))
    assert (doc.status, job.status, doc.error_code) == ("processed", "succeeded", None)
    rec = doc.reconciliation
    assert rec["status"] == status
    assert rec["metered_quantity"] == pytest.approx(METERED)
    assert rec["measured"] == pytest.approx(METERED) and rec["substituted"] == 0
    assert rec["difference"] == pytest.approx(quantity - METERED)
    assert rec["difference_pct"] == pytest.approx((quantity - METERED) / METERED)
    assert (rec["quantity"], rec["unit"], rec["date"], rec["tags"]) == (
        quantity,
        "gal",
        DAY,
        ["rd_flow"],
    )
    assert rec["window"] == {"start": "2025-03-10T07:00:00Z", "end": "2025-03-11T07:00:00Z"}
    assert (doc.document_type, doc.pages) == ("invoice", 1)
    assert doc.fields["quantity"]["value"] == quantity
    assert set(doc.fields["quantity"]) == {"value", "confidence", "source"}

    with session_scope(db) as s:
        (tx,) = s.scalars(select(FuelTransaction)).all()
        assert (tx.tenant_id, tx.facility_id, tx.document_id, tx.source) == (
            tenant_id,
            fac,
            doc.id,
            "document",
        )
        assert (tx.fuel_pathway_code, tx.fuel_type, tx.quantity, tx.unit, tx.ci) == (
            FPC,
            "Renewable Diesel R99",
            quantity,
            "gal",
            35.5,
        )
        assert (tx.transaction_type, tx.date, tx.business_partner, tx.reference) == (
            "Purchased with Obligation",
            DAY,
            "Valley Biofuels Co",
            "VB-00042",
        )
    assert any("transaction type assumed" in w for w in doc.warnings)
    (event,) = events(db, "document.processed")
    assert event["document_id"] == doc.id and event["reconciliation_status"] == status
    assert event["fields"]["quantity"] == quantity and event["document_type"] == "invoice"
    assert job.result["fuel_transaction_id"] == tx.id


def test_rerun_changes_nothing(db: str) -> None:
    tenant_id, fac = setup_facility(db)
    job_id = submit(db, tenant_id, invoice(), facility_id=fac)
    first, _ = run(db, job_id)
    again, job = run(db, job_id)  # a redelivered message: the job is finished, nothing happens
    assert (again.reconciliation, again.processed_at, job.attempts) == (
        first.reconciliation,
        first.processed_at,
        1,
    )
    # A new job for the same document (a re-queue) updates the one transaction.
    with session_scope(db) as s:
        job2 = create_job(
            s, tenant_id=tenant_id, kind="documents.process", params={"document_id": first.id}
        )
        s.get(Document, first.id).job_id = job2.id
    run(db, job2.id)
    with session_scope(db) as s:
        assert s.scalar(select(func.count()).select_from(FuelTransaction)) == 1
    assert len(events(db, "document.processed")) == 2  # one per job


def test_ptd_transaction_type_and_fuel_match(db: str) -> None:
    tenant_id, fac = setup_facility(db)
    doc, _ = run(db, submit(db, tenant_id, ptd(1000.0), facility_id=fac))
    assert doc.document_type == "product_transfer_document"
    assert doc.reconciliation["status"] == "warn"
    with session_scope(db) as s:
        tx = s.scalar(select(FuelTransaction))
        assert (tx.transaction_type, tx.business_partner) == (
            "Sold with Obligation",
            "Coastal Transit Co",
        )
    assert not any("assumed" in w for w in doc.warnings)


def test_no_mapping_other_fuel_or_unit_is_not_a_failure(db: str) -> None:
    tenant_id, fac = setup_facility(db, mapping_unit=None)
    doc, job = run(db, submit(db, tenant_id, invoice(), facility_id=fac))
    assert (doc.status, job.status) == ("processed", "succeeded")
    assert doc.reconciliation["status"] == "no_meter_data"

    tenant_id, fac = setup_facility(db)
    other = invoice(number="OTHER-1", fpc="CAETH9999")
    doc, _ = run(db, submit(db, tenant_id, other, facility_id=fac))
    assert doc.reconciliation["status"] == "no_meter_data"
    assert "CAETH9999" in doc.reconciliation["note"] or "R99" in doc.reconciliation["note"]

    tenant_id, fac = setup_facility(db, mapping_unit="scf")
    doc, _ = run(db, submit(db, tenant_id, invoice(number="UNIT-1"), facility_id=fac))
    assert doc.reconciliation["status"] == "unknown"
    assert "no conversion" in doc.reconciliation["note"]

    tenant_id, fac = setup_facility(db)
    later = invoice(number="LATE-1", date="2025-04-02")  # no readings that day
    doc, _ = run(db, submit(db, tenant_id, later, facility_id=fac))
    assert doc.reconciliation["status"] == "no_meter_data"


def test_without_facility_no_reconciliation_no_transaction(db: str) -> None:
    tenant_id, _ = setup_facility(db)
    doc, job = run(db, submit(db, tenant_id, invoice(), facility_id=None))
    assert (doc.status, doc.reconciliation, job.status) == ("processed", None, "succeeded")
    assert any("no fuel transaction recorded" in w for w in doc.warnings)
    with session_scope(db) as s:
        assert s.scalar(select(func.count()).select_from(FuelTransaction)) == 0


@pytest.mark.parametrize("code", sorted(BAD))
def test_bad_file_is_a_verdict(db: str, code: str) -> None:
    tenant_id, fac = setup_facility(db)
    doc, job = run(db, submit(db, tenant_id, BAD[code](), facility_id=fac))  # raises nothing
    assert (doc.status, doc.error_code) == ("failed", code)
    assert doc.error_message and doc.processed_at is not None
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error.startswith(f"{code}: ")
    assert job.result == {"document_id": doc.id, "error_code": code}
    assert events(db, "document.failed") == [
        {
            "document_id": doc.id,
            "facility_id": fac,
            "error": {"code": code, "message": doc.error_message},
        }
    ]
    assert events(db, "document.processed") == []


def test_internal_error_fails_the_document_and_escapes(db: str, monkeypatch) -> None:
    """A bug (not a verdict on the file) fails job and document as "internal"; uploading the
    same bytes again is what re-queues it (tests/api/test_documents_api.py)."""
    from worker.storage import documents as storage

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(storage, "reconcile_with_meters", broken)
    tenant_id, fac = setup_facility(db)
    job_id = submit(db, tenant_id, invoice(), facility_id=fac)
    with pytest.raises(RuntimeError):
        run(db, job_id)
    with session_scope(db) as s:
        job = s.get(Job, job_id)
        doc = s.get(Document, job.params["document_id"])
        assert (doc.status, doc.error_code) == ("failed", "internal")
        assert job.status == "failed" and job.error.startswith("internal error (error id err_")
        assert "boom" not in job.error + (doc.error_message or "")
        assert "RuntimeError" not in job.error + (doc.error_message or "")
        assert storage.should_requeue(doc)
        assert s.scalar(select(func.count()).select_from(FuelTransaction)) == 0
    assert [e["error"]["code"] for e in events(db, "document.failed")] == ["internal"]


def test_declared_type_and_timeout_limit(db: str, configure) -> None:
    tenant_id, _ = setup_facility(db)
    doc, _ = run(db, submit(db, tenant_id, invoice(), facility_id=None, declared_type="unknown"))
    assert doc.document_type == "unknown"
    configure(TICKWORK_DATABASE_URL=db, TICKWORK_DOCUMENT_TIMEOUT_S="0")
    doc, job = run(db, submit(db, tenant_id, invoice(number="SLOW-1"), facility_id=None))
    assert (doc.status, doc.error_code, job.status) == ("failed", "timeout", "failed")


# --- through a real Celery worker ------------------------------------------------------------


@pytest.fixture
def stack(pg_db: str, redis_url: str, configure, tmp_path: Path) -> Iterator[dict]:
    env_vars = {
        "TICKWORK_DATABASE_URL": pg_db,
        "TICKWORK_BROKER_URL": redis_url,
        "TICKWORK_REDIS_URL": redis_url,
        "TICKWORK_DATA_DIR": str(tmp_path),
    }
    configure(**env_vars)
    # One process on the documents queue only: every file goes through the same worker.
    worker = processes.start(
        processes.worker_command(queues=("documents",), concurrency=1, loglevel="INFO"),
        env={**os.environ, **env_vars},
        log_file=tmp_path / "worker.log",
    )
    from api.app import create_app

    with processes.running(worker), AppClient(create_app()) as client:
        yield {"client": client, "db": pg_db, "worker": worker}


def wait_document(client: AppClient, who: Tenant, doc_id: str, timeout: float = 120) -> dict:

    def processed() -> dict | None:
        view = client.get(f"/v1/documents/{doc_id}", headers=who.headers).json()
        job = client.get(f"/v1/jobs/{view['job_id']}", headers=who.headers).json()
        done = view["status"] != "queued" and job["status"] in ("succeeded", "failed")
        return view if done else None

    return wait_for(processed, timeout=timeout, what=f"document {doc_id}", every=0.2)


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.redis
def test_worker_survives_bad_files(stack: dict) -> None:
    client, db = stack["client"], stack["db"]
    tenant_id, fac = setup_facility(db)
    with session_scope(db) as s:
        _, key = create_api_key(s, tenant_id=tenant_id, scope="write")
    who = Tenant(tenant_id, key, {"Authorization": f"Bearer {key}"})

    good = wait_document(client, who, upload_document(client, who, invoice(), facility_id=fac))
    assert (good["status"], good["document_type"], good["error"]) == ("processed", "invoice", None)
    assert good["fields"]["quantity"] == {
        "value": 1000.0,
        "confidence": good["fields"]["quantity"]["confidence"],
        "source": good["fields"]["quantity"]["source"],
    }
    assert good["reconciliation"]["status"] == "warn"
    assert good["reconciliation"]["difference"] == pytest.approx(1000.0 - METERED)

    for code, make in BAD.items():
        view = wait_document(client, who, upload_document(client, who, make(), facility_id=fac))
        assert view["status"] == "failed", (code, view)
        assert view["error"]["code"] == code, view["error"]
        assert view["error"]["message"]
        job = client.get(f"/v1/jobs/{view['job_id']}", headers=who.headers).json()
        assert (job["status"], job["attempts"]) == ("failed", 1), job

    assert stack["worker"].poll() is None  # still running
    after = wait_document(
        client, who, upload_document(client, who, invoice(1100.0, number="AFTER-1"))
    )
    assert (after["status"], after["error"]) == ("processed", None)
    listed = client.get("/v1/documents", headers=who.headers, params={"status": "failed"}).json()
    assert listed["pagination"]["total"] == len(BAD)
    with session_scope(db) as s:
        assert s.scalar(select(func.count()).select_from(FuelTransaction)) == 1
    # Re-uploading a file that failed on its content queues nothing.
    again = client.post(
        "/v1/documents",
        headers=who.headers,
        files={"file": ("doc.pdf", png(), "application/pdf")},
    ).json()
    assert (again["duplicate"], again["status"]) == (True, "failed")
