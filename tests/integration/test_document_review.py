"""A person's review of a processed document on both databases: the reviewed values kept beside
the extracted ones, the reconciliation and the fuel transaction recomputed with them, the audit
entry, and what is refused. Documents are processed by the task itself, in-process, as in
tests/integration/test_documents.py."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pipelines.documents import InvalidFieldValueError, NotReviewableError, UnknownFieldError
from pipelines.errors import MalformedInputError
from tests.factories import DOCUMENT_DAY as DAY
from tests.factories import DOCUMENT_METERED as METERED
from tests.factories import document_facility as setup_facility
from tests.factories import invoice
from tests.factories import run_document_job as run
from tests.factories import submit_document as submit
from worker.storage import audit
from worker.storage.db import session_scope
from worker.storage.documents import review_document, transaction_of
from worker.storage.models import AuditEntry, Document, Event, Facility, FuelTransaction
from worker.storage.reports import lcfs_tables, load_lcfs_inputs

REVIEWER = audit.actor_of_key("key_reviewer")


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def processed(db: str, quantity: float, *, facility: bool = True, **kw) -> tuple[str, str]:
    """A tenant and its processed invoice for ``quantity`` gal on DAY: (tenant id, doc id)."""
    tenant_id, fac = setup_facility(db)
    job_id = submit(db, tenant_id, invoice(quantity, **kw), facility_id=fac if facility else None)
    doc, _ = run(db, job_id)
    assert doc.status == "processed"
    return tenant_id, doc.id


def review(db: str, doc_id: str, changes: dict, actor: str = REVIEWER) -> Document:
    with session_scope(db) as s:
        doc = review_document(
            s, document=s.get(Document, doc_id), changes=changes, actor=actor, tables=lcfs_tables()
        )
        s.flush()
        s.expunge_all()
    return doc


def reviewed_entries(db: str, doc_id: str) -> list[AuditEntry]:
    with session_scope(db) as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_id == doc_id, AuditEntry.action == "document.reviewed")
            .order_by(AuditEntry.seq)
        ).all()
        s.expunge_all()
    return list(rows)


@pytest.mark.parametrize(
    ("extracted", "corrected", "before", "after"),
    [(1100.0, 970.0, "fail", "pass"), (970.0, 1100.0, "pass", "fail")],
)
def test_reviewed_quantity_is_reconciled_and_transacted(
    db: str, extracted: float, corrected: float, before: str, after: str
) -> None:
    tenant_id, doc_id = processed(db, extracted)
    with session_scope(db) as s:
        assert s.get(Document, doc_id).reconciliation["status"] == before
        events = s.scalar(select(func.count()).select_from(Event))

    doc = review(db, doc_id, {"quantity": corrected})

    rec = doc.reconciliation
    assert (rec["status"], rec["quantity"]) == (after, corrected)
    assert rec["metered_quantity"] == pytest.approx(METERED)
    assert rec["difference"] == pytest.approx(corrected - METERED)
    assert doc.fields["quantity"]["value"] == extracted  # the extracted value stays
    mine = doc.reviewed_fields["quantity"]
    assert (mine["value"], mine["reviewed_by"], mine["extracted"]) == (
        corrected,
        REVIEWER,
        extracted,
    )
    assert mine["reviewed_at"].endswith("Z")
    with session_scope(db) as s:
        (tx,) = s.scalars(select(FuelTransaction)).all()
        assert (tx.document_id, tx.quantity, tx.date, tx.unit) == (doc_id, corrected, DAY, "gal")
        # The LCFS report's reconciliation table reads the same values.
        facility = s.get(Facility, doc.facility_id)
        (check,) = load_lcfs_inputs(s, facility=facility, year=2025, quarter=1).documents
        assert (check.quantity, check.status, check.document_number) == (
            corrected,
            after,
            "VB-00042",
        )
        assert s.scalar(select(func.count()).select_from(Event)) == events  # no new event
    (entry,) = reviewed_entries(db, doc_id)
    assert (entry.actor, entry.tenant_id, entry.subject_type) == (REVIEWER, tenant_id, "document")
    assert entry.details == {
        "changes": {"quantity": {"old": extracted, "new": corrected}},
        "reconciliation_status": {"old": before, "new": after},
        "fuel_transaction_id": tx.id,
    }


def test_reviewed_date_number_and_type_reach_the_transaction(db: str) -> None:
    _, doc_id = processed(db, 970.0)
    with session_scope(db) as s:
        assert any(
            w.startswith("transaction type assumed") for w in s.get(Document, doc_id).warnings
        )
    doc = review(
        db,
        doc_id,
        {
            "document_date": "2025-03-11",
            "document_number": " VB-00042-A ",
            "transaction_type": "purchased WITHOUT obligation",
        },
    )
    assert doc.reconciliation["date"] == "2025-03-11"  # a day without full readings
    assert doc.reconciliation["status"] == "fail"
    assert not any(w.startswith("transaction type assumed") for w in doc.warnings)
    assert doc.reviewed_fields["document_number"]["value"] == "VB-00042-A"
    assert doc.reviewed_fields["transaction_type"]["value"] == "Purchased without Obligation"
    assert doc.reviewed_fields["transaction_type"]["extracted"] is None  # the invoice had none
    with session_scope(db) as s:
        tx = transaction_of(s, document_id=doc_id)
        assert (tx.date, tx.reference, tx.transaction_type, tx.business_partner) == (
            "2025-03-11",
            "VB-00042-A",
            "Purchased without Obligation",
            "Valley Biofuels Co",
        )
        assert s.scalar(select(func.count()).select_from(FuelTransaction)) == 1


def test_a_second_review_keeps_the_extracted_value_and_logs_the_reviewed_one(db: str) -> None:
    _, doc_id = processed(db, 1100.0)
    review(db, doc_id, {"quantity": 970.0})
    doc = review(db, doc_id, {"quantity": "962.5", "unit": "gallons"}, actor="operator")
    assert doc.reviewed_fields["quantity"] == {
        "value": 962.5,
        "reviewed_by": "operator",
        "reviewed_at": doc.reviewed_fields["quantity"]["reviewed_at"],
        "extracted": 1100.0,
    }
    assert doc.reviewed_fields["unit"]["value"] == "gal"
    assert doc.reconciliation["status"] == "pass"
    first, second = reviewed_entries(db, doc_id)
    assert first.actor == REVIEWER and second.actor == "operator"
    assert second.details["changes"] == {
        "quantity": {"old": 970.0, "new": 962.5},
        "unit": {"old": "gal", "new": "gal"},  # confirmed as read
    }
    assert second.details["reconciliation_status"] == {"old": "pass", "new": "pass"}


def test_review_makes_a_transaction_the_extraction_could_not(db: str) -> None:
    tenant_id, doc_id = processed(db, 970.0, fpc="")  # no pathway code: no transaction
    with session_scope(db) as s:
        doc = s.get(Document, doc_id)
        assert (
            "fuel_pathway_code" not in doc.fields and transaction_of(s, document_id=doc_id) is None
        )
        assert any(w.startswith("no fuel transaction recorded") for w in doc.warnings)
    doc = review(db, doc_id, {"fuel_pathway_code": "CARD1234"})
    assert not any(w.startswith("no fuel transaction recorded") for w in doc.warnings)
    assert doc.reviewed_fields["fuel_pathway_code"]["extracted"] is None
    with session_scope(db) as s:
        tx = transaction_of(s, document_id=doc_id)
        assert (tx.fuel_pathway_code, tx.quantity, tx.tenant_id) == ("CARD1234", 970.0, tenant_id)


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"quantity": 970.0, "colour": "red"}, UnknownFieldError, "colour"),
        ({"quantity": "lots"}, InvalidFieldValueError, "quantity"),
        ({"quantity": True}, InvalidFieldValueError, "quantity"),
        ({"quantity": 0}, InvalidFieldValueError, "quantity"),
        ({"quantity": None}, InvalidFieldValueError, "quantity"),
        ({"document_date": "03/10/2025"}, InvalidFieldValueError, "document_date"),
        ({"document_date": "2025-02-30"}, InvalidFieldValueError, "document_date"),
        ({"unit": "furlongs"}, InvalidFieldValueError, "unit"),
        ({"transaction_type": "Stolen"}, InvalidFieldValueError, "transaction_type"),
        ({"compliance_obligation": "nobody"}, InvalidFieldValueError, "compliance_obligation"),
        ({"seller": 12}, InvalidFieldValueError, "seller"),
        ({}, MalformedInputError, None),
    ],
)
def test_refused_values_change_nothing(db: str, changes: dict, error: type, field: str) -> None:
    _, doc_id = processed(db, 1100.0)
    with session_scope(db) as s:
        doc = s.get(Document, doc_id)
        with pytest.raises(error) as raised:
            review_document(s, document=doc, changes=changes, actor=REVIEWER, tables=lcfs_tables())
        assert getattr(raised.value, "field", None) == field
        assert field is None or field in str(raised.value)
        s.rollback()
    with session_scope(db) as s:
        doc = s.get(Document, doc_id)
        assert (doc.reviewed_fields, doc.reconciliation["status"]) == (None, "fail")
        assert transaction_of(s, document_id=doc_id).quantity == 1100.0
    assert reviewed_entries(db, doc_id) == []


@pytest.mark.parametrize("status", ["queued", "failed"])
def test_only_a_processed_document_is_reviewed(db: str, status: str) -> None:
    _, doc_id = processed(db, 1100.0)
    with session_scope(db) as s:
        s.get(Document, doc_id).status = status
    with session_scope(db) as s, pytest.raises(NotReviewableError, match=f"is {status}"):
        review_document(
            s,
            document=s.get(Document, doc_id),
            changes={"quantity": 970.0},
            actor=REVIEWER,
            tables=lcfs_tables(),
        )
    assert reviewed_entries(db, doc_id) == []
